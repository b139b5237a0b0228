//! `zhengqi-bench --hostile`: an ordinary caller's latency while other
//! clients attack the gateway the way slow and hostile clients do. Each attack
//! runs on a fresh suite, as `zhengqi up` starts it (its default limits), from
//! addresses of its own (127.0.0.2 and up, as from other machines), while a
//! hotline operator registers appeals at a steady pace over gRPC from
//! 127.0.0.1. The ordinary caller's p99 is held to [`TARGET_P99_MILLIS`].
//!
//! The attacks:
//! - slow heads: HTTP/1.1 connections that send a request head one line a second;
//! - slow bodies: HTTP/JSON requests whose body comes one byte a second;
//! - silent streams: HTTP/2 streams with a valid token and no message, as many
//!   as each connection may open, opened again as they are answered;
//! - rapid reset: HTTP/2 streams opened and cancelled at once, in a loop
//!   (CVE-2023-44487);
//! - connection flood: TCP connections opened and left silent, far more than
//!   one address may hold.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;
use zhengqi_shared::Error;
use zhengqi_shared::auth::{DevIssuer, Role, TokenRequest};

use super::{BenchSuite, Enterprise, Measured, bearer, connect, next_scenario, operator_token};

/// The ordinary caller's p99 under each attack.
const TARGET_P99_MILLIS: f64 = 100.0;
/// The ordinary caller's pace: a busy hotline desk, under the per-subject rate limit.
const ORDINARY_RATE: u64 = 50;
/// How long an attack runs before the ordinary caller is measured.
const RAMP_UP: Duration = Duration::from_secs(3);
/// Source addresses the attackers connect from.
const ATTACKER_ADDRESSES: u8 = 8;

/// One attack, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attack {
    None,
    SlowHeads,
    SlowBodies,
    SilentStreams,
    RapidReset,
    ConnectionFlood,
}

impl Attack {
    const ALL: [Attack; 6] = [
        Attack::None,
        Attack::SlowHeads,
        Attack::SlowBodies,
        Attack::SilentStreams,
        Attack::RapidReset,
        Attack::ConnectionFlood,
    ];

    /// The attack's name on the command line (`--attack silent-streams`).
    fn flag(self) -> &'static str {
        match self {
            Attack::None => "none",
            Attack::SlowHeads => "slow-heads",
            Attack::SlowBodies => "slow-bodies",
            Attack::SilentStreams => "silent-streams",
            Attack::RapidReset => "rapid-reset",
            Attack::ConnectionFlood => "connection-flood",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Attack::None => "no attack",
            Attack::SlowHeads => "slow heads (HTTP/1.1)",
            Attack::SlowBodies => "slow bodies (HTTP/JSON)",
            Attack::SilentStreams => "silent streams (HTTP/2)",
            Attack::RapidReset => "rapid reset (HTTP/2)",
            Attack::ConnectionFlood => "connection flood",
        }
    }

    fn description(self, scale: usize) -> String {
        match self {
            Attack::None => "the ordinary caller alone".to_owned(),
            Attack::SlowHeads => {
                format!("{scale} HTTP/1.1 connections sending a request head one line a second")
            }
            Attack::SlowBodies => format!(
                "{scale} HTTP/JSON requests with a valid token sending their body one byte a second"
            ),
            Attack::SilentStreams => format!(
                "{} HTTP/2 connections opening streams with a valid token and no message",
                scale / 16
            ),
            Attack::RapidReset => {
                format!(
                    "{} HTTP/2 connections opening and cancelling streams",
                    scale / 64
                )
            }
            Attack::ConnectionFlood => format!(
                "{} silent TCP connections from each of {ATTACKER_ADDRESSES} addresses",
                scale * 4 / ATTACKER_ADDRESSES as usize
            ),
        }
    }
}

/// What the attackers did and met, counted as they go.
#[derive(Default)]
struct Tally {
    /// Connections the attackers opened.
    connections: AtomicU64,
    /// Requests or streams they sent.
    requests: AtomicU64,
    /// Connections the gateway closed on them (or refused).
    closed: AtomicU64,
    /// Answers they got (an error status, a timeout, a refusal).
    answered: AtomicU64,
}

impl Tally {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn describe(&self) -> String {
        format!(
            "attackers: {} connections, {} requests; gateway closed {} connections, answered {} requests",
            self.connections.load(Ordering::Relaxed),
            self.requests.load(Ordering::Relaxed),
            self.closed.load(Ordering::Relaxed),
            self.answered.load(Ordering::Relaxed),
        )
    }
}

/// What every attacker task shares.
struct Field {
    gateway: SocketAddr,
    stop: AtomicBool,
    tally: Tally,
    /// Tokens of subjects other than the ordinary caller, one per attacker.
    tokens: Vec<String>,
}

impl Field {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Attacker `n`'s own source address, 127.0.0.2 and up.
    fn source(n: usize) -> SocketAddr {
        let last = 2 + (n % ATTACKER_ADDRESSES as usize) as u8;
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)), 0)
    }

    async fn connect(&self, n: usize) -> std::io::Result<TcpStream> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(Field::source(n))?;
        let stream = socket.connect(self.gateway).await?;
        stream.set_nodelay(true)?;
        Tally::add(&self.tally.connections);
        Ok(stream)
    }

    fn token(&self, n: usize) -> &str {
        &self.tokens[n % self.tokens.len()]
    }
}

/// Runs every attack in turn and prints the ordinary caller's latency under each.
pub(super) async fn run(
    seconds: u64,
    scale: usize,
    only: &[String],
    enterprises: &Arc<Vec<Enterprise>>,
) -> Result<(), Error> {
    if let Some(unknown) = only
        .iter()
        .find(|name| !Attack::ALL.iter().any(|a| a.flag() == name.as_str()))
    {
        let known: Vec<&str> = Attack::ALL[1..].iter().map(|a| a.flag()).collect();
        return Err(Error::invalid(
            "attack",
            format!(
                "没有名为 {unknown} 的攻击（no attack named {unknown}; one of {})",
                known.join(", ")
            ),
        ));
    }
    let chosen = |attack: &Attack| {
        only.is_empty() || *attack == Attack::None || only.iter().any(|n| n == attack.flag())
    };
    // Each connection is two descriptors here, the attacker's and the gateway's.
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("zhengqi-bench: cannot raise the open-file limit: {error}");
    }
    let window = Duration::from_secs(seconds);
    let mut results = Vec::new();
    let mut seq = 3_000_000_000;
    for attack in Attack::ALL.into_iter().filter(chosen) {
        next_scenario(&format!(
            "hostile clients: {} — {} (fresh suite)",
            attack.name(),
            attack.description(scale)
        ))
        .await;
        let (measured, field) = under_attack(attack, scale, window, seq, enterprises).await?;
        seq += ORDINARY_RATE * (seconds + 1);
        results.push((attack, measured, field));
    }
    println!();
    println!(
        "an ordinary caller under attack: SubmitAppeal over gRPC at {ORDINARY_RATE}/s for {seconds} s \
         through the gateway, as `zhengqi up` runs it, while other addresses attack it"
    );
    for (attack, m, field) in &results {
        let met = m.millis_at(0.99) < TARGET_P99_MILLIS && m.errors == 0 && m.ok > 0;
        println!(
            "  {:<26} p50 {:>7.2} ms  p99 {:>7.2} ms  ({} calls, {} errors)  target p99 < {TARGET_P99_MILLIS} ms: {}",
            attack.name(),
            m.millis_at(0.50),
            m.millis_at(0.99),
            m.ok,
            m.errors,
            if met { "met" } else { "MISSED" }
        );
        if let Some(error) = &m.first_error {
            println!("  {:<26} first error: {error}", "");
        }
        if *attack != Attack::None {
            println!("  {:<26} {}", "", field.tally.describe());
        }
    }
    Ok(())
}

/// One attack on a fresh suite, and the ordinary caller measured meanwhile.
async fn under_attack(
    attack: Attack,
    scale: usize,
    window: Duration,
    seq: u64,
    enterprises: &Arc<Vec<Enterprise>>,
) -> Result<(Measured, Arc<Field>), Error> {
    let bench = BenchSuite::start(false).await?;
    let issuer = bench.issuer()?;
    let field = Arc::new(Field {
        gateway: bench.suite.gateway_addr,
        stop: AtomicBool::new(false),
        tally: Tally::default(),
        tokens: (0..64)
            .map(|i| attacker_token(issuer, i))
            .collect::<Result<_, _>>()?,
    });
    let mut attackers = JoinSet::new();
    match attack {
        Attack::None => {}
        Attack::SlowHeads => {
            for n in 0..scale {
                attackers.spawn(slow_head(Arc::clone(&field), n));
            }
        }
        Attack::SlowBodies => {
            for n in 0..scale {
                attackers.spawn(slow_body(Arc::clone(&field), n));
            }
        }
        Attack::SilentStreams => {
            for n in 0..scale / 16 {
                attackers.spawn(silent_streams(Arc::clone(&field), n));
            }
        }
        Attack::RapidReset => {
            for n in 0..(scale / 64).max(1) {
                attackers.spawn(rapid_reset(Arc::clone(&field), n));
            }
        }
        Attack::ConnectionFlood => {
            for n in 0..scale * 4 {
                attackers.spawn(silent_connection(Arc::clone(&field), n));
            }
        }
    }
    tokio::time::sleep(RAMP_UP).await;

    let authorization = bearer(&operator_token(issuer, 0)?)?;
    let channels = connect(bench.suite.gateway_addr, 2).await?;
    // A second at the same pace first, so the connections are warm.
    super::paced(
        ORDINARY_RATE,
        Duration::from_secs(1),
        &channels,
        std::slice::from_ref(&authorization),
        seq,
        enterprises,
    )
    .await;
    let measured = super::paced(
        ORDINARY_RATE,
        window,
        &channels,
        std::slice::from_ref(&authorization),
        seq + ORDINARY_RATE,
        enterprises,
    )
    .await;
    field.stop.store(true, Ordering::Relaxed);
    drop(channels);
    if tokio::time::timeout(Duration::from_secs(15), async {
        while attackers.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        attackers.abort_all();
    }
    bench.stop().await;
    Ok((measured, field))
}

/// An enterprise's staff member: the attacker holds a valid token.
fn attacker_token(issuer: &DevIssuer, n: usize) -> Result<String, Error> {
    issuer
        .mint(&TokenRequest {
            jurisdiction: Some("510821".to_owned()),
            uscc: Some("91350200776049653A".to_owned()),
            ..TokenRequest::new(format!("bench-attacker-{n}"), vec![Role::Enterprise])
        })
        .map_err(Error::internal)
}

/// Waits `pause`, or less once the attack is over; false when it is.
async fn pause(field: &Field, pause: Duration) -> bool {
    let until = Instant::now() + pause;
    while Instant::now() < until {
        if field.stopped() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100).min(until - Instant::now())).await;
    }
    !field.stopped()
}

/// A connection the gateway refused: counted, then a pause before the next;
/// false once the attack is over.
async fn refused(field: &Field, wait: Duration) -> bool {
    Tally::add(&field.tally.closed);
    pause(field, wait).await
}

/// Whether the gateway has closed `stream` (or answered on it), without waiting.
fn closed_or_answered(stream: &mut TcpStream) -> bool {
    let mut buffer = [0u8; 512];
    match stream.try_read(&mut buffer) {
        Ok(_) => true,
        Err(error) => error.kind() != std::io::ErrorKind::WouldBlock,
    }
}

/// An HTTP/1.1 request head, one line a second, never finished; again on a
/// new connection once the gateway closes it.
async fn slow_head(field: Arc<Field>, n: usize) {
    while !field.stopped() {
        let Ok(mut stream) = field.connect(n).await else {
            if !refused(&field, Duration::from_secs(1)).await {
                return;
            }
            continue;
        };
        Tally::add(&field.tally.requests);
        let mut lines = [
            "POST /v1/appeals HTTP/1.1\r\n".to_owned(),
            format!("host: {}\r\n", field.gateway),
        ]
        .into_iter()
        .chain((0..).map(|i| format!("x-slow-{i}: {}\r\n", "a".repeat(16))));
        loop {
            let line = lines.next().unwrap_or_default();
            if stream.write_all(line.as_bytes()).await.is_err() || closed_or_answered(&mut stream) {
                Tally::add(&field.tally.closed);
                break;
            }
            if !pause(&field, Duration::from_secs(1)).await {
                return;
            }
        }
    }
}

/// An HTTP/JSON request with a valid token whose body comes one byte a
/// second; again once the gateway answers.
async fn slow_body(field: Arc<Field>, n: usize) {
    while !field.stopped() {
        let Ok(mut stream) = field.connect(n).await else {
            if !refused(&field, Duration::from_secs(1)).await {
                return;
            }
            continue;
        };
        let head = format!(
            "POST /v1/appeals HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\n\
             content-type: application/json\r\ncontent-length: 4096\r\n\r\n{{",
            field.gateway,
            field.token(n)
        );
        if stream.write_all(head.as_bytes()).await.is_err() {
            Tally::add(&field.tally.closed);
            continue;
        }
        Tally::add(&field.tally.requests);
        loop {
            if !pause(&field, Duration::from_secs(1)).await {
                return;
            }
            let mut buffer = [0u8; 512];
            match stream.try_read(&mut buffer) {
                Ok(0) => {
                    Tally::add(&field.tally.closed);
                    break;
                }
                Ok(_) => {
                    Tally::add(&field.tally.answered);
                    break;
                }
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => {
                    Tally::add(&field.tally.closed);
                    break;
                }
            }
            if stream.write_all(b" ").await.is_err() {
                Tally::add(&field.tally.closed);
                break;
            }
        }
    }
}

/// A gRPC call's headers with `token` and no message.
fn silent_call(gateway: SocketAddr, token: &str) -> http::Request<()> {
    http::Request::post(format!(
        "http://{gateway}/zhengqi.intake.v1.IntakeService/SubmitAppeal"
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .header("authorization", format!("Bearer {token}"))
    .body(())
    .expect("a constant request is valid")
}

/// An HTTP/2 connection from attacker `n`, and the task driving it.
async fn http2(
    field: &Field,
    n: usize,
) -> Option<(h2::client::SendRequest<Bytes>, tokio::task::JoinHandle<()>)> {
    let stream = field.connect(n).await.ok()?;
    let (client, connection) = h2::client::handshake(stream).await.ok()?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    Some((client, driver))
}

/// Streams with headers and no message, as many as the connection takes,
/// each opened again once answered; a new connection when one is closed.
async fn silent_streams(field: Arc<Field>, n: usize) {
    while !field.stopped() {
        let Some((mut client, driver)) = http2(&field, n).await else {
            if !refused(&field, Duration::from_secs(1)).await {
                return;
            }
            continue;
        };
        let mut open = JoinSet::new();
        // The bodies stay open, so the streams stay silent rather than ended.
        let mut bodies = Vec::new();
        while !field.stopped() {
            let Ok(ready) = client.clone().ready().await else {
                break;
            };
            client = ready;
            let Ok((response, body)) =
                client.send_request(silent_call(field.gateway, field.token(n)), false)
            else {
                break;
            };
            Tally::add(&field.tally.requests);
            bodies.push(body);
            let field = Arc::clone(&field);
            open.spawn(async move {
                if response.await.is_ok() {
                    Tally::add(&field.tally.answered);
                }
            });
            // Past the streams the connection may hold, wait for an answer.
            if open.len() >= 256 {
                open.join_next().await;
            }
            if bodies.len() > 4096 {
                bodies.drain(..2048);
            }
        }
        Tally::add(&field.tally.closed);
        open.abort_all();
        driver.abort();
    }
}

/// Streams opened and cancelled at once, as fast as the connection takes
/// them; a new connection when the gateway closes one.
async fn rapid_reset(field: Arc<Field>, n: usize) {
    while !field.stopped() {
        let Some((mut client, driver)) = http2(&field, n).await else {
            if !refused(&field, Duration::from_millis(100)).await {
                return;
            }
            continue;
        };
        let mut sent = 0u64;
        while !field.stopped() {
            let Ok(ready) = client.clone().ready().await else {
                break;
            };
            client = ready;
            let Ok((_response, mut body)) =
                client.send_request(silent_call(field.gateway, field.token(n)), false)
            else {
                break;
            };
            body.send_reset(h2::Reason::CANCEL);
            Tally::add(&field.tally.requests);
            sent += 1;
            if sent.is_multiple_of(64) {
                tokio::task::yield_now().await;
            }
        }
        Tally::add(&field.tally.closed);
        driver.abort();
    }
}

/// A TCP connection that sends nothing; again once the gateway closes it.
async fn silent_connection(field: Arc<Field>, n: usize) {
    while !field.stopped() {
        let Ok(mut stream) = field.connect(n).await else {
            if !refused(&field, Duration::from_secs(1)).await {
                return;
            }
            continue;
        };
        let mut buffer = [0u8; 64];
        tokio::select! {
            _ = stream.read(&mut buffer) => Tally::add(&field.tally.closed),
            _ = async { while pause(&field, Duration::from_secs(1)).await {} } => return,
        }
        // Closed: a moment before trying again, as a client that keeps coming back.
        if !pause(&field, Duration::from_millis(200)).await {
            return;
        }
    }
}

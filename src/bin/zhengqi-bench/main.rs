//! `zhengqi-bench` (`cargo run --release --bin zhengqi-bench`), a binary of
//! its own so the production binary carries none of it: throughput and latency of `SubmitAppeal`, straight at intake
//! and through the gateway, against a trivial tonic call on the same machine as
//! the ceiling; and the resident memory of an idle `zhengqi up`.
//!
//! Each intake scenario starts a fresh suite (SQLite files in a new temporary
//! folder), so neither scenario inherits the other's rows or the routing
//! consumer's backlog. Clients are 12345-hotline operators of the city (role
//! `coordinator`, jurisdiction 510800) registering appeals for a pool of
//! enterprises, so each enterprise files only a few appeals in a run, as in life.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::task::JoinSet;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use zhengqi_proto::zhengqi::common::v1::EnterpriseRef;
use zhengqi_proto::zhengqi::intake::v1 as intake;
use zhengqi_proto::zhengqi::intake::v1::intake_service_client::IntakeServiceClient;
use zhengqi_shared::Error;
use zhengqi_shared::auth::{DevIssuer, Role, TokenRequest};
use zhengqi_shared::reference::{Uscc, UsccError};
use zhengqi_shared::shutdown::Shutdown;

use zhengqi::suite::{self, SERVICES, Suite, SuiteOptions};

mod hostile;
mod scoring;

/// The targets zhengqi is held to.
const TARGET_APPEALS_PER_SECOND: f64 = 10_000.0;
const TARGET_GATEWAY_SHARE: f64 = 0.85;
const TARGET_IDLE_RSS_MIB: f64 = 60.0;

/// How long the idle suite sits before its memory is read.
const IDLE_PAUSE: Duration = Duration::from_secs(2);

/// Latencies are recorded in microseconds, up to a minute.
const LATENCY_MAX_MICROS: u64 = 60_000_000;

/// Guangyuan's city and its seven counties and districts (GB/T 2260).
const JURISDICTIONS: [&str; 8] = [
    "510800", "510802", "510811", "510812", "510821", "510822", "510823", "510824",
];

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The benchmarks of zhengqi; build with `--release`.
#[derive(Debug, clap::Parser)]
#[command(name = "zhengqi-bench", version)]
struct Cli {
    #[command(flatten)]
    args: BenchArgs,
}

fn main() -> std::process::ExitCode {
    let cli = <Cli as clap::Parser>::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("zhengqi-bench: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("zhengqi-bench: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Concurrent clients, each with one call in flight at a time: a city's
    /// hotline operators, portal users and county systems calling at once.
    /// Intake commits what is waiting in one transaction, so its throughput
    /// grows with the callers until the cores are busy.
    #[arg(long, default_value_t = 256)]
    clients: usize,
    /// Seconds measured per scenario.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds of load before measuring starts, per scenario.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// HTTP/2 connections the clients share.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Distinct enterprises the appeals are filed for. Few enterprises means
    /// many appeals per enterprise, and intake compares each new appeal with the
    /// same enterprise's recent ones of its category to link duplicates.
    #[arg(long, default_value_t = 10_000)]
    enterprises: usize,
    /// Rounds of (a) direct and (b) through the gateway, taking turns, each
    /// on a fresh suite; the figures of each are its median round, so one
    /// slow spell of a shared machine does not decide the ratio.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Appeals per second submitted, paced, while the time from each
    /// acknowledgement to its case being opened by routing is measured; 0 skips it.
    #[arg(long, default_value_t = 1_000)]
    case_rate: u64,
    /// Appeals per second at which the latency the gateway adds is measured
    /// (straight at intake, then through the gateway, below saturation); 0 skips it.
    #[arg(long, default_value_t = 1_000)]
    latency_rate: u64,
    /// Runs only the hostile-client scenarios: an ordinary caller's latency
    /// while slow heads, slow bodies, silent HTTP/2 streams, rapid resets and
    /// a connection flood come from other addresses (`--duration` each).
    #[arg(long)]
    hostile: bool,
    /// How many connections (or requests) the slow attacks hold at once; the
    /// stream attacks use a share of it, the connection flood four times it.
    #[arg(long, default_value_t = 1_024)]
    hostile_scale: usize,
    /// With `--hostile`, only these attacks (and the ordinary caller alone):
    /// slow-heads, slow-bodies, silent-streams, rapid-reset, connection-flood.
    #[arg(long = "attack", value_name = "ATTACK")]
    attacks: Vec<String>,
    /// Runs only the scoring benchmark: a city's year (`--cases`, `--reviews`)
    /// loaded into a fresh SQLite store, the year's `Recompute` timed and
    /// ranking pages read at that size.
    #[arg(long)]
    scoring: bool,
    /// With `--scoring`: the year's cases.
    #[arg(long, default_value_t = 1_000_000)]
    cases: u64,
    /// With `--scoring`: the year's reviews (at most one per case).
    #[arg(long, default_value_t = 1_000_000)]
    reviews: u64,
}

pub async fn run(args: BenchArgs) -> Result<(), Error> {
    if args.clients == 0
        || args.connections == 0
        || args.enterprises == 0
        || args.duration == 0
        || args.rounds == 0
    {
        return Err(Error::invalid(
            "bench",
            "--clients, --connections, --enterprises, --duration and --rounds must be at least 1",
        ));
    }
    let load = Load {
        clients: args.clients,
        connections: args.connections,
        warmup: Duration::from_secs(args.warmup),
        duration: Duration::from_secs(args.duration),
    };
    if cfg!(debug_assertions) {
        eprintln!(
            "note: this is a debug build; measure with `cargo run --release --bin zhengqi-bench`"
        );
    }
    // Logging as under `zhengqi up` (warnings only, so the figures stay
    // readable): with no subscriber, tracing hands every span to `log`.
    // The attacks make h2 warn of every connection it closes on them.
    // Loading a year of facts takes statements sqlx calls slow.
    let quiet = if args.hostile {
        "warn,h2=error"
    } else if args.scoring {
        "warn,sqlx=error"
    } else {
        "warn"
    };
    let log = std::env::var("ZHENGQI_LOG").unwrap_or_else(|_| quiet.to_owned());
    zhengqi_shared::server::init_tracing(Some(&log));
    if args.scoring {
        return scoring::run(args.cases, args.reviews).await;
    }
    let enterprises = Arc::new(enterprise_pool(args.enterprises)?);
    if args.hostile {
        return hostile::run(
            args.duration,
            args.hostile_scale.max(64),
            &args.attacks,
            &enterprises,
        )
        .await;
    }

    progress("idle `zhengqi up`: starting it and waiting until it is idle");
    let idle_rss = idle_rss_of_up().await;
    next_scenario("echo: grpc.health.v1.Health/Check on a bare tonic server").await;
    let echo = echo_scenario(&load).await?;
    let (mut directs, mut gateways) = (Vec::new(), Vec::new());
    for round in 1..=args.rounds {
        next_scenario(&format!(
            "direct: SubmitAppeal at intake's own address (fresh suite; round {round} of {})",
            args.rounds
        ))
        .await;
        directs.push(intake_scenario(&load, Route::Direct, &enterprises).await?);
        next_scenario(&format!(
            "gateway: SubmitAppeal through the gateway, as `zhengqi up` runs it (fresh suite; round {round} of {})",
            args.rounds
        ))
        .await;
        gateways.push(intake_scenario(&load, Route::Gateway, &enterprises).await?);
    }
    let rounds = Rounds {
        direct: directs.iter().map(Measured::per_second).collect(),
        gateway: gateways.iter().map(Measured::per_second).collect(),
    };
    let direct = median_round(directs);
    let gateway = median_round(gateways);
    next_scenario(
        "gateway over the network: SubmitAppeal through the gateway to intake's own port (fresh suite)",
    ).await;
    let network = intake_scenario(&load, Route::GatewayNetwork, &enterprises).await?;
    next_scenario(
        "HTTP/JSON: POST /v1/appeals through the gateway, as the city portal calls it (fresh suite)",
    ).await;
    let http = intake_scenario(&load, Route::Http, &enterprises).await?;

    report(
        &args,
        &load,
        &Scenarios {
            echo,
            direct,
            gateway,
            network,
            http,
            rounds,
        },
        &idle_rss,
    );
    if args.latency_rate > 0 {
        next_scenario(
            "added latency: paced SubmitAppeal, straight at intake and then through the gateway (fresh suite)",
        ).await;
        let (direct, gateway) =
            paced_latency(args.latency_rate, load.duration, &enterprises).await?;
        println!();
        println!(
            "latency the gateway adds at {} appeals/s (below saturation), {} s each:",
            args.latency_rate,
            load.duration.as_secs()
        );
        for (name, m) in [("direct ", &direct), ("gateway", &gateway)] {
            println!(
                "  {name}  p50 {:.2} ms  p99 {:.2} ms  ({} calls, {} errors)",
                m.millis_at(0.50),
                m.millis_at(0.99),
                m.ok,
                m.errors
            );
        }
        let added = gateway.millis_at(0.99) - direct.millis_at(0.99);
        println!(
            "  added: p50 {:+.2} ms, p99 {:+.2} ms   target: added p99 <= 1 ms: {}",
            gateway.millis_at(0.50) - direct.millis_at(0.50),
            added,
            if added <= 1.0 && direct.errors == 0 && gateway.errors == 0 {
                "met"
            } else {
                "MISSED"
            }
        );
    }
    if args.case_rate > 0 {
        next_scenario(
            "appeal to case: paced SubmitAppeal through the gateway while following routing's events (fresh suite)",
        ).await;
        let cases = case_scenario(args.case_rate, load.duration, &enterprises).await?;
        cases.report(args.case_rate, load.duration);
    }
    Ok(())
}

// ---- the latency the gateway adds, below saturation ----

/// Latency of `SubmitAppeal` at a steady `rate`, straight at intake and then
/// through the gateway, on one suite: what the gateway adds to each call when
/// the cores are not saturated.
async fn paced_latency(
    rate: u64,
    duration: Duration,
    enterprises: &Arc<Vec<Enterprise>>,
) -> Result<(Measured, Measured), Error> {
    let bench = BenchSuite::start(false).await?;
    let (suite, issuer) = (&bench.suite, bench.issuer()?);
    let authorization = operators(issuer)?;
    let routes = [
        connect(suite.service_addrs["intake"], 4).await?,
        connect(suite.gateway_addr, 4).await?,
    ];
    let mut seq = 2_000_000_000;
    // A second of the same pace on each first, so connections and caches are
    // warm; then the two take turns, half the time each per round, so neither
    // gets the quieter moments of the machine.
    for channels in &routes {
        paced(
            rate,
            Duration::from_secs(1),
            channels,
            &authorization,
            seq,
            enterprises,
        )
        .await;
        seq += rate + 1;
    }
    let half = duration / 2;
    let mut measured = [Measured::new(), Measured::new()];
    for _round in 0..2 {
        for (channels, total) in routes.iter().zip(measured.iter_mut()) {
            let run = paced(rate, half, channels, &authorization, seq, enterprises).await;
            seq += rate * half.as_secs() + 1;
            total.merge(run);
            total.seconds += half.as_secs_f64();
        }
    }
    drop(routes);
    bench.stop().await;
    let [direct, gateway] = measured;
    Ok((direct, gateway))
}

/// `rate` calls a second for `window`, each on its own task.
async fn paced(
    rate: u64,
    window: Duration,
    channels: &[Channel],
    authorization: &[MetadataValue<Ascii>],
    first_seq: u64,
    enterprises: &Arc<Vec<Enterprise>>,
) -> Measured {
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    let per_tick = (rate as f64 / 100.0).max(1.0);
    let until = Instant::now() + window;
    let mut owed = 0.0f64;
    let mut seq = first_seq;
    let mut calls = JoinSet::new();
    while Instant::now() < until {
        ticker.tick().await;
        owed += per_tick;
        while owed >= 1.0 {
            owed -= 1.0;
            let mut request = tonic::Request::new(appeal(seq, enterprises));
            request.metadata_mut().insert(
                "authorization",
                authorization[seq as usize % authorization.len()].clone(),
            );
            let mut client =
                IntakeServiceClient::new(channels[seq as usize % channels.len()].clone());
            calls.spawn(async move {
                let start = Instant::now();
                let result = client.submit_appeal(request).await;
                (start.elapsed(), result.map(|_| Answer::Done))
            });
            seq += 1;
        }
    }
    let mut measured = Measured::new();
    while let Some(joined) = calls.join_next().await {
        match joined {
            Ok((elapsed, result)) => measured.record(elapsed, result.map_err(|s| describe(&s))),
            Err(error) => measured.record(Duration::ZERO, Err(error.to_string())),
        }
    }
    measured.seconds = window.as_secs_f64();
    measured
}

// ---- from an acknowledged appeal to its open case ----

/// When each appeal was acknowledged and when routing opened its case.
#[derive(Default)]
struct Timeline {
    acknowledged: std::collections::HashMap<String, Instant>,
    opened: std::collections::HashMap<String, Instant>,
    errors: u64,
}

struct CaseLatency {
    latency: Histogram<u64>,
    submitted: u64,
    acknowledged: u64,
    missing: u64,
    errors: u64,
}

impl CaseLatency {
    fn report(&self, rate: u64, duration: Duration) {
        let millis = |q: f64| self.latency.value_at_quantile(q) as f64 / 1000.0;
        println!();
        println!(
            "appeal to case: {rate} appeals/s offered for {} s through the gateway; {} submitted, {} acknowledged, {} errors",
            duration.as_secs(),
            self.submitted,
            self.acknowledged,
            self.errors
        );
        println!(
            "  acknowledged appeal -> case opened by routing: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} without a case after 10 s",
            millis(0.50),
            millis(0.99),
            self.latency.max() as f64 / 1000.0,
            self.missing
        );
        let verdict = if millis(0.99) <= 100.0 && self.missing == 0 {
            "met"
        } else {
            "MISSED"
        };
        println!("  target: p99 <= 100 ms at 1,000 appeals/s on SQLite: {verdict}");
    }
}

async fn case_scenario(
    rate: u64,
    duration: Duration,
    enterprises: &Arc<Vec<Enterprise>>,
) -> Result<CaseLatency, Error> {
    use futures_util::StreamExt;
    use zhengqi_proto::zhengqi::common::v1::WatchEventsRequest;
    use zhengqi_proto::zhengqi::routing::v1::CaseOpened;
    use zhengqi_proto::zhengqi::routing::v1::case_service_client::CaseServiceClient;

    let bench = BenchSuite::start(false).await?;
    let (suite, issuer) = (&bench.suite, bench.issuer()?);
    let timeline = Arc::new(std::sync::Mutex::new(Timeline::default()));

    // Follow routing's log for opened cases.
    let service = suite
        .service_key
        .mint("bench-follower", Duration::from_secs(3600))
        .map_err(Error::internal)?;
    let mut watch = tonic::Request::new(WatchEventsRequest {
        after_sequence: 0,
        types: vec![<zhengqi_proto::zhengqi::routing::v1::CaseOpened as prost::Name>::full_name()],
    });
    watch
        .metadata_mut()
        .insert("authorization", bearer(&service)?);
    let channels = connect(suite.gateway_addr, 4).await?;
    let mut events = CaseServiceClient::new(channels[0].clone())
        .watch_events(watch)
        .await
        .map_err(|status| Error::Unavailable(format!("following routing's events: {status}")))?
        .into_inner();
    let follower = {
        let timeline = Arc::clone(&timeline);
        tokio::spawn(async move {
            while let Some(Ok(event)) = events.next().await {
                let now = Instant::now();
                let opened = event
                    .payload
                    .and_then(|any| any.to_msg::<CaseOpened>().ok())
                    .and_then(|opened| opened.case)
                    .map(|case| case.appeal_id);
                if let Some(appeal_id) = opened {
                    timeline
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .opened
                        .insert(appeal_id, now);
                }
            }
        })
    };

    // Submit at a steady pace, each call on its own task.
    let authorization = operators(issuer)?;
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    let per_tick = (rate as f64 / 100.0).max(1.0);
    let until = Instant::now() + duration;
    let mut submitted = 0u64;
    let mut owed = 0.0f64;
    let mut calls = JoinSet::new();
    while Instant::now() < until {
        ticker.tick().await;
        owed += per_tick;
        while owed >= 1.0 {
            owed -= 1.0;
            let mut request = tonic::Request::new(appeal(1_000_000_000 + submitted, enterprises));
            request.metadata_mut().insert(
                "authorization",
                authorization[submitted as usize % authorization.len()].clone(),
            );
            let mut client =
                IntakeServiceClient::new(channels[submitted as usize % channels.len()].clone());
            let timeline = Arc::clone(&timeline);
            calls.spawn(async move {
                let result = client.submit_appeal(request).await;
                let now = Instant::now();
                let mut timeline = timeline.lock().unwrap_or_else(|e| e.into_inner());
                match result {
                    Ok(appeal) => {
                        timeline.acknowledged.insert(appeal.into_inner().id, now);
                    }
                    Err(_) => timeline.errors += 1,
                }
            });
            submitted += 1;
        }
    }
    while calls.join_next().await.is_some() {}

    // Give routing time to open the last cases.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let done = {
            let timeline = timeline.lock().unwrap_or_else(|e| e.into_inner());
            timeline
                .acknowledged
                .keys()
                .all(|id| timeline.opened.contains_key(id))
        };
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    follower.abort();
    let result = {
        let timeline = timeline.lock().unwrap_or_else(|e| e.into_inner());
        let mut latency =
            Histogram::<u64>::new_with_bounds(1, LATENCY_MAX_MICROS, 3).map_err(Error::internal)?;
        let mut missing = 0;
        for (id, acknowledged) in &timeline.acknowledged {
            match timeline.opened.get(id) {
                // A case may be opened a moment before the client has read the reply.
                Some(opened) => {
                    let micros = opened.saturating_duration_since(*acknowledged).as_micros() as u64;
                    latency.saturating_record(micros.max(1));
                }
                None => missing += 1,
            }
        }
        CaseLatency {
            latency,
            submitted,
            acknowledged: timeline.acknowledged.len() as u64,
            missing,
            errors: timeline.errors,
        }
    };
    drop(channels);
    bench.stop().await;
    Ok(result)
}

fn progress(what: &str) {
    eprintln!("zhengqi-bench: {what}");
}

/// How long the machine is left alone between scenarios.
const SETTLE: Duration = Duration::from_secs(2);

/// Announces the next scenario once what the ones before it wrote is on disk
/// (`sync`) and a moment has passed, so their files' write-back does not land
/// in its window.
async fn next_scenario(what: &str) {
    let _ = tokio::task::spawn_blocking(|| Command::new("sync").status()).await;
    tokio::time::sleep(SETTLE).await;
    progress(what);
}

/// How hard and how long each scenario pushes.
struct Load {
    clients: usize,
    connections: usize,
    warmup: Duration,
    duration: Duration,
}

/// What one scenario measured.
struct Measured {
    latency: Histogram<u64>,
    ok: u64,
    errors: u64,
    /// Appeals intake linked to an earlier one of the same matter.
    duplicates: u64,
    first_error: Option<String>,
    seconds: f64,
    /// CPU time of this whole process (clients and suite) over the measured
    /// window; `None` where /proc is not there to read it.
    cpu_seconds: Option<f64>,
}

impl Measured {
    fn new() -> Measured {
        Measured {
            latency: Histogram::new_with_bounds(1, LATENCY_MAX_MICROS, 3)
                .expect("constant bounds are valid"),
            ok: 0,
            errors: 0,
            duplicates: 0,
            first_error: None,
            seconds: 0.0,
            cpu_seconds: None,
        }
    }

    /// One call that took `elapsed`: its answer, or why it failed.
    fn record(&mut self, elapsed: Duration, result: Result<Answer, String>) {
        match result {
            Ok(answer) => {
                let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
                self.latency
                    .saturating_record(micros.clamp(1, LATENCY_MAX_MICROS));
                self.ok += 1;
                if matches!(answer, Answer::Duplicate) {
                    self.duplicates += 1;
                }
            }
            Err(error) => {
                self.errors += 1;
                self.first_error.get_or_insert(error);
            }
        }
    }

    /// CPU microseconds per successful call, clients and every part included.
    fn cpu_micros_per_call(&self) -> Option<f64> {
        let seconds = self.cpu_seconds?;
        (self.ok > 0).then(|| seconds * 1e6 / self.ok as f64)
    }

    fn merge(&mut self, other: Measured) {
        // Both histograms share the bounds above, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        self.ok += other.ok;
        self.errors += other.errors;
        self.duplicates += other.duplicates;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn per_second(&self) -> f64 {
        self.ok as f64 / self.seconds
    }

    fn millis_at(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }
}

/// What a call answered, when it succeeded.
enum Answer {
    Done,
    /// An appeal registered as the duplicate of an earlier one.
    Duplicate,
}

/// One client's calls; the `n`th call of the client gets `n`.
trait Call: Send + 'static {
    fn call(&mut self, n: u64) -> impl Future<Output = Result<Answer, tonic::Status>> + Send;
}

/// Runs every caller in its own task, one call in flight each, and measures the
/// calls that complete inside the window after the warm-up.
async fn drive<C: Call>(callers: Vec<C>, load: &Load) -> Result<Measured, Error> {
    let measure_from = Instant::now() + load.warmup;
    let until = measure_from + load.duration;
    let mut tasks = JoinSet::new();
    for caller in callers {
        tasks.spawn(client_loop(caller, measure_from, until));
    }
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let start = process_cpu_seconds();
        tokio::time::sleep_until(until.into()).await;
        Some(process_cpu_seconds()? - start?)
    });
    let mut total = Measured::new();
    while let Some(joined) = tasks.join_next().await {
        total.merge(joined.map_err(Error::internal)?);
    }
    total.seconds = load.duration.as_secs_f64();
    total.cpu_seconds = cpu.await.map_err(Error::internal)?;
    Ok(total)
}

/// User and system CPU time of this process so far, from /proc/self/stat
/// (Linux; clock ticks of 1/100 s).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

async fn client_loop<C: Call>(mut caller: C, measure_from: Instant, until: Instant) -> Measured {
    let mut measured = Measured::new();
    let mut n = 0;
    loop {
        let start = Instant::now();
        if start >= until {
            break;
        }
        let result = caller.call(n).await;
        n += 1;
        let done = Instant::now();
        if done < measure_from || done > until {
            continue;
        }
        measured.record(done.duration_since(start), result.map_err(|s| describe(&s)));
    }
    measured
}

/// A failed call as the report shows it.
fn describe(status: &tonic::Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}

/// `--connections` HTTP/2 connections to `addr`; client `i` uses connection `i % k`.
async fn connect(addr: SocketAddr, connections: usize) -> Result<Vec<Channel>, Error> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(Error::internal)?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5));
    let mut channels = Vec::with_capacity(connections);
    for _ in 0..connections {
        channels.push(
            endpoint
                .connect()
                .await
                .map_err(|e| Error::Unavailable(format!("cannot connect to {addr}: {e}")))?,
        );
    }
    Ok(channels)
}

fn bearer(token: &str) -> Result<MetadataValue<Ascii>, Error> {
    format!("Bearer {token}")
        .parse()
        .map_err(|_| Error::internal("a minted token is not a valid header value"))
}

// ---- (c) the ceiling: a trivial unary call on a bare tonic server ----

struct EchoCaller {
    client: HealthClient<Channel>,
    authorization: MetadataValue<Ascii>,
}

impl Call for EchoCaller {
    fn call(&mut self, _n: u64) -> impl Future<Output = Result<Answer, tonic::Status>> + Send {
        let mut client = self.client.clone();
        let mut request = tonic::Request::new(HealthCheckRequest {
            service: String::new(),
        });
        // The same header the appeal calls carry, so the wire work is alike;
        // nobody verifies it here.
        request
            .metadata_mut()
            .insert("authorization", self.authorization.clone());
        async move {
            client.check(request).await?;
            Ok(Answer::Done)
        }
    }
}

/// `grpc.health.v1.Health/Check` served by tonic-health on its own tonic server
/// with tonic's defaults: the most a tonic unary call can do on this machine
/// with these clients, not a zhengqi figure.
async fn echo_scenario(load: &Load) -> Result<Measured, Error> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(Error::internal)?;
    let addr = listener.local_addr().map_err(Error::internal)?;
    // TCP_NODELAY on accepted connections, as tonic's own `Server::serve` sets it.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let (_reporter, health) = tonic_health::server::health_reporter();
    let shutdown = Shutdown::new();
    let stopping = shutdown.clone();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming_shutdown(incoming, async move { stopping.wait().await }),
    );
    // A token shaped like the ones the appeal scenarios send.
    let scratch = tempfile::tempdir().map_err(Error::internal)?;
    let issuer =
        DevIssuer::load_or_create(scratch.path(), suite::DEV_ISSUER).map_err(Error::internal)?;
    let channels = connect(addr, load.connections).await?;
    let callers = (0..load.clients)
        .map(|i| {
            Ok(EchoCaller {
                client: HealthClient::new(channels[i % channels.len()].clone()),
                authorization: bearer(&operator_token(&issuer, i)?)?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let measured = drive(callers, load).await;
    drop(channels);
    shutdown.trigger();
    let _ = server.await;
    measured
}

// ---- (a), (b): SubmitAppeal straight at intake and through the gateway ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// gRPC at intake's own address.
    Direct,
    /// gRPC through the gateway, which calls intake in its own process (`zhengqi up`).
    Gateway,
    /// gRPC through the gateway, which calls intake over HTTP/2 on intake's
    /// own port, as it does in per-service deployments.
    GatewayNetwork,
    /// HTTP/JSON through the gateway (HTTP/1.1 with keep-alive).
    Http,
}

/// An enterprise appeals are filed for.
struct Enterprise {
    uscc: String,
    name: String,
    jurisdiction: &'static str,
}

struct IntakeCaller {
    client: IntakeServiceClient<Channel>,
    authorization: MetadataValue<Ascii>,
    /// This client's index and the number of clients: call `n` of client `i`
    /// is appeal `n * clients + i` of the run, so every appeal is distinct.
    index: usize,
    clients: usize,
    enterprises: Arc<Vec<Enterprise>>,
}

impl Call for IntakeCaller {
    fn call(&mut self, n: u64) -> impl Future<Output = Result<Answer, tonic::Status>> + Send {
        let seq = n * self.clients as u64 + self.index as u64;
        let mut request = tonic::Request::new(appeal(seq, &self.enterprises));
        request
            .metadata_mut()
            .insert("authorization", self.authorization.clone());
        let mut client = self.client.clone();
        async move {
            let appeal = client.submit_appeal(request).await?.into_inner();
            if appeal.status == intake::AppealStatus::Duplicate as i32 {
                Ok(Answer::Duplicate)
            } else {
                Ok(Answer::Done)
            }
        }
    }
}

/// A portal client: `POST /v1/appeals` with the appeal as proto3 JSON.
struct HttpCaller {
    client: reqwest::Client,
    url: String,
    authorization: String,
    index: usize,
    clients: usize,
    enterprises: Arc<Vec<Enterprise>>,
}

impl Call for HttpCaller {
    fn call(&mut self, n: u64) -> impl Future<Output = Result<Answer, tonic::Status>> + Send {
        let seq = n * self.clients as u64 + self.index as u64;
        let request = self
            .client
            .post(&self.url)
            .header("authorization", &self.authorization)
            .header("content-type", "application/json")
            .body(appeal_json(&appeal(seq, &self.enterprises)));
        async move {
            let unreachable =
                |e: reqwest::Error| tonic::Status::unavailable(format!("POST /v1/appeals: {e}"));
            let response = request.send().await.map_err(unreachable)?;
            let status = response.status();
            let text = response.text().await.map_err(unreachable)?;
            if !status.is_success() {
                return Err(tonic::Status::unknown(format!("HTTP {status}: {text}")));
            }
            let appeal: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| tonic::Status::internal(format!("not JSON: {e}")))?;
            if appeal["status"]
                .as_str()
                .is_some_and(|s| s.ends_with("DUPLICATE"))
            {
                Ok(Answer::Duplicate)
            } else {
                Ok(Answer::Done)
            }
        }
    }
}

/// `request` in proto3 JSON, as the portal sends it: lowerCamelCase, enums by name.
fn appeal_json(request: &intake::SubmitAppealRequest) -> String {
    let enterprise = request.enterprise.clone().unwrap_or_default();
    serde_json::json!({
        "requestId": request.request_id,
        "channel": request.channel().as_str_name(),
        "jurisdictionCode": request.jurisdiction_code,
        "enterprise": {"uscc": enterprise.uscc, "name": enterprise.name},
        "kind": request.kind().as_str_name(),
        "category": request.category().as_str_name(),
        "title": request.title,
        "description": request.description,
        "contactName": request.contact_name,
        "contactPhone": request.contact_phone,
    })
    .to_string()
}

/// A fresh suite for one scenario, on SQLite files in a temporary folder of its own.
struct BenchSuite {
    suite: Suite,
    /// Removed once the suite has stopped.
    _data: tempfile::TempDir,
}

impl BenchSuite {
    /// Starts one and waits until it is SERVING; its gateway reaches the
    /// services over HTTP/2 when `gateway_over_network`, else in its process.
    async fn start(gateway_over_network: bool) -> Result<BenchSuite, Error> {
        let data = tempfile::tempdir().map_err(Error::internal)?;
        let suite = suite::start(SuiteOptions {
            gateway_over_network,
            ..SuiteOptions::new(data.path(), SocketAddr::from(([127, 0, 0, 1], 0)))
        })
        .await?;
        wait_until_serving(suite.gateway_addr).await?;
        Ok(BenchSuite { suite, _data: data })
    }

    /// The development issuer the suite trusts.
    fn issuer(&self) -> Result<&DevIssuer, Error> {
        self.suite
            .dev_issuer
            .as_ref()
            .ok_or_else(|| Error::internal("the suite started without its development issuer"))
    }

    /// Stops the suite. Routing's consumer may still be turning the run's
    /// appeals into cases; it stops at its next step, and a slow stop must not
    /// hang the bench.
    async fn stop(self) {
        if tokio::time::timeout(Duration::from_secs(30), self.suite.stop())
            .await
            .is_err()
        {
            eprintln!("zhengqi-bench: the suite took over 30 s to stop; going on");
        }
    }
}

async fn intake_scenario(
    load: &Load,
    route: Route,
    enterprises: &Arc<Vec<Enterprise>>,
) -> Result<Measured, Error> {
    let bench = BenchSuite::start(route == Route::GatewayNetwork).await?;
    let (suite, issuer) = (&bench.suite, bench.issuer()?);
    let measured = match route {
        Route::Direct | Route::Gateway | Route::GatewayNetwork => {
            let addr = if route == Route::Direct {
                suite.service_addrs["intake"]
            } else {
                suite.gateway_addr
            };
            let channels = connect(addr, load.connections).await?;
            let callers = (0..load.clients)
                .map(|i| {
                    Ok(IntakeCaller {
                        client: IntakeServiceClient::new(channels[i % channels.len()].clone()),
                        authorization: bearer(&operator_token(issuer, i)?)?,
                        index: i,
                        clients: load.clients,
                        enterprises: Arc::clone(enterprises),
                    })
                })
                .collect::<Result<Vec<_>, Error>>()?;
            drive(callers, load).await
        }
        Route::Http => {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(load.clients)
                .tcp_nodelay(true)
                .build()
                .map_err(Error::internal)?;
            let url = format!("http://{}/v1/appeals", suite.gateway_addr);
            let callers = (0..load.clients)
                .map(|i| {
                    Ok(HttpCaller {
                        client: client.clone(),
                        url: url.clone(),
                        authorization: format!("Bearer {}", operator_token(issuer, i)?),
                        index: i,
                        clients: load.clients,
                        enterprises: Arc::clone(enterprises),
                    })
                })
                .collect::<Result<Vec<_>, Error>>()?;
            drive(callers, load).await
        }
    };
    bench.stop().await;
    measured
}

/// The paced scenarios' callers: a shift of hotline operators taking turns,
/// each within the gateway's per-subject rate limit, as a city's desk is
/// (one token at 1,000 calls/s would only measure that limit's 429s).
const PACED_OPERATORS: usize = 64;

fn operators(issuer: &DevIssuer) -> Result<Vec<MetadataValue<Ascii>>, Error> {
    (0..PACED_OPERATORS)
        .map(|i| bearer(&operator_token(issuer, i)?))
        .collect()
}

/// A 12345-hotline operator of the city: may register appeals for any
/// enterprise of any county (API.md: `SubmitAppeal` allows `coordinator`).
fn operator_token(issuer: &DevIssuer, client: usize) -> Result<String, Error> {
    issuer
        .mint(&TokenRequest {
            jurisdiction: Some("510800".to_owned()),
            name: Some(format!("话务员 {client}")),
            ..TokenRequest::new(
                format!("bench-operator-{client}@510800"),
                vec![Role::Coordinator],
            )
        })
        .map_err(Error::internal)
}

/// Appeal `seq` of the run: its own request_id, and an enterprise, category,
/// kind, channel and title that vary, so appeals are not all one matter.
fn appeal(seq: u64, enterprises: &[Enterprise]) -> intake::SubmitAppealRequest {
    const CHANNELS: [intake::Channel; 7] = [
        intake::Channel::Hotline12345,
        intake::Channel::MayorDirectLine,
        intake::Channel::OnlinePortal,
        intake::Channel::IndustryDepartment,
        intake::Channel::ChamberOfCommerce,
        intake::Channel::Supervisor,
        intake::Channel::ThirdParty,
    ];
    const KINDS: [intake::AppealKind; 5] = [
        intake::AppealKind::Enquiry,
        intake::AppealKind::HelpRequest,
        intake::AppealKind::Suggestion,
        intake::AppealKind::Complaint,
        intake::AppealKind::Report,
    ];
    let enterprise = &enterprises[(seq % enterprises.len() as u64) as usize];
    // 12 categories (1..=12) and 13 topics each: prime to the pool sizes one
    // is likely to pick, so an enterprise's appeals spread over them.
    let category = (seq % 12) as usize;
    let topic = TOPICS[category][(seq / 12 % 13) as usize];
    intake::SubmitAppealRequest {
        request_id: format!("bench-{seq}"),
        channel: CHANNELS[(seq % 7) as usize] as i32,
        jurisdiction_code: enterprise.jurisdiction.to_owned(),
        enterprise: Some(EnterpriseRef {
            uscc: enterprise.uscc.clone(),
            name: enterprise.name.clone(),
        }),
        kind: KINDS[(seq % 5) as usize] as i32,
        category: category as i32 + 1,
        title: format!("{topic}（来件 {seq}）"),
        description: format!(
            "{}反映：{topic}，已多次向有关部门咨询仍未解决，影响企业正常生产经营，请求协调办理并限期答复。",
            enterprise.name
        ),
        contact_name: "王经理".to_owned(),
        contact_phone: format!("139{:08}", seq % 100_000_000),
    }
}

/// Thirteen matters per category, in the order of `intake.v1.Category` (1..=12).
const TOPICS: [[&str; 13]; 12] = [
    [
        "流动资金贷款审批超过两个月未获答复",
        "应收账款质押融资银行不予受理",
        "续贷要求追加担保导致资金链紧张",
        "创业担保贷款贴息迟迟未到账",
        "知识产权质押融资评估费用过高",
        "政府性融资担保费率未按政策下调",
        "设备按揭贷款利率高于同类企业",
        "供应链金融平台确权流程繁琐",
        "银行抽贷断贷影响正常经营",
        "小微企业信用贷款额度偏低",
        "转贷应急资金申请材料要求过多",
        "票据贴现到账周期过长",
        "科技型企业贷款风险补偿未落实",
    ],
    [
        "一线普工招工困难缺口较大",
        "技术工人社保转移接续不畅",
        "稳岗返还资金尚未发放",
        "职业技能培训补贴申领材料繁琐",
        "高校毕业生见习补贴未兑现",
        "劳动用工备案系统无法登录",
        "外地员工子女入学需要协调",
        "灵活用工人员工伤保险无法参保",
        "以工代训补贴审核周期过长",
        "员工宿舍用地无法解决",
        "劳务派遣资质变更办理缓慢",
        "技能等级认定名额不足",
        "春节后员工返岗包车协调",
    ],
    [
        "产品进入本地政府采购目录受阻",
        "同类产品低价倾销扰乱市场",
        "展会摊位补贴标准不明确",
        "本地商超进场费过高",
        "农产品电商物流成本偏高",
        "招投标设置排斥外地企业条件",
        "商标被恶意抢注需要维权",
        "出口订单因认证问题受阻",
        "工程款长期被拖欠",
        "市场准入许可证办理延迟",
        "直播电商基地入驻条件不清",
        "团购平台违规收取保证金",
        "产品质量抽检结果存在异议",
    ],
    [
        "园区道路破损影响货车通行",
        "厂区门口缺少公交站点",
        "危险品运输通行证办理困难",
        "货运车辆限行时段影响配送",
        "物流园区周边停车位不足",
        "高速出口至园区道路未硬化",
        "冷链车辆通行证长期未批",
        "夜间施工运输许可办理繁琐",
        "铁路专用线接轨协调缓慢",
        "大件运输审批跨部门推诿",
        "园区路灯长期损坏",
        "新建厂区断头路影响出行",
        "超限检测站执法标准不统一",
    ],
    [
        "食品生产许可现场核查延期",
        "职业病体检机构预约困难",
        "餐饮后厨卫生整改标准不一",
        "医疗器械注册检验周期过长",
        "厂区周边垃圾清运不及时",
        "消杀服务费用由企业承担不合理",
        "员工食堂卫生许可证续期受阻",
        "药品经营许可变更办理缓慢",
        "污水处理站异味影响员工健康",
        "公共卫生检测收费标准不透明",
        "化妆品备案资料被多次退回",
        "疫苗冷链设备补贴未到位",
        "职业卫生评价报告审查滞后",
    ],
    [
        "厂房用地审批迟迟未办",
        "不动产权证分割办理困难",
        "工业用地容积率调整未获批准",
        "项目规划许可证办理超期",
        "标准化厂房租金补贴未兑现",
        "土地出让金分期缴纳申请未答复",
        "历史遗留厂房无法办理产权",
        "园区配套用地规划调整缓慢",
        "临时用地到期续期困难",
        "厂区红线范围与规划不符",
        "用地指标不足导致项目停滞",
        "地下管线迁改协调不力",
        "竣工验收规划核实周期过长",
    ],
    [
        "施工许可证审批材料重复提交",
        "环评批复超过法定时限",
        "消防验收一次性告知不到位",
        "营业执照经营范围变更被退回",
        "建设项目能评审查进展缓慢",
        "特种设备使用登记办理延迟",
        "排污许可证换证材料过多",
        "水土保持方案审批超时",
        "网上审批系统频繁故障",
        "跨部门联合审图结果不一致",
        "道路挖掘许可审批时间过长",
        "安全生产许可证延期办理困难",
        "项目备案信息修改无法在线办理",
    ],
    [
        "同一事项被多个部门重复检查",
        "轻微违法行为被顶格处罚",
        "执法人员检查未出示证件",
        "行政处罚决定书送达不规范",
        "环保检查要求企业无故停产",
        "首违不罚未按规定适用",
        "涉企检查频次过高影响生产",
        "执法尺度与邻县不一致",
        "查封设备超过期限未解除",
        "罚款缴纳渠道不便",
        "行政复议申请未按期受理",
        "信用修复申请长期未处理",
        "消防检查整改时限过短",
    ],
    [
        "技改补助资金未按期拨付",
        "招商引资优惠承诺未兑现",
        "高新技术企业奖励迟迟未发",
        "研发费用补贴申报口径不清",
        "规上企业培育奖励未到账",
        "电费补贴政策执行不到位",
        "首台套保险补偿未兑现",
        "人才公寓配套承诺落空",
        "物流费用补贴审核标准变化",
        "外贸企业出口奖励延迟发放",
        "专精特新奖励资金被截留",
        "新办企业开办补贴未兑现",
        "返乡创业扶持资金申请无回音",
    ],
    [
        "引进博士安家补贴未落实",
        "高层次人才子女入学无法安排",
        "技术骨干落户手续繁琐",
        "人才公寓分配标准不透明",
        "职称评审渠道不畅",
        "柔性引进专家补贴申请受阻",
        "外籍专家工作许可办理缓慢",
        "青年人才租房补贴停发",
        "人才服务卡权益无法使用",
        "企业人才认定标准过高",
        "技能人才评价机构缺失",
        "人才引进配偶就业安置困难",
        "研发团队社保补贴未兑现",
    ],
    [
        "增值税留抵退税办理超期",
        "出口退税进度缓慢",
        "发票额度调整申请未批",
        "房产税减免申请被驳回",
        "社保费缓缴政策执行不一",
        "涉企收费项目不公开",
        "城镇土地使用税困难减免未落实",
        "电子税务局申报系统故障",
        "研发费用加计扣除认定争议",
        "水利建设基金重复征收",
        "残保金征收标准存在疑问",
        "中介机构收费过高",
        "税务稽查时间过长影响经营",
    ],
    [
        "企业周边噪声扰民投诉处理",
        "厂区供水压力不足",
        "园区天然气接入费用过高",
        "厂区网络宽带接入困难",
        "企业门前占道经营影响通行",
        "供电线路老化频繁停电",
        "企业之间合同纠纷调解",
        "园区物业服务不到位",
        "商会活动场地申请",
        "企业搬迁补偿标准争议",
        "厂区周边治安需要加强",
        "节假日政务服务预约困难",
        "企业诉求多次反映无人回应",
    ],
];

/// `count` enterprises with valid unified social credit codes (GB 32100-2015),
/// each registered in one of Guangyuan's jurisdictions.
fn enterprise_pool(count: usize) -> Result<Vec<Enterprise>, Error> {
    const TRADES: [&str; 10] = [
        "建材", "食品", "电子", "物流", "纺织", "机械", "医药", "农业", "化工", "商贸",
    ];
    const BRANDS: [&str; 10] = [
        "嘉陵", "利州", "剑门", "蜀道", "昭化", "白龙", "米仓", "翠云", "皇泽", "千佛",
    ];
    (0..count)
        .map(|i| {
            let jurisdiction = JURISDICTIONS[i % JURISDICTIONS.len()];
            // 9: registered by market regulation, 1: a company; then the
            // division, a nine-digit organisation code, and the check character.
            let uscc = with_check_character(&format!("91{jurisdiction}{:09}", i + 1))?;
            Ok(Enterprise {
                uscc,
                name: format!(
                    "广元市{}{}有限公司第{}分公司",
                    BRANDS[i % 10],
                    TRADES[i / 10 % 10],
                    i / 100 + 1
                ),
                jurisdiction,
            })
        })
        .collect()
}

/// The 17 characters of `body` with the check character intake requires.
fn with_check_character(body: &str) -> Result<String, Error> {
    let candidate = format!("{body}0");
    match Uscc::parse(&candidate) {
        Ok(uscc) => Ok(uscc.as_str().to_owned()),
        Err(UsccError::WrongCheckCharacter { expected, .. }) => Ok(format!("{body}{expected}")),
        Err(error) => Err(Error::internal(format!(
            "bench credit code {candidate}: {error}"
        ))),
    }
}

/// Waits until the gateway reports every service SERVING (migrations done).
async fn wait_until_serving(gateway: SocketAddr) -> Result<(), Error> {
    let channel = connect(gateway, 1).await?.remove(0);
    let mut health = HealthClient::new(channel);
    for (_, service) in SERVICES {
        let mut attempts = 0;
        loop {
            let status = health
                .check(HealthCheckRequest {
                    service: service.to_owned(),
                })
                .await
                .map(|r| r.into_inner().status);
            if matches!(status, Ok(s) if s == ServingStatus::Serving as i32) {
                break;
            }
            attempts += 1;
            if attempts > 400 {
                return Err(Error::Unavailable(format!(
                    "{service} did not become SERVING within 20 s: {status:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

// ---- (d) idle memory of `zhengqi up` ----

/// The resident memory of an idle `zhengqi up`, in MiB: the `zhengqi` binary
/// built beside this one, started as `up` on a fresh data folder, left alone
/// for a moment once every service is SERVING, then read from
/// /proc/<pid>/status and stopped.
async fn idle_rss_of_up() -> Result<f64, String> {
    let bench = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let exe = bench.with_file_name("zhengqi");
    if !exe.exists() {
        return Err(format!(
            "{} is missing: build both binaries (cargo build --release --bins)",
            exe.display()
        ));
    }
    let data = tempfile::tempdir().map_err(|e| format!("no temporary folder: {e}"))?;
    let mut child = Command::new(exe)
        .arg("up")
        .arg("--data")
        .arg(data.path())
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("ZHENGQI_LISTEN")
        .env_remove("ZHENGQI_DATA")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start `zhengqi up`: {e}"))?;
    let result = measure_idle(&mut child).await;
    let _ = child.kill();
    let _ = child.wait();
    result
}

async fn measure_idle(child: &mut Child) -> Result<f64, String> {
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| "no stdout from `zhengqi up`".to_owned())?;
    // Reads until the "is up" line, then keeps the pipe open (and drained) until
    // the child is stopped, so its later lines never meet a closed pipe.
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut addr_tx = Some(addr_tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("http://").nth(1)
                && line.starts_with("zhengqi is up")
                && let Some(tx) = addr_tx.take()
            {
                let _ = tx.send(rest.trim().to_owned());
            }
        }
    });
    let addr = tokio::time::timeout(Duration::from_secs(60), addr_rx)
        .await
        .map_err(|_| "`zhengqi up` did not report its address within 60 s".to_owned())?
        .map_err(|_| "`zhengqi up` exited before it was up".to_owned())?;
    let addr: SocketAddr = addr
        .parse()
        .map_err(|_| format!("`zhengqi up` printed an odd address {addr:?}"))?;
    wait_until_serving(addr)
        .await
        .map_err(|e| format!("`zhengqi up`: {e}"))?;
    tokio::time::sleep(IDLE_PAUSE).await;
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .map_err(|e| format!("cannot read /proc/{}/status: {e}", child.id()))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS in /proc/<pid>/status".to_owned())?;
    Ok(kib / 1024.0)
}

// ---- the report ----

/// What the scenarios measured.
struct Scenarios {
    echo: Measured,
    /// The median rounds of (a) and (b).
    direct: Measured,
    gateway: Measured,
    network: Measured,
    http: Measured,
    rounds: Rounds,
}

/// Calls per second of every round of (a) and (b), in the order they ran.
struct Rounds {
    direct: Vec<f64>,
    gateway: Vec<f64>,
}

/// The round with the median calls per second (the lower of the middle two
/// for an even count).
fn median_round(mut rounds: Vec<Measured>) -> Measured {
    rounds.sort_by(|a, b| a.per_second().total_cmp(&b.per_second()));
    rounds.swap_remove((rounds.len() - 1) / 2)
}

fn report(args: &BenchArgs, load: &Load, scenarios: &Scenarios, idle_rss: &Result<f64, String>) {
    let Scenarios {
        echo,
        direct,
        gateway,
        network,
        http,
        rounds,
    } = scenarios;
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!();
    println!(
        "zhengqi-bench: SubmitAppeal, {} clients over {} HTTP/2 connection(s), {} s measured after {} s warm-up per scenario",
        load.clients,
        load.connections,
        load.duration.as_secs(),
        load.warmup.as_secs()
    );
    println!(
        "machine: {cpus} CPU(s), {}; the clients, the gateway, the five services and the echo server all share them",
        cpu_model()
    );
    println!(
        "appeals: filed by {} city hotline operators (coordinator, 510800) for {} enterprises across Guangyuan's 8 jurisdictions; each scenario on a fresh suite",
        load.clients, args.enterprises
    );
    println!(
        "meanwhile routing follows intake's event log and opens a case per appeal, as under `zhengqi up`"
    );
    println!(
        "durability: intake answers after its group-commit transaction commits (SQLite WAL, synchronous=NORMAL),"
    );
    println!(
        "            so every call counted is a durable submission (it survives a crash of the process, not of the OS)"
    );
    println!();
    println!(
        "{:<44} {:>10} {:>9} {:>9} {:>8} {:>11} {:>12}",
        "scenario", "calls/s", "p50 ms", "p99 ms", "errors", "duplicates", "CPU µs/call"
    );
    let row = |name: &str, m: &Measured, duplicates: bool| {
        println!(
            "{:<44} {:>10.0} {:>9.2} {:>9.2} {:>8} {:>11} {:>12}",
            name,
            m.per_second(),
            m.millis_at(0.50),
            m.millis_at(0.99),
            m.errors,
            if duplicates {
                m.duplicates.to_string()
            } else {
                "-".to_owned()
            },
            m.cpu_micros_per_call()
                .map_or("-".to_owned(), |micros| format!("{micros:.0}"))
        );
    };
    row("(a) direct   intake SubmitAppeal", direct, true);
    row("(b) gateway  -> intake SubmitAppeal", gateway, true);
    row("(b2) gateway -> intake over HTTP/2", network, true);
    row("(b') gateway HTTP/JSON POST /v1/appeals", http, true);
    row("(c) ceiling  tonic echo (Health/Check)", echo, false);
    if rounds.direct.len() > 1 {
        let list = |values: &[f64]| {
            values
                .iter()
                .map(|v| format!("{v:.0}"))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        println!(
            "    (a) and (b) are the median of {} rounds each, taking turns: direct {} calls/s; gateway {} calls/s",
            rounds.direct.len(),
            list(&rounds.direct),
            list(&rounds.gateway)
        );
    }
    for (name, m) in [
        ("direct", direct),
        ("gateway", gateway),
        ("gateway over HTTP/2", network),
        ("HTTP/JSON", http),
        ("echo", echo),
    ] {
        if let Some(error) = &m.first_error {
            println!("    first error ({name}): {error}");
        }
    }
    println!();
    let gateway_share = gateway.per_second() / direct.per_second();
    let direct_share = direct.per_second() / echo.per_second();
    println!(
        "ratios: gateway/direct {:.1}%   over HTTP/2 {:.1}%   HTTP/JSON/direct {:.1}%   direct/echo {:.1}% (of tonic's ceiling here, not zhengqi's)",
        gateway_share * 100.0,
        network.per_second() / direct.per_second() * 100.0,
        http.per_second() / direct.per_second() * 100.0,
        direct_share * 100.0
    );
    if let (Some(direct_cpu), Some(gateway_cpu), Some(network_cpu), Some(http_cpu)) = (
        direct.cpu_micros_per_call(),
        gateway.cpu_micros_per_call(),
        network.cpu_micros_per_call(),
        http.cpu_micros_per_call(),
    ) {
        println!(
            "CPU the gateway adds per call: {:.0} µs (gRPC), {:.0} µs (gRPC, intake over HTTP/2), {:.0} µs (HTTP/JSON)",
            gateway_cpu - direct_cpu,
            network_cpu - direct_cpu,
            http_cpu - direct_cpu,
        );
        println!(
            "    with every part on the same cores, gateway/direct can reach at most about {:.0}% ({:.0}% over HTTP/2)",
            direct_cpu / gateway_cpu * 100.0,
            direct_cpu / network_cpu * 100.0
        );
        println!(
            "    (CPU µs/call: user+system time of this process over the measured window, clients included)"
        );
    }
    println!();
    println!(
        "{:<40} {:>14} {:>14}  verdict",
        "target", "measured", "wanted"
    );
    let verdict = |met: bool| if met { "met" } else { "MISSED" };
    println!(
        "{:<40} {:>14} {:>14}  {}",
        "(a) intake durable appeals/s",
        format!("{:.0}", direct.per_second()),
        format!(">= {:.0}", TARGET_APPEALS_PER_SECOND),
        verdict(direct.per_second() >= TARGET_APPEALS_PER_SECOND && direct.errors == 0)
    );
    println!(
        "{:<40} {:>14} {:>14}  {}",
        "(b) gateway / direct",
        format!("{:.1}%", gateway_share * 100.0),
        format!(">= {:.0}%", TARGET_GATEWAY_SHARE * 100.0),
        verdict(gateway_share >= TARGET_GATEWAY_SHARE && gateway.errors == 0)
    );
    match idle_rss {
        Ok(mib) => println!(
            "{:<40} {:>14} {:>14}  {}",
            "(d) idle RSS of `zhengqi up`",
            format!("{mib:.1} MiB"),
            format!("<= {TARGET_IDLE_RSS_MIB:.0} MiB"),
            verdict(*mib <= TARGET_IDLE_RSS_MIB)
        ),
        Err(why) => println!(
            "{:<40} {:>14} {:>14}  not measured: {why}",
            "(d) idle RSS of `zhengqi up`",
            "-",
            format!("<= {TARGET_IDLE_RSS_MIB:.0} MiB")
        ),
    }
    println!(
        "    (VmRSS of a separate `zhengqi up` on a fresh data folder, {} s after every service reported SERVING)",
        IDLE_PAUSE.as_secs()
    );
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown model".to_owned())
}

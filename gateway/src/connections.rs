//! The gateway's connections: accepted one by one, at most so many from one
//! peer address (the rest closed at once, before a byte is read), served by
//! hyper with the HTTP/2 limits set (concurrent streams, header list size,
//! keep-alive pings, the rapid-reset guard), and watched: an HTTP/1.1
//! connection must send a whole request head within the header timeout of its
//! first byte (or of opening), and a connection with no call in progress for
//! the idle timeout is closed, as is one whose calls were refused as too many
//! more often than it may be.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tower::ServiceExt;
use zhengqi_shared::metrics;
use zhengqi_shared::shutdown::Shutdown;

use crate::limits::{Arrivals, ConnectionWaiting};

/// What each connection may take and how long it may sit.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Connections open at once from one peer address; `None` for no cap.
    /// Behind a proxy that connects from one address, raise it or turn it off.
    pub max_per_peer: Option<usize>,
    /// From the first byte of an HTTP/1.1 request (or the opening of a
    /// connection) until its whole head has arrived.
    pub header_timeout: Duration,
    /// From the head of an HTTP/JSON request until its whole body has arrived.
    pub body_timeout: Duration,
    /// A connection with no call in progress for this long is closed.
    pub idle_timeout: Duration,
    /// How long a gRPC call may wait for its first message.
    pub first_message_timeout: Duration,
    /// Calls waiting for their first message or body, in all and per connection.
    pub max_waiting: usize,
    pub max_waiting_per_connection: usize,
    /// HTTP/2 streams open at once on one connection.
    pub max_streams_per_connection: u32,
    /// The largest request head (HTTP/2 header list, HTTP/1.1 head), in bytes.
    pub max_header_bytes: u32,
    /// HTTP/2 keep-alive: a ping after this long without a frame, and the
    /// connection closed when its answer takes longer than `keepalive_timeout`.
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    /// Streams a client may reset before the gateway has taken them up; more
    /// and the connection is closed (HTTP/2 rapid reset, CVE-2023-44487).
    pub max_pending_resets: usize,
    /// Calls refused as too many (429, `RESOURCE_EXHAUSTED`) on one connection
    /// before it is closed (gracefully, a GOAWAY on HTTP/2): a client that
    /// keeps calling past its refusals pays a new connection for more, and
    /// the per-peer cap bounds those.
    pub max_refusals_per_connection: u32,
    /// After a connection of a peer address was closed for its refusals, new
    /// connections from that address are closed at once for this long (twice
    /// as long each time it happens again within an hour, up to 16 times);
    /// zero for never. Behind a proxy that connects from one address, turn
    /// it off, as the per-peer cap.
    pub refused_peer_cooldown: Duration,
}

pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: usize = 256;
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
pub const DEFAULT_FIRST_MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_MAX_WAITING: usize = 4096;
pub const DEFAULT_MAX_WAITING_PER_CONNECTION: usize = 8;
pub const DEFAULT_MAX_STREAMS_PER_CONNECTION: u32 = 256;
pub const DEFAULT_MAX_HEADER_BYTES: u32 = 64 * 1024;
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
pub const DEFAULT_MAX_PENDING_RESETS: usize = 20;
pub const DEFAULT_MAX_REFUSALS_PER_CONNECTION: u32 = 100;
pub const DEFAULT_REFUSED_PEER_COOLDOWN: Duration = Duration::from_secs(5);

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_per_peer: Some(DEFAULT_MAX_CONNECTIONS_PER_PEER),
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            first_message_timeout: DEFAULT_FIRST_MESSAGE_TIMEOUT,
            max_waiting: DEFAULT_MAX_WAITING,
            max_waiting_per_connection: DEFAULT_MAX_WAITING_PER_CONNECTION,
            max_streams_per_connection: DEFAULT_MAX_STREAMS_PER_CONNECTION,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            keepalive_interval: DEFAULT_KEEPALIVE_INTERVAL,
            keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
            max_pending_resets: DEFAULT_MAX_PENDING_RESETS,
            max_refusals_per_connection: DEFAULT_MAX_REFUSALS_PER_CONNECTION,
            refused_peer_cooldown: DEFAULT_REFUSED_PEER_COOLDOWN,
        }
    }
}

impl ConnectionLimits {
    /// The hyper server both protocols are served by, with these limits.
    fn builder(&self) -> auto::Builder<TokioExecutor> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            // The head's timeout is the watcher's (below): hyper's would also
            // count the idle time between requests.
            .header_read_timeout(None)
            .max_buf_size((self.max_header_bytes as usize).max(8192));
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(self.max_streams_per_connection)
            .max_header_list_size(self.max_header_bytes)
            .keep_alive_interval(self.keepalive_interval)
            .keep_alive_timeout(self.keepalive_timeout)
            .max_pending_accept_reset_streams(self.max_pending_resets);
        builder
    }
}

/// Open connections per peer address, and the addresses cooling down after
/// a connection of theirs was closed for its refusals.
#[derive(Default)]
struct Peers {
    open: Mutex<HashMap<IpAddr, usize>>,
    cooling: Mutex<HashMap<IpAddr, Cooling>>,
}

/// A peer address whose connections were closed for their refusals.
#[derive(Debug, Clone, Copy)]
struct Cooling {
    /// Until when its new connections are closed at once.
    until: Instant,
    /// How many times in a row (each within an hour of the last).
    times: u32,
}

/// How long a peer's record of refusals is kept after its cooldown ends.
const COOLING_MEMORY: Duration = Duration::from_secs(3600);
/// Above this many cooling addresses, the forgotten ones are dropped.
const COOLING_SOFT_CAPACITY: usize = 4096;

/// Why a new connection was closed at once.
enum Turned {
    /// The address holds as many connections as it may.
    TooMany,
    /// The address is cooling down after its refusals.
    Cooling,
}

/// One open connection of a peer; closing it frees the place.
struct PeerPlace {
    peers: Arc<Peers>,
    ip: IpAddr,
}

impl Peers {
    fn admit(
        self: &Arc<Self>,
        ip: IpAddr,
        max: Option<usize>,
        now: Instant,
    ) -> Result<PeerPlace, Turned> {
        if let Some(cooling) = self.cooling_of(ip)
            && now < cooling.until
        {
            return Err(Turned::Cooling);
        }
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(ip).or_default();
        if max.is_some_and(|max| *count >= max) {
            return Err(Turned::TooMany);
        }
        *count += 1;
        Ok(PeerPlace {
            peers: Arc::clone(self),
            ip,
        })
    }

    fn cooling_of(&self, ip: IpAddr) -> Option<Cooling> {
        let cooling = self.cooling.lock().unwrap_or_else(|e| e.into_inner());
        cooling.get(&ip).copied()
    }

    /// A connection of `ip` was closed for its refusals: its new connections
    /// are closed at once for `cooldown`, doubled for each time before it
    /// that was within the memory.
    fn cool(&self, ip: IpAddr, cooldown: Duration, now: Instant) {
        if cooldown.is_zero() {
            return;
        }
        let mut cooling = self.cooling.lock().unwrap_or_else(|e| e.into_inner());
        if cooling.len() >= COOLING_SOFT_CAPACITY {
            cooling.retain(|_, c| now < c.until + COOLING_MEMORY);
        }
        let times = match cooling.get(&ip) {
            // Its other connections closed meanwhile: the same offence.
            Some(c) if now < c.until => return,
            Some(c) if now < c.until + COOLING_MEMORY => c.times.saturating_add(1).min(5),
            _ => 1,
        };
        let until = now + cooldown * (1 << (times - 1));
        cooling.insert(ip, Cooling { until, times });
    }
}

impl Drop for PeerPlace {
    fn drop(&mut self) {
        let mut open = self.peers.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Milliseconds since the gateway started; 0 means "not set" below.
fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX) + 1
}

/// What the watcher of one connection reads: kept by its socket and its calls.
struct Watch {
    epoch: Instant,
    /// Calls in progress (from their head until their answer is sent or dropped).
    calls: AtomicUsize,
    /// When the last call ended, or the connection opened.
    idle_since: AtomicU64,
    /// When the head being read began (its first byte, or the opening), while
    /// no call is in progress; 0 when none is being read.
    head_since: AtomicU64,
    /// Whether the connection speaks HTTP/2 (no heads to time between calls).
    http2: AtomicBool,
    /// How much of the HTTP/2 preface the first bytes matched so far.
    preface: AtomicUsize,
    /// Calls refused as too many so far, and the wake-up once there are
    /// more than the connection may have.
    refusals: AtomicU32,
    refused_enough: Notify,
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

impl Watch {
    fn new(epoch: Instant) -> Watch {
        let now = millis_since(epoch);
        Watch {
            epoch,
            calls: AtomicUsize::new(0),
            idle_since: AtomicU64::new(now),
            head_since: AtomicU64::new(now),
            http2: AtomicBool::new(false),
            preface: AtomicUsize::new(0),
            refusals: AtomicU32::new(0),
            refused_enough: Notify::new(),
        }
    }

    fn read(&self, bytes: &[u8]) {
        let matched = self.preface.load(Ordering::Relaxed);
        if matched < H2_PREFACE.len() && matched != usize::MAX {
            let n = bytes.len().min(H2_PREFACE.len() - matched);
            if bytes[..n] == H2_PREFACE[matched..matched + n] {
                self.preface.store(matched + n, Ordering::Relaxed);
                if matched + n == H2_PREFACE.len() {
                    self.http2.store(true, Ordering::Relaxed);
                }
            } else {
                self.preface.store(usize::MAX, Ordering::Relaxed);
            }
        }
        if self.calls.load(Ordering::Acquire) == 0 && self.head_since.load(Ordering::Relaxed) == 0 {
            self.head_since
                .store(millis_since(self.epoch), Ordering::Relaxed);
        }
    }

    fn call_began(&self) {
        self.calls.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(0, Ordering::Relaxed);
    }

    fn call_ended(&self) {
        self.idle_since
            .store(millis_since(self.epoch), Ordering::Relaxed);
        self.calls.fetch_sub(1, Ordering::AcqRel);
    }

    /// Counts an answer that refused a call as too many; past `max` of them,
    /// the connection is to close.
    fn answered(&self, response: &Response, max: u32) {
        let refused = response.status() == http::StatusCode::TOO_MANY_REQUESTS
            || response
                .headers()
                .get("grpc-status")
                .is_some_and(|code| code == "8");
        if refused && self.refusals.fetch_add(1, Ordering::Relaxed) + 1 == max.saturating_add(1) {
            self.refused_enough.notify_one();
        }
    }

    /// Waits until the connection has overstayed: `Ok(())` for a head not
    /// complete in time (close at once), `Err(())` for idle (close gracefully).
    async fn overstayed(&self, limits: &ConnectionLimits) -> Result<(), ()> {
        let header = u64::try_from(limits.header_timeout.as_millis()).unwrap_or(u64::MAX);
        let idle = u64::try_from(limits.idle_timeout.as_millis()).unwrap_or(u64::MAX);
        loop {
            let now = millis_since(self.epoch);
            let mut next = now.saturating_add(header.min(idle));
            if self.calls.load(Ordering::Acquire) == 0 {
                let head_since = self.head_since.load(Ordering::Relaxed);
                if head_since != 0 && !self.http2.load(Ordering::Relaxed) {
                    let due = head_since.saturating_add(header);
                    if now >= due {
                        return Ok(());
                    }
                    next = next.min(due);
                }
                let due = self.idle_since.load(Ordering::Relaxed).saturating_add(idle);
                if now >= due {
                    return Err(());
                }
                next = next.min(due);
            }
            tokio::time::sleep(Duration::from_millis(next - now)).await;
        }
    }
}

/// A socket that tells its watcher what it reads.
struct Watched {
    stream: TcpStream,
    watch: Arc<Watch>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let result = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.watch.read(&buf.filled()[before..]);
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A call in progress on a watched connection, until its answer is sent or dropped.
struct CallInProgress(Arc<Watch>);

impl CallInProgress {
    fn new(watch: &Arc<Watch>) -> CallInProgress {
        watch.call_began();
        CallInProgress(Arc::clone(watch))
    }
}

impl Drop for CallInProgress {
    fn drop(&mut self) {
        self.0.call_ended();
    }
}

/// An answer's body that ends its call when it is done or dropped.
struct Answer {
    body: Body,
    call: Option<CallInProgress>,
}

impl http_body::Body for Answer {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            this.call.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The router as one connection's hyper service.
#[derive(Clone)]
struct ConnectionService {
    router: axum::Router,
    watch: Arc<Watch>,
    waiting: ConnectionWaiting,
    max_refusals: u32,
}

impl hyper::service::Service<http::Request<Incoming>> for ConnectionService {
    type Response = Response<Answer>;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        let call = CallInProgress::new(&self.watch);
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(self.waiting.clone());
        let answer = self.router.clone().oneshot(request);
        let (watch, max_refusals) = (Arc::clone(&self.watch), self.max_refusals);
        Box::pin(async move {
            let response = answer.await?;
            watch.answered(&response, max_refusals);
            Ok(response.map(|body| Answer {
                body,
                call: Some(call),
            }))
        })
    }
}

/// Serves `router` on `listener` until `shutdown`, then lets the calls in
/// progress finish.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: ConnectionLimits,
    arrivals: Arc<Arrivals>,
    shutdown: Shutdown,
) {
    let builder = Arc::new(limits.builder());
    let limits = Arc::new(limits);
    let peers = Arc::new(Peers::default());
    let epoch = Instant::now();
    // Every connection's task holds a sender; all are gone once all have ended.
    let (open, mut all_closed) = mpsc::channel::<()>(1);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.wait() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, or a connection reset before it was
                // taken: wait a moment rather than spin.
                tracing::debug!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let place = match peers.admit(peer.ip(), limits.max_per_peer, Instant::now()) {
            Ok(place) => place,
            Err(turned) => {
                let reason = match turned {
                    Turned::TooMany => "too_many_connections",
                    Turned::Cooling => "peer_cooling_down",
                };
                metrics::increment(zhengqi_shared::metrics::Count::GatewayRejections, reason);
                // Closed with a reset: nothing is read, and no state lingers here.
                let _ = stream.set_zero_linger();
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            peer,
            place,
            ConnectionContext {
                peers: Arc::clone(&peers),
                router: router.clone(),
                builder: Arc::clone(&builder),
                limits: Arc::clone(&limits),
                waiting: arrivals.connection(),
                epoch,
                shutdown: shutdown.clone(),
                _open: open.clone(),
            },
        ));
    }
    drop(listener);
    drop(open);
    let _ = all_closed.recv().await;
}

struct ConnectionContext {
    peers: Arc<Peers>,
    router: axum::Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    limits: Arc<ConnectionLimits>,
    waiting: ConnectionWaiting,
    epoch: Instant,
    shutdown: Shutdown,
    /// Held until the connection ends, so the gateway can wait for all of them.
    _open: mpsc::Sender<()>,
}

/// How long a connection asked to close may take to finish its calls.
const CLOSING_GRACE: Duration = Duration::from_secs(10);

async fn connection(stream: TcpStream, peer: SocketAddr, _place: PeerPlace, cx: ConnectionContext) {
    let watch = Arc::new(Watch::new(cx.epoch));
    let io = TokioIo::new(Watched {
        stream,
        watch: Arc::clone(&watch),
    });
    let service = ConnectionService {
        router: cx.router,
        watch: Arc::clone(&watch),
        waiting: cx.waiting,
        max_refusals: cx.limits.max_refusals_per_connection,
    };
    let mut served = pin!(cx.builder.serve_connection_with_upgrades(io, service));
    tokio::select! {
        result = served.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "connection ended");
            }
            return;
        }
        overstayed = watch.overstayed(&cx.limits) => {
            if overstayed.is_ok() {
                metrics::increment(zhengqi_shared::metrics::Count::GatewayRejections, "header_timeout");
                return;
            }
        }
        () = watch.refused_enough.notified() => {
            metrics::increment(zhengqi_shared::metrics::Count::GatewayRejections, "refused_connection_closed");
            cx.peers.cool(peer.ip(), cx.limits.refused_peer_cooldown, Instant::now());
        }
        () = cx.shutdown.wait() => {
            // The gateway stops: the calls in progress finish.
            served.as_mut().graceful_shutdown();
            let _ = served.await;
            return;
        }
    }
    // Idle, or refused too often: closed, with a GOAWAY on HTTP/2.
    served.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(CLOSING_GRACE, served).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_refused_again_cools_down_twice_as_long_up_to_sixteen_times() {
        let peers = Arc::new(Peers::default());
        let ip = IpAddr::from([192, 0, 2, 7]);
        let other = IpAddr::from([192, 0, 2, 8]);
        let second = Duration::from_secs(1);
        let start = Instant::now();
        assert!(peers.admit(ip, None, start).is_ok());

        peers.cool(ip, second, start);
        assert!(matches!(peers.admit(ip, None, start), Err(Turned::Cooling)));
        assert!(peers.admit(other, None, start).is_ok(), "another address");
        // Its other connections closing meanwhile are the same offence.
        peers.cool(ip, second, start + Duration::from_millis(500));
        assert!(peers.admit(ip, None, start + second).is_ok());

        // Again within the hour: 2 s, then 4, 8, 16, and no longer than 16.
        let mut now = start + second;
        for expected in [2, 4, 8, 16, 16] {
            peers.cool(ip, second, now);
            let cooled = Duration::from_secs(expected);
            assert!(
                peers
                    .admit(ip, None, now + cooled - Duration::from_millis(1))
                    .is_err()
            );
            assert!(peers.admit(ip, None, now + cooled).is_ok(), "{expected} s");
            now += cooled;
        }
        // An hour after the last cooldown, it starts again from 1 s.
        let later = now + COOLING_MEMORY;
        peers.cool(ip, second, later);
        assert!(peers.admit(ip, None, later + second).is_ok());

        // Turned off: never cooled.
        peers.cool(other, Duration::ZERO, start);
        assert!(peers.admit(other, None, start).is_ok());
    }
}

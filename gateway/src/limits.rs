//! What one caller, one message and the gateway as a whole may take: a token
//! bucket per subject (the token's `sub`, shared by all of its connections), a
//! limit on the size of each gRPC message, a limit on the calls in flight
//! beyond which new calls are shed at once rather than queued, and
//! [`Arrivals`]: the calls still waiting for their request message, which hold
//! no place among those in flight but a place of their own, for a while.

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::num::NonZeroU32;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use governor::Quota;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{Semaphore, oneshot};

/// A sustained rate and a burst, per subject.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Calls per second a subject may make, sustained.
    pub per_second: f64,
    /// Calls a subject may make at once after being idle.
    pub burst: u32,
}

/// Above this many subjects, those whose bucket is full again are forgotten.
const SOFT_CAPACITY: usize = 65_536;
/// How often (in checks) the number of subjects is looked at.
const FORGET_EVERY: u64 = 4096;

/// A token bucket per subject (governor's GCRA, keyed by a hash of the subject
/// so no subject's text is kept).
pub struct RateLimiter<C: Clock = DefaultClock> {
    limiter: governor::RateLimiter<u64, DashMapStateStore<u64>, C, NoOpMiddleware<C::Instant>>,
    clock: C,
    hasher: RandomState,
    checks: AtomicU64,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> RateLimiter {
        RateLimiter::with_clock(limit, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    fn with_clock(limit: RateLimit, clock: C) -> RateLimiter<C> {
        let period =
            Duration::from_secs_f64(1.0 / limit.per_second.max(1e-9)).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)
            .expect("a period of at least 1 ns")
            .allow_burst(NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN));
        RateLimiter {
            limiter: governor::RateLimiter::dashmap_with_clock(quota, clock.clone()),
            clock,
            hasher: RandomState::new(),
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one token of `subject`'s bucket, or says how long until one is there.
    pub fn check(&self, subject: &str) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1
            && self.limiter.len() > SOFT_CAPACITY
        {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter
            .check_key(&self.hasher.hash_one(subject))
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// The calls whose request message (gRPC) or body (HTTP/JSON) has not arrived
/// yet. A call whose message arrives within [`UNCOUNTED_WAIT`] takes no place
/// here; the others wait on, each holding a place among all the gateway's
/// waiting calls and one among its connection's, until their time is up. So
/// streams that send headers and no body cost their sender places of its own
/// connections and nobody else's calls, and are answered when the wait is over.
pub struct Arrivals {
    waiting: Semaphore,
    max_waiting: usize,
    per_connection: usize,
}

/// How long a call may wait for its message before it needs a place to wait.
pub const UNCOUNTED_WAIT: Duration = Duration::from_millis(500);

/// A connection's own places for waiting calls; one per connection, found in
/// each of its requests' extensions.
#[derive(Clone)]
pub struct ConnectionWaiting(Arc<Semaphore>);

/// Why a call's message did not arrive.
#[derive(Debug)]
pub enum NotArrived<E> {
    /// No place to wait: the connection's or the gateway's places are taken.
    NoRoom(tonic::Status),
    /// The wait was over before the message was complete.
    Late(Duration),
    /// Reading failed on its own (a broken stream, a message too large).
    Failed(E),
}

impl Arrivals {
    pub fn new(max_waiting: usize, per_connection: usize) -> Arrivals {
        Arrivals {
            waiting: Semaphore::new(max_waiting),
            max_waiting,
            per_connection: per_connection.max(1),
        }
    }

    /// Places for the calls of a new connection.
    pub fn connection(&self) -> ConnectionWaiting {
        ConnectionWaiting(Arc::new(Semaphore::new(self.per_connection)))
    }

    /// The calls waiting for their message now.
    pub fn waiting(&self) -> usize {
        self.max_waiting
            .saturating_sub(self.waiting.available_permits())
    }

    /// Runs `arrival` (the read of a call's first message or body): at once when
    /// what it reads is already there, else holding a place to wait, for at most
    /// `wait`. `connection` is the call's connection, when it came over one.
    pub async fn arrive<T, E>(
        &self,
        connection: Option<&ConnectionWaiting>,
        wait: Duration,
        arrival: impl Future<Output = Result<T, E>>,
    ) -> Result<T, NotArrived<E>> {
        let mut arrival = pin!(arrival);
        let deadline = tokio::time::Instant::now() + wait;
        // A moment without a place: a client's message follows its headers at
        // once, but the connection may read it after the call has looked for it.
        if let Ok(result) = tokio::time::timeout(UNCOUNTED_WAIT.min(wait), arrival.as_mut()).await {
            return result.map_err(NotArrived::Failed);
        }
        let _own = match connection {
            Some(ConnectionWaiting(places)) => Some(places.try_acquire().map_err(|_| {
                NotArrived::NoRoom(tonic::Status::resource_exhausted(format!(
                    "该连接上等待请求消息的调用过多（more than {} calls on this connection are waiting for their request message）",
                    self.per_connection
                )))
            })?),
            None => None,
        };
        let _place = self.waiting.try_acquire().map_err(|_| {
            NotArrived::NoRoom(tonic::Status::unavailable(
                "网关繁忙，请稍后重试（the gateway has too many calls waiting for their request message; retry shortly）",
            ))
        })?;
        match tokio::time::timeout_at(deadline, arrival).await {
            Ok(result) => result.map_err(NotArrived::Failed),
            Err(_) => Err(NotArrived::Late(wait)),
        }
    }
}

/// The answer to a call whose request message did not arrive within `wait`.
pub fn message_late(wait: Duration) -> tonic::Status {
    tonic::Status::deadline_exceeded(format!(
        "请求消息未在 {0} 秒内到达（the request message did not arrive within {0} s）",
        wait.as_secs_f64()
    ))
}

/// Reads the gRPC length-prefixed framing of a request body as it passes and
/// trips when one message is larger than the limit.
#[derive(Debug)]
pub struct FrameReader {
    limit: usize,
    header: [u8; 5],
    header_len: usize,
    payload_left: usize,
}

impl FrameReader {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            header: [0; 5],
            header_len: 0,
            payload_left: 0,
        }
    }

    /// Follows `chunk`; `Err(length)` when a message of `length` bytes is too large.
    pub fn follow(&mut self, mut chunk: &[u8]) -> Result<(), usize> {
        while !chunk.is_empty() {
            if self.payload_left > 0 {
                let n = self.payload_left.min(chunk.len());
                self.payload_left -= n;
                chunk = &chunk[n..];
                continue;
            }
            let n = (5 - self.header_len).min(chunk.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&chunk[..n]);
            self.header_len += n;
            chunk = &chunk[n..];
            if self.header_len == 5 {
                let length = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]) as usize;
                if length > self.limit {
                    return Err(length);
                }
                self.header_len = 0;
                self.payload_left = length;
            }
        }
        Ok(())
    }

    /// Whether the body read so far ends between messages.
    pub fn at_message_boundary(&self) -> bool {
        self.header_len == 0 && self.payload_left == 0
    }
}

/// The length of the first message of a gRPC body that starts with `bytes`,
/// once its five-byte prefix is there.
pub fn first_message_length(bytes: &[u8]) -> Option<usize> {
    (bytes.len() >= 5)
        .then(|| u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize)
}

/// A request body on its way to a service: the bytes the gateway already read
/// (to see the first message) and then the rest, every message checked against
/// the size limit. A message over the limit ends the body with an error and
/// tells the proxy, which answers `RESOURCE_EXHAUSTED`.
pub struct LimitedBody {
    prefix: Option<Bytes>,
    inner: tonic::body::Body,
    frames: FrameReader,
    too_large: Option<oneshot::Sender<usize>>,
}

impl LimitedBody {
    pub fn new(
        prefix: Bytes,
        inner: tonic::body::Body,
        limit: usize,
    ) -> (LimitedBody, oneshot::Receiver<usize>) {
        let (sender, receiver) = oneshot::channel();
        let body = LimitedBody {
            prefix: (!prefix.is_empty()).then_some(prefix),
            inner,
            frames: FrameReader::new(limit),
            too_large: Some(sender),
        };
        (body, receiver)
    }

    fn check(&mut self, data: &Bytes) -> Result<(), tonic::Status> {
        self.frames.follow(data.chunk()).map_err(|length| {
            if let Some(sender) = self.too_large.take() {
                let _ = sender.send(length);
            }
            message_too_large(length, self.frames.limit)
        })
    }
}

pub fn message_too_large(length: usize, limit: usize) -> tonic::Status {
    tonic::Status::resource_exhausted(format!(
        "请求内容 {length} 字节，超过 {limit} 字节的上限（a request message of {length} bytes is larger than the limit of {limit} bytes）"
    ))
}

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = &mut *self;
        if let Some(prefix) = this.prefix.take() {
            this.check(&prefix)?;
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.check(data)?;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.inner.size_hint();
        let prefix = self.prefix.as_ref().map_or(0, |p| p.len() as u64);
        let mut hint = SizeHint::new();
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + prefix);
        }
        hint.set_lower(inner.lower() + prefix);
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_asks_to_wait() {
        let clock = governor::clock::FakeRelativeClock::default();
        let limiter = RateLimiter::with_clock(
            RateLimit {
                per_second: 2.0,
                burst: 3,
            },
            clock.clone(),
        );
        for _ in 0..3 {
            assert_eq!(limiter.check("a"), Ok(()));
        }
        let wait = limiter.check("a").unwrap_err();
        assert!(
            wait > Duration::from_millis(400) && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        assert_eq!(limiter.check("b"), Ok(()), "another subject");
        clock.advance(Duration::from_millis(500));
        assert_eq!(limiter.check("a"), Ok(()), "refilled");
    }

    #[test]
    fn frames_are_followed_across_chunks() {
        let mut reader = FrameReader::new(10);
        // One message of 3 bytes, split, then a header of a 11-byte message.
        assert_eq!(reader.follow(&[0, 0, 0]), Ok(()));
        assert_eq!(reader.follow(&[0, 3, 1, 2]), Ok(()));
        assert_eq!(reader.follow(&[3, 0, 0, 0]), Ok(()));
        assert_eq!(reader.follow(&[0, 11]), Err(11));
        assert_eq!(first_message_length(&[0, 0, 0, 1, 0]), Some(256));
        assert_eq!(first_message_length(&[0, 0]), None);
    }

    #[test]
    fn the_size_hint_counts_what_was_read_ahead() {
        let inner = tonic::body::Body::new(http_body_util::Full::new(Bytes::from_static(b"rest")));
        let (body, _) = LimitedBody::new(Bytes::from_static(&[0, 0, 0, 0, 4]), inner, 10);
        assert_eq!(body.size_hint().exact(), Some(9));
    }
}

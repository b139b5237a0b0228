//! Forwarding a gRPC call: verify the token, admit it by the method's declared
//! access rule (`zhengqi_shared::authorization`), strip the
//! identity headers a caller sent, pass the deadline on, and stream the call to
//! the service that owns the method. The HTTP/JSON transcoder goes the same way
//! through [`dispatch`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use tokio::sync::Semaphore;
use tonic_types::{ErrorDetails, StatusExt};
use tower::ServiceExt;
use zhengqi_shared::Error;
use zhengqi_shared::auth::{Verifier, bearer_token};
use zhengqi_shared::authorization;
use zhengqi_shared::metrics;

use crate::audit::Auditor;
use crate::limits::{
    Arrivals, ConnectionWaiting, LimitedBody, NotArrived, RateLimiter, first_message_length,
    message_late, message_too_large,
};
use crate::target::MethodShape;
use crate::upstream::Upstreams;

pub struct ProxyState {
    pub verifier: Verifier,
    pub upstreams: Arc<Upstreams>,
    /// The deadline of a call whose caller set none.
    pub default_timeout: Duration,
    /// Every method of the contracts, by gRPC path.
    pub methods: HashMap<String, MethodShape>,
    /// Calls per subject; `None` for no limit.
    pub rate_limiter: Option<RateLimiter>,
    /// The largest request message, in bytes.
    pub max_message_bytes: usize,
    /// Calls in flight to the services; a call beyond them is shed. A call
    /// takes its place once its first message has arrived.
    pub capacity: Option<Semaphore>,
    /// Calls still waiting for their first message, and how long they may wait.
    pub arrivals: Arc<Arrivals>,
    pub first_message_timeout: Duration,
    /// Where authenticated calls are recorded; `None` when the audit is off.
    pub auditor: Option<Auditor>,
}

/// A rejection counted in `zhengqi_gateway_rejections_total{reason}`.
fn rejected(reason: &'static str, status: tonic::Status) -> tonic::Status {
    metrics::increment(zhengqi_shared::metrics::Count::GatewayRejections, reason);
    status
}

/// Headers that claim an identity: only the verified token speaks for a caller.
fn is_identity_header(name: &str) -> bool {
    name.starts_with("x-zhengqi-")
        || matches!(
            name,
            "x-forwarded-user" | "x-remote-user" | "x-user" | "x-auth-request-user" | "x-principal"
        )
}

fn grpc_error(status: tonic::Status) -> Response {
    status.into_http::<Body>()
}

/// The longest deadline a call may ask for; a longer `grpc-timeout` is cut to it.
pub const MAX_DEADLINE: Duration = Duration::from_secs(24 * 60 * 60);

/// `grpc-timeout` (e.g. `250m`, `5S`) as a duration, at most [`MAX_DEADLINE`].
/// The gRPC wire format allows at most eight digits; anything else is no
/// timeout at all (the gateway's default applies).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    let timeout = match unit {
        "H" => Duration::from_secs(amount.checked_mul(3600)?),
        "M" => Duration::from_secs(amount.checked_mul(60)?),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    };
    Some(timeout.min(MAX_DEADLINE))
}

/// Forwards one gRPC call as it came over a connection: its first message may
/// still be on its way, and waits with the connection's places.
pub async fn forward(State(state): State<Arc<ProxyState>>, request: Request) -> Response {
    let connection = request.extensions().get::<ConnectionWaiting>().cloned();
    let request = request.map(tonic::body::Body::new);
    match dispatch_from(&state, request, connection.as_ref()).await {
        Ok(response) => response,
        Err(status) => grpc_error(status),
    }
}

/// The one forwarding path of the gateway, for gRPC callers and the HTTP/JSON
/// transcoder alike: a call beyond the gateway's capacity is shed, the method
/// must be known to the policy, the bearer token must verify and its roles be
/// admitted, the subject must be within its rate, the request message within
/// the size limit; identity headers are stripped, and the call goes on to a
/// replica of the owning service with the rest of its deadline (the caller's
/// `grpc-timeout`, else the default). A call takes its place among the calls
/// in flight only once its first message has arrived ([`Arrivals`]), so calls
/// that send no message hold no place. Every authenticated call is audited.
/// `request` is a gRPC request whose path is the method's
/// (`/zhengqi.intake.v1.IntakeService/SubmitAppeal`). Each call is counted by
/// its method, whichever way it came in, until its response headers.
pub async fn dispatch(
    state: &ProxyState,
    request: http::Request<tonic::body::Body>,
) -> Result<Response, tonic::Status> {
    dispatch_from(state, request, None).await
}

/// [`dispatch`] for a call that came over `connection`.
async fn dispatch_from(
    state: &ProxyState,
    request: http::Request<tonic::body::Body>,
    connection: Option<&ConnectionWaiting>,
) -> Result<Response, tonic::Status> {
    let started = Instant::now();
    let path = request.uri().path().to_owned();
    let result = call(state, &path, request, connection, started).await;
    let code = match &result {
        Ok(response) => metrics::answered_code(response.headers()),
        Err(status) => metrics::code_label(status.code()),
    };
    metrics::record_call("gateway", &path, code, started.elapsed());
    result
}

async fn call(
    state: &ProxyState,
    path: &str,
    mut request: http::Request<tonic::body::Body>,
    connection: Option<&ConnectionWaiting>,
    started: Instant,
) -> Result<Response, tonic::Status> {
    let Some(service) = path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .map(|(s, _)| s)
    else {
        return Err(tonic::Status::unimplemented(format!("no method at {path}")));
    };
    // The method's declared rule (the contracts' `zhengqi.common.v1.access`).
    let Some(access) = authorization::model().method(path) else {
        return Err(tonic::Status::unimplemented(format!(
            "no method {path} behind this gateway"
        )));
    };
    let header = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let verified = match bearer_token(header) {
        Ok(token) => state.verifier.verify(token).await,
        Err(error) => Err(error),
    };
    let principal = match verified {
        Ok(principal) => principal,
        Err(error) => {
            metrics::increment(
                zhengqi_shared::metrics::Count::GatewayAuthFailures,
                error.reason(),
            );
            return Err(Error::Unauthenticated(error).into());
        }
    };
    let mut audit = state
        .auditor
        .as_ref()
        .map(|auditor| auditor.begin(&principal, path, None, started));
    let deadline = request
        .headers()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
        .unwrap_or(state.default_timeout);

    let outcome = async {
        access.admit(&principal)?;
        if let Some(limiter) = &state.rate_limiter
            && let Err(wait) = limiter.check(&principal.sub)
        {
            return Err(rejected("rate_limited", rate_limited(wait)));
        }
        strip_identity_headers(request.headers_mut());
        let shape = state.methods.get(path);
        let (parts, mut body) = request.into_parts();
        let first = state
            .arrivals
            .arrive(
                connection,
                state.first_message_timeout,
                read_first_message(&mut body, state.max_message_bytes),
            )
            .await
            .map_err(|not| match not {
                NotArrived::NoRoom(status) => rejected("waiting_full", status),
                NotArrived::Late(wait) => rejected("message_late", message_late(wait)),
                NotArrived::Failed(status) => status,
            })?;
        // Held until the service has answered (its response headers): calls that
        // wait on a service are what would otherwise queue without bound.
        let _permit = match &state.capacity {
            Some(capacity) => Some(capacity.try_acquire().map_err(|_| {
                rejected(
                    "overloaded",
                    tonic::Status::unavailable("the gateway is at capacity; retry shortly"),
                )
            })?),
            None => None,
        };
        let target = shape.and_then(|shape| {
            let length = first_message_length(&first)?;
            shape.target(first.get(5..5 + length)?)
        });
        // Federated deployments: the one that owns the jurisdiction the call
        // is about, else the caller's own.
        let deployment = state
            .upstreams
            .owner_of(target.as_deref().or(principal.jurisdiction.as_deref()));
        if let Some(audit) = audit.as_mut() {
            audit.set_target(target);
        }
        send_upstream(
            state,
            deployment,
            service,
            parts,
            first,
            body,
            started + deadline,
        )
        .await
    };
    let result = match tokio::time::timeout(deadline, outcome).await {
        Ok(result) => result,
        Err(_) => Err(tonic::Status::deadline_exceeded(format!(
            "{service} did not answer within {} ms",
            deadline.as_millis()
        ))),
    };
    match (audit, result) {
        (None, result) => result,
        (Some(audit), Ok(response)) => Ok(audit.follow(response)),
        (Some(audit), Err(status)) => {
            audit.finish(status.code());
            Err(status)
        }
    }
}

fn rate_limited(wait: Duration) -> tonic::Status {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut status = tonic::Status::with_error_details(
        tonic::Code::ResourceExhausted,
        format!("too many calls; retry in {seconds} s"),
        ErrorDetails::with_retry_info(Some(wait)),
    );
    if let Ok(value) = seconds.to_string().parse() {
        status.metadata_mut().insert("retry-after", value);
    }
    status
}

fn strip_identity_headers(headers: &mut http::HeaderMap) {
    let identity: Vec<_> = headers
        .keys()
        .filter(|name| is_identity_header(name.as_str()))
        .cloned()
        .collect();
    for name in identity {
        headers.remove(name);
    }
}

/// Reads `body` until its first message is complete (or the body ends),
/// refusing a message over `limit` from its length prefix alone.
async fn read_first_message(
    body: &mut tonic::body::Body,
    limit: usize,
) -> Result<Bytes, tonic::Status> {
    // Whether `bytes` hold the whole first message; an error when it is too large.
    let complete = |bytes: &[u8]| match first_message_length(bytes) {
        Some(length) if length > limit => Err(rejected(
            "message_too_large",
            message_too_large(length, limit),
        )),
        Some(length) => Ok(bytes.len() >= 5 + length),
        None => Ok(false),
    };
    let mut buffer = BytesMut::new();
    loop {
        match body.frame().await {
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                // Usually the first frame holds the whole message: no copy.
                if buffer.is_empty() && complete(&data)? {
                    return Ok(data);
                }
                buffer.extend_from_slice(&data);
                if complete(&buffer)? {
                    return Ok(buffer.freeze());
                }
            }
            Some(Err(status)) => return Err(status),
            None => return Ok(buffer.freeze()),
        }
    }
}

/// Sends the call to a replica of `service` in `deployment`: `first` (what was read of the
/// body) then the rest, each message checked against the size limit.
async fn send_upstream(
    state: &ProxyState,
    deployment: usize,
    service: &str,
    mut parts: http::request::Parts,
    first: Bytes,
    rest: tonic::body::Body,
    deadline: Instant,
) -> Result<Response, tonic::Status> {
    let Some(replica) = state.upstreams.pick(deployment, service) else {
        return Err(tonic::Status::unavailable(format!(
            "{service} is not configured behind this gateway"
        )));
    };
    // The service gets what is left of the caller's deadline.
    let left = deadline.saturating_duration_since(Instant::now());
    let millis = left.as_millis().clamp(1, 99_999_999);
    if let Ok(value) = format!("{millis}m").parse() {
        parts.headers.insert("grpc-timeout", value);
    }
    // What this side of the gateway attached to the request stays here, as
    // it would across a network hop, also when the service runs in this process.
    parts.extensions.clear();
    let (body, too_large) = LimitedBody::new(first, rest, state.max_message_bytes);
    let request = http::Request::from_parts(parts, tonic::body::Body::new(body));
    let call = replica.connection().oneshot(request);
    let too_large = async {
        match too_large.await {
            Ok(length) => length,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        length = too_large => Err(rejected(
            "message_too_large",
            message_too_large(length, state.max_message_bytes),
        )),
        answer = call => match answer {
            Ok(response) => Ok(response.map(Body::new)),
            // The channel keeps the deadline it was given too.
            Err(error) if caused_by::<tonic::TimeoutExpired>(&error) => {
                Err(tonic::Status::deadline_exceeded(format!(
                    "{service} did not answer in time"
                )))
            }
            Err(error) => {
                tracing::debug!(%service, address = %replica.replica().address, %error, "upstream unreachable");
                if caused_by::<tonic::ConnectError>(&error) {
                    replica.replica().mark_unreachable();
                }
                Err(tonic::Status::unavailable(format!("{service} is unavailable")))
            }
        },
    }
}

/// Whether `error` or one of its sources is a `T`.
fn caused_by<T: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<T>() {
            return true;
        }
        current = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_in_every_unit() {
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        // Past eight digits (the wire format's limit) or a day: no overflow.
        assert_eq!(parse_grpc_timeout("18446744073709551615S"), None);
        assert_eq!(parse_grpc_timeout("99999999H"), Some(MAX_DEADLINE));
        assert_eq!(parse_grpc_timeout("+5S"), None);
        assert_eq!(parse_grpc_timeout("S"), None);
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("x"), None);
        assert_eq!(parse_grpc_timeout(""), None);
    }

    #[test]
    fn identity_headers_are_recognised() {
        assert!(is_identity_header("x-zhengqi-roles"));
        assert!(is_identity_header("x-forwarded-user"));
        assert!(!is_identity_header("authorization"));
        assert!(!is_identity_header("grpc-timeout"));
    }
}

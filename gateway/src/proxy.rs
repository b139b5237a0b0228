//! Forwarding a gRPC call: verify the token, apply the method policy, strip the
//! identity headers a caller sent, pass the deadline on, and stream the call to
//! the service that owns the method. The HTTP/JSON transcoder goes the same way
//! through [`dispatch`].

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use tower::ServiceExt;
use zhengqi_shared::Error;
use zhengqi_shared::auth::{Verifier, bearer_token};
use zhengqi_shared::metrics;

use crate::policy::MethodPolicy;
use crate::upstream::Upstreams;

pub struct ProxyState {
    pub verifier: Verifier,
    pub policy: MethodPolicy,
    pub upstreams: Arc<Upstreams>,
    /// The deadline of a call whose caller set none.
    pub default_timeout: Duration,
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

/// `grpc-timeout` (e.g. `250m`, `5S`) as a duration.
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.checked_mul(3600)?),
        "M" => Duration::from_secs(amount.checked_mul(60)?),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// Forwards one gRPC call.
pub async fn forward(State(state): State<Arc<ProxyState>>, request: Request) -> Response {
    match dispatch(&state, request.map(tonic::body::Body::new)).await {
        Ok(response) => response,
        Err(status) => grpc_error(status),
    }
}

/// The one forwarding path of the gateway, for gRPC callers and the HTTP/JSON
/// transcoder alike: the method must be known to the policy, the bearer token
/// must verify and its roles be admitted, identity headers are stripped, and
/// the call goes on to the owning service with a deadline (the caller's
/// `grpc-timeout`, else the default). `request` is a gRPC request whose path is
/// the method's (`/zhengqi.intake.v1.IntakeService/SubmitAppeal`).
pub async fn dispatch(
    state: &ProxyState,
    mut request: http::Request<tonic::body::Body>,
) -> Result<Response, tonic::Status> {
    let path = request.uri().path().to_owned();
    let Some(service) = path
        .strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .map(|(s, _)| s.to_owned())
    else {
        return Err(tonic::Status::unimplemented(format!("no method at {path}")));
    };
    let Some(allowed) = state.policy.lookup(&path) else {
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
            metrics::increment("zhengqi_gateway_auth_failures_total", error.reason());
            return Err(Error::Unauthenticated(error).into());
        }
    };
    if !allowed.admits(&principal) {
        return Err(tonic::Status::permission_denied(format!(
            "your roles may not call {path}"
        )));
    }
    let Some(channel) = state.upstreams.channel(&service) else {
        return Err(tonic::Status::unavailable(format!(
            "{service} is not configured behind this gateway"
        )));
    };

    let headers = request.headers_mut();
    let identity: Vec<_> = headers
        .keys()
        .filter(|name| is_identity_header(name.as_str()))
        .cloned()
        .collect();
    for name in identity {
        headers.remove(name);
    }
    let deadline = headers
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)
        .unwrap_or(state.default_timeout);
    if !headers.contains_key("grpc-timeout") {
        let millis = deadline.as_millis().min(99_999_999);
        if let Ok(value) = format!("{millis}m").parse() {
            headers.insert("grpc-timeout", value);
        }
    }

    match tokio::time::timeout(deadline, channel.oneshot(request)).await {
        Ok(Ok(response)) => Ok(response.map(Body::new)),
        Ok(Err(error)) => {
            tracing::debug!(%service, %error, "upstream unreachable");
            Err(tonic::Status::unavailable(format!(
                "{service} is unavailable"
            )))
        }
        Err(_) => Err(tonic::Status::deadline_exceeded(format!(
            "{service} did not answer within {} ms",
            deadline.as_millis()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_in_every_unit() {
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
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

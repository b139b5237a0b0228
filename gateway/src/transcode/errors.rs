//! A gRPC status as an HTTP/JSON error: the HTTP status from the one mapping
//! (`zhengqi_shared::error::http_status`), and the body
//! `{"code", "message", "details"}` as `google.rpc.Status` is written in
//! proto3 JSON, with the rich error details (`BadRequest` field violations and
//! the others) decoded from `grpc-status-details-bin`.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use tonic_types::{ErrorDetail, StatusExt};
use zhengqi_shared::error::http_status;

pub fn error_response(status: &tonic::Status) -> Response {
    let http = StatusCode::from_u16(http_status(status.code()))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let details = status.get_error_details_vec();
    let retry_after = details.iter().find_map(|d| match d {
        ErrorDetail::RetryInfo(info) => info.retry_delay,
        _ => None,
    });
    let body = json!({
        "code": status.code() as i32,
        "message": status.message(),
        "details": details.iter().filter_map(detail_json).collect::<Vec<_>>(),
    });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = http;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if http == StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if let Some(delay) = retry_after {
        let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// One detail in proto3 JSON, as an `Any` with its `@type`.
fn detail_json(detail: &ErrorDetail) -> Option<Value> {
    Some(match detail {
        ErrorDetail::BadRequest(bad) => json!({
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": bad.field_violations.iter().map(|v| {
                let mut violation = json!({"field": v.field, "description": v.description});
                if !v.reason.is_empty() {
                    violation["reason"] = json!(v.reason);
                }
                violation
            }).collect::<Vec<_>>(),
        }),
        ErrorDetail::ErrorInfo(info) => json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": info.reason,
            "domain": info.domain,
            "metadata": info.metadata,
        }),
        ErrorDetail::RetryInfo(info) => json!({
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": info.retry_delay.map(|d| format!("{}s", d.as_secs_f64())),
        }),
        ErrorDetail::PreconditionFailure(failure) => json!({
            "@type": "type.googleapis.com/google.rpc.PreconditionFailure",
            "violations": failure.violations.iter().map(|v| json!({
                "type": v.r#type, "subject": v.subject, "description": v.description,
            })).collect::<Vec<_>>(),
        }),
        ErrorDetail::QuotaFailure(failure) => json!({
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": failure.violations.iter().map(|v| json!({
                "subject": v.subject, "description": v.description,
            })).collect::<Vec<_>>(),
        }),
        ErrorDetail::ResourceInfo(info) => json!({
            "@type": "type.googleapis.com/google.rpc.ResourceInfo",
            "resourceType": info.resource_type,
            "resourceName": info.resource_name,
            "owner": info.owner,
            "description": info.description,
        }),
        ErrorDetail::RequestInfo(info) => json!({
            "@type": "type.googleapis.com/google.rpc.RequestInfo",
            "requestId": info.request_id,
        }),
        ErrorDetail::Help(help) => json!({
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": help.links.iter().map(|l| json!({
                "description": l.description, "url": l.url,
            })).collect::<Vec<_>>(),
        }),
        ErrorDetail::LocalizedMessage(message) => json!({
            "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
            "locale": message.locale,
            "message": message.message,
        }),
        // Debug information is for the service's log; a kind tonic-types adds later
        // is left out rather than guessed at.
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zhengqi_shared::Error;

    async fn body_of(response: Response) -> Value {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn field_violations_come_back_as_json() {
        let mut violations = zhengqi_shared::Violations::new();
        violations.add("title", "must not be empty");
        violations.add("enterprise.uscc", "wrong check character");
        let status: tonic::Status = violations.finish().unwrap_err().into();
        let response = error_response(&status);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = body_of(response).await;
        assert_eq!(body["code"], 3);
        assert_eq!(
            body["details"][0]["@type"],
            "type.googleapis.com/google.rpc.BadRequest"
        );
        assert_eq!(
            body["details"][0]["fieldViolations"][1]["field"],
            "enterprise.uscc"
        );
    }

    #[tokio::test]
    async fn codes_map_to_http_statuses() {
        for (status, http) in [
            (tonic::Status::unauthenticated("no token"), 401),
            (tonic::Status::not_found("x"), 404),
            (tonic::Status::aborted("stale etag"), 409),
            (tonic::Status::unavailable("down"), 503),
        ] {
            let response = error_response(&status);
            assert_eq!(response.status().as_u16(), http);
            assert_eq!(body_of(response).await["message"], status.message());
        }
        let status: tonic::Status = Error::NotFound("appeal x".into()).into();
        assert_eq!(error_response(&status).status(), StatusCode::NOT_FOUND);
    }
}

//! A gRPC status as an HTTP/JSON error: the HTTP status from the one mapping
//! (`zhengqi_shared::error::http_status`), and the body
//! `{"code", "message", "details"}` as `google.rpc.Status` is written in
//! proto3 JSON, with the rich error details (`BadRequest` field violations and
//! the others) decoded from `grpc-status-details-bin`.
//!
//! Every error body carries what a person reads in Chinese, a
//! `google.rpc.LocalizedMessage` in `zh-CN`: the service's own words, or for a
//! status without them (the gateway's own refusals, a part that is down) the
//! sentence of its code.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use tonic_types::{ErrorDetail, StatusExt};
use zhengqi_shared::error::{LOCALE, chinese_for, chinese_part, http_status};

pub fn error_response(status: &tonic::Status) -> Response {
    let http = StatusCode::from_u16(http_status(status.code()))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let details = status.get_error_details_vec();
    let retry_after = details.iter().find_map(|d| match d {
        ErrorDetail::RetryInfo(info) => info.retry_delay,
        _ => None,
    });
    let mut body_details: Vec<Value> = details.iter().filter_map(detail_json).collect();
    let localized = details.iter().any(|d| {
        matches!(d, ErrorDetail::LocalizedMessage(m) if m.locale == LOCALE && !m.message.is_empty())
    });
    if !localized {
        body_details.push(json!({
            "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
            "locale": LOCALE,
            "message": chinese_of(status),
        }));
    }
    let body = json!({
        "code": status.code() as i32,
        "message": status.message(),
        "details": body_details,
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

/// The Chinese of a status that came without it: the Chinese of its message
/// when it is written `中文（English）` (the gateway's own refusals are), else
/// the sentence of its code.
fn chinese_of(status: &tonic::Status) -> String {
    chinese_part(status.message())
        .unwrap_or_else(|| chinese_for(status.code()))
        .to_owned()
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
                if let Some(localized) = &v.localized_message {
                    violation["localizedMessage"] =
                        json!({"locale": localized.locale, "message": localized.message});
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

    fn localized(body: &Value) -> Vec<String> {
        body["details"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["@type"] == "type.googleapis.com/google.rpc.LocalizedMessage")
            .map(|d| {
                assert_eq!(d["locale"], "zh-CN");
                d["message"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    #[tokio::test]
    async fn every_error_body_says_in_chinese_what_went_wrong() {
        // A service's refusal with its own words.
        let status: tonic::Status = Error::FailedPrecondition("case 1 is closed".into())
            .zh("案件已办结，不能再退单")
            .into();
        let body = body_of(error_response(&status)).await;
        assert_eq!(body["message"], "case 1 is closed");
        assert_eq!(localized(&body), ["案件已办结，不能再退单"]);

        // A field's refusal, beside the field and as a whole.
        let mut violations = zhengqi_shared::Violations::new();
        violations.add("title", zhengqi_shared::fields::Problem::Missing);
        let status: tonic::Status = violations.finish().unwrap_err().into();
        let body = body_of(error_response(&status)).await;
        assert_eq!(
            body["details"][0]["fieldViolations"][0]["localizedMessage"]["message"],
            "不能为空"
        );
        assert_eq!(localized(&body), ["请求内容有误：title：不能为空"]);

        // Statuses without Chinese words: the gateway's own (written in
        // Chinese) keep theirs, others read as their code.
        let body = body_of(error_response(&tonic::Status::resource_exhausted(
            "请求过于频繁",
        )))
        .await;
        assert_eq!(localized(&body), ["请求过于频繁"]);
        let body = body_of(error_response(&tonic::Status::unavailable(
            "routing unreachable",
        )))
        .await;
        assert_eq!(localized(&body), ["服务暂时不可用，请稍后再试"]);
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

//! What a request's `content-type` asks of the gateway. gRPC is served as
//! `application/grpc` and `application/grpc+proto`; HTTP/JSON bodies are
//! `application/json` (UTF-8, the only charset JSON has). Anything else is
//! refused with 415 Unsupported Media Type before it reaches a service, with
//! the usual JSON error body naming `content-type` and the supported types,
//! and `grpc-status` for gRPC clients. gRPC-Web (`application/grpc-web`,
//! `application/grpc-web+proto`, `application/grpc-web-text`) is not served:
//! its framing differs from gRPC's (trailers in the body, base64 for the text
//! form), so passing it on as gRPC would misread it; a browser uses the
//! HTTP/JSON API instead.

use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use zhengqi_shared::Error;

use crate::errors::error_response;

/// How a request is to be served, by its `content-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// gRPC with protobuf messages: proxied as it is.
    Grpc,
    /// `application/json`: for the HTTP/JSON transcoder.
    Json,
    /// No content type: for the HTTP/JSON transcoder, which refuses a
    /// request that has a body all the same.
    Absent,
    /// A gRPC variant the gateway does not speak (gRPC-Web, other codecs).
    UnsupportedGrpc,
    /// Anything else: for the HTTP/JSON transcoder too, which serves a call
    /// without a body and refuses one with a body.
    Other,
}

/// The media type of `headers`' `content-type`, lower case, without its
/// parameters, and whether its parameters are ones the gateway accepts (for
/// JSON, none or `charset=utf-8`).
fn media_type(value: &str) -> (String, bool) {
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let parameters_ok = parts.all(|parameter| {
        let parameter = parameter.trim();
        if parameter.is_empty() {
            return true;
        }
        match parameter.split_once('=') {
            Some((name, value)) => {
                name.trim().eq_ignore_ascii_case("charset")
                    && value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            }
            None => false,
        }
    });
    (essence, parameters_ok)
}

/// What `headers` ask for.
pub fn kind(headers: &HeaderMap) -> Kind {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Kind::Absent;
    };
    let Ok(value) = value.to_str() else {
        return Kind::Other;
    };
    let (essence, parameters_ok) = media_type(value);
    match essence.as_str() {
        // gRPC's content type takes no parameters.
        "application/grpc" | "application/grpc+proto" if value.trim() == essence => Kind::Grpc,
        "application/json" if parameters_ok => Kind::Json,
        grpc if grpc.starts_with("application/grpc") => Kind::UnsupportedGrpc,
        _ => Kind::Other,
    }
}

/// The types the gateway serves, for people reading a refusal.
const SUPPORTED: &str =
    "application/grpc, application/grpc+proto (gRPC); application/json (HTTP/JSON)";

/// 415 for a request of content type `given`, as JSON with `grpc-status` too.
pub fn unsupported(given: Option<&HeaderValue>) -> Response {
    let given = given
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let shown: String = given.chars().take(100).collect();
    let description = if shown.is_empty() {
        format!("请求体须注明内容类型（a body needs a content type; supported: {SUPPORTED}）")
    } else {
        format!(
            "不支持的内容类型 {shown:?}（unsupported content type; supported: {SUPPORTED}; \
             gRPC-Web is not served）"
        )
    };
    zhengqi_shared::metrics::increment(
        zhengqi_shared::metrics::Count::GatewayRejections,
        "unsupported_media_type",
    );
    let status: tonic::Status = Error::invalid("content-type", description).into();
    let mut response = error_response(&status);
    *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
    let grpc = status.into_http::<axum::body::Body>();
    for name in ["grpc-status", "grpc-message"] {
        if let Some(value) = grpc.headers().get(name) {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response.headers_mut().insert(
        header::ACCEPT,
        HeaderValue::from_static("application/grpc, application/grpc+proto, application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(value: &str) -> Kind {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        kind(&headers)
    }

    #[test]
    fn grpc_and_json_are_known_and_everything_else_is_not() {
        assert_eq!(kind(&HeaderMap::new()), Kind::Absent);
        assert_eq!(kind_of("application/grpc"), Kind::Grpc);
        assert_eq!(kind_of("application/grpc+proto"), Kind::Grpc);
        assert_eq!(kind_of("Application/GRPC"), Kind::UnsupportedGrpc);
        assert_eq!(kind_of("application/grpc-web"), Kind::UnsupportedGrpc);
        assert_eq!(kind_of("application/grpc-web+proto"), Kind::UnsupportedGrpc);
        assert_eq!(kind_of("application/grpc-web-text"), Kind::UnsupportedGrpc);
        assert_eq!(kind_of("application/grpc+json"), Kind::UnsupportedGrpc);
        assert_eq!(kind_of("application/json"), Kind::Json);
        assert_eq!(kind_of("application/json; charset=utf-8"), Kind::Json);
        assert_eq!(kind_of("Application/JSON;charset=\"UTF-8\""), Kind::Json);
        assert_eq!(kind_of("application/json; charset=gbk"), Kind::Other);
        assert_eq!(kind_of("text/plain"), Kind::Other);
        assert_eq!(kind_of("application/x-www-form-urlencoded"), Kind::Other);
        assert_eq!(kind_of("multipart/form-data; boundary=x"), Kind::Other);
    }

    #[tokio::test]
    async fn a_refusal_is_415_with_the_json_error_and_the_grpc_status() {
        let response = unsupported(Some(&HeaderValue::from_static("application/grpc-web")));
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(response.headers()["grpc-status"], "3");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], 3);
        assert_eq!(
            body["details"][0]["fieldViolations"][0]["field"],
            "content-type"
        );
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("application/json")
        );
    }
}

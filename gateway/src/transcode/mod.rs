//! HTTP/JSON transcoding from the `google.api.http` annotations: one route per
//! binding in the descriptor set, no handler per method. A request is read
//! into the method's request message (proto3 JSON), sent as a gRPC call down
//! the same path the gRPC proxy uses ([`proxy::dispatch`]: token, method
//! policy, identity headers, deadline), and the answer is written back as JSON,
//! as the bytes of a `google.api.HttpBody`, or for a server-streaming method as
//! newline-delimited JSON.

pub mod request;
pub mod rules;
pub mod template;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use tonic::codec::{DecodeBuf, Decoder, Streaming};

use crate::errors::error_response;
use crate::proxy::{self, ProxyState};
use rules::Binding;

/// The largest response message the transcoder decodes, as tonic's default
/// limit for one message. Requests are held to the gateway's message limit.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Request headers passed on to the service as gRPC metadata. Anything else a
/// browser sends (cookies above all) stays at the gateway.
const FORWARDED_HEADERS: [&str; 6] = [
    "authorization",
    "grpc-timeout",
    "x-request-id",
    "traceparent",
    "tracestate",
    "accept-language",
];

pub struct Transcoder {
    /// Most specific first: templates with a verb, then more literal segments.
    bindings: Vec<Binding>,
    proxy: Arc<ProxyState>,
}

enum Found<'a> {
    Binding(&'a Binding, Vec<(String, String)>),
    OtherMethods(Vec<Method>),
    Nothing,
}

impl Transcoder {
    pub fn new(pool: &DescriptorPool, proxy: Arc<ProxyState>) -> Result<Transcoder, String> {
        let mut bindings = rules::bindings(pool)?;
        let mut shapes = std::collections::BTreeMap::new();
        for binding in &bindings {
            let key = (binding.http_method.to_string(), binding.template.shape());
            if let Some(other) = shapes.insert(key, &binding.grpc_path) {
                return Err(format!(
                    "{} {} is bound to both {other} and {}",
                    binding.http_method,
                    binding.template.openapi_path(),
                    binding.grpc_path
                ));
            }
        }
        bindings.sort_by_key(|b| {
            (
                b.template.verb.is_none(),
                std::cmp::Reverse(b.template.literal_count()),
            )
        });
        Ok(Transcoder { bindings, proxy })
    }

    fn find(&self, method: &Method, path: &str) -> Found<'_> {
        find(&self.bindings, method, path)
    }
}

/// The binding of `method` and `path`, or what else is bound to `path`.
fn find<'a>(bindings: &'a [Binding], method: &Method, path: &str) -> Found<'a> {
    // A path that ends in a verb some binding knows (`…/{id}:withdraw`) is
    // that verb's, never an id with a colon in it for a binding without one.
    let verb_matches = bindings
        .iter()
        .any(|b| b.template.verb.is_some() && b.template.matches(path).is_some());
    let mut others = Vec::new();
    for binding in bindings {
        if verb_matches && binding.template.verb.is_none() {
            continue;
        }
        if let Some(values) = binding.template.matches(path) {
            if binding.http_method == method {
                return Found::Binding(binding, values);
            }
            if !others.contains(&binding.http_method) {
                others.push(binding.http_method.clone());
            }
        }
    }
    if others.is_empty() {
        Found::Nothing
    } else {
        Found::OtherMethods(others)
    }
}

/// Serves one HTTP/JSON request.
pub async fn handle(State(transcoder): State<Arc<Transcoder>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let (binding, values) = match transcoder.find(&parts.method, parts.uri.path()) {
        Found::Binding(binding, values) => (binding, values),
        Found::OtherMethods(allowed) => {
            let mut response = error_response(&tonic::Status::unimplemented(format!(
                "{} is not served for {}",
                parts.method,
                parts.uri.path()
            )));
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            let allow = allowed
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            if let Ok(value) = HeaderValue::from_str(&allow) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            return response;
        }
        Found::Nothing => {
            return error_response(&tonic::Status::not_found(format!(
                "no method is bound to {} {}",
                parts.method,
                parts.uri.path()
            )));
        }
    };
    let limit = transcoder.proxy.max_message_bytes;
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(body) => body,
        Err(_) => return body_too_large(limit),
    };
    // A body is read as JSON only when it says it is; a call without one
    // (a GET, an action with nothing to add) needs no content type.
    if !body.is_empty()
        && crate::content_type::kind(&parts.headers) != crate::content_type::Kind::Json
    {
        return crate::content_type::unsupported(parts.headers.get(header::CONTENT_TYPE));
    }
    let message = match request::build(binding, values, parts.uri.query(), &body) {
        Ok(message) => message,
        Err(error) => return error_response(&error.into()),
    };
    if message.encoded_len() > limit {
        return too_large(&format!(
            "请求内容超过{limit}字节的上限（the request message is larger than {limit} bytes）"
        ));
    }
    let stream = match call(&transcoder.proxy, binding, message, &parts.headers).await {
        Ok(stream) => stream,
        Err(status) => return error_response(&status),
    };
    if binding.method.is_server_streaming() {
        stream_response(binding, stream).await
    } else {
        unary_response(binding, stream).await
    }
}

/// 413 for a request body over `limit` bytes.
pub fn body_too_large(limit: usize) -> Response {
    too_large(&format!(
        "请求内容超过{limit}字节的上限（the request body is larger than {limit} bytes）"
    ))
}

/// 413 with the `RESOURCE_EXHAUSTED` body of a request over the size limit.
pub fn too_large(message: &str) -> Response {
    zhengqi_shared::metrics::increment(
        zhengqi_shared::metrics::Count::GatewayRejections,
        "message_too_large",
    );
    let mut response = error_response(&tonic::Status::resource_exhausted(message));
    *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
    response
}

/// Sends `message` as a gRPC call through the proxy's forwarding path.
async fn call(
    proxy: &ProxyState,
    binding: &Binding,
    message: DynamicMessage,
    headers: &HeaderMap,
) -> Result<Streaming<DynamicMessage>, tonic::Status> {
    let length = message.encoded_len();
    let mut frame = BytesMut::with_capacity(5 + length);
    frame.put_u8(0); // not compressed
    frame.put_u32(
        u32::try_from(length)
            .map_err(|_| tonic::Status::resource_exhausted("the request message is too large"))?,
    );
    message
        .encode(&mut frame)
        .map_err(|e| tonic::Status::internal(format!("encoding the request: {e}")))?;

    let mut builder = http::Request::builder()
        .method(Method::POST)
        .uri(binding.grpc_path.as_str())
        .version(http::Version::HTTP_2)
        .header(header::CONTENT_TYPE, "application/grpc")
        .header(header::TE, "trailers");
    for name in FORWARDED_HEADERS {
        for value in headers.get_all(name) {
            builder = builder.header(name, value);
        }
    }
    let request = builder
        .body(tonic::body::Body::new(Body::from(frame.freeze())))
        .map_err(|e| tonic::Status::internal(format!("building the call: {e}")))?;

    let response = proxy::dispatch(proxy, request).await?;
    let (parts, body) = response.into_parts();
    // A trailers-only answer carries its status in the headers.
    if let Some(status) = tonic::Status::from_header_map(&parts.headers)
        && status.code() != tonic::Code::Ok
    {
        return Err(status);
    }
    Ok(Streaming::new_response(
        DynamicDecoder(binding.method.output()),
        body,
        parts.status,
        None,
        Some(MAX_BODY_BYTES),
    ))
}

/// Decodes each response message with the method's output descriptor.
struct DynamicDecoder(MessageDescriptor);

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, tonic::Status> {
        DynamicMessage::decode(self.0.clone(), src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(format!("undecodable response: {e}")))
    }
}

async fn unary_response(binding: &Binding, mut stream: Streaming<DynamicMessage>) -> Response {
    let message = match stream.message().await {
        Ok(Some(message)) => message,
        Ok(None) => {
            return error_response(&tonic::Status::internal("the service answered no message"));
        }
        Err(status) => return error_response(&status),
    };
    // The trailers carry the final status; an error there wins over the message.
    if let Err(status) = stream.trailers().await {
        return error_response(&status);
    }
    if binding.is_http_body_response() {
        return http_body_response(binding, &message);
    }
    match to_json(binding, &message) {
        Ok(json) => json_response(StatusCode::OK, "application/json", json),
        Err(status) => error_response(&status),
    }
}

/// The response message as proto3 JSON, or its `response_body` field.
pub fn to_json(binding: &Binding, message: &DynamicMessage) -> Result<Bytes, tonic::Status> {
    let failed = |e: serde_json::Error| tonic::Status::internal(format!("writing JSON: {e}"));
    let bytes = match &binding.response_body {
        None => serde_json::to_vec(message).map_err(failed)?,
        Some(field) => {
            let mut whole = serde_json::to_value(message).map_err(failed)?;
            let part = whole
                .get_mut(field.json_name())
                .map(serde_json::Value::take)
                .unwrap_or(serde_json::Value::Null);
            serde_json::to_vec(&part).map_err(failed)?
        }
    };
    Ok(Bytes::from(bytes))
}

fn json_response(status: StatusCode, content_type: &'static str, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A `google.api.HttpBody` as it is: its bytes with its content type, as an
/// attachment when a browser should save rather than show it.
fn http_body_response(binding: &Binding, message: &DynamicMessage) -> Response {
    let body: zhengqi_proto::google::api::HttpBody = match message.transcode_to() {
        Ok(body) => body,
        Err(e) => {
            return error_response(&tonic::Status::internal(format!(
                "undecodable HttpBody: {e}"
            )));
        }
    };
    let content_type = if body.content_type.is_empty() {
        "application/octet-stream".to_owned()
    } else {
        body.content_type
    };
    let disposition = attachment_name(binding, &content_type);
    let mut response = Response::new(Body::from(body.data));
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Some(value) = disposition.and_then(|d| HeaderValue::from_str(&d).ok()) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// `attachment; filename="ledger.xlsx"` for content a browser should download.
fn attachment_name(binding: &Binding, content_type: &str) -> Option<String> {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let inline = essence == "application/json"
        || essence == "text/plain"
        || essence == "text/html"
        || essence.starts_with("image/");
    if inline {
        return None;
    }
    let extension = match essence.as_str() {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => ".xlsx",
        "text/csv" => ".csv",
        "application/pdf" => ".pdf",
        "application/zip" => ".zip",
        _ => "",
    };
    let stem = binding.template.last_literal().unwrap_or("download");
    let stem: String = stem
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    Some(format!("attachment; filename=\"{stem}{extension}\""))
}

/// A server-streaming answer as newline-delimited JSON, one message a line.
/// An error before the first message is an ordinary error response; an error
/// later ends the stream with a last line `{"error": {...}}`.
async fn stream_response(binding: &Binding, mut stream: Streaming<DynamicMessage>) -> Response {
    let first = match stream.message().await {
        Ok(first) => first,
        Err(status) => return error_response(&status),
    };
    let binding = binding.clone();
    let lines = futures_util::stream::unfold(
        (first, Some(stream), binding),
        |(pending, stream, binding)| async move {
            let mut stream = stream?;
            let next = match pending {
                Some(message) => Ok(Some(message)),
                None => stream.message().await,
            };
            let (line, stream) = match next {
                Ok(Some(message)) => match to_json(&binding, &message) {
                    Ok(json) => (json, Some(stream)),
                    Err(status) => (error_line(&status), None),
                },
                Ok(None) => return None,
                Err(status) => (error_line(&status), None),
            };
            let mut framed = BytesMut::with_capacity(line.len() + 1);
            framed.extend_from_slice(&line);
            framed.put_u8(b'\n');
            Some((
                Ok::<_, std::convert::Infallible>(framed.freeze()),
                (None, stream, binding),
            ))
        },
    );
    let mut response = Response::new(Body::from_stream(lines.boxed()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    response
}

fn error_line(status: &tonic::Status) -> Bytes {
    let code = status.code() as i32;
    Bytes::from(
        serde_json::json!({"error": {"code": code, "message": status.message()}}).to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(grpc_path: &str) -> Binding {
        let pool = DescriptorPool::decode(zhengqi_proto::FILE_DESCRIPTOR_SET).unwrap();
        rules::bindings(&pool)
            .unwrap()
            .into_iter()
            .find(|b| b.grpc_path == grpc_path)
            .unwrap()
    }

    /// A gRPC response body: `messages` framed, then `grpc-status: code`.
    fn grpc_body(messages: &[Vec<u8>], code: tonic::Code) -> Body {
        use http_body_util::StreamBody;
        let mut frames: Vec<Result<http_body::Frame<Bytes>, std::convert::Infallible>> = Vec::new();
        for message in messages {
            let mut frame = BytesMut::new();
            frame.put_u8(0);
            frame.put_u32(message.len() as u32);
            frame.extend_from_slice(message);
            frames.push(Ok(http_body::Frame::data(frame.freeze())));
        }
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from(code as i32));
        trailers.insert("grpc-message", HeaderValue::from_static("stream%20broke"));
        frames.push(Ok(http_body::Frame::trailers(trailers)));
        Body::new(StreamBody::new(futures_util::stream::iter(frames)))
    }

    fn streaming(binding: &Binding, body: Body) -> Streaming<DynamicMessage> {
        Streaming::new_response(
            DynamicDecoder(binding.method.output()),
            body,
            StatusCode::OK,
            None,
            None,
        )
    }

    fn appeal(id: &str) -> Vec<u8> {
        zhengqi_proto::zhengqi::intake::v1::Appeal {
            id: id.into(),
            jurisdiction_code: "510821".into(),
            ..Default::default()
        }
        .encode_to_vec()
    }

    async fn text_of(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_stream_is_written_as_one_json_message_a_line() {
        let get = binding("/zhengqi.intake.v1.IntakeService/GetAppeal");
        let body = grpc_body(&[appeal("a-1"), appeal("a-2")], tonic::Code::Ok);
        let response = stream_response(&get, streaming(&get, body)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/x-ndjson"
        );
        assert_eq!(
            text_of(response).await,
            "{\"id\":\"a-1\",\"jurisdictionCode\":\"510821\"}\n\
             {\"id\":\"a-2\",\"jurisdictionCode\":\"510821\"}\n"
        );
    }

    #[tokio::test]
    async fn a_stream_that_fails_midway_ends_with_an_error_line() {
        let get = binding("/zhengqi.intake.v1.IntakeService/GetAppeal");
        let body = grpc_body(&[appeal("a-1")], tonic::Code::Unavailable);
        let response = stream_response(&get, streaming(&get, body)).await;
        let text = text_of(response).await;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        let error: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(error["error"]["code"], 14);
        assert_eq!(error["error"]["message"], "stream broke");

        let body = grpc_body(&[], tonic::Code::NotFound);
        let response = stream_response(&get, streaming(&get, body)).await;
        assert_eq!(
            response.status(),
            StatusCode::NOT_FOUND,
            "an error before any message"
        );
    }

    #[tokio::test]
    async fn an_http_body_answer_passes_through_as_a_download() {
        let export = binding("/zhengqi.routing.v1.CaseService/ExportLedger");
        let xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
        let answer = zhengqi_proto::google::api::HttpBody {
            content_type: xlsx.into(),
            data: b"PK\x03\x04 a workbook".to_vec(),
            extensions: vec![],
        };
        let body = grpc_body(&[answer.encode_to_vec()], tonic::Code::Ok);
        let response = unary_response(&export, streaming(&export, body)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], xlsx);
        assert_eq!(
            response.headers()[header::CONTENT_DISPOSITION],
            "attachment; filename=\"ledger.xlsx\""
        );
        assert_eq!(text_of(response).await, "PK\x03\x04 a workbook");
    }

    #[tokio::test]
    async fn an_error_in_the_trailers_wins_over_the_message() {
        let get = binding("/zhengqi.intake.v1.IntakeService/GetAppeal");
        let body = grpc_body(&[appeal("a-1")], tonic::Code::Internal);
        let response = unary_response(&get, streaming(&get, body)).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn a_known_verb_is_never_read_as_part_of_an_id() {
        let pool = DescriptorPool::decode(zhengqi_proto::FILE_DESCRIPTOR_SET).unwrap();
        let bindings = rules::bindings(&pool).unwrap();
        let lookup = |method: Method, path: &str| match find(&bindings, &method, path) {
            Found::Binding(binding, values) => Ok((binding.grpc_path.clone(), values)),
            Found::OtherMethods(allowed) => Err(allowed),
            Found::Nothing => Err(vec![]),
        };
        assert_eq!(
            lookup(Method::GET, "/v1/appeals/510821-1:withdraw"),
            Err(vec![Method::POST]),
            "GET of a withdraw verb is not GetAppeal"
        );
        assert_eq!(
            lookup(Method::GET, "/v1/appeals/510821-1"),
            Ok((
                "/zhengqi.intake.v1.IntakeService/GetAppeal".to_owned(),
                vec![("id".to_owned(), "510821-1".to_owned())]
            ))
        );
        assert_eq!(lookup(Method::GET, "/v1/nothing"), Err(vec![]));
    }

    #[test]
    fn downloads_are_named_after_the_resource() {
        let export = binding("/zhengqi.routing.v1.CaseService/ExportLedger");
        assert_eq!(
            attachment_name(
                &export,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            )
            .as_deref(),
            Some("attachment; filename=\"ledger.xlsx\"")
        );
        assert_eq!(
            attachment_name(&export, "text/csv; charset=utf-8").as_deref(),
            Some("attachment; filename=\"ledger.csv\"")
        );
        assert_eq!(attachment_name(&export, "application/json"), None);
    }
}

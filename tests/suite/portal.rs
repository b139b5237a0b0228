//! The city portal the gateway serves at `/`: the page and every file it loads
//! without a token, with their content types, security headers and ETags,
//! beside the API, `/openapi.json`, `/healthz` and gRPC on the same port; and
//! every API path the portal's scripts call is one `/openapi.json` describes,
//! with the same method, so renaming a path breaks this test before it breaks
//! the portal.

use std::collections::{BTreeSet, VecDeque};
use std::path::Path;

use crate::common::*;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use zhengqi_proto::zhengqi::intake::v1 as intake;

async fn fetch(
    client: &reqwest::Client,
    url: &str,
    if_none_match: Option<&str>,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = client.get(url);
    if let Some(etag) = if_none_match {
        request = request.header(header::IF_NONE_MATCH, etag);
    }
    let response = request.send().await.expect("the gateway answers");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("a body").to_vec();
    (status, headers, body)
}

fn header_of<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
        .to_str()
        .unwrap()
}

/// The headers every file of the portal carries.
fn assert_secured(path: &str, headers: &HeaderMap) {
    let csp = header_of(headers, "content-security-policy");
    assert!(csp.starts_with("default-src 'self'"), "{path}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
    assert_eq!(header_of(headers, "x-content-type-options"), "nosniff");
    assert_eq!(header_of(headers, "referrer-policy"), "no-referrer");
    assert_eq!(header_of(headers, "x-frame-options"), "DENY");
}

/// Every value of `name="…"` in `html` that starts with `/portal/`.
fn attribute_values(html: &str, name: &str) -> Vec<String> {
    let marker = format!("{name}=\"");
    html.match_indices(&marker)
        .filter_map(|(at, _)| {
            let rest = &html[at + marker.len()..];
            let value = &rest[..rest.find('"')?];
            value.starts_with("/portal/").then(|| value.to_owned())
        })
        .collect()
}

/// The literal that starts at `source[start]` (a quote), without its quotes;
/// in a template literal, `${…}` is kept as written.
fn literal_at(source: &str, start: usize) -> &str {
    let quote = source.as_bytes()[start];
    let bytes = source.as_bytes();
    let mut depth = 0;
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'$' if quote == b'`' && bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth > 0 => depth -= 1,
            b'\n' if quote != b'`' => break,
            byte if byte == quote && depth == 0 => return &source[start + 1..i],
            _ => {}
        }
        i += 1;
    }
    panic!(
        "an unterminated literal at byte {start}: {}",
        &source[start..]
    );
}

/// Where a string or template literal beginning with `prefix` starts in `source`.
fn literals_starting_with(source: &str, prefix: &str) -> Vec<usize> {
    let mut starts: Vec<usize> = ['\'', '"', '`']
        .iter()
        .flat_map(|quote| {
            let needle = format!("{quote}{prefix}");
            source
                .match_indices(&needle)
                .map(|(at, _)| at)
                .collect::<Vec<_>>()
        })
        .collect();
    starts.sort_unstable();
    starts
}

/// The modules `./x.js` a script imports and the `/portal/…` files it names,
/// as paths under `/portal/`.
fn files_named_by_script(source: &str) -> Vec<String> {
    let mut files: Vec<String> = literals_starting_with(source, "./")
        .into_iter()
        .map(|at| literal_at(source, at))
        .filter(|name| name.ends_with(".js"))
        .map(|name| format!("/portal/{}", name.trim_start_matches("./")))
        .collect();
    files.extend(
        literals_starting_with(source, "/portal/")
            .into_iter()
            .map(|at| literal_at(source, at).to_owned()),
    );
    files
}

fn content_type_of(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        _ => panic!("the portal names a file of an unexpected kind: {path}"),
    }
}

#[tokio::test]
async fn the_portal_is_served_at_the_root_without_a_token_beside_the_api() {
    let suite = TestSuite::start().await;
    let base = suite.gateway();
    let client = reqwest::Client::new();

    let (status, headers, body) = fetch(&client, &format!("{base}/"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header_of(&headers, "content-type"),
        "text/html; charset=utf-8"
    );
    assert_eq!(header_of(&headers, "cache-control"), "no-cache");
    assert_secured("/", &headers);
    let html = String::from_utf8(body).expect("UTF-8 HTML");
    assert!(html.contains("<html lang=\"zh-CN\">"), "{html}");
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "no inline script or style under the CSP: {html}"
    );

    // The HTML's files, the modules they import and the files they fetch,
    // each served with its content type.
    let mut queue: VecDeque<String> = attribute_values(&html, "src")
        .into_iter()
        .chain(attribute_values(&html, "href"))
        .collect();
    assert!(
        queue.iter().any(|p| p.ends_with(".js")) && queue.iter().any(|p| p.ends_with(".css")),
        "the page loads a script and a style sheet: {queue:?}"
    );
    let mut served = BTreeSet::new();
    while let Some(path) = queue.pop_front() {
        if !served.insert(path.clone()) {
            continue;
        }
        let (status, headers, body) = fetch(&client, &format!("{base}{path}"), None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(
            header_of(&headers, "content-type"),
            content_type_of(&path),
            "{path}"
        );
        assert_secured(&path, &headers);
        assert!(!body.is_empty(), "{path}");
        if path.ends_with(".js") {
            let source = String::from_utf8(body).expect("UTF-8 JavaScript");
            queue.extend(files_named_by_script(&source));
        }
    }
    for module in ["/portal/app.js", "/portal/api.js", "/portal/directory.json"] {
        assert!(served.contains(module), "{module} in {served:?}");
    }

    // An ETag the browser sends back gets 304 without the bytes, a weak copy
    // of it too; a stale one gets the file.
    let etag = header_of(&headers, "etag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let (status, again, body) = fetch(&client, &format!("{base}/"), Some(&etag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(header_of(&again, "etag"), etag);
    let weak = format!("\"other\", W/{etag}");
    let (status, _, _) = fetch(&client, &format!("{base}/"), Some(&weak)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let (status, _, body) = fetch(&client, &format!("{base}/"), Some("\"stale\"")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.is_empty());
    let (_, script, _) = fetch(&client, &format!("{base}/portal/app.js"), None).await;
    let script_etag = header_of(&script, "etag").to_owned();
    assert_ne!(script_etag, etag, "each file has its own ETag");
    let (status, _, _) = fetch(
        &client,
        &format!("{base}/portal/app.js"),
        Some(&script_etag),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);

    // HEAD answers the headers alone.
    let head = client.head(format!("{base}/")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        head.headers()["content-type"].to_str().unwrap(),
        "text/html; charset=utf-8"
    );
    assert!(head.bytes().await.unwrap().is_empty());

    let (status, headers, _) = fetch(&client, &format!("{base}/portal/nothing.js"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(header_of(&headers, "x-content-type-options"), "nosniff");

    // Files are no calls: they stay out of the call metrics.
    let (_, _, metrics) = fetch(&client, &format!("{base}/metrics"), None).await;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("zhengqi_calls_total") && !metrics.contains("/portal/"),
        "{metrics}"
    );

    // The API, its description, health and gRPC answer as before.
    let (status, _, body) = fetch(&client, &format!("{base}/healthz"), None).await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, &b"ok\n"[..]));
    let (status, headers, body) = fetch(&client, &format!("{base}/openapi.json"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_of(&headers, "content-type"), "application/json");
    let document: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(document["paths"]["/v1/appeals"].is_object());
    let (status, _, body) = fetch(&client, &format!("{base}/v1/appeals"), None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the API still needs a token"
    );
    let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["code"], 16);
    let token = suite.enterprise_token(USCC_A, "510821");
    let listed = client
        .get(format!("{base}/v1/appeals"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let appeals = suite
        .intake()
        .await
        .list_appeals(authed(intake::ListAppealsRequest::default(), &token))
        .await
        .expect("gRPC through the gateway");
    assert!(appeals.into_inner().appeals.is_empty());
    suite.stop().await;
}

/// One API call of the portal's scripts: its method and path template, with
/// every `${…}` written `{}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Call {
    method: &'static str,
    path: String,
    file: String,
}

/// `/v1/cases/${enc(id)}:accept` → `/v1/cases/{}:accept`; the same for
/// OpenAPI's `/v1/cases/{id}:accept`.
fn template_shape(path: &str) -> String {
    let mut shape = String::new();
    let mut depth = 0;
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' if depth == 0 && chars.peek() == Some(&'{') => {}
            '{' => {
                if depth == 0 {
                    shape.push_str("{}");
                }
                depth += 1;
            }
            '}' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            _ => shape.push(c),
        }
    }
    shape
}

/// Every `/v1/…` literal in `source`, each of which must be the first
/// argument of `get(`, `post(` or `download(` (the portal's api.js), so its
/// method is known.
fn api_calls(file: &str, source: &str) -> Vec<Call> {
    literals_starting_with(source, "/v1/")
        .into_iter()
        .map(|at| {
            let before = source[..at].trim_end();
            let method = [("get(", "get"), ("post(", "post"), ("download(", "get")]
                .into_iter()
                .find(|(call, _)| {
                    before.ends_with(call)
                        && !before[..before.len() - call.len()]
                            .ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '.')
                })
                .map(|(_, method)| method)
                .unwrap_or_else(|| {
                    let line = source[..at].lines().count();
                    panic!(
                        "{file}:{line}: an API path outside get(…), post(…) or download(…): \
                         write it as their first argument so its method is known"
                    )
                });
            let path = literal_at(source, at);
            assert!(
                !path.contains('?'),
                "{file}: {path}: the query goes in get()'s second argument"
            );
            Call {
                method,
                path: template_shape(path),
                file: file.to_owned(),
            }
        })
        .collect()
}

#[tokio::test]
async fn every_api_path_the_portal_calls_is_described_by_openapi_with_its_method() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway/portal");
    let mut calls = Vec::new();
    for entry in std::fs::read_dir(&folder).expect("gateway/portal") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "js") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let source = std::fs::read_to_string(&path).unwrap();
            calls.extend(api_calls(&name, &source));
        }
    }
    calls.sort();
    // The scan finds what the portal is known to call, so an empty or broken
    // scan cannot pass.
    for (method, path) in [
        ("post", "/v1/appeals"),
        ("get", "/v1/appeals/{}"),
        ("post", "/v1/cases/{}:accept"),
        ("get", "/v1/ledger:export"),
        ("post", "/v1/reviews"),
        ("get", "/v1/inbox"),
        ("post", "/v1/comments"),
        ("get", "/v1/rankings"),
        ("get", "/v1/overview"),
        ("get", "/v1/alerts"),
    ] {
        assert!(
            calls.iter().any(|c| c.method == method && c.path == path),
            "the scan of the portal's scripts missed {method} {path}: {calls:#?}"
        );
    }

    let suite = TestSuite::start().await;
    let body = reqwest::get(format!("{}/openapi.json", suite.gateway()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let document: serde_json::Value = serde_json::from_slice(&body).unwrap();
    suite.stop().await;
    let described: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            let shape = template_shape(path);
            item.as_object()
                .into_iter()
                .flat_map(|methods| methods.keys())
                .map(move |method| (method.to_lowercase(), shape.clone()))
        })
        .collect();
    let missing: Vec<&Call> = calls
        .iter()
        .filter(|c| !described.contains(&(c.method.to_owned(), c.path.clone())))
        .collect();
    assert!(
        missing.is_empty(),
        "the portal calls paths /openapi.json does not describe: {missing:#?}"
    );
    let distinct: BTreeSet<_> = calls.iter().map(|c| (c.method, &c.path)).collect();
    assert!(distinct.len() >= 30, "{distinct:#?}");
}

#[test]
fn a_path_template_is_compared_by_its_shape() {
    assert_eq!(
        template_shape("/v1/cases/${enc(id)}:accept"),
        "/v1/cases/{}:accept"
    );
    assert_eq!(
        template_shape("/v1/cases/{id}:accept"),
        "/v1/cases/{}:accept"
    );
    assert_eq!(
        template_shape("/v1/policies/{policy.id}"),
        "/v1/policies/{}"
    );
    let calls = api_calls(
        "x.js",
        "const a = await get(`/v1/cases/${enc(c.id)}/history`);\npost('/v1/appeals', body);",
    );
    assert_eq!(
        calls
            .iter()
            .map(|c| (c.method, c.path.as_str()))
            .collect::<Vec<_>>(),
        [("get", "/v1/cases/{}/history"), ("post", "/v1/appeals")]
    );
}

#[test]
#[should_panic(expected = "outside get(…), post(…) or download(…)")]
fn an_api_path_outside_a_call_is_refused() {
    api_calls("x.js", "const path = '/v1/appeals';\nget(path);");
}

//! The city portal (城市门户): plain HTML, CSS and JavaScript modules that run
//! in the browser and speak the gateway's HTTP/JSON API from the same origin.
//! The files are compiled into the binary, so `zhengqi up` serves the portal
//! with nothing else to install or build.
//!
//! `GET /` is the page, the one HTML path (the portal routes by the URL's
//! fragment, `#/cases/…`); `/portal/<file>` are its scripts, style and icon,
//! and `/portal/directory.json` the jurisdictions and departments it names.
//! Nothing here needs a token: the page holds none, and every API call it makes
//! carries the signed-in user's.
//!
//! Every answer carries a strong `ETag` (a hash of the bytes, computed once
//! when the router is built) and `Cache-Control: no-cache`, so a browser
//! revalidates each time (a `304` without the bytes) and sees a new version as
//! soon as the binary changes; the asset names carry no version of their own.
//! The Content-Security-Policy allows scripts, styles and calls from this
//! origin only: no inline script or style, no other host.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hasher};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use zhengqi_shared::Error;
use zhengqi_shared::reference::{Level, Reference};

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";
const JSON: &str = "application/json";

const INDEX: &[u8] = include_bytes!("../portal/index.html");

/// The files under `/portal/`, by name.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("app.js", JAVASCRIPT, include_bytes!("../portal/app.js")),
    ("api.js", JAVASCRIPT, include_bytes!("../portal/api.js")),
    ("ui.js", JAVASCRIPT, include_bytes!("../portal/ui.js")),
    (
        "enterprise.js",
        JAVASCRIPT,
        include_bytes!("../portal/enterprise.js"),
    ),
    ("cases.js", JAVASCRIPT, include_bytes!("../portal/cases.js")),
    (
        "oversight.js",
        JAVASCRIPT,
        include_bytes!("../portal/oversight.js"),
    ),
    (
        "policies.js",
        JAVASCRIPT,
        include_bytes!("../portal/policies.js"),
    ),
    ("style.css", CSS, include_bytes!("../portal/style.css")),
    ("icon.svg", SVG, include_bytes!("../portal/icon.svg")),
];

/// Scripts, styles, images and calls from this origin only; never framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; base-uri 'none'; object-src 'none'; \
     frame-ancestors 'none'; form-action 'self'";

/// One file as it is served.
struct Asset {
    content_type: HeaderValue,
    bytes: Bytes,
    etag: HeaderValue,
}

impl Asset {
    fn new(content_type: &'static str, bytes: Bytes) -> Asset {
        let mut hasher = DefaultHasher::new();
        hasher.write(&bytes);
        let etag = format!("\"{:016x}-{:x}\"", hasher.finish(), bytes.len());
        Asset {
            content_type: HeaderValue::from_static(content_type),
            bytes,
            etag: HeaderValue::from_str(&etag).expect("hex digits are a valid header value"),
        }
    }

    /// The file, or `304 Not Modified` when the browser's copy is current.
    fn respond(&self, request: &HeaderMap) -> Response {
        let mut response = if is_current(request, &self.etag) {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let mut response = self.bytes.clone().into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, self.content_type.clone());
            response
        };
        let headers = response.headers_mut();
        headers.insert(header::ETAG, self.etag.clone());
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        secure(headers);
        response
    }
}

/// Whether `If-None-Match` names `etag` (or is `*`); a weak `W/` tag compares
/// by its value, as RFC 9110 asks of `If-None-Match`.
fn is_current(request: &HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(etag) = etag.to_str() else {
        return false;
    };
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// The headers every portal answer carries.
fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
}

struct Portal {
    index: Asset,
    assets: BTreeMap<&'static str, Asset>,
}

/// The portal's routes: `GET /` and `GET /portal/{file}` (HEAD too), with no token;
/// `directory.json` names the jurisdictions and departments of `reference`.
pub fn routes(reference: &Reference) -> Result<Router, Error> {
    let mut assets: BTreeMap<&'static str, Asset> = ASSETS
        .iter()
        .map(|(name, content_type, bytes)| {
            (*name, Asset::new(content_type, Bytes::from_static(bytes)))
        })
        .collect();
    assets.insert(
        "directory.json",
        Asset::new(JSON, Bytes::from(directory_json(reference)?)),
    );
    let portal = Arc::new(Portal {
        index: Asset::new(HTML, Bytes::from_static(INDEX)),
        assets,
    });
    Ok(Router::new()
        .route("/", get(index))
        .route("/portal/{*file}", get(asset))
        .with_state(portal))
}

async fn index(State(portal): State<Arc<Portal>>, request: HeaderMap) -> Response {
    portal.index.respond(&request)
}

async fn asset(
    State(portal): State<Arc<Portal>>,
    Path(file): Path<String>,
    request: HeaderMap,
) -> Response {
    match portal.assets.get(file.as_str()) {
        Some(asset) => asset.respond(&request),
        None => {
            let mut response = (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("the portal has no file {file:?}\n"),
            )
                .into_response();
            secure(response.headers_mut());
            response
        }
    }
}

/// The jurisdictions (code, name, level, parent) and the departments every
/// jurisdiction has (key, name: a department's id is `<code>-<key>`), from the
/// reference data the services run on, so the portal shows names, not codes.
fn directory_json(reference: &Reference) -> Result<Vec<u8>, Error> {
    let directory = &reference.directory;
    let jurisdictions: Vec<serde_json::Value> = directory
        .iter()
        .map(|j| {
            serde_json::json!({
                "code": j.code().as_str(),
                "name": j.current_name().unwrap_or(j.code().as_str()),
                "level": match j.level() {
                    Level::City => "city",
                    Level::District => "district",
                    Level::County => "county",
                    Level::CountyLevelCity => "county_level_city",
                },
                "parent": j.parent().map(|p| p.as_str()),
            })
        })
        .collect();
    let departments: Vec<serde_json::Value> = reference
        .departments
        .iter()
        .map(|d| serde_json::json!({"key": d.key, "name": d.name}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "root": directory.root().as_str(),
        "jurisdictions": jurisdictions,
        "departments": departments,
    }))
    .map_err(|e| Error::internal(format!("portal: the directory: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_tags_weak_or_strong_in_a_list() {
        let etag = HeaderValue::from_static("\"abc-1\"");
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static(value));
            headers
        };
        assert!(is_current(&with("\"abc-1\""), &etag));
        assert!(is_current(&with("\"x\", W/\"abc-1\""), &etag));
        assert!(is_current(&with("*"), &etag));
        assert!(!is_current(&with("\"abc-2\""), &etag));
        assert!(!is_current(&HeaderMap::new(), &etag));
    }

    #[test]
    fn the_directory_names_every_jurisdiction_and_department() {
        let directory: serde_json::Value =
            serde_json::from_slice(&directory_json(&Reference::embedded()).unwrap()).unwrap();
        assert_eq!(directory["root"], "510800");
        let names: Vec<&str> = directory["jurisdictions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"旺苍县"), "{names:?}");
        assert!(
            directory["departments"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["key"] == "jrj")
        );
    }
}

//! Reading a JWKS and turning its keys into verification keys.
//!
//! Each key's algorithm is fixed here, from its type and curve, so that a token's
//! header can never choose how it is checked.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use sha2::{Digest, Sha256};

use super::config::JwksSource;
use super::error::AuthError;

/// A JWKS larger than this is refused: real ones are a few kilobytes.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One usable verification key.
pub(crate) struct KeyEntry {
    pub kid: Option<String>,
    pub alg: Algorithm,
    pub key: DecodingKey,
}

/// The usable keys of one JWKS document.
pub(crate) struct ParsedKeys {
    pub entries: Vec<KeyEntry>,
    /// SHA-256 over every key's id, algorithm and public parameters: equal
    /// fingerprints mean the same trust.
    pub fingerprint: [u8; 32],
}

/// The keys in force, and when they were read.
pub(crate) struct KeySet {
    pub keys: ParsedKeys,
    /// Bumped on every successful load, so that callers waiting for a refetch can see
    /// that one happened.
    pub generation: u64,
    pub loaded_at: Instant,
}

/// The outcome of looking a token's `kid` up.
pub(crate) enum Lookup<'a> {
    Found(&'a KeyEntry),
    /// The token names a `kid` the set does not hold.
    UnknownKid,
    /// The token names no `kid` and the set does not hold exactly one key.
    Ambiguous,
}

impl KeySet {
    pub fn find(&self, kid: Option<&str>) -> Lookup<'_> {
        let entries = &self.keys.entries;
        match kid {
            Some(kid) => entries
                .iter()
                .find(|entry| entry.kid.as_deref() == Some(kid))
                .map_or(Lookup::UnknownKid, Lookup::Found),
            None => match entries.as_slice() {
                [only] => Lookup::Found(only),
                _ => Lookup::Ambiguous,
            },
        }
    }

    pub fn has_kid(&self, kid: &str) -> bool {
        matches!(self.find(Some(kid)), Lookup::Found(_))
    }
}

#[derive(serde::Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

/// Parses a JWKS, keeping the keys we can use safely and logging why others were
/// skipped. Only a document that is not a JWKS at all is an error.
pub(crate) fn parse_jwks(text: &str) -> Result<ParsedKeys, String> {
    let raw: RawJwks =
        serde_json::from_str(text).map_err(|err| format!("not a JWKS document: {err}"))?;
    let mut entries: Vec<KeyEntry> = Vec::with_capacity(raw.keys.len());
    let mut seen_kids = HashSet::new();
    let mut fingerprint = Sha256::new();
    for (index, value) in raw.keys.iter().enumerate() {
        let kid = value.get("kid").and_then(|kid| kid.as_str());
        match key_entry(value) {
            Ok((entry, public_parameters)) => {
                if let Some(kid) = &entry.kid
                    && !seen_kids.insert(kid.clone())
                {
                    tracing::warn!(
                        index,
                        kid,
                        "ignoring a JWKS key whose kid repeats an earlier key"
                    );
                    continue;
                }
                fingerprint.update(entry.kid.as_deref().unwrap_or_default().as_bytes());
                fingerprint.update([0]);
                fingerprint.update(public_parameters.as_bytes());
                fingerprint.update([0]);
                entries.push(entry);
            }
            Err(why) => tracing::warn!(index, kid, "ignoring a JWKS key: {why}"),
        }
    }
    Ok(ParsedKeys {
        entries,
        fingerprint: fingerprint.finalize().into(),
    })
}

/// The verification key of one JWK, and its public parameters as canonical JSON.
fn key_entry(value: &serde_json::Value) -> Result<(KeyEntry, String), String> {
    let jwk: Jwk =
        serde_json::from_value(value.clone()).map_err(|err| format!("not a JWK: {err}"))?;
    if let Some(key_use) = &jwk.common.public_key_use
        && *key_use != PublicKeyUse::Signature
    {
        return Err("its use is not \"sig\"".to_owned());
    }
    if let Some(operations) = &jwk.common.key_operations
        && !operations.contains(&KeyOperations::Verify)
    {
        return Err("its key_ops do not include \"verify\"".to_owned());
    }
    let alg = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            let x = b64(&okp.x, "x")?;
            ParsedPublicKey::new(&ED25519, &x).map_err(|_| "x is not an Ed25519 key")?;
            Algorithm::EdDSA
        }
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            let (x, y) = (b64(&ec.x, "x")?, b64(&ec.y, "y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err("x and y must be 32 bytes for P-256".to_owned());
            }
            let point = [&[0x04][..], &x, &y].concat();
            ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
                .map_err(|_| "x, y is not a point of P-256")?;
            Algorithm::ES256
        }
        AlgorithmParameters::RSA(rsa) => {
            let n = b64(&rsa.n, "n")?;
            b64(&rsa.e, "e")?;
            let bits = n.iter().skip_while(|byte| **byte == 0).count() * 8;
            if !(2048..=8192).contains(&bits) {
                return Err(format!(
                    "an RSA modulus of about {bits} bits is outside 2048..=8192"
                ));
            }
            Algorithm::RS256
        }
        AlgorithmParameters::OctetKey(_) => {
            return Err("symmetric keys are never taken from a JWKS".to_owned());
        }
        _ => return Err("only Ed25519 (OKP), P-256 (EC) and RSA keys are supported".to_owned()),
    };
    if let Some(declared) = jwk.common.key_algorithm
        && declared != KeyAlgorithm::from(alg)
    {
        return Err(format!(
            "its alg {declared} does not fit its key type ({alg:?})"
        ));
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|err| format!("unusable key: {err}"))?;
    let public_parameters = serde_json::to_string(&jwk.algorithm).unwrap_or_default();
    let entry = KeyEntry {
        kid: jwk.common.key_id.clone(),
        alg,
        key,
    };
    Ok((entry, public_parameters))
}

fn b64(value: &str, field: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| format!("{field} is not base64url"))
}

/// Reads the JWKS from its source.
pub(crate) enum Fetcher {
    File(PathBuf),
    Url {
        url: reqwest::Url,
        client: reqwest::Client,
    },
    Inline(String),
    /// OpenID Connect discovery from the issuer's URL.
    Discovery {
        issuer: String,
        configuration: reqwest::Url,
        client: reqwest::Client,
    },
}

/// The part of an OpenID provider's metadata we read (OpenID Connect Discovery 1.0 §3).
#[derive(serde::Deserialize)]
struct ProviderMetadata {
    issuer: String,
    jwks_uri: String,
}

impl Fetcher {
    /// The fetcher of `source` for tokens of `issuer`; `ca`: a PEM file of
    /// certificates trusted for https besides the system's roots.
    pub fn new(source: &JwksSource, issuer: &str, ca: Option<&Path>) -> Result<Fetcher, AuthError> {
        match source {
            JwksSource::File(path) => Ok(Fetcher::File(path.clone())),
            JwksSource::Inline(text) => Ok(Fetcher::Inline(text.clone())),
            JwksSource::Url(url) => {
                let url = web_url("JWKS URL", url)?;
                let client = http_client(&url, ca)?;
                Ok(Fetcher::Url { url, client })
            }
            JwksSource::Discovery => {
                // §4: the issuer's URL with /.well-known/openid-configuration appended.
                let configuration = web_url(
                    "issuer",
                    &format!(
                        "{}/.well-known/openid-configuration",
                        issuer.trim_end_matches('/')
                    ),
                )?;
                let client = http_client(&configuration, ca)?;
                Ok(Fetcher::Discovery {
                    issuer: issuer.to_owned(),
                    configuration,
                    client,
                })
            }
        }
    }

    /// Whether refetching can ever yield new keys.
    pub fn is_refreshable(&self) -> bool {
        !matches!(self, Fetcher::Inline(_))
    }

    pub async fn fetch(&self) -> Result<String, String> {
        match self {
            Fetcher::Inline(text) => Ok(text.clone()),
            Fetcher::File(path) => {
                let bytes = tokio::fs::read(path)
                    .await
                    .map_err(|err| format!("{}: {err}", path.display()))?;
                if bytes.len() > MAX_JWKS_BYTES {
                    return Err(format!(
                        "{}: larger than {MAX_JWKS_BYTES} bytes",
                        path.display()
                    ));
                }
                String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8", path.display()))
            }
            Fetcher::Url { url, client } => fetch_url(client, url).await,
            Fetcher::Discovery {
                issuer,
                configuration,
                client,
            } => {
                let shown = redacted(configuration);
                let text = fetch_url(client, configuration).await?;
                let metadata: ProviderMetadata = serde_json::from_str(&text)
                    .map_err(|err| format!("{shown}: not OpenID provider metadata: {err}"))?;
                // §4.3: the issuer in the metadata must be exactly the one configured.
                if metadata.issuer != *issuer {
                    return Err(format!(
                        "{shown}: names the issuer {:?}, not {issuer:?}",
                        metadata.issuer
                    ));
                }
                let jwks_uri = web_url("jwks_uri", &metadata.jwks_uri)
                    .map_err(|err| format!("{shown}: {err}"))?;
                if jwks_uri.scheme() != configuration.scheme() {
                    return Err(format!(
                        "{shown}: the jwks_uri {} uses another scheme than the issuer",
                        redacted(&jwks_uri)
                    ));
                }
                fetch_url(client, &jwks_uri).await
            }
        }
    }
}

/// An https URL (plain http only for a loopback host, as in tests).
fn web_url(what: &str, text: &str) -> Result<reqwest::Url, AuthError> {
    let url =
        reqwest::Url::parse(text).map_err(|err| AuthError::Config(format!("{what}: {err}")))?;
    let https = url.scheme() == "https";
    let loopback_http = url.scheme() == "http" && is_loopback(&url);
    if !https && !loopback_http {
        return Err(AuthError::Config(format!(
            "the {what} {} must use https",
            redacted(&url)
        )));
    }
    Ok(url)
}

/// The client that fetches keys from `url`'s host: https only unless `url` is
/// loopback http, with the city's own CA when `ca` names one.
fn http_client(url: &reqwest::Url, ca: Option<&Path>) -> Result<reqwest::Client, AuthError> {
    let mut client = reqwest::Client::builder();
    if let Some(ca) = ca {
        let pem = std::fs::read(ca)
            .map_err(|err| AuthError::Config(format!("JWKS CA {}: {err}", ca.display())))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|err| AuthError::Config(format!("JWKS CA {}: {err}", ca.display())))?;
        if certificates.is_empty() {
            return Err(AuthError::Config(format!(
                "JWKS CA {}: no PEM certificate in it",
                ca.display()
            )));
        }
        client = client.tls_certs_merge(certificates);
    }
    client
        .https_only(url.scheme() == "https")
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("zhengqi/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| AuthError::Config(format!("HTTP client: {err}")))
}

async fn fetch_url(client: &reqwest::Client, url: &reqwest::Url) -> Result<String, String> {
    let shown = redacted(url);
    let failed = |err: reqwest::Error| format!("GET {shown}: {}", err.without_url());
    let mut response = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(failed)?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("GET {shown}: HTTP {status}"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if body.len() + chunk.len() > MAX_JWKS_BYTES {
            return Err(format!("GET {shown}: larger than {MAX_JWKS_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| format!("GET {shown}: not UTF-8"))
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The URL without credentials or query, fit for logs.
fn redacted(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

impl fmt::Display for Fetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fetcher::File(path) => write!(f, "{}", path.display()),
            Fetcher::Url { url, .. } => f.write_str(&redacted(url)),
            Fetcher::Inline(_) => f.write_str("inline JWKS"),
            Fetcher::Discovery { configuration, .. } => f.write_str(&redacted(configuration)),
        }
    }
}

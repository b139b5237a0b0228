//! What a [`Verifier`](super::Verifier) trusts: issuer, audience, keys and clock leeway.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

/// `ZHENGQI_AUTH_AUDIENCE` when unset.
pub const DEFAULT_AUDIENCE: &str = "zhengqi";
/// `ZHENGQI_AUTH_LEEWAY_S` when unset: tolerated clock skew for `exp` and `nbf`.
pub const DEFAULT_LEEWAY_S: u64 = 30;
/// The least time between two refetches of the JWKS caused by unknown `kid`s.
pub const DEFAULT_JWKS_REFRESH_COOLDOWN: Duration = Duration::from_secs(30);
/// How long a fetched JWKS is used before it is refreshed in the background.
pub const DEFAULT_JWKS_TTL: Duration = Duration::from_secs(10 * 60);
/// How many verified tokens are remembered.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// Token verification settings (`ZHENGQI_AUTH_*`, API.md).
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The only accepted `iss`.
    pub issuer: String,
    /// The audience that `aud` must name.
    pub audience: String,
    /// Where the public keys come from.
    pub jwks: JwksSource,
    /// PEM certificates trusted, besides the system's roots, for an https JWKS
    /// URL: the CA of a city's own identity provider.
    pub jwks_ca: Option<PathBuf>,
    /// Tolerated clock skew, in seconds, for `exp` and `nbf`.
    pub leeway_s: u64,
    /// Development only: accept HS256 tokens signed with this shared secret. Never
    /// set implicitly; `None` refuses every HS256 token.
    pub hs256_secret: Option<SecretString>,
    /// The least time between two refetches caused by unknown `kid`s.
    pub jwks_refresh_cooldown: Duration,
    /// Age after which a file or URL JWKS is refreshed in the background.
    pub jwks_ttl: Duration,
    /// How many verified tokens are remembered; 0 disables the cache.
    pub cache_capacity: usize,
}

impl AuthConfig {
    /// Settings for `issuer` and `jwks` with every other value at its default.
    pub fn new(issuer: impl Into<String>, jwks: JwksSource) -> Self {
        AuthConfig {
            issuer: issuer.into(),
            audience: DEFAULT_AUDIENCE.to_owned(),
            jwks,
            jwks_ca: None,
            leeway_s: DEFAULT_LEEWAY_S,
            hs256_secret: None,
            jwks_refresh_cooldown: DEFAULT_JWKS_REFRESH_COOLDOWN,
            jwks_ttl: DEFAULT_JWKS_TTL,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
        }
    }
}

/// Where a JWKS (RFC 7517 key set) is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// A local file, re-read when refreshed.
    File(PathBuf),
    /// An `https://` URL (plain `http://` only for loopback hosts), refetched when
    /// refreshed.
    Url(String),
    /// The JWKS JSON itself, for tests and embedded use; never refreshed.
    Inline(String),
}

impl JwksSource {
    /// Reads `ZHENGQI_AUTH_JWKS`: an `https://` (or `http://`) URL, otherwise a path.
    pub fn from_setting(setting: &str) -> Self {
        let setting = setting.trim();
        let scheme = setting.split_once("://").map(|(scheme, _)| scheme);
        match scheme {
            Some(scheme) if scheme.eq_ignore_ascii_case("https") => {
                JwksSource::Url(setting.to_owned())
            }
            // Taken as a URL so the mistake is reported as "use https", not "no such file".
            Some(scheme) if scheme.eq_ignore_ascii_case("http") => {
                JwksSource::Url(setting.to_owned())
            }
            _ => JwksSource::File(PathBuf::from(setting)),
        }
    }
}

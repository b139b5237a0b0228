//! What a [`Verifier`](super::Verifier) trusts: issuers, audiences, keys, claim names
//! and clock leeway.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use super::principal::Role;

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

/// One trust anchor: an issuer whose tokens are accepted, where its keys come
/// from, and what its tokens may say (`ZHENGQI_AUTH_*`, API.md). A
/// [`Verifier`](super::Verifier) trusts one or several.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The `iss` this anchor accepts; each anchor of a verifier names another.
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
    /// Where the caller's roles, jurisdiction, department, USCC and name are
    /// read in this issuer's tokens.
    pub claims: ClaimMapping,
    /// Which roles this issuer may grant.
    pub trust: Trust,
}

/// Which roles an issuer's tokens may grant. A token naming a role its issuer
/// may not grant is refused whole ([`AuthError::RoleNotAllowed`](super::AuthError)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// The people's identity provider: every role but `service`, unless
    /// `allow_service` (a county system given a client of the provider).
    Users { allow_service: bool },
    /// A deployment's service key: the `service` role and nothing else.
    ServiceOnly,
}

/// Where a token's claims say who the caller is. Identity providers name them
/// differently: Keycloak keeps roles in `realm_access.roles`, others in
/// `groups` or `roles`, often under names of their own (`zq-coordinator`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    /// The claim holding the roles, an array of strings or one string of names
    /// separated by spaces; a dotted path reaches into objects
    /// (`realm_access.roles`). A claim whose own name has dots is found too.
    pub roles: String,
    /// The provider's role names and the roles they grant. Empty: the names are
    /// taken as zhengqi's own (`coordinator`). Names it does not list grant nothing.
    pub role_map: BTreeMap<String, Role>,
    /// The claim with the GB/T 2260 code of the caller's jurisdiction.
    pub jurisdiction: String,
    /// The claim with the department id of department staff.
    pub department: String,
    /// The claim with an enterprise user's unified social credit code.
    pub uscc: String,
    /// The claim with the display name.
    pub name: String,
}

impl Default for ClaimMapping {
    /// The claim names of API.md ("Identity: the JWT").
    fn default() -> Self {
        ClaimMapping {
            roles: "roles".to_owned(),
            role_map: BTreeMap::new(),
            jurisdiction: "jurisdiction".to_owned(),
            department: "department".to_owned(),
            uscc: "uscc".to_owned(),
            name: "name".to_owned(),
        }
    }
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
            claims: ClaimMapping::default(),
            trust: Trust::Users {
                allow_service: false,
            },
        }
    }

    /// An anchor for a deployment's service key: tokens of `issuer` signed with
    /// a key of `jwks`, granting the `service` role alone.
    pub fn service(issuer: impl Into<String>, jwks: JwksSource) -> Self {
        AuthConfig {
            trust: Trust::ServiceOnly,
            ..AuthConfig::new(issuer, jwks)
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
    /// OpenID Connect discovery: `<issuer>/.well-known/openid-configuration`
    /// names the `jwks_uri`, read anew on every refresh so that a provider may
    /// move its keys.
    Discovery,
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

//! Configuration: one typed tree, read from defaults that make `zhengqi up` work
//! with nothing set, then an optional TOML file, then the `ZHENGQI_*` environment
//! variables ([`VARIABLES`] names the key each one sets), merged by figment. A key
//! the tree does not have is refused with its name; so is a value of the wrong
//! type, naming the key and the file or variable it came from.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format as _, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Everything a part of zhengqi is configured with.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// gRPC (and, for the gateway, HTTP/JSON) listening address. `ZHENGQI_LISTEN`.
    pub listen: Option<SocketAddr>,
    /// `/healthz`, `/readyz` and `/metrics`. `ZHENGQI_OPS_LISTEN`.
    pub ops_listen: Option<SocketAddr>,
    /// Data folder of the embedded deployment. `ZHENGQI_DATA`.
    pub data: PathBuf,
    /// Store of the part (`sqlite://…` or `postgres://…`). `ZHENGQI_DATABASE_URL`.
    #[serde(serialize_with = "url_without_password")]
    pub database_url: Option<String>,
    /// PostgreSQL schema of the part, created if missing. `ZHENGQI_DATABASE_SCHEMA`.
    pub database_schema: Option<String>,
    pub auth: AuthSettings,
    /// PEM private key that signs this deployment's `service` tokens
    /// (Ed25519, P-256 or RSA, as `openssl genpkey` writes it); the data
    /// folder's `service-key.pem` when unset. `ZHENGQI_SERVICE_KEY`.
    pub service_key: Option<PathBuf>,
    /// The `iss` of this deployment's service tokens; deployments that trust one
    /// another's keys give each its own. `ZHENGQI_SERVICE_ISSUER`, default `zhengqi-service`.
    pub service_issuer: String,
    /// Addresses of the services, for the gateway and for event consumers.
    pub upstreams: Upstreams,
    /// A tracing filter, e.g. `info,zhengqi_intake=debug`. `ZHENGQI_LOG`.
    pub log: Option<String>,
    /// Group commit: the most appeals written in one transaction. `ZHENGQI_BATCH_MAX`.
    pub batch_max: usize,
    /// The gateway's limits, audit and portal origins.
    pub gateway: GatewayLimits,
    /// Routing's deadline supervision (督办).
    pub routing: RoutingLimits,
    /// Evaluation's time limits.
    pub evaluation: EvaluationLimits,
    /// Years a contact's name and phone are kept: intake's copy from the
    /// appeal's receipt, routing's from the case's closing; then erased.
    /// 0 keeps them. `ZHENGQI_PERSONAL_DATA_YEARS`, default 3.
    pub personal_data_years: Option<u32>,
    /// The city's reference folder; the embedded set (Guangyuan's) when unset.
    /// `ZHENGQI_REFERENCE`.
    pub reference: Option<PathBuf>,
}

/// Routing's supervision (`ZHENGQI_ROUTING_*`); unset values keep routing's defaults.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingLimits {
    /// The share of a case's time limit used at which it turns yellow, 0 to 1.
    /// `ZHENGQI_ROUTING_YELLOW_RATIO`, default 0.8.
    pub yellow_ratio: Option<f64>,
    /// Working days a county case may be overdue before it goes to the city.
    /// `ZHENGQI_ROUTING_ESCALATE_AFTER_DAYS`, default 2.
    pub escalate_after_days: Option<u32>,
    /// Seconds between two supervision sweeps. `ZHENGQI_ROUTING_SWEEP_INTERVAL_S`, default 60.
    pub sweep_interval_s: Option<f64>,
}

/// Evaluation's time limits (`ZHENGQI_EVALUATION_*`); unset values keep
/// evaluation's defaults.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluationLimits {
    /// Working days a bad review's rectification is due in, 1 to 250.
    /// `ZHENGQI_EVALUATION_RECTIFICATION_DAYS`, default 15.
    pub rectification_days: Option<u32>,
    /// Years in which an earlier violation makes a new one a repeat (再犯), 1 to
    /// 100. `ZHENGQI_EVALUATION_REPEAT_WINDOW_YEARS`, default 2.
    pub repeat_window_years: Option<u32>,
}

/// The gateway's limits and audit (`ZHENGQI_GATEWAY_*`); unset values keep the
/// gateway's defaults.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayLimits {
    /// Calls per second per subject. `ZHENGQI_GATEWAY_RATE_PER_S`, default 100; 0 for no limit.
    pub rate_per_s: Option<f64>,
    /// Calls a subject may make at once after being idle. `ZHENGQI_GATEWAY_RATE_BURST`, default 2 × rate.
    pub rate_burst: Option<u32>,
    /// Largest request message or body. `ZHENGQI_GATEWAY_MAX_MESSAGE_BYTES`, default 4 MiB.
    pub max_message_bytes: Option<usize>,
    /// Calls in flight before new ones are shed. `ZHENGQI_GATEWAY_MAX_IN_FLIGHT`, default 4096; 0 for no limit.
    pub max_in_flight: Option<usize>,
    /// Seconds between health checks of each replica. `ZHENGQI_GATEWAY_HEALTH_INTERVAL_S`, default 5.
    pub health_interval_s: Option<f64>,
    /// Connections open at once from one peer address; the rest are closed at
    /// once. `ZHENGQI_GATEWAY_MAX_CONNECTIONS_PER_PEER`, default 256; 0 for no cap
    /// (behind a proxy that connects from one address).
    pub max_connections_per_peer: Option<usize>,
    /// Seconds an HTTP/1.1 request head may take from its first byte.
    /// `ZHENGQI_GATEWAY_HEADER_TIMEOUT_S`, default 10.
    pub header_timeout_s: Option<f64>,
    /// Seconds an HTTP/JSON request body may take after its head.
    /// `ZHENGQI_GATEWAY_BODY_TIMEOUT_S`, default 30.
    pub body_timeout_s: Option<f64>,
    /// Seconds a connection may sit with no call in progress.
    /// `ZHENGQI_GATEWAY_IDLE_TIMEOUT_S`, default 120.
    pub idle_timeout_s: Option<f64>,
    /// Seconds a gRPC call may wait for its first message.
    /// `ZHENGQI_GATEWAY_FIRST_MESSAGE_TIMEOUT_S`, default 10.
    pub first_message_timeout_s: Option<f64>,
    /// Calls waiting for their first message or body, in all.
    /// `ZHENGQI_GATEWAY_MAX_WAITING`, default 4096.
    pub max_waiting: Option<usize>,
    /// The same, per connection. `ZHENGQI_GATEWAY_MAX_WAITING_PER_CONNECTION`, default 8.
    pub max_waiting_per_connection: Option<usize>,
    /// HTTP/2 streams open at once on one connection.
    /// `ZHENGQI_GATEWAY_MAX_STREAMS_PER_CONNECTION`, default 256.
    pub max_streams_per_connection: Option<u32>,
    /// Largest request head (HTTP/2 header list, HTTP/1.1 head), in bytes.
    /// `ZHENGQI_GATEWAY_MAX_HEADER_BYTES`, default 65536.
    pub max_header_bytes: Option<u32>,
    /// Seconds between HTTP/2 keep-alive pings on a quiet connection.
    /// `ZHENGQI_GATEWAY_KEEPALIVE_INTERVAL_S`, default 30.
    pub keepalive_interval_s: Option<f64>,
    /// Seconds a ping's answer may take before the connection is closed.
    /// `ZHENGQI_GATEWAY_KEEPALIVE_TIMEOUT_S`, default 20.
    pub keepalive_timeout_s: Option<f64>,
    /// HTTP/2 streams a client may reset before the gateway took them up,
    /// before its connection is closed (rapid reset).
    /// `ZHENGQI_GATEWAY_MAX_PENDING_RESETS`, default 20.
    pub max_pending_resets: Option<usize>,
    /// Calls on one connection refused as too many (the rate limit, the
    /// places for calls waiting for their message) before the connection is
    /// closed, so a client that keeps calling past its refusals has to connect
    /// again. `ZHENGQI_GATEWAY_MAX_REFUSALS_PER_CONNECTION`, default 100.
    pub max_refusals_per_connection: Option<u32>,
    /// Seconds a peer address may not connect after a connection of its was
    /// closed for its refusals (doubled when it happens again within an hour,
    /// up to 16 times); 0 turns it off, as behind a proxy that connects from
    /// one address. `ZHENGQI_GATEWAY_REFUSED_PEER_COOLDOWN_S`, default 5.
    pub refused_peer_cooldown_s: Option<f64>,
    /// Portal origins allowed by CORS. `ZHENGQI_GATEWAY_CORS_ORIGINS`, comma-separated.
    #[serde(deserialize_with = "list")]
    pub cors_origins: Vec<String>,
    /// The audit store. `ZHENGQI_GATEWAY_AUDIT_DATABASE_URL`; `up` keeps it in the data folder.
    #[serde(serialize_with = "url_without_password")]
    pub audit_database_url: Option<String>,
    /// `ZHENGQI_GATEWAY_AUDIT_DATABASE_SCHEMA`.
    pub audit_database_schema: Option<String>,
    /// Days audit records are kept. `ZHENGQI_GATEWAY_AUDIT_RETENTION_DAYS`, default 180.
    pub audit_retention_days: Option<u64>,
    /// Other deployments behind the gateway (a county that runs its own), each
    /// owning its jurisdictions; this deployment's `[upstreams]` own the rest.
    /// In the configuration file only (`[[gateway.deployments]]`).
    pub deployments: Vec<DeploymentSettings>,
}

/// One other deployment behind the gateway: the jurisdictions whose data it
/// holds, and where its services answer.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeploymentSettings {
    /// For logs and metrics, e.g. `wangcang`.
    pub name: String,
    /// GB/T 2260 codes it owns, e.g. `["510821"]`.
    pub jurisdictions: Vec<String>,
    /// Its services' addresses, as in `[upstreams]`: `intake = "http://…"`, several
    /// replicas separated by commas.
    pub upstreams: ServiceUrls,
}

/// Where each service of a deployment answers; several replicas separated by commas.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceUrls {
    pub intake: Option<String>,
    pub routing: Option<String>,
    pub policy: Option<String>,
    pub evaluation: Option<String>,
    pub scoring: Option<String>,
}

impl ServiceUrls {
    /// Each service's replicas by part name (`intake`), for the services that are set.
    pub fn by_part(&self) -> Vec<(&'static str, Vec<String>)> {
        [
            ("intake", &self.intake),
            ("routing", &self.routing),
            ("policy", &self.policy),
            ("evaluation", &self.evaluation),
            ("scoring", &self.scoring),
        ]
        .into_iter()
        .filter_map(|(part, urls)| {
            let replicas = replicas(urls.as_deref()?);
            (!replicas.is_empty()).then_some((part, replicas))
        })
        .collect()
    }
}

/// The addresses of a service's replicas in `list` (`http://a:50051, http://b:50051`).
pub fn replicas(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: None,
            ops_listen: None,
            data: PathBuf::from("zhengqi-data"),
            database_url: None,
            database_schema: None,
            auth: AuthSettings::default(),
            service_key: None,
            service_issuer: crate::auth::DEFAULT_SERVICE_ISSUER.to_owned(),
            upstreams: Upstreams::default(),
            log: None,
            batch_max: 256,
            gateway: GatewayLimits::default(),
            routing: RoutingLimits::default(),
            evaluation: EvaluationLimits::default(),
            personal_data_years: None,
            reference: None,
        }
    }
}

/// Token verification settings (`ZHENGQI_AUTH_*`): the people's identity
/// provider (the keys of `[auth]` itself), further providers
/// (`[[auth.issuers]]`) and other deployments' service keys (`[[auth.services]]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Required `iss`. `ZHENGQI_AUTH_ISSUER`. Unset: the development issuer of
    /// the data folder.
    pub issuer: Option<String>,
    /// Required `aud`. `ZHENGQI_AUTH_AUDIENCE`, default `zhengqi`.
    pub audience: String,
    /// A JWKS file path or an https URL. `ZHENGQI_AUTH_JWKS`. Unset while the
    /// issuer is set: OpenID Connect discovery from the issuer.
    pub jwks: Option<String>,
    /// PEM file of CA certificates trusted for the provider's https URLs, besides
    /// the system's. `ZHENGQI_AUTH_JWKS_CA`.
    pub jwks_ca: Option<PathBuf>,
    /// Clock leeway in seconds. `ZHENGQI_AUTH_LEEWAY_S`, default 30.
    pub leeway_s: u64,
    /// Development only: accept HS256 tokens signed with this secret. `ZHENGQI_AUTH_HS256_SECRET`.
    #[serde(serialize_with = "redacted")]
    pub hs256_secret: Option<SecretString>,
    /// Where the provider's tokens carry roles, jurisdiction, department, USCC
    /// and name (`[auth.claims]`).
    pub claims: ClaimSettings,
    /// Whether the provider may grant the `service` role (a county system that
    /// is a client of the city's provider). `ZHENGQI_AUTH_ALLOW_SERVICE_ROLE`,
    /// default false: only service keys grant it.
    pub allow_service_role: bool,
    /// Further identity providers trusted at once, e.g. the provincial
    /// government-service identity for enterprises beside the city's own for
    /// officials. In the configuration file only.
    pub issuers: Vec<ProviderSettings>,
    /// Other deployments' service keys trusted for the `service` role (a county
    /// whose logs the city's scoring follows trusts the city's). In the
    /// configuration file only.
    pub services: Vec<TrustedServiceKey>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: crate::auth::DEFAULT_AUDIENCE.to_owned(),
            jwks: None,
            jwks_ca: None,
            leeway_s: crate::auth::DEFAULT_LEEWAY_S,
            hs256_secret: None,
            claims: ClaimSettings::default(),
            allow_service_role: false,
            issuers: Vec::new(),
            services: Vec::new(),
        }
    }
}

/// Another identity provider (`[[auth.issuers]]`); unset keys as in `[auth]`'s defaults.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderSettings {
    pub issuer: String,
    /// Default: `[auth]`'s audience.
    pub audience: Option<String>,
    /// A JWKS file or https URL; unset: OpenID Connect discovery.
    pub jwks: Option<String>,
    pub jwks_ca: Option<PathBuf>,
    pub claims: ClaimSettings,
    pub allow_service_role: bool,
}

/// Claim names of a provider's tokens (`[auth.claims]`); each defaults to the
/// name of API.md.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ClaimSettings {
    /// The claim with the roles; a dotted path reaches into objects
    /// (`realm_access.roles`, `groups`). `ZHENGQI_AUTH_ROLES_CLAIM`, default `roles`.
    pub roles: Option<String>,
    /// The provider's role names and the roles they grant (`zq-coordinator =
    /// "coordinator"`); when set, names it does not list grant nothing.
    /// `ZHENGQI_AUTH_ROLE_MAP` as `name=role,name=role`.
    #[serde(deserialize_with = "pairs")]
    pub role_map: std::collections::BTreeMap<String, String>,
    /// `ZHENGQI_AUTH_JURISDICTION_CLAIM`, default `jurisdiction`.
    pub jurisdiction: Option<String>,
    /// `ZHENGQI_AUTH_DEPARTMENT_CLAIM`, default `department`.
    pub department: Option<String>,
    /// `ZHENGQI_AUTH_USCC_CLAIM`, default `uscc`.
    pub uscc: Option<String>,
    /// `ZHENGQI_AUTH_NAME_CLAIM`, default `name`.
    pub name: Option<String>,
}

/// Another deployment's service key, trusted for the `service` role alone
/// (`[[auth.services]]`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrustedServiceKey {
    /// The `iss` of its service tokens (its `service_issuer`).
    pub issuer: String,
    /// Its public key: the `service-jwks.json` of its data folder, as a file or
    /// an https URL.
    pub jwks: String,
}

/// Where each service answers (`http://host:port`), e.g. `ZHENGQI_INTAKE_URL`.
/// Several replicas of one service are separated by commas.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Upstreams {
    pub intake: Option<String>,
    pub routing: Option<String>,
    pub policy: Option<String>,
    pub evaluation: Option<String>,
    pub scoring: Option<String>,
    /// How long a call to an upstream may take when the caller set no deadline.
    /// `ZHENGQI_UPSTREAM_TIMEOUT_S`, default 30.
    #[serde(with = "seconds")]
    pub timeout: Duration,
}

impl Default for Upstreams {
    fn default() -> Self {
        Upstreams {
            intake: None,
            routing: None,
            policy: None,
            evaluation: None,
            scoring: None,
            timeout: Duration::from_secs(30),
        }
    }
}

impl Upstreams {
    /// The services' addresses without the timeout.
    pub fn services(&self) -> ServiceUrls {
        ServiceUrls {
            intake: self.intake.clone(),
            routing: self.routing.clone(),
            policy: self.policy.clone(),
            evaluation: self.evaluation.clone(),
            scoring: self.scoring.clone(),
        }
    }
}

mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let seconds = f64::deserialize(deserializer)?;
        if !(seconds > 0.0 && seconds <= 86_400.0) {
            return Err(serde::de::Error::custom(format!(
                "expected a positive number of seconds up to a day, got {seconds}"
            )));
        }
        Ok(Duration::from_secs_f64(seconds))
    }

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(value.as_secs_f64())
    }
}

/// A list: an array, or one string of items separated by commas (as a variable gives it).
fn list<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        Text(String),
        Items(Vec<String>),
    }
    Ok(match List::deserialize(deserializer)? {
        List::Text(text) => text
            .split(',')
            .map(|item| item.trim().to_owned())
            .filter(|item| !item.is_empty())
            .collect(),
        List::Items(items) => items,
    })
}

/// A table of names: a table, or one string of `name=value` pairs separated by commas.
fn pairs<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<std::collections::BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Pairs {
        Text(String),
        Table(std::collections::BTreeMap<String, String>),
    }
    match Pairs::deserialize(deserializer)? {
        Pairs::Table(table) => Ok(table),
        Pairs::Text(text) => text
            .split(',')
            .filter(|pair| !pair.trim().is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "expected name=value pairs separated by commas, got {pair:?}"
                    ))
                })?;
                Ok((name.trim().to_owned(), value.trim().to_owned()))
            })
            .collect(),
    }
}

/// A secret is printed as set or not, never itself.
fn redacted<S: serde::Serializer>(
    secret: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => serializer.serialize_some("[redacted]"),
        None => serializer.serialize_none(),
    }
}

/// A database URL is printed without its password.
fn url_without_password<S: serde::Serializer>(
    url: &Option<String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => serializer.serialize_some(&redact_password(url)),
        None => serializer.serialize_none(),
    }
}

/// `postgres://user:secret@host/db` as `postgres://user:[redacted]@host/db`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:[redacted]@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Each `ZHENGQI_*` variable, the key of the configuration it sets, and how its
/// text is read. The file may set every key; these are the ones a variable sets.
pub const VARIABLES: &[(&str, &str, Reading)] = &[
    ("ZHENGQI_LISTEN", "listen", Reading::Text),
    ("ZHENGQI_OPS_LISTEN", "ops_listen", Reading::Text),
    ("ZHENGQI_DATA", "data", Reading::Text),
    ("ZHENGQI_DATABASE_URL", "database_url", Reading::Text),
    ("ZHENGQI_DATABASE_SCHEMA", "database_schema", Reading::Text),
    ("ZHENGQI_AUTH_ISSUER", "auth.issuer", Reading::Text),
    ("ZHENGQI_AUTH_AUDIENCE", "auth.audience", Reading::Text),
    ("ZHENGQI_AUTH_JWKS", "auth.jwks", Reading::Text),
    ("ZHENGQI_AUTH_JWKS_CA", "auth.jwks_ca", Reading::Text),
    ("ZHENGQI_AUTH_LEEWAY_S", "auth.leeway_s", Reading::Value),
    (
        "ZHENGQI_AUTH_HS256_SECRET",
        "auth.hs256_secret",
        Reading::Text,
    ),
    (
        "ZHENGQI_AUTH_ALLOW_SERVICE_ROLE",
        "auth.allow_service_role",
        Reading::Value,
    ),
    (
        "ZHENGQI_AUTH_ROLES_CLAIM",
        "auth.claims.roles",
        Reading::Text,
    ),
    (
        "ZHENGQI_AUTH_ROLE_MAP",
        "auth.claims.role_map",
        Reading::Text,
    ),
    (
        "ZHENGQI_AUTH_JURISDICTION_CLAIM",
        "auth.claims.jurisdiction",
        Reading::Text,
    ),
    (
        "ZHENGQI_AUTH_DEPARTMENT_CLAIM",
        "auth.claims.department",
        Reading::Text,
    ),
    ("ZHENGQI_AUTH_USCC_CLAIM", "auth.claims.uscc", Reading::Text),
    ("ZHENGQI_AUTH_NAME_CLAIM", "auth.claims.name", Reading::Text),
    ("ZHENGQI_SERVICE_KEY", "service_key", Reading::Text),
    ("ZHENGQI_SERVICE_ISSUER", "service_issuer", Reading::Text),
    ("ZHENGQI_REFERENCE", "reference", Reading::Text),
    ("ZHENGQI_LOG", "log", Reading::Text),
    ("ZHENGQI_BATCH_MAX", "batch_max", Reading::Value),
    (
        "ZHENGQI_PERSONAL_DATA_YEARS",
        "personal_data_years",
        Reading::Value,
    ),
    ("ZHENGQI_INTAKE_URL", "upstreams.intake", Reading::Text),
    ("ZHENGQI_ROUTING_URL", "upstreams.routing", Reading::Text),
    ("ZHENGQI_POLICY_URL", "upstreams.policy", Reading::Text),
    (
        "ZHENGQI_EVALUATION_URL",
        "upstreams.evaluation",
        Reading::Text,
    ),
    ("ZHENGQI_SCORING_URL", "upstreams.scoring", Reading::Text),
    (
        "ZHENGQI_UPSTREAM_TIMEOUT_S",
        "upstreams.timeout",
        Reading::Value,
    ),
    (
        "ZHENGQI_GATEWAY_RATE_PER_S",
        "gateway.rate_per_s",
        Reading::Value,
    ),
    (
        "ZHENGQI_GATEWAY_RATE_BURST",
        "gateway.rate_burst",
        Reading::Value,
    ),
    (
        "ZHENGQI_GATEWAY_MAX_MESSAGE_BYTES",
        "gateway.max_message_bytes",
        Reading::Value,
    ),
    (
        "ZHENGQI_GATEWAY_MAX_IN_FLIGHT",
        "gateway.max_in_flight",
        Reading::Value,
    ),
    (
        "ZHENGQI_GATEWAY_HEALTH_INTERVAL_S",
        "gateway.health_interval_s",
        Reading::Value,
    ),
    (
        "ZHENGQI_GATEWAY_MAX_CONNECTIONS_PER_PEER",
        "gateway.max_connections_per_peer",
        Reading::Value,
    ),
    (
        "ZHENGQI_GATEWAY_HEADER_TIMEOUT_S",
        "gateway.header_timeout_s",
        Reading::Value,
    ),
    (
        "ZHENGQI_GATEWAY_BODY_TIMEOUT_S",
        "gateway.body_timeout_s",
        Reading::Value,
    ),
    (
        "ZHENGQI_GATEWAY_IDLE_TIMEOUT_S",
        "gateway.idle_timeout_s",
        Reading::Value,
    ),
    (
        "ZHENGQI_GATEWAY_FIRST_MESSAGE_TIMEOUT_S",
        "gateway.first_message_timeout_s",
        Reading::Value,
    ),
    (
        "ZHENGQI_GATEWAY_MAX_WAITING",
        "gateway.max_waiting",
        Reading::Value,
    ),
    (
        "ZHENGQI_GATEWAY_MAX_WAITING_PER_CONNECTION",
        "gateway.max_waiting_per_connection",
        Reading::Value,
    ),
    (
        "ZHENGQI_GATEWAY_MAX_STREAMS_PER_CONNECTION",
        "gateway.max_streams_per_connection",
        Reading::Value,
    ),
    (
        "ZHENGQI_GATEWAY_MAX_HEADER_BYTES",
        "gateway.max_header_bytes",
        Reading::Value,
    ),
    (
        "ZHENGQI_GATEWAY_KEEPALIVE_INTERVAL_S",
        "gateway.keepalive_interval_s",
        Reading::Value,
    ),
    (
        "ZHENGQI_GATEWAY_KEEPALIVE_TIMEOUT_S",
        "gateway.keepalive_timeout_s",
        Reading::Value,
    ),
    (
        "ZHENGQI_GATEWAY_MAX_PENDING_RESETS",
        "gateway.max_pending_resets",
        Reading::Value,
    ),
    (
        "ZHENGQI_GATEWAY_MAX_REFUSALS_PER_CONNECTION",
        "gateway.max_refusals_per_connection",
        Reading::Value,
    ),
    (
        "ZHENGQI_GATEWAY_REFUSED_PEER_COOLDOWN_S",
        "gateway.refused_peer_cooldown_s",
        Reading::Value,
    ),
    (
        "ZHENGQI_GATEWAY_CORS_ORIGINS",
        "gateway.cors_origins",
        Reading::Text,
    ),
    (
        "ZHENGQI_GATEWAY_AUDIT_DATABASE_URL",
        "gateway.audit_database_url",
        Reading::Text,
    ),
    (
        "ZHENGQI_GATEWAY_AUDIT_DATABASE_SCHEMA",
        "gateway.audit_database_schema",
        Reading::Text,
    ),
    (
        "ZHENGQI_GATEWAY_AUDIT_RETENTION_DAYS",
        "gateway.audit_retention_days",
        Reading::Value,
    ),
    (
        "ZHENGQI_ROUTING_YELLOW_RATIO",
        "routing.yellow_ratio",
        Reading::Value,
    ),
    (
        "ZHENGQI_ROUTING_ESCALATE_AFTER_DAYS",
        "routing.escalate_after_days",
        Reading::Value,
    ),
    (
        "ZHENGQI_ROUTING_SWEEP_INTERVAL_S",
        "routing.sweep_interval_s",
        Reading::Value,
    ),
    (
        "ZHENGQI_EVALUATION_RECTIFICATION_DAYS",
        "evaluation.rectification_days",
        Reading::Value,
    ),
    (
        "ZHENGQI_EVALUATION_REPEAT_WINDOW_YEARS",
        "evaluation.repeat_window_years",
        Reading::Value,
    ),
];

/// How a variable's text becomes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// As it is: a name, an address, a secret (even one of digits only).
    Text,
    /// A number or `true` / `false`.
    Value,
}

/// Why the configuration cannot be used. The message names the key, and the
/// file or the variable that set it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Read(String),
    #[error("configuration {field}: {message}")]
    Invalid { field: String, message: String },
}

impl From<figment::Error> for ConfigError {
    /// Every error of a bad file or variable, each as `SOURCE: KEY: what`:
    /// `/etc/zhengqi.toml: auth.leeway_s: invalid type …`, or
    /// `ZHENGQI_BATCH_MAX: invalid type …` for a variable.
    fn from(error: figment::Error) -> Self {
        let described = error.into_iter().map(|error| {
            let key = error.path.join(".");
            let Some(metadata) = &error.metadata else {
                return format!("{key}: {}", error.kind);
            };
            match &metadata.source {
                Some(source) if key.is_empty() => format!("{source}: {}", error.kind),
                Some(source) => format!("{source}: {key}: {}", error.kind),
                None => {
                    let name = metadata.interpolate(&Profile::Default, &error.path);
                    format!("{name}: {}", error.kind)
                }
            }
        });
        ConfigError::Read(described.collect::<Vec<_>>().join("; "))
    }
}

impl From<ConfigError> for crate::Error {
    /// A configuration the command cannot run with: said as it is, not as an
    /// internal error.
    fn from(error: ConfigError) -> Self {
        crate::Error::FailedPrecondition(error.to_string())
    }
}

/// The `ZHENGQI_*` variables `env` gives, as a figment provider; an empty
/// variable counts as unset.
struct Variables<F>(F);

impl<F: Fn(&str) -> Option<String>> Provider for Variables<F> {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variable").interpolater(|_profile, keys| {
            let key = keys.join(".");
            VARIABLES
                .iter()
                .find(|(_, path, _)| *path == key)
                .map_or(key, |(name, _, _)| (*name).to_owned())
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (name, key, reading) in VARIABLES {
            let Some(text) = (self.0)(name).filter(|v| !v.trim().is_empty()) else {
                continue;
            };
            let value = match reading {
                Reading::Text => Value::from(text),
                Reading::Value => text.trim().parse().unwrap_or_else(|_| Value::from(text)),
            };
            dict = figment::util::nest(key, value)
                .into_dict()
                .map_or(dict.clone(), |nested| merge(dict, nested));
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// `b`'s keys over `a`'s, nested tables merged.
fn merge(mut a: Dict, b: Dict) -> Dict {
    for (key, value) in b {
        let merged = match (a.remove(&key), value) {
            (Some(Value::Dict(_, old)), Value::Dict(tag, new)) => Value::Dict(tag, merge(old, new)),
            (_, value) => value,
        };
        a.insert(key, merged);
    }
    a
}

impl Config {
    /// Defaults, then `file` if given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with(file, |name| std::env::var(name).ok())
    }

    /// As [`Config::load`], reading variables through `env` (for tests).
    pub fn load_with(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            // A missing file is an error, not an empty configuration.
            if let Err(error) = std::fs::metadata(path) {
                return Err(ConfigError::Read(format!(
                    "cannot read configuration file {}: {error}",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let config: Config = figment.merge(Variables(env)).extract()?;
        config.check()?;
        Ok(config)
    }

    /// The effective configuration as TOML, secrets and passwords redacted
    /// (`zhengqi config print`).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|error| format!("# cannot print: {error}\n"))
    }

    /// What a type cannot say: ranges, and keys that must agree.
    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |field: &str, message: &str| {
            Err(ConfigError::Invalid {
                field: field_and_variable(field),
                message: message.to_owned(),
            })
        };
        if self.batch_max == 0 {
            return invalid("batch_max", "must be a positive whole number");
        }
        if let Some(ratio) = self.routing.yellow_ratio
            && !(0.0..=1.0).contains(&ratio)
        {
            return invalid("routing.yellow_ratio", "must be a number from 0 to 1");
        }
        if self.routing.escalate_after_days == Some(0) {
            return invalid(
                "routing.escalate_after_days",
                "must be a positive number of working days",
            );
        }
        if let Some(seconds) = self.routing.sweep_interval_s
            && !(seconds > 0.0 && seconds <= 86_400.0)
        {
            return invalid(
                "routing.sweep_interval_s",
                "must be a positive number of seconds up to a day",
            );
        }
        if let Some(days) = self.evaluation.rectification_days
            && !(1..=250).contains(&days)
        {
            return invalid(
                "evaluation.rectification_days",
                "must be a whole number from 1 to 250",
            );
        }
        if let Some(years) = self.evaluation.repeat_window_years
            && !(1..=100).contains(&years)
        {
            return invalid(
                "evaluation.repeat_window_years",
                "must be a whole number from 1 to 100",
            );
        }
        if self.personal_data_years.is_some_and(|years| years > 100) {
            return invalid(
                "personal_data_years",
                "must be a whole number from 0 (keep) to 100",
            );
        }
        self.check_deployments()
    }

    /// Each deployment named by a name no other one has (it names scoring's
    /// cursors of its logs), with services, owning jurisdictions no other one owns.
    fn check_deployments(&self) -> Result<(), ConfigError> {
        let mut owners = std::collections::HashMap::new();
        let mut names = std::collections::HashSet::new();
        for (i, deployment) in self.gateway.deployments.iter().enumerate() {
            let field = |name: &str| format!("gateway.deployments[{i}].{name}");
            let invalid = |name: &str, message: String| ConfigError::Invalid {
                field: field(name),
                message,
            };
            if deployment.name.trim().is_empty() {
                return Err(invalid("name", "must name the deployment".to_owned()));
            }
            if !names.insert(deployment.name.trim()) {
                return Err(invalid(
                    "name",
                    format!("{:?} names another deployment already", deployment.name),
                ));
            }
            if deployment.jurisdictions.is_empty() {
                return Err(invalid(
                    "jurisdictions",
                    "must list the jurisdiction codes the deployment owns".to_owned(),
                ));
            }
            for code in &deployment.jurisdictions {
                if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid(
                        "jurisdictions",
                        format!("{code:?} is not a six-digit jurisdiction code"),
                    ));
                }
                if let Some(other) = owners.insert(code.as_str(), deployment.name.as_str()) {
                    return Err(invalid(
                        "jurisdictions",
                        format!("{code} is owned by {other} already"),
                    ));
                }
            }
            if deployment.upstreams.by_part().is_empty() {
                return Err(invalid(
                    "upstreams",
                    "must give the address of at least one service".to_owned(),
                ));
            }
        }
        Ok(())
    }
}

/// `key` with the variable that sets it, if one does: `routing.yellow_ratio
/// (ZHENGQI_ROUTING_YELLOW_RATIO)`.
fn field_and_variable(key: &str) -> String {
    match VARIABLES.iter().find(|(_, path, _)| *path == key) {
        Some((name, _, _)) => format!("{key} ({name})"),
        None => key.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_nothing_set() {
        let config = Config::load_with(None, |_| None).unwrap();
        assert_eq!(config.data, PathBuf::from("zhengqi-data"));
        assert_eq!(config.auth.audience, "zhengqi");
        assert_eq!(config.auth.leeway_s, 30);
        assert_eq!(config.upstreams.timeout, Duration::from_secs(30));
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zhengqi.toml");
        std::fs::write(
            &path,
            "database_url = \"sqlite://file.db\"\n[auth]\nissuer = \"https://id.example\"\nleeway_s = 5\n",
        )
        .unwrap();
        let config = Config::load_with(Some(&path), |name| {
            (name == "ZHENGQI_AUTH_LEEWAY_S").then(|| "10".to_owned())
        })
        .unwrap();
        assert_eq!(config.database_url.as_deref(), Some("sqlite://file.db"));
        assert_eq!(config.auth.issuer.as_deref(), Some("https://id.example"));
        assert_eq!(config.auth.leeway_s, 10);
    }

    #[test]
    fn the_example_file_is_read_whole() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/zhengqi.example.toml");
        let config = Config::load_with(Some(&path), |_| None).unwrap();
        let [county] = config.gateway.deployments.as_slice() else {
            panic!("one other deployment: {:?}", config.gateway.deployments);
        };
        assert_eq!(county.jurisdictions, ["510821"]);
        assert_eq!(county.upstreams.by_part()[0].0, "intake");
        assert!(config.gateway.rate_per_s.is_some());
        assert_eq!(
            config.reference.as_deref(),
            Some(Path::new("/etc/zhengqi/reference"))
        );
        let providers = config.auth.providers().unwrap().unwrap();
        let [city, province] = providers.as_slice() else {
            panic!("two providers: {providers:?}");
        };
        assert_eq!(city.jwks, crate::auth::JwksSource::Discovery);
        assert_eq!(city.claims.roles, "realm_access.roles");
        assert_eq!(
            city.claims.role_map.get("zq-coordinator"),
            Some(&crate::auth::Role::Coordinator)
        );
        assert_eq!(
            city.trust,
            crate::auth::Trust::Users {
                allow_service: false
            }
        );
        assert_eq!(province.claims.uscc, "social_credit_code");
        assert_eq!(province.claims.jurisdiction, "jurisdiction");
        assert_eq!(config.service_issuer, "zhengqi-service-guangyuan");
    }

    #[test]
    fn providers_come_from_the_environment_with_their_claim_names() {
        let env = |name: &str| {
            match name {
                "ZHENGQI_AUTH_ISSUER" => Some("https://id.example/realms/zq"),
                "ZHENGQI_AUTH_ROLES_CLAIM" => Some("groups"),
                "ZHENGQI_AUTH_ROLE_MAP" => Some("zq-admin=admin, zq-handler=handler"),
                "ZHENGQI_AUTH_USCC_CLAIM" => Some("credit_code"),
                "ZHENGQI_AUTH_ALLOW_SERVICE_ROLE" => Some("true"),
                _ => None,
            }
            .map(str::to_owned)
        };
        let config = Config::load_with(None, env).unwrap();
        let providers = config.auth.providers().unwrap().unwrap();
        let [provider] = providers.as_slice() else {
            panic!("{providers:?}");
        };
        assert_eq!(provider.issuer, "https://id.example/realms/zq");
        assert_eq!(provider.jwks, crate::auth::JwksSource::Discovery);
        assert_eq!(provider.claims.roles, "groups");
        assert_eq!(provider.claims.uscc, "credit_code");
        assert_eq!(provider.claims.role_map.len(), 2);
        assert_eq!(
            provider.trust,
            crate::auth::Trust::Users {
                allow_service: true
            }
        );
        // Nothing set: no provider, the development issuer.
        assert!(
            Config::load_with(None, |_| None)
                .unwrap()
                .auth
                .providers()
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_role_map_naming_no_role_and_a_trusted_key_without_keys_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zhengqi.toml");
        std::fs::write(
            &path,
            "[auth]\nissuer = \"https://id.example\"\n[auth.claims.role_map]\nzq-boss = \"emperor\"\n",
        )
        .unwrap();
        let config = Config::load_with(Some(&path), |_| None).unwrap();
        let error = config.auth.providers().unwrap_err().to_string();
        assert!(error.contains("auth.claims.role_map.zq-boss"), "{error}");
        assert!(error.contains("emperor"), "{error}");

        std::fs::write(
            &path,
            "[[auth.services]]\nissuer = \"zhengqi-service-wangcang\"\n",
        )
        .unwrap();
        let config = Config::load_with(Some(&path), |_| None).unwrap();
        let error = config.auth.trusted_services().unwrap_err().to_string();
        assert!(error.contains("auth.services[0].jwks"), "{error}");
    }

    #[test]
    fn a_deployment_with_a_taken_name_or_a_bad_or_taken_jurisdiction_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zhengqi.toml");
        let deployment = |name: &str, code: &str| {
            format!(
                "[[gateway.deployments]]\nname = \"{name}\"\njurisdictions = [\"{code}\"]\n\
                 [gateway.deployments.upstreams]\nintake = \"http://{name}:50051, http://{name}-2:50051\"\n"
            )
        };
        std::fs::write(&path, deployment("wangcang", "510821")).unwrap();
        let config = Config::load_with(Some(&path), |_| None).unwrap();
        assert_eq!(
            config.gateway.deployments[0].upstreams.by_part(),
            [(
                "intake",
                vec![
                    "http://wangcang:50051".to_owned(),
                    "http://wangcang-2:50051".to_owned()
                ]
            )]
        );

        std::fs::write(&path, deployment("wangcang", "5108")).unwrap();
        let error = Config::load_with(Some(&path), |_| None).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("gateway.deployments[0].jurisdictions"),
            "{error}"
        );
        let two = deployment("wangcang", "510821") + &deployment("cangxi", "510821");
        std::fs::write(&path, two).unwrap();
        let error = Config::load_with(Some(&path), |_| None).unwrap_err();
        assert!(
            error.to_string().contains("gateway.deployments[1]")
                && error.to_string().contains("owned by wangcang"),
            "{error}"
        );
        let same_name = deployment("wangcang", "510821") + &deployment("wangcang", "510823");
        std::fs::write(&path, same_name).unwrap();
        let error = Config::load_with(Some(&path), |_| None).unwrap_err();
        assert!(
            error.to_string().contains("gateway.deployments[1].name"),
            "{error}"
        );
    }

    #[test]
    fn a_bad_variable_is_named() {
        let error = Config::load_with(None, |name| {
            (name == "ZHENGQI_LISTEN").then(|| "nowhere".to_owned())
        })
        .unwrap_err();
        assert!(error.to_string().contains("ZHENGQI_LISTEN"), "{error}");
    }
}

/// What one service needs to start: where to listen and which database to use.
#[derive(Debug, Clone)]
pub struct PartConfig {
    pub listen: SocketAddr,
    pub ops_listen: Option<SocketAddr>,
    pub database_url: String,
    pub database_schema: Option<String>,
    pub batch_max: usize,
}

impl AuthSettings {
    /// The people's identity providers to trust, `[auth]`'s first; `None` when
    /// no issuer is configured (the embedded deployment then trusts its
    /// development issuer). A provider without a JWKS is found by OpenID Connect
    /// discovery.
    pub fn providers(&self) -> Result<Option<Vec<crate::auth::AuthConfig>>, ConfigError> {
        let Some(issuer) = self.issuer.clone().filter(|i| !i.trim().is_empty()) else {
            if self.jwks.is_some() {
                return Err(ConfigError::Invalid {
                    field: field_and_variable("auth.issuer"),
                    message: "must be set when ZHENGQI_AUTH_JWKS is".to_owned(),
                });
            }
            if !self.issuers.is_empty() {
                return Err(ConfigError::Invalid {
                    field: "auth.issuer".to_owned(),
                    message: "must be set when [[auth.issuers]] lists further providers".to_owned(),
                });
            }
            return Ok(None);
        };
        let first = ProviderSettings {
            issuer,
            audience: Some(self.audience.clone()),
            jwks: self.jwks.clone(),
            jwks_ca: self.jwks_ca.clone(),
            claims: self.claims.clone(),
            allow_service_role: self.allow_service_role,
        };
        let mut providers = Vec::with_capacity(1 + self.issuers.len());
        for (field, provider) in std::iter::once(("auth".to_owned(), &first)).chain(
            self.issuers
                .iter()
                .enumerate()
                .map(|(i, provider)| (format!("auth.issuers[{i}]"), provider)),
        ) {
            providers.push(self.provider(&field, provider)?);
        }
        Ok(Some(providers))
    }

    fn provider(
        &self,
        field: &str,
        provider: &ProviderSettings,
    ) -> Result<crate::auth::AuthConfig, ConfigError> {
        use crate::auth::{AuthConfig, ClaimMapping, JwksSource, Trust};
        let invalid = |name: &str, message: String| ConfigError::Invalid {
            field: format!("{field}.{name}"),
            message,
        };
        if provider.issuer.trim().is_empty() {
            return Err(invalid(
                "issuer",
                "must name the provider's issuer".to_owned(),
            ));
        }
        let jwks = match &provider.jwks {
            Some(jwks) => JwksSource::from_setting(jwks),
            None => JwksSource::Discovery,
        };
        let mut config = AuthConfig::new(provider.issuer.trim(), jwks);
        config.audience = provider
            .audience
            .clone()
            .unwrap_or_else(|| self.audience.clone());
        config.jwks_ca = provider.jwks_ca.clone();
        config.leeway_s = self.leeway_s;
        // The development secret is `[auth]`'s alone.
        config.hs256_secret = self.hs256_secret.clone().filter(|_| field == "auth");
        let defaults = ClaimMapping::default();
        let claims = &provider.claims;
        let name = |set: &Option<String>, default: String| {
            set.clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or(default)
        };
        let mut role_map = std::collections::BTreeMap::new();
        for (from, to) in &claims.role_map {
            let role = to.parse().map_err(|e: crate::auth::UnknownRole| {
                invalid(&format!("claims.role_map.{from}"), e.to_string())
            })?;
            role_map.insert(from.clone(), role);
        }
        config.claims = ClaimMapping {
            roles: name(&claims.roles, defaults.roles),
            role_map,
            jurisdiction: name(&claims.jurisdiction, defaults.jurisdiction),
            department: name(&claims.department, defaults.department),
            uscc: name(&claims.uscc, defaults.uscc),
            name: name(&claims.name, defaults.name),
        };
        config.trust = Trust::Users {
            allow_service: provider.allow_service_role,
        };
        Ok(config)
    }

    /// The other deployments' service keys to trust, each for the `service` role alone.
    pub fn trusted_services(&self) -> Result<Vec<crate::auth::AuthConfig>, ConfigError> {
        self.services
            .iter()
            .enumerate()
            .map(|(i, service)| {
                let invalid = |name: &str, message: &str| ConfigError::Invalid {
                    field: format!("auth.services[{i}].{name}"),
                    message: message.to_owned(),
                };
                if service.issuer.trim().is_empty() {
                    return Err(invalid(
                        "issuer",
                        "must name the deployment's service issuer",
                    ));
                }
                if service.jwks.trim().is_empty() {
                    return Err(invalid(
                        "jwks",
                        "must give its service-jwks.json, a file or an https URL",
                    ));
                }
                let mut config = crate::auth::AuthConfig::service(
                    service.issuer.trim(),
                    crate::auth::JwksSource::from_setting(&service.jwks),
                );
                config.audience = self.audience.clone();
                config.leeway_s = self.leeway_s;
                Ok(config)
            })
            .collect()
    }
}

#[cfg(test)]
mod tree_tests {
    use super::*;

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zhengqi.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn an_unknown_key_in_the_file_is_refused_by_name() {
        let (_dir, path) = file("[gateway]\nrate_per_second = 5\n");
        let error = Config::load_with(Some(&path), |_| None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("rate_per_second"), "{error}");
        assert!(error.contains("zhengqi.toml"), "{error}");
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_key_and_source() {
        let (_dir, path) = file("[auth]\nleeway_s = \"soon\"\n");
        let error = Config::load_with(Some(&path), |_| None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("auth.leeway_s"), "{error}");
        assert!(error.contains("zhengqi.toml"), "{error}");

        let error = Config::load_with(None, |name| {
            (name == "ZHENGQI_BATCH_MAX").then(|| "many".to_owned())
        })
        .unwrap_err()
        .to_string();
        assert!(error.contains("ZHENGQI_BATCH_MAX"), "{error}");
        let error = Config::load_with(None, |name| {
            (name == "ZHENGQI_ROUTING_YELLOW_RATIO").then(|| "1.5".to_owned())
        })
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("routing.yellow_ratio (ZHENGQI_ROUTING_YELLOW_RATIO)"),
            "{error}"
        );
    }

    #[test]
    fn every_setting_comes_from_one_tree_file_and_variables_alike() {
        let (_dir, path) = file(
            "[routing]\nyellow_ratio = 0.7\nsweep_interval_s = 5\n\
             [evaluation]\nrectification_days = 10\n\
             [gateway]\ncors_origins = [\"https://a.example\"]\n",
        );
        let config = Config::load_with(Some(&path), |name| {
            match name {
                "ZHENGQI_ROUTING_ESCALATE_AFTER_DAYS" => Some("3"),
                "ZHENGQI_EVALUATION_RECTIFICATION_DAYS" => Some("12"),
                "ZHENGQI_GATEWAY_CORS_ORIGINS" => Some("https://b.example, https://c.example"),
                // A secret of digits stays text.
                "ZHENGQI_AUTH_HS256_SECRET" => Some("20261204"),
                "ZHENGQI_UPSTREAM_TIMEOUT_S" => Some("2.5"),
                _ => None,
            }
            .map(str::to_owned)
        })
        .unwrap();
        assert_eq!(config.routing.yellow_ratio, Some(0.7));
        assert_eq!(config.routing.sweep_interval_s, Some(5.0));
        assert_eq!(config.routing.escalate_after_days, Some(3));
        assert_eq!(config.evaluation.rectification_days, Some(12));
        assert_eq!(
            config.gateway.cors_origins,
            ["https://b.example", "https://c.example"]
        );
        assert!(config.auth.hs256_secret.is_some());
        assert_eq!(config.upstreams.timeout, Duration::from_millis(2500));
    }

    #[test]
    fn the_printed_configuration_hides_secrets_and_reads_back() {
        let config = Config::load_with(None, |name| {
            match name {
                "ZHENGQI_DATABASE_URL" => Some("postgres://zhengqi:s3cret@db.example:5432/zhengqi"),
                "ZHENGQI_AUTH_HS256_SECRET" => Some("change-me-please"),
                "ZHENGQI_AUTH_ISSUER" => Some("https://id.example"),
                _ => None,
            }
            .map(str::to_owned)
        })
        .unwrap();
        let printed = config.to_toml();
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(!printed.contains("change-me-please"), "{printed}");
        assert!(
            printed.contains("postgres://zhengqi:[redacted]@db.example:5432/zhengqi"),
            "{printed}"
        );
        assert!(
            printed.contains("issuer = \"https://id.example\""),
            "{printed}"
        );
        // What it prints is a configuration file the loader takes.
        let (_dir, path) = file(&printed);
        let again = Config::load_with(Some(&path), |_| None).unwrap();
        assert_eq!(again.auth.issuer.as_deref(), Some("https://id.example"));
        assert_eq!(again.batch_max, config.batch_max);
    }
}

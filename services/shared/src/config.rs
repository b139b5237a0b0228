//! Configuration: `ZHENGQI_*` environment variables over an optional TOML file
//! with the same keys, over defaults that make `zhengqi up` work with nothing set.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

/// Everything a part of zhengqi is configured with.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// gRPC (and, for the gateway, HTTP/JSON) listening address. `ZHENGQI_LISTEN`.
    pub listen: Option<SocketAddr>,
    /// `/healthz`, `/readyz` and `/metrics`. `ZHENGQI_OPS_LISTEN`.
    pub ops_listen: Option<SocketAddr>,
    /// Data folder of the embedded deployment. `ZHENGQI_DATA`.
    pub data: PathBuf,
    /// Store of the part (`sqlite://…` or `postgres://…`). `ZHENGQI_DATABASE_URL`.
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
}

/// The gateway's limits and audit (`ZHENGQI_GATEWAY_*`); unset values keep the
/// gateway's defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayLimits {
    /// Calls per second per subject. `ZHENGQI_GATEWAY_RATE_PER_S`; no limit when unset.
    pub rate_per_s: Option<f64>,
    /// Calls a subject may make at once after being idle. `ZHENGQI_GATEWAY_RATE_BURST`, default 2 × rate.
    pub rate_burst: Option<u32>,
    /// Largest request message or body. `ZHENGQI_GATEWAY_MAX_MESSAGE_BYTES`, default 4 MiB.
    pub max_message_bytes: Option<usize>,
    /// Calls in flight before new ones are shed. `ZHENGQI_GATEWAY_MAX_IN_FLIGHT`, default 4096; 0 for no limit.
    pub max_in_flight: Option<usize>,
    /// Seconds between health checks of each replica. `ZHENGQI_GATEWAY_HEALTH_INTERVAL_S`, default 5.
    pub health_interval_s: Option<f64>,
    /// Portal origins allowed by CORS. `ZHENGQI_GATEWAY_CORS_ORIGINS`, comma-separated.
    pub cors_origins: Vec<String>,
    /// The audit store. `ZHENGQI_GATEWAY_AUDIT_DATABASE_URL`; `up` keeps it in the data folder.
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
#[derive(Debug, Clone, Default, Deserialize)]
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
#[derive(Debug, Clone, Default, Deserialize)]
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
        }
    }
}

/// Token verification settings (`ZHENGQI_AUTH_*`): the people's identity
/// provider (the keys of `[auth]` itself), further providers
/// (`[[auth.issuers]]`) and other deployments' service keys (`[[auth.services]]`).
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Default, Deserialize)]
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
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ClaimSettings {
    /// The claim with the roles; a dotted path reaches into objects
    /// (`realm_access.roles`, `groups`). `ZHENGQI_AUTH_ROLES_CLAIM`, default `roles`.
    pub roles: Option<String>,
    /// The provider's role names and the roles they grant (`zq-coordinator =
    /// "coordinator"`); when set, names it does not list grant nothing.
    /// `ZHENGQI_AUTH_ROLE_MAP` as `name=role,name=role`.
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
#[derive(Debug, Clone, Default, Deserialize)]
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
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Upstreams {
    pub intake: Option<String>,
    pub routing: Option<String>,
    pub policy: Option<String>,
    pub evaluation: Option<String>,
    pub scoring: Option<String>,
    /// How long a call to an upstream may take when the caller set no deadline.
    #[serde(with = "seconds")]
    pub timeout: Duration,
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

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs_f64(f64::deserialize(deserializer)?))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("environment variable {name}: {message}")]
    Env { name: &'static str, message: String },
    #[error("configuration {field}: {message}")]
    Invalid { field: String, message: String },
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
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: path.to_owned(),
                    source,
                })?
            }
            None => Config::default(),
        };
        config.apply_env(env)?;
        Ok(config)
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = get("ZHENGQI_LISTEN") {
            self.listen = Some(parse_addr("ZHENGQI_LISTEN", &v)?);
        }
        if let Some(v) = get("ZHENGQI_OPS_LISTEN") {
            self.ops_listen = Some(parse_addr("ZHENGQI_OPS_LISTEN", &v)?);
        }
        if let Some(v) = get("ZHENGQI_DATA") {
            self.data = PathBuf::from(v);
        }
        if let Some(v) = get("ZHENGQI_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = get("ZHENGQI_DATABASE_SCHEMA") {
            self.database_schema = Some(v);
        }
        if let Some(v) = get("ZHENGQI_AUTH_ISSUER") {
            self.auth.issuer = Some(v);
        }
        if let Some(v) = get("ZHENGQI_AUTH_AUDIENCE") {
            self.auth.audience = v;
        }
        if let Some(v) = get("ZHENGQI_AUTH_JWKS") {
            self.auth.jwks = Some(v);
        }
        if let Some(v) = get("ZHENGQI_AUTH_JWKS_CA") {
            self.auth.jwks_ca = Some(PathBuf::from(v));
        }
        if let Some(v) = get("ZHENGQI_AUTH_LEEWAY_S") {
            self.auth.leeway_s = v.trim().parse().map_err(|_| ConfigError::Env {
                name: "ZHENGQI_AUTH_LEEWAY_S",
                message: format!("expected whole seconds, got {v:?}"),
            })?;
        }
        if let Some(v) = get("ZHENGQI_AUTH_HS256_SECRET") {
            self.auth.hs256_secret = Some(SecretString::from(v));
        }
        if let Some(v) = get("ZHENGQI_AUTH_ALLOW_SERVICE_ROLE") {
            self.auth.allow_service_role = parse_bool("ZHENGQI_AUTH_ALLOW_SERVICE_ROLE", &v)?;
        }
        let claims = &mut self.auth.claims;
        for (name, slot) in [
            ("ZHENGQI_AUTH_ROLES_CLAIM", &mut claims.roles),
            ("ZHENGQI_AUTH_JURISDICTION_CLAIM", &mut claims.jurisdiction),
            ("ZHENGQI_AUTH_DEPARTMENT_CLAIM", &mut claims.department),
            ("ZHENGQI_AUTH_USCC_CLAIM", &mut claims.uscc),
            ("ZHENGQI_AUTH_NAME_CLAIM", &mut claims.name),
        ] {
            if let Some(v) = get(name) {
                *slot = Some(v.trim().to_owned());
            }
        }
        if let Some(v) = get("ZHENGQI_AUTH_ROLE_MAP") {
            claims.role_map = v
                .split(',')
                .filter(|pair| !pair.trim().is_empty())
                .map(|pair| {
                    let (name, role) = pair.split_once('=').ok_or_else(|| ConfigError::Env {
                        name: "ZHENGQI_AUTH_ROLE_MAP",
                        message: format!(
                            "expected name=role pairs separated by commas, got {pair:?}"
                        ),
                    })?;
                    Ok((name.trim().to_owned(), role.trim().to_owned()))
                })
                .collect::<Result<_, ConfigError>>()?;
        }
        if let Some(v) = get("ZHENGQI_SERVICE_KEY") {
            self.service_key = Some(PathBuf::from(v));
        }
        if let Some(v) = get("ZHENGQI_SERVICE_ISSUER") {
            self.service_issuer = v.trim().to_owned();
        }
        if let Some(v) = get("ZHENGQI_LOG") {
            self.log = Some(v);
        }
        if let Some(v) = get("ZHENGQI_BATCH_MAX") {
            self.batch_max = v
                .trim()
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(ConfigError::Env {
                    name: "ZHENGQI_BATCH_MAX",
                    message: format!("expected a positive whole number, got {v:?}"),
                })?;
        }
        for (name, slot) in [
            ("ZHENGQI_INTAKE_URL", &mut self.upstreams.intake),
            ("ZHENGQI_ROUTING_URL", &mut self.upstreams.routing),
            ("ZHENGQI_POLICY_URL", &mut self.upstreams.policy),
            ("ZHENGQI_EVALUATION_URL", &mut self.upstreams.evaluation),
            ("ZHENGQI_SCORING_URL", &mut self.upstreams.scoring),
        ] {
            if let Some(v) = get(name) {
                *slot = Some(v);
            }
        }
        if let Some(v) = get("ZHENGQI_UPSTREAM_TIMEOUT_S") {
            let seconds: f64 =
                v.trim()
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0)
                    .ok_or(ConfigError::Env {
                        name: "ZHENGQI_UPSTREAM_TIMEOUT_S",
                        message: format!("expected a positive number of seconds, got {v:?}"),
                    })?;
            self.upstreams.timeout = Duration::from_secs_f64(seconds);
        }
        let gateway = &mut self.gateway;
        if let Some(v) = get("ZHENGQI_GATEWAY_RATE_PER_S") {
            gateway.rate_per_s = Some(parse_number("ZHENGQI_GATEWAY_RATE_PER_S", &v)?);
        }
        if let Some(v) = get("ZHENGQI_GATEWAY_RATE_BURST") {
            gateway.rate_burst = Some(parse_number("ZHENGQI_GATEWAY_RATE_BURST", &v)?);
        }
        if let Some(v) = get("ZHENGQI_GATEWAY_MAX_MESSAGE_BYTES") {
            gateway.max_message_bytes =
                Some(parse_number("ZHENGQI_GATEWAY_MAX_MESSAGE_BYTES", &v)?);
        }
        if let Some(v) = get("ZHENGQI_GATEWAY_MAX_IN_FLIGHT") {
            gateway.max_in_flight = Some(parse_number("ZHENGQI_GATEWAY_MAX_IN_FLIGHT", &v)?);
        }
        if let Some(v) = get("ZHENGQI_GATEWAY_HEALTH_INTERVAL_S") {
            gateway.health_interval_s =
                Some(parse_number("ZHENGQI_GATEWAY_HEALTH_INTERVAL_S", &v)?);
        }
        if let Some(v) = get("ZHENGQI_GATEWAY_CORS_ORIGINS") {
            gateway.cors_origins = v
                .split(',')
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect();
        }
        if let Some(v) = get("ZHENGQI_GATEWAY_AUDIT_DATABASE_URL") {
            gateway.audit_database_url = Some(v);
        }
        if let Some(v) = get("ZHENGQI_GATEWAY_AUDIT_DATABASE_SCHEMA") {
            gateway.audit_database_schema = Some(v);
        }
        if let Some(v) = get("ZHENGQI_GATEWAY_AUDIT_RETENTION_DAYS") {
            gateway.audit_retention_days =
                Some(parse_number("ZHENGQI_GATEWAY_AUDIT_RETENTION_DAYS", &v)?);
        }
        if self.upstreams.timeout.is_zero() {
            self.upstreams.timeout = Duration::from_secs(30);
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

fn parse_bool(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ConfigError::Env {
            name,
            message: format!("expected true or false, got {value:?}"),
        }),
    }
}

fn parse_number<T: std::str::FromStr>(name: &'static str, value: &str) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Env {
        name,
        message: format!("expected a number, got {value:?}"),
    })
}

fn parse_addr(name: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Env {
        name,
        message: format!("expected HOST:PORT with an IP address, got {value:?}"),
    })
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
                return Err(ConfigError::Env {
                    name: "ZHENGQI_AUTH_ISSUER",
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

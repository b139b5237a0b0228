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
    /// PEM private key that signs this deployment's `service` tokens. `ZHENGQI_SERVICE_KEY`.
    pub service_key: Option<PathBuf>,
    /// Addresses of the services, for the gateway and for event consumers.
    pub upstreams: Upstreams,
    /// A tracing filter, e.g. `info,zhengqi_intake=debug`. `ZHENGQI_LOG`.
    pub log: Option<String>,
    /// Group commit: the most appeals written in one transaction. `ZHENGQI_BATCH_MAX`.
    pub batch_max: usize,
    /// The gateway's limits, audit and portal origins.
    pub gateway: GatewayLimits,
    /// The city's reference folder; the embedded set (Guangyuan's) when unset.
    /// `ZHENGQI_REFERENCE`.
    pub reference: Option<PathBuf>,
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
            upstreams: Upstreams::default(),
            log: None,
            batch_max: 256,
            gateway: GatewayLimits::default(),
            reference: None,
        }
    }
}

/// Token verification settings (`ZHENGQI_AUTH_*`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Required `iss`. `ZHENGQI_AUTH_ISSUER`.
    pub issuer: Option<String>,
    /// Required `aud`. `ZHENGQI_AUTH_AUDIENCE`, default `zhengqi`.
    pub audience: String,
    /// A JWKS file path or an https URL. `ZHENGQI_AUTH_JWKS`.
    pub jwks: Option<String>,
    /// PEM file of CA certificates trusted for an https JWKS URL, besides the
    /// system's. `ZHENGQI_AUTH_JWKS_CA`.
    pub jwks_ca: Option<PathBuf>,
    /// Clock leeway in seconds. `ZHENGQI_AUTH_LEEWAY_S`, default 30.
    pub leeway_s: u64,
    /// Development only: accept HS256 tokens signed with this secret. `ZHENGQI_AUTH_HS256_SECRET`.
    pub hs256_secret: Option<SecretString>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: "zhengqi".to_owned(),
            jwks: None,
            jwks_ca: None,
            leeway_s: 30,
            hs256_secret: None,
        }
    }
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
        if let Some(v) = get("ZHENGQI_SERVICE_KEY") {
            self.service_key = Some(PathBuf::from(v));
        }
        if let Some(v) = get("ZHENGQI_REFERENCE") {
            self.reference = Some(PathBuf::from(v));
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
        assert_eq!(
            config.reference.as_deref(),
            Some(Path::new("/etc/zhengqi/reference"))
        );
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
    /// Verifier settings when a JWKS is configured; `None` when it is not (the
    /// embedded deployment then trusts its development issuer).
    pub fn to_auth_config(&self) -> Result<Option<crate::auth::AuthConfig>, ConfigError> {
        let Some(jwks) = &self.jwks else {
            return Ok(None);
        };
        let issuer = self.issuer.clone().ok_or(ConfigError::Env {
            name: "ZHENGQI_AUTH_ISSUER",
            message: "must be set when ZHENGQI_AUTH_JWKS is".to_owned(),
        })?;
        let mut config =
            crate::auth::AuthConfig::new(issuer, crate::auth::JwksSource::from_setting(jwks));
        config.audience = self.audience.clone();
        config.jwks_ca = self.jwks_ca.clone();
        config.leeway_s = self.leeway_s;
        config.hs256_secret = self.hs256_secret.clone();
        Ok(Some(config))
    }
}

//! The whole suite in one process: the five services, each on its own store,
//! and the gateway in front of them. `zhengqi up` runs this; so do the
//! end-to-end tests, on port 0.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tonic::server::NamedService;
use zhengqi_gateway::audit::AuditSettings;
use zhengqi_gateway::limits::RateLimit;
use zhengqi_gateway::{GatewayConfig, GatewaySettings};
use zhengqi_shared::Error;
use zhengqi_shared::auth::{AuthConfig, DEFAULT_AUDIENCE, DevIssuer, Signer, Verifier};
use zhengqi_shared::config::{DeploymentSettings, GatewayLimits, PartConfig, ServiceUrls};
use zhengqi_shared::events::{TokenSource, service_tokens};
use zhengqi_shared::reference::Directory;
use zhengqi_shared::server::{GrpcService, InProcess, Part};
use zhengqi_shared::shutdown::Shutdown;

/// The issuer of the development key `zhengqi up` creates in its data folder.
pub const DEV_ISSUER: &str = "zhengqi-dev";

/// The five services: part name and full gRPC service name.
pub const SERVICES: [(&str, &str); 5] = [
    ("intake", "zhengqi.intake.v1.IntakeService"),
    ("routing", "zhengqi.routing.v1.CaseService"),
    ("policy", "zhengqi.policy.v1.PolicyService"),
    ("evaluation", "zhengqi.evaluation.v1.EvaluationService"),
    ("scoring", "zhengqi.scoring.v1.ScoringService"),
];

/// How to start the suite.
#[derive(Debug, Clone)]
pub struct SuiteOptions {
    /// The data folder: SQLite files, the development key.
    pub data: PathBuf,
    /// The gateway's address.
    pub listen: SocketAddr,
    /// A PostgreSQL URL to use instead of SQLite files, one schema per service.
    pub database_url: Option<String>,
    /// Token verification; `None` trusts the development issuer of `data`.
    pub auth: Option<AuthConfig>,
    pub batch_max: usize,
    /// The deadline of a call whose caller set none.
    pub timeout: Duration,
    /// Intake's clock: an appeal's acceptance time, from which its time
    /// limit counts (tests move it with the others).
    pub intake_clock: Arc<zhengqi_shared::clock::Clock>,
    /// Routing's clock and supervision settings (its intake address and
    /// service tokens are filled in by the suite).
    pub routing: zhengqi_routing::Settings,
    /// The clocks and settings of policy, evaluation and scoring (the
    /// addresses of the services they follow and their tokens are filled in
    /// by the suite).
    pub policy: zhengqi_policy::Settings,
    pub evaluation: zhengqi_evaluation::Settings,
    pub scoring: zhengqi_scoring::Settings,
    /// The gateway's limits and audit; the audit is kept beside the services'
    /// stores unless configured elsewhere.
    pub gateway: GatewayLimits,
    /// The other deployments whose routing, evaluation and policy logs
    /// scoring follows besides this one's, as `[[gateway.deployments]]` lists
    /// them: the city's scoring counts the cases, reviews and policy facts of
    /// every county that runs its own deployment.
    pub followed_deployments: Vec<DeploymentSettings>,
    /// Whether the gateway reaches the services over HTTP/2 on their own
    /// ports, as in per-service deployments, instead of calling their stacks
    /// in this process (the default: no second hop). `zhengqi bench` compares both.
    pub gateway_over_network: bool,
}

impl SuiteOptions {
    pub fn new(data: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        Self {
            data: data.into(),
            listen,
            database_url: None,
            auth: None,
            batch_max: 256,
            timeout: Duration::from_secs(30),
            intake_clock: Arc::default(),
            routing: zhengqi_routing::Settings::default(),
            policy: zhengqi_policy::Settings::default(),
            evaluation: zhengqi_evaluation::Settings::default(),
            scoring: zhengqi_scoring::Settings::default(),
            gateway: GatewayLimits::default(),
            followed_deployments: Vec::new(),
            gateway_over_network: false,
        }
    }
}

/// `sqlite://` URL of the file `<name>.db` in `data`.
pub fn sqlite_url(data: &Path, name: &str) -> String {
    let file = data.join(format!("{name}.db"));
    format!(
        "sqlite://{}",
        std::path::absolute(&file).unwrap_or(file).display()
    )
}

/// Each configured service's replicas by full service name, as the gateway takes them.
pub fn service_upstreams(urls: &ServiceUrls) -> BTreeMap<String, Vec<String>> {
    urls.by_part()
        .into_iter()
        .filter_map(|(part, replicas)| {
            let (_, service) = SERVICES.iter().find(|(name, _)| *name == part)?;
            Some((service.to_string(), replicas))
        })
        .collect()
}

/// The replica whose event log a part follows: the first listed; any replica
/// serves the whole log.
pub fn followed(replicas: &Option<String>) -> Option<String> {
    replicas
        .as_deref()
        .and_then(|list| zhengqi_shared::config::replicas(list).into_iter().next())
}

/// The deployments whose logs scoring follows besides its own, from
/// `[[gateway.deployments]]`: each one's routing, evaluation and policy.
pub fn followed_deployments(
    deployments: &[DeploymentSettings],
) -> Vec<zhengqi_scoring::FollowedDeployment> {
    deployments
        .iter()
        .map(|d| zhengqi_scoring::FollowedDeployment {
            name: d.name.clone(),
            routing_url: followed(&d.upstreams.routing),
            evaluation_url: followed(&d.upstreams.evaluation),
            policy_url: followed(&d.upstreams.policy),
        })
        .collect()
}

/// The gateway's settings from configuration; `default_audit` keeps the audit
/// when no audit store is configured.
pub fn gateway_settings(
    limits: &GatewayLimits,
    default_audit: Option<AuditSettings>,
) -> GatewaySettings {
    let defaults = GatewaySettings::default();
    let audit = match &limits.audit_database_url {
        Some(url) => Some(AuditSettings {
            schema: limits.audit_database_schema.clone(),
            ..AuditSettings::new(url.clone())
        }),
        None => default_audit,
    }
    .map(|mut audit| {
        if let Some(days) = limits.audit_retention_days {
            audit.retention = Duration::from_secs(days * 86_400);
        }
        audit
    });
    GatewaySettings {
        rate_limit: limits
            .rate_per_s
            .filter(|rate| *rate > 0.0)
            .map(|per_second| RateLimit {
                per_second,
                burst: limits
                    .rate_burst
                    .unwrap_or((per_second * 2.0).ceil() as u32)
                    .max(1),
            }),
        max_message_bytes: limits
            .max_message_bytes
            .unwrap_or(defaults.max_message_bytes),
        max_in_flight: match limits.max_in_flight {
            Some(0) => None,
            Some(limit) => Some(limit),
            None => defaults.max_in_flight,
        },
        health_interval: limits
            .health_interval_s
            .filter(|s| *s > 0.0)
            .map_or(defaults.health_interval, Duration::from_secs_f64),
        cors_origins: limits.cors_origins.clone(),
        audit,
        deployments: limits
            .deployments
            .iter()
            .map(|d| zhengqi_gateway::Deployment {
                name: d.name.clone(),
                jurisdictions: d.jurisdictions.clone(),
                upstreams: service_upstreams(&d.upstreams),
            })
            .collect(),
        in_process: BTreeMap::new(),
    }
}

/// The running suite.
pub struct Suite {
    pub gateway_addr: SocketAddr,
    /// Each service's own address, by part name.
    pub service_addrs: BTreeMap<&'static str, SocketAddr>,
    /// The development issuer, when the suite trusts it.
    pub dev_issuer: Option<DevIssuer>,
    shutdown: Shutdown,
    tasks: JoinSet<Result<(), Error>>,
}

/// Starts every part; returns once all are bound (they finish their migrations
/// in the background, health reporting NOT_SERVING until then).
pub async fn start(options: SuiteOptions) -> Result<Suite, Error> {
    std::fs::create_dir_all(&options.data)
        .map_err(|e| Error::internal(format!("cannot create {}: {e}", options.data.display())))?;
    let (auth, dev_issuer) = match options.auth.clone() {
        Some(auth) => (auth, None),
        None => {
            let issuer =
                DevIssuer::load_or_create(&options.data, DEV_ISSUER).map_err(Error::internal)?;
            (issuer.auth_config(), Some(issuer))
        }
    };
    let verifier = Verifier::new(auth)
        .await
        .map_err(|e| Error::internal(format!("token verification cannot start: {e}")))?;
    let directory = Arc::new(Directory::guangyuan());
    let shutdown = Shutdown::new();
    let mut running = Running {
        addrs: BTreeMap::new(),
        stacks: BTreeMap::new(),
        tasks: JoinSet::new(),
        shutdown: shutdown.clone(),
    };

    let part_config = |part: &str| PartConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ops_listen: None,
        database_url: match &options.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}",
                std::path::absolute(options.data.join(format!("{part}.db")))
                    .unwrap_or_else(|_| options.data.join(format!("{part}.db")))
                    .display()
            ),
        },
        database_schema: options.database_url.as_ref().map(|_| part.to_owned()),
        batch_max: options.batch_max,
    };

    let intake = zhengqi_intake::build_with_clock(
        &part_config("intake"),
        verifier.clone(),
        Arc::clone(&directory),
        Arc::clone(&options.intake_clock),
    )
    .await?;
    running.run("intake", intake);
    let tokens = |subject: &str| match &dev_issuer {
        Some(issuer) => dev_service_tokens(issuer, subject).map(Some),
        None => Ok(None),
    };
    let routing_settings = zhengqi_routing::Settings {
        intake_url: running.url("intake"),
        service_token: tokens("routing")?,
        ..options.routing.clone()
    };
    let routing = zhengqi_routing::build(
        &part_config("routing"),
        verifier.clone(),
        Arc::clone(&directory),
        routing_settings,
        &shutdown,
    )
    .await?;
    running.run("routing", routing);

    let policy_settings = zhengqi_policy::Settings {
        intake_url: running.url("intake"),
        routing_url: running.url("routing"),
        service_token: tokens("policy")?,
        ..options.policy.clone()
    };
    let policy = zhengqi_policy::build(
        &part_config("policy"),
        verifier.clone(),
        Arc::clone(&directory),
        policy_settings,
        &shutdown,
    )
    .await?;
    running.run("policy", policy);

    let evaluation_settings = zhengqi_evaluation::Settings {
        routing_url: running.url("routing"),
        service_token: tokens("evaluation")?,
        ..options.evaluation.clone()
    };
    let evaluation = zhengqi_evaluation::build(
        &part_config("evaluation"),
        verifier.clone(),
        Arc::clone(&directory),
        evaluation_settings,
        &shutdown,
    )
    .await?;
    running.run("evaluation", evaluation);

    let scoring_settings = zhengqi_scoring::Settings {
        routing_url: running.url("routing"),
        evaluation_url: running.url("evaluation"),
        policy_url: running.url("policy"),
        deployments: followed_deployments(&options.followed_deployments),
        service_token: tokens("scoring")?,
        ..options.scoring.clone()
    };
    let scoring = zhengqi_scoring::build(
        &part_config("scoring"),
        verifier.clone(),
        Arc::clone(&directory),
        scoring_settings,
        &shutdown,
    )
    .await?;
    running.run("scoring", scoring);

    let upstreams = SERVICES
        .iter()
        .map(|(part, service)| {
            (
                service.to_string(),
                vec![format!("http://{}", running.addrs[part])],
            )
        })
        .collect();
    let default_audit = match &options.database_url {
        Some(url) => AuditSettings {
            schema: Some("gateway".to_owned()),
            ..AuditSettings::new(url.clone())
        },
        None => AuditSettings::new(sqlite_url(&options.data, "gateway-audit")),
    };
    let mut settings = gateway_settings(&options.gateway, Some(default_audit));
    if !options.gateway_over_network {
        settings.in_process = SERVICES
            .iter()
            .map(|(part, service)| (service.to_string(), running.stacks[part].clone()))
            .collect();
    }
    let gateway = zhengqi_gateway::build_with(
        &GatewayConfig {
            listen: options.listen,
            upstreams,
            timeout: options.timeout,
            policy: None,
        },
        &settings,
        verifier,
    )
    .await?;
    let gateway_addr = gateway.addr();
    running
        .tasks
        .spawn(gateway.run_until_stopped(shutdown.clone()));

    Ok(Suite {
        gateway_addr,
        service_addrs: running.addrs,
        dev_issuer,
        shutdown,
        tasks: running.tasks,
    })
}

/// The parts started so far: their addresses, their stacks for the gateway
/// to call in this process, and their tasks.
struct Running {
    addrs: BTreeMap<&'static str, SocketAddr>,
    stacks: BTreeMap<&'static str, InProcess>,
    tasks: JoinSet<Result<(), Error>>,
    shutdown: Shutdown,
}

impl Running {
    /// Keeps `part`'s address and stack, and runs it until the suite stops.
    fn run<S: GrpcService + NamedService>(&mut self, name: &'static str, part: Part<S>) {
        self.addrs.insert(name, part.addr());
        self.stacks.insert(name, part.in_process());
        self.tasks
            .spawn(part.run_until_stopped(self.shutdown.clone()));
    }

    /// The address of a started part, as the parts following its log take it.
    fn url(&self, name: &str) -> Option<String> {
        Some(format!("http://{}", self.addrs[name]))
    }
}

/// `service` tokens for a part's consumers of the other parts' logs, signed
/// with the development issuer's key.
fn dev_service_tokens(issuer: &DevIssuer, subject: &str) -> Result<TokenSource, Error> {
    let pem = std::fs::read(issuer.key_path()).map_err(|e| {
        Error::internal(format!("cannot read {}: {e}", issuer.key_path().display()))
    })?;
    let signer =
        Signer::from_pem(&pem, None, issuer.issuer(), DEFAULT_AUDIENCE).map_err(Error::internal)?;
    Ok(service_tokens(Arc::new(signer), subject))
}

impl Suite {
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Stops every part, letting calls in flight finish.
    pub async fn stop(self) -> Result<(), Error> {
        self.shutdown.trigger();
        self.wait().await
    }

    /// Waits until every part has stopped; the first failure stops the rest.
    pub async fn wait(mut self) -> Result<(), Error> {
        let mut outcome = Ok(());
        while let Some(joined) = self.tasks.join_next().await {
            let result = joined.map_err(Error::internal).and_then(|r| r);
            if let Err(error) = result {
                self.shutdown.trigger();
                if outcome.is_ok() {
                    outcome = Err(error);
                }
            }
        }
        outcome
    }
}

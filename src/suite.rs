//! The whole suite in one process: the five services, each on its own store,
//! and the gateway in front of them. `zhengqi up` runs this; so do the
//! end-to-end tests, on port 0.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use zhengqi_gateway::audit::AuditSettings;
use zhengqi_gateway::connections::ConnectionLimits;
use zhengqi_gateway::limits::RateLimit;
use zhengqi_gateway::{GatewayConfig, GatewaySettings};
use zhengqi_shared::Error;
use zhengqi_shared::auth::{AuthConfig, DEFAULT_SERVICE_ISSUER, DevIssuer, ServiceKey, Verifier};
use zhengqi_shared::config::{Config, DeploymentSettings, GatewayLimits, PartConfig, ServiceUrls};
use zhengqi_shared::events::service_tokens;
use zhengqi_shared::personal::Retention;
use zhengqi_shared::reference::Reference;
use zhengqi_shared::server::InProcess;
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
    /// The people's identity providers; none: the development issuer of `data`.
    pub providers: Vec<AuthConfig>,
    /// The PEM key that signs the parts' calls to one another; `None` keeps
    /// one in `data` (created there).
    pub service_key: Option<PathBuf>,
    /// The `iss` of this deployment's service tokens.
    pub service_issuer: String,
    /// Other deployments' service keys, trusted for the `service` role alone.
    pub trusted_services: Vec<AuthConfig>,
    pub batch_max: usize,
    /// The deadline of a call whose caller set none.
    pub timeout: Duration,
    /// Intake's clock: an appeal's acceptance time, from which its time
    /// limit counts (tests move it with the others).
    pub intake_clock: Arc<zhengqi_shared::clock::Clock>,
    /// How long intake and routing keep contacts (`personal_data_years`).
    pub personal_data: Retention,
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
    /// in this process (the default: no second hop). `zhengqi-bench` compares both.
    pub gateway_over_network: bool,
    /// The city's reference folder (directory, departments, routing rules,
    /// meeting kinds, indicator model, calendar years); `None` for the
    /// embedded set (Guangyuan's).
    pub reference: Option<PathBuf>,
}

impl SuiteOptions {
    pub fn new(data: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        Self {
            data: data.into(),
            listen,
            database_url: None,
            providers: Vec::new(),
            service_key: None,
            service_issuer: DEFAULT_SERVICE_ISSUER.to_owned(),
            trusted_services: Vec::new(),
            batch_max: 256,
            timeout: Duration::from_secs(30),
            intake_clock: Arc::default(),
            personal_data: Retention::default(),
            routing: zhengqi_routing::Settings::default(),
            policy: zhengqi_policy::Settings::default(),
            evaluation: zhengqi_evaluation::Settings::default(),
            scoring: zhengqi_scoring::Settings::default(),
            gateway: GatewayLimits::default(),
            followed_deployments: Vec::new(),
            gateway_over_network: false,
            reference: None,
        }
    }
}

/// Who a deployment trusts, and the key its parts sign their calls with;
/// the same under `up` and `serve`.
pub struct Identity {
    /// Checks every caller's token: the people's providers (or the development
    /// issuer), this deployment's service key and the other deployments' keys.
    pub verifier: Verifier,
    pub service_key: ServiceKey,
    /// The development issuer, when no provider is configured.
    pub dev_issuer: Option<DevIssuer>,
}

impl Identity {
    /// Trusts `providers` (none: the development issuer kept in `data`) for the
    /// people's roles, and for the `service` role this deployment's key (the
    /// PEM file `service_key`, else the one kept in `data`) and `trusted_services`.
    pub async fn load(
        data: &Path,
        providers: Vec<AuthConfig>,
        service_key: Option<&Path>,
        service_issuer: &str,
        trusted_services: Vec<AuthConfig>,
    ) -> Result<Identity, Error> {
        let (mut anchors, dev_issuer) = if providers.is_empty() {
            let issuer = DevIssuer::load_or_create(data, DEV_ISSUER).map_err(Error::internal)?;
            (vec![issuer.auth_config()], Some(issuer))
        } else {
            (providers, None)
        };
        let service_key = match service_key {
            Some(path) => ServiceKey::from_file(path, service_issuer),
            None => ServiceKey::load_or_create(data, service_issuer),
        }
        .map_err(|e| Error::internal(format!("the service key: {e}")))?;
        anchors.push(service_key.anchor());
        anchors.extend(trusted_services);
        let verifier = Verifier::trusting(anchors)
            .await
            .map_err(|e| Error::internal(format!("token verification cannot start: {e}")))?;
        Ok(Identity {
            verifier,
            service_key,
            dev_issuer,
        })
    }

    /// As [`Identity::load`], with what `config` says.
    pub async fn configured(config: &Config, data: &Path) -> Result<Identity, Error> {
        let providers = config.auth.providers()?.unwrap_or_default();
        let trusted = config.auth.trusted_services()?;
        Identity::load(
            data,
            providers,
            config.service_key.as_deref(),
            &config.service_issuer,
            trusted,
        )
        .await
    }

    /// The `service` tokens `subject` (a part) presents to the parts it calls.
    pub fn tokens(&self, subject: &str) -> zhengqi_shared::events::TokenSource {
        service_tokens(self.service_key.signer(), subject)
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
    let seconds = |value: Option<f64>, default: Duration| {
        value
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(default, Duration::from_secs_f64)
    };
    let connection_defaults = ConnectionLimits::default();
    let connections = ConnectionLimits {
        max_per_peer: match limits.max_connections_per_peer {
            Some(0) => None,
            Some(max) => Some(max),
            None => connection_defaults.max_per_peer,
        },
        header_timeout: seconds(limits.header_timeout_s, connection_defaults.header_timeout),
        body_timeout: seconds(limits.body_timeout_s, connection_defaults.body_timeout),
        idle_timeout: seconds(limits.idle_timeout_s, connection_defaults.idle_timeout),
        first_message_timeout: seconds(
            limits.first_message_timeout_s,
            connection_defaults.first_message_timeout,
        ),
        max_waiting: limits
            .max_waiting
            .unwrap_or(connection_defaults.max_waiting),
        max_waiting_per_connection: limits
            .max_waiting_per_connection
            .unwrap_or(connection_defaults.max_waiting_per_connection),
        max_streams_per_connection: limits
            .max_streams_per_connection
            .unwrap_or(connection_defaults.max_streams_per_connection),
        max_header_bytes: limits
            .max_header_bytes
            .unwrap_or(connection_defaults.max_header_bytes),
        keepalive_interval: seconds(
            limits.keepalive_interval_s,
            connection_defaults.keepalive_interval,
        ),
        keepalive_timeout: seconds(
            limits.keepalive_timeout_s,
            connection_defaults.keepalive_timeout,
        ),
        max_pending_resets: limits
            .max_pending_resets
            .unwrap_or(connection_defaults.max_pending_resets),
        max_refusals_per_connection: limits
            .max_refusals_per_connection
            .unwrap_or(connection_defaults.max_refusals_per_connection),
        refused_peer_cooldown: match limits.refused_peer_cooldown_s {
            Some(0.0) => Duration::ZERO,
            cooldown => seconds(cooldown, connection_defaults.refused_peer_cooldown),
        },
    };
    // Unset: the gateway's default; 0: no limit.
    let rate_limit = match limits.rate_per_s {
        None => defaults.rate_limit.map(|limit| RateLimit {
            burst: limits.rate_burst.unwrap_or(limit.burst).max(1),
            ..limit
        }),
        Some(per_second) if per_second > 0.0 => Some(RateLimit {
            per_second,
            burst: limits
                .rate_burst
                .unwrap_or((per_second * 2.0).ceil() as u32)
                .max(1),
        }),
        Some(_) => None,
    };
    GatewaySettings {
        rate_limit,
        connections,
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
        reference: defaults.reference,
    }
}

/// One of the five services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Intake,
    Routing,
    Policy,
    Evaluation,
    Scoring,
}

impl Service {
    /// In the order they start: each after the parts whose logs it follows.
    pub const ALL: [Service; 5] = [
        Service::Intake,
        Service::Routing,
        Service::Policy,
        Service::Evaluation,
        Service::Scoring,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Service::Intake => "intake",
            Service::Routing => "routing",
            Service::Policy => "policy",
            Service::Evaluation => "evaluation",
            Service::Scoring => "scoring",
        }
    }
}

/// Where the logs a part follows are served: the parts started before it
/// under `up`, the configured addresses under `serve`.
#[derive(Debug, Clone, Default)]
pub struct Follows {
    pub intake: Option<String>,
    pub routing: Option<String>,
    pub policy: Option<String>,
    pub evaluation: Option<String>,
    /// Other deployments whose routing, evaluation and policy logs scoring follows.
    pub deployments: Vec<DeploymentSettings>,
}

impl Follows {
    /// The first replica of each service `urls` lists.
    pub fn configured(urls: &ServiceUrls, deployments: &[DeploymentSettings]) -> Follows {
        Follows {
            intake: followed(&urls.intake),
            routing: followed(&urls.routing),
            policy: followed(&urls.policy),
            evaluation: followed(&urls.evaluation),
            deployments: deployments.to_vec(),
        }
    }

    /// `part` now answers at `url`.
    fn started(&mut self, part: Service, url: String) {
        match part {
            Service::Intake => self.intake = Some(url),
            Service::Routing => self.routing = Some(url),
            Service::Policy => self.policy = Some(url),
            Service::Evaluation => self.evaluation = Some(url),
            Service::Scoring => {}
        }
    }
}

/// What every service of a deployment is built from, the same under `up` and
/// `serve`: who is trusted, the reference data, the logs it follows and each
/// service's own settings (their addresses and tokens filled in here).
pub struct Root<'a> {
    pub verifier: Verifier,
    pub identity: &'a Identity,
    pub reference: Arc<Reference>,
    pub follows: Follows,
    /// Intake's clock: an appeal's acceptance time, from which its time limit counts.
    pub intake_clock: Arc<zhengqi_shared::clock::Clock>,
    /// How long intake and routing keep contacts.
    pub personal_data: Retention,
    pub routing: zhengqi_routing::Settings,
    pub policy: zhengqi_policy::Settings,
    pub evaluation: zhengqi_evaluation::Settings,
    pub scoring: zhengqi_scoring::Settings,
}

impl Root<'_> {
    /// Binds `part` on `config`'s address and store; it runs once started.
    pub async fn build(
        &self,
        part: Service,
        config: &PartConfig,
        shutdown: &Shutdown,
    ) -> Result<Built, Error> {
        let verifier = self.verifier.clone();
        let reference = Arc::clone(&self.reference);
        let token = Some(self.identity.tokens(part.name()));
        let follows = &self.follows;
        Ok(match part {
            Service::Intake => Built::Intake(
                zhengqi_intake::build_with_clock(
                    config,
                    verifier,
                    reference,
                    Arc::clone(&self.intake_clock),
                    self.personal_data,
                    shutdown,
                )
                .await?,
            ),
            Service::Routing => {
                let settings = zhengqi_routing::Settings {
                    intake_url: follows.intake.clone(),
                    service_token: token,
                    retention: self.personal_data,
                    ..self.routing.clone()
                };
                Built::Routing(
                    zhengqi_routing::build(config, verifier, reference, settings, shutdown).await?,
                )
            }
            Service::Policy => {
                let settings = zhengqi_policy::Settings {
                    intake_url: follows.intake.clone(),
                    // Calendar years loaded through routing.
                    routing_url: follows.routing.clone(),
                    service_token: token,
                    ..self.policy.clone()
                };
                Built::Policy(
                    zhengqi_policy::build(config, verifier, reference, settings, shutdown).await?,
                )
            }
            Service::Evaluation => {
                let settings = zhengqi_evaluation::Settings {
                    routing_url: follows.routing.clone(),
                    service_token: token,
                    ..self.evaluation.clone()
                };
                Built::Evaluation(
                    zhengqi_evaluation::build(config, verifier, reference, settings, shutdown)
                        .await?,
                )
            }
            Service::Scoring => {
                let settings = zhengqi_scoring::Settings {
                    routing_url: follows.routing.clone(),
                    evaluation_url: follows.evaluation.clone(),
                    policy_url: follows.policy.clone(),
                    deployments: followed_deployments(&follows.deployments),
                    service_token: token,
                    ..self.scoring.clone()
                };
                Built::Scoring(
                    zhengqi_scoring::build(config, verifier, reference, settings, shutdown).await?,
                )
            }
        })
    }
}

/// A service bound and ready to run.
pub enum Built {
    Intake(zhengqi_intake::IntakeServer),
    Routing(zhengqi_routing::RoutingServer),
    Policy(zhengqi_policy::PolicyServer),
    Evaluation(zhengqi_evaluation::EvaluationServer),
    Scoring(zhengqi_scoring::ScoringServer),
}

impl Built {
    pub fn addr(&self) -> SocketAddr {
        match self {
            Built::Intake(part) => part.addr(),
            Built::Routing(part) => part.addr(),
            Built::Policy(part) => part.addr(),
            Built::Evaluation(part) => part.addr(),
            Built::Scoring(part) => part.addr(),
        }
    }

    /// Its whole stack, for the gateway to call in this process.
    pub fn in_process(&self) -> InProcess {
        match self {
            Built::Intake(part) => part.in_process(),
            Built::Routing(part) => part.in_process(),
            Built::Policy(part) => part.in_process(),
            Built::Evaluation(part) => part.in_process(),
            Built::Scoring(part) => part.in_process(),
        }
    }

    /// Serves until `shutdown`, finishing the calls in flight.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), Error> {
        match self {
            Built::Intake(part) => part.run_until_stopped(shutdown).await,
            Built::Routing(part) => part.run_until_stopped(shutdown).await,
            Built::Policy(part) => part.run_until_stopped(shutdown).await,
            Built::Evaluation(part) => part.run_until_stopped(shutdown).await,
            Built::Scoring(part) => part.run_until_stopped(shutdown).await,
        }
    }
}

/// The running suite.
pub struct Suite {
    pub gateway_addr: SocketAddr,
    /// Each service's own address, by part name.
    pub service_addrs: BTreeMap<&'static str, SocketAddr>,
    /// The development issuer, when the suite trusts it.
    pub dev_issuer: Option<DevIssuer>,
    /// The key the parts sign their calls to one another with.
    pub service_key: ServiceKey,
    /// The reference data every part runs on.
    pub reference: Arc<Reference>,
    shutdown: Shutdown,
    tasks: JoinSet<Result<(), Error>>,
}

/// Starts every part; returns once all are bound (they finish their migrations
/// in the background, health reporting NOT_SERVING until then). A reference
/// folder any part's parser refuses stops the start before anything is bound.
pub async fn start(options: SuiteOptions) -> Result<Suite, Error> {
    let reference = Arc::new(crate::reference::load(options.reference.as_deref())?);
    tracing::info!(reference = %reference.origin(), city = %reference.city(), "reference data");
    std::fs::create_dir_all(&options.data)
        .map_err(|e| Error::internal(format!("cannot create {}: {e}", options.data.display())))?;
    let identity = Identity::load(
        &options.data,
        options.providers.clone(),
        options.service_key.as_deref(),
        &options.service_issuer,
        options.trusted_services.clone(),
    )
    .await?;
    let verifier = identity.verifier.clone();
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

    // Each part follows the logs of those started before it, in this process.
    let mut root = Root {
        verifier: verifier.clone(),
        identity: &identity,
        reference: Arc::clone(&reference),
        follows: Follows {
            deployments: options.followed_deployments.clone(),
            ..Follows::default()
        },
        intake_clock: Arc::clone(&options.intake_clock),
        personal_data: options.personal_data,
        routing: options.routing.clone(),
        policy: options.policy.clone(),
        evaluation: options.evaluation.clone(),
        scoring: options.scoring.clone(),
    };
    for part in Service::ALL {
        let built = root
            .build(part, &part_config(part.name()), &shutdown)
            .await?;
        root.follows
            .started(part, format!("http://{}", built.addr()));
        running.run(part.name(), built);
    }

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
    settings.reference = Arc::clone(&reference);
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
        dev_issuer: identity.dev_issuer,
        service_key: identity.service_key,
        reference,
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
    fn run(&mut self, name: &'static str, part: Built) {
        self.addrs.insert(name, part.addr());
        self.stacks.insert(name, part.in_process());
        self.tasks
            .spawn(part.run_until_stopped(self.shutdown.clone()));
    }
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

//! Argument parsing and the commands; each calls the crates' seams.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use zhengqi_gateway::audit::{AuditSettings, AuditStore, record_json};
use zhengqi_shared::Error;
use zhengqi_shared::auth::{DevIssuer, Role, ServiceKey, TokenRequest};
use zhengqi_shared::config::{Config, PartConfig};
use zhengqi_shared::personal::Retention;
use zhengqi_shared::reference::Level;
use zhengqi_shared::shutdown::Shutdown;
use zhengqi_shared::storage::Store;

use crate::suite::{self, DEV_ISSUER, Follows, Root, Service, SuiteOptions};

#[derive(Debug, Parser)]
#[command(
    name = "zhengqi",
    version,
    about = "One network for business-environment appeals and tiered handling"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the whole suite in one process on SQLite files, the gateway in front.
    Up {
        /// The data folder (SQLite files, the development key); else the
        /// file's `data`, else `zhengqi-data`.
        #[arg(long, env = "ZHENGQI_DATA")]
        data: Option<PathBuf>,
        /// The gateway's address: gRPC and HTTP/JSON on one port; else the
        /// file's `listen`, else 127.0.0.1:8080.
        #[arg(long, env = "ZHENGQI_LISTEN")]
        listen: Option<SocketAddr>,
        /// A TOML file with the same keys as the ZHENGQI_* variables: the
        /// gateway's limits, CORS origins and audit, the identity provider,
        /// other deployments (`[[gateway.deployments]]`).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The city's reference folder (see `zhengqi reference`); else
        /// ZHENGQI_REFERENCE, else the file's `reference`, else the embedded
        /// set (Guangyuan's).
        #[arg(long)]
        reference: Option<PathBuf>,
    },
    /// Runs one part, for per-service deployments.
    Serve {
        part: Part,
        /// A TOML file with the same keys as the ZHENGQI_* variables.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The city's reference folder; else ZHENGQI_REFERENCE, else the
        /// file's `reference`, else the embedded set (Guangyuan's).
        #[arg(long)]
        reference: Option<PathBuf>,
    },
    /// The city's reference data: jurisdictions, departments, routing rules,
    /// meeting kinds, indicator model and calendar years, in one folder.
    Reference {
        #[command(subcommand)]
        action: ReferenceAction,
    },
    /// Prints one JWT signed with the development key of --data (a service
    /// token: with the service key, ZHENGQI_SERVICE_KEY or the one in --data),
    /// and nothing else.
    Token {
        /// A role; repeat for several (enterprise, handler, coordinator, leader,
        /// supervisor, evaluator, admin, service).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// GB/T 2260 code of the holder's jurisdiction, e.g. 510821.
        #[arg(long)]
        jurisdiction: Option<String>,
        /// The enterprise's unified social credit code (enterprise users).
        #[arg(long)]
        uscc: Option<String>,
        /// Department id (department staff).
        #[arg(long)]
        department: Option<String>,
        /// The holder's id (`sub`); made from the role and jurisdiction when omitted.
        #[arg(long)]
        sub: Option<String>,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Lifetime, e.g. 30m, 1h, 7d.
        #[arg(long, default_value = "1h", value_parser = parse_ttl)]
        ttl: Duration,
        #[arg(long, env = "ZHENGQI_DATA", default_value = "zhengqi-data")]
        data: PathBuf,
    },
    /// The configuration: `zhengqi config print [--config FILE]`.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Prints the public key of this deployment's service key as a JWKS, for
    /// another deployment to trust (`[[auth.services]]`): the key of
    /// ZHENGQI_SERVICE_KEY, else the one in --data (created when missing).
    ServiceJwks {
        #[arg(long, env = "ZHENGQI_DATA", default_value = "zhengqi-data")]
        data: PathBuf,
    },
    /// Prints the gateway's audit, newest first: who called which method, about
    /// which jurisdiction, with what outcome. Reads the audit store directly
    /// (ZHENGQI_GATEWAY_AUDIT_DATABASE_URL, else the one in the data folder).
    Audit {
        /// `verify`: check the audit's hash chain instead of printing it.
        #[command(subcommand)]
        command: Option<AuditCommand>,
        /// Only the calls of this subject.
        #[arg(long)]
        sub: Option<String>,
        /// Only calls of this method (`/zhengqi.intake.v1.IntakeService/SubmitAppeal`).
        #[arg(long)]
        method: Option<String>,
        /// Only calls at or after this time (RFC 3339, e.g. 2026-11-27T08:00:00+08:00).
        #[arg(long)]
        since: Option<String>,
        /// Only calls before this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// At most this many entries.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// One JSON object a line instead of a table.
        #[arg(long)]
        json: bool,
        #[arg(long, env = "ZHENGQI_DATA", default_value = "zhengqi-data")]
        data: PathBuf,
    },
    /// The working-day calendar of a running deployment.
    Calendar {
        #[command(subcommand)]
        command: CalendarCommand,
    },
    /// Runs a part's migrations.
    Migrate {
        part: Part,
        #[arg(long, env = "ZHENGQI_DATABASE_URL")]
        database_url: String,
        /// PostgreSQL schema of the part (created if missing).
        #[arg(long, env = "ZHENGQI_DATABASE_SCHEMA")]
        schema: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Prints the effective configuration (defaults, then FILE, then the
    /// ZHENGQI_* variables) as TOML, secrets and passwords redacted; a bad key
    /// or value is named instead.
    Print {
        /// A TOML file with the same keys as the ZHENGQI_* variables.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ReferenceAction {
    /// Checks a folder with the parsers the parts run at start: prints what it
    /// holds, or every problem as `file:line: field: why` (and fails).
    Check { folder: PathBuf },
    /// Writes the embedded set (Guangyuan's) into a new folder, as a starting point.
    Export { folder: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Checks the audit's hash chain: names the first row deleted or altered,
    /// and exits with 1 when one is.
    Verify,
}

#[derive(Debug, Subcommand)]
enum CalendarCommand {
    /// Loads one year's State Council holiday notice (a TOML file in the format
    /// of services/shared/data/calendar/2026.toml) through the gateway's
    /// PutCalendarYear; provisional deadlines are counted again on it.
    Load {
        file: PathBuf,
        /// The gateway.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        address: String,
        /// An admin's token; else one is minted with the development key of --data.
        #[arg(long, env = "ZHENGQI_TOKEN", hide_env_values = true)]
        token: Option<String>,
        #[arg(long, env = "ZHENGQI_DATA", default_value = "zhengqi-data")]
        data: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    Intake,
    Routing,
    Policy,
    Evaluation,
    Scoring,
    Gateway,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Intake => "intake",
            Part::Routing => "routing",
            Part::Policy => "policy",
            Part::Evaluation => "evaluation",
            Part::Scoring => "scoring",
            Part::Gateway => "gateway",
        }
    }

    /// The port a part listens on when ZHENGQI_LISTEN is unset.
    fn default_port(self) -> u16 {
        match self {
            Part::Gateway => 8080,
            Part::Intake => 50051,
            Part::Routing => 50052,
            Part::Policy => 50053,
            Part::Evaluation => 50054,
            Part::Scoring => 50055,
        }
    }
}

/// Where the audit is: the configured database, else the data folder's file.
fn audit_settings(data: &Path) -> Result<AuditSettings, Error> {
    let config = Config::load(None)?;
    Ok(match &config.gateway.audit_database_url {
        Some(url) => AuditSettings {
            schema: config.gateway.audit_database_schema.clone(),
            ..AuditSettings::new(url.clone())
        },
        None => {
            let file = data.join("gateway-audit.db");
            if !file.exists() {
                return Err(Error::NotFound(format!(
                    "no audit at {}: no gateway has run with this data folder \
                     (set --data, or ZHENGQI_GATEWAY_AUDIT_DATABASE_URL)",
                    file.display()
                )));
            }
            AuditSettings::new(suite::sqlite_url(data, "gateway-audit"))
        }
    })
}

/// `zhengqi audit`: pages through the audit store until `limit` entries.
async fn print_audit(
    data: &Path,
    mut query: zhengqi_gateway::audit::AuditQuery,
    limit: usize,
    json: bool,
) -> Result<(), Error> {
    let store = AuditStore::open(&audit_settings(data)?).await?;
    if !json {
        println!(
            "{:<32} {:<28} {:<22} {:<7} {:<52} {:<7} {:<18} {:>10}",
            "time", "sub", "roles", "juris.", "method", "target", "status", "latency ms"
        );
    }
    let mut printed = 0;
    while printed < limit {
        query.page_size = Some(u32::try_from((limit - printed).min(1000)).unwrap_or(1000));
        let (records, next) = store.list(&query, None).await?;
        for record in &records {
            let entry = record_json(record);
            if json {
                println!("{entry}");
            } else {
                let text = |key: &str| entry[key].as_str().unwrap_or_default().to_owned();
                let roles = entry["roles"]
                    .as_array()
                    .map(|roles| {
                        roles
                            .iter()
                            .filter_map(|r| r.as_str())
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                println!(
                    "{:<32} {:<28} {:<22} {:<7} {:<52} {:<7} {:<18} {:>10.3}",
                    text("time"),
                    text("sub"),
                    roles,
                    text("jurisdiction"),
                    text("method"),
                    text("targetJurisdiction"),
                    text("status"),
                    entry["latencyMs"].as_f64().unwrap_or_default(),
                );
            }
        }
        printed += records.len();
        if next.is_empty() || records.is_empty() {
            break;
        }
        query.page_token = Some(next);
    }
    Ok(())
}

/// The deployment's service key: `ZHENGQI_SERVICE_KEY` (issuer
/// `ZHENGQI_SERVICE_ISSUER`), else the one kept in `data`.
fn service_key(data: &Path) -> Result<ServiceKey, Error> {
    let config = Config::load(None)?;
    match &config.service_key {
        Some(path) => ServiceKey::from_file(path, &config.service_issuer),
        None => ServiceKey::load_or_create(data, &config.service_issuer),
    }
    .map_err(Error::internal)
}

/// `30s`, `15m`, `1h`, `7d`.
fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let amount: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30m, 1h or 7d"))?;
    let seconds = match unit {
        "s" | "" => amount,
        "m" => amount * 60,
        "h" => amount * 3600,
        "d" => amount * 86_400,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {text:?}: use s, m, h or d"
            ));
        }
    };
    if seconds == 0 {
        return Err("the lifetime must be longer than zero".to_owned());
    }
    Ok(Duration::from_secs(seconds))
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("zhengqi: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("zhengqi: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), Error> {
    match command {
        Command::Up {
            data,
            listen,
            config,
            reference,
        } => up(data, listen, config.as_deref(), reference).await,
        Command::Serve {
            part,
            config,
            reference,
        } => serve(part, config.as_deref(), reference).await,
        Command::Reference {
            action: ReferenceAction::Check { folder },
        } => {
            let checked = crate::reference::check(Some(&folder)).map_err(|errors| {
                Error::FailedPrecondition(format!("{} is refused:\n{errors}", folder.display()))
            })?;
            for line in crate::reference::describe(&checked) {
                println!("{line}");
            }
            Ok(())
        }
        Command::Reference {
            action: ReferenceAction::Export { folder },
        } => {
            for file in crate::reference::export(&folder)? {
                println!("{}", file.display());
            }
            eprintln!(
                "the embedded reference data is in {}: edit it, check it with \
                 `zhengqi reference check {}`, run with --reference {}",
                folder.display(),
                folder.display(),
                folder.display()
            );
            Ok(())
        }
        Command::Token {
            roles,
            jurisdiction,
            uscc,
            department,
            sub,
            name,
            ttl,
            data,
        } => {
            let roles = roles
                .iter()
                .map(|r| {
                    r.parse::<Role>()
                        .map_err(|_| Error::invalid("role", format!("unknown role {r:?}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let sub = sub.unwrap_or_else(|| {
                let who = uscc
                    .as_deref()
                    .or(jurisdiction.as_deref())
                    .unwrap_or("suite");
                format!("{}@{who}", roles[0].as_str())
            });
            let request = TokenRequest {
                sub,
                roles,
                jurisdiction,
                department,
                uscc,
                name,
                audience: None,
                ttl,
            };
            // The service role comes from the deployment's service key alone,
            // and that key grants nothing else.
            let token = if request.roles.contains(&Role::Service) {
                if request.roles.len() > 1 {
                    return Err(Error::invalid(
                        "role",
                        "a service token names the service role alone",
                    ));
                }
                service_key(&data)?.signer().mint(&request)
            } else {
                DevIssuer::load_or_create(&data, DEV_ISSUER)
                    .map_err(Error::internal)?
                    .mint(&request)
            }
            .map_err(Error::internal)?;
            println!("{token}");
            Ok(())
        }
        Command::Config(ConfigCommand::Print { config }) => {
            let config = Config::load(config.as_deref())?;
            // The identity providers and trusted keys are checked as a part would.
            config.auth.providers()?;
            config.auth.trusted_services()?;
            print!("{}", config.to_toml());
            Ok(())
        }
        Command::ServiceJwks { data } => {
            let key = service_key(&data)?;
            print!("{}", key.signer().jwks_json());
            Ok(())
        }
        Command::Audit {
            command: Some(AuditCommand::Verify),
            data,
            ..
        } => {
            let store = AuditStore::open(&audit_settings(&data)?).await?;
            let verification = store.verify().await?;
            println!("{}", verification.describe());
            if verification.broken.is_some() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Audit {
            command: None,
            sub,
            method,
            since,
            until,
            limit,
            json,
            data,
        } => {
            let query = zhengqi_gateway::audit::AuditQuery {
                sub,
                method,
                jurisdiction_code: None,
                since,
                until,
                page_size: None,
                page_token: None,
            };
            print_audit(&data, query, limit, json).await
        }
        Command::Calendar {
            command:
                CalendarCommand::Load {
                    file,
                    address,
                    token,
                    data,
                },
        } => load_calendar(&file, &address, token, &data).await,
        Command::Migrate {
            part,
            database_url,
            schema,
        } => {
            let store = Store::connect(&database_url, schema.as_deref()).await?;
            match part {
                Part::Intake => store.migrate(&zhengqi_intake::MIGRATIONS).await?,
                Part::Routing => store.migrate(&zhengqi_routing::MIGRATIONS).await?,
                Part::Policy => store.migrate(&zhengqi_policy::MIGRATIONS).await?,
                Part::Evaluation => store.migrate(&zhengqi_evaluation::MIGRATIONS).await?,
                Part::Scoring => store.migrate(&zhengqi_scoring::MIGRATIONS).await?,
                // The gateway's database is its audit store.
                Part::Gateway => store.migrate(&zhengqi_gateway::audit::MIGRATIONS).await?,
            }
            store.close().await;
            eprintln!("{}: migrations are up to date", part.name());
            Ok(())
        }
    }
}

/// `zhengqi calendar load FILE`: checks the file here (naming its line and
/// field), then loads it through the gateway as an admin.
async fn load_calendar(
    file: &Path,
    address: &str,
    token: Option<String>,
    data: &Path,
) -> Result<(), Error> {
    use zhengqi_proto::zhengqi::routing::v1 as routing;
    let content = std::fs::read_to_string(file).map_err(|e| {
        Error::FailedPrecondition(format!("无法读取日历文件 {}：{e}", file.display()))
    })?;
    let (year, _) = zhengqi_shared::reference::Calendar::check_year_toml(&content)
        .map_err(|e| Error::FailedPrecondition(format!("日历文件 {} 有误：{e}", file.display())))?;
    let token = match token.filter(|t| !t.trim().is_empty()) {
        Some(token) => token,
        None => {
            let issuer = DevIssuer::load_or_create(data, DEV_ISSUER).map_err(Error::internal)?;
            // An admin of the city the deployment's reference data names.
            let reference = crate::reference::load(Config::load(None)?.reference.as_deref())?;
            let city = reference.city().as_str().to_owned();
            issuer
                .mint(&TokenRequest {
                    jurisdiction: Some(city.clone()),
                    ttl: Duration::from_secs(300),
                    ..TokenRequest::new(format!("admin@{city}"), vec![Role::Admin])
                })
                .map_err(Error::internal)?
        }
    };
    let channel = tonic::transport::Endpoint::from_shared(address.to_owned())
        .map_err(|e| Error::FailedPrecondition(format!("网关地址 {address} 无效：{e}")))?
        .connect()
        .await
        .map_err(|e| Error::Unavailable(format!("无法连接网关 {address}：{e}")))?;
    let mut client = routing::case_service_client::CaseServiceClient::new(channel);
    let mut request = tonic::Request::new(routing::PutCalendarYearRequest {
        content,
        request_id: String::new(),
    });
    let bearer = format!("Bearer {token}")
        .parse()
        .map_err(|_| Error::FailedPrecondition("令牌含有无法放入请求头的字符".to_owned()))?;
    request.metadata_mut().insert("authorization", bearer);
    let answer = client
        .put_calendar_year(request)
        .await
        .map_err(|status| {
            Error::FailedPrecondition(format!(
                "载入{year}年工作日历失败（{:?}）：{}",
                status.code(),
                status.message()
            ))
        })?
        .into_inner();
    let source = answer
        .calendar_year
        .map(|y| y.source)
        .filter(|s| !s.is_empty())
        .map(|s| format!("（{s}）"))
        .unwrap_or_default();
    println!(
        "已载入{year}年工作日历{source}；按其重算了{}件案件的办理时限",
        answer.recounted_cases
    );
    Ok(())
}

/// Where `up` listens when neither `--listen` nor the file says.
const UP_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

async fn up(
    data: Option<PathBuf>,
    listen: Option<SocketAddr>,
    file: Option<&Path>,
    reference: Option<PathBuf>,
) -> Result<(), Error> {
    let config = Config::load(file)?;
    let data = data.unwrap_or_else(|| config.data.clone());
    let listen = listen.or(config.listen).unwrap_or(UP_LISTEN);
    zhengqi_shared::server::init_tracing(config.log.as_deref());
    let mut options = SuiteOptions::new(&data, listen);
    options.reference = reference.or_else(|| config.reference.clone());
    options.providers = config.auth.providers()?.unwrap_or_default();
    options.service_key = config.service_key.clone();
    options.service_issuer = config.service_issuer.clone();
    options.trusted_services = config.auth.trusted_services()?;
    options.batch_max = config.batch_max;
    options.timeout = config.upstreams.timeout;
    options.gateway = config.gateway.clone();
    // The city's scoring follows every deployment its gateway routes to.
    options.followed_deployments = config.gateway.deployments.clone();
    options.routing.supervision = zhengqi_routing::SupervisionSettings::configured(&config.routing);
    options.personal_data = Retention::configured(config.personal_data_years);
    options.evaluation = options.evaluation.configured(&config.evaluation);
    let suite = suite::start(options).await?;
    suite.shutdown().on_signals();
    let addr = suite.gateway_addr;
    println!("zhengqi is up: gRPC and HTTP/JSON at http://{addr}");
    println!("the city portal: http://{addr}/");
    if suite.dev_issuer.is_some() {
        let exe = std::env::args().next().unwrap_or_else(|| "zhengqi".into());
        // A county of the city the suite runs for, else a district, else the city.
        let directory = &suite.reference.directory;
        let city = suite.reference.city();
        let below: Vec<_> = directory
            .descendants(city)
            .into_iter()
            .filter(|code| *code != city)
            .collect();
        let county = below
            .iter()
            .find(|code| directory.get(code).map(|j| j.level()) == Some(Level::County))
            .or(below.first())
            .copied()
            .unwrap_or(city);
        println!(
            "development tokens: {exe} token --data {} --role enterprise --jurisdiction {county} --uscc 91350200776049653A",
            data.display()
        );
    }
    println!("stop with Ctrl-C");
    suite.wait().await
}

async fn serve(part: Part, file: Option<&Path>, reference: Option<PathBuf>) -> Result<(), Error> {
    let config = Config::load(file)?;
    zhengqi_shared::server::init_tracing(config.log.as_deref());
    let reference = Arc::new(crate::reference::load(
        reference.or_else(|| config.reference.clone()).as_deref(),
    )?);
    let identity = suite::Identity::configured(&config, &config.data).await?;
    let verifier = identity.verifier.clone();
    let listen = config
        .listen
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], part.default_port())));
    let shutdown = Shutdown::new();
    shutdown.on_signals();
    if part == Part::Gateway {
        let upstreams = suite::service_upstreams(&config.upstreams.services());
        let audit = zhengqi_gateway::audit::AuditSettings::new(suite::sqlite_url(
            &config.data,
            "gateway-audit",
        ));
        let gateway = zhengqi_gateway::build_with(
            &zhengqi_gateway::GatewayConfig {
                listen,
                upstreams,
                timeout: config.upstreams.timeout,
            },
            &zhengqi_gateway::GatewaySettings {
                reference,
                ..suite::gateway_settings(&config.gateway, Some(audit))
            },
            verifier,
        )
        .await?;
        return gateway.run_until_stopped(shutdown).await;
    }
    let service = match part {
        Part::Intake => Service::Intake,
        Part::Routing => Service::Routing,
        Part::Policy => Service::Policy,
        Part::Evaluation => Service::Evaluation,
        Part::Scoring => Service::Scoring,
        Part::Gateway => unreachable!("handled above"),
    };
    let part_config = PartConfig {
        listen,
        ops_listen: config.ops_listen,
        database_url: config.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                config.data.join(format!("{}.db", part.name())).display()
            )
        }),
        database_schema: config.database_schema.clone(),
        batch_max: config.batch_max,
    };
    let root = Root {
        verifier,
        identity: &identity,
        reference,
        // The logs it follows, at the configured addresses; the city's scoring
        // also follows every other deployment the gateway routes to.
        follows: Follows::configured(&config.upstreams.services(), &config.gateway.deployments),
        intake_clock: Arc::default(),
        personal_data: Retention::configured(config.personal_data_years),
        routing: zhengqi_routing::Settings {
            supervision: zhengqi_routing::SupervisionSettings::configured(&config.routing),
            ..zhengqi_routing::Settings::default()
        },
        policy: zhengqi_policy::Settings::default(),
        evaluation: zhengqi_evaluation::Settings::default().configured(&config.evaluation),
        scoring: zhengqi_scoring::Settings::default(),
    };
    root.build(service, &part_config, &shutdown)
        .await?
        .run_until_stopped(shutdown)
        .await
}

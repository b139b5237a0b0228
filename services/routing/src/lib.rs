//! Routing: tiered county/city handling of cases (分级办理), the hash-chained
//! ledger (台账), supervision on the working-day calendar (督办), consultation
//! meetings (会商) and butlers (项目管家).
//!
//! Routing follows intake's event log with the shared consumer: every appeal
//! that is not a duplicate becomes one case, placed by the routing rules
//! (the reference folder's `routing_rules.toml`, seeded at start and editable
//! through the API) at a department of the reference departments, with a
//! deadline in working days. A background
//! sweep supervises the deadlines. Every change of a case is a ledger entry,
//! hash-chained per jurisdiction, and an event of routing's own log.
//!
//! - `domain/`: the rules — state machine and who may act, deadlines, ledger
//!   chain, routing, meetings, the ledger sheet — with no I/O;
//! - `convert`: protobuf ↔ domain; `api`: the tonic service; `store`: sqlx;
//! - `intake_events`: intake's events applied; `sweep`: supervision (督办);
//!   `export`: the xlsx and csv files.
#![forbid(unsafe_code)]

pub mod api;
pub mod convert;
pub mod domain;
pub mod export;
pub mod intake_events;
pub mod store;
pub mod sweep;

use std::sync::Arc;
use std::time::Duration;

use zhengqi_proto::zhengqi::routing::v1::case_service_server::CaseServiceServer;
use zhengqi_shared::Error;
use zhengqi_shared::auth::Verifier;
use zhengqi_shared::config::PartConfig;
use zhengqi_shared::events::{Consumer, EventLog, TokenSource};
use zhengqi_shared::personal::{self, Retention};
use zhengqi_shared::reference::{Calendar, Directory, JurisdictionCode, Reference, SharedCalendar};
use zhengqi_shared::server::{Host, Part};
use zhengqi_shared::shutdown::Shutdown;
use zhengqi_shared::storage::{Migrations, Store};

use crate::domain::machine::Context;
use crate::domain::meeting::MeetingKinds;
use crate::domain::rules::{self, Departments};

/// Routing's schema: `migrations/`, and per backend where the DDL differs.
pub static MIGRATIONS: Migrations = Migrations {
    common: sqlx::migrate!("./migrations"),
    sqlite: None,
    postgres: None,
};

/// The routing service, bound and connected, ready to run.
pub type RoutingServer = Part<CaseServiceServer<api::RoutingApi>>;

pub use zhengqi_shared::clock::Clock;

/// Deadline supervision (督办) settings.
#[derive(Debug, Clone)]
pub struct SupervisionSettings {
    /// The share of the working-day time limit used at which a case turns YELLOW.
    pub yellow_ratio: f64,
    /// A county case overdue by this many working days goes to the city.
    pub escalate_after_working_days: u32,
    /// How often the sweep looks at the open cases.
    pub sweep_interval: Duration,
}

impl Default for SupervisionSettings {
    fn default() -> Self {
        Self {
            yellow_ratio: 0.8,
            escalate_after_working_days: 2,
            sweep_interval: Duration::from_secs(60),
        }
    }
}

impl SupervisionSettings {
    /// The defaults, changed by what the configuration sets (`[routing]`,
    /// `ZHENGQI_ROUTING_*`; the configuration has checked the ranges).
    pub fn configured(limits: &zhengqi_shared::config::RoutingLimits) -> Self {
        let defaults = Self::default();
        Self {
            yellow_ratio: limits.yellow_ratio.unwrap_or(defaults.yellow_ratio),
            escalate_after_working_days: limits
                .escalate_after_days
                .unwrap_or(defaults.escalate_after_working_days),
            sweep_interval: limits
                .sweep_interval_s
                .map_or(defaults.sweep_interval, Duration::from_secs_f64),
        }
    }
}

/// What routing needs beyond a part's listen address and store.
#[derive(Clone, Default)]
pub struct Settings {
    /// Intake's address (`http://host:port`), whose events open cases; no
    /// consumer runs without it.
    pub intake_url: Option<String>,
    /// The `service` tokens routing presents to intake.
    pub service_token: Option<TokenSource>,
    pub clock: Arc<Clock>,
    pub supervision: SupervisionSettings,
    /// How long a closed case keeps its contact.
    pub retention: Retention,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("intake_url", &self.intake_url)
            .field("service_token", &self.service_token.as_ref().map(|_| "…"))
            .field("clock", &self.clock)
            .field("supervision", &self.supervision)
            .field("retention", &self.retention)
            .finish()
    }
}

/// What the API, the consumer and the sweep share.
pub struct Core {
    pub store: store::RoutingStore,
    pub directory: Arc<Directory>,
    pub departments: Departments,
    /// The consultation meetings the city holds.
    pub meetings: MeetingKinds,
    /// The reference folder's years and those loaded since
    /// (`PutCalendarYear`), seen at once by the API, the consumer and the sweep.
    pub calendar: SharedCalendar,
    /// The latest `load_time` of the stored years this replica has loaded.
    calendar_loaded_until: std::sync::atomic::AtomicI64,
    pub clock: Arc<Clock>,
    pub supervision: SupervisionSettings,
    /// The city's code: the root of the directory.
    pub city: String,
    /// The enabled routing rules as last read, and when.
    rules: std::sync::Mutex<Option<(std::time::Instant, Arc<Vec<rules::Rule>>)>>,
}

/// How long the routing rules read for new cases are reused; a rule changed on
/// another replica routes new cases within this time, on this one at once.
const RULES_TTL: Duration = Duration::from_secs(1);

impl Core {
    /// The enabled routing rules, read at most once per `RULES_TTL`.
    pub async fn enabled_rules(
        &self,
        conn: &mut sqlx::AnyConnection,
    ) -> Result<Arc<Vec<rules::Rule>>, Error> {
        if let Some((read, rules)) = self
            .rules
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            && read.elapsed() < RULES_TTL
        {
            return Ok(Arc::clone(rules));
        }
        let rules = Arc::new(store::RoutingStore::enabled_rules(conn).await?);
        *self.rules.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((std::time::Instant::now(), Arc::clone(&rules)));
        Ok(rules)
    }

    /// Forgets the cached rules after a change.
    pub fn rules_changed(&self) {
        *self.rules.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The rules' view of the moment `now`, on `calendar` (a snapshot of
    /// `self.calendar`).
    pub fn context<'a>(&'a self, now: i64, calendar: &'a Calendar) -> Context<'a> {
        Context {
            now,
            calendar,
            departments: &self.departments,
            city: &self.city,
        }
    }

    /// `code` and every jurisdiction above it, nearest first.
    pub fn ancestry(&self, code: &str) -> Vec<String> {
        let chain = JurisdictionCode::parse(code)
            .map(|code| self.directory.ancestors(&code))
            .unwrap_or_default();
        if chain.is_empty() {
            return vec![code.to_owned()];
        }
        chain.iter().map(|c| c.as_str().to_owned()).collect()
    }
}

/// Binds the listeners and connects the store; the consumer of intake's events
/// starts once the migrations have run. Refused when routing's files of
/// `reference` are (each problem named by file, line and field).
pub async fn build(
    config: &PartConfig,
    verifier: Verifier,
    reference: Arc<Reference>,
    settings: Settings,
    shutdown: &Shutdown,
) -> Result<RoutingServer, Error> {
    let own = domain::reference::load(&reference).map_err(|errors| {
        Error::FailedPrecondition(format!(
            "the reference data of {} is refused:\n{}",
            reference.origin(),
            zhengqi_shared::reference::ReferenceErrors(errors)
        ))
    })?;
    let host = Host::bind("routing", config.listen, config.ops_listen).await?;
    let store = Store::connect(&config.database_url, config.database_schema.as_deref()).await?;
    let events = EventLog::new(store.clone());
    let city = reference.city().as_str().to_owned();
    let core = Arc::new(Core {
        store: store::RoutingStore::new(store.clone(), Arc::clone(&events)),
        directory: Arc::clone(&reference.directory),
        departments: own.departments,
        meetings: own.meetings,
        calendar: SharedCalendar::new(reference.calendar.clone()),
        calendar_loaded_until: std::sync::atomic::AtomicI64::new(i64::MIN),
        clock: Arc::clone(&settings.clock),
        supervision: settings.supervision.clone(),
        city,
        rules: std::sync::Mutex::new(None),
    });
    let seeds = own.rules;
    let retention = settings.retention;
    let service = CaseServiceServer::new(api::RoutingApi::new(Arc::clone(&core)));
    let part = Part::new(host, store.clone(), service, verifier, Some(&MIGRATIONS))?
        .with_event_log(events);
    if settings.intake_url.is_none() {
        tracing::warn!("no intake address (ZHENGQI_INTAKE_URL): routing will open no cases");
    }
    let consumer = settings.intake_url.map(|endpoint| Consumer {
        source: "intake".to_owned(),
        endpoint,
        method: "/zhengqi.intake.v1.IntakeService/WatchEvents",
        types: intake_events::types(),
        store,
        handler: intake_events::IntakeEvents::new(Arc::clone(&core)),
        token: settings.service_token,
    });
    Ok(part.with_background(
        move |shutdown| {
            Box::pin(async move {
                // The seeded rules are in place before the first case is routed.
                if let Err(error) = core.store.seed_rules(&seeds, core.clock.now()).await {
                    tracing::error!(%error, "routing rules could not be seeded");
                }
                core.rules_changed();
                // The years operators loaded, before the first deadline is counted.
                if let Err(error) = load_calendar(&core).await {
                    tracing::error!(%error, "the loaded calendar years could not be read");
                }
                let sweep = tokio::spawn(sweep::run(Arc::clone(&core), shutdown.clone()));
                let erasure = tokio::spawn(personal::keep_erasing(
                    "routing",
                    retention,
                    shutdown.clone(),
                    {
                        let core = Arc::clone(&core);
                        move || {
                            let core = Arc::clone(&core);
                            async move {
                                match retention.cutoff(core.clock.now()) {
                                    Some(cutoff) => {
                                        core.store
                                            .erase_personal_data(cutoff, core.clock.now())
                                            .await
                                    }
                                    None => Ok(0),
                                }
                            }
                        }
                    },
                ));
                if let Some(consumer) = consumer {
                    consumer.run(shutdown).await;
                }
                let _ = sweep.await;
                let _ = erasure.await;
            })
        },
        shutdown,
    ))
}

/// Loads the years operators loaded on top of the embedded ones, gives every
/// unfinished case whose deadline is missing or provisional the deadline this
/// calendar counts, and reports the days left.
pub async fn load_calendar(core: &Core) -> Result<(), Error> {
    load_stored_years(core).await?;
    let now = core.clock.now();
    let changed = core
        .store
        .recount_deadlines(&core.calendar.current(), None, now)
        .await?;
    if changed > 0 {
        tracing::info!(changed, "deadlines counted again on the loaded calendar");
    }
    core.calendar.report_days_left("routing", now);
    Ok(())
}

/// Loads the stored years loaded since this replica last looked (by it, or
/// by another replica of routing); returns whether there were any.
pub async fn load_stored_years(core: &Core) -> Result<bool, Error> {
    use std::sync::atomic::Ordering;
    let seen = core.calendar_loaded_until.load(Ordering::Relaxed);
    let mut newest = seen;
    for year in core.store.calendar_years().await? {
        if year.load_time <= seen {
            continue;
        }
        newest = newest.max(year.load_time);
        if let Err(error) = core.calendar.load_year_toml(&year.content) {
            tracing::error!(year = year.year, %error, "a stored calendar year does not load");
        }
    }
    core.calendar_loaded_until
        .fetch_max(newest, Ordering::Relaxed);
    Ok(newest > seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supervision_settings_come_from_the_configuration() {
        let config = zhengqi_shared::config::Config::load_with(None, |name| {
            match name {
                "ZHENGQI_ROUTING_YELLOW_RATIO" => Some("0.75"),
                "ZHENGQI_ROUTING_ESCALATE_AFTER_DAYS" => Some("3"),
                "ZHENGQI_ROUTING_SWEEP_INTERVAL_S" => Some("0.5"),
                _ => None,
            }
            .map(str::to_owned)
        })
        .unwrap();
        let settings = SupervisionSettings::configured(&config.routing);
        assert_eq!(settings.yellow_ratio, 0.75);
        assert_eq!(settings.escalate_after_working_days, 3);
        assert_eq!(settings.sweep_interval, Duration::from_millis(500));
        let defaults = SupervisionSettings::configured(&Default::default());
        assert_eq!(defaults.yellow_ratio, 0.8);
        assert_eq!(defaults.escalate_after_working_days, 2);
    }
}

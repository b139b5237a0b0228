//! Evaluation: 好差评 reviews and their rectification, third-party assessments, and government's record of enterprises (政企互评).
//!
//! Evaluation follows routing's event log with the shared consumer: a resolved
//! case invites its enterprise to rate the department (待评价). A bad review
//! opens a rectification due in working days (核实 → 整改 → 回访). Campaigns
//! (百企评) collect enterprises' answers; third parties assess communication;
//! government records violations (首违不罚, 再犯重罚), proposes suspensions a
//! city leader decides, and keeps red and black lists.
//!
//! - `domain/`: the rules, with no I/O; `convert`: protobuf ↔ domain;
//! - `api`: the tonic service; `store`: sqlx; `routing_events`: routing's
//!   events applied; `reopen`: cases reopened after valid bad reviews.
#![forbid(unsafe_code)]

pub mod api;
pub mod convert;
pub mod domain;
pub mod reopen;
pub mod routing_events;
pub mod store;

use std::sync::Arc;

use zhengqi_proto::zhengqi::evaluation::v1::evaluation_service_server::EvaluationServiceServer;
use zhengqi_shared::Error;
use zhengqi_shared::auth::Verifier;
use zhengqi_shared::calendar_years::CalendarYears;
use zhengqi_shared::clock::Clock;
use zhengqi_shared::config::PartConfig;
use zhengqi_shared::events::{Consumer, EventLog, TokenSource};
use zhengqi_shared::reference::{Calendar, Directory, JurisdictionCode, Reference, SharedCalendar};
use zhengqi_shared::server::{Host, Part};
use zhengqi_shared::shutdown::Shutdown;
use zhengqi_shared::storage::{Migrations, Store};

/// Evaluation's schema: `migrations/`, and per backend where the DDL differs.
pub static MIGRATIONS: Migrations = Migrations {
    common: sqlx::migrate!("./migrations"),
    sqlite: None,
    postgres: None,
};

/// The evaluation service, bound and connected, ready to run.
pub type EvaluationServer = Part<EvaluationServiceServer<api::EvaluationApi>>;

/// What evaluation needs beyond a part's listen address and store.
#[derive(Clone)]
pub struct Settings {
    /// Routing's address (`http://host:port`), whose resolved cases invite the enterprise to rate them.
    pub routing_url: Option<String>,
    /// The `service` tokens evaluation presents to the services it follows.
    pub service_token: Option<TokenSource>,
    pub clock: Arc<Clock>,
    /// Working days a department has to rectify a bad review (15 in Sichuan practice).
    pub rectification_working_days: u32,
    /// Years back in which an earlier violation makes a new one a repeat (再犯重罚).
    pub repeat_window_years: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            routing_url: None,
            service_token: None,
            clock: Arc::default(),
            rectification_working_days: 15,
            repeat_window_years: 2,
        }
    }
}

impl Settings {
    /// These settings with the time limits the configuration sets
    /// (`[evaluation]`, `ZHENGQI_EVALUATION_*`; the configuration has checked
    /// the ranges), so a deploying city may change them without a new build.
    pub fn configured(mut self, limits: &zhengqi_shared::config::EvaluationLimits) -> Self {
        if let Some(days) = limits.rectification_days {
            self.rectification_working_days = days;
        }
        if let Some(years) = limits.repeat_window_years {
            self.repeat_window_years = years;
        }
        self
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("routing_url", &self.routing_url)
            .field("service_token", &self.service_token.as_ref().map(|_| "…"))
            .field("clock", &self.clock)
            .field(
                "rectification_working_days",
                &self.rectification_working_days,
            )
            .field("repeat_window_years", &self.repeat_window_years)
            .finish()
    }
}

/// What the API and the consumer share.
pub struct Core {
    pub store: store::EvaluationStore,
    pub directory: Arc<Directory>,
    /// The keys of the departments every jurisdiction has (`departments.toml`):
    /// a department id names one of them.
    pub department_keys: Vec<String>,
    /// The embedded years and those loaded through routing, seen at once by
    /// the API and the consumer.
    pub calendar: SharedCalendar,
    /// Keeps the years loaded through routing.
    pub calendar_years: CalendarYears,
    pub clock: Arc<Clock>,
    pub rectification_working_days: u32,
    pub repeat_window_years: u32,
    /// The city's code: the root of the directory.
    pub city: String,
    /// Wakes the task that asks routing to reopen cases.
    pub reopen_wake: tokio::sync::Notify,
}

impl Core {
    /// Counts every provisional due time of an open rectification again on
    /// `calendar`, each change with a `RectificationDueRecounted` event, in the
    /// caller's transaction; returns how many changed.
    pub async fn recount_due_times(
        &self,
        conn: &mut sqlx::AnyConnection,
        calendar: &Calendar,
        now: i64,
    ) -> Result<usize, Error> {
        let mut changed = 0;
        for mut rectification in store::provisional_rectifications(conn).await? {
            let expected = rectification.version;
            let Some(before) = domain::review::recount_due(&mut rectification, calendar) else {
                continue;
            };
            rectification.version += 1;
            rectification.update_time = now;
            store::update_due(conn, &rectification, expected).await?;
            self.store
                .events()
                .append(
                    conn,
                    &rectification.id,
                    &rectification.jurisdiction_code,
                    &zhengqi_proto::zhengqi::evaluation::v1::RectificationDueRecounted {
                        rectification: Some(convert::rectification_to_proto(&rectification, false)),
                        previous_due_time: before.map(zhengqi_shared::storage::timestamp),
                    },
                )
                .await?;
            changed += 1;
        }
        Ok(changed)
    }

    /// `code` and every jurisdiction above it, nearest first.
    pub fn ancestry(&self, code: &str) -> Vec<String> {
        JurisdictionCode::parse(code)
            .map(|code| self.directory.ancestors(&code))
            .unwrap_or_default()
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect()
    }
}

/// Binds the listeners and connects the store; the consumer of routing's
/// events starts once the migrations have run.
pub async fn build(
    config: &PartConfig,
    verifier: Verifier,
    reference: Arc<Reference>,
    settings: Settings,
    shutdown: &Shutdown,
) -> Result<EvaluationServer, Error> {
    let host = Host::bind("evaluation", config.listen, config.ops_listen).await?;
    let store = Store::connect(&config.database_url, config.database_schema.as_deref()).await?;
    let events = EventLog::new(store.clone());
    let city = reference.city().as_str().to_owned();
    let calendar = SharedCalendar::new(reference.calendar.clone());
    let core = Arc::new(Core {
        store: store::EvaluationStore::new(store.clone(), Arc::clone(&events)),
        directory: Arc::clone(&reference.directory),
        department_keys: reference
            .departments
            .iter()
            .map(|d| d.key.clone())
            .collect(),
        calendar_years: CalendarYears::new("evaluation", calendar.clone()),
        calendar,
        clock: Arc::clone(&settings.clock),
        rectification_working_days: settings.rectification_working_days,
        repeat_window_years: settings.repeat_window_years,
        city,
        reopen_wake: tokio::sync::Notify::new(),
    });
    let service = EvaluationServiceServer::new(api::EvaluationApi::new(Arc::clone(&core)));
    let part = Part::new(host, store.clone(), service, verifier, Some(&MIGRATIONS))?
        .with_event_log(events);
    let Some(endpoint) = settings.routing_url else {
        tracing::warn!(
            "no routing address (ZHENGQI_ROUTING_URL): no resolved case will invite a review"
        );
        return Ok(part.with_background(
            move |_| Box::pin(async move { load_calendar(&core).await }),
            shutdown,
        ));
    };
    let consumer = Consumer {
        source: "routing".to_owned(),
        endpoint,
        method: "/zhengqi.routing.v1.CaseService/WatchEvents",
        types: routing_events::types(),
        store,
        handler: routing_events::RoutingEvents::new(Arc::clone(&core)),
        token: settings.service_token.clone(),
    };
    let token = settings.service_token;
    Ok(part.with_background(
        move |shutdown| {
            Box::pin(async move {
                load_calendar(&core).await;
                let days_left = tokio::spawn(core.calendar.clone().report_days_left_every(
                    "evaluation",
                    Arc::clone(&core.clock),
                    DAYS_LEFT_EVERY,
                    shutdown.clone(),
                ));
                let reopener = tokio::spawn(reopen::run(
                    core,
                    consumer.endpoint.clone(),
                    token,
                    shutdown.clone(),
                ));
                consumer.run(shutdown).await;
                let _ = reopener.await;
                let _ = days_left.await;
            })
        },
        shutdown,
    ))
}

/// How often the days left on the calendar are reported.
const DAYS_LEFT_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Loads the kept calendar years, then counts the provisional due times again
/// on them (a year may have arrived while a rectification was being opened).
async fn load_calendar(core: &Core) {
    let now = core.clock.now();
    if let Err(error) = core.calendar_years.load_kept(core.store.store(), now).await {
        tracing::error!(%error, "the kept calendar years could not be read");
    }
    let recount = async {
        let mut tx = core.store.store().begin_write().await?;
        let changed = core
            .recount_due_times(&mut tx, &core.calendar.current(), now)
            .await?;
        tx.commit().await?;
        core.store.events().wake();
        Ok::<_, Error>(changed)
    };
    if let Err(error) = recount.await {
        tracing::error!(%error, "provisional due times could not be counted again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_limits_come_from_the_configuration() {
        let config = zhengqi_shared::config::Config::load_with(None, |name| {
            match name {
                "ZHENGQI_EVALUATION_RECTIFICATION_DAYS" => Some("10"),
                "ZHENGQI_EVALUATION_REPEAT_WINDOW_YEARS" => Some("3"),
                _ => None,
            }
            .map(str::to_owned)
        })
        .unwrap();
        let settings = Settings::default().configured(&config.evaluation);
        assert_eq!(settings.rectification_working_days, 10);
        assert_eq!(settings.repeat_window_years, 3);
        let defaults = Settings::default().configured(&Default::default());
        assert_eq!(defaults.rectification_working_days, 15);
        assert_eq!(defaults.repeat_window_years, 2);
    }
}

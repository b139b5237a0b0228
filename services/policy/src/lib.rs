//! Policy: enterprise-related drafts open for comment, publication, targeted
//! push, Q&A and fulfilment (决策参与), and the clean-and-close conduct lists
//! (亲清清单).
//!
//! A policy is a series of versions under one id. Version 1 is created as a
//! DRAFT, opened for consultation (征求意见: at least 7 working days on the
//! official calendar, 30 days when it closely concerns enterprises), every
//! comment answered, then PUBLISHED and pushed to the inbox of every known
//! enterprise it applies to. Amending a published policy starts the next
//! version as a DRAFT copied from it; the published version stays in force
//! until the new one is published, which marks it SUPERSEDED. Repealing
//! marks the published version REPEALED, and an amendment still in progress
//! with it.
//!
//! Policy follows intake's event log with the shared consumer to learn the
//! enterprises (`intake_events`): an enterprise that registers, or changes its
//! registration, receives the published policies that apply to it. It follows
//! routing's log for the working-day calendar years loaded there
//! (`routing_events`), on which consultation periods count.
//!
//! - `domain/`: the rules, no I/O; `convert`: protobuf ↔ domain;
//! - `api`: the tonic service; `store`: sqlx; `intake_events`: the consumer.
#![forbid(unsafe_code)]

pub mod api;
pub mod convert;
pub mod domain;
pub mod intake_events;
pub mod routing_events;
pub mod store;

use std::sync::Arc;

use sqlx::AnyConnection;
use zhengqi_proto::zhengqi::policy::v1 as pb;
use zhengqi_proto::zhengqi::policy::v1::policy_service_server::PolicyServiceServer;
use zhengqi_shared::Error;
use zhengqi_shared::auth::Verifier;
use zhengqi_shared::calendar_years::CalendarYears;
use zhengqi_shared::clock::Clock;
use zhengqi_shared::config::PartConfig;
use zhengqi_shared::events::{Consumer, EventLog, NewEvent, TokenSource};
use zhengqi_shared::ids;
use zhengqi_shared::reference::{Directory, JurisdictionCode, Reference, SharedCalendar};
use zhengqi_shared::server::{Host, Part};
use zhengqi_shared::shutdown::Shutdown;
use zhengqi_shared::storage::{Migrations, Store};

use crate::domain::{Enterprise, InboxItem, Policy, rules};

/// Policy's schema: `migrations/`, and per backend where the DDL differs.
pub static MIGRATIONS: Migrations = Migrations {
    common: sqlx::migrate!("./migrations"),
    sqlite: None,
    postgres: None,
};

/// The policy service, bound and connected, ready to run.
pub type PolicyServer = Part<PolicyServiceServer<api::PolicyApi>>;

/// What policy needs beyond a part's listen address and store.
#[derive(Clone, Default)]
pub struct Settings {
    /// Intake's address (`http://host:port`), whose `EnterpriseRegistered` events push published policies to the enterprises they apply to.
    pub intake_url: Option<String>,
    /// Routing's address (`http://host:port`), whose `CalendarYearLoaded`
    /// events bring the working-day calendar years loaded there.
    pub routing_url: Option<String>,
    /// The `service` tokens policy presents to the services it follows.
    pub service_token: Option<TokenSource>,
    pub clock: Arc<Clock>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("intake_url", &self.intake_url)
            .field("routing_url", &self.routing_url)
            .field("service_token", &self.service_token.as_ref().map(|_| "…"))
            .field("clock", &self.clock)
            .finish()
    }
}

/// What the API and the consumer share.
pub struct Core {
    pub store: Store,
    pub events: Arc<EventLog>,
    pub directory: Arc<Directory>,
    /// The embedded years and those loaded through routing, seen at once by
    /// the API and the consumers.
    pub calendar: SharedCalendar,
    /// Keeps the years loaded through routing.
    pub calendar_years: CalendarYears,
    pub clock: Arc<Clock>,
}

impl Core {
    /// `code` and every jurisdiction below it.
    pub fn below(&self, code: &str) -> Vec<String> {
        match JurisdictionCode::parse(code) {
            Ok(parsed) if self.directory.contains(&parsed) => self
                .directory
                .descendants(&parsed)
                .into_iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
            _ => vec![code.to_owned()],
        }
    }

    /// The jurisdictions a policy applies in.
    pub fn area(&self, policy: &Policy) -> Vec<String> {
        rules::area(
            &policy.jurisdiction_code,
            &policy.draft.applicability,
            |code| self.below(code),
        )
    }

    /// Pushes a just-published version to every known enterprise it applies
    /// to; returns the `PolicyPushed` events to append.
    pub async fn push_policy(
        &self,
        conn: &mut AnyConnection,
        policy: &Policy,
        now: i64,
    ) -> Result<Vec<NewEvent>, Error> {
        store::lock_pushes(conn, self.store.backend()).await?;
        let area = self.area(policy);
        let mut events = Vec::new();
        for enterprise in store::select_enterprises_in(conn, &area).await? {
            if rules::matches(&policy.draft.applicability, &area, &enterprise)
                && let Some(event) = push(conn, policy, &enterprise, now).await?
            {
                events.push(event);
            }
        }
        Ok(events)
    }

    /// Pushes every published version that applies to `enterprise` and that it
    /// has not received yet.
    pub async fn push_to_enterprise(
        &self,
        conn: &mut AnyConnection,
        enterprise: &Enterprise,
        now: i64,
    ) -> Result<Vec<NewEvent>, Error> {
        store::lock_pushes(conn, self.store.backend()).await?;
        let mut events = Vec::new();
        for (policy, area) in
            store::select_published_in(conn, &enterprise.jurisdiction_code).await?
        {
            if rules::matches(&policy.draft.applicability, &area, enterprise)
                && let Some(event) = push(conn, &policy, enterprise, now).await?
            {
                events.push(event);
            }
        }
        Ok(events)
    }
}

/// One push; `None` when the enterprise already has this version.
async fn push(
    conn: &mut AnyConnection,
    policy: &Policy,
    enterprise: &Enterprise,
    now: i64,
) -> Result<Option<NewEvent>, Error> {
    let item = InboxItem {
        id: ids::new_id(&enterprise.jurisdiction_code),
        uscc: enterprise.uscc.clone(),
        jurisdiction_code: enterprise.jurisdiction_code.clone(),
        policy_id: policy.id.clone(),
        policy_version: policy.version,
        kind: policy.draft.kind,
        title: policy.draft.title.clone(),
        summary: policy.draft.summary.clone(),
        document_number: policy.draft.document_number.clone(),
        push_time: now,
        read_time: None,
    };
    if !store::push_item(conn, &item).await? {
        return Ok(None);
    }
    Ok(Some(NewEvent::new(
        &item.id,
        &item.jurisdiction_code,
        &pb::PolicyPushed {
            item: Some(convert::item_to_proto(&item)),
        },
    )))
}

/// Binds the listeners and connects the store; the consumer of intake's
/// events starts once the migrations have run.
pub async fn build(
    config: &PartConfig,
    verifier: Verifier,
    reference: Arc<Reference>,
    settings: Settings,
    shutdown: &Shutdown,
) -> Result<PolicyServer, Error> {
    let host = Host::bind("policy", config.listen, config.ops_listen).await?;
    let store = Store::connect(&config.database_url, config.database_schema.as_deref()).await?;
    let events = EventLog::new(store.clone());
    let calendar = SharedCalendar::new(reference.calendar.clone());
    let core = Arc::new(Core {
        store: store.clone(),
        events: Arc::clone(&events),
        directory: Arc::clone(&reference.directory),
        calendar_years: CalendarYears::new("policy", calendar.clone()),
        calendar,
        clock: Arc::clone(&settings.clock),
    });
    let service = PolicyServiceServer::new(api::PolicyApi::new(Arc::clone(&core)));
    let part = Part::new(host, store.clone(), service, verifier, Some(&MIGRATIONS))?
        .with_event_log(events);
    if settings.intake_url.is_none() {
        tracing::warn!(
            "no intake address (ZHENGQI_INTAKE_URL): policy learns no enterprises and pushes nothing"
        );
    }
    if settings.routing_url.is_none() {
        tracing::warn!(
            "no routing address (ZHENGQI_ROUTING_URL): calendar years loaded there do not reach policy"
        );
    }
    let intake = settings.intake_url.map(|endpoint| Consumer {
        source: "intake".to_owned(),
        endpoint,
        method: "/zhengqi.intake.v1.IntakeService/WatchEvents",
        types: intake_events::types(),
        store: store.clone(),
        handler: intake_events::IntakeEvents::new(Arc::clone(&core)),
        token: settings.service_token.clone(),
    });
    let routing = settings.routing_url.map(|endpoint| Consumer {
        source: "routing".to_owned(),
        endpoint,
        method: "/zhengqi.routing.v1.CaseService/WatchEvents",
        types: routing_events::types(),
        store: store.clone(),
        handler: routing_events::RoutingEvents::new(Arc::clone(&core)),
        token: settings.service_token,
    });
    Ok(part.with_background(
        move |shutdown| {
            Box::pin(async move {
                // The years loaded before, before the first period is counted.
                if let Err(error) = core
                    .calendar_years
                    .load_kept(&core.store, core.clock.now())
                    .await
                {
                    tracing::error!(%error, "the kept calendar years could not be read");
                }
                let routing = routing.map(|consumer| tokio::spawn(consumer.run(shutdown.clone())));
                let days_left = tokio::spawn(core.calendar.clone().report_days_left_every(
                    "policy",
                    Arc::clone(&core.clock),
                    std::time::Duration::from_secs(3600),
                    shutdown.clone(),
                ));
                if let Some(intake) = intake {
                    intake.run(shutdown).await;
                }
                if let Some(routing) = routing {
                    let _ = routing.await;
                }
                let _ = days_left.await;
            })
        },
        shutdown,
    ))
}

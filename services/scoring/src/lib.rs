//! Scoring: the closed-loop performance assessment of every unit (闭环考核).
//!
//! Scoring follows three event logs with the shared consumer, one cursor each:
//! routing's (cases opened, due, resolved, overdue, returned; meetings),
//! evaluation's (reviews, rectifications, third-party assessments) and
//! policy's (comments answered, policies published, fulfilments). In a
//! federated setup the city's scoring follows the same three logs of every
//! other deployment too (a county that runs its own), with a cursor per log
//! and deployment ([`followed_logs`]). Each event
//! becomes facts (`sc_facts`, one row per fact, keyed so a replay adds
//! nothing); each new fact adds to the counters of its department and
//! jurisdiction for its year, quarter and month, and the rankings it touches
//! are brought up to date, all in the transaction that advances the cursor.
//! `Recompute` rebuilds a period's counters from the facts alone and reports
//! whether they equal the incremental ones.
//!
//! - `domain/`: periods, facts and their counters, the indicator model and its
//!   formulas (`domain::model` documents every indicator's numerator and
//!   denominator), rankings and boards; no I/O;
//! - `convert`: protobuf ↔ domain; `api`: the tonic service; `store`: sqlx;
//! - `engine`: facts recorded, rankings recomputed, models put, rebuilds;
//! - `sources`: the three followed logs' events turned into facts.
#![forbid(unsafe_code)]

pub mod api;
pub mod convert;
pub mod domain;
pub mod engine;
pub mod sources;
pub mod store;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use zhengqi_proto::zhengqi::scoring::v1::scoring_service_server::ScoringServiceServer;
use zhengqi_shared::Error;
use zhengqi_shared::auth::Verifier;
use zhengqi_shared::clock::Clock;
use zhengqi_shared::config::PartConfig;
use zhengqi_shared::events::{Consumer, EventLog, TokenSource};
use zhengqi_shared::reference::{Directory, Reference, ReferenceErrors};
use zhengqi_shared::server::{Host, Part};
use zhengqi_shared::shutdown::Shutdown;
use zhengqi_shared::storage::{Migrations, Store};

use crate::domain::Departments;
use crate::domain::model::Model;

/// Scoring's schema: `migrations/`, and per backend where the DDL differs.
pub static MIGRATIONS: Migrations = Migrations {
    common: sqlx::migrate!("./migrations"),
    sqlite: Some(sqlx::migrate!("./migrations/sqlite")),
    postgres: Some(sqlx::migrate!("./migrations/postgres")),
};

/// The scoring service, bound and connected, ready to run.
pub type ScoringServer = Part<ScoringServiceServer<api::ScoringApi>>;

/// Another deployment whose logs scoring follows besides its own: a county
/// that runs its own deployment (`[[gateway.deployments]]`), whose cases,
/// reviews and policy facts count in the city's scorecards and rankings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowedDeployment {
    /// Names its cursors (`routing@wangcang`), e.g. `wangcang`.
    pub name: String,
    /// Its routing's address; `None`: its cases are not followed.
    pub routing_url: Option<String>,
    /// Its evaluation's address; `None`: its reviews are not followed.
    pub evaluation_url: Option<String>,
    /// Its policy's address; `None`: its policy facts are not followed.
    pub policy_url: Option<String>,
}

/// What scoring needs beyond a part's listen address and store.
#[derive(Clone, Default)]
pub struct Settings {
    /// Routing's address (`http://host:port`): cases, their outcomes and meetings.
    pub routing_url: Option<String>,
    /// Evaluation's address: reviews, rectifications, assessments.
    pub evaluation_url: Option<String>,
    /// Policy's address: consultation and fulfilment.
    pub policy_url: Option<String>,
    /// The other deployments whose logs scoring follows as well (the city's
    /// scoring follows every county that runs its own).
    pub deployments: Vec<FollowedDeployment>,
    /// The `service` tokens scoring presents to the services it follows.
    pub service_token: Option<TokenSource>,
    pub clock: Arc<Clock>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("routing_url", &self.routing_url)
            .field("evaluation_url", &self.evaluation_url)
            .field("policy_url", &self.policy_url)
            .field("deployments", &self.deployments)
            .field("service_token", &self.service_token.as_ref().map(|_| "…"))
            .field("clock", &self.clock)
            .finish()
    }
}

/// What the API and the consumers share.
pub struct Core {
    pub store: Store,
    pub events: Arc<EventLog>,
    pub directory: Arc<Directory>,
    pub departments: Departments,
    /// The reference folder's model (`indicator_model.toml`), for periods without one.
    pub default_model: Model,
    pub clock: Arc<Clock>,
    /// The city's code: the root of the directory.
    pub city: String,
}

impl Core {
    /// Refused when scoring's files of `reference` are (each problem named by
    /// file, line and field).
    pub fn new(
        store: Store,
        events: Arc<EventLog>,
        reference: &Reference,
        clock: Arc<Clock>,
    ) -> Result<Core, Error> {
        let (departments, default_model) = domain::from_reference(reference).map_err(|errors| {
            Error::FailedPrecondition(format!(
                "the reference data of {} is refused:\n{}",
                reference.origin(),
                ReferenceErrors(errors)
            ))
        })?;
        Ok(Core {
            store,
            events,
            directory: Arc::clone(&reference.directory),
            departments,
            default_model,
            clock,
            city: reference.city().as_str().to_owned(),
        })
    }

    pub fn units(&self) -> domain::Units<'_> {
        domain::Units {
            directory: &self.directory,
            departments: &self.departments,
        }
    }
}

/// Binds the listeners and connects the store; the consumers of routing's,
/// evaluation's and policy's events start once the migrations have run.
pub async fn build(
    config: &PartConfig,
    verifier: Verifier,
    reference: Arc<Reference>,
    settings: Settings,
    shutdown: &Shutdown,
) -> Result<ScoringServer, Error> {
    let host = Host::bind("scoring", config.listen, config.ops_listen).await?;
    let store = Store::connect(&config.database_url, config.database_schema.as_deref()).await?;
    let events = EventLog::new(store.clone());
    let core = Arc::new(Core::new(
        store.clone(),
        Arc::clone(&events),
        &reference,
        Arc::clone(&settings.clock),
    )?);
    let service = ScoringServiceServer::new(api::ScoringApi::new(Arc::clone(&core)));
    let part = Part::new(host, store.clone(), service, verifier, Some(&MIGRATIONS))?
        .with_event_log(events);
    let consumers: Vec<_> = followed_logs(&settings)
        .into_iter()
        .map(|log| Consumer {
            source: log.cursor,
            endpoint: log.endpoint,
            method: log.source.method(),
            types: Vec::new(),
            store: store.clone(),
            handler: sources::SourceEvents::new(log.source, Arc::clone(&core)),
            token: settings.service_token.clone(),
        })
        .collect();
    Ok(part.with_background(
        move |shutdown| {
            Box::pin(async move {
                let running: Vec<_> = consumers
                    .into_iter()
                    .map(|consumer| tokio::spawn(consumer.run(shutdown.clone())))
                    .collect();
                for consumer in running {
                    let _ = consumer.await;
                }
            })
        },
        shutdown,
    ))
}

/// One log scoring follows: which source, of which deployment, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowedLog {
    pub source: sources::Source,
    /// The consumer's cursor: the source's name for this deployment's own log
    /// (`routing`, as before any other was followed, so a data folder resumes
    /// where it was), `routing@wangcang` for another deployment's. Each log
    /// numbers its events from 1, so each needs a cursor of its own.
    pub cursor: String,
    pub endpoint: String,
}

/// The logs scoring follows: routing's, evaluation's and policy's of its own
/// deployment, then of each other deployment. A source without an address is
/// not followed (and says so in the log).
pub fn followed_logs(settings: &Settings) -> Vec<FollowedLog> {
    use sources::Source;
    let own = [
        (Source::Routing, &settings.routing_url),
        (Source::Evaluation, &settings.evaluation_url),
        (Source::Policy, &settings.policy_url),
    ]
    .map(|(source, url)| (None, source, url));
    let others = settings.deployments.iter().flat_map(|d| {
        [
            (Source::Routing, &d.routing_url),
            (Source::Evaluation, &d.evaluation_url),
            (Source::Policy, &d.policy_url),
        ]
        .map(|(source, url)| (Some(d.name.as_str()), source, url))
    });
    own.into_iter()
        .chain(others)
        .filter_map(|(deployment, source, url)| {
            let Some(endpoint) = url.clone() else {
                match deployment {
                    None => tracing::warn!(
                        source = source.name(),
                        "no address for {}: scoring takes no facts from it",
                        source.name()
                    ),
                    Some(deployment) => tracing::warn!(
                        source = source.name(),
                        deployment,
                        "no address for {} of deployment {deployment}: scoring takes no facts from it",
                        source.name()
                    ),
                }
                return None;
            };
            Some(FollowedLog {
                source,
                cursor: source.cursor(deployment),
                endpoint,
            })
        })
        .collect()
}

//! Intake: receives appeals (诉求) from every channel — the 12345 hotline, the
//! mayor's direct line, the portal, industry departments, chambers of commerce,
//! supervisors, third parties and county systems — and keeps the enterprise
//! registry. Every registration is an event in intake's log, which routing
//! follows to open a case.
#![forbid(unsafe_code)]

pub mod api;
mod batch;
pub mod convert;
pub mod domain;
mod rows;
pub mod store;

use std::sync::Arc;

use zhengqi_proto::zhengqi::intake::v1::intake_service_server::IntakeServiceServer;
use zhengqi_shared::Error;
use zhengqi_shared::auth::Verifier;
use zhengqi_shared::clock::Clock;
use zhengqi_shared::config::PartConfig;
use zhengqi_shared::events::EventLog;
use zhengqi_shared::personal::{self, Retention};
use zhengqi_shared::reference::Reference;
use zhengqi_shared::server::{Host, Part};
use zhengqi_shared::shutdown::Shutdown;
use zhengqi_shared::storage::{Migrations, Store};

/// Intake's schema: `migrations/`, and per backend where the DDL differs.
pub static MIGRATIONS: Migrations = Migrations {
    common: sqlx::migrate!("./migrations"),
    sqlite: None,
    postgres: None,
};

/// Intake, bound and connected, ready to run.
pub type IntakeServer = Part<IntakeServiceServer<api::IntakeApi>>;

/// Binds intake's listeners and connects its store; nothing is served yet.
/// Contacts are kept for the default retention period; the erasure stops
/// with `shutdown`.
pub async fn build(
    config: &PartConfig,
    verifier: Verifier,
    reference: Arc<Reference>,
    shutdown: &Shutdown,
) -> Result<IntakeServer, Error> {
    build_with_clock(
        config,
        verifier,
        reference,
        Arc::default(),
        Retention::default(),
        shutdown,
    )
    .await
}

/// [`build`] going by `clock` (an appeal's acceptance time, from which its
/// time limit counts), which tests move, and keeping contacts as long as
/// `retention` says (from each appeal's receipt).
pub async fn build_with_clock(
    config: &PartConfig,
    verifier: Verifier,
    reference: Arc<Reference>,
    clock: Arc<Clock>,
    retention: Retention,
    shutdown: &Shutdown,
) -> Result<IntakeServer, Error> {
    let host = Host::bind("intake", config.listen, config.ops_listen).await?;
    let store = Store::connect(&config.database_url, config.database_schema.as_deref()).await?;
    let events = EventLog::new(store.clone());
    let intake_store = store::IntakeStore::new(
        store.clone(),
        Arc::clone(&events),
        config.batch_max,
        Arc::clone(&clock),
    )?;
    let eraser = intake_store.clone();
    let service = IntakeServiceServer::new(api::IntakeApi::new(
        intake_store,
        Arc::clone(&reference.directory),
    ));
    let part = Part::new(host, store, service, verifier, Some(&MIGRATIONS))?.with_event_log(events);
    Ok(part.with_background(
        move |shutdown| {
            Box::pin(personal::keep_erasing(
                "intake",
                retention,
                shutdown,
                move || {
                    let (eraser, clock) = (eraser.clone(), Arc::clone(&clock));
                    async move {
                        match retention.cutoff(clock.now()) {
                            Some(cutoff) => eraser.erase_personal_data(cutoff).await,
                            None => Ok(0),
                        }
                    }
                },
            ))
        },
        shutdown,
    ))
}

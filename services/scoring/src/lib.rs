//! Scoring: the closed-loop performance assessment of every unit (闭环考核).
//!
//! The contract (`zhengqi.scoring.v1.ScoringService`) is final; the methods not built yet
//! answer `UNIMPLEMENTED`. The service starts, reports health, serves
//! reflection and its event log.
#![forbid(unsafe_code)]

pub mod api;

use zhengqi_proto::zhengqi::scoring::v1::scoring_service_server::ScoringServiceServer;
use zhengqi_shared::Error;
use zhengqi_shared::auth::Verifier;
use zhengqi_shared::config::PartConfig;
use zhengqi_shared::events::EventLog;
use zhengqi_shared::server::{Host, Part};
use zhengqi_shared::storage::Store;

/// The scoring service, bound and connected, ready to run.
pub type ScoringServer = Part<ScoringServiceServer<api::ScoringApi>>;

/// Binds the listeners and connects the store; nothing is served yet.
pub async fn build(config: &PartConfig, verifier: Verifier) -> Result<ScoringServer, Error> {
    let host = Host::bind("scoring", config.listen, config.ops_listen).await?;
    let store = Store::connect(&config.database_url, config.database_schema.as_deref()).await?;
    let events = EventLog::new(store.clone());
    let service = ScoringServiceServer::new(api::ScoringApi::new(std::sync::Arc::clone(&events)));
    Ok(Part::new(host, store, service, verifier, None)?.with_event_log(events))
}

//! Routing: tiered county/city handling of cases, the ledger (台账), supervision on the working-day calendar, consultation meetings and butlers.
//!
//! The contract (`zhengqi.routing.v1.CaseService`) is final; the methods not built yet
//! answer `UNIMPLEMENTED`. The service starts, reports health, serves
//! reflection and its event log.
#![forbid(unsafe_code)]

pub mod api;

use zhengqi_proto::zhengqi::routing::v1::case_service_server::CaseServiceServer;
use zhengqi_shared::Error;
use zhengqi_shared::auth::Verifier;
use zhengqi_shared::config::PartConfig;
use zhengqi_shared::events::EventLog;
use zhengqi_shared::server::{Host, Part};
use zhengqi_shared::storage::Store;

/// The routing service, bound and connected, ready to run.
pub type RoutingServer = Part<CaseServiceServer<api::RoutingApi>>;

/// Binds the listeners and connects the store; nothing is served yet.
pub async fn build(config: &PartConfig, verifier: Verifier) -> Result<RoutingServer, Error> {
    let host = Host::bind("routing", config.listen, config.ops_listen).await?;
    let store = Store::connect(&config.database_url, config.database_schema.as_deref()).await?;
    let events = EventLog::new(store.clone());
    let service = CaseServiceServer::new(api::RoutingApi::new(std::sync::Arc::clone(&events)));
    Ok(Part::new(host, store, service, verifier, None).with_event_log(events))
}

//! Policy: enterprise-related drafts open for comment, publication, targeted push, Q&A and fulfilment (决策参与).
//!
//! The contract (`zhengqi.policy.v1.PolicyService`) is final; the methods not built yet
//! answer `UNIMPLEMENTED`. The service starts, reports health, serves
//! reflection and its event log.
#![forbid(unsafe_code)]

pub mod api;

use zhengqi_proto::zhengqi::policy::v1::policy_service_server::PolicyServiceServer;
use zhengqi_shared::Error;
use zhengqi_shared::auth::Verifier;
use zhengqi_shared::config::PartConfig;
use zhengqi_shared::events::EventLog;
use zhengqi_shared::server::{Host, Part};
use zhengqi_shared::storage::Store;

/// The policy service, bound and connected, ready to run.
pub type PolicyServer = Part<PolicyServiceServer<api::PolicyApi>>;

/// Binds the listeners and connects the store; nothing is served yet.
pub async fn build(config: &PartConfig, verifier: Verifier) -> Result<PolicyServer, Error> {
    let host = Host::bind("policy", config.listen, config.ops_listen).await?;
    let store = Store::connect(&config.database_url, config.database_schema.as_deref()).await?;
    let events = EventLog::new(store.clone());
    let service = PolicyServiceServer::new(api::PolicyApi::new(std::sync::Arc::clone(&events)));
    Ok(Part::new(host, store, service, verifier, None)?.with_event_log(events))
}

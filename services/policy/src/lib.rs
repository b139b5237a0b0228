//! Policy: enterprise-related drafts open for comment, publication, targeted push, Q&A and fulfilment (决策参与).
//!
//! The contract (`zhengqi.policy.v1.PolicyService`) is final; the methods not built yet
//! answer `UNIMPLEMENTED`. The service starts, reports health, serves
//! reflection and its event log.
#![forbid(unsafe_code)]

pub mod api;

use std::sync::Arc;

use zhengqi_proto::zhengqi::policy::v1::policy_service_server::PolicyServiceServer;
use zhengqi_shared::Error;
use zhengqi_shared::auth::Verifier;
use zhengqi_shared::clock::Clock;
use zhengqi_shared::config::PartConfig;
use zhengqi_shared::events::{EventLog, TokenSource};
use zhengqi_shared::reference::Directory;
use zhengqi_shared::server::{Host, Part};
use zhengqi_shared::shutdown::Shutdown;
use zhengqi_shared::storage::Store;

/// The policy service, bound and connected, ready to run.
pub type PolicyServer = Part<PolicyServiceServer<api::PolicyApi>>;

/// What policy needs beyond a part's listen address and store.
#[derive(Clone, Default)]
pub struct Settings {
    /// Intake's address (`http://host:port`), whose `EnterpriseRegistered` events push published policies to the enterprises they apply to.
    pub intake_url: Option<String>,
    /// The `service` tokens policy presents to the services it follows.
    pub service_token: Option<TokenSource>,
    pub clock: Arc<Clock>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("intake_url", &self.intake_url)
            .field("service_token", &self.service_token.as_ref().map(|_| "…"))
            .field("clock", &self.clock)
            .finish()
    }
}

/// Binds the listeners and connects the store; nothing is served yet.
pub async fn build(
    config: &PartConfig,
    verifier: Verifier,
    directory: Arc<Directory>,
    settings: Settings,
    shutdown: &Shutdown,
) -> Result<PolicyServer, Error> {
    let _ = (directory, settings, shutdown);
    let host = Host::bind("policy", config.listen, config.ops_listen).await?;
    let store = Store::connect(&config.database_url, config.database_schema.as_deref()).await?;
    let events = EventLog::new(store.clone());
    let service = PolicyServiceServer::new(api::PolicyApi::new(Arc::clone(&events)));
    Ok(Part::new(host, store, service, verifier, None)?.with_event_log(events))
}

//! Scoring: the closed-loop performance assessment of every unit (闭环考核).
//!
//! The contract (`zhengqi.scoring.v1.ScoringService`) is final; the methods not built yet
//! answer `UNIMPLEMENTED`. The service starts, reports health, serves
//! reflection and its event log.
#![forbid(unsafe_code)]

pub mod api;

use std::sync::Arc;

use zhengqi_proto::zhengqi::scoring::v1::scoring_service_server::ScoringServiceServer;
use zhengqi_shared::Error;
use zhengqi_shared::auth::Verifier;
use zhengqi_shared::clock::Clock;
use zhengqi_shared::config::PartConfig;
use zhengqi_shared::events::{EventLog, TokenSource};
use zhengqi_shared::reference::Directory;
use zhengqi_shared::server::{Host, Part};
use zhengqi_shared::shutdown::Shutdown;
use zhengqi_shared::storage::Store;

/// The scoring service, bound and connected, ready to run.
pub type ScoringServer = Part<ScoringServiceServer<api::ScoringApi>>;

/// What scoring needs beyond a part's listen address and store.
#[derive(Clone, Default)]
pub struct Settings {
    /// Routing's address (`http://host:port`): cases, their outcomes and meetings.
    pub routing_url: Option<String>,
    /// Evaluation's address: reviews, rectifications, assessments.
    pub evaluation_url: Option<String>,
    /// Policy's address: consultation and fulfilment.
    pub policy_url: Option<String>,
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
) -> Result<ScoringServer, Error> {
    let _ = (directory, settings, shutdown);
    let host = Host::bind("scoring", config.listen, config.ops_listen).await?;
    let store = Store::connect(&config.database_url, config.database_schema.as_deref()).await?;
    let events = EventLog::new(store.clone());
    let service = ScoringServiceServer::new(api::ScoringApi::new(Arc::clone(&events)));
    Ok(Part::new(host, store, service, verifier, None)?.with_event_log(events))
}

//! Evaluation: 好差评 reviews and their rectification, third-party assessments, and government's record of enterprises (政企互评).
//!
//! The contract (`zhengqi.evaluation.v1.EvaluationService`) is final; the methods not built yet
//! answer `UNIMPLEMENTED`. The service starts, reports health, serves
//! reflection and its event log.
#![forbid(unsafe_code)]

pub mod api;

use std::sync::Arc;

use zhengqi_proto::zhengqi::evaluation::v1::evaluation_service_server::EvaluationServiceServer;
use zhengqi_shared::Error;
use zhengqi_shared::auth::Verifier;
use zhengqi_shared::clock::Clock;
use zhengqi_shared::config::PartConfig;
use zhengqi_shared::events::{EventLog, TokenSource};
use zhengqi_shared::reference::Directory;
use zhengqi_shared::server::{Host, Part};
use zhengqi_shared::shutdown::Shutdown;
use zhengqi_shared::storage::Store;

/// The evaluation service, bound and connected, ready to run.
pub type EvaluationServer = Part<EvaluationServiceServer<api::EvaluationApi>>;

/// What evaluation needs beyond a part's listen address and store.
#[derive(Clone, Default)]
pub struct Settings {
    /// Routing's address (`http://host:port`), whose resolved cases invite the enterprise to rate them.
    pub routing_url: Option<String>,
    /// The `service` tokens evaluation presents to the services it follows.
    pub service_token: Option<TokenSource>,
    pub clock: Arc<Clock>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("routing_url", &self.routing_url)
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
) -> Result<EvaluationServer, Error> {
    let _ = (directory, settings, shutdown);
    let host = Host::bind("evaluation", config.listen, config.ops_listen).await?;
    let store = Store::connect(&config.database_url, config.database_schema.as_deref()).await?;
    let events = EventLog::new(store.clone());
    let service = EvaluationServiceServer::new(api::EvaluationApi::new(Arc::clone(&events)));
    Ok(Part::new(host, store, service, verifier, None)?.with_event_log(events))
}

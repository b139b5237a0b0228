//! Evaluation: 好差评 reviews and their rectification, third-party assessments, and government's record of enterprises (政企互评).
//!
//! The contract (`zhengqi.evaluation.v1.EvaluationService`) is final; the methods not built yet
//! answer `UNIMPLEMENTED`. The service starts, reports health, serves
//! reflection and its event log.
#![forbid(unsafe_code)]

pub mod api;

use zhengqi_proto::zhengqi::evaluation::v1::evaluation_service_server::EvaluationServiceServer;
use zhengqi_shared::Error;
use zhengqi_shared::auth::Verifier;
use zhengqi_shared::config::PartConfig;
use zhengqi_shared::events::EventLog;
use zhengqi_shared::server::{Host, Part};
use zhengqi_shared::storage::Store;

/// The evaluation service, bound and connected, ready to run.
pub type EvaluationServer = Part<EvaluationServiceServer<api::EvaluationApi>>;

/// Binds the listeners and connects the store; nothing is served yet.
pub async fn build(config: &PartConfig, verifier: Verifier) -> Result<EvaluationServer, Error> {
    let host = Host::bind("evaluation", config.listen, config.ops_listen).await?;
    let store = Store::connect(&config.database_url, config.database_schema.as_deref()).await?;
    let events = EventLog::new(store.clone());
    let service =
        EvaluationServiceServer::new(api::EvaluationApi::new(std::sync::Arc::clone(&events)));
    Ok(Part::new(host, store, service, verifier, None)?.with_event_log(events))
}

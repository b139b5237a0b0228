//! The tonic implementation of `zhengqi.evaluation.v1.EvaluationService`.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use zhengqi_proto::zhengqi::common::v1::WatchEventsRequest;
use zhengqi_proto::zhengqi::evaluation::v1::evaluation_service_server::EvaluationService;
use zhengqi_shared::events::{self, EventLog, EventStream};

pub struct EvaluationApi {
    events: Arc<EventLog>,
}

impl EvaluationApi {
    pub fn new(events: Arc<EventLog>) -> Self {
        Self { events }
    }
}

#[tonic::async_trait]
impl EvaluationService for EvaluationApi {
    async fn watch_events(
        &self,
        request: Request<WatchEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        events::serve_watch(&self.events, request, "evaluation")
    }
}

//! The tonic implementation of `zhengqi.scoring.v1.ScoringService`.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use zhengqi_proto::zhengqi::common::v1::WatchEventsRequest;
use zhengqi_proto::zhengqi::scoring::v1::scoring_service_server::ScoringService;
use zhengqi_shared::events::{self, EventLog, EventStream};

pub struct ScoringApi {
    events: Arc<EventLog>,
}

impl ScoringApi {
    pub fn new(events: Arc<EventLog>) -> Self {
        Self { events }
    }
}

#[tonic::async_trait]
impl ScoringService for ScoringApi {
    async fn watch_events(
        &self,
        request: Request<WatchEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        events::serve_watch(&self.events, request, "scoring")
    }
}

//! The tonic implementation of `zhengqi.routing.v1.CaseService`.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use zhengqi_proto::zhengqi::common::v1::WatchEventsRequest;
use zhengqi_proto::zhengqi::routing::v1::case_service_server::CaseService;
use zhengqi_shared::events::{self, EventLog, EventStream};

pub struct RoutingApi {
    events: Arc<EventLog>,
}

impl RoutingApi {
    pub fn new(events: Arc<EventLog>) -> Self {
        Self { events }
    }
}

#[tonic::async_trait]
impl CaseService for RoutingApi {
    async fn watch_events(
        &self,
        request: Request<WatchEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        events::serve_watch(&self.events, request, "routing")
    }
}

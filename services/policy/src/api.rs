//! The tonic implementation of `zhengqi.policy.v1.PolicyService`.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use zhengqi_proto::zhengqi::common::v1::WatchEventsRequest;
use zhengqi_proto::zhengqi::policy::v1::policy_service_server::PolicyService;
use zhengqi_shared::events::{self, EventLog, EventStream};

pub struct PolicyApi {
    events: Arc<EventLog>,
}

impl PolicyApi {
    pub fn new(events: Arc<EventLog>) -> Self {
        Self { events }
    }
}

#[tonic::async_trait]
impl PolicyService for PolicyApi {
    async fn watch_events(
        &self,
        request: Request<WatchEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        events::serve_watch(&self.events, request, "policy")
    }
}

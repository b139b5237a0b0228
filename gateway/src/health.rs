//! `grpc.health.v1.Health` at the gateway: the empty service name is the
//! gateway itself; a service's full name is answered by that service's own
//! health check, so a client sees through the gateway what each service reports.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::health_server::Health;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use crate::upstream::Upstreams;

pub struct GatewayHealth {
    upstreams: Arc<Upstreams>,
}

impl GatewayHealth {
    pub fn new(upstreams: Arc<Upstreams>) -> Self {
        Self { upstreams }
    }

    async fn status_of(&self, service: &str) -> Result<ServingStatus, Status> {
        if service.is_empty() {
            return Ok(ServingStatus::Serving);
        }
        let connection = self
            .upstreams
            .connection(service)
            .ok_or_else(|| Status::not_found(format!("unknown service {service}")))?;
        let mut client = HealthClient::new(connection);
        let mut request = Request::new(HealthCheckRequest {
            service: service.to_owned(),
        });
        request.set_timeout(Duration::from_secs(2));
        match client.check(request).await {
            Ok(response) => Ok(response.into_inner().status()),
            // An upstream that cannot answer is not serving; that is the answer.
            Err(_) => Ok(ServingStatus::NotServing),
        }
    }
}

type WatchStream =
    Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Health for GatewayHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let status = self.status_of(&request.into_inner().service).await?;
        Ok(Response::new(HealthCheckResponse {
            status: status as i32,
        }))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let service = request.into_inner().service;
        let first = self.status_of(&service).await?;
        let this = GatewayHealth {
            upstreams: Arc::clone(&self.upstreams),
        };
        // Sends the status at once, then again whenever it changes.
        let stream = futures_util::stream::unfold(
            (this, service, None),
            move |(this, service, last)| async move {
                let mut current = first;
                if last.is_some() {
                    loop {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        current = this
                            .status_of(&service)
                            .await
                            .unwrap_or(ServingStatus::ServiceUnknown);
                        if Some(current) != last {
                            break;
                        }
                    }
                }
                let item = Ok(HealthCheckResponse {
                    status: current as i32,
                });
                Some((item, (this, service, Some(current))))
            },
        );
        Ok(Response::new(Box::pin(stream)))
    }
}

//! A gateway of a test's own in front of a suite's services, and a small
//! tonic server that plays a service (slow, or one of several replicas) with
//! the real health service, for the gateway's tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::codegen::{BoxFuture, Context, Poll, Service, http};
use tonic::server::NamedService;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use zhengqi::suite::SERVICES;
use zhengqi_gateway::{GatewayConfig, GatewaySettings};
use zhengqi_proto::zhengqi::intake::v1::intake_service_client::IntakeServiceClient;
use zhengqi_proto::zhengqi::policy::v1::policy_service_client::PolicyServiceClient;
use zhengqi_shared::server::InProcess;
use zhengqi_shared::shutdown::Shutdown;

use crate::common::TestSuite;

pub const POLICY: &str = "zhengqi.policy.v1.PolicyService";

/// Every service of `suite`, by full name.
pub fn upstreams_of(suite: &TestSuite) -> BTreeMap<String, Vec<String>> {
    SERVICES
        .iter()
        .map(|(part, service)| {
            (
                service.to_string(),
                vec![format!("http://{}", suite.suite.service_addrs[part])],
            )
        })
        .collect()
}

/// A gateway of a test's own, stopped when dropped.
pub struct TestGateway {
    pub addr: SocketAddr,
    shutdown: Shutdown,
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

impl TestGateway {
    /// In front of `suite`'s services, with `replace` standing in for some of them.
    pub async fn start(
        suite: &TestSuite,
        settings: GatewaySettings,
        timeout: Duration,
        replace: &[(&str, Vec<String>)],
    ) -> TestGateway {
        let mut upstreams = upstreams_of(suite);
        for (service, addresses) in replace {
            upstreams.insert(service.to_string(), addresses.clone());
        }
        let config = GatewayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            upstreams,
            timeout,
        };
        let verifier = suite.verifier().await;
        let gateway = zhengqi_gateway::build_with(&config, &settings, verifier)
            .await
            .expect("the gateway starts");
        let addr = gateway.addr();
        let shutdown = Shutdown::new();
        tokio::spawn(gateway.run_until_stopped(shutdown.clone()));
        TestGateway { addr, shutdown }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn channel(&self) -> tonic::transport::Channel {
        tonic::transport::Channel::from_shared(self.url())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    pub async fn intake(&self) -> IntakeServiceClient<tonic::transport::Channel> {
        IntakeServiceClient::new(self.channel().await)
    }

    pub async fn policy(&self) -> PolicyServiceClient<tonic::transport::Channel> {
        PolicyServiceClient::new(self.channel().await)
    }

    pub async fn http_get(&self, path: &str, token: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("{}{path}", self.url()))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .expect("the gateway answers")
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.url()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

pub async fn json_of(response: reqwest::Response) -> serde_json::Value {
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

/// Plays the policy service: `GetPolicy` waits `delay`, then answers
/// `NOT_FOUND` naming the replica (`tag`), so a test sees who answered; every
/// call's answer carries the `grpc-timeout` it arrived with.
#[derive(Clone)]
struct FakePolicy {
    delay: Duration,
    tag: String,
}

impl NamedService for FakePolicy {
    const NAME: &'static str = POLICY;
}

impl Service<http::Request<tonic::body::Body>> for FakePolicy {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let delay = if request.uri().path().ends_with("/GetPolicy") {
            self.delay
        } else {
            Duration::ZERO
        };
        let tag = self.tag.clone();
        let timeout = request.headers().get("grpc-timeout").cloned();
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            let mut response = tonic::Status::not_found(format!("answered by {tag}")).into_http();
            if let Some(timeout) = timeout {
                response
                    .headers_mut()
                    .insert("x-seen-grpc-timeout", timeout);
            }
            Ok(response)
        })
    }
}

/// A fake policy replica on its own port, with the real health service.
pub struct Fake {
    pub addr: String,
    pub health: HealthReporter,
    shutdown: Shutdown,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

pub async fn fake_policy(tag: &str, delay: Duration) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status(POLICY, ServingStatus::Serving)
        .await;
    let shutdown = Shutdown::new();
    let stopping = shutdown.clone();
    let router = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(FakePolicy {
            delay,
            tag: tag.to_owned(),
        });
    tokio::spawn(
        router.serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
            stopping.wait().await
        }),
    );
    Fake {
        addr,
        health,
        shutdown,
    }
}

/// A fake policy service with the real health service, for a gateway to
/// call in its own process.
pub async fn fake_policy_in_process(tag: &str, delay: Duration) -> InProcess {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status(POLICY, ServingStatus::Serving)
        .await;
    let routes = tonic::service::Routes::new(health_service)
        .add_service(FakePolicy {
            delay,
            tag: tag.to_owned(),
        })
        .prepare();
    InProcess::new(routes)
}

/// An address where nothing answers, and the socket that keeps it so: bound
/// but never listening, connections are refused, and no other test's server can
/// take the port while the socket lives.
pub async fn dead_address() -> (String, tokio::net::TcpSocket) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    (format!("http://{addr}"), socket)
}

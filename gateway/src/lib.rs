//! The gateway: the one entry point for the city portal, county systems and
//! outside clients. It verifies every call's token, applies the method policy,
//! strips identity headers, and forwards the call by its full method name to the
//! service that owns it. Health and reflection are answered for every service,
//! so `grpcurl` or `buf curl` pointed at the gateway can list and call them all.
//! Callers that do not speak gRPC get HTTP/JSON transcoded from the
//! `google.api.http` annotations, described by `GET /openapi.json`.
#![forbid(unsafe_code)]

pub mod health;
pub mod openapi;
pub mod policy;
pub mod proxy;
pub mod transcode;
pub mod upstream;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::get;
use tokio::net::TcpListener;
use tonic_health::pb::health_server::HealthServer;
use zhengqi_shared::Error;
use zhengqi_shared::auth::Verifier;
use zhengqi_shared::metrics::{self, MetricsLayer};
use zhengqi_shared::shutdown::Shutdown;

use crate::policy::{DEFAULT_POLICY, MethodPolicy};
use crate::proxy::ProxyState;
use crate::transcode::Transcoder;
use crate::upstream::Upstreams;

/// Where the gateway listens and what stands behind it.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub listen: SocketAddr,
    /// A service's full name (`zhengqi.intake.v1.IntakeService`) → its replicas.
    pub upstreams: BTreeMap<String, Vec<String>>,
    /// The deadline of a call whose caller set none.
    pub timeout: Duration,
    /// The method policy (TOML); the shipped one when `None`.
    pub policy: Option<String>,
}

/// The gateway, bound, ready to run.
pub struct Gateway {
    listener: TcpListener,
    addr: SocketAddr,
    router: axum::Router,
}

/// Binds the gateway's listener and prepares its routes; nothing is served yet.
pub async fn build(config: &GatewayConfig, verifier: Verifier) -> Result<Gateway, Error> {
    let listener = TcpListener::bind(config.listen).await.map_err(|e| {
        Error::internal(format!("gateway: cannot listen on {}: {e}", config.listen))
    })?;
    let addr = listener.local_addr().map_err(Error::internal)?;
    let policy = MethodPolicy::parse(
        config.policy.as_deref().unwrap_or(DEFAULT_POLICY),
        zhengqi_proto::FILE_DESCRIPTOR_SET,
    )
    .map_err(Error::internal)?;
    let upstreams = Arc::new(Upstreams::new(&config.upstreams)?);

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(zhengqi_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(Error::internal)?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(zhengqi_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(Error::internal)?;
    let own = tonic::service::Routes::new(HealthServer::new(health::GatewayHealth::new(
        Arc::clone(&upstreams),
    )))
    .add_service(reflection_v1)
    .add_service(reflection_v1alpha)
    .prepare()
    .into_axum_router();

    let proxy = Arc::new(ProxyState {
        verifier,
        policy,
        upstreams,
        default_timeout: config.timeout,
    });
    let pool = prost_reflect::DescriptorPool::decode(zhengqi_proto::FILE_DESCRIPTOR_SET)
        .map_err(|e| Error::internal(format!("gateway: the descriptor set: {e}")))?;
    let transcoder = Arc::new(
        Transcoder::new(&pool, Arc::clone(&proxy))
            .map_err(|e| Error::internal(format!("gateway: HTTP bindings: {e}")))?,
    );
    // Written once at start; every request gets the same bytes.
    let openapi = bytes::Bytes::from(
        openapi::document(&pool)
            .map_err(|e| Error::internal(format!("gateway: {e}")))?
            .to_string(),
    );
    let router = axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(|| async { "ready\n" }))
        .route("/metrics", get(|| async { metrics::render() }))
        .route(
            "/openapi.json",
            get(move || {
                let document = openapi.clone();
                async move { ([(http::header::CONTENT_TYPE, "application/json")], document) }
            }),
        )
        .merge(own)
        .fallback_service(axum::routing::any(entry).with_state(Entry { proxy, transcoder }))
        .layer(MetricsLayer::new("gateway"));
    Ok(Gateway {
        listener,
        addr,
        router,
    })
}

/// What the gateway's catch-all route needs.
#[derive(Clone)]
struct Entry {
    proxy: Arc<ProxyState>,
    transcoder: Arc<Transcoder>,
}

/// gRPC calls (`content-type: application/grpc…`) go through the proxy as
/// they are; everything else is HTTP/JSON for the transcoder.
async fn entry(State(entry): State<Entry>, request: Request) -> Response {
    let grpc = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if grpc {
        proxy::forward(State(entry.proxy), request).await
    } else {
        transcode::handle(State(entry.transcoder), request).await
    }
}

impl Gateway {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves gRPC (HTTP/2) and HTTP on one address until `shutdown`, finishing
    /// the calls in flight.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), Error> {
        tracing::info!(addr = %self.addr, "gateway serving");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move { shutdown.wait().await })
            .await
            .map_err(|e| Error::internal(format!("gateway failed: {e}")))
    }
}

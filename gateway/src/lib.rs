//! The gateway: the one entry point for the city portal, county systems and
//! outside clients. It verifies every call's token, admits it by the method's declared access rule,
//! strips identity headers, and forwards the call by its full method name to the
//! service that owns it. Health and reflection are answered for every service,
//! so `grpcurl` or `buf curl` pointed at the gateway can list and call them all.
//! Callers that do not speak gRPC get HTTP/JSON transcoded from the
//! `google.api.http` annotations, described by `GET /openapi.json`; browsers
//! get the city portal at `/` ([`portal`]), which calls that HTTP/JSON API.
//!
//! Both go through one forwarding path ([`proxy::dispatch`]), which also keeps
//! the limits ([`limits`]: a rate per subject, a size per message, a number of
//! calls in flight, taken once a call's message has arrived), the deadline, the choice of deployment by jurisdiction and
//! of a healthy replica within it ([`upstream`]), and the audit of every
//! authenticated call ([`audit`], read by admins at `GET /v1/audit`).
//! Slow and hostile clients are held off at the connections ([`connections`]:
//! per peer address, timeouts, HTTP/2 limits) and by the waiting calls' own
//! places ([`limits::Arrivals`]).
#![forbid(unsafe_code)]

pub mod audit;
pub mod connections;
pub mod content_type;
pub mod errors;
pub mod health;
pub mod limits;
pub mod openapi;
pub mod portal;
pub mod proxy;
pub mod target;
pub mod transcode;
pub mod upstream;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::get;
use http_body_util::BodyExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tonic_health::pb::health_server::HealthServer;
use zhengqi_shared::Error;
use zhengqi_shared::auth::Verifier;
use zhengqi_shared::metrics;
use zhengqi_shared::reference::Reference;
use zhengqi_shared::server::InProcess;
use zhengqi_shared::shutdown::Shutdown;

use crate::audit::{AuditApi, AuditSettings, AuditStore};
use crate::connections::ConnectionLimits;
use crate::limits::{Arrivals, ConnectionWaiting, NotArrived, RateLimit, RateLimiter};
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
}

/// What the gateway protects itself and the services with, and where it keeps
/// its audit. `Default` gives limits that never get in the way of a single
/// machine's load ([`DEFAULT_RATE_LIMIT`] per subject, the connections'
/// [`ConnectionLimits::default`]), no CORS origins and no audit store.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Calls per subject (the token's `sub`); `None` for no limit.
    pub rate_limit: Option<RateLimit>,
    /// What each connection may take and how long it may sit.
    pub connections: ConnectionLimits,
    /// The largest request message (gRPC) or body (HTTP/JSON), in bytes.
    pub max_message_bytes: usize,
    /// Calls waiting on the services at once; a call beyond is shed with
    /// `UNAVAILABLE` (503). `None` for no limit.
    pub max_in_flight: Option<usize>,
    /// How often every replica's health is checked.
    pub health_interval: Duration,
    /// Browser origins of the portal allowed to call the HTTP/JSON API
    /// (`https://zhengqi.guangyuan.gov.cn`); none when empty.
    pub cors_origins: Vec<String>,
    /// The audit store; `None` records no audit.
    pub audit: Option<AuditSettings>,
    /// Other deployments (a county that runs its own), each owning its
    /// jurisdictions; the deployment of [`GatewayConfig::upstreams`] owns the rest.
    pub deployments: Vec<Deployment>,
    /// Services that run in the gateway's own process (`zhengqi up`), by full
    /// name: the default deployment calls their stacks directly, in place of
    /// any addresses [`GatewayConfig::upstreams`] gives for them.
    pub in_process: BTreeMap<String, InProcess>,
    /// The reference data whose jurisdictions and departments the portal names.
    pub reference: Arc<Reference>,
}

/// A deployment of zhengqi behind the gateway that holds the data of some
/// jurisdictions: a call about one of them (its `jurisdiction_code`, or the
/// prefix of the id it names, else the caller's home jurisdiction) goes there.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// For logs and metrics, e.g. `wangcang`.
    pub name: String,
    /// GB/T 2260 codes of the jurisdictions it owns, e.g. `510821`.
    pub jurisdictions: Vec<String>,
    /// A service's full name → its replicas' addresses.
    pub upstreams: BTreeMap<String, Vec<String>>,
}

pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4096;
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(5);
/// Per subject: far above what a person at the portal or a county system's
/// steady work asks, low enough that one token cannot take the gateway.
pub const DEFAULT_RATE_LIMIT: RateLimit = RateLimit {
    per_second: 100.0,
    burst: 200,
};

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            rate_limit: Some(DEFAULT_RATE_LIMIT),
            connections: ConnectionLimits::default(),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_in_flight: Some(DEFAULT_MAX_IN_FLIGHT),
            health_interval: DEFAULT_HEALTH_INTERVAL,
            cors_origins: Vec::new(),
            audit: None,
            deployments: Vec::new(),
            in_process: BTreeMap::new(),
            reference: Arc::new(Reference::embedded()),
        }
    }
}

/// `/readyz`: ready while every service behind the gateway has a healthy replica.
async fn readiness(upstreams: Arc<Upstreams>) -> (http::StatusCode, String) {
    let unready = upstreams.unready();
    if unready.is_empty() {
        (http::StatusCode::OK, "ready\n".to_owned())
    } else {
        (
            http::StatusCode::SERVICE_UNAVAILABLE,
            format!("no healthy replica: {}\n", unready.join(", ")),
        )
    }
}

/// The gateway, bound, ready to run.
pub struct Gateway {
    listener: TcpListener,
    addr: SocketAddr,
    router: axum::Router,
    connections: ConnectionLimits,
    /// The calls waiting for their message, shared by the proxy and the connections.
    arrivals: Arc<Arrivals>,
    /// Health checks and audit retention; stopped with the gateway.
    tasks: JoinSet<()>,
    /// Writes the audit queue; ends once the last call has been recorded.
    audit_writer: Option<JoinHandle<()>>,
}

/// Binds the gateway's listener and prepares its routes, with the default
/// [`GatewaySettings`]; nothing is served yet.
pub async fn build(config: &GatewayConfig, verifier: Verifier) -> Result<Gateway, Error> {
    build_with(config, &GatewaySettings::default(), verifier).await
}

/// Binds the gateway's listener, opens its audit store and prepares its
/// routes; nothing is served yet.
pub async fn build_with(
    config: &GatewayConfig,
    settings: &GatewaySettings,
    verifier: Verifier,
) -> Result<Gateway, Error> {
    let listener = TcpListener::bind(config.listen).await.map_err(|e| {
        Error::internal(format!("gateway: cannot listen on {}: {e}", config.listen))
    })?;
    let addr = listener.local_addr().map_err(Error::internal)?;
    let upstreams = Arc::new(Upstreams::federated(
        &config.upstreams,
        &settings.in_process,
        &settings.deployments,
    )?);
    let mut tasks = JoinSet::new();
    upstreams.spawn_health_checks(settings.health_interval, &mut tasks);
    let (audit_api, audit_writer) = match &settings.audit {
        Some(audit) => {
            let store = AuditStore::open(audit).await?;
            let (auditor, writer) = store.writer(audit.queue)?;
            tasks.spawn(store.clone().keep_pruning(audit.retention));
            let api = AuditApi {
                verifier: verifier.clone(),
                directory: Arc::clone(&settings.reference.directory),
                store,
                auditor,
            };
            (Some(api), Some(tokio::spawn(writer)))
        }
        None => (None, None),
    };

    let own = zhengqi_shared::server::with_reflection(tonic::service::Routes::new(
        HealthServer::new(health::GatewayHealth::new(Arc::clone(&upstreams))),
    ))?
    .prepare()
    .into_axum_router();

    let pool = prost_reflect::DescriptorPool::decode(zhengqi_proto::FILE_DESCRIPTOR_SET)
        .map_err(|e| Error::internal(format!("gateway: the descriptor set: {e}")))?;
    let limits = &settings.connections;
    let arrivals = Arc::new(Arrivals::new(
        limits.max_waiting,
        limits.max_waiting_per_connection,
    ));
    let proxy = Arc::new(ProxyState {
        verifier,
        upstreams: Arc::clone(&upstreams),
        default_timeout: config.timeout,
        methods: target::method_shapes(&pool),
        rate_limiter: settings.rate_limit.map(RateLimiter::new),
        max_message_bytes: settings.max_message_bytes,
        capacity: settings.max_in_flight.map(Semaphore::new),
        arrivals: Arc::clone(&arrivals),
        first_message_timeout: limits.first_message_timeout,
        auditor: audit_api.as_ref().map(|api| api.auditor.clone()),
    });
    let transcoder = Arc::new(
        Transcoder::new(&pool, Arc::clone(&proxy))
            .map_err(|e| Error::internal(format!("gateway: HTTP bindings: {e}")))?,
    );
    // Written once at start; every request gets the same bytes.
    let mut document =
        openapi::document(&pool).map_err(|e| Error::internal(format!("gateway: {e}")))?;
    if audit_api.is_some() {
        openapi::add_audit(&mut document);
    }
    let openapi = bytes::Bytes::from(document.to_string());
    let metrics_proxy = Arc::clone(&proxy);
    let ready_upstreams = Arc::clone(&upstreams);
    let max_in_flight = settings.max_in_flight;
    let mut router = axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || readiness(Arc::clone(&ready_upstreams))),
        )
        .route(
            "/metrics",
            get(move || {
                let proxy = Arc::clone(&metrics_proxy);
                async move { metrics::exposition(render_metrics(&proxy, max_in_flight)) }
            }),
        )
        .route(
            "/openapi.json",
            get(move || {
                let document = openapi.clone();
                async move { ([(http::header::CONTENT_TYPE, "application/json")], document) }
            }),
        )
        .merge(own);
    if let Some(api) = audit_api {
        router = router.route("/v1/audit", get(audit::list_handler).with_state(api));
    }
    // Calls are counted by their gRPC method in `proxy::dispatch`, whether they
    // came as gRPC or HTTP/JSON; the portal's files and the gateway's own pages are no calls.
    let mut router = router
        .fallback_service(axum::routing::any(entry).with_state(Entry {
            proxy,
            transcoder,
            body_timeout: limits.body_timeout,
        }))
        .merge(portal::routes(&settings.reference)?);
    if !settings.cors_origins.is_empty() {
        router = router.layer(cors(&settings.cors_origins)?);
    }
    Ok(Gateway {
        listener,
        addr,
        router,
        connections: settings.connections.clone(),
        arrivals,
        tasks,
        audit_writer,
    })
}

/// The shared metrics, and the gateway's own as they are at the scrape:
/// replicas' health and calls in flight, calls waiting.
fn render_metrics(proxy: &ProxyState, max_in_flight: Option<usize>) -> String {
    use prometheus_client::metrics::gauge::Gauge;
    let mut now = prometheus_client::registry::Registry::default();
    proxy.upstreams.register_metrics(&mut now);
    if let (Some(capacity), Some(max)) = (&proxy.capacity, max_in_flight) {
        let in_flight = Gauge::<i64>::default();
        in_flight.set(max.saturating_sub(capacity.available_permits()) as i64);
        now.register(
            "zhengqi_gateway_in_flight",
            "Calls waiting on the services.",
            in_flight,
        );
    }
    let waiting = Gauge::<i64>::default();
    waiting.set(proxy.arrivals.waiting() as i64);
    now.register(
        "zhengqi_gateway_waiting",
        "Calls waiting for their request message or body.",
        waiting,
    );
    metrics::render_with(Some(&now))
}

/// CORS for the portal's origins: the HTTP/JSON API with a bearer token, and
/// the headers a browser script needs to read (`Retry-After`, downloads' names).
fn cors(origins: &[String]) -> Result<tower_http::cors::CorsLayer, Error> {
    use http::{HeaderName, HeaderValue, Method, header};
    let origins = origins
        .iter()
        .map(|o| {
            HeaderValue::from_str(o.trim_end_matches('/'))
                .map_err(|_| Error::internal(format!("gateway: bad CORS origin {o:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(tower_http::cors::CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT_LANGUAGE,
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("grpc-timeout"),
            HeaderName::from_static("traceparent"),
        ])
        .expose_headers([
            header::RETRY_AFTER,
            header::CONTENT_DISPOSITION,
            header::WWW_AUTHENTICATE,
        ])
        .max_age(Duration::from_secs(600)))
}

/// What the gateway's catch-all route needs.
#[derive(Clone)]
struct Entry {
    proxy: Arc<ProxyState>,
    transcoder: Arc<Transcoder>,
    /// How long an HTTP/JSON request's body may take to arrive.
    body_timeout: Duration,
}

/// gRPC calls (`content-type: application/grpc` or `application/grpc+proto`)
/// go through the proxy as they are; other gRPC variants (gRPC-Web) are
/// refused ([`content_type`]); the rest is HTTP/JSON for the transcoder, once
/// its whole body has arrived (within the body timeout, waiting with the
/// connection's places); the transcoder refuses a body not declared JSON.
async fn entry(State(entry): State<Entry>, request: Request) -> Response {
    match content_type::kind(request.headers()) {
        content_type::Kind::Grpc => return proxy::forward(State(entry.proxy), request).await,
        content_type::Kind::UnsupportedGrpc => {
            return content_type::unsupported(request.headers().get(http::header::CONTENT_TYPE));
        }
        content_type::Kind::Json | content_type::Kind::Absent | content_type::Kind::Other => {}
    }
    let (parts, body) = request.into_parts();
    let connection = parts.extensions.get::<ConnectionWaiting>().cloned();
    let limit = entry.proxy.max_message_bytes;
    let read = http_body_util::Limited::new(body, limit).collect();
    let arrived = entry
        .proxy
        .arrivals
        .arrive(connection.as_ref(), entry.body_timeout, read)
        .await;
    let body = match arrived {
        Ok(collected) => axum::body::Body::from(collected.to_bytes()),
        Err(NotArrived::Failed(error)) if error.is::<http_body_util::LengthLimitError>() => {
            return transcode::body_too_large(limit);
        }
        Err(NotArrived::Failed(_)) => {
            return errors::error_response(&tonic::Status::invalid_argument(
                "请求内容未能完整读取，请重试（the request body could not be read）",
            ));
        }
        Err(NotArrived::NoRoom(status)) => {
            zhengqi_shared::metrics::increment(
                zhengqi_shared::metrics::Count::GatewayRejections,
                "waiting_full",
            );
            return errors::error_response(&status);
        }
        Err(NotArrived::Late(wait)) => {
            zhengqi_shared::metrics::increment(
                zhengqi_shared::metrics::Count::GatewayRejections,
                "body_late",
            );
            let mut response = errors::error_response(&limits::message_late(wait));
            *response.status_mut() = http::StatusCode::REQUEST_TIMEOUT;
            return response;
        }
    };
    transcode::handle(State(entry.transcoder), Request::from_parts(parts, body)).await
}

impl Gateway {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves gRPC (HTTP/2) and HTTP on one address until `shutdown`, finishing
    /// the calls in flight.
    pub async fn run_until_stopped(mut self, shutdown: Shutdown) -> Result<(), Error> {
        tracing::info!(addr = %self.addr, "gateway serving");
        connections::serve(
            self.listener,
            self.router,
            self.connections,
            self.arrivals,
            shutdown,
        )
        .await;
        self.tasks.shutdown().await;
        // The router is gone, and with it every sender of audit records: the
        // writer ends once it has written what was queued.
        if let Some(writer) = self.audit_writer.take()
            && tokio::time::timeout(Duration::from_secs(10), writer)
                .await
                .is_err()
        {
            tracing::warn!("the audit writer did not finish within 10 s");
        }
        Ok(())
    }
}

//! Server bootstrap shared by every service: listeners bound first (port 0 in
//! tests), standard health, reflection v1 and v1alpha, token verification,
//! metrics, `/healthz` `/readyz` `/metrics` on an ops port, and graceful shutdown
//! that finishes the calls in flight.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::routing::get;
use futures_util::future::BoxFuture;
use tokio::net::TcpListener;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::util::BoxCloneSyncService;

use crate::auth::{Principal, Verifier, bearer_token};
use crate::authorization;
use crate::error::Error;
use crate::events::EventLog;
use crate::metrics::{self, MetricsLayer};
use crate::shutdown::Shutdown;
use crate::storage::{Migrations, Store};

/// Paths answered without a token: health checks and reflection.
pub fn is_open_path(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.")
}

/// Sets up structured logging, on stderr, once per process; `filter` is a
/// tracing filter (`ZHENGQI_LOG`), `info` when unset.
pub fn init_tracing(filter: Option<&str>) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter.unwrap_or("info"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Logs on stderr: stdout carries what a command prints for its user.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_target(true)
        .try_init();
}

/// The listeners of one part, bound before anything else so the real addresses
/// (also with port 0) are known at once.
#[derive(Debug)]
pub struct Host {
    part: &'static str,
    listener: TcpListener,
    ops_listener: Option<TcpListener>,
    addr: SocketAddr,
    ops_addr: Option<SocketAddr>,
}

impl Host {
    pub async fn bind(
        part: &'static str,
        listen: SocketAddr,
        ops: Option<SocketAddr>,
    ) -> Result<Host, Error> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| Error::internal(format!("{part}: cannot listen on {listen}: {e}")))?;
        let addr = listener.local_addr().map_err(Error::internal)?;
        let ops_listener =
            match ops {
                Some(ops) => Some(TcpListener::bind(ops).await.map_err(|e| {
                    Error::internal(format!("{part}: cannot listen on {ops}: {e}"))
                })?),
                None => None,
            };
        let ops_addr = ops_listener.as_ref().and_then(|l| l.local_addr().ok());
        Ok(Host {
            part,
            listener,
            ops_listener,
            addr,
            ops_addr,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops_addr
    }

    /// Serves `stack` until `shutdown`. Health answers NOT_SERVING, and every other
    /// call UNAVAILABLE, until `prepare` (the migrations) has finished.
    async fn serve<F>(self, stack: Stack, prepare: F, shutdown: Shutdown) -> Result<(), Error>
    where
        F: Future<Output = Result<(), Error>>,
    {
        let Stack {
            service,
            health,
            ready,
            name,
        } = stack;
        health
            .set_service_status("", ServingStatus::NotServing)
            .await;
        health
            .set_service_status(name, ServingStatus::NotServing)
            .await;

        if let Some(ops) = self.ops_listener {
            let ready = Arc::clone(&ready);
            let router = axum::Router::new()
                .route("/healthz", get(|| async { "ok\n" }))
                .route(
                    "/readyz",
                    get(move || {
                        let ready = ready.load(Ordering::Acquire);
                        async move {
                            if ready {
                                (http::StatusCode::OK, "ready\n")
                            } else {
                                (http::StatusCode::SERVICE_UNAVAILABLE, "starting\n")
                            }
                        }
                    }),
                )
                .route(
                    "/metrics",
                    get(|| async { metrics::exposition(metrics::render()) }),
                );
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                let _ = axum::serve(ops, router)
                    .with_graceful_shutdown(async move { shutdown.wait().await })
                    .await;
            });
        }

        // Without TCP_NODELAY a unary reply's trailers wait for the peer's delayed ACK
        // (Nagle): about 40 ms on every call.
        let incoming =
            tonic::transport::server::TcpIncoming::from(self.listener).with_nodelay(Some(true));
        let stopping = shutdown.clone();
        let server = tokio::spawn(
            tonic::transport::Server::builder().serve_with_incoming_shutdown(
                service,
                incoming,
                async move { stopping.wait().await },
            ),
        );

        if let Err(error) = prepare.await {
            tracing::error!(part = self.part, %error, "start-up failed");
            shutdown.trigger();
            let _ = server.await;
            return Err(error);
        }
        ready.store(true, Ordering::Release);
        health.set_service_status("", ServingStatus::Serving).await;
        health
            .set_service_status(name, ServingStatus::Serving)
            .await;
        tracing::info!(part = self.part, addr = %self.addr, "serving");

        let result = server.await.map_err(Error::internal)?;
        result.map_err(|e| Error::internal(format!("{}: server failed: {e}", self.part)))
    }
}

/// `routes` with server reflection (v1 and v1alpha) of every contract and of
/// the health service.
pub fn with_reflection(routes: tonic::service::Routes) -> Result<tonic::service::Routes, Error> {
    let v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(zhengqi_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(Error::internal)?;
    let v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(zhengqi_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(Error::internal)?;
    Ok(routes.add_service(v1).add_service(v1alpha))
}

/// A gRPC service as tonic's generated servers are, shareable between tasks.
pub trait GrpcService:
    tower::Service<
        http::Request<Body>,
        Response = http::Response<Body>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> GrpcService for S where
    S: tower::Service<
            http::Request<Body>,
            Response = http::Response<Body>,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// A part's whole gRPC stack as one tower service: metrics, the token check,
/// health, reflection and the service itself, exactly what its listener
/// serves. A gateway in the same process (`zhengqi up`) calls it directly, so
/// a call crosses no second HTTP/2 connection; the service still verifies the
/// token and applies its data scope as it does for a call over the network.
#[derive(Clone)]
pub struct InProcess(BoxCloneSyncService<http::Request<Body>, http::Response<Body>, Infallible>);

impl InProcess {
    /// `service` (a part's stack, or any gRPC service) for callers in this process.
    pub fn new<S>(service: S) -> InProcess
    where
        S: GrpcService,
    {
        InProcess(BoxCloneSyncService::new(service))
    }
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InProcess")
    }
}

impl tower::Service<http::Request<Body>> for InProcess {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        self.0.call(request)
    }
}

/// The calls a part's stack is answering for callers in its own process, so
/// the part finishes them before it closes its store, and refuses new ones
/// once it is stopping, as its listener does.
#[derive(Default)]
struct InProcessCalls {
    count: std::sync::atomic::AtomicUsize,
    stopping: AtomicBool,
    idle: tokio::sync::Notify,
}

/// One in-process call under way; counted until dropped.
struct InProcessCall(Arc<InProcessCalls>);

impl Drop for InProcessCall {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl InProcessCalls {
    /// Refuses new calls, then waits up to `limit` for those under way.
    async fn stop(&self, limit: std::time::Duration) {
        self.stopping.store(true, Ordering::Release);
        let finished = async {
            loop {
                let idle = self.idle.notified();
                if self.count.load(Ordering::Acquire) == 0 {
                    return;
                }
                idle.await;
            }
        };
        if tokio::time::timeout(limit, finished).await.is_err() {
            tracing::warn!("calls from within the process still running at shutdown");
        }
    }
}

/// A part's stack as its in-process callers get it: counted, and refused
/// with UNAVAILABLE once the part is stopping.
#[derive(Clone)]
struct Counted {
    inner: InProcess,
    calls: Arc<InProcessCalls>,
}

impl tower::Service<http::Request<Body>> for Counted {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        self.calls.count.fetch_add(1, Ordering::AcqRel);
        let call = InProcessCall(Arc::clone(&self.calls));
        if self.calls.stopping.load(Ordering::Acquire) {
            let status = tonic::Status::unavailable("stopping");
            return Box::pin(async move {
                drop(call);
                Ok(status.into_http())
            });
        }
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await;
            drop(call);
            response
        })
    }
}

/// What a part serves, built once: the stack, its health reporter, and
/// whether the migrations have finished.
struct Stack {
    service: InProcess,
    health: HealthReporter,
    ready: Arc<AtomicBool>,
    /// The service's full name, e.g. `zhengqi.intake.v1.IntakeService`.
    name: &'static str,
}

impl Stack {
    fn new<S>(part: &'static str, service: S, verifier: Verifier) -> Result<Stack, Error>
    where
        S: GrpcService + NamedService,
    {
        let (health, health_service) = tonic_health::server::health_reporter();
        let ready = Arc::new(AtomicBool::new(false));
        let routes = with_reflection(tonic::service::Routes::new(health_service))?
            .add_service(service)
            .prepare();
        let service = tower::ServiceBuilder::new()
            .layer(MetricsLayer::new(part))
            .layer(AuthLayer::new(verifier, Arc::clone(&ready)))
            .service(routes);
        Ok(Stack {
            service: InProcess::new(service),
            health,
            ready,
            name: S::NAME,
        })
    }
}

/// Verifies the bearer token of every call except health and reflection, and
/// puts the [`Principal`] into the request's extensions.
#[derive(Clone)]
pub struct AuthLayer {
    verifier: Verifier,
    ready: Arc<AtomicBool>,
}

impl AuthLayer {
    pub fn new(verifier: Verifier, ready: Arc<AtomicBool>) -> Self {
        Self { verifier, ready }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            verifier: self.verifier.clone(),
            ready: Arc::clone(&self.ready),
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    verifier: Verifier,
    ready: Arc<AtomicBool>,
}

impl<S> tower::Service<http::Request<Body>> for AuthService<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // The clone that was polled ready serves this call; a fresh clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if is_open_path(request.uri().path()) {
            return Box::pin(inner.call(request));
        }
        if !self.ready.load(Ordering::Acquire) {
            let status = tonic::Status::unavailable("starting: migrations are running");
            return Box::pin(async move { Ok(status.into_http()) });
        }
        let verifier = self.verifier.clone();
        Box::pin(async move {
            let header = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            let verified = match bearer_token(header) {
                Ok(token) => verifier.verify(token).await,
                Err(error) => Err(error),
            };
            match verified {
                Ok(principal) => {
                    // The roles of the method's declared rule, checked here for
                    // every method so no handler can forget them.
                    let path = request.uri().path();
                    if let Err(error) = authorization::model().admit(path, &principal) {
                        metrics::increment(metrics::Count::AuthRefusals, "role");
                        let status: tonic::Status = error.into();
                        return Ok(status.into_http());
                    }
                    request.extensions_mut().insert::<Principal>(principal);
                    inner.call(request).await
                }
                Err(error) => {
                    metrics::increment(metrics::Count::AuthFailures, error.reason());
                    let status: tonic::Status = Error::Unauthenticated(error).into();
                    Ok(status.into_http())
                }
            }
        })
    }
}

/// One service, bound and connected, ready to run: what every service's
/// `build(config)` returns.
pub struct Part<S> {
    host: Host,
    store: Store,
    stack: Stack,
    in_process_calls: Arc<InProcessCalls>,
    /// The service's type, served inside `stack`.
    service: std::marker::PhantomData<fn() -> S>,
    migrations: Option<&'static Migrations>,
    background: Vec<BoxFuture<'static, ()>>,
    events: Option<Arc<EventLog>>,
}

impl<S> Part<S>
where
    S: GrpcService + NamedService,
{
    pub fn new(
        host: Host,
        store: Store,
        service: S,
        verifier: Verifier,
        migrations: Option<&'static Migrations>,
    ) -> Result<Self, Error> {
        let stack = Stack::new(host.part, service, verifier)?;
        Ok(Self {
            host,
            store,
            stack,
            in_process_calls: Arc::default(),
            service: std::marker::PhantomData,
            migrations,
            background: Vec::new(),
            events: None,
        })
    }

    /// The part's stack, for a caller in the same process. The part finishes
    /// the calls made through it before closing its store when it stops, and
    /// answers later ones UNAVAILABLE.
    pub fn in_process(&self) -> InProcess {
        InProcess::new(Counted {
            inner: self.stack.service.clone(),
            calls: Arc::clone(&self.in_process_calls),
        })
    }

    /// The service's event log, whose watch streams end when the service stops.
    pub fn with_event_log(mut self, events: Arc<EventLog>) -> Self {
        self.events = Some(events);
        self
    }

    /// Adds a task (e.g. an event consumer) started once the migrations have run.
    pub fn with_background(
        mut self,
        task: impl FnOnce(Shutdown) -> BoxFuture<'static, ()>,
        shutdown: &Shutdown,
    ) -> Self {
        self.background.push(task(shutdown.clone()));
        self
    }

    pub fn addr(&self) -> SocketAddr {
        self.host.addr()
    }

    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.host.ops_addr()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs the migrations (health NOT_SERVING meanwhile), starts the background
    /// tasks, then serves until `shutdown`, finishing the calls in flight.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), Error> {
        let store = self.store.clone();
        let migrations = self.migrations;
        let background = self.background;
        if let Some(events) = self.events {
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                shutdown.wait().await;
                events.close();
            });
        }
        let prepare = async move {
            if let Some(migrations) = migrations {
                store.migrate(migrations).await?;
            }
            for task in background {
                tokio::spawn(task);
            }
            Ok(())
        };
        let result = self.host.serve(self.stack, prepare, shutdown).await;
        self.in_process_calls
            .stop(std::time::Duration::from_secs(10))
            .await;
        self.store.close().await;
        result
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use tower::ServiceExt;

    use super::*;

    /// Answers every call OK after `delay`.
    #[derive(Clone)]
    struct Slow(Duration);

    impl tower::Service<http::Request<Body>> for Slow {
        type Response = http::Response<Body>;
        type Error = Infallible;
        type Future = BoxFuture<'static, Result<http::Response<Body>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<Body>) -> Self::Future {
            let delay = self.0;
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                Ok(http::Response::new(Body::empty()))
            })
        }
    }

    fn grpc_status(response: &http::Response<Body>) -> Option<&str> {
        response
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
    }

    #[tokio::test]
    async fn a_stopping_part_finishes_the_calls_from_its_process_and_refuses_new_ones() {
        let calls = Arc::new(InProcessCalls::default());
        let stack = InProcess::new(Counted {
            inner: InProcess::new(Slow(Duration::from_millis(300))),
            calls: Arc::clone(&calls),
        });
        let under_way = tokio::spawn(stack.clone().oneshot(http::Request::new(Body::empty())));
        tokio::time::sleep(Duration::from_millis(50)).await;

        let started = Instant::now();
        calls.stop(Duration::from_secs(5)).await;
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "stop waited for the call under way"
        );
        let answered = under_way.await.unwrap().unwrap();
        assert_eq!(grpc_status(&answered), None, "the call under way succeeded");

        let refused = stack
            .oneshot(http::Request::new(Body::empty()))
            .await
            .unwrap();
        assert_eq!(
            grpc_status(&refused),
            Some("14"),
            "UNAVAILABLE once stopping"
        );
        assert_eq!(calls.count.load(Ordering::Acquire), 0);
    }
}

//! The services behind the gateway: one lazily connected channel per replica,
//! so a replica that is down answers `UNAVAILABLE` at once instead of holding
//! the gateway up. Calls are balanced by the power of two choices (two healthy
//! replicas drawn at random, the one with fewer calls in flight wins). Each
//! replica is checked with `grpc.health.v1.Health/Check` periodically; one that
//! fails the check, or a call's connection, is taken out until a check passes.
//! When no replica is healthy a call still goes to one, so it fails fast with
//! the real error rather than waiting for the next check.
//!
//! In `zhengqi up` the services run in the gateway's own process, and the
//! default deployment calls their stacks directly ([`Connection::InProcess`]):
//! the same gRPC request, token check and all, without a second HTTP/2 hop.
//!
//! In a federated setup there is one set of services per deployment (the
//! city's, a county's); [`Upstreams::owner_of`] says which deployment holds a
//! jurisdiction's data.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::TryFutureExt;
use futures_util::future::{Either, MapErr};
use tokio::task::JoinSet;
use tonic::body::Body;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use zhengqi_shared::Error;
use zhengqi_shared::server::InProcess;

/// HTTP/2 connections the gateway keeps to each replica. A service reads each
/// connection's frames in one task, so calls spread over a few connections are
/// served by all its cores rather than queued behind one connection.
const CONNECTIONS_PER_REPLICA: usize = 4;

/// Failed health checks in a row that take a replica out (a refused
/// connection on a call takes it out at once).
const UNHEALTHY_AFTER: u32 = 2;

/// The address shown for a service in the gateway's own process.
pub const IN_PROCESS: &str = "in-process";

/// How calls reach a replica.
#[derive(Debug, Clone)]
pub enum Connection {
    /// An HTTP/2 connection, made when first needed.
    Network(Channel),
    /// The service's stack in this process.
    InProcess(InProcess),
}

type InProcessFuture = <InProcess as tower::Service<http::Request<Body>>>::Future;

impl tower::Service<http::Request<Body>> for Connection {
    type Response = http::Response<Body>;
    type Error = tonic::transport::Error;
    type Future = Either<
        <Channel as tower::Service<http::Request<Body>>>::Future,
        MapErr<InProcessFuture, fn(Infallible) -> tonic::transport::Error>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self {
            Connection::Network(channel) => channel.poll_ready(cx),
            Connection::InProcess(service) => service.poll_ready(cx).map_err(never),
        }
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        match self {
            Connection::Network(channel) => Either::Left(channel.call(request)),
            Connection::InProcess(service) => {
                Either::Right(service.call(request).map_err(never as fn(_) -> _))
            }
        }
    }
}

fn never(never: Infallible) -> tonic::transport::Error {
    match never {}
}

/// One replica of a service.
#[derive(Debug)]
pub struct Replica {
    pub address: String,
    /// Calls take them in turn.
    connections: Vec<Connection>,
    next_connection: AtomicUsize,
    in_flight: AtomicUsize,
    healthy: AtomicBool,
}

impl Replica {
    fn new(address: String, connections: Vec<Connection>) -> Replica {
        Replica {
            address,
            connections,
            next_connection: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            healthy: AtomicBool::new(true),
        }
    }

    /// The next of the replica's connections.
    fn connection(&self) -> Connection {
        let next = self.next_connection.fetch_add(1, Ordering::Relaxed);
        self.connections[next % self.connections.len()].clone()
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Takes the replica out after a failed connection; a passing health check puts it back.
    pub fn mark_unreachable(&self) {
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(address = %self.address, "upstream replica unreachable, taken out");
        }
    }

    fn set_health(&self, service: &str, healthy: bool) {
        let was = self.healthy.swap(healthy, Ordering::Relaxed);
        if was != healthy {
            if healthy {
                tracing::info!(%service, address = %self.address, "upstream replica healthy, put back");
            } else {
                tracing::warn!(%service, address = %self.address, "upstream replica failed its health check, taken out");
            }
        }
    }
}

/// A replica chosen for one call; counts as in flight until dropped.
pub struct Picked {
    replica: Arc<Replica>,
}

impl Picked {
    pub fn connection(&self) -> Connection {
        self.replica.connection()
    }

    pub fn replica(&self) -> &Replica {
        &self.replica
    }
}

impl Drop for Picked {
    fn drop(&mut self) {
        self.replica.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One deployment's services (the city's, or a county's that runs its own).
#[derive(Debug, Default)]
struct Deployment {
    name: String,
    by_service: HashMap<String, Vec<Arc<Replica>>>,
}

/// Every deployment behind the gateway. The first is the default: it owns
/// every jurisdiction no other deployment names.
#[derive(Debug, Default)]
pub struct Upstreams {
    deployments: Vec<Deployment>,
    /// Jurisdiction code → index of the deployment that owns it.
    owners: HashMap<String, usize>,
}

/// The name of the deployment of `GatewayConfig::upstreams`.
pub const DEFAULT_DEPLOYMENT: &str = "default";

fn endpoint(service: &str, address: &str) -> Result<Endpoint, Error> {
    let address = if address.contains("://") {
        address.to_owned()
    } else {
        format!("http://{address}")
    };
    Endpoint::from_shared(address.clone())
        .map(|e| {
            e.connect_timeout(Duration::from_secs(1))
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(30))
        })
        .map_err(|e| Error::internal(format!("upstream {service}: bad address {address:?}: {e}")))
}

fn deployment(name: &str, addresses: &BTreeMap<String, Vec<String>>) -> Result<Deployment, Error> {
    let mut by_service = HashMap::new();
    for (service, replicas) in addresses {
        let replicas = replicas
            .iter()
            .map(|address| {
                let endpoint = endpoint(service, address)?;
                let connections = (0..CONNECTIONS_PER_REPLICA)
                    .map(|_| Connection::Network(endpoint.connect_lazy()))
                    .collect();
                Ok(Arc::new(Replica::new(address.clone(), connections)))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        if !replicas.is_empty() {
            by_service.insert(service.clone(), replicas);
        }
    }
    Ok(Deployment {
        name: name.to_owned(),
        by_service,
    })
}

impl Upstreams {
    /// One deployment owning every jurisdiction: `addresses` maps a service's
    /// full name to its replicas' addresses.
    pub fn new(addresses: &BTreeMap<String, Vec<String>>) -> Result<Upstreams, Error> {
        Self::federated(addresses, &BTreeMap::new(), &[])
    }

    /// The default deployment (`addresses`, and the services of `in_process`
    /// called in this process instead) and `others`, each owning its jurisdictions.
    pub fn federated(
        addresses: &BTreeMap<String, Vec<String>>,
        in_process: &BTreeMap<String, InProcess>,
        others: &[crate::Deployment],
    ) -> Result<Upstreams, Error> {
        let mut default = deployment(DEFAULT_DEPLOYMENT, addresses)?;
        for (service, stack) in in_process {
            let replica = Replica::new(
                IN_PROCESS.to_owned(),
                vec![Connection::InProcess(stack.clone())],
            );
            default
                .by_service
                .insert(service.clone(), vec![Arc::new(replica)]);
        }
        let mut deployments = vec![default];
        let mut owners = HashMap::new();
        for other in others {
            let index = deployments.len();
            deployments.push(deployment(&other.name, &other.upstreams)?);
            for code in &other.jurisdictions {
                if let Some(before) = owners.insert(code.clone(), index) {
                    return Err(Error::internal(format!(
                        "gateway: jurisdiction {code} is owned by both {} and {}",
                        deployments[before].name, other.name
                    )));
                }
            }
        }
        Ok(Upstreams {
            deployments,
            owners,
        })
    }

    /// The deployment that owns `jurisdiction` (the default when none names it).
    pub fn owner_of(&self, jurisdiction: Option<&str>) -> usize {
        jurisdiction
            .and_then(|code| self.owners.get(code))
            .copied()
            .unwrap_or(0)
    }

    /// A replica of `service` in `deployment` for one call; `None` when the
    /// service is not configured there.
    pub fn pick(&self, deployment: usize, service: &str) -> Option<Picked> {
        let replicas = self.deployments.get(deployment)?.by_service.get(service)?;
        let replica = Arc::clone(choose(replicas));
        replica.in_flight.fetch_add(1, Ordering::Relaxed);
        Some(Picked { replica })
    }

    /// A connection to `service` (`zhengqi.intake.v1.IntakeService`) of the default deployment.
    pub fn connection(&self, service: &str) -> Option<Connection> {
        self.deployments
            .first()?
            .by_service
            .get(service)
            .map(|replicas| choose(replicas).connection())
    }

    fn replicas(&self) -> impl Iterator<Item = (&str, &str, &Arc<Replica>)> {
        self.deployments.iter().flat_map(|d| {
            let mut services: Vec<_> = d.by_service.iter().collect();
            services.sort_by(|a, b| a.0.cmp(b.0));
            services.into_iter().flat_map(move |(service, replicas)| {
                replicas
                    .iter()
                    .map(move |r| (d.name.as_str(), service.as_str(), r))
            })
        })
    }

    /// `deployment/service` of every service none of whose replicas is healthy.
    pub fn unready(&self) -> Vec<String> {
        self.deployments
            .iter()
            .flat_map(|d| {
                d.by_service
                    .iter()
                    .filter(|(_, replicas)| !replicas.iter().any(|r| r.is_healthy()))
                    .map(move |(service, _)| format!("{}/{service}", d.name))
            })
            .collect()
    }

    /// Checks every replica every `interval` until the tasks are dropped.
    pub fn spawn_health_checks(&self, interval: Duration, tasks: &mut JoinSet<()>) {
        for (_, service, replica) in self.replicas() {
            let service = service.to_owned();
            let replica = Arc::clone(replica);
            tasks.spawn(async move {
                let mut ticks = tokio::time::interval(interval);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut failed_in_a_row = 0;
                loop {
                    ticks.tick().await;
                    if check(&replica, &service, interval).await {
                        failed_in_a_row = 0;
                        replica.set_health(&service, true);
                    } else {
                        failed_in_a_row += 1;
                        // One slow answer from a busy replica is not an outage.
                        if failed_in_a_row >= UNHEALTHY_AFTER {
                            replica.set_health(&service, false);
                        }
                    }
                }
            });
        }
    }

    /// `zhengqi_gateway_upstream_healthy` and `…_in_flight` per replica, as
    /// they are now, into a scrape's `registry`.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        use prometheus_client::metrics::family::Family;
        use prometheus_client::metrics::gauge::Gauge;
        type Replicas = Family<[(&'static str, String); 3], Gauge>;
        let healthy = Replicas::default();
        let in_flight = Replicas::default();
        for (deployment, service, replica) in self.replicas() {
            let labels = [
                ("deployment", deployment.to_owned()),
                ("service", service.to_owned()),
                ("replica", replica.address.clone()),
            ];
            healthy
                .get_or_create(&labels)
                .set(i64::from(replica.is_healthy()));
            in_flight
                .get_or_create(&labels)
                .set(replica.in_flight.load(Ordering::Relaxed) as i64);
        }
        registry.register(
            "zhengqi_gateway_upstream_healthy",
            "1 when the replica passes its health checks.",
            healthy,
        );
        registry.register(
            "zhengqi_gateway_upstream_in_flight",
            "Calls in flight to the replica.",
            in_flight,
        );
    }
}

/// Power of two choices among the healthy replicas (among all when none is).
fn choose(replicas: &[Arc<Replica>]) -> &Arc<Replica> {
    if replicas.len() == 1 {
        return &replicas[0];
    }
    let healthy = replicas.iter().filter(|r| r.is_healthy()).count();
    let (count, only_healthy) = if healthy == 0 {
        (replicas.len(), false)
    } else {
        (healthy, true)
    };
    let nth = |n: usize| {
        replicas
            .iter()
            .filter(|r| !only_healthy || r.is_healthy())
            .nth(n)
            .unwrap_or(&replicas[0])
    };
    if count == 1 {
        return nth(0);
    }
    let first = fastrand::usize(..count);
    let mut second = fastrand::usize(..count - 1);
    if second >= first {
        second += 1;
    }
    let (a, b) = (nth(first), nth(second));
    if b.in_flight.load(Ordering::Relaxed) < a.in_flight.load(Ordering::Relaxed) {
        b
    } else {
        a
    }
}

async fn check(replica: &Replica, service: &str, interval: Duration) -> bool {
    let mut client = HealthClient::new(replica.connection());
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: service.to_owned(),
    });
    let timeout = interval.min(Duration::from_secs(2));
    request.set_timeout(timeout);
    match tokio::time::timeout(timeout, client.check(request)).await {
        Ok(Ok(response)) => response.into_inner().status() == ServingStatus::Serving,
        Ok(Err(_)) | Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replicas(n: usize) -> Upstreams {
        let addresses = (0..n).map(|i| format!("127.0.0.1:{}", 1 + i)).collect();
        Upstreams::new(&BTreeMap::from([("s".to_owned(), addresses)])).unwrap()
    }

    #[tokio::test]
    async fn the_less_busy_replica_of_two_wins_and_unhealthy_ones_are_skipped() {
        let upstreams = replicas(2);
        let busy = upstreams.pick(0, "s").unwrap();
        for _ in 0..20 {
            let next = upstreams.pick(0, "s").unwrap();
            assert_ne!(next.replica().address, busy.replica().address);
        }
        drop(busy);
        let all = &upstreams.deployments[0].by_service["s"];
        all[0].mark_unreachable();
        for _ in 0..20 {
            assert_eq!(
                upstreams.pick(0, "s").unwrap().replica().address,
                all[1].address
            );
        }
        all[1].mark_unreachable();
        assert!(
            upstreams.pick(0, "s").is_some(),
            "none healthy: still one to try"
        );
        assert!(upstreams.pick(0, "other").is_none());
    }
}

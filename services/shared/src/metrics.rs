//! Prometheus metrics: per-method call counts and latency histograms, and the
//! parts' counters and gauges, kept in a `prometheus-client` registry (atomic
//! counters; a family's lock is taken for reading once its series exists) and
//! rendered in the OpenMetrics text format on `/metrics`.

use std::collections::HashSet;
use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    part: &'static str,
    method: &'static str,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    part: &'static str,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartLabels {
    part: &'static str,
}

/// A counter of the parts, by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// `zhengqi_auth_refusals_total`: calls a part refused for their role.
    AuthRefusals,
    /// `zhengqi_auth_failures_total`: tokens a part did not accept.
    AuthFailures,
    /// `zhengqi_gateway_auth_failures_total`: tokens the gateway did not accept.
    GatewayAuthFailures,
    /// `zhengqi_gateway_rejections_total`: calls and connections the gateway turned away.
    GatewayRejections,
    /// `zhengqi_gateway_audit_dropped_total`: audit records not kept.
    GatewayAuditDropped,
}

impl Count {
    const ALL: [Count; 5] = [
        Count::AuthRefusals,
        Count::AuthFailures,
        Count::GatewayAuthFailures,
        Count::GatewayRejections,
        Count::GatewayAuditDropped,
    ];

    /// The family's name (the text format adds `_total`) and help.
    fn described(self) -> (&'static str, &'static str) {
        match self {
            Count::AuthRefusals => (
                "zhengqi_auth_refusals",
                "Calls refused for the caller's role.",
            ),
            Count::AuthFailures => (
                "zhengqi_auth_failures",
                "Tokens a part did not accept, by reason.",
            ),
            Count::GatewayAuthFailures => (
                "zhengqi_gateway_auth_failures",
                "Tokens the gateway did not accept, by reason.",
            ),
            Count::GatewayRejections => (
                "zhengqi_gateway_rejections",
                "Calls and connections the gateway turned away, by reason.",
            ),
            Count::GatewayAuditDropped => (
                "zhengqi_gateway_audit_dropped",
                "Audit records not kept, by reason.",
            ),
        }
    }
}

/// A gauge of each part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `zhengqi_calendar_days_left`: days of the working-day calendar left.
    CalendarDaysLeft,
}

struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    latency: Family<MethodLabels, Histogram, fn() -> Histogram>,
    counts: Vec<Family<ReasonLabels, Counter>>,
    calendar_days_left: Family<PartLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::default();
    let calls = Family::<CallLabels, Counter>::default();
    registry.register(
        "zhengqi_calls",
        "gRPC calls by part, method and status code.",
        calls.clone(),
    );
    let latency = Family::<MethodLabels, Histogram>::new_with_constructor(
        (|| Histogram::new(BUCKETS)) as fn() -> Histogram,
    );
    registry.register(
        "zhengqi_call_seconds",
        "Time to the response headers of gRPC calls.",
        latency.clone(),
    );
    let counts = Count::ALL
        .iter()
        .map(|count| {
            let family = Family::<ReasonLabels, Counter>::default();
            let (name, help) = count.described();
            registry.register(name, help, family.clone());
            family
        })
        .collect();
    let calendar_days_left = Family::default();
    registry.register(
        "zhengqi_calendar_days_left",
        "Days left on the loaded working-day calendar.",
        calendar_days_left.clone(),
    );
    Metrics {
        registry,
        calls,
        latency,
        counts,
        calendar_days_left,
    }
});

/// Every method a part serves, by gRPC path: the contracts', health's and
/// reflection's. A call to any other path is counted as [`OTHER_METHOD`], so
/// callers cannot add a series per made-up path.
static METHODS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    use prost::Message;
    let sets = [
        zhengqi_proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ];
    let mut methods = HashSet::new();
    for set in sets {
        let Ok(set) = prost_types::FileDescriptorSet::decode(set) else {
            continue;
        };
        for file in &set.file {
            for service in &file.service {
                for method in &service.method {
                    methods.insert(format!(
                        "/{}.{}/{}",
                        file.package(),
                        service.name(),
                        method.name()
                    ));
                }
            }
        }
    }
    methods
});

/// The method label of a call to a path that names no method.
pub const OTHER_METHOD: &str = "other";

/// The label `method` is counted under: itself when it is a method, else [`OTHER_METHOD`].
fn method_label(method: &str) -> &'static str {
    match METHODS.get(method) {
        Some(known) => known.as_str(),
        None => OTHER_METHOD,
    }
}

/// The label of a gRPC status code, as `grpc-status` carries it.
pub fn code_label(code: tonic::Code) -> &'static str {
    CODE_LABELS.get(code as usize).copied().unwrap_or("2")
}

const CODE_LABELS: [&str; 17] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
];

/// The label of a `grpc-status` header's value: a code, else "2" (unknown).
fn answered_label(code: &str) -> &'static str {
    match code {
        "transport" => "transport",
        code => CODE_LABELS
            .iter()
            .find(|label| **label == code)
            .copied()
            .unwrap_or("2"),
    }
}

/// Records one call of `method` (a gRPC path) served by `part`.
pub fn record_call(part: &'static str, method: &str, code: &str, elapsed: Duration) {
    let method = method_label(method);
    let metrics = &*METRICS;
    metrics
        .calls
        .get_or_create(&CallLabels {
            part,
            method,
            code: answered_label(code),
        })
        .inc();
    metrics
        .latency
        .get_or_create(&MethodLabels { part, method })
        .observe(elapsed.as_secs_f64());
}

/// Adds one to `count` with the reason `reason` (e.g. an auth failure's).
pub fn increment(count: Count, reason: &'static str) {
    // `counts` is registered in the order of `Count::ALL`, the declaration order.
    METRICS.counts[count as usize]
        .get_or_create(&ReasonLabels { reason })
        .inc();
}

/// Sets `level` of `part` (e.g. the days left on the loaded calendar).
pub fn set_gauge(level: Level, part: &'static str, value: f64) {
    match level {
        Level::CalendarDaysLeft => {
            METRICS
                .calendar_days_left
                .get_or_create(&PartLabels { part })
                .set(value);
        }
    }
}

/// The answer of `/metrics`: `text` with the OpenMetrics content type.
pub fn exposition(text: String) -> ([(http::header::HeaderName, &'static str); 1], String) {
    (
        [(
            http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
}

/// Every metric in the OpenMetrics text format.
pub fn render() -> String {
    render_with(None)
}

/// Every metric, and those of `more` (a part's own, made at scrape time).
pub fn render_with(more: Option<&Registry>) -> String {
    use prometheus_client::encoding::text::{encode_eof, encode_registry};
    let mut out = String::new();
    // Writing to a String does not fail.
    let _ = encode_registry(&mut out, &METRICS.registry);
    if let Some(more) = more {
        let _ = encode_registry(&mut out, more);
    }
    let _ = encode_eof(&mut out);
    out
}

/// The code label of an answer, from its headers: a status there is a
/// trailers-only (error) answer; one that streams its status in the trailers
/// counts as OK ("0").
pub fn answered_code(headers: &http::HeaderMap) -> &str {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("0")
}

/// A tower layer that records every call through it.
#[derive(Debug, Clone)]
pub struct MetricsLayer {
    part: &'static str,
}

impl MetricsLayer {
    pub fn new(part: &'static str) -> Self {
        Self { part }
    }
}

impl<S> tower::Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            part: self.part,
            inner,
        }
    }
}

#[derive(Debug, Clone)]
pub struct MetricsService<S> {
    part: &'static str,
    inner: S,
}

impl<S, B, R> tower::Service<http::Request<B>> for MetricsService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Send,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = method_label(request.uri().path());
        let part = self.part;
        let started = Instant::now();
        let future = self.inner.call(request);
        Box::pin(async move {
            let result = future.await;
            let code = match &result {
                Ok(response) => answered_code(response.headers()),
                Err(_) => "transport",
            };
            record_call(part, method, code, started.elapsed());
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_that_names_no_method_is_counted_as_other() {
        let part = "metrics-test-other";
        record_call(
            part,
            "/zhengqi.intake.v1.IntakeService/SubmitAppeal",
            "0",
            Duration::from_millis(2),
        );
        for made_up in [
            "/v1/appeals/510821-20261127-0001",
            "/x/y",
            "/zhengqi.intake.v1.IntakeService/Nope",
        ] {
            record_call(
                part,
                made_up,
                code_label(tonic::Code::Unimplemented),
                Duration::ZERO,
            );
        }
        let text = render();
        assert!(text.contains(&format!(
            "zhengqi_calls_total{{part=\"{part}\",method=\"/zhengqi.intake.v1.IntakeService/SubmitAppeal\",code=\"0\"}} 1"
        )));
        assert!(text.contains(&format!(
            "zhengqi_calls_total{{part=\"{part}\",method=\"other\",code=\"12\"}} 3"
        )));
        assert!(!text.contains("/x/y") && !text.contains("/Nope"), "{text}");
    }

    #[test]
    fn a_gauge_shows_its_last_value_per_part() {
        set_gauge(Level::CalendarDaysLeft, "metrics-test-gauge", 3.0);
        set_gauge(Level::CalendarDaysLeft, "metrics-test-gauge", 27.0);
        let text = render();
        assert!(
            text.contains("# TYPE zhengqi_calendar_days_left gauge"),
            "{text}"
        );
        assert!(
            text.contains("zhengqi_calendar_days_left{part=\"metrics-test-gauge\"} 27"),
            "{text}"
        );
    }

    #[test]
    fn counters_count_by_reason() {
        increment(Count::GatewayRejections, "metrics-test");
        increment(Count::GatewayRejections, "metrics-test");
        let text = render();
        assert!(
            text.contains("zhengqi_gateway_rejections_total{reason=\"metrics-test\"} 2"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn health_and_reflection_are_methods_too() {
        assert_eq!(
            method_label("/grpc.health.v1.Health/Check"),
            "/grpc.health.v1.Health/Check"
        );
        assert_eq!(
            method_label("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
        );
        assert_eq!(code_label(tonic::Code::Unauthenticated), "16");
    }
}

//! Prometheus metrics: per-method call counts and latency histograms, and named
//! counters, rendered in the text exposition format on `/metrics`.

use std::collections::{BTreeMap, HashSet};
use std::sync::{LazyLock, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The calls of one method of one part.
#[derive(Default)]
struct MethodCalls {
    /// By status code.
    codes: BTreeMap<String, u64>,
    latency: Histogram,
}

#[derive(Default)]
struct Registry {
    /// Part → method → its calls.
    calls: BTreeMap<String, BTreeMap<String, MethodCalls>>,
    counters: BTreeMap<(String, String), u64>,
    /// (name, part) → the value last set.
    gauges: BTreeMap<(String, String), f64>,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Default::default);

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
fn method_label(method: &str) -> &str {
    if METHODS.contains(method) {
        method
    } else {
        OTHER_METHOD
    }
}

/// The label of a gRPC status code, as `grpc-status` carries it.
pub fn code_label(code: tonic::Code) -> &'static str {
    const LABELS: [&str; 17] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    ];
    LABELS.get(code as usize).copied().unwrap_or("2")
}

/// The entry of `key` in `map`; the key is copied only the first time.
fn entry<'m, V: Default>(map: &'m mut BTreeMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}

/// Records one call of `method` (a gRPC path) served by `part`.
pub fn record_call(part: &str, method: &str, code: &str, elapsed: Duration) {
    let method = method_label(method);
    let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    let calls = entry(entry(&mut registry.calls, part), method);
    *entry(&mut calls.codes, code) += 1;
    let histogram = &mut calls.latency;
    let seconds = elapsed.as_secs_f64();
    for (bound, count) in BUCKETS.iter().zip(histogram.counts.iter_mut()) {
        if seconds <= *bound {
            *count += 1;
        }
    }
    histogram.count += 1;
    histogram.sum += seconds;
}

/// Adds one to the counter `name` with the label value `label` (e.g. an auth failure reason).
pub fn increment(name: &str, label: &str) {
    let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    *registry
        .counters
        .entry((name.to_owned(), label.to_owned()))
        .or_default() += 1;
}

/// Sets the gauge `name` of `part` (e.g. the days left on the loaded calendar).
pub fn set_gauge(name: &str, part: &str, value: f64) {
    let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    registry
        .gauges
        .insert((name.to_owned(), part.to_owned()), value);
}

/// Every metric in the Prometheus text format.
pub fn render() -> String {
    use std::fmt::Write;
    let registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = String::new();
    out.push_str("# HELP zhengqi_calls_total gRPC calls by part, method and status code.\n");
    out.push_str("# TYPE zhengqi_calls_total counter\n");
    let methods = || {
        registry.calls.iter().flat_map(|(part, methods)| {
            methods
                .iter()
                .map(move |(method, calls)| (part, method, calls))
        })
    };
    for (part, method, calls) in methods() {
        for (code, count) in &calls.codes {
            let _ = writeln!(
                out,
                "zhengqi_calls_total{{part=\"{part}\",method=\"{method}\",code=\"{code}\"}} {count}"
            );
        }
    }
    out.push_str("# HELP zhengqi_call_seconds Time to the response headers of gRPC calls.\n");
    out.push_str("# TYPE zhengqi_call_seconds histogram\n");
    for (part, method, calls) in methods() {
        let histogram = &calls.latency;
        for (bound, count) in BUCKETS.iter().zip(histogram.counts.iter()) {
            let _ = writeln!(
                out,
                "zhengqi_call_seconds_bucket{{part=\"{part}\",method=\"{method}\",le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "zhengqi_call_seconds_bucket{{part=\"{part}\",method=\"{method}\",le=\"+Inf\"}} {}",
            histogram.count
        );
        let _ = writeln!(
            out,
            "zhengqi_call_seconds_sum{{part=\"{part}\",method=\"{method}\"}} {}",
            histogram.sum
        );
        let _ = writeln!(
            out,
            "zhengqi_call_seconds_count{{part=\"{part}\",method=\"{method}\"}} {}",
            histogram.count
        );
    }
    let mut last = "";
    for ((name, label), count) in &registry.counters {
        if name != last {
            let _ = writeln!(out, "# TYPE {name} counter");
            last = name;
        }
        let _ = writeln!(out, "{name}{{reason=\"{label}\"}} {count}");
    }
    let mut last = "";
    for ((name, part), value) in &registry.gauges {
        if name != last {
            let _ = writeln!(out, "# TYPE {name} gauge");
            last = name;
        }
        let _ = writeln!(out, "{name}{{part=\"{part}\"}} {value}");
    }
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
        let method = request.uri().path().to_owned();
        let part = self.part;
        let started = Instant::now();
        let future = self.inner.call(request);
        Box::pin(async move {
            let result = future.await;
            let code = match &result {
                Ok(response) => answered_code(response.headers()),
                Err(_) => "transport",
            };
            record_call(part, &method, code, started.elapsed());
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
        set_gauge("zhengqi_test_gauge", "metrics-test-gauge", 3.0);
        set_gauge("zhengqi_test_gauge", "metrics-test-gauge", 27.0);
        let text = render();
        assert!(text.contains("# TYPE zhengqi_test_gauge gauge"), "{text}");
        assert!(
            text.contains("zhengqi_test_gauge{part=\"metrics-test-gauge\"} 27"),
            "{text}"
        );
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

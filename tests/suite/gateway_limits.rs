//! The gateway's limits and upstreams, through real calls: a subject over its
//! rate, a message over the size limit, a slow service past the deadline,
//! calls beyond the concurrency limit, a dead service, replicas balanced and
//! taken out when unhealthy, CORS for the portal, and the metrics of all this.
//! Each test builds a gateway of its own in front of a suite's services; a
//! service that must be slow, dead or replicated is played by a small tonic
//! server with the real health service, registered as the policy service
//! (or, for the gateway's own process, the same fake as a stack it calls directly).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::*;
use crate::gateway_support::*;
use reqwest::StatusCode;
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus as CheckedStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;
use zhengqi_gateway::GatewaySettings;
use zhengqi_gateway::limits::RateLimit;
use zhengqi_proto::zhengqi::intake::v1 as intake;
use zhengqi_proto::zhengqi::policy::v1 as policy;
use zhengqi_proto::zhengqi::policy::v1::policy_service_client::PolicyServiceClient;
use zhengqi_shared::auth::Role;

fn get_policy(token: &str) -> tonic::Request<policy::GetPolicyRequest> {
    authed(
        policy::GetPolicyRequest {
            id: "510800-01JDPOLICY".into(),
            version: 0,
        },
        token,
    )
}

fn list_appeals(token: &str) -> tonic::Request<intake::ListAppealsRequest> {
    authed(intake::ListAppealsRequest::default(), token)
}

#[tokio::test]
async fn a_subject_over_its_rate_gets_resource_exhausted_and_429_with_retry_after() {
    let suite = TestSuite::start().await;
    let settings = GatewaySettings {
        rate_limit: Some(RateLimit {
            per_second: 0.2,
            burst: 3,
        }),
        ..GatewaySettings::default()
    };
    let gateway = TestGateway::start(&suite, settings, Duration::from_secs(10), &[]).await;
    let enterprise = suite.enterprise_token(USCC_A, "510821");
    let mut intake = gateway.intake().await;
    for _ in 0..3 {
        intake
            .list_appeals(list_appeals(&enterprise))
            .await
            .expect("within the burst");
    }
    let refused = intake
        .list_appeals(list_appeals(&enterprise))
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::ResourceExhausted,
        "{refused:?}"
    );
    let retry = refused
        .get_details_retry_info()
        .and_then(|info| info.retry_delay)
        .expect("a RetryInfo detail");
    assert!(retry > Duration::ZERO);

    // The same subject on another connection, over HTTP: the bucket is shared.
    let response = gateway.http_get("/v1/appeals", &enterprise).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let body: serde_json::Value = json_of(response).await;
    assert_eq!(body["code"], 8);

    // Everyone else is served meanwhile.
    let coordinator = suite.official_token(Role::Coordinator, "510800");
    for _ in 0..3 {
        intake
            .list_appeals(list_appeals(&coordinator))
            .await
            .expect("another subject has its own bucket");
    }
    let metrics = gateway.metrics().await;
    assert!(
        metrics.contains("zhengqi_gateway_rejections_total{reason=\"rate_limited\"}"),
        "{metrics}"
    );
    drop(gateway);
    suite.stop().await;
}

#[tokio::test]
async fn a_message_over_the_size_limit_gets_resource_exhausted_and_413() {
    let suite = TestSuite::start().await;
    let settings = GatewaySettings {
        max_message_bytes: 2048,
        ..GatewaySettings::default()
    };
    let gateway = TestGateway::start(&suite, settings, Duration::from_secs(10), &[]).await;
    let token = suite.enterprise_token(USCC_A, "510821");
    let mut intake = gateway.intake().await;
    let mut big = appeal("big-1", USCC_A, "510821", "贷款");
    big.description = "流动资金".repeat(300);
    let refused = intake
        .submit_appeal(authed(big.clone(), &token))
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::ResourceExhausted,
        "{refused:?}"
    );

    // One message too large in the middle of a client stream.
    let coordinator = suite.official_token(Role::Coordinator, "510800");
    let stream = tokio_stream::iter(vec![appeal("small-1", USCC_A, "510821", "贷款"), big]);
    let refused = intake
        .import_appeals(authed(stream, &coordinator))
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::ResourceExhausted,
        "{refused:?}"
    );

    let response = reqwest::Client::new()
        .post(format!("{}/v1/appeals", gateway.url()))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(
            serde_json::json!({
                "requestId": "big-2",
                "jurisdictionCode": "510821",
                "title": "贷款",
                "description": "流动资金".repeat(300),
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: serde_json::Value = json_of(response).await;
    assert_eq!(body["code"], 8);

    // A message within the limit goes through.
    let appeal = intake
        .submit_appeal(authed(appeal("ok-1", USCC_A, "510821", "贷款"), &token))
        .await
        .expect("a small appeal is accepted")
        .into_inner();
    assert!(appeal.id.starts_with("510821-"));
    drop(gateway);
    suite.stop().await;
}

/// The slow `GetPolicy` of the fake answered by `tag` runs past the gateway's
/// default deadline (300 ms) while other calls are served; a caller's own
/// deadline goes on to the service, less the time spent.
async fn the_deadlines_hold(gateway: &TestGateway, token: &str, tag: &str) {
    let mut policy = gateway.policy().await;
    let request = get_policy(token);
    let pending = {
        let mut policy = policy.clone();
        tokio::spawn(async move { policy.get_policy(request).await })
    };
    let mut intake = gateway.intake().await;
    intake
        .list_appeals(list_appeals(token))
        .await
        .expect("intake answers meanwhile");
    let late = pending.await.unwrap().unwrap_err();
    assert_eq!(late.code(), tonic::Code::DeadlineExceeded, "{late:?}");

    let mut request = authed(policy::ListPoliciesRequest::default(), token);
    request.set_timeout(Duration::from_secs(2));
    let answer = policy.list_policies(request).await.unwrap_err();
    assert_eq!(answer.message(), format!("answered by {tag}"));
    let seen = answer
        .metadata()
        .get("x-seen-grpc-timeout")
        .expect("the service saw a deadline")
        .to_str()
        .unwrap();
    let millis: u64 = seen.strip_suffix('m').unwrap().parse().unwrap();
    assert!(millis > 0 && millis <= 2000, "{seen}");

    // A timeout no clock can hold is answered, not a reset stream: past the
    // eight digits gRPC allows it is ignored, and the default applies.
    let mut request = authed(policy::ListPoliciesRequest::default(), token);
    request
        .metadata_mut()
        .insert("grpc-timeout", "18446744073709551615S".parse().unwrap());
    let answer = policy.list_policies(request).await.unwrap_err();
    assert_eq!(answer.message(), format!("answered by {tag}"), "{answer:?}");
}

#[tokio::test]
async fn a_slow_service_past_the_deadline_gets_deadline_exceeded_and_504() {
    let suite = TestSuite::start().await;
    let slow = fake_policy("slow", Duration::from_secs(5)).await;
    let gateway = TestGateway::start(
        &suite,
        GatewaySettings::default(),
        Duration::from_millis(300),
        &[(POLICY, vec![slow.addr.clone()])],
    )
    .await;
    let token = suite.official_token(Role::Coordinator, "510800");
    the_deadlines_hold(&gateway, &token, "slow").await;

    let response = gateway
        .http_get("/v1/policies/510800-01JDPOLICY", &token)
        .await;
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    let body: serde_json::Value = json_of(response).await;
    assert_eq!(body["code"], 4);
    drop(gateway);
    suite.stop().await;
}

#[tokio::test]
async fn a_service_in_the_gateways_own_process_keeps_deadlines_and_is_checked_like_any_replica() {
    let suite = TestSuite::start().await;
    let settings = GatewaySettings {
        in_process: BTreeMap::from([(
            POLICY.to_owned(),
            fake_policy_in_process("here", Duration::from_secs(5)).await,
        )]),
        health_interval: Duration::from_millis(100),
        ..GatewaySettings::default()
    };
    // The suite's policy address stays configured: the stack in the process replaces it.
    let gateway = TestGateway::start(&suite, settings, Duration::from_millis(300), &[]).await;
    let token = suite.official_token(Role::Coordinator, "510800");
    the_deadlines_hold(&gateway, &token, "here").await;

    // Its health is checked through the same stack.
    wait_for_metric(
        &gateway,
        &format!(
            "zhengqi_gateway_upstream_healthy{{deployment=\"default\",service=\"{POLICY}\",replica=\"in-process\"}} 1"
        ),
    )
    .await;
    let mut health = HealthClient::new(gateway.channel().await);
    let status = health
        .check(HealthCheckRequest {
            service: POLICY.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .status();
    assert_eq!(status, CheckedStatus::Serving);
    drop(gateway);
    suite.stop().await;
}

#[tokio::test]
async fn calls_beyond_the_concurrency_limit_are_shed_with_unavailable_and_503() {
    let suite = TestSuite::start().await;
    let slow = fake_policy("slow", Duration::from_millis(1500)).await;
    let settings = GatewaySettings {
        max_in_flight: Some(2),
        ..GatewaySettings::default()
    };
    let gateway = TestGateway::start(
        &suite,
        settings,
        Duration::from_secs(10),
        &[(POLICY, vec![slow.addr.clone()])],
    )
    .await;
    let token = suite.official_token(Role::Coordinator, "510800");
    let mut intake = gateway.intake().await;

    // One slow call leaves room for others.
    let mut policy = gateway.policy().await;
    let first = {
        let request = get_policy(&token);
        let mut policy = policy.clone();
        tokio::spawn(async move { policy.get_policy(request).await })
    };
    wait_for_in_flight(&gateway, 1).await;
    intake
        .list_appeals(list_appeals(&token))
        .await
        .expect("one of two places is free");

    // Two fill the gateway: the next call is shed at once, not queued.
    let second = {
        let request = get_policy(&token);
        tokio::spawn(async move { policy.get_policy(request).await })
    };
    wait_for_in_flight(&gateway, 2).await;
    let shed = intake.list_appeals(list_appeals(&token)).await.unwrap_err();
    assert_eq!(shed.code(), tonic::Code::Unavailable, "{shed:?}");
    let response = gateway.http_get("/v1/appeals", &token).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);

    // The slow calls finish with their own answer, and the gateway serves again.
    for call in [first, second] {
        let answer = call.await.unwrap().unwrap_err();
        assert_eq!(answer.code(), tonic::Code::NotFound);
        assert_eq!(answer.message(), "answered by slow");
    }
    intake
        .list_appeals(list_appeals(&token))
        .await
        .expect("served again");
    let metrics = gateway.metrics().await;
    assert!(
        metrics.contains("zhengqi_gateway_rejections_total{reason=\"overloaded\"}"),
        "{metrics}"
    );
    drop(gateway);
    suite.stop().await;
}

async fn wait_for_in_flight(gateway: &TestGateway, n: usize) {
    let line = format!("zhengqi_gateway_in_flight {n}\n");
    for _ in 0..100 {
        if gateway.metrics().await.contains(&line) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never {n} calls in flight");
}

#[tokio::test]
async fn a_dead_service_answers_unavailable_at_once() {
    let suite = TestSuite::start().await;
    let (dead, _reserved) = dead_address().await;
    let gateway = TestGateway::start(
        &suite,
        GatewaySettings::default(),
        Duration::from_secs(30),
        &[(POLICY, vec![dead])],
    )
    .await;
    let token = suite.official_token(Role::Coordinator, "510800");
    let mut policy = gateway.policy().await;
    for _ in 0..3 {
        let started = Instant::now();
        let refused = policy.get_policy(get_policy(&token)).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "failed fast, not after the 30 s deadline: {:?}",
            started.elapsed()
        );
    }
    let response = gateway
        .http_get("/v1/policies/510800-01JDPOLICY", &token)
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    gateway
        .intake()
        .await
        .list_appeals(list_appeals(&token))
        .await
        .expect("the other services are served");
    drop(gateway);
    suite.stop().await;
}

/// Calls answered by each replica tag, out of `n`.
async fn answered_by(
    policy: &mut PolicyServiceClient<tonic::transport::Channel>,
    token: &str,
    n: usize,
) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for _ in 0..n {
        let answer = policy.get_policy(get_policy(token)).await.unwrap_err();
        assert_eq!(answer.code(), tonic::Code::NotFound, "{answer:?}");
        *seen.entry(answer.message().to_owned()).or_default() += 1;
    }
    seen
}

async fn wait_for_metric(gateway: &TestGateway, line: &str) {
    for _ in 0..200 {
        if gateway.metrics().await.contains(line) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never {line}:\n{}", gateway.metrics().await);
}

#[tokio::test]
async fn replicas_share_the_calls_and_an_unhealthy_one_is_taken_out_and_put_back() {
    let suite = TestSuite::start().await;
    let a = fake_policy("a", Duration::ZERO).await;
    let b = fake_policy("b", Duration::ZERO).await;
    let (dead, _reserved) = dead_address().await;
    let settings = GatewaySettings {
        health_interval: Duration::from_millis(100),
        ..GatewaySettings::default()
    };
    let gateway = TestGateway::start(
        &suite,
        settings,
        Duration::from_secs(10),
        &[(POLICY, vec![a.addr.clone(), b.addr.clone(), dead.clone()])],
    )
    .await;
    let healthy = |addr: &str, up: u8| {
        format!(
            "zhengqi_gateway_upstream_healthy{{deployment=\"default\",service=\"{POLICY}\",replica=\"{addr}\"}} {up}\n"
        )
    };
    wait_for_metric(&gateway, &healthy(&dead, 0)).await;
    let token = suite.official_token(Role::Coordinator, "510800");
    let mut policy = gateway.policy().await;

    let seen = answered_by(&mut policy, &token, 60).await;
    assert_eq!(seen.len(), 2, "only the live replicas answer: {seen:?}");
    assert!(
        seen.values().all(|n| *n >= 10),
        "both replicas take a share: {seen:?}"
    );

    b.health
        .set_service_status(POLICY, ServingStatus::NotServing)
        .await;
    wait_for_metric(&gateway, &healthy(&b.addr, 0)).await;
    let seen = answered_by(&mut policy, &token, 20).await;
    assert_eq!(
        seen,
        BTreeMap::from([("answered by a".to_owned(), 20)]),
        "b is out"
    );

    b.health
        .set_service_status(POLICY, ServingStatus::Serving)
        .await;
    wait_for_metric(&gateway, &healthy(&b.addr, 1)).await;
    let seen = answered_by(&mut policy, &token, 60).await;
    assert!(
        seen.get("answered by b").is_some_and(|n| *n >= 10),
        "b is back: {seen:?}"
    );
    drop(gateway);
    suite.stop().await;
}

#[tokio::test]
async fn readyz_is_ready_only_while_every_service_has_a_healthy_replica() {
    let suite = TestSuite::start().await;
    let readyz = |gateway: &TestGateway| {
        let url = format!("{}/readyz", gateway.url());
        async move {
            let response = reqwest::get(url).await.expect("the gateway answers");
            (response.status(), response.text().await.unwrap())
        }
    };
    let settings = || GatewaySettings {
        health_interval: Duration::from_millis(100),
        ..GatewaySettings::default()
    };
    let whole = TestGateway::start(&suite, settings(), Duration::from_secs(10), &[]).await;
    assert_eq!(readyz(&whole).await.0, StatusCode::OK);

    let (dead, _reserved) = dead_address().await;
    let broken = TestGateway::start(
        &suite,
        settings(),
        Duration::from_secs(10),
        &[(POLICY, vec![dead])],
    )
    .await;
    let mut answer = readyz(&broken).await;
    for _ in 0..100 {
        if answer.0 != StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        answer = readyz(&broken).await;
    }
    assert_eq!(answer.0, StatusCode::SERVICE_UNAVAILABLE, "{}", answer.1);
    assert!(answer.1.contains(POLICY), "names the service: {}", answer.1);
    assert_eq!(
        readyz(&whole).await.0,
        StatusCode::OK,
        "the other gateway is unaffected"
    );
    drop(whole);
    drop(broken);
    suite.stop().await;
}

#[tokio::test]
async fn metrics_show_auth_failures_by_reason_calls_and_upstream_health() {
    let suite = TestSuite::start().await;
    let gateway = TestGateway::start(
        &suite,
        GatewaySettings::default(),
        Duration::from_secs(10),
        &[],
    )
    .await;
    let mut intake = gateway.intake().await;
    let refused = intake
        .list_appeals(intake::ListAppealsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let refused = intake
        .list_appeals(list_appeals("not.a.token"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let token = suite.official_token(Role::Coordinator, "510800");
    intake.list_appeals(list_appeals(&token)).await.unwrap();
    // HTTP/JSON counts under the gRPC method it calls; a path with an id in it
    // (or one naming nothing) adds no series of its own.
    let read = gateway
        .http_get("/v1/appeals/510821-20261127-0001", &token)
        .await;
    assert_eq!(read.status(), reqwest::StatusCode::NOT_FOUND);
    let nothing = gateway.http_get("/v1/no-such-thing/42", &token).await;
    assert_eq!(nothing.status(), reqwest::StatusCode::NOT_FOUND);

    let metrics = gateway.metrics().await;
    assert!(
        !metrics.contains("510821-20261127-0001") && !metrics.contains("no-such-thing"),
        "a path became a series:\n{metrics}"
    );
    for expected in [
        "zhengqi_gateway_auth_failures_total{reason=\"missing\"}",
        "zhengqi_gateway_auth_failures_total{reason=\"malformed\"}",
        "zhengqi_calls_total{part=\"gateway\",method=\"/zhengqi.intake.v1.IntakeService/ListAppeals\",code=\"0\"}",
        "zhengqi_calls_total{part=\"gateway\",method=\"/zhengqi.intake.v1.IntakeService/GetAppeal\",code=\"5\"}",
        "zhengqi_gateway_upstream_healthy{deployment=\"default\",service=\"zhengqi.intake.v1.IntakeService\"",
        "zhengqi_gateway_in_flight 0",
    ] {
        assert!(
            metrics.contains(expected),
            "{expected} missing from\n{metrics}"
        );
    }
    // A latency histogram per method (its labels in the exposition's order).
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("zhengqi_call_seconds_bucket{")
                && line.contains("le=\"+Inf\"")
                && line.contains("part=\"gateway\"")
                && line.contains("method=\"/zhengqi.intake.v1.IntakeService/ListAppeals\"")),
        "no ListAppeals latency histogram in\n{metrics}"
    );
    drop(gateway);
    suite.stop().await;
}

#[tokio::test]
async fn the_portal_origin_may_call_the_json_api_from_a_browser_and_others_may_not() {
    let suite = TestSuite::start().await;
    let settings = GatewaySettings {
        cors_origins: vec!["https://portal.guangyuan.example".to_owned()],
        ..GatewaySettings::default()
    };
    let gateway = TestGateway::start(&suite, settings, Duration::from_secs(10), &[]).await;
    let client = reqwest::Client::new();
    let preflight = |origin: &str| {
        client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/v1/appeals", gateway.url()),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let allowed = preflight("https://portal.guangyuan.example").await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://portal.guangyuan.example"
    );
    let allow_headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allow_headers.contains("authorization"), "{allow_headers}");

    let other = preflight("https://elsewhere.example").await.unwrap();
    assert!(
        other.headers().get("access-control-allow-origin").is_none(),
        "another origin gets no CORS grant"
    );

    let token = suite.official_token(Role::Coordinator, "510800");
    let response = client
        .get(format!("{}/v1/appeals", gateway.url()))
        .header("origin", "https://portal.guangyuan.example")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://portal.guangyuan.example"
    );
    drop(gateway);
    suite.stop().await;
}

/// Settings whose rate limit is off, so that the limits under test are the
/// only ones that can answer.
fn without_rate_limit() -> GatewaySettings {
    GatewaySettings {
        rate_limit: None,
        ..GatewaySettings::default()
    }
}

/// Bounds a wait that should end, so a broken gateway fails the test instead of hanging it.
async fn eventually<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not happen within 60 s"))
}

/// An HTTP/2 connection of a raw client: streams opened by hand.
async fn raw_http2(addr: std::net::SocketAddr) -> h2::client::SendRequest<bytes::Bytes> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    client
}

/// A gRPC call's headers with a valid token and no message after them.
fn headers_only(addr: std::net::SocketAddr, token: &str) -> http::Request<()> {
    http::Request::post(format!(
        "http://{addr}/zhengqi.intake.v1.IntakeService/ListAppeals"
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .header("authorization", format!("Bearer {token}"))
    .body(())
    .unwrap()
}

/// The status of a gRPC answer that came as headers only.
fn grpc_status_of(response: &http::Response<h2::RecvStream>) -> tonic::Status {
    tonic::Status::from_header_map(response.headers()).expect("a grpc-status header")
}

#[tokio::test]
async fn streams_that_send_headers_and_no_body_do_not_make_a_normal_call_fail() {
    let suite = TestSuite::start().await;
    let mut settings = without_rate_limit();
    // Few places in flight, so the streams would take them all were they
    // counted before their message arrived.
    settings.max_in_flight = Some(4);
    settings.connections.max_waiting_per_connection = 8;
    settings.connections.first_message_timeout = Duration::from_secs(3);
    let gateway = TestGateway::start(&suite, settings, Duration::from_secs(30), &[]).await;
    let token = suite.official_token(Role::Coordinator, "510800");

    // Three connections with 40 streams each: headers, a valid token, no body.
    let mut pending = Vec::new();
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let mut client = raw_http2(gateway.addr).await;
        for _ in 0..40 {
            client = client.ready().await.unwrap();
            let (response, body) = client
                .send_request(headers_only(gateway.addr, &token), false)
                .unwrap();
            pending.push(response);
            bodies.push(body);
        }
    }

    // Meanwhile an ordinary caller is served, over gRPC and HTTP/JSON.
    let mut intake = gateway.intake().await;
    for _ in 0..5 {
        intake
            .list_appeals(list_appeals(&token))
            .await
            .expect("a normal call goes through");
    }
    let response = gateway.http_get("/v1/appeals", &token).await;
    assert_eq!(response.status(), StatusCode::OK);

    // Each stream is answered: beyond its connection's 8 places at once with
    // RESOURCE_EXHAUSTED, the ones that waited with DEADLINE_EXCEEDED.
    let mut codes = BTreeMap::<String, usize>::new();
    for response in pending {
        let response = eventually("an answer to a stream with no body", response)
            .await
            .unwrap();
        let status = grpc_status_of(&response);
        *codes.entry(format!("{:?}", status.code())).or_default() += 1;
    }
    assert_eq!(
        codes,
        BTreeMap::from([
            ("DeadlineExceeded".to_owned(), 24),
            ("ResourceExhausted".to_owned(), 96)
        ]),
        "the answers to the 120 streams"
    );
    drop(bodies);
    let metrics = gateway.metrics().await;
    for reason in ["waiting_full", "message_late"] {
        assert!(
            metrics.contains(&format!(
                "zhengqi_gateway_rejections_total{{reason=\"{reason}\"}}"
            )),
            "{reason} missing from\n{metrics}"
        );
    }
    drop(gateway);
    suite.stop().await;
}

#[tokio::test]
async fn a_stream_whose_message_never_comes_gets_deadline_exceeded_naming_the_wait() {
    let suite = TestSuite::start().await;
    let mut settings = without_rate_limit();
    settings.connections.first_message_timeout = Duration::from_secs(1);
    let gateway = TestGateway::start(&suite, settings, Duration::from_secs(30), &[]).await;
    let token = suite.official_token(Role::Coordinator, "510800");
    let mut client = raw_http2(gateway.addr).await.ready().await.unwrap();
    let (response, mut body) = client
        .send_request(headers_only(gateway.addr, &token), false)
        .unwrap();
    // Two bytes of the five-byte message prefix, then nothing.
    body.send_data(bytes::Bytes::from_static(&[0, 0]), false)
        .unwrap();
    let response = eventually("the answer", response).await.unwrap();
    let status = grpc_status_of(&response);
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    assert!(
        status.message().contains("请求消息未在 1 秒内到达"),
        "{}",
        status.message()
    );
    drop(body);
    drop(gateway);
    suite.stop().await;
}

/// Reads `stream` until the gateway closes it (end of file or a reset);
/// what it answered before that.
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut answered = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return answered,
            Ok(n) => answered.extend_from_slice(&buffer[..n]),
        }
    }
}

#[tokio::test]
async fn a_partial_http1_request_is_closed_after_the_header_timeout() {
    use tokio::io::AsyncWriteExt;
    let suite = TestSuite::start().await;
    let mut settings = without_rate_limit();
    settings.connections.header_timeout = Duration::from_secs(1);
    let gateway = TestGateway::start(&suite, settings, Duration::from_secs(30), &[]).await;

    // A head that never ends, and a connection that never sends a byte.
    let mut partial = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    partial
        .write_all(b"GET /v1/appeals HTTP/1.1\r\nHost: gateway\r\nX-Slow: ")
        .await
        .unwrap();
    let mut silent = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    for stream in [&mut partial, &mut silent] {
        let answered = eventually("closing the connection", read_until_closed(stream)).await;
        assert!(
            answered.is_empty(),
            "closed without an answer: {answered:?}"
        );
    }

    // A whole request on a connection of its own is answered meanwhile.
    let token = suite.official_token(Role::Coordinator, "510800");
    let response = gateway.http_get("/v1/appeals", &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let metrics = gateway.metrics().await;
    assert!(
        metrics.contains("zhengqi_gateway_rejections_total{reason=\"header_timeout\"}"),
        "{metrics}"
    );
    drop(gateway);
    suite.stop().await;
}

#[tokio::test]
async fn an_http_json_body_that_stops_arriving_gets_408() {
    use tokio::io::AsyncWriteExt;
    let suite = TestSuite::start().await;
    let mut settings = without_rate_limit();
    settings.connections.body_timeout = Duration::from_secs(1);
    let gateway = TestGateway::start(&suite, settings, Duration::from_secs(30), &[]).await;
    let token = suite.enterprise_token(USCC_A, "510821");
    let mut stream = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    let head = format!(
        "POST /v1/appeals HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"title\": \"贷"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answered = eventually("the answer", read_until_closed(&mut stream)).await;
    let answered = String::from_utf8_lossy(&answered);
    assert!(
        answered.starts_with("HTTP/1.1 408"),
        "a 408 answer: {answered}"
    );
    assert!(answered.contains("\"code\":4"), "{answered}");
    drop(gateway);
    suite.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_per_peer_cap_are_refused_and_a_freed_place_is_taken_again() {
    use tokio::io::AsyncWriteExt;
    let suite = TestSuite::start().await;
    let mut settings = without_rate_limit();
    settings.connections.max_per_peer = Some(2);
    let gateway = TestGateway::start(&suite, settings, Duration::from_secs(30), &[]).await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n";

    // Two connections, each answered once and kept open.
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut stream = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut answer = [0u8; 12];
        use tokio::io::AsyncReadExt;
        stream.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"HTTP/1.1 200");
        open.push(stream);
    }

    // The third from the same address is closed before it is read.
    let mut third = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    let _ = third.write_all(request).await;
    let answered = eventually("refusing the third", read_until_closed(&mut third)).await;
    assert!(
        answered.is_empty(),
        "refused without an answer: {answered:?}"
    );

    // One of the two closes: a new connection gets its place.
    drop(open.pop());
    let served = eventually("a freed place", async {
        loop {
            let mut stream = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
            let _ = stream.write_all(request).await;
            let answered = read_until_first_line(&mut stream).await;
            if !answered.is_empty() {
                return answered;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
    drop(open);
    let metrics = eventually("the metrics", async {
        loop {
            if let Ok(response) = reqwest::get(format!("{}/metrics", gateway.url())).await {
                return response.text().await.unwrap();
            }
        }
    })
    .await;
    assert!(
        metrics.contains("zhengqi_gateway_rejections_total{reason=\"too_many_connections\"}"),
        "{metrics}"
    );
    drop(gateway);
    suite.stop().await;
}

/// The status line the gateway answers on `stream`, or nothing when it closed it.
async fn read_until_first_line(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut answered = Vec::new();
    let mut buffer = [0u8; 256];
    while !answered.contains(&b'\n') {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answered.extend_from_slice(&buffer[..n]),
        }
    }
    String::from_utf8_lossy(&answered).into_owned()
}

#[tokio::test]
async fn the_default_rate_limit_answers_resource_exhausted_and_429() {
    // The suite's own gateway, configured as `zhengqi up` is with nothing set.
    let suite = TestSuite::start().await;
    let token = suite.official_token(Role::Coordinator, "510800");
    let channel = suite.channel().await;
    // Rounds of many calls at once from one subject, until one is refused:
    // beyond the default burst and rate, some are.
    let refused = eventually("a refusal over gRPC", async {
        loop {
            let mut calls = tokio::task::JoinSet::new();
            for _ in 0..500 {
                let mut policy = PolicyServiceClient::new(channel.clone());
                let request = get_policy(&token);
                calls.spawn(async move { policy.get_policy(request).await });
            }
            let mut refused = None;
            while let Some(answer) = calls.join_next().await {
                if let Err(status) = answer.unwrap()
                    && status.code() == tonic::Code::ResourceExhausted
                {
                    refused.get_or_insert(status);
                }
            }
            if let Some(refused) = refused {
                return refused;
            }
        }
    })
    .await;
    assert!(
        refused.message().contains("too many calls"),
        "{}",
        refused.message()
    );

    // Over HTTP/JSON too, with fewer at once than the connections a peer may open.
    let client = reqwest::Client::new();
    let url = format!("{}/v1/policies/510800-01JDPOLICY", suite.gateway());
    eventually("a 429 over HTTP", async {
        loop {
            let mut calls = tokio::task::JoinSet::new();
            for _ in 0..150 {
                let request = client
                    .get(&url)
                    .header("authorization", format!("Bearer {token}"));
                calls.spawn(async move { request.send().await.map(|r| r.status()) });
            }
            let mut statuses = Vec::new();
            while let Some(answer) = calls.join_next().await {
                statuses.push(answer.unwrap());
            }
            if statuses
                .iter()
                .any(|s| matches!(s, Ok(StatusCode::TOO_MANY_REQUESTS)))
            {
                return;
            }
            // The gRPC connection above was closed for its refusals, and this
            // address waits out its cooldown before it is served again.
            if statuses.iter().any(Result::is_err) {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    })
    .await;
    suite.stop().await;
}

#[tokio::test]
async fn a_connection_refused_too_often_is_closed_and_its_address_waits_before_it_is_served_again()
{
    let suite = TestSuite::start().await;
    let mut settings = GatewaySettings {
        rate_limit: Some(RateLimit {
            per_second: 0.01,
            burst: 1,
        }),
        ..GatewaySettings::default()
    };
    settings.connections.max_refusals_per_connection = 5;
    settings.connections.refused_peer_cooldown = Duration::from_secs(2);
    let gateway = TestGateway::start(&suite, settings, Duration::from_secs(10), &[]).await;
    let token = suite.enterprise_token(USCC_A, "510821");
    // The caller past its refusals connects from an address of its own.
    let offender = std::net::IpAddr::from([127, 0, 0, 2]);
    let address = gateway.addr;
    let connect_from = |ip: std::net::IpAddr| async move {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(std::net::SocketAddr::new(ip, 0)).unwrap();
        socket.connect(address).await.unwrap()
    };

    // One connection calling past its rate: each call refused, until the
    // sixth refusal closes the connection with a GOAWAY.
    let (mut client, connection) = h2::client::handshake(connect_from(offender).await)
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    let mut codes = Vec::new();
    for _ in 0..20 {
        let Ok(ready) = client.clone().ready().await else {
            break;
        };
        client = ready;
        let Ok((response, _body)) = client.send_request(headers_only(gateway.addr, &token), true)
        else {
            break;
        };
        match response.await {
            Ok(response) => codes.push(grpc_status_of(&response).code()),
            Err(_) => break,
        }
    }
    // The first, within the burst, reaches the service (and is answered for
    // its missing message); the rest are refused.
    assert_ne!(
        codes.first(),
        Some(&tonic::Code::ResourceExhausted),
        "{codes:?}"
    );
    assert!(
        codes[1..]
            .iter()
            .all(|code| *code == tonic::Code::ResourceExhausted),
        "{codes:?}"
    );
    assert_eq!(
        codes.len(),
        7,
        "one served, six refused, then closed: {codes:?}"
    );
    eventually("the connection's end", driver)
        .await
        .unwrap()
        .expect("closed gracefully");

    // While its address cools down, its new connections are closed unread;
    // other addresses are served as ever.
    let mut again = connect_from(offender).await;
    use tokio::io::AsyncWriteExt;
    let _ = again
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
        .await;
    let answered = eventually(
        "refusing the cooling address",
        read_until_closed(&mut again),
    )
    .await;
    assert!(answered.is_empty(), "refused unread: {answered:?}");
    let mut intake = gateway.intake().await;
    intake
        .list_appeals(list_appeals(&suite.enterprise_token(USCC_B, "510822")))
        .await
        .expect("another address is served");
    let metrics = gateway.metrics().await;
    for reason in ["refused_connection_closed", "peer_cooling_down"] {
        assert!(
            metrics.contains(&format!(
                "zhengqi_gateway_rejections_total{{reason=\"{reason}\"}} 1"
            )),
            "{reason}: {metrics}"
        );
    }

    // Once the cooldown is over, the address is served again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (client, connection) = h2::client::handshake(connect_from(offender).await)
        .await
        .expect("served after the cooldown");
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let fresh = suite.official_token(Role::Coordinator, "510821");
    let (response, _body) = client
        .send_request(headers_only(gateway.addr, &fresh), true)
        .unwrap();
    let response = response.await.expect("answered after the cooldown");
    assert_ne!(
        grpc_status_of(&response).code(),
        tonic::Code::ResourceExhausted
    );
    drop(gateway);
    suite.stop().await;
}

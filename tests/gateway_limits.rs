//! The gateway's limits and upstreams, through real calls: a subject over its
//! rate, a message over the size limit, a slow service past the deadline,
//! calls beyond the concurrency limit, a dead service, replicas balanced and
//! taken out when unhealthy, CORS for the portal, and the metrics of all this.
//! Each test builds a gateway of its own in front of a suite's services; a
//! service that must be slow, dead or replicated is played by a small tonic
//! server with the real health service, registered as the policy service
//! (or, for the gateway's own process, the same fake as a stack it calls directly).

mod common;
mod gateway_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use gateway_support::*;
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
        "zhengqi_call_seconds_bucket{part=\"gateway\",method=\"/zhengqi.intake.v1.IntakeService/ListAppeals\",le=\"+Inf\"}",
        "zhengqi_gateway_upstream_healthy{deployment=\"default\",service=\"zhengqi.intake.v1.IntakeService\"",
        "zhengqi_gateway_in_flight 0",
    ] {
        assert!(
            metrics.contains(expected),
            "{expected} missing from\n{metrics}"
        );
    }
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

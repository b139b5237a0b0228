//! The gateway's audit: one record per authenticated call, over gRPC and
//! HTTP alike, with the method, the caller, the jurisdiction the call was
//! about and the status it ended with; read back by an admin only.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::*;
use crate::gateway_support::*;
use reqwest::StatusCode;
use serde_json::Value;
use zhengqi_gateway::GatewaySettings;
use zhengqi_gateway::audit::AuditSettings;
use zhengqi_proto::zhengqi::intake::v1 as intake;
use zhengqi_shared::auth::{Role, TokenRequest};

const SUBMIT: &str = "/zhengqi.intake.v1.IntakeService/SubmitAppeal";
const GET: &str = "/zhengqi.intake.v1.IntakeService/GetAppeal";
const LIST_ENTERPRISES: &str = "/zhengqi.intake.v1.IntakeService/ListEnterprises";

/// The audit in the suite's own database (a schema of its own on
/// PostgreSQL), or in a SQLite file of the data folder.
async fn audited_gateway(suite: &TestSuite) -> TestGateway {
    let audit = match &suite.database_url {
        Some(url) => AuditSettings {
            schema: Some("gateway_audit".to_owned()),
            ..AuditSettings::new(url.clone())
        },
        None => AuditSettings::new(format!(
            "sqlite://{}",
            suite.data.path().join("gateway-audit.db").display()
        )),
    };
    let settings = GatewaySettings {
        audit: Some(audit),
        ..GatewaySettings::default()
    };
    TestGateway::start(suite, settings, Duration::from_secs(10), &[]).await
}

async fn read_audit(
    gateway: &TestGateway,
    query: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().get(format!("{}/v1/audit{query}", gateway.url()));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.expect("the gateway answers");
    let status = response.status();
    (status, json_of(response).await)
}

/// The entries of `query`, once there are `n` (the audit is written in the background).
async fn wait_for_entries(gateway: &TestGateway, query: &str, admin: &str, n: usize) -> Vec<Value> {
    for _ in 0..250 {
        let (status, body) = read_audit(gateway, query, Some(admin)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let entries = body["entries"].as_array().unwrap().clone();
        if entries.len() >= n {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the audit never held {n} entries for {query}");
}

#[tokio::test]
async fn every_authenticated_call_is_audited_once_and_only_an_admin_reads_the_audit() {
    let suite = TestSuite::start().await;
    let gateway = audited_gateway(&suite).await;
    let enterprise = suite.token(TokenRequest {
        jurisdiction: Some("510821".to_owned()),
        uscc: Some(USCC_A.to_owned()),
        name: Some("张三".to_owned()),
        ..TokenRequest::new("staff-a@510821", vec![Role::Enterprise])
    });
    let mut intake = gateway.intake().await;

    // Seven calls of one enterprise user, with four outcomes.
    let mut ids = Vec::new();
    for i in 0..3 {
        let appeal = intake
            .submit_appeal(authed(
                appeal(
                    &format!("audit-{i}"),
                    USCC_A,
                    "510821",
                    &format!("贷款 {i}"),
                ),
                &enterprise,
            ))
            .await
            .unwrap()
            .into_inner();
        ids.push(appeal.id);
    }
    intake
        .get_appeal(authed(
            intake::GetAppealRequest { id: ids[0].clone() },
            &enterprise,
        ))
        .await
        .unwrap();
    let missing = intake
        .get_appeal(authed(
            intake::GetAppealRequest {
                id: "510822-01JDAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
            },
            &enterprise,
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let denied = intake
        .list_enterprises(authed(
            intake::ListEnterprisesRequest::default(),
            &enterprise,
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let response = reqwest::Client::new()
        .get(format!("{}/v1/appeals/{}", gateway.url(), ids[1]))
        .header("authorization", format!("Bearer {enterprise}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // No token, no identity: refused and not audited.
    let refused = intake
        .get_appeal(intake::GetAppealRequest { id: ids[0].clone() })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    let admin = suite.official_token(Role::Admin, "510800");
    let entries = wait_for_entries(&gateway, "?sub=staff-a@510821", &admin, 7).await;
    assert_eq!(entries.len(), 7, "one record per call: {entries:#?}");
    let mut by_outcome: BTreeMap<(String, String), usize> = BTreeMap::new();
    for entry in &entries {
        assert_eq!(entry["sub"], "staff-a@510821");
        assert_eq!(entry["roles"], serde_json::json!(["enterprise"]));
        assert_eq!(entry["jurisdiction"], "510821");
        assert!(entry["latencyMs"].as_f64().unwrap() >= 0.0);
        assert!(entry["time"].as_str().unwrap().ends_with('Z'));
        let key = (
            entry["method"].as_str().unwrap().to_owned(),
            entry["status"].as_str().unwrap().to_owned(),
        );
        *by_outcome.entry(key).or_default() += 1;
        let target = entry["targetJurisdiction"].as_str().unwrap();
        match (key_method(entry), entry["status"].as_str().unwrap()) {
            (SUBMIT, _) | (GET, "OK") => assert_eq!(target, "510821"),
            (GET, "NOT_FOUND") => assert_eq!(target, "510822", "from the id's prefix"),
            (LIST_ENTERPRISES, _) => assert_eq!(target, ""),
            other => panic!("unexpected record {other:?}"),
        }
    }
    let expected = BTreeMap::from([
        ((SUBMIT.to_owned(), "OK".to_owned()), 3),
        ((GET.to_owned(), "OK".to_owned()), 2),
        ((GET.to_owned(), "NOT_FOUND".to_owned()), 1),
        (
            (LIST_ENTERPRISES.to_owned(), "PERMISSION_DENIED".to_owned()),
            1,
        ),
    ]);
    assert_eq!(by_outcome, expected);
    assert!(
        !serde_json::to_string(&entries).unwrap().contains("张三"),
        "no names in the audit"
    );

    // Filters and pages.
    let submits = wait_for_entries(&gateway, &format!("?method={SUBMIT}"), &admin, 3).await;
    assert_eq!(submits.len(), 3);
    let mut seen = 0;
    let mut token = String::new();
    loop {
        let (status, page) = read_audit(
            &gateway,
            &format!("?sub=staff-a@510821&pageSize=3&pageToken={token}"),
            Some(&admin),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let entries = page["entries"].as_array().unwrap();
        assert!(entries.len() <= 3);
        seen += entries.len();
        token = page["nextPageToken"].as_str().unwrap().to_owned();
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(seen, 7);
    let (_, later) = read_audit(&gateway, "?since=2999-01-01T00:00:00Z", Some(&admin)).await;
    assert_eq!(later["entries"], serde_json::json!([]));

    // Only an admin reads it.
    let coordinator = suite.official_token(Role::Coordinator, "510800");
    let (status, body) = read_audit(&gateway, "", Some(&coordinator)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], 7);
    let (status, _) = read_audit(&gateway, "", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = read_audit(&gateway, "?since=yesterday", Some(&admin)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    drop(gateway);
    suite.stop().await;
}

fn key_method(entry: &Value) -> &str {
    entry["method"].as_str().unwrap()
}

/// `zhengqi audit` run against the suite's audit store.
fn audit_command(suite: &TestSuite, args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_zhengqi"));
    command
        .arg("audit")
        .arg("--data")
        .arg(suite.data.path())
        .args(args)
        .env_remove("ZHENGQI_GATEWAY_AUDIT_DATABASE_URL")
        .env_remove("ZHENGQI_GATEWAY_AUDIT_DATABASE_SCHEMA")
        .env_remove("ZHENGQI_CONFIG");
    if let Some(url) = &suite.database_url {
        command
            .env("ZHENGQI_GATEWAY_AUDIT_DATABASE_URL", url)
            .env("ZHENGQI_GATEWAY_AUDIT_DATABASE_SCHEMA", "gateway_audit");
    }
    command.output().expect("zhengqi audit runs")
}

#[tokio::test]
async fn the_audit_command_prints_the_records_newest_first_with_filters() {
    let suite = TestSuite::start().await;
    let gateway = audited_gateway(&suite).await;
    let admin = suite.official_token(Role::Admin, "510800");
    let enterprise = suite.enterprise_token(USCC_A, "510821");
    let mut intake = gateway.intake().await;
    for i in 0..3 {
        intake
            .submit_appeal(authed(
                appeal(&format!("cli-{i}"), USCC_A, "510821", &format!("用地 {i}")),
                &enterprise,
            ))
            .await
            .unwrap();
    }
    let sub = wait_for_entries(&gateway, &format!("?method={SUBMIT}"), &admin, 3).await[0]["sub"]
        .as_str()
        .unwrap()
        .to_owned();

    let output = audit_command(&suite, &["--sub", &sub, "--method", SUBMIT, "--json"]);
    assert!(output.status.success(), "{output:?}");
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines.iter().all(|entry| entry["sub"] == sub.as_str()
        && entry["method"] == SUBMIT
        && entry["status"] == "OK"
        && entry["targetJurisdiction"] == "510821"));
    let times: Vec<&str> = lines.iter().map(|e| e["time"].as_str().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );

    // --limit pages through the store and stops there; the table has a header.
    let output = audit_command(&suite, &["--sub", &sub, "--limit", "2"]);
    assert!(output.status.success(), "{output:?}");
    let table = String::from_utf8(output.stdout).unwrap();
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(table.lines().next().unwrap().starts_with("time"));
    assert!(table.contains(SUBMIT));

    let output = audit_command(&suite, &["--since", "yesterday"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("since"));
}

#[test]
fn the_audit_command_names_the_folder_when_there_is_no_audit() {
    let empty = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_zhengqi"))
        .args(["audit", "--data"])
        .arg(empty.path())
        .env_remove("ZHENGQI_GATEWAY_AUDIT_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("gateway-audit.db"), "{stderr}");
    assert!(!empty.path().join("gateway-audit.db").exists());
}

/// Runs `sql` on the audit's own store, behind the gateway's back.
async fn tamper(suite: &TestSuite, sql: &str) {
    use sqlx::Connection;
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match &suite.database_url {
        Some(url) => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query("SET search_path TO gateway_audit")
                .execute(&mut conn)
                .await
                .unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        None => {
            let url = format!(
                "sqlite://{}",
                suite.data.path().join("gateway-audit.db").display()
            );
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
    }
}

#[tokio::test]
async fn audit_verify_names_a_deleted_and_an_altered_row() {
    let suite = TestSuite::start().await;
    let gateway = audited_gateway(&suite).await;
    let admin = suite.official_token(Role::Admin, "510800");
    let enterprise = suite.enterprise_token(USCC_A, "510821");
    let mut intake = gateway.intake().await;
    for i in 0..4 {
        intake
            .submit_appeal(authed(
                appeal(
                    &format!("chain-{i}"),
                    USCC_A,
                    "510821",
                    &format!("用地 {i}"),
                ),
                &enterprise,
            ))
            .await
            .unwrap();
    }
    wait_for_entries(&gateway, &format!("?method={SUBMIT}"), &admin, 4).await;

    let output = audit_command(&suite, &["verify"]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{output:?}");
    assert!(stdout.contains("审计链完整"), "{stdout}");

    // A row deleted in the store's own database leaves a gap the check names.
    tamper(&suite, "DELETE FROM gateway_audit WHERE seq = 3").await;
    let output = audit_command(&suite, &["verify"]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stdout.contains("第 2 条之后缺少记录"), "{stdout}");

    // A row changed in place, past the append-only trigger, no longer
    // matches its hash; it comes first in the chain, so it is named first.
    match &suite.database_url {
        Some(_) => {
            tamper(
                &suite,
                "ALTER TABLE gateway_audit DISABLE TRIGGER gateway_audit_append_only",
            )
            .await
        }
        None => tamper(&suite, "DROP TRIGGER gateway_audit_append_only").await,
    }
    tamper(
        &suite,
        "UPDATE gateway_audit SET sub = 'someone-else' WHERE seq = 2",
    )
    .await;
    let output = audit_command(&suite, &["verify"]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stdout.contains("第 2 条与其哈希不符"), "{stdout}");
}

#[tokio::test]
async fn a_county_admin_reads_the_audit_of_its_own_county_only() {
    let suite = TestSuite::start().await;
    let gateway = audited_gateway(&suite).await;
    let mut intake = gateway.intake().await;
    for (uscc, county) in [(USCC_A, "510821"), (USCC_B, "510822")] {
        intake
            .submit_appeal(authed(
                appeal(&format!("scope-{county}"), uscc, county, "融资难"),
                &suite.enterprise_token(uscc, county),
            ))
            .await
            .unwrap();
    }
    let city = suite.official_token(Role::Admin, "510800");
    let all = wait_for_entries(&gateway, &format!("?method={SUBMIT}"), &city, 2).await;
    assert_eq!(all.len(), 2);

    let county = suite.official_token(Role::Admin, "510821");
    let (status, body) = read_audit(&gateway, &format!("?method={SUBMIT}"), Some(&county)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let own = body["entries"].as_array().unwrap();
    assert_eq!(own.len(), 1, "{body}");
    assert_eq!(own[0]["targetJurisdiction"], "510821");

    let (status, body) = read_audit(&gateway, "?jurisdictionCode=510822", Some(&county)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = read_audit(&gateway, "?jurisdictionCode=510822", Some(&city)).await;
    assert_eq!(status, StatusCode::OK);
}

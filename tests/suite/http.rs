//! HTTP/JSON through the gateway, transcoded from the `google.api.http`
//! annotations: proto3 JSON both ways, path variables and verbs, the query
//! string, errors as `{"code", "message", "details"}` with the HTTP status of
//! the gRPC code, and `/openapi.json`.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use zhengqi_shared::auth::Role;

struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    fn new(suite: &TestSuite) -> Http {
        Http {
            client: reqwest::Client::new(),
            base: suite.gateway(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("the gateway answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body");
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
        (status, headers, value)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let (status, _, body) = self.send(reqwest::Method::GET, path, token, None).await;
        (status, body)
    }

    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (StatusCode, Value) {
        let (status, _, body) = self
            .send(reqwest::Method::POST, path, token, Some(body))
            .await;
        (status, body)
    }
}

/// A valid appeal as the portal would send it: lowerCamelCase, enums by name.
fn appeal_json(request_id: &str, uscc: &str, title: &str) -> Value {
    json!({
        "requestId": request_id,
        "channel": "CHANNEL_ONLINE_PORTAL",
        "jurisdictionCode": "510821",
        "enterprise": {"uscc": uscc, "name": "广元市测试建材有限公司"},
        "kind": "APPEAL_KIND_HELP_REQUEST",
        "category": "CATEGORY_FINANCING",
        "title": title,
        "description": "流动资金贷款申请已两个月未获答复。",
        "contactName": "张三",
        "contactPhone": "0839-3266666",
    })
}

fn violated_fields(body: &Value) -> Vec<String> {
    let mut fields: Vec<String> = body["details"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["@type"] == "type.googleapis.com/google.rpc.BadRequest")
        .flat_map(|d| d["fieldViolations"].as_array().cloned().unwrap_or_default())
        .map(|v| v["field"].as_str().unwrap_or_default().to_owned())
        .collect();
    fields.sort();
    fields
}

#[tokio::test]
async fn an_appeal_posted_as_json_reads_back_in_proto3_json() {
    let suite = TestSuite::start().await;
    let http = Http::new(&suite);
    let token = suite.enterprise_token(USCC_A, "510821");

    let (status, submitted) = http
        .post(
            "/v1/appeals",
            Some(&token),
            &appeal_json("http-1", USCC_A, "流动资金贷款审批慢"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{submitted}");
    let id = submitted["id"].as_str().expect("an id").to_owned();
    assert!(id.starts_with("510821-"), "{id}");
    assert_eq!(submitted["requestId"], "http-1");
    assert_eq!(submitted["jurisdictionCode"], "510821");
    assert_eq!(submitted["status"], "APPEAL_STATUS_RECEIVED");
    assert_eq!(submitted["kind"], "APPEAL_KIND_HELP_REQUEST");
    assert_eq!(submitted["channel"], "CHANNEL_ONLINE_PORTAL");
    assert_eq!(submitted["enterprise"]["uscc"], USCC_A);
    assert!(submitted["createTime"].as_str().unwrap().ends_with('Z'));
    assert!(
        submitted.get("jurisdiction_code").is_none() && submitted.get("request_id").is_none(),
        "no proto field names on the way out: {submitted}"
    );

    let (status, read) = http.get(&format!("/v1/appeals/{id}"), Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read, submitted);
    suite.stop().await;
}

#[tokio::test]
async fn proto_field_names_and_unprefixed_enums_are_accepted_too() {
    let suite = TestSuite::start().await;
    let http = Http::new(&suite);
    let token = suite.enterprise_token(USCC_A, "510821");
    let body = json!({
        "request_id": "http-snake",
        "channel": "ONLINE_PORTAL",
        "jurisdiction_code": "510821",
        "enterprise": {"uscc": USCC_A, "name": "广元市测试建材有限公司"},
        "kind": "COMPLAINT",
        "category": 7,
        "title": "项目审批久拖不决",
        "description": "材料齐全仍未受理。",
    });
    let (status, submitted) = http.post("/v1/appeals", Some(&token), &body).await;
    assert_eq!(status, StatusCode::OK, "{submitted}");
    assert_eq!(submitted["requestId"], "http-snake");
    assert_eq!(submitted["kind"], "APPEAL_KIND_COMPLAINT");
    assert_eq!(submitted["category"], "CATEGORY_APPROVAL");
    suite.stop().await;
}

#[tokio::test]
async fn appeals_list_in_pages_with_the_query_string() {
    let suite = TestSuite::start().await;
    let http = Http::new(&suite);
    let token = suite.enterprise_token(USCC_A, "510821");
    let titles = ["融资", "用工", "市场准入"];
    for (i, title) in titles.iter().enumerate() {
        let mut body = appeal_json(&format!("page-{i}"), USCC_A, title);
        body["category"] = json!(i + 1);
        let (status, answer) = http.post("/v1/appeals", Some(&token), &body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }

    let (status, first) = http.get("/v1/appeals?pageSize=2", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["appeals"].as_array().unwrap().len(), 2);
    let next = first["nextPageToken"].as_str().expect("a next page token");
    let (status, second) = http
        .get(
            &format!("/v1/appeals?page_size=2&pageToken={next}"),
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["appeals"].as_array().unwrap().len(), 1);
    assert!(second.get("nextPageToken").is_none(), "{second}");
    let mut ids: Vec<&str> = first["appeals"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["appeals"].as_array().unwrap())
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), titles.len(), "no appeal twice across pages");

    let (status, filtered) = http
        .get("/v1/appeals?category=CATEGORY_EMPLOYMENT", Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK, "{filtered}");
    let appeals = filtered["appeals"].as_array().unwrap();
    assert_eq!(appeals.len(), 1, "{filtered}");
    assert_eq!(appeals[0]["title"], "用工");

    let (status, refused) = http.get("/v1/appeals?pageSize=many", Some(&token)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(violated_fields(&refused), ["page_size"]);
    suite.stop().await;
}

#[tokio::test]
async fn a_bad_body_gets_400_naming_every_bad_field() {
    let suite = TestSuite::start().await;
    let http = Http::new(&suite);
    let token = suite.enterprise_token(USCC_A, "510821");
    let mut bad = appeal_json("bad", USCC_A, "");
    bad["jurisdictionCode"] = json!("510899");
    bad["enterprise"]["uscc"] = json!("91350200776049653B");
    bad["description"] = json!("字".repeat(10_001));
    bad["kind"] = json!("APPEAL_KIND_UNSPECIFIED");
    let (status, body) = http.post("/v1/appeals", Some(&token), &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], 3);
    assert!(
        body["message"].as_str().unwrap().contains("title"),
        "{body}"
    );
    assert_eq!(
        violated_fields(&body),
        [
            "description",
            "enterprise.uscc",
            "jurisdiction_code",
            "kind",
            "title"
        ]
    );
    suite.stop().await;
}

#[tokio::test]
async fn unknown_json_fields_get_400_naming_them() {
    let suite = TestSuite::start().await;
    let http = Http::new(&suite);
    let token = suite.enterprise_token(USCC_A, "510821");
    let mut body = appeal_json("unknown", USCC_A, "用电报装");
    body["colour"] = json!("red");
    body["enterprise"]["nmae"] = json!("typo");
    body["kind"] = json!("APPEAL_KIND_GRUMBLE");
    let (status, answer) = http.post("/v1/appeals", Some(&token), &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["code"], 3);
    assert_eq!(
        violated_fields(&answer),
        ["colour", "enterprise.nmae", "kind"]
    );
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.contains("colour") && message.contains("nmae"),
        "{message}"
    );

    let (status, listed) = http
        .get(
            "/v1/appeals",
            Some(&suite.official_token(Role::Coordinator, "510800")),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        listed.get("appeals").is_none(),
        "nothing is stored: {listed}"
    );
    suite.stop().await;
}

#[tokio::test]
async fn no_token_gets_401_with_a_json_error() {
    let suite = TestSuite::start().await;
    let http = Http::new(&suite);
    let (status, headers, body) = http
        .send(
            reqwest::Method::POST,
            "/v1/appeals",
            None,
            Some(&appeal_json("anonymous", USCC_A, "用电报装")),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], 16);
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(body["details"].is_array());
    assert_eq!(headers["www-authenticate"], "Bearer");

    let (status, body) = http.get("/v1/appeals", Some("not-a-jwt")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    suite.stop().await;
}

#[tokio::test]
async fn a_role_the_policy_refuses_gets_403() {
    let suite = TestSuite::start().await;
    let http = Http::new(&suite);
    let handler = suite.official_token(Role::Handler, "510821");
    let (status, body) = http
        .post(
            "/v1/appeals",
            Some(&handler),
            &appeal_json("handler", USCC_A, "用电报装"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], 7);
    suite.stop().await;
}

#[tokio::test]
async fn an_appeal_out_of_scope_reads_as_404() {
    let suite = TestSuite::start().await;
    let http = Http::new(&suite);
    let owner = suite.enterprise_token(USCC_A, "510821");
    let (_, submitted) = http
        .post(
            "/v1/appeals",
            Some(&owner),
            &appeal_json("scope", USCC_A, "用电报装"),
        )
        .await;
    let id = submitted["id"].as_str().expect("an id");
    let stranger = suite.enterprise_token(USCC_B, "510821");
    let (status, body) = http
        .get(&format!("/v1/appeals/{id}"), Some(&stranger))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], 5);
    let elsewhere = suite.official_token(Role::Coordinator, "510822");
    let (status, _) = http
        .get(&format!("/v1/appeals/{id}"), Some(&elsewhere))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    suite.stop().await;
}

#[tokio::test]
async fn a_verb_after_the_id_withdraws_the_appeal() {
    let suite = TestSuite::start().await;
    let http = Http::new(&suite);
    let token = suite.enterprise_token(USCC_A, "510821");
    let (_, submitted) = http
        .post(
            "/v1/appeals",
            Some(&token),
            &appeal_json("withdraw", USCC_A, "证照办理"),
        )
        .await;
    let id = submitted["id"].as_str().expect("an id");
    let path = format!("/v1/appeals/{id}:withdraw");
    let (status, withdrawn) = http
        .post(&path, Some(&token), &json!({"reason": "问题已自行解决"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{withdrawn}");
    assert_eq!(withdrawn["id"], id);
    assert_eq!(withdrawn["status"], "APPEAL_STATUS_WITHDRAWN");
    assert_eq!(withdrawn["withdrawReason"], "问题已自行解决");
    let (status, again) = http.post(&path, Some(&token), &json!({})).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "FAILED_PRECONDITION: {again}"
    );
    assert_eq!(again["code"], 9);
    suite.stop().await;
}

#[tokio::test]
async fn a_body_field_binding_registers_an_enterprise() {
    let suite = TestSuite::start().await;
    let http = Http::new(&suite);
    let token = suite.enterprise_token(USCC_A, "510821");
    let enterprise = json!({
        "uscc": USCC_A,
        "name": "旺苍县某某建材有限公司",
        "jurisdictionCode": "510821",
        "industry": "C30 非金属矿物制品业",
        "size": "ENTERPRISE_SIZE_SMALL",
        "ownership": "OWNERSHIP_PRIVATE",
        "tags": ["ENTERPRISE_TAG_KEY_PROJECT", "ENTERPRISE_TAG_INDUSTRIAL"],
    });
    let (status, registered) = http
        .post("/v1/enterprises", Some(&token), &enterprise)
        .await;
    assert_eq!(status, StatusCode::OK, "{registered}");
    assert_eq!(registered["uscc"], USCC_A);
    assert_eq!(
        registered["tags"],
        json!(["ENTERPRISE_TAG_KEY_PROJECT", "ENTERPRISE_TAG_INDUSTRIAL"])
    );
    let (status, read) = http
        .get(&format!("/v1/enterprises/{USCC_A}"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["name"], "旺苍县某某建材有限公司");

    let coordinator = suite.official_token(Role::Coordinator, "510821");
    let (status, listed) = http
        .get(
            "/v1/enterprises?tag=ENTERPRISE_TAG_KEY_PROJECT",
            Some(&coordinator),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["enterprises"][0]["uscc"], USCC_A);
    suite.stop().await;
}

#[tokio::test]
async fn unbound_paths_and_methods_get_json_errors() {
    let suite = TestSuite::start().await;
    let http = Http::new(&suite);
    let token = suite.enterprise_token(USCC_A, "510821");
    let (status, body) = http.get("/v1/nothing", Some(&token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], 5);
    let (status, headers, body) = http
        .send(reqwest::Method::DELETE, "/v1/appeals", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    let allow = headers["allow"].to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    suite.stop().await;
}

#[tokio::test]
async fn openapi_json_describes_the_http_bindings_without_a_token() {
    let suite = TestSuite::start().await;
    let http = Http::new(&suite);
    let (status, headers, document) = http
        .send(reqwest::Method::GET, "/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(document["openapi"], "3.1.0");
    let appeals = &document["paths"]["/v1/appeals"];
    assert!(
        appeals["post"].is_object() && appeals["get"].is_object(),
        "{appeals}"
    );
    assert!(document["paths"]["/v1/appeals/{id}"]["get"].is_object());
    assert!(document["paths"]["/v1/cases/{id}:accept"]["post"].is_object());
    assert!(document["paths"]["/v1/ledger:export"]["get"].is_object());
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let kinds = document["components"]["schemas"]["zhengqi.intake.v1.AppealKind"]["enum"]
        .as_array()
        .expect("enums by name");
    assert!(kinds.contains(&json!("APPEAL_KIND_COMPLAINT")));
    suite.stop().await;
}

#[tokio::test]
async fn grpc_and_http_share_the_gateway_port() {
    let suite = TestSuite::start().await;
    let token = suite.enterprise_token(USCC_A, "510821");
    let mut grpc = suite.intake().await;
    let submitted = grpc
        .submit_appeal(authed(
            appeal("grpc-then-http", USCC_A, "510821", "用电报装"),
            &token,
        ))
        .await
        .expect("gRPC still works")
        .into_inner();
    let http = Http::new(&suite);
    let (status, read) = http
        .get(&format!("/v1/appeals/{}", submitted.id), Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["number"], submitted.number);
    suite.stop().await;
}

/// An appeal of enterprise A filed over HTTP, and the case routing opens for
/// it from intake's events, as the coordinator lists it.
async fn appeal_and_its_case(
    http: &Http,
    enterprise: &str,
    coordinator: &str,
    request_id: &str,
) -> (Value, Value) {
    let (status, appeal) = http
        .post(
            "/v1/appeals",
            Some(enterprise),
            &appeal_json(request_id, USCC_A, "厂房用电报装迟迟未办"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{appeal}");
    for _ in 0..200 {
        let (status, listed) = http
            .get(&format!("/v1/cases?uscc={USCC_A}"), Some(coordinator))
            .await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        if let Some(first) = listed["cases"].as_array().and_then(|cases| cases.first()) {
            return (appeal, first.clone());
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("no case was opened for {appeal}");
}

#[tokio::test]
async fn a_case_is_accepted_over_http_and_the_ledger_downloads_as_xlsx_and_csv() {
    let suite = TestSuite::start().await;
    let http = Http::new(&suite);
    let enterprise = suite.enterprise_token(USCC_A, "510821");
    let coordinator = suite.official_token(Role::Coordinator, "510821");
    let (appeal, case) = appeal_and_its_case(&http, &enterprise, &coordinator, "http-case").await;
    assert_eq!(
        case["appealId"], appeal["id"],
        "a case for the appeal: {case}"
    );
    assert_eq!(case["state"], "CASE_STATE_PENDING");
    let id = case["id"].as_str().unwrap().to_owned();

    let (status, accepted) = http
        .post(
            &format!("/v1/cases/{id}:accept"),
            Some(&coordinator),
            &json!({ "etag": case["etag"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["state"], "CASE_STATE_ACCEPTED");
    let (status, refused) = http
        .post(
            &format!("/v1/cases/{id}:accept"),
            Some(&enterprise),
            &json!({ "etag": accepted["etag"] }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "an enterprise does not accept cases: {refused}"
    );

    let download = |query: &str| {
        http.client
            .get(format!("{}/v1/ledger:export{query}", http.base))
            .header("authorization", format!("Bearer {coordinator}"))
            .send()
    };
    let xlsx = download("").await.unwrap();
    assert_eq!(xlsx.status(), StatusCode::OK);
    let content_type = xlsx.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.contains("spreadsheetml"), "{content_type}");
    let bytes = xlsx.bytes().await.unwrap();
    assert!(bytes.starts_with(b"PK"), "an xlsx file is a zip archive");

    let csv = download("?format=EXPORT_FORMAT_CSV").await.unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    assert!(text.contains(case["number"].as_str().unwrap()), "{text}");
    suite.stop().await;
}

#[tokio::test]
async fn a_key_given_twice_in_a_json_body_gets_400_naming_it() {
    let suite = TestSuite::start().await;
    let http = Http::new(&suite);
    let token = suite.enterprise_token(USCC_A, "510821");
    let whole = appeal_json("twice", USCC_A, "用电报装").to_string();
    for (body, field) in [
        // The title twice: which one the enterprise meant cannot be known.
        (
            whole.replacen("\"title\":", "\"title\":\"第一个标题\",\"title\":", 1),
            "title",
        ),
        (
            whole.replacen("\"uscc\":", "\"uscc\":\"91440101MA5CJQ4N59\",\"uscc\":", 1),
            "enterprise.uscc",
        ),
    ] {
        let response = http
            .client
            .post(format!("{}/v1/appeals", http.base))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let answer: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(answer["code"], 3);
        assert_eq!(violated_fields(&answer), [field], "{answer}");
    }
    // Neither was stored; the same body with each key once is taken.
    let (status, _) = http
        .post(
            "/v1/appeals",
            Some(&token),
            &appeal_json("twice", USCC_A, "用电报装"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, listed) = http.get("/v1/appeals", Some(&token)).await;
    assert_eq!(listed["appeals"].as_array().unwrap().len(), 1, "{listed}");
    suite.stop().await;
}

impl Http {
    /// A raw request: `body` as bytes with `content_type` (none for `None`).
    async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {token}"))
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("the gateway answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
        (status, headers, value)
    }
}

#[tokio::test]
async fn a_body_not_declared_json_gets_415_naming_the_content_type() {
    let suite = TestSuite::start().await;
    let http = Http::new(&suite);
    let token = suite.enterprise_token(USCC_A, "510821");
    let body = appeal_json("typed", USCC_A, "用电报装")
        .to_string()
        .into_bytes();
    for content_type in [
        None,
        // What `curl -d` sends when no type is given.
        Some("application/x-www-form-urlencoded"),
        Some("text/plain"),
        Some("application/xml"),
        Some("application/json; charset=gbk"),
        Some("multipart/form-data; boundary=x"),
    ] {
        let (status, headers, answer) = http
            .raw(
                reqwest::Method::POST,
                "/v1/appeals",
                &token,
                content_type,
                body.clone(),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}: {answer}"
        );
        assert_eq!(answer["code"], 3);
        assert_eq!(violated_fields(&answer), ["content-type"], "{answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .contains("application/json"),
            "{answer}"
        );
        assert_eq!(headers["content-type"], "application/json");
    }
    let (_, listed) = http.get("/v1/appeals", Some(&token)).await;
    assert_eq!(
        listed["appeals"].as_array().map_or(0, Vec::len),
        0,
        "nothing refused was stored: {listed}"
    );

    // JSON, with or without its charset, is taken.
    for (request_id, content_type) in [
        ("typed-1", "application/json"),
        ("typed-2", "application/json; charset=utf-8"),
        ("typed-3", "Application/JSON;charset=UTF-8"),
    ] {
        let body = appeal_json(request_id, USCC_A, "用电报装").to_string();
        let (status, _, answer) = http
            .raw(
                reqwest::Method::POST,
                "/v1/appeals",
                &token,
                Some(content_type),
                body.into_bytes(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{content_type}: {answer}");
    }
    // A call without a body needs no content type.
    let coordinator = suite.official_token(Role::Coordinator, "510821");
    let (status, _, answer) = http
        .raw(
            reqwest::Method::POST,
            "/v1/ledger:verify",
            &coordinator,
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["ok"], true, "{answer}");
    suite.stop().await;
}

#[tokio::test]
async fn grpc_web_and_other_grpc_codecs_get_415_and_are_not_proxied() {
    use prost::Message;
    let suite = TestSuite::start().await;
    let http = Http::new(&suite);
    let token = suite.enterprise_token(USCC_A, "510821");
    let message = appeal("grpc-web", USCC_A, "510821", "用电报装").encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    for content_type in [
        "application/grpc-web",
        "application/grpc-web+proto",
        "application/grpc-web-text",
        "application/grpc+json",
        "application/grpc; charset=utf-8",
    ] {
        let body = if content_type == "application/grpc-web-text" {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .encode(&frame)
                .into_bytes()
        } else {
            frame.clone()
        };
        let (status, headers, answer) = http
            .raw(
                reqwest::Method::POST,
                "/zhengqi.intake.v1.IntakeService/SubmitAppeal",
                &token,
                Some(content_type),
                body,
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}: {answer}"
        );
        assert_eq!(headers["grpc-status"], "3", "{content_type}");
        assert_eq!(violated_fields(&answer), ["content-type"], "{answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.contains("application/grpc+proto") && message.contains("gRPC-Web"),
            "{message}"
        );
    }
    let (_, listed) = http.get("/v1/appeals", Some(&token)).await;
    assert_eq!(
        listed["appeals"].as_array().map_or(0, Vec::len),
        0,
        "nothing reached intake: {listed}"
    );
    suite.stop().await;
}

/// What the portal shows of an error body: its `zh-CN` LocalizedMessage, which
/// every error carries and which is written in Chinese.
fn chinese_of(body: &Value) -> String {
    let localized: Vec<&Value> = body["details"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["@type"] == "type.googleapis.com/google.rpc.LocalizedMessage")
        .collect();
    assert_eq!(localized.len(), 1, "one LocalizedMessage: {body}");
    assert_eq!(localized[0]["locale"], "zh-CN", "{body}");
    let message = localized[0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "the message a person reads is Chinese: {body}"
    );
    message
}

#[tokio::test]
async fn every_refusal_reaches_the_portal_in_chinese() {
    let suite = TestSuite::start().await;
    let http = Http::new(&suite);
    let enterprise = suite.enterprise_token(USCC_A, "510821");
    let coordinator = suite.official_token(Role::Coordinator, "510821");

    // Bad fields: the whole, and each field beside it.
    let mut bad = appeal_json("zh-bad", USCC_A, "");
    bad["enterprise"]["uscc"] = json!("91350200776049653B");
    let (status, body) = http.post("/v1/appeals", Some(&enterprise), &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(chinese_of(&body).contains("不能为空"), "{body}");
    let violations = body["details"][0]["fieldViolations"].as_array().unwrap();
    for violation in violations {
        let zh = violation["localizedMessage"]["message"].as_str().unwrap();
        assert!(
            zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{violation}"
        );
    }
    assert!(
        violations.iter().any(|v| v["localizedMessage"]["message"]
            .as_str()
            .unwrap()
            .contains("校验码")),
        "a mistyped credit code is explained: {body}"
    );

    // No token; a role the method does not admit.
    let (status, body) = http.get("/v1/cases", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(chinese_of(&body), "尚未登录，请先登录");

    let (appeal, case) = appeal_and_its_case(&http, &enterprise, &coordinator, "zh-case").await;
    let id = case["id"].as_str().expect("a case opened").to_owned();
    let (status, body) = http
        .post(
            &format!("/v1/cases/{id}:accept"),
            Some(&enterprise),
            &json!({ "etag": case["etag"] }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(chinese_of(&body).contains("仅限"), "{body}");

    // A stale read and a step the case's state does not allow: the service's
    // own words, not the sentence of the code.
    let (status, accepted) = http
        .post(
            &format!("/v1/cases/{id}:accept"),
            Some(&coordinator),
            &json!({ "etag": case["etag"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    let (status, body) = http
        .post(
            &format!("/v1/cases/{id}:accept"),
            Some(&coordinator),
            &json!({ "etag": case["etag"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let stale = chinese_of(&body);
    assert_ne!(
        stale,
        zhengqi_shared::error::chinese_for(tonic::Code::Aborted)
    );
    assert!(stale.contains(case["number"].as_str().unwrap()), "{body}");
    let (status, body) = http
        .post(
            &format!("/v1/cases/{id}:accept"),
            Some(&coordinator),
            &json!({ "etag": accepted["etag"] }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_ne!(
        chinese_of(&body),
        zhengqi_shared::error::chinese_for(tonic::Code::FailedPrecondition),
        "{body}"
    );

    // Another enterprise's appeal reads as not found, in Chinese too.
    let other = suite.enterprise_token(USCC_B, "510821");
    let (status, body) = http
        .get(
            &format!("/v1/appeals/{}", appeal["id"].as_str().unwrap()),
            Some(&other),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    chinese_of(&body);
    suite.stop().await;
}

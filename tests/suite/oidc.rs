//! The suite under a city's own identity provider: a real OpenID provider (the
//! certified `oidc-provider` package from npm, run by node) that the suite finds
//! by OpenID Connect discovery, whose tokens carry roles and attributes in the
//! shape Keycloak gives them and are read through the configured claim mapping.
//! No development issuer is trusted anywhere: the parts follow one another's
//! logs with tokens of the deployment's own service key.
//!
//! The provider is installed into the target folder on first use (`npm install
//! oidc-provider`, as `.ci/run` does beforehand).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::cases::{case_of, rate_once_invited, submit, walk_to_resolved};
use crate::common::{TestSuite, USCC_A, appeal, authed, poll_until};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tonic::Code;
use zhengqi_proto::zhengqi::evaluation::v1 as eval;
use zhengqi_proto::zhengqi::intake::v1 as intake;
use zhengqi_proto::zhengqi::policy::v1 as policy;
use zhengqi_proto::zhengqi::policy::v1::policy_service_client::PolicyServiceClient;
use zhengqi_proto::zhengqi::scoring::v1 as scoring;
use zhengqi_proto::zhengqi::scoring::v1::scoring_service_client::ScoringServiceClient;
use zhengqi_shared::auth::{Role, TokenRequest};
use zhengqi_shared::config::Config;

/// The version `.ci/run` installs too.
const OIDC_PROVIDER: &str = "oidc-provider@9.13.3";

/// The folder whose node_modules holds oidc-provider, installed once.
fn provider_folder() -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _once = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join("oidc-provider");
    if !folder
        .join("node_modules/oidc-provider/package.json")
        .exists()
    {
        std::fs::create_dir_all(&folder).unwrap();
        let status = std::process::Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(&folder)
            .arg(OIDC_PROVIDER)
            .status()
            .expect("npm runs (node and npm are needed for this test)");
        assert!(status.success(), "npm install {OIDC_PROVIDER} failed");
    }
    // Beside its node_modules, so that node resolves the package from it.
    std::fs::write(
        folder.join("provider.mjs"),
        include_str!("oidc/provider.mjs"),
    )
    .unwrap();
    folder
}

/// One person the test plays: a client of the provider with its claims.
struct Persona {
    client_id: &'static str,
    roles: Vec<Role>,
    jurisdiction: &'static str,
    department: Option<&'static str>,
    uscc: Option<&'static str>,
}

impl Persona {
    /// The claims the provider puts in this persona's tokens, as Keycloak would:
    /// realm roles under their own names, attributes under `zq`.
    fn claims(&self) -> Value {
        let roles: Vec<String> = self
            .roles
            .iter()
            .map(|role| format!("zq-{}", role.as_str()))
            .collect();
        let mut zq = json!({ "division": self.jurisdiction });
        if let Some(department) = self.department {
            zq["department"] = json!(department);
        }
        let mut claims = json!({
            "realm_access": { "roles": roles },
            "zq": zq,
            "preferred_username": format!("{} 测试", self.client_id),
        });
        if let Some(uscc) = self.uscc {
            claims["credit_code"] = json!(uscc);
        }
        claims
    }

    fn answers(&self, request: &TokenRequest) -> bool {
        request.roles == self.roles
            && request.jurisdiction.as_deref() == Some(self.jurisdiction)
            && request.department.as_deref() == self.department
            && request.uscc.as_deref() == self.uscc
    }
}

fn personas() -> Vec<Persona> {
    let person = |client_id, role, jurisdiction| Persona {
        client_id,
        roles: vec![role],
        jurisdiction,
        department: None,
        uscc: None,
    };
    vec![
        Persona {
            uscc: Some(USCC_A),
            ..person("wangcang-firm", Role::Enterprise, "510821")
        },
        person("wangcang-office", Role::Coordinator, "510821"),
        Persona {
            department: Some("510821-jrj"),
            ..person("wangcang-finance", Role::Handler, "510821")
        },
        person("city-office", Role::Coordinator, "510800"),
        person("city-admin", Role::Admin, "510800"),
        // A county system the provider knows, claiming zhengqi's service role.
        person("county-system", Role::Service, "510821"),
    ]
}

/// The provider, running until dropped.
struct Provider {
    issuer: String,
    _process: tokio::process::Child,
    http: reqwest::Client,
}

impl Provider {
    async fn start(personas: &[Persona], dir: &Path) -> Provider {
        let folder = provider_folder();
        let clients: Vec<Value> = personas
            .iter()
            .map(|p| json!({ "client_id": p.client_id, "client_secret": format!("{}-secret", p.client_id), "claims": p.claims() }))
            .collect();
        let clients_file = dir.join("clients.json");
        std::fs::write(&clients_file, Value::from(clients).to_string()).unwrap();
        let mut process = tokio::process::Command::new("node")
            .arg(folder.join("provider.mjs"))
            .arg(&clients_file)
            .current_dir(&folder)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
        let issuer = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(issuer) = line.strip_prefix("listening ") {
                    return issuer.to_owned();
                }
            }
            panic!("the provider stopped before it listened");
        })
        .await
        .expect("the provider starts within 30 s");
        Provider {
            issuer,
            _process: process,
            http: reqwest::Client::new(),
        }
    }

    /// An access token for the client `client_id` (client-credentials grant).
    async fn token(&self, client_id: &str) -> String {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", client_id)
            .append_pair("client_secret", &format!("{client_id}-secret"))
            .append_pair("resource", "urn:zhengqi")
            .finish();
        let text = self
            .http
            .post(format!("{}/token", self.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let response: Value = serde_json::from_str(&text).unwrap();
        response["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token for {client_id}: {response}"))
            .to_owned()
    }

    /// Makes the provider sign with a new key from now on; returns its kid.
    async fn rotate(&self) -> String {
        self.http
            .post(format!("{}/rotate", self.issuer))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The configuration a city would write for it, read as `--config` reads it.
    fn configuration(&self, dir: &Path) -> Config {
        let file = dir.join("zhengqi.toml");
        std::fs::write(
            &file,
            format!(
                r#"
[auth]
issuer = "{}"
audience = "zhengqi"

[auth.claims]
roles = "realm_access.roles"
jurisdiction = "zq.division"
department = "zq.department"
uscc = "credit_code"
name = "preferred_username"

[auth.claims.role_map]
zq-enterprise = "enterprise"
zq-handler = "handler"
zq-coordinator = "coordinator"
zq-admin = "admin"
zq-service = "service"
"#,
                self.issuer
            ),
        )
        .unwrap();
        Config::load_with(Some(&file), |_| None).expect("the configuration reads")
    }
}

/// Every persona's token, fetched from the provider; the suite's test helpers
/// take the persona's token for the person they ask for.
async fn provider_tokens(provider: &Provider, personas: Vec<Persona>) -> crate::common::Minter {
    let mut tokens = Vec::new();
    for persona in personas {
        let token = provider.token(persona.client_id).await;
        tokens.push((persona, token));
    }
    Arc::new(move |request: &TokenRequest| {
        tokens
            .iter()
            .find(|(persona, _)| persona.answers(request))
            .map(|(_, token)| token.clone())
            .unwrap_or_else(|| panic!("no persona of the provider for {request:?}"))
    })
}

#[tokio::test]
async fn under_a_real_openid_provider_every_follower_works_with_no_development_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let provider = Provider::start(&personas(), dir.path()).await;
    let config = provider.configuration(dir.path());
    let providers = config
        .auth
        .providers()
        .unwrap()
        .expect("a provider is configured");
    let mut suite = TestSuite::start_with(|options| options.providers = providers).await;
    assert!(
        suite.suite.dev_issuer.is_none(),
        "no development issuer is trusted"
    );
    // The development key in the data folder is not trusted: its tokens fail.
    let dev_token = suite.enterprise_token(USCC_A, "510821");
    let mut intake_client = suite.intake().await;
    let refused = intake_client
        .submit_appeal(authed(
            appeal("dev-1", USCC_A, "510821", "开发令牌"),
            &dev_token,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    // The provider may not grant zhengqi's service role.
    let posing = provider.token("county-system").await;
    let refused = intake_client
        .list_appeals(authed(intake::ListAppealsRequest::default(), &posing))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");

    suite.minter = Some(provider_tokens(&provider, personas()).await);
    let city = suite.city_coordinator_token();
    suite
        .register_enterprise(
            intake::Enterprise {
                uscc: USCC_A.to_owned(),
                name: "旺苍县某某建材有限公司".to_owned(),
                jurisdiction_code: "510821".to_owned(),
                industry: "制造业".to_owned(),
                size: intake::EnterpriseSize::Small as i32,
                ownership: intake::Ownership::Private as i32,
                ..Default::default()
            },
            &city,
        )
        .await;

    // Routing follows intake: the appeal becomes a case, which is walked to
    // resolved by the county's coordinator and the department's handler.
    let submitted = submit(
        &suite,
        appeal("oidc-1", USCC_A, "510821", "流动资金贷款审批慢"),
    )
    .await;
    let case = case_of(&suite, &submitted.id).await;
    let resolved = walk_to_resolved(&suite, &case, "510821-jrj").await;

    // Evaluation follows routing: the enterprise may rate the resolved case.
    let review = rate_once_invited(
        &suite,
        &resolved,
        eval::Rating::VerySatisfied,
        "办理及时",
        "oidc-review-1",
    )
    .await;
    assert_eq!(review.case_id, resolved.id);
    let firm = suite.enterprise_token(USCC_A, "510821");

    // Scoring follows evaluation: the review counts in the county's overview.
    let year = submitted.number[7..11].to_owned();
    let mut scores = ScoringServiceClient::new(suite.channel().await);
    poll_until(
        300,
        "scoring never counted the review",
        async || {
            scores
                .get_overview(authed(
                    scoring::GetOverviewRequest {
                        jurisdiction_code: "510821".into(),
                        period: year.clone(),
                    },
                    &city,
                ))
                .await
                .expect("the city reads the overview")
                .into_inner()
        },
        |overview| overview.review_count == 1 && overview.resolved_count == 1,
    )
    .await;

    // Policy follows intake's registrations: a published list reaches the inbox.
    let mut policies = PolicyServiceClient::new(suite.channel().await);
    let list = policies
        .create_policy(authed(
            policy::CreatePolicyRequest {
                request_id: "oidc-policy-1".into(),
                policy: Some(policy::Policy {
                    kind: policy::PolicyKind::ConductList as i32,
                    title: "制造业企业服务清单".into(),
                    summary: "政务服务事项清单。".into(),
                    articles: vec![policy::Article {
                        number: "1".into(),
                        title: String::new(),
                        text: "企业开办一日办结。".into(),
                    }],
                    applicability: Some(policy::Applicability {
                        industries: vec!["制造业".into()],
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            },
            &city,
        ))
        .await
        .expect("the city drafts the list")
        .into_inner();
    policies
        .publish_policy(authed(
            policy::PublishPolicyRequest {
                id: list.id.clone(),
                ..Default::default()
            },
            &city,
        ))
        .await
        .expect("the city publishes the list");
    let inbox = poll_until(
        300,
        "the list never reached the enterprise's inbox",
        async || {
            policies
                .list_inbox(authed(policy::ListInboxRequest::default(), &firm))
                .await
                .expect("the enterprise reads its inbox")
                .into_inner()
        },
        |inbox| !inbox.items.is_empty(),
    )
    .await;
    assert_eq!(inbox.items[0].policy_id, list.id);

    // The provider rotates its key: a token signed with the new one is taken
    // after the suite rediscovers the keys.
    let kid = provider.rotate().await;
    let rotated = provider.token("wangcang-firm").await;
    assert!(
        header_kid(&rotated) == kid,
        "the new token is signed with {kid}"
    );
    let listed = intake_client
        .list_appeals(authed(intake::ListAppealsRequest::default(), &rotated))
        .await
        .expect("a token of the rotated key is accepted")
        .into_inner();
    assert_eq!(
        listed
            .appeals
            .iter()
            .map(|a| a.number.as_str())
            .collect::<Vec<_>>(),
        [submitted.number.as_str()]
    );

    suite.stop().await;
}

fn header_kid(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    let json: BTreeMap<String, Value> = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    json["kid"].as_str().unwrap().to_owned()
}

//! What the end-to-end tests share: a suite on port 0 with fresh stores
//! (SQLite files in a temporary folder, or a fresh PostgreSQL database when
//! `ZHENGQI_TEST_DATABASE_URL` is set), tokens, clients, restarts, and
//! polling until a service has caught up. `cases` walks appeals and cases
//! through intake and routing.
#![allow(dead_code)]

pub mod cases;

use std::fmt::Debug;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection;
use tonic::transport::Channel;
use zhengqi::suite::{self, Suite, SuiteOptions};
use zhengqi_proto::zhengqi::common::v1::{EnterpriseRef, Event};
use zhengqi_proto::zhengqi::intake::v1 as intake;
use zhengqi_proto::zhengqi::intake::v1::intake_service_client::IntakeServiceClient;
use zhengqi_shared::auth::{AuthConfig, DevIssuer, Role, TokenRequest};

pub const USCC_A: &str = "91350200776049653A";
pub const USCC_B: &str = "91440101MA5CJQ4N59";
pub const USCC_C: &str = "9135021359498494XQ";

/// Tracing output in tests only when TEST_LOG is set.
pub fn init_log() {
    if std::env::var_os("TEST_LOG").is_some() {
        zhengqi_shared::server::init_tracing(Some("info"));
    }
}

/// A fresh PostgreSQL database for one test, when `ZHENGQI_TEST_DATABASE_URL` is set.
pub async fn fresh_postgres() -> Option<String> {
    let base = std::env::var("ZHENGQI_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let name = format!("zq_{}", ulid::Ulid::generate().to_string().to_lowercase());
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .expect("ZHENGQI_TEST_DATABASE_URL must point at a reachable PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("creating a test database");
    conn.close().await.ok();
    Some(replace_database(&base, &name))
}

/// `postgres://host:port/db?params` with another database name.
fn replace_database(url: &str, database: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, format!("?{query}")),
        None => (url, String::new()),
    };
    let scheme_end = head.find("://").map_or(0, |i| i + 3);
    let base = match head[scheme_end..].find('/') {
        Some(slash) => &head[..scheme_end + slash],
        None => head,
    };
    format!("{base}/{database}{query}")
}

/// The options of a suite on port 0 with its data in `data` and, when
/// `database_url` is set, its stores in that PostgreSQL database.
fn options(data: &Path, database_url: Option<&str>) -> SuiteOptions {
    let mut options = SuiteOptions::new(data, SocketAddr::from(([127, 0, 0, 1], 0)));
    options.database_url = database_url.map(str::to_owned);
    options
}

/// Gives the token of the person a [`TokenRequest`] describes, in place of the
/// development issuer (a real identity provider's tokens, fetched beforehand).
pub type Minter = Arc<dyn Fn(&TokenRequest) -> String + Send + Sync>;

/// A suite started for one test, with its own data folder and stores.
pub struct TestSuite {
    pub suite: Suite,
    pub issuer: DevIssuer,
    pub data: tempfile::TempDir,
    pub database_url: Option<String>,
    /// Where tokens come from when not from `issuer`.
    pub minter: Option<Minter>,
}

impl TestSuite {
    pub async fn start() -> TestSuite {
        Self::start_with(|_| {}).await
    }

    /// Starts a suite after `adjust` has changed its options.
    pub async fn start_with(adjust: impl FnOnce(&mut SuiteOptions)) -> TestSuite {
        init_log();
        let data = tempfile::tempdir().expect("a temporary folder");
        let database_url = fresh_postgres().await;
        let mut options = options(data.path(), database_url.as_deref());
        adjust(&mut options);
        let suite = suite::start(options).await.expect("the suite starts");
        let issuer = DevIssuer::load_or_create(data.path(), suite::DEV_ISSUER)
            .expect("the development issuer");
        Self::serving(suite, issuer, data, database_url).await
    }

    /// A suite whose development issuer may also grant the `service` role, as
    /// a city's identity provider may for county systems
    /// (`auth.allow_service_role`): their tokens carry a jurisdiction.
    pub async fn start_trusting_county_systems() -> TestSuite {
        init_log();
        let data = tempfile::tempdir().expect("a temporary folder");
        let database_url = fresh_postgres().await;
        let issuer = DevIssuer::load_or_create(data.path(), suite::DEV_ISSUER)
            .expect("the development issuer");
        let mut options = options(data.path(), database_url.as_deref());
        options.providers = vec![AuthConfig {
            trust: zhengqi_shared::auth::Trust::Users {
                allow_service: true,
            },
            ..issuer.auth_config()
        }];
        let suite = suite::start(options).await.expect("the suite starts");
        Self::serving(suite, issuer, data, database_url).await
    }

    /// The test suite of these parts, once every service reports SERVING.
    async fn serving(
        suite: Suite,
        issuer: DevIssuer,
        data: tempfile::TempDir,
        database_url: Option<String>,
    ) -> TestSuite {
        let test = TestSuite {
            suite,
            issuer,
            data,
            database_url,
            minter: None,
        };
        test.wait_until_serving().await;
        test
    }

    pub fn gateway(&self) -> String {
        format!("http://{}", self.suite.gateway_addr)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.gateway())
            .unwrap()
            .connect()
            .await
            .expect("the gateway accepts connections")
    }

    pub async fn intake(&self) -> IntakeServiceClient<Channel> {
        IntakeServiceClient::new(self.channel().await)
    }

    /// Waits until every service reports SERVING through the gateway.
    pub async fn wait_until_serving(&self) {
        use tonic_health::pb::health_client::HealthClient;
        let mut health = HealthClient::new(self.channel().await);
        for (_, service) in suite::SERVICES {
            for attempt in 0.. {
                let status = health
                    .check(tonic_health::pb::HealthCheckRequest {
                        service: service.to_owned(),
                    })
                    .await
                    .map(|r| r.into_inner().status)
                    .ok();
                if status
                    == Some(tonic_health::pb::health_check_response::ServingStatus::Serving as i32)
                {
                    break;
                }
                assert!(attempt < 200, "{service} never became SERVING: {status:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    pub fn token(&self, request: TokenRequest) -> String {
        match &self.minter {
            Some(minter) => minter(&request),
            None => self.issuer.mint(&request).expect("minting a token"),
        }
    }

    /// A token of an enterprise user of `uscc` registered in `jurisdiction`.
    pub fn enterprise_token(&self, uscc: &str, jurisdiction: &str) -> String {
        self.token(TokenRequest {
            jurisdiction: Some(jurisdiction.to_owned()),
            uscc: Some(uscc.to_owned()),
            ..TokenRequest::new(format!("staff@{uscc}"), vec![Role::Enterprise])
        })
    }

    /// A token of `role` in `jurisdiction`.
    pub fn official_token(&self, role: Role, jurisdiction: &str) -> String {
        self.token(TokenRequest {
            jurisdiction: Some(jurisdiction.to_owned()),
            ..TokenRequest::new(format!("{}@{jurisdiction}", role.as_str()), vec![role])
        })
    }

    /// A token of the city's (510800) coordinator.
    pub fn city_coordinator_token(&self) -> String {
        self.official_token(Role::Coordinator, "510800")
    }

    /// A token of a handler of `department` (`510821-jrj`), in the
    /// jurisdiction its first six characters name.
    pub fn handler_token(&self, department: &str) -> String {
        self.token(TokenRequest {
            jurisdiction: Some(department[..6].to_owned()),
            department: Some(department.to_owned()),
            ..TokenRequest::new(format!("handler@{department}"), vec![Role::Handler])
        })
    }

    /// A `service` token, signed with the suite's service key as its parts'
    /// own calls are.
    pub fn service_token(&self) -> String {
        self.suite
            .service_key
            .mint("suite", Duration::from_secs(3600))
            .expect("minting a service token")
    }

    /// Verifier settings for this suite's development issuer.
    pub fn auth_config(&self) -> AuthConfig {
        self.issuer.auth_config()
    }

    /// A verifier that trusts what the suite trusts: its development issuer for
    /// the people's roles and its service key for `service`.
    pub async fn verifier(&self) -> zhengqi_shared::auth::Verifier {
        zhengqi_shared::auth::Verifier::trusting(vec![
            self.auth_config(),
            self.suite.service_key.anchor(),
        ])
        .await
        .expect("the suite's keys load")
    }

    /// Registers `enterprise` through intake with `token`.
    pub async fn register_enterprise(
        &self,
        enterprise: intake::Enterprise,
        token: &str,
    ) -> intake::Enterprise {
        self.intake()
            .await
            .register_enterprise(authed(
                intake::RegisterEnterpriseRequest {
                    enterprise: Some(enterprise),
                },
                token,
            ))
            .await
            .expect("the enterprise is registered")
            .into_inner()
    }

    /// Runs one statement on `service`'s own store (its schema in
    /// PostgreSQL, `<service>.db` in SQLite), behind the service's back, and
    /// returns how many rows it changed.
    pub async fn execute_in_store(&self, service: &str, sql: &str) -> u64 {
        execute_in_store(self.data.path(), self.database_url.as_deref(), service, sql).await
    }

    /// Stops the suite and starts it again, with default options, on the same
    /// data folder and stores.
    pub async fn restart(self) -> TestSuite {
        self.restart_after(None, |_| {}).await
    }

    /// Stops the suite and starts it again on the same data folder and
    /// stores, with the options `adjust` changes (e.g. the clocks).
    pub async fn restart_with(self, adjust: impl FnOnce(&mut SuiteOptions)) -> TestSuite {
        self.restart_after(None, adjust).await
    }

    /// Stops the suite, makes `service` forget how far it has read the logs it
    /// follows, and starts the suite again: those logs are applied again from
    /// the start.
    pub async fn restart_forgetting_cursors(self, service: &str) -> TestSuite {
        self.restart_after(Some(service), |_| {}).await
    }

    /// As [`TestSuite::restart_forgetting_cursors`], starting again with the
    /// options `adjust` changes.
    pub async fn restart_forgetting_cursors_with(
        self,
        service: &str,
        adjust: impl FnOnce(&mut SuiteOptions),
    ) -> TestSuite {
        self.restart_after(Some(service), adjust).await
    }

    async fn restart_after(
        self,
        forget_cursors_of: Option<&str>,
        adjust: impl FnOnce(&mut SuiteOptions),
    ) -> TestSuite {
        let TestSuite {
            suite,
            issuer,
            data,
            database_url,
            minter,
        } = self;
        suite.stop().await.unwrap();
        if let Some(service) = forget_cursors_of {
            execute_in_store(
                data.path(),
                database_url.as_deref(),
                service,
                "DELETE FROM zq_consumer_cursors",
            )
            .await;
        }
        let mut options = options(data.path(), database_url.as_deref());
        adjust(&mut options);
        let suite = suite::start(options).await.expect("the suite starts again");
        let mut test = Self::serving(suite, issuer, data, database_url).await;
        test.minter = minter;
        test
    }

    pub async fn stop(self) {
        self.suite.stop().await.expect("the suite stops cleanly");
    }
}

/// Runs `sql` on `service`'s store of a suite whose data folder is `data`.
async fn execute_in_store(
    data: &Path,
    database_url: Option<&str>,
    service: &str,
    sql: &str,
) -> u64 {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match database_url {
        Some(url) => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("SET search_path TO {service}")))
                .execute(&mut conn)
                .await
                .unwrap();
            sqlx::query(sql)
                .execute(&mut conn)
                .await
                .unwrap()
                .rows_affected()
        }
        None => {
            let url = format!("sqlite://{}", data.join(format!("{service}.db")).display());
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query(sql)
                .execute(&mut conn)
                .await
                .unwrap()
                .rows_affected()
        }
    }
}

/// Reads with `read` until what it returns satisfies `wanted`, and returns
/// that: at most `attempts` times, 50 ms apart (200 attempts are about ten
/// seconds). Panics with `what` and the last reading when none did.
pub async fn poll_until<T: Debug>(
    attempts: usize,
    what: &str,
    mut read: impl AsyncFnMut() -> T,
    wanted: impl Fn(&T) -> bool,
) -> T {
    let mut attempt = 1;
    loop {
        let current = read().await;
        if wanted(&current) {
            return current;
        }
        assert!(attempt < attempts, "{what}: {current:?}");
        attempt += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The next `count` events of a `WatchEvents` stream, each to arrive within
/// `within`.
pub async fn next_events(
    stream: &mut tonic::Streaming<Event>,
    count: usize,
    within: Duration,
) -> Vec<Event> {
    let mut seen = Vec::new();
    while seen.len() < count {
        let event = tokio::time::timeout(within, stream.message())
            .await
            .expect("the events arrive")
            .expect("the stream goes on")
            .expect("an event");
        seen.push(event);
    }
    seen
}

/// The wall clock, in whole seconds since the Unix epoch.
pub fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `message` with `authorization: Bearer <token>`.
pub fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// A valid appeal of enterprise `uscc` to `jurisdiction`.
pub fn appeal(
    request_id: &str,
    uscc: &str,
    jurisdiction: &str,
    title: &str,
) -> intake::SubmitAppealRequest {
    intake::SubmitAppealRequest {
        request_id: request_id.to_owned(),
        channel: intake::Channel::OnlinePortal as i32,
        jurisdiction_code: jurisdiction.to_owned(),
        enterprise: Some(EnterpriseRef {
            uscc: uscc.to_owned(),
            name: "广元市测试建材有限公司".to_owned(),
        }),
        kind: intake::AppealKind::HelpRequest as i32,
        category: intake::Category::Financing as i32,
        title: title.to_owned(),
        description: "流动资金贷款申请已两个月未获答复。".to_owned(),
        contact_name: "张三".to_owned(),
        contact_phone: "0839-3266666".to_owned(),
    }
}

/// The fields a `BadRequest` detail names.
pub fn bad_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

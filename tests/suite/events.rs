//! The event log and its consumer: every intake event takes effect exactly once
//! in a consumer, across a crash of the consumer and a restart of intake, and
//! when two replicas of the consumer follow the same log.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use futures_util::future::BoxFuture;
use sqlx::{AnyConnection, Row};
use zhengqi_proto::zhengqi::common::v1::Event;
use zhengqi_proto::zhengqi::intake::v1::intake_service_client::IntakeServiceClient;
use zhengqi_shared::Error;
use zhengqi_shared::auth::{AuthConfig, DevIssuer, JwksSource, Role, TokenRequest, Verifier};
use zhengqi_shared::config::PartConfig;
use zhengqi_shared::events::{Consumer, EventHandler};
use zhengqi_shared::reference::Reference;
use zhengqi_shared::shutdown::Shutdown;
use zhengqi_shared::storage::Store;

/// Records every event it is given, without a key, so an event applied twice
/// would show as two rows.
struct Recorder;

impl EventHandler for Recorder {
    fn apply<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            sqlx::query("INSERT INTO applied (sequence, event_type) VALUES ($1, $2)")
                .bind(event.sequence as i64)
                .bind(&event.r#type)
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }
}

struct Stores {
    intake_url: String,
    intake_schema: Option<String>,
    consumer_url: String,
    consumer_schema: Option<String>,
}

async fn stores(dir: &std::path::Path) -> Stores {
    match fresh_postgres().await {
        Some(url) => Stores {
            intake_url: url.clone(),
            intake_schema: Some("intake".into()),
            consumer_url: url,
            consumer_schema: Some("consumer".into()),
        },
        None => Stores {
            intake_url: format!("sqlite://{}", dir.join("intake.db").display()),
            intake_schema: None,
            consumer_url: format!("sqlite://{}", dir.join("consumer.db").display()),
            consumer_schema: None,
        },
    }
}

async fn start_intake(
    stores: &Stores,
    listen: SocketAddr,
    verifier: &Verifier,
) -> (
    SocketAddr,
    Shutdown,
    tokio::task::JoinHandle<Result<(), Error>>,
) {
    let config = PartConfig {
        listen,
        ops_listen: None,
        database_url: stores.intake_url.clone(),
        database_schema: stores.intake_schema.clone(),
        batch_max: 64,
    };
    let shutdown = Shutdown::new();
    let server = zhengqi_intake::build(
        &config,
        verifier.clone(),
        Arc::new(Reference::embedded()),
        &shutdown,
    )
    .await
    .expect("intake starts");
    let addr = server.addr();
    let task = tokio::spawn(server.run_until_stopped(shutdown.clone()));
    (addr, shutdown, task)
}

fn start_consumer(
    store: &Store,
    endpoint: &str,
    issuer: &Arc<DevIssuer>,
) -> tokio::task::JoinHandle<()> {
    let issuer = Arc::clone(issuer);
    let consumer = Consumer {
        source: "intake".into(),
        endpoint: endpoint.to_owned(),
        method: "/zhengqi.intake.v1.IntakeService/WatchEvents",
        types: Vec::new(),
        store: store.clone(),
        handler: Recorder,
        token: Some(Arc::new(move || {
            issuer
                .mint(&TokenRequest::new("consumer", vec![Role::Service]))
                .map_err(Error::internal)
        })),
    };
    tokio::spawn(consumer.run(Shutdown::new()))
}

async fn submit(addr: SocketAddr, token: &str, range: std::ops::Range<usize>) {
    let mut client = loop {
        match IntakeServiceClient::connect(format!("http://{addr}")).await {
            Ok(client) => break client,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    for i in range {
        let mut request = appeal(
            &format!("e-{i}"),
            USCC_A,
            "510821",
            &format!("第{i}号诉求：园区道路维修"),
        );
        request.category = (i % 12 + 1) as i32;
        loop {
            match client.submit_appeal(authed(request.clone(), token)).await {
                Ok(_) => break,
                // Intake may still be running its migrations after a restart.
                Err(status) if status.code() == tonic::Code::Unavailable => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(status) => panic!("submitting appeal {i}: {status}"),
            }
        }
    }
}

async fn applied(store: &Store) -> (i64, i64, i64) {
    let row = sqlx::query(
        "SELECT COUNT(*), COUNT(DISTINCT sequence), COALESCE(MAX(sequence), 0) FROM applied",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

async fn wait_for(store: &Store, at_least: i64) -> (i64, i64, i64) {
    for _ in 0..600 {
        let counts = applied(store).await;
        if counts.0 >= at_least {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "the consumer never applied {at_least} events: {:?}",
        applied(store).await
    );
}

#[tokio::test]
async fn every_event_is_applied_exactly_once_across_restarts_of_either_side() {
    init_log();
    let dir = tempfile::tempdir().unwrap();
    let issuer = Arc::new(DevIssuer::load_or_create(dir.path(), "events-test").unwrap());
    // The issuer stands for a deployment's service key: trusted for `service` alone.
    let verifier = Verifier::new(AuthConfig::service(
        issuer.issuer(),
        JwksSource::File(issuer.jwks_path().to_owned()),
    ))
    .await
    .unwrap();
    let token = issuer
        .mint(&TokenRequest::new("county-system", vec![Role::Service]))
        .unwrap();
    let stores = stores(dir.path()).await;

    let (addr, intake_shutdown, intake_task) =
        start_intake(&stores, SocketAddr::from(([127, 0, 0, 1], 0)), &verifier).await;
    let consumer_store = Store::connect(&stores.consumer_url, stores.consumer_schema.as_deref())
        .await
        .unwrap();
    sqlx::query("CREATE TABLE applied (sequence BIGINT NOT NULL, event_type TEXT NOT NULL)")
        .execute(consumer_store.pool())
        .await
        .unwrap();
    let endpoint = format!("http://{addr}");

    // History first: events committed before the consumer starts.
    submit(addr, &token, 0..40).await;
    let consumer = start_consumer(&consumer_store, &endpoint, &issuer);
    wait_for(&consumer_store, 10).await;
    // The consumer dies mid-stream, possibly inside a transaction.
    consumer.abort();
    let _ = consumer.await;
    let consumer = start_consumer(&consumer_store, &endpoint, &issuer);
    // Live events while it catches up.
    submit(addr, &token, 40..60).await;
    assert_eq!(wait_for(&consumer_store, 60).await, (60, 60, 60));

    // Intake restarts on the same address; the consumer reconnects by itself.
    intake_shutdown.trigger();
    intake_task.await.unwrap().expect("intake stops cleanly");
    let (_, intake_shutdown, intake_task) = start_intake(&stores, addr, &verifier).await;
    submit(addr, &token, 60..75).await;
    assert_eq!(wait_for(&consumer_store, 75).await, (75, 75, 75));

    // Nothing more arrives later: no event was applied twice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(applied(&consumer_store).await, (75, 75, 75));
    let cursor = Consumer::<Recorder>::cursor(&consumer_store, "intake")
        .await
        .unwrap();
    assert_eq!(cursor, 75);

    consumer.abort();
    intake_shutdown.trigger();
    intake_task.await.unwrap().unwrap();
}

#[tokio::test]
async fn two_replicas_following_one_log_apply_each_event_once() {
    init_log();
    let dir = tempfile::tempdir().unwrap();
    let issuer = Arc::new(DevIssuer::load_or_create(dir.path(), "events-test").unwrap());
    // The issuer stands for a deployment's service key: trusted for `service` alone.
    let verifier = Verifier::new(AuthConfig::service(
        issuer.issuer(),
        JwksSource::File(issuer.jwks_path().to_owned()),
    ))
    .await
    .unwrap();
    let token = issuer
        .mint(&TokenRequest::new("county-system", vec![Role::Service]))
        .unwrap();
    let stores = stores(dir.path()).await;
    let (addr, intake_shutdown, intake_task) =
        start_intake(&stores, SocketAddr::from(([127, 0, 0, 1], 0)), &verifier).await;
    let consumer_store = Store::connect(&stores.consumer_url, stores.consumer_schema.as_deref())
        .await
        .unwrap();
    sqlx::query("CREATE TABLE applied (sequence BIGINT NOT NULL, event_type TEXT NOT NULL)")
        .execute(consumer_store.pool())
        .await
        .unwrap();
    let endpoint = format!("http://{addr}");

    // Two replicas of one consumer share its store and its cursor.
    submit(addr, &token, 0..30).await;
    let first = start_consumer(&consumer_store, &endpoint, &issuer);
    let second = start_consumer(&consumer_store, &endpoint, &issuer);
    submit(addr, &token, 30..60).await;
    assert_eq!(wait_for(&consumer_store, 60).await, (60, 60, 60));

    // One replica dies; the other carries on alone.
    first.abort();
    let _ = first.await;
    submit(addr, &token, 60..80).await;
    assert_eq!(wait_for(&consumer_store, 80).await, (80, 80, 80));

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(applied(&consumer_store).await, (80, 80, 80));
    assert_eq!(
        Consumer::<Recorder>::cursor(&consumer_store, "intake")
            .await
            .unwrap(),
        80
    );
    second.abort();
    intake_shutdown.trigger();
    intake_task.await.unwrap().unwrap();
}

//! An acknowledged appeal survives `kill -9` of `zhengqi up`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use zhengqi_proto::zhengqi::intake::v1 as intake;
use zhengqi_proto::zhengqi::intake::v1::intake_service_client::IntakeServiceClient;
use zhengqi_shared::auth::{DevIssuer, Role, TokenRequest};

/// Starts `zhengqi up` on `data` and returns it with the gateway's address.
fn up(data: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zhengqi"))
        .args(["up", "--data"])
        .arg(data)
        .args(["--listen", "127.0.0.1:0"])
        .env("ZHENGQI_LOG", "warn")
        .env_remove("ZHENGQI_AUTH_JWKS")
        .env_remove("ZHENGQI_AUTH_ISSUER")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("zhengqi up starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("zhengqi up prints its address")
            .expect("reading zhengqi up's output");
        if let Some(address) = line
            .split(" at ")
            .nth(1)
            .filter(|_| line.starts_with("zhengqi is up"))
        {
            break address.trim().to_owned();
        }
    };
    // Keep draining stdout so the process never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, address)
}

async fn connect(address: &str) -> IntakeServiceClient<tonic::transport::Channel> {
    for _ in 0..200 {
        if let Ok(client) = IntakeServiceClient::connect(address.to_owned()).await {
            return client;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the gateway at {address} never accepted a connection");
}

/// Calls until intake has finished starting (it answers UNAVAILABLE while its
/// migrations run).
async fn until_ready<T, F, Fut>(mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    for _ in 0..200 {
        match call().await {
            Ok(response) => return response.into_inner(),
            Err(status) if status.code() == tonic::Code::Unavailable => {
                tokio::time::sleep(Duration::from_millis(25)).await
            }
            Err(status) => panic!("unexpected {status}"),
        }
    }
    panic!("intake never became ready");
}

#[tokio::test]
async fn an_acknowledged_appeal_survives_kill_9_of_zhengqi_up() {
    init_log();
    let data = tempfile::tempdir().unwrap();
    let (mut first, address) = up(data.path());
    let issuer = DevIssuer::load_or_create(data.path(), zhengqi::suite::DEV_ISSUER).unwrap();
    let token = issuer
        .mint(&TokenRequest {
            jurisdiction: Some("510821".into()),
            uscc: Some(USCC_A.into()),
            ..TokenRequest::new("crash-test", vec![Role::Enterprise])
        })
        .unwrap();

    let client = connect(&address).await;
    let submit = || {
        let mut client = client.clone();
        let request = authed(appeal("survives", USCC_A, "510821", "停电影响生产"), &token);
        async move { client.submit_appeal(request).await }
    };
    let acknowledged = until_ready(submit).await;
    // The acknowledgement is the promise: kill at once, no chance to flush.
    first.kill().expect("SIGKILL");
    first.wait().unwrap();

    let (mut second, address) = up(data.path());
    let client = connect(&address).await;
    let read = until_ready(|| {
        let mut client = client.clone();
        let request = authed(
            intake::GetAppealRequest {
                id: acknowledged.id.clone(),
            },
            &token,
        );
        async move { client.get_appeal(request).await }
    })
    .await;
    assert_eq!(read, acknowledged);
    // And its idempotency key still holds after the crash.
    let retried = until_ready(|| {
        let mut client = client.clone();
        let request = authed(appeal("survives", USCC_A, "510821", "停电影响生产"), &token);
        async move { client.submit_appeal(request).await }
    })
    .await;
    assert_eq!(retried.id, acknowledged.id);
    second.kill().unwrap();
    second.wait().unwrap();
}

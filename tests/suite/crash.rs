//! `zhengqi up` as a process: an acknowledged appeal survives `kill -9`, and
//! `up --config` reads a configuration file.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::*;
use zhengqi_proto::zhengqi::intake::v1 as intake;
use zhengqi_proto::zhengqi::intake::v1::intake_service_client::IntakeServiceClient;
use zhengqi_shared::auth::{DevIssuer, Role, TokenRequest};

/// Starts `zhengqi up` on `data` and returns it with the gateway's address.
fn up(data: &std::path::Path) -> (Child, String) {
    start_up(&["--data".as_ref(), data.as_os_str()])
}

/// Starts `zhengqi up` with `args` and `--listen 127.0.0.1:0`, and returns it
/// with the gateway's address.
fn start_up(args: &[&std::ffi::OsStr]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zhengqi"))
        .arg("up")
        .args(args)
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

#[tokio::test]
async fn up_reads_a_configuration_file_and_its_command_line_wins_over_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("from-the-file");
    let file = dir.path().join("zhengqi.toml");
    let origin = "https://portal.guangyuan.example";
    // The file's `listen` loses to --listen; its `data` and gateway settings hold.
    std::fs::write(
        &file,
        format!(
            "data = {:?}\nlisten = \"127.0.0.1:1\"\n[gateway]\ncors_origins = [\"{origin}\"]\n",
            data.to_str().unwrap()
        ),
    )
    .unwrap();
    let (mut child, address) = start_up(&["--config".as_ref(), file.as_os_str()]);
    assert!(
        data.join("intake.db").exists(),
        "no stores in the file's data folder"
    );
    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{address}/v1/appeals"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some(origin),
        "the file's CORS origin is not applied: {preflight:?}"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    // A file with a key that means nothing stops `up` with the key's name.
    std::fs::write(&file, "[gateway]\nrate_per_second = 5.0\n").unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_zhengqi"))
        .args(["up", "--listen", "127.0.0.1:0", "--config"])
        .arg(&file)
        .arg("--data")
        .arg(dir.path().join("never"))
        .env_remove("ZHENGQI_AUTH_JWKS")
        .env_remove("ZHENGQI_AUTH_ISSUER")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("rate_per_second"), "{stderr}");
}

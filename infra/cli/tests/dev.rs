//! `hookline dev` reads its settings from the environment as the functions do: the retention
//! becomes the TTL of stored events, the rotation grace decides how long a rotated-out secret
//! stays, and a bad value stops it with a sentence naming the variable.

use std::process::Stdio;
use std::time::Duration;

use hookline_testkit::MotoServer;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

fn hookline(moto: &MotoServer, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hookline"));
    command
        .args(args)
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("HOOKLINE_TABLE", "hookline")
        .env_remove("RUST_LOG");
    for name in ["HOOKLINE_RETENTION_DAYS", "HOOKLINE_ROTATION_GRACE_HOURS", "HOOKLINE_ALLOW_PRIVATE_TARGETS"] {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command.kill_on_drop(true);
    command
}

/// Starts `hookline dev` and waits for its ready line; the child and the API's URL.
async fn dev(moto: &MotoServer, env: &[(&str, &str)]) -> (Child, String) {
    let mut child = hookline(moto, &["dev", "--port", "0", "--quiet"], env)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("hookline dev starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let ready = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("ready in time")
        .expect("stdout readable")
        .expect("a ready line");
    let api = ready.split_whitespace().find(|word| word.starts_with("http://127.0.0.1:")).expect("the API URL");
    (child, api.to_owned())
}

async fn key(moto: &MotoServer) -> String {
    let output = hookline(moto, &["keys", "create", "--tenant", "acme", "--scopes", "publish,manage"], &[])
        .output()
        .await
        .expect("keys create runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8").lines().last().expect("the key").trim().to_owned()
}

/// Every item whose pk starts with `prefix`, as (expires_at, doc).
async fn items(moto: &MotoServer, prefix: &str) -> Vec<(Option<i64>, Value)> {
    let dynamo = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    let scan = dynamo.scan().table_name("hookline").send().await.expect("scan");
    scan.items()
        .iter()
        .filter(|item| item.get("pk").and_then(|v| v.as_s().ok()).is_some_and(|pk| pk.starts_with(prefix)))
        .map(|item| {
            let expires = item.get("expires_at").and_then(|v| v.as_n().ok()).map(|n| n.parse().expect("number"));
            let doc = item.get("doc").and_then(|v| v.as_s().ok()).expect("doc");
            (expires, serde_json::from_str(doc).expect("json"))
        })
        .collect()
}

#[tokio::test]
async fn the_retention_and_rotation_grace_come_from_the_environment() {
    let moto = MotoServer::start().expect("moto (run `make tools` or set HOOKLINE_MOTO_SERVER)");
    let (_dev, api) = dev(&moto, &[("HOOKLINE_RETENTION_DAYS", "2"), ("HOOKLINE_ROTATION_GRACE_HOURS", "0")]).await;
    let key = key(&moto).await;
    let http = reqwest::Client::new();

    let event =
        json!({"type": "client-management.legalentity-deleted", "data": {"tenant": "acme", "legalEntityId": "le-1"}});
    let published = http.post(format!("{api}/v1/events")).bearer_auth(&key).json(&event).send().await.expect("publish");
    assert_eq!(published.status(), 202);
    let events = items(&moto, "T#acme#EVT").await;
    assert_eq!(events.len(), 1);
    let (expires_at, doc) = &events[0];
    let timestamp = time::OffsetDateTime::parse(
        doc["timestamp"].as_str().expect("timestamp"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");
    assert_eq!(*expires_at, Some(timestamp.unix_timestamp() + 2 * 86_400), "two days from HOOKLINE_RETENTION_DAYS");

    let created = http
        .post(format!("{api}/v1/subscriptions"))
        .bearer_auth(&key)
        .json(&json!({"url": "http://127.0.0.1:9/hook", "eventTypes": ["*"]}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    let rotated =
        http.post(format!("{api}/v1/subscriptions/{id}/rotate-secret")).bearer_auth(&key).send().await.expect("rotate");
    assert_eq!(rotated.status(), 200);
    let subscriptions = items(&moto, "T#acme").await;
    let (_, subscription) = subscriptions.iter().find(|(_, doc)| doc["id"] == id.as_str()).expect("stored");
    assert_eq!(
        subscription["secrets"].as_array().map(Vec::len),
        Some(1),
        "with HOOKLINE_ROTATION_GRACE_HOURS=0 the old secret stops signing at once"
    );
}

#[tokio::test]
async fn a_bad_setting_stops_it_with_a_sentence_naming_the_variable() {
    let moto = MotoServer::start().expect("moto");
    for (name, value) in [("HOOKLINE_ROTATION_GRACE_HOURS", "a day"), ("HOOKLINE_RETENTION_DAYS", "forever")] {
        let output = hookline(&moto, &["dev", "--port", "0", "--quiet"], &[(name, value)])
            .output()
            .await
            .expect("hookline dev runs");
        assert!(!output.status.success(), "{name}={value} is refused");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("hookline: ") && stderr.contains(name), "{stderr}");
    }
}

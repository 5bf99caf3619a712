//! The operator's commands as an operator runs them: the `hookline` binary against a real moto,
//! with real subscribers on loopback.
//!
//! - a delivery that exhausts its schedule is listed by `hookline dlq list` with its reason and
//!   delivered by `hookline dlq redrive` once the subscriber recovers;
//! - `hookline dev` killed with SIGKILL while batches are in flight, then started again, still
//!   delivers every event.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::Duration;

use hookline_aws::DynamoStore;
use hookline_core::api_key;
use hookline_core::ids::ApiKeyId;
use hookline_core::model::{ApiKey, KeyOwner, Scope};
use hookline_core::ports::ApiKeyStore;
use hookline_local::LocalOptions;
use hookline_testkit::{MotoServer, Reply, TestReceiver, eventually};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const HOOKLINE: &str = env!("CARGO_BIN_EXE_hookline");
const ARRIVAL: Duration = Duration::from_secs(60);
const DELETED: &str = "client-management.legalentity-deleted";

/// Stores a new key for `acme` in the local stack's table; its text.
async fn key(moto: &MotoServer) -> String {
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&moto.sdk_config().await), "hookline", Duration::ZERO);
    let minted = api_key::mint();
    let key = ApiKey {
        id: ApiKeyId::generate(),
        owner: "acme".parse::<KeyOwner>().expect("owner"),
        scopes: vec![Scope::Publish, Scope::Manage],
        key_hash: minted.hash,
        created_at: time::OffsetDateTime::now_utc(),
        revoked_at: None,
    };
    store.create(&key).await.expect("store key");
    minted.text
}

async fn post(api: &str, key: &str, path: &str, body: Value) -> (u16, Value) {
    let response =
        reqwest::Client::new().post(format!("{api}{path}")).bearer_auth(key).json(&body).send().await.expect("answer");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn subscribe(api: &str, key: &str, url: &str) -> String {
    let (status, body) = post(api, key, "/v1/subscriptions", json!({"url": url, "eventTypes": ["*"]})).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

/// Runs `hookline dlq …` against moto; its stdout lines parsed as JSON.
async fn dlq(moto: &MotoServer, args: &[&str]) -> Vec<Value> {
    let output = Command::new(HOOKLINE)
        .arg("dlq")
        .args(args)
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env_remove("HOOKLINE_DELIVERIES_QUEUE_URL")
        .env_remove("HOOKLINE_DELIVERIES_DLQ_URL")
        .output()
        .await
        .expect("hookline runs");
    assert!(output.status.success(), "hookline dlq {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("one JSON object per line: {line}: {e}")))
        .collect()
}

#[tokio::test]
async fn an_exhausted_delivery_is_listed_with_its_reason_and_redrive_delivers_it() {
    let moto = MotoServer::start().expect("moto");
    let options = LocalOptions {
        port: 0,
        endpoint: Some(moto.endpoint()),
        retry_schedule: "1s,1s".parse().expect("schedule"),
        delivery_timeout: Duration::from_secs(2),
        quiet: true,
        ..LocalOptions::default()
    };
    let stack = hookline_local::start(options).await.expect("stack");
    let api = stack.api_url();
    let key = key(&moto).await;
    let receiver = TestReceiver::start().await.expect("receiver");
    receiver.set_default(Reply::status(500).with_body("still broken"));
    let subscription = subscribe(&api, &key, &receiver.url()).await;
    let (status, answer) =
        post(&api, &key, "/v1/events", json!({"type": DELETED, "data": {"tenant": "acme", "legalEntityId": "le-1"}}))
            .await;
    assert_eq!(status, 202, "{answer}");
    let event_id = answer["id"].as_str().expect("id").to_owned();

    receiver.wait_for(3, ARRIVAL).await.expect("three attempts");
    let listed = eventually(ARRIVAL, "the dead letter", || async {
        let lines = dlq(&moto, &["list"]).await;
        (!lines.is_empty()).then_some(lines)
    })
    .await
    .expect("listed");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let letter = &listed[0];
    assert_eq!(letter["kind"], "dead-delivery.v1");
    assert_eq!(letter["queue"], "deliveries");
    assert_eq!(letter["tenant"], "acme");
    assert_eq!(letter["eventId"], event_id.as_str());
    assert_eq!(letter["subscriptionId"], subscription.as_str());
    assert_eq!(letter["attempts"], 3);
    assert_eq!(letter["lastStatus"], 500);
    assert!(letter["reason"].as_str().is_some_and(|r| r.contains("500")), "{letter}");
    assert_eq!(dlq(&moto, &["list", "--queue", "deliveries"]).await.len(), 1, "listing leaves it in place");
    assert!(dlq(&moto, &["list", "--queue", "events"]).await.is_empty());

    receiver.set_default(Reply::ok());
    let moved = dlq(&moto, &["redrive"]).await;
    assert_eq!(moved.len(), 1);
    assert_eq!((moved[0]["action"].clone(), moved[0]["eventId"].clone()), (json!("redriven"), json!(event_id)));
    let requests = receiver.wait_for(4, ARRIVAL).await.expect("delivered after the redrive");
    assert_eq!((requests[3].status, requests[3].header("webhook-id")), (200, Some(event_id.as_str())));
    assert!(dlq(&moto, &["list"]).await.is_empty(), "the DLQ is empty after the redrive");
    stack.shutdown().await;
}

/// Starts `hookline dev` with stderr captured; the child, its API URL and its stderr lines.
async fn dev_with_stderr(
    moto: &MotoServer,
    quiet: bool,
) -> (Child, String, tokio::io::Lines<BufReader<tokio::process::ChildStderr>>) {
    let mut args = vec!["dev", "--port", "0"];
    if quiet {
        args.push("--quiet");
    }
    let mut child = Command::new(HOOKLINE)
        .args(&args)
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("HOOKLINE_RETRY_SCHEDULE", "1s,1s,1s,1s,1s")
        .env("HOOKLINE_DELIVERY_TIMEOUT_SECONDS", "5")
        .env("HOOKLINE_STATUS_INTERVAL_SECONDS", "1")
        // A killed stack's last long poll may still take a message; it comes back after 3 s.
        .env("HOOKLINE_VISIBILITY_TIMEOUT_SECONDS", "3")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("hookline dev starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let ready = tokio::time::timeout(ARRIVAL, lines.next_line()).await.expect("ready").expect("read").expect("line");
    let api = ready
        .split_whitespace()
        .find(|word| word.starts_with("http://127.0.0.1:") && !word.ends_with(&format!(":{}", moto.port())))
        .expect("an API URL")
        .to_owned();
    let stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    (child, api, stderr)
}

/// `hookline dev` on a free port against `moto`; the child and its API URL once ready.
async fn dev(moto: &MotoServer) -> (Child, String) {
    let (child, api, _) = dev_with_stderr(moto, true).await;
    (child, api)
}

#[tokio::test]
async fn a_stack_killed_mid_batch_and_started_again_delivers_every_event() {
    const EVENTS: usize = 30;
    let moto = MotoServer::start().expect("moto");
    let (mut first, api) = dev(&moto).await;
    let key = key(&moto).await;
    let receiver = TestReceiver::start().await.expect("receiver");
    // Slow answers keep deliveries in flight when the kill comes.
    receiver.set_default(Reply::ok().delayed(Duration::from_millis(400)));
    subscribe(&api, &key, &receiver.url()).await;
    let batch: Vec<Value> = (0..EVENTS)
        .map(|i| json!({"type": DELETED, "data": {"tenant": "acme", "legalEntityId": format!("le-{i}")}}))
        .collect();
    let (status, answer) = post(&api, &key, "/v1/events", json!(batch)).await;
    assert_eq!(status, 202, "{answer}");
    let published: BTreeSet<String> =
        answer["ids"].as_array().expect("ids").iter().map(|id| id.as_str().expect("id").to_owned()).collect();

    receiver.wait_for(3, ARRIVAL).await.expect("deliveries under way");
    first.start_kill().expect("SIGKILL");
    first.wait().await.expect("killed");
    let at_kill = receiver.requests().len();
    assert!(at_kill < EVENTS, "the kill came mid-batch ({at_kill} of {EVENTS} delivered)");

    let (_second, _) = dev(&moto).await;
    let delivered = eventually(Duration::from_secs(120), "every event after the restart", || async {
        let ids: BTreeSet<String> =
            receiver.requests().iter().filter_map(|r| r.header("webhook-id").map(str::to_owned)).collect();
        (ids == published).then_some(ids)
    })
    .await
    .expect("all delivered");
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for request in receiver.requests() {
        *counts.entry(request.header("webhook-id").expect("id").to_owned()).or_default() += 1;
    }
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    println!(
        "killed after {at_kill} of {EVENTS} deliveries; after restart all {} delivered, {duplicates} duplicate(s)",
        delivered.len()
    );
}

#[tokio::test]
async fn dev_prints_a_status_line_with_events_deliveries_and_queues_unless_quiet() {
    let moto = MotoServer::start().expect("moto");
    let (mut child, api, mut stderr) = dev_with_stderr(&moto, false).await;
    let key = key(&moto).await;
    let receiver = TestReceiver::start().await.expect("receiver");
    subscribe(&api, &key, &receiver.url()).await;
    let batch = json!([
        {"type": DELETED, "data": {"tenant": "acme", "legalEntityId": "le-1"}},
        {"type": DELETED, "data": {"tenant": "acme", "legalEntityId": "le-2"}}
    ]);
    assert_eq!(post(&api, &key, "/v1/events", batch).await.0, 202);
    receiver.wait_for(2, ARRIVAL).await.expect("both delivered");

    // stderr is a pipe here, so the status comes as a line whenever it changes.
    let wanted = "hookline dev: events in 2 · delivered 2 · retrying 0 · dead-lettered 0 · \
                  queues: events 0, deliveries 0, DLQs 0/0";
    let seen = tokio::time::timeout(ARRIVAL, async {
        while let Some(line) = stderr.next_line().await.expect("read stderr") {
            if line == wanted {
                return line;
            }
        }
        panic!("stderr closed before the status line");
    })
    .await
    .unwrap_or_else(|_| panic!("no status line `{wanted}`"));
    assert!(!seen.contains('\x1b'), "no terminal escapes when stderr is not a terminal");
    child.start_kill().expect("kill");
    child.wait().await.expect("stopped");

    let (mut quiet, api, mut stderr) = dev_with_stderr(&moto, true).await;
    assert_eq!(
        post(&api, &key, "/v1/events", json!({"type": DELETED, "data": {"tenant": "acme", "legalEntityId": "le-3"}}))
            .await
            .0,
        202
    );
    receiver.wait_for(3, ARRIVAL).await.expect("delivered by the quiet stack");
    tokio::time::sleep(Duration::from_secs(2)).await;
    quiet.start_kill().expect("kill");
    quiet.wait().await.expect("stopped");
    let mut rest = Vec::new();
    while let Some(line) = stderr.next_line().await.expect("read") {
        rest.push(line);
    }
    assert!(rest.iter().all(|line| !line.contains("events in")), "--quiet shows no status: {rest:?}");
}

//! Fault injection, end to end: subscribers that fail, stall, refuse or vanish, and an AWS
//! that goes away mid-publish. Each test asserts what the subscriber received and what the
//! attempt log shows. Schedules are shortened through `LocalOptions` (the same setting as
//! `HOOKLINE_RETRY_SCHEDULE`), never by test-only code paths.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use hookline_aws::resources::{QueueSettings, Resources};
use hookline_core::api_key;
use hookline_core::ids::ApiKeyId;
use hookline_core::model::{ApiKey, KeyOwner};
use hookline_core::ports::ApiKeyStore;
use hookline_testkit::{Reply, TestReceiver};
use reqwest::Method;
use serde_json::{Value, json};

const DELETED: &str = "client-management.legalentity-deleted";

fn outcomes(attempts: &[Value]) -> Vec<(u64, String)> {
    attempts
        .iter()
        .map(|a| (a["attempt"].as_u64().expect("attempt"), a["outcome"].as_str().expect("outcome").to_owned()))
        .collect()
}

fn gap(earlier: SystemTime, later: SystemTime) -> Duration {
    later.duration_since(earlier).unwrap_or_default()
}

#[tokio::test]
async fn a_500_500_200_subscriber_gets_it_on_attempt_3_with_one_id_and_valid_signatures() {
    let stack = Stack::start_with(|_| {}).await; // schedule 1s,1s: three attempts in all
    let key = stack.key("acme", BOTH).await;
    let receiver = TestReceiver::start().await.expect("receiver");
    receiver.script([Reply::status(500), Reply::status(500)]);
    let (subscription, secret) = stack.subscribe_to(&key, &receiver.url(), &["*"]).await;
    let id = stack.publish_ok(&key, DELETED, deleted_data("acme", "le-1")).await;

    let requests = receiver.wait_for(3, ARRIVAL).await.expect("three attempts");
    for request in &requests {
        assert_signed(request, &secret, &id);
    }
    let timestamps: Vec<&str> = requests.iter().map(|r| r.header("webhook-timestamp").expect("timestamp")).collect();
    assert_ne!(timestamps[0], timestamps[2], "each attempt is signed afresh");
    assert_eq!(requests.iter().map(|r| r.status).collect::<Vec<_>>(), [500, 500, 200]);

    let attempts = stack.attempts(&key, &subscription, 3).await;
    assert_eq!(
        outcomes(&attempts),
        [(3, "delivered".into()), (2, "retry_scheduled".into()), (1, "retry_scheduled".into())]
    );
    tokio::time::sleep(SILENCE).await;
    assert_eq!(receiver.requests().len(), 3, "nothing after the 200");
    stack.stop().await;
}

#[tokio::test]
async fn retry_after_on_a_429_is_waited_out() {
    let stack = Stack::start_with(|_| {}).await;
    let key = stack.key("acme", BOTH).await;
    let receiver = TestReceiver::start().await.expect("receiver");
    receiver.script([Reply::status(429).with_retry_after("2")]);
    let (subscription, _) = stack.subscribe_to(&key, &receiver.url(), &["*"]).await;
    stack.publish_ok(&key, DELETED, deleted_data("acme", "le-1")).await;

    let requests = receiver.wait_for(2, ARRIVAL).await.expect("a retry");
    let waited = gap(requests[0].received_at, requests[1].received_at);
    // The schedule alone would retry after about a second (±20 %).
    assert!(waited >= Duration::from_millis(1_950), "retried after {waited:?}, before Retry-After: 2 ran out");
    let attempts = stack.attempts(&key, &subscription, 2).await;
    assert_eq!(attempts[1]["status"], 429);
    assert_eq!(attempts[0]["outcome"], "delivered");
    stack.stop().await;
}

#[tokio::test]
async fn a_subscriber_that_times_out_is_retried() {
    let stack = Stack::start_with(|_| {}).await; // delivery timeout 2 s
    let key = stack.key("acme", BOTH).await;
    let receiver = TestReceiver::start().await.expect("receiver");
    receiver.script([Reply::ok().delayed(Duration::from_secs(4))]);
    let (subscription, _) = stack.subscribe_to(&key, &receiver.url(), &["*"]).await;
    stack.publish_ok(&key, DELETED, deleted_data("acme", "le-1")).await;

    let attempts = stack.attempts(&key, &subscription, 2).await;
    assert_eq!(outcomes(&attempts), [(2, "delivered".into()), (1, "retry_scheduled".into())]);
    assert_eq!(attempts[1]["errorKind"], "timeout");
    assert_eq!(attempts[1]["status"], Value::Null);
    assert_eq!(receiver.requests().len(), 2);
    stack.stop().await;
}

#[tokio::test]
async fn a_refused_connection_is_retried_until_the_subscriber_is_back() {
    let stack = Stack::start_with(|o| o.retry_schedule = "1s,1s,1s,1s,1s,1s".parse().expect("schedule")).await;
    let key = stack.key("acme", BOTH).await;
    // A port nobody listens on yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let (subscription, _) = stack.subscribe_to(&key, &url, &["*"]).await;
    let id = stack.publish_ok(&key, DELETED, deleted_data("acme", "le-1")).await;

    let attempts = stack.attempts(&key, &subscription, 1).await;
    assert_eq!(attempts[0]["errorKind"], "connect");
    assert_eq!(attempts[0]["outcome"], "retry_scheduled");
    let receiver = TestReceiver::start_on(port).await.expect("the subscriber comes back on its port");
    let requests = receiver.wait_for(1, ARRIVAL).await.expect("delivered once it is back");
    assert_eq!(requests[0].header("webhook-id"), Some(id.as_str()));
    let attempts = stack.attempts(&key, &subscription, 2).await;
    assert_eq!(attempts[0]["outcome"], "delivered");
    assert!(attempts[1..].iter().all(|a| a["errorKind"] == "connect" && a["outcome"] == "retry_scheduled"));
    stack.stop().await;
}

#[tokio::test]
async fn a_410_disables_the_subscription_and_nothing_more_is_sent_to_it() {
    let stack = Stack::start_with(|_| {}).await;
    let key = stack.key("acme", BOTH).await;
    let gone = TestReceiver::start().await.expect("receiver");
    gone.set_default(Reply::status(410));
    let control = TestReceiver::start().await.expect("receiver");
    let (subscription, _) = stack.subscribe_to(&key, &gone.url(), &["*"]).await;
    stack.subscribe_to(&key, &control.url(), &["*"]).await;
    stack.publish_ok(&key, DELETED, deleted_data("acme", "le-1")).await;

    let attempts = stack.attempts(&key, &subscription, 1).await;
    assert_eq!((attempts[0]["status"].clone(), attempts[0]["outcome"].clone()), (json!(410), json!("disabled")));
    let Answer { status, body: view, .. } =
        stack.call(Method::GET, &format!("/v1/subscriptions/{subscription}"), Some(&key), None).await;
    assert_eq!(status, 200);
    assert_eq!(view["enabled"], false, "{view}");
    assert!(view["disabled"]["reason"].as_str().is_some_and(|r| r.contains("410")), "{view}");
    assert!(view["disabled"]["at"].is_string(), "{view}");

    let second = stack.publish_ok(&key, DELETED, deleted_data("acme", "le-2")).await;
    let seen = control.wait_for(2, ARRIVAL).await.expect("the control subscriber gets both");
    assert!(seen.iter().any(|r| r.header("webhook-id") == Some(second.as_str())));
    tokio::time::sleep(SILENCE).await;
    assert_eq!(gone.requests().len(), 1, "no retries and no new deliveries after 410");
    stack.stop().await;
}

#[tokio::test]
async fn with_aws_down_a_publish_is_503_and_the_same_publish_succeeds_once_it_is_back() {
    let mut stack = Stack::start_with(|_| {}).await;
    let store = stack.store().await;
    let minted = api_key::mint();
    let api_key = ApiKey {
        id: ApiKeyId::generate(),
        owner: "acme".parse::<KeyOwner>().expect("owner"),
        scopes: BOTH.to_vec(),
        key_hash: minted.hash.clone(),
        created_at: time::OffsetDateTime::now_utc(),
        revoked_at: None,
    };
    store.create(&api_key).await.expect("store key");
    let key = minted.text;
    let receiver = TestReceiver::start().await.expect("receiver");
    stack.subscribe_to(&key, &receiver.url(), &["*"]).await;
    let body = json!({"type": DELETED, "data": deleted_data("acme", "le-1")});
    let publish = |stack: &Stack| {
        stack
            .http
            .post(stack.url("/v1/events"))
            .bearer_auth(&key)
            .header("idempotency-key", "outage-1")
            .json(&body)
            .send()
    };

    stack.moto.stop();
    let response = publish(&stack).await.expect("the API answers");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let error: Value = response.json().await.expect("a JSON error");
    assert_eq!(error["error"]["code"], "unavailable");

    // moto comes back empty: the operator's resources, key and subscription are created again.
    stack.moto.restart().expect("moto restarts");
    let config = stack.moto.sdk_config().await;
    Resources::provision(&config, "hookline", &QueueSettings::default()).await.expect("provision again");
    store.create(&api_key).await.expect("store key again");
    let (subscription, secret) = stack.subscribe_to(&key, &receiver.url(), &["*"]).await;

    let response = publish(&stack).await.expect("the API answers");
    assert_eq!(response.status(), 202);
    let id = response.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    let requests = receiver.wait_for(1, ARRIVAL).await.expect("delivered after the outage");
    assert_signed(&requests[0], &secret, &id);
    assert_eq!(stack.attempts(&key, &subscription, 1).await[0]["outcome"], "delivered");

    // The producer retries once more; the key answers the stored 202 and nothing is sent again.
    let response = publish(&stack).await.expect("the API answers");
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers().get("idempotent-replayed").map(|v| v.as_bytes()), Some(&b"true"[..]));
    tokio::time::sleep(SILENCE).await;
    assert_eq!(receiver.requests().len(), 1);
    stack.stop().await;
}

#[tokio::test]
async fn a_replay_delivers_the_window_again_once_with_the_original_ids() {
    let stack = Stack::start_with(|_| {}).await;
    let key = stack.key("acme", BOTH).await;
    let receiver = TestReceiver::start().await.expect("receiver");
    let (subscription, secret) = stack.subscribe_to(&key, &receiver.url(), &[DELETED]).await;
    let since = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    let first = stack.publish_ok(&key, DELETED, deleted_data("acme", "le-1")).await;
    let second = stack.publish_ok(&key, DELETED, deleted_data("acme", "le-2")).await;
    receiver.wait_for(2, ARRIVAL).await.expect("both delivered");

    let window = json!({"since": since.format(&time::format_description::well_known::Rfc3339).expect("time")});
    let path = format!("/v1/subscriptions/{subscription}/replay");
    let Answer { status, body: answer, .. } = stack.call(Method::POST, &path, Some(&key), Some(window)).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["count"], 2);
    let requests = receiver.wait_for(4, ARRIVAL).await.expect("both again");
    for request in &requests[2..] {
        let id = request.header("webhook-id").expect("id").to_owned();
        assert!(id == first || id == second, "{id}");
        assert_signed(request, &secret, &id);
    }
    tokio::time::sleep(SILENCE).await;
    assert_eq!(receiver.requests().len(), 4, "a replay delivers each event once more, not more");
    stack.stop().await;
}

#[tokio::test]
async fn the_same_idempotency_key_and_body_create_one_event_and_another_body_is_409() {
    let stack = Stack::start_with(|_| {}).await;
    let key = stack.key("acme", BOTH).await;
    let receiver = TestReceiver::start().await.expect("receiver");
    stack.subscribe_to(&key, &receiver.url(), &["*"]).await;
    let send = |body: Value| {
        stack
            .http
            .post(stack.url("/v1/events"))
            .bearer_auth(&key)
            .header("idempotency-key", "order-1")
            .json(&body)
            .send()
    };
    let body = json!({"type": DELETED, "data": deleted_data("acme", "le-1")});
    let first = send(body.clone()).await.expect("answer");
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.expect("json");
    let again = send(body).await.expect("answer");
    assert_eq!(again.status(), 202);
    assert_eq!(again.json::<Value>().await.expect("json"), first);
    let other = send(json!({"type": DELETED, "data": deleted_data("acme", "le-2")})).await.expect("answer");
    assert_eq!(other.status(), 409);
    assert_eq!(other.json::<Value>().await.expect("json")["error"]["code"], "idempotency_key_reused");

    receiver.wait_for(1, ARRIVAL).await.expect("one delivery");
    tokio::time::sleep(SILENCE).await;
    assert_eq!(receiver.requests().len(), 1, "one event for the repeated publish");
    stack.stop().await;
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_retried_and_delivered_once_it_does() {
    let resolver = hookline_testkit::ScriptedResolver::new();
    let stack = Stack::start_with(|o| {
        o.retry_schedule = "1s,1s,1s,1s,1s,1s".parse().expect("schedule");
        o.resolver = Some(resolver.shared());
    })
    .await;
    let key = stack.key("acme", BOTH).await;
    let receiver = TestReceiver::start().await.expect("receiver");
    // Local mode accepts a name that does not resolve yet (any address would be allowed).
    let url = format!("http://hooks.acme.test:{}/hook", receiver.address().port());
    let (subscription, secret) = stack.subscribe_to(&key, &url, &["*"]).await;
    let id = stack.publish_ok(&key, DELETED, deleted_data("acme", "le-1")).await;

    let attempts = stack.attempts(&key, &subscription, 1).await;
    assert_eq!(
        (attempts[0]["errorKind"].clone(), attempts[0]["outcome"].clone()),
        (json!("dns"), json!("retry_scheduled"))
    );
    resolver.set("hooks.acme.test", &[std::net::Ipv4Addr::LOCALHOST.into()]);
    let requests = receiver.wait_for(1, ARRIVAL).await.expect("delivered once the name resolves");
    assert_signed(&requests[0], &secret, &id);
    let attempts = stack.attempts(&key, &subscription, 2).await;
    assert_eq!(attempts[0]["outcome"], "delivered");
    assert!(attempts[1..].iter().all(|a| a["errorKind"] == "dns"), "{attempts:?}");
    stack.stop().await;
}

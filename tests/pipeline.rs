//! The pipeline end to end, through the local stack's HTTP API: moto as AWS, the real
//! authorizer, ingest, fan-out, delivery and subscriptions handlers, and real HTTP receivers on
//! loopback as subscribers.

use std::time::Duration;

use hookline_aws::DynamoStore;
use hookline_core::api_key;
use hookline_core::ids::ApiKeyId;
use hookline_core::model::{ApiKey, KeyOwner, Scope};
use hookline_core::ports::ApiKeyStore;
use hookline_core::signing::{self, WebhookSecret};
use hookline_local::{LocalOptions, RunningStack};
use hookline_testkit::{MotoServer, TestReceiver};
use serde_json::{Value, json};

const SEED_TYPES: [&str; 4] = [
    "client-management.legalentity-created",
    "client-management.legalentity-updated",
    "client-management.legalentity-deleted",
    "client-management.user-assigned-to-legalentity",
];

/// A local stack on free ports, over its own moto.
struct Stack {
    stack: Option<RunningStack>,
    _moto: MotoServer,
    http: reqwest::Client,
}

impl Stack {
    async fn start() -> Self {
        let moto = MotoServer::start().expect("moto");
        let options = LocalOptions {
            port: 0,
            endpoint: Some(moto.endpoint()),
            retry_schedule: "1s,1s".parse().expect("schedule"),
            delivery_timeout: Duration::from_secs(2),
            ..LocalOptions::default()
        };
        let stack = hookline_local::start(options).await.expect("local stack");
        Self { stack: Some(stack), _moto: moto, http: reqwest::Client::new() }
    }

    fn running(&self) -> &RunningStack {
        self.stack.as_ref().expect("running")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running().api_url())
    }

    /// Mints a key the way `hookline keys create` does.
    async fn key(&self, tenant: &str, scopes: &[Scope]) -> String {
        let config = hookline_local::emulator_config(self.running().endpoint()).await;
        let store =
            DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), &self.running().resources().table, Duration::ZERO);
        let minted = api_key::mint();
        let key = ApiKey {
            id: ApiKeyId::generate(),
            owner: tenant.parse::<KeyOwner>().expect("owner"),
            scopes: scopes.to_vec(),
            key_hash: minted.hash,
            created_at: time::OffsetDateTime::now_utc(),
            revoked_at: None,
        };
        store.create(&key).await.expect("store key");
        minted.text
    }

    async fn call(&self, method: reqwest::Method, path: &str, key: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn subscribe(&self, key: &str, url: &str, event_types: &[&str]) -> (String, WebhookSecret) {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/v1/subscriptions",
                Some(key),
                Some(json!({"url": url, "eventTypes": event_types})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let secret = WebhookSecret::parse(body["secret"].as_str().expect("secret on create")).expect("whsec_");
        (body["id"].as_str().expect("id").to_owned(), secret)
    }

    async fn publish(&self, key: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, "/v1/events", Some(key), Some(body)).await
    }

    async fn stop(mut self) {
        if let Some(stack) = self.stack.take() {
            stack.shutdown().await;
        }
    }
}

fn example(event_type: &str, tenant: &str) -> Value {
    let path = format!("{}/../functions/core/catalogue/examples/{event_type}.json", env!("CARGO_MANIFEST_DIR"));
    let mut data: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("example")).expect("json");
    data["tenant"] = json!(tenant);
    data
}

/// Types of the webhooks a receiver got, sorted.
fn received_types(receiver: &TestReceiver) -> Vec<String> {
    let mut types: Vec<String> = receiver
        .requests()
        .iter()
        .map(|r| r.json().expect("json body")["type"].as_str().expect("type").to_owned())
        .collect();
    types.sort();
    types
}

#[tokio::test]
async fn every_seed_event_arrives_signed_and_exactly_as_published() {
    let stack = Stack::start().await;
    let receiver = TestReceiver::start().await.expect("receiver");
    let key = stack.key("acme", &[Scope::Publish, Scope::Manage]).await;
    let (_, secret) = stack.subscribe(&key, &receiver.url(), &["client-management.*"]).await;

    let mut published = Vec::new();
    for event_type in SEED_TYPES {
        let data = example(event_type, "acme");
        let (status, body) = stack.publish(&key, json!({"type": event_type, "data": data})).await;
        assert_eq!(status, 202, "{body}");
        published.push((body["id"].as_str().expect("id").to_owned(), event_type, data));
    }

    let requests = receiver.wait_for(4, Duration::from_secs(30)).await.expect("four webhooks");
    assert_eq!(requests.len(), 4, "one delivery per event");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for (id, event_type, data) in &published {
        let request =
            requests.iter().find(|r| r.header("webhook-id") == Some(id)).expect("delivered with its event id");
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert!(request.header("user-agent").is_some_and(|ua| ua.starts_with("hookline/")));
        signing::verify(
            &secret,
            id,
            request.header("webhook-timestamp").expect("timestamp"),
            request.header("webhook-signature").expect("signature"),
            &request.body,
            now,
            signing::DEFAULT_TOLERANCE,
        )
        .expect("the signature verifies with the subscription's secret");
        let envelope = request.json().expect("json");
        assert_eq!(envelope["type"], *event_type);
        assert_eq!(&envelope["data"], data, "data arrives exactly as published");
        assert!(
            time::OffsetDateTime::parse(
                envelope["timestamp"].as_str().expect("ts"),
                &time::format_description::well_known::Rfc3339
            )
            .is_ok()
        );
    }
    stack.stop().await;
}

#[tokio::test]
async fn fan_out_delivers_only_what_each_filter_matches_and_nothing_to_disabled_subscriptions() {
    let stack = Stack::start().await;
    let key = stack.key("acme", &[Scope::Publish, Scope::Manage]).await;
    let (prefix, exact, disabled) = (
        TestReceiver::start().await.expect("r"),
        TestReceiver::start().await.expect("r"),
        TestReceiver::start().await.expect("r"),
    );
    stack.subscribe(&key, &prefix.url(), &["client-management.legalentity-*"]).await;
    stack.subscribe(&key, &exact.url(), &["client-management.user-assigned-to-legalentity"]).await;
    let (off, _) = stack.subscribe(&key, &disabled.url(), &["*"]).await;
    let (status, body) = stack
        .call(reqwest::Method::PATCH, &format!("/v1/subscriptions/{off}"), Some(&key), Some(json!({"enabled": false})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["enabled"], false);

    let batch: Vec<Value> = SEED_TYPES.iter().map(|t| json!({"type": t, "data": example(t, "acme")})).collect();
    let (status, body) = stack.publish(&key, Value::Array(batch)).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["ids"].as_array().map(Vec::len), Some(4));

    prefix.wait_for(3, Duration::from_secs(30)).await.expect("three legal-entity events");
    exact.wait_for(1, Duration::from_secs(30)).await.expect("one assignment");
    // Give a wrong delivery time to arrive before asserting it did not.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        received_types(&prefix),
        vec![
            "client-management.legalentity-created",
            "client-management.legalentity-deleted",
            "client-management.legalentity-updated"
        ]
    );
    assert_eq!(received_types(&exact), vec!["client-management.user-assigned-to-legalentity"]);
    assert!(disabled.requests().is_empty(), "a disabled subscription receives nothing");
    stack.stop().await;
}

#[tokio::test]
async fn tenants_cannot_reach_each_others_subscriptions_or_publish_for_each_other() {
    let stack = Stack::start().await;
    let acme = stack.key("acme", &[Scope::Publish, Scope::Manage]).await;
    let globex = stack.key("globex", &[Scope::Publish, Scope::Manage]).await;
    let globex_receiver = TestReceiver::start().await.expect("receiver");
    let acme_receiver = TestReceiver::start().await.expect("receiver");
    let (acme_sub, _) = stack.subscribe(&acme, &acme_receiver.url(), &["*"]).await;
    stack.subscribe(&globex, &globex_receiver.url(), &["*"]).await;

    let path = format!("/v1/subscriptions/{acme_sub}");
    for (method, body) in [
        (reqwest::Method::GET, None),
        (reqwest::Method::PATCH, Some(json!({"enabled": false}))),
        (reqwest::Method::DELETE, None),
    ] {
        let (status, answer) = stack.call(method.clone(), &path, Some(&globex), body).await;
        assert_eq!(status, 404, "{method} another tenant's subscription: {answer}");
        assert_eq!(answer["error"]["code"], "not_found");
    }
    let (status, listing) = stack.call(reqwest::Method::GET, "/v1/subscriptions", Some(&globex), None).await;
    assert_eq!(status, 200);
    assert!(listing["items"].as_array().expect("items").iter().all(|s| s["id"] != acme_sub.as_str()));
    let (status, mine) = stack.call(reqwest::Method::GET, &path, Some(&acme), None).await;
    assert_eq!((status, mine["enabled"].clone()), (200, json!(true)), "the owner's subscription is untouched");
    assert!(mine.get("secret").is_none(), "the secret is shown only on create");

    let (status, answer) = stack
        .publish(&acme, json!({"type": "client-management.legalentity-deleted", "data": {"tenant": "globex", "legalEntityId": "le-1"}}))
        .await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["error"]["field"], "data.tenant");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(globex_receiver.requests().is_empty() && acme_receiver.requests().is_empty(), "nothing was delivered");
    stack.stop().await;
}

#[tokio::test]
async fn bad_publish_requests_get_json_errors_and_nothing_is_delivered() {
    let stack = Stack::start().await;
    let key = stack.key("acme", &[Scope::Publish, Scope::Manage]).await;
    let receiver = TestReceiver::start().await.expect("receiver");
    stack.subscribe(&key, &receiver.url(), &["*"]).await;

    let deleted = |data: Value| json!({"type": "client-management.legalentity-deleted", "data": data});
    let raw = |body: &str, content_type: &str, key: Option<&str>| {
        let mut request =
            stack.http.post(stack.url("/v1/events")).header("content-type", content_type).body(body.to_owned());
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request
    };
    let huge =
        deleted(json!({"tenant": "acme", "legalEntityId": "le-1", "legalEntityParentId": "x".repeat(1_100_000)}));
    let many = Value::Array(
        (0..101).map(|i| deleted(json!({"tenant": "acme", "legalEntityId": format!("le-{i}")}))).collect(),
    );
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, Option<&str>)> = vec![
        ("malformed JSON", raw("{\"type\": ", "application/json", Some(&key)), 400, None),
        (
            "unknown type",
            raw(
                &json!({"type": "client-management.nope", "data": {"tenant": "acme"}}).to_string(),
                "application/json",
                Some(&key),
            ),
            422,
            Some("type"),
        ),
        (
            "wrong field type",
            raw(&deleted(json!({"tenant": "acme", "legalEntityId": 7})).to_string(), "application/json", Some(&key)),
            422,
            Some("data.legalEntityId"),
        ),
        (
            "missing tenant",
            raw(&deleted(json!({"legalEntityId": "le-1"})).to_string(), "application/json", Some(&key)),
            422,
            Some("data.tenant"),
        ),
        ("oversize body", raw(&huge.to_string(), "application/json", Some(&key)), 413, None),
        ("array over 100", raw(&many.to_string(), "application/json", Some(&key)), 413, None),
        ("not JSON", raw("tenant=acme", "text/plain", Some(&key)), 415, None),
        (
            "no key",
            raw(&deleted(json!({"tenant": "acme", "legalEntityId": "le-1"})).to_string(), "application/json", None),
            401,
            None,
        ),
        (
            "unknown key",
            raw(
                &deleted(json!({"tenant": "acme", "legalEntityId": "le-1"})).to_string(),
                "application/json",
                Some("hk_not-a-key"),
            ),
            401,
            None,
        ),
    ];
    let count = cases.len();
    for (name, request, status, field) in cases {
        let response = request.send().await.expect("answer");
        assert_eq!(response.status().as_u16(), status, "{name}");
        let body: Value = response.json().await.unwrap_or_else(|e| panic!("{name}: the error is JSON: {e}"));
        assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{name}: {body}");
        if let Some(field) = field {
            assert_eq!(body["error"]["field"], field, "{name}: {body}");
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(receiver.requests().is_empty(), "none of the {count} bad requests delivered anything");
    stack.stop().await;
}

#[tokio::test]
async fn a_failed_delivery_is_retried_with_the_same_id_and_every_attempt_is_in_the_log() {
    let stack = Stack::start().await;
    let key = stack.key("acme", &[Scope::Publish, Scope::Manage]).await;
    let receiver = TestReceiver::start().await.expect("receiver");
    receiver.script([hookline_testkit::Reply::status(500).with_body("upstream down")]);
    let (subscription, secret) = stack.subscribe(&key, &receiver.url(), &["*"]).await;

    let data = example("client-management.legalentity-deleted", "acme");
    let (status, body) =
        stack.publish(&key, json!({"type": "client-management.legalentity-deleted", "data": data})).await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();

    // Schedule "1s,1s": the second attempt comes about a second after the first fails.
    let requests = receiver.wait_for(2, Duration::from_secs(30)).await.expect("a retry");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for request in &requests {
        assert_eq!(request.header("webhook-id"), Some(id.as_str()), "the same id on every attempt");
        let (timestamp, signature) = (request.header("webhook-timestamp"), request.header("webhook-signature"));
        signing::verify(
            &secret,
            &id,
            timestamp.expect("ts"),
            signature.expect("sig"),
            &request.body,
            now,
            signing::DEFAULT_TOLERANCE,
        )
        .expect("each attempt is signed afresh");
    }

    let path = format!("/v1/subscriptions/{subscription}/attempts");
    let attempts = hookline_testkit::eventually(Duration::from_secs(10), "two logged attempts", || async {
        let (status, page) = stack.call(reqwest::Method::GET, &path, Some(&key), None).await;
        (status == 200 && page["items"].as_array().is_some_and(|items| items.len() == 2)).then_some(page)
    })
    .await
    .expect("the attempt log");
    let items = attempts["items"].as_array().expect("items");
    assert_eq!(
        (items[0]["attempt"].clone(), items[0]["outcome"].clone()),
        (json!(2), json!("delivered")),
        "newest first"
    );
    assert_eq!(items[0]["status"], 200);
    assert_eq!(items[1]["attempt"], 1);
    assert_eq!(items[1]["outcome"], "retry_scheduled");
    assert_eq!(items[1]["status"], 500);
    assert_eq!(items[1]["responseExcerpt"], "upstream down");
    assert_eq!(items[1]["eventId"], id.as_str());
    assert_eq!(requests.len(), 2, "nothing after the success");
    stack.stop().await;
}

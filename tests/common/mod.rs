//! What every end-to-end suite shares: a local stack over its own moto, keys minted the way
//! `hookline keys create` mints them, raw requests and JSON answers, webhook checks, and the
//! evidence that a refused request left nothing behind (queue depths, the table's items).
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use hookline_aws::DynamoStore;
use hookline_core::api_key;
use hookline_core::ids::ApiKeyId;
use hookline_core::model::{ApiKey, KeyOwner, Scope};
use hookline_core::ports::ApiKeyStore;
use hookline_core::signing::{self, WebhookSecret};
use hookline_local::{LocalOptions, RunningStack};
use hookline_testkit::{MotoServer, Recorded};
use reqwest::Method;
use serde_json::{Value, json};

pub const BOTH: &[Scope] = &[Scope::Publish, Scope::Manage];

pub const SEED_TYPES: [&str; 4] = [
    "client-management.legalentity-created",
    "client-management.legalentity-updated",
    "client-management.legalentity-deleted",
    "client-management.user-assigned-to-legalentity",
];

/// How long to wait for a delivery that must not happen, once the pipeline is known to run.
pub const SILENCE: Duration = Duration::from_secs(2);

/// How long a webhook or an attempt-log entry may take to appear (moto is slow).
pub const ARRIVAL: Duration = Duration::from_secs(30);

/// A local stack on free ports, over its own moto.
pub struct Stack {
    stack: Option<RunningStack>,
    pub moto: MotoServer,
    pub http: reqwest::Client,
    pub dynamo: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    keys: DynamoStore,
}

/// An answer: status, content type, and the body as JSON (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Value,
}

impl Stack {
    /// A stack with `options` over a fresh moto; port, endpoint and quiet are set here.
    pub async fn start(options: LocalOptions) -> Self {
        let moto = MotoServer::start().expect("moto (run `make tools` or set HOOKLINE_MOTO_SERVER)");
        let options = LocalOptions { port: 0, endpoint: Some(moto.endpoint()), quiet: true, ..options };
        let stack = hookline_local::start(options).await.expect("local stack");
        let config = hookline_local::emulator_config(stack.endpoint()).await;
        let dynamo = aws_sdk_dynamodb::Client::new(&config);
        let keys = DynamoStore::new(dynamo.clone(), &stack.resources().table, Duration::ZERO);
        Self {
            stack: Some(stack),
            moto,
            http: reqwest::Client::new(),
            dynamo,
            sqs: aws_sdk_sqs::Client::new(&config),
            keys,
        }
    }

    /// A stack with [`test_options`] changed by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut LocalOptions)) -> Self {
        let mut options = test_options();
        adjust(&mut options);
        Self::start(options).await
    }

    /// The stack's table, through the real adapter.
    pub async fn store(&self) -> DynamoStore {
        self.keys.clone()
    }

    pub fn running(&self) -> &RunningStack {
        self.stack.as_ref().expect("running")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running().api_url())
    }

    /// Mints a key and stores its hash, as `hookline keys create` does; `*` is a platform key.
    pub async fn key_with_id(&self, owner: &str, scopes: &[Scope]) -> (String, ApiKeyId) {
        let minted = api_key::mint();
        let key = ApiKey {
            id: ApiKeyId::generate(),
            owner: owner.parse::<KeyOwner>().expect("owner"),
            scopes: scopes.to_vec(),
            key_hash: minted.hash,
            created_at: time::OffsetDateTime::now_utc(),
            revoked_at: None,
        };
        self.keys.create(&key).await.expect("store key");
        (minted.text, key.id)
    }

    pub async fn key(&self, owner: &str, scopes: &[Scope]) -> String {
        self.key_with_id(owner, scopes).await.0
    }

    /// Revokes a key, as `hookline keys revoke` does.
    pub async fn revoke(&self, id: &ApiKeyId) {
        assert!(self.keys.revoke(id, time::OffsetDateTime::now_utc()).await.expect("revoke"), "the key exists");
    }

    /// A request with a JSON body (or none) and a key (or none).
    pub fn request(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, self.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = response.bytes().await.expect("body");
        Answer { status, content_type, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
    }

    pub async fn call(&self, method: Method, path: &str, key: Option<&str>, body: Option<Value>) -> Answer {
        self.send(self.request(method, path, key, body.as_ref())).await
    }

    /// Creates a subscription that must be accepted; its id and creation answer.
    pub async fn subscribe(&self, key: &str, url: &str) -> (String, Value) {
        let body = json!({"url": url, "eventTypes": ["*"]});
        let answer = self.call(Method::POST, "/v1/subscriptions", Some(key), Some(body)).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        (answer.body["id"].as_str().expect("id").to_owned(), answer.body)
    }

    /// Creates a subscription to `event_types`; its id and the secret shown at create.
    pub async fn subscribe_to(&self, key: &str, url: &str, event_types: &[&str]) -> (String, WebhookSecret) {
        let body = json!({"url": url, "eventTypes": event_types, "description": "e2e test"});
        let answer = self.call(Method::POST, "/v1/subscriptions", Some(key), Some(body)).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        let id = answer.body["id"].as_str().expect("id");
        assert!(id.starts_with("sub_"), "{id}");
        let secret = WebhookSecret::parse(answer.body["secret"].as_str().expect("secret on create")).expect("whsec_");
        (id.to_owned(), secret)
    }

    /// Publishes one event (or an array); the status and answer.
    pub async fn publish(&self, key: &str, body: Value) -> (u16, Value) {
        let answer = self.call(Method::POST, "/v1/events", Some(key), Some(body)).await;
        (answer.status, answer.body)
    }

    /// Publishes one event that must be accepted; its id.
    pub async fn publish_ok(&self, key: &str, event_type: &str, data: Value) -> String {
        let (status, body) = self.publish(key, json!({"type": event_type, "data": data})).await;
        assert_eq!(status, 202, "{body}");
        body["id"].as_str().expect("id").to_owned()
    }

    /// Waits until the subscription's attempt log holds `count` attempts; them, newest first.
    pub async fn attempts(&self, key: &str, subscription: &str, count: usize) -> Vec<Value> {
        let path = format!("/v1/subscriptions/{subscription}/attempts?limit=100");
        let what = format!("{count} logged attempts of {subscription}");
        let page = hookline_testkit::eventually(ARRIVAL, &what, || async {
            let answer = self.call(Method::GET, &path, Some(key), None).await;
            (answer.status == 200 && answer.body["items"].as_array().is_some_and(|items| items.len() >= count))
                .then_some(answer.body)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        page["items"].as_array().expect("items").clone()
    }

    /// Every item of the table, by (pk, sk), with its attributes.
    pub async fn items(&self) -> BTreeMap<(String, String), std::collections::HashMap<String, AttributeValue>> {
        let mut items = BTreeMap::new();
        let mut start = None;
        loop {
            let page = self
                .dynamo
                .scan()
                .table_name(&self.running().resources().table)
                .set_exclusive_start_key(start)
                .consistent_read(true)
                .send()
                .await
                .expect("scan");
            for item in page.items() {
                let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                items.insert((text("pk"), text("sk")), item.clone());
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return items;
            }
        }
    }

    /// The (pk, sk) of every item of the table.
    pub async fn item_keys(&self) -> BTreeSet<(String, String)> {
        self.items().await.into_keys().collect()
    }

    /// Messages on a queue: visible, in flight and delayed.
    pub async fn depth(&self, queue_url: &str) -> u64 {
        hookline_local::queue_depth(&self.sqs, queue_url).await.expect("queue attributes").total()
    }

    /// Messages on every queue of the stack, by queue.
    pub async fn depths(&self) -> BTreeMap<&'static str, u64> {
        let resources = self.running().resources();
        let mut depths = BTreeMap::new();
        for (name, url) in [
            ("events", &resources.events_queue_url),
            ("events-dlq", &resources.events_dlq_url),
            ("deliveries", &resources.deliveries_queue_url),
            ("deliveries-dlq", &resources.deliveries_dlq_url),
        ] {
            depths.insert(name, self.depth(url).await);
        }
        depths
    }

    pub async fn stop(mut self) {
        if let Some(stack) = self.stack.take() {
            stack.shutdown().await;
        }
    }
}

/// The catalogue's example payload for a type (tenant `acme`).
pub fn example(event_type: &str) -> Value {
    let path = format!("{}/../functions/core/catalogue/examples/{event_type}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("example")).expect("json")
}

/// The options suites start from: schedule `1s,1s`, a 2 s delivery timeout, loopback targets.
pub fn test_options() -> LocalOptions {
    LocalOptions {
        retry_schedule: "1s,1s".parse().expect("schedule"),
        delivery_timeout: Duration::from_secs(2),
        allow_private_targets: true,
        ..LocalOptions::default()
    }
}

/// The example for another tenant.
pub fn example_for(event_type: &str, tenant: &str) -> Value {
    let mut data = example(event_type);
    data["tenant"] = json!(tenant);
    data
}

/// The `data` of a deletion of `legal_entity` for `tenant`.
pub fn deleted_data(tenant: &str, legal_entity: &str) -> Value {
    json!({"tenant": tenant, "legalEntityId": legal_entity})
}

/// The `webhook-id`s a receiver got.
pub fn ids(requests: &[Recorded]) -> BTreeSet<String> {
    requests.iter().map(|r| r.header("webhook-id").expect("webhook-id").to_owned()).collect()
}

/// Asserts the delivery is signed with `secret` for `id`, now.
pub fn assert_signed(request: &Recorded, secret: &WebhookSecret, id: &str) {
    assert_eq!(request.header("webhook-id"), Some(id));
    signing::verify(
        secret,
        id,
        request.header("webhook-timestamp").expect("webhook-timestamp"),
        request.header("webhook-signature").expect("webhook-signature"),
        &request.body,
        time::OffsetDateTime::now_utc().unix_timestamp(),
        signing::DEFAULT_TOLERANCE,
    )
    .unwrap_or_else(|e| panic!("the signature of {id} verifies with the subscription's secret: {e:?}"));
}

/// A valid deletion event of `tenant`.
pub fn deleted(tenant: &str, legal_entity: &str) -> Value {
    json!({"type": "client-management.legalentity-deleted", "data": {"tenant": tenant, "legalEntityId": legal_entity}})
}

//! What every end-to-end test leans on: a local stack over its own moto on free ports, API
//! calls with keys minted the way `hookline keys create` mints them, and payload helpers.
#![allow(dead_code)] // each test crate uses its own part of this module

use std::collections::BTreeSet;
use std::time::Duration;

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

pub const SEED_TYPES: [&str; 4] = [
    "client-management.legalentity-created",
    "client-management.legalentity-updated",
    "client-management.legalentity-deleted",
    "client-management.user-assigned-to-legalentity",
];

/// How long a webhook may take to arrive (moto is slow, the machine may be busy).
pub const ARRIVAL: Duration = Duration::from_secs(30);

/// How long to wait for a delivery that must not happen, once the pipeline is known to run.
pub const SILENCE: Duration = Duration::from_secs(2);

pub const BOTH: &[Scope] = &[Scope::Publish, Scope::Manage];

/// A local stack on free ports, over its own moto.
pub struct Stack {
    pub stack: Option<RunningStack>,
    pub moto: MotoServer,
    pub http: reqwest::Client,
}

/// The options every test starts from: free ports, schedule `1s,1s`, 2 s delivery timeout.
pub fn test_options(moto: &MotoServer) -> LocalOptions {
    LocalOptions {
        port: 0,
        endpoint: Some(moto.endpoint()),
        retry_schedule: "1s,1s".parse().expect("schedule"),
        delivery_timeout: Duration::from_secs(2),
        allow_private_targets: true,
        quiet: true,
        ..LocalOptions::default()
    }
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts with [`test_options`] changed by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut LocalOptions)) -> Self {
        let moto = MotoServer::start().expect("moto (run `make tools` or set HOOKLINE_MOTO_SERVER)");
        let mut options = test_options(&moto);
        adjust(&mut options);
        let stack = hookline_local::start(options).await.expect("local stack");
        Self { stack: Some(stack), moto, http: reqwest::Client::new() }
    }

    pub fn running(&self) -> &RunningStack {
        self.stack.as_ref().expect("running")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running().api_url())
    }

    /// The stack's table, through the real adapter.
    pub async fn store(&self) -> DynamoStore {
        let config = hookline_local::emulator_config(self.running().endpoint()).await;
        DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), &self.running().resources().table, Duration::ZERO)
    }

    /// An SQS client on the stack's moto.
    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&hookline_local::emulator_config(self.running().endpoint()).await)
    }

    /// Waits until the subscription's attempt log holds `count` attempts; them, newest first.
    pub async fn attempts(&self, key: &str, subscription: &str, count: usize) -> Vec<Value> {
        let path = format!("/v1/subscriptions/{subscription}/attempts?limit=100");
        let what = format!("{count} logged attempts of {subscription}");
        let page = hookline_testkit::eventually(ARRIVAL, &what, || async {
            let (status, page) = self.call(Method::GET, &path, Some(key), None).await;
            (status == 200 && page["items"].as_array().is_some_and(|items| items.len() >= count)).then_some(page)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        page["items"].as_array().expect("items").clone()
    }

    /// Mints a key and stores its hash, as `hookline keys create` does; `*` is a platform key.
    pub async fn key(&self, owner: &str, scopes: &[Scope]) -> String {
        let store = self.store().await;
        let minted = api_key::mint();
        let key = ApiKey {
            id: ApiKeyId::generate(),
            owner: owner.parse::<KeyOwner>().expect("owner"),
            scopes: scopes.to_vec(),
            key_hash: minted.hash,
            created_at: time::OffsetDateTime::now_utc(),
            revoked_at: None,
        };
        store.create(&key).await.expect("store key");
        minted.text
    }

    /// Calls the API with a JSON body; the answer's status and JSON body (`Null` if none).
    pub async fn call(&self, method: Method, path: &str, key: Option<&str>, body: Option<Value>) -> (u16, Value) {
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

    /// Creates a subscription; its id and the secret shown at create.
    pub async fn subscribe(&self, key: &str, url: &str, event_types: &[&str]) -> (String, WebhookSecret) {
        let body = json!({"url": url, "eventTypes": event_types, "description": "pipeline test"});
        let (status, body) = self.call(Method::POST, "/v1/subscriptions", Some(key), Some(body)).await;
        assert_eq!(status, 201, "{body}");
        let id = body["id"].as_str().expect("id");
        assert!(id.starts_with("sub_"), "{id}");
        let secret = WebhookSecret::parse(body["secret"].as_str().expect("secret on create")).expect("whsec_");
        (id.to_owned(), secret)
    }

    /// Publishes one event (or an array) and returns the status and answer.
    pub async fn publish(&self, key: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, "/v1/events", Some(key), Some(body)).await
    }

    /// Publishes one event that must be accepted; its id.
    pub async fn publish_ok(&self, key: &str, event_type: &str, data: Value) -> String {
        let (status, body) = self.publish(key, json!({"type": event_type, "data": data})).await;
        assert_eq!(status, 202, "{body}");
        body["id"].as_str().expect("id").to_owned()
    }

    pub async fn stop(mut self) {
        if let Some(stack) = self.stack.take() {
            stack.shutdown().await;
        }
    }
}

/// The catalogue's full example payload for a type, exactly as the file has it (tenant `acme`).
pub fn example(event_type: &str) -> Value {
    let path = format!("{}/../functions/core/catalogue/examples/{event_type}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("example")).expect("json")
}

/// The example for another tenant.
pub fn example_for(event_type: &str, tenant: &str) -> Value {
    let mut data = example(event_type);
    data["tenant"] = json!(tenant);
    data
}

pub fn deleted(tenant: &str, legal_entity: &str) -> Value {
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

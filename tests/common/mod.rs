//! What the security suites share: a local stack over its own moto, keys, raw requests, and
//! the evidence that a refused request left nothing behind (queue depths, the table's items).
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use hookline_aws::DynamoStore;
use hookline_core::api_key;
use hookline_core::ids::ApiKeyId;
use hookline_core::model::{ApiKey, KeyOwner, Scope};
use hookline_core::ports::ApiKeyStore;
use hookline_local::{LocalOptions, RunningStack};
use hookline_testkit::MotoServer;
use reqwest::Method;
use serde_json::{Value, json};

pub const BOTH: &[Scope] = &[Scope::Publish, Scope::Manage];

/// How long a webhook or an attempt-log entry may take to appear (moto is slow).
pub const ARRIVAL: Duration = Duration::from_secs(30);

/// A local stack on free ports, over its own moto.
pub struct Stack {
    stack: Option<RunningStack>,
    _moto: MotoServer,
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
            _moto: moto,
            http: reqwest::Client::new(),
            dynamo,
            sqs: aws_sdk_sqs::Client::new(&config),
            keys,
        }
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
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .expect("queue attributes");
        attributes.attributes().into_iter().flatten().map(|(_, value)| value.parse::<u64>().unwrap_or(0)).sum()
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

/// A valid deletion event of `tenant`.
pub fn deleted(tenant: &str, legal_entity: &str) -> Value {
    json!({"type": "client-management.legalentity-deleted", "data": {"tenant": tenant, "legalEntityId": legal_entity}})
}

//! Requests shaped like API Gateway REST proxy events, and a handler over the memory doubles.

use hookline_core::memory::{MemoryAttemptLog, MemoryDeliveryQueue, MemoryEventLog, MemorySubscriptionStore};
use hookline_core::ports::{AttemptLog, DeliveryQueue, EventLog, SubscriptionStore};
use hookline_subscriptions::{Subscriptions, SubscriptionsConfig};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

pub type Handler = Subscriptions<MemorySubscriptionStore, MemoryAttemptLog, MemoryEventLog, MemoryDeliveryQueue>;

pub const COLLECTION: &str = "/v1/subscriptions";
pub const ITEM: &str = "/v1/subscriptions/{id}";
pub const ATTEMPTS: &str = "/v1/subscriptions/{id}/attempts";
pub const ROTATE: &str = "/v1/subscriptions/{id}/rotate-secret";
pub const REPLAY: &str = "/v1/subscriptions/{id}/replay";

pub fn handler() -> Handler {
    with_config(SubscriptionsConfig::default())
}

pub fn local_handler() -> Handler {
    with_config(SubscriptionsConfig { allow_private_targets: true, ..SubscriptionsConfig::default() })
}

fn with_config(config: SubscriptionsConfig) -> Handler {
    Subscriptions::new(
        MemorySubscriptionStore::default(),
        MemoryAttemptLog::default(),
        MemoryEventLog::default(),
        MemoryDeliveryQueue::default(),
        config,
    )
}

/// Who calls: the authorizer context API Gateway passes on.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    pub tenant: &'static str,
    pub scopes: &'static str,
}

pub const ACME: Key = Key { tenant: "acme", scopes: "manage" };
pub const GLOBEX: Key = Key { tenant: "globex", scopes: "publish,manage" };
pub const PUBLISHER: Key = Key { tenant: "acme", scopes: "publish" };
pub const PLATFORM: Key = Key { tenant: "*", scopes: "publish,manage" };

/// One API call, built up and then sent through the handler.
#[derive(Debug, Clone)]
pub struct Call {
    method: &'static str,
    resource: &'static str,
    id: Option<String>,
    query: Vec<(&'static str, String)>,
    body: Option<String>,
    key: Option<Key>,
}

pub fn call(method: &'static str, resource: &'static str) -> Call {
    Call { method, resource, id: None, query: Vec::new(), body: None, key: Some(ACME) }
}

impl Call {
    pub fn id(mut self, id: &str) -> Self {
        self.id = Some(id.to_owned());
        self
    }

    pub fn query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body.to_string());
        self
    }

    pub fn raw_body(mut self, body: &str) -> Self {
        self.body = Some(body.to_owned());
        self
    }

    pub fn key(mut self, key: Key) -> Self {
        self.key = Some(key);
        self
    }

    pub fn anonymous(mut self) -> Self {
        self.key = None;
        self
    }

    pub fn request(&self) -> Request {
        let path = match &self.id {
            Some(id) => self.resource.replace("{id}", id),
            None => self.resource.to_owned(),
        };
        let (query, multi_query) = if self.query.is_empty() {
            (Value::Null, Value::Null)
        } else {
            let single = self.query.iter().map(|(name, value)| ((*name).to_owned(), json!(value)));
            let multi = self.query.iter().map(|(name, value)| ((*name).to_owned(), json!([value])));
            (Value::Object(single.collect()), Value::Object(multi.collect()))
        };
        let authorizer = match self.key {
            Some(key) => json!({
                "principalId": "key_01JF0000000000000000000000",
                "tenant": key.tenant,
                "scopes": key.scopes,
                "keyId": "key_01JF0000000000000000000000",
                "integrationLatency": 12
            }),
            None => Value::Null,
        };
        let event = json!({
            "resource": self.resource,
            "path": format!("/prod{path}"),
            "httpMethod": self.method,
            "headers": {"content-type": "application/json", "Host": "abc123.execute-api.us-east-1.amazonaws.com"},
            "multiValueHeaders": {
                "content-type": ["application/json"],
                "Host": ["abc123.execute-api.us-east-1.amazonaws.com"]
            },
            "queryStringParameters": query,
            "multiValueQueryStringParameters": multi_query,
            "pathParameters": self.id.as_ref().map(|id| json!({"id": id})),
            "stageVariables": null,
            "requestContext": {
                "resourcePath": self.resource,
                "httpMethod": self.method,
                "path": format!("/prod{path}"),
                "stage": "prod",
                "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                "accountId": "123456789012",
                "apiId": "abc123",
                "identity": {"sourceIp": "203.0.113.9"},
                "authorizer": authorizer
            },
            "body": self.body,
            "isBase64Encoded": false
        });
        lambda_http::request::from_str(&event.to_string()).expect("a REST proxy event")
    }

    pub async fn send<S: SubscriptionStore, A: AttemptLog, E: EventLog, D: DeliveryQueue>(
        &self,
        handler: &Subscriptions<S, A, E, D>,
    ) -> Answer {
        Answer::from(handler.handle(self.request()).await)
    }
}

/// A response, read back.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub raw: Vec<u8>,
}

impl From<Response<Body>> for Answer {
    fn from(response: Response<Body>) -> Self {
        let raw = response.body().to_vec();
        let body = if raw.is_empty() { Value::Null } else { serde_json::from_slice(&raw).expect("a JSON body") };
        Self { status: response.status().as_u16(), body, raw }
    }
}

impl Answer {
    /// The `field` of an error answer.
    pub fn field(&self) -> Option<&str> {
        self.body["error"]["field"].as_str()
    }

    pub fn code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }

    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }
}

pub const CREATED: &str = "client-management.legalentity-created";

/// A valid create body with a public IP-literal target (no DNS needed).
pub fn new_subscription(path: &str) -> Value {
    json!({"url": format!("https://93.184.216.34/{path}"), "eventTypes": [CREATED]})
}

/// Creates a subscription as `key` and returns its JSON.
pub async fn create(handler: &Handler, key: Key, body: Value) -> Value {
    let answer = call("POST", COLLECTION).key(key).json(body).send(handler).await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    answer.body
}

pub fn id_of(subscription: &Value) -> String {
    subscription["id"].as_str().expect("an id").to_owned()
}

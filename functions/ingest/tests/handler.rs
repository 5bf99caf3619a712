//! The ingest handler with in-memory queue and log: what a producer sees, and what is (or is
//! not) written behind it.

use hookline_core::memory::{MemoryEventLog, MemoryEventQueue, MemoryIdempotencyStore};
use hookline_core::model::Event;
use hookline_ingest::{Ingest, IngestConfig};
use lambda_http::{Body, Response};
use serde_json::{Value, json};

type Handler = Ingest<MemoryEventQueue, MemoryEventLog, MemoryIdempotencyStore>;

fn handler() -> Handler {
    Ingest::new(
        MemoryEventQueue::default(),
        MemoryEventLog::default(),
        MemoryIdempotencyStore::default(),
        IngestConfig::default(),
    )
}

/// An API Gateway REST proxy event, as API Gateway sends it after the authorizer ran.
fn request(method: &str, resource: &str, tenant: &str, scopes: &str, body: Option<&str>) -> lambda_http::Request {
    let event = json!({
        "resource": resource,
        // The raw path carries the stage on AWS; routing must not depend on it.
        "path": format!("/prod{resource}"),
        "httpMethod": method,
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": {"content-type": ["application/json"]},
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "stage": "prod",
            "requestId": "req-1",
            "accountId": "123456789012",
            "apiId": "abc123",
            "identity": {"sourceIp": "203.0.113.9"},
            "authorizer": {"principalId": "key_1", "tenant": tenant, "scopes": scopes, "keyId": "key_01JEXAMPLE"}
        },
        "body": body,
        "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event")
}

fn publish(handler: &Handler, tenant: &str, body: &Value) -> (u16, Value) {
    let request = request("POST", "/v1/events", tenant, "publish", Some(&body.to_string()));
    answer(block_on(handler.handle(request)))
}

fn answer(response: Response<Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    (status, body)
}

/// Runs a future to completion on a fresh current-thread runtime.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(future)
}

fn example(event_type: &str) -> Value {
    let path = format!("{}/../core/catalogue/examples/{event_type}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("example payload")).expect("json")
}

fn deleted(tenant: &str, id: &str) -> Value {
    json!({"type": "client-management.legalentity-deleted", "data": {"tenant": tenant, "legalEntityId": id, "legalEntityParentId": "le-root"}})
}

fn nothing_written(handler: &Handler) -> bool {
    handler_queue(handler).is_empty() && handler.log().all().is_empty()
}

fn handler_queue(handler: &Handler) -> Vec<Event> {
    handler.queue().enqueued()
}

#[test]
fn every_seed_event_type_is_accepted_with_its_full_example_and_enqueued_as_published() {
    let handler = handler();
    for event_type in [
        "client-management.legalentity-created",
        "client-management.legalentity-updated",
        "client-management.legalentity-deleted",
        "client-management.user-assigned-to-legalentity",
    ] {
        let mut data = example(event_type);
        data["tenant"] = json!("acme");
        let (status, body) = publish(&handler, "acme", &json!({"type": event_type, "data": data}));
        assert_eq!(status, 202, "{event_type}: {body}");
        let id = body["id"].as_str().expect("an id");
        assert!(id.starts_with("evt_"));
        let queued = handler_queue(&handler);
        let event = queued.iter().find(|e| e.id.as_str() == id).expect("enqueued");
        assert_eq!(event.data, data, "data travels unchanged");
        assert_eq!(event.event_type, event_type);
        assert_eq!(event.tenant.as_str(), "acme");
    }
    assert_eq!(handler_queue(&handler).len(), 4);
}

#[test]
fn a_batch_is_accepted_whole_with_ids_in_order() {
    let handler = handler();
    let batch = json!([deleted("acme", "le-1"), deleted("acme", "le-2"), deleted("acme", "le-3")]);
    let (status, body) = publish(&handler, "acme", &batch);
    assert_eq!(status, 202, "{body}");
    let ids: Vec<&str> = body["ids"].as_array().expect("ids").iter().map(|v| v.as_str().expect("id")).collect();
    let queued: Vec<String> = handler_queue(&handler).iter().map(|e| e.id.to_string()).collect();
    assert_eq!(ids, queued);
    let queued = handler_queue(&handler);
    let entities: Vec<&str> = queued.iter().map(|e| e.data["legalEntityId"].as_str().unwrap_or("")).collect();
    assert_eq!(entities, vec!["le-1", "le-2", "le-3"]);
}

#[test]
fn one_bad_event_rejects_the_whole_batch_naming_its_field() {
    let handler = handler();
    let mut bad = deleted("acme", "le-2");
    bad["data"]["legalEntityId"] = json!(42);
    let (status, body) = publish(&handler, "acme", &json!([deleted("acme", "le-1"), bad]));
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "[1].data.legalEntityId");
    assert!(nothing_written(&handler));
}

#[test]
fn bad_events_get_a_json_error_naming_the_field() {
    let handler = handler();
    let cases = [
        (json!({"type": "client-management.legalentity-exploded", "data": {"tenant": "acme"}}), 422, "type"),
        (json!({"type": 7, "data": {}}), 422, "type"),
        (json!({"data": {"tenant": "acme"}}), 422, "type"),
        (json!({"type": "client-management.legalentity-deleted"}), 422, "data"),
        (
            json!({"type": "client-management.legalentity-deleted", "data": {"legalEntityId": "le-1"}}),
            422,
            "data.tenant",
        ),
        (
            json!({"type": "client-management.legalentity-deleted", "data": {"tenant": "acme", "legalEntityId": "le-1"}, "extra": 1}),
            400,
            "extra",
        ),
        (
            json!({"type": "client-management.legalentity-deleted", "data": {"tenant": "a b", "legalEntityId": "le-1"}}),
            422,
            "data.tenant",
        ),
        (json!("just a string"), 400, "$"),
    ];
    for (body, status, field) in cases {
        let (got, answer) = publish(&handler, "acme", &body);
        assert_eq!(got, status, "{body} → {answer}");
        assert_eq!(answer["error"]["field"], field, "{body} → {answer}");
        assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (_, unknown) = publish(&handler, "acme", &json!({"type": "nope", "data": {"tenant": "acme"}}));
    assert!(
        unknown["error"]["message"].as_str().expect("message").contains("client-management.legalentity-created"),
        "lists the known types"
    );
    assert!(nothing_written(&handler));
}

#[test]
fn batch_size_limits_are_enforced() {
    let handler = handler();
    let (status, _) = publish(&handler, "acme", &json!([]));
    assert_eq!(status, 400);
    let many: Vec<Value> = (0..101).map(|i| deleted("acme", &format!("le-{i}"))).collect();
    let (status, body) = publish(&handler, "acme", &Value::Array(many));
    assert_eq!(status, 413, "{body}");
    let mut huge = deleted("acme", "le-1");
    huge["data"]["legalEntityParentId"] = json!("x".repeat(300 * 1024));
    let (status, body) = publish(&handler, "acme", &huge);
    assert!(status == 413 || status == 422, "{status} {body}");
    assert!(nothing_written(&handler));
}

#[test]
fn a_tenant_key_publishes_only_for_its_tenant_and_a_platform_key_for_any() {
    let handler = handler();
    let (status, body) = publish(&handler, "acme", &deleted("globex", "le-1"));
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["field"], "data.tenant");
    assert!(nothing_written(&handler));
    let (status, body) = publish(&handler, "*", &deleted("globex", "le-1"));
    assert_eq!(status, 202, "{body}");
}

#[test]
fn the_publish_scope_is_required() {
    let handler = handler();
    let request = request("POST", "/v1/events", "acme", "manage", Some(&deleted("acme", "le-1").to_string()));
    let (status, body) = answer(block_on(handler.handle(request)));
    assert_eq!(status, 403, "{body}");
    assert!(nothing_written(&handler));
}

#[test]
fn nothing_is_acknowledged_when_the_queue_or_the_log_is_down() {
    let handler = handler();
    handler.queue().outage.set(true);
    let (status, body) = publish(&handler, "acme", &deleted("acme", "le-1"));
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");

    let handler = self::handler();
    handler.log().outage.set(true);
    let (status, _) = publish(&handler, "acme", &deleted("acme", "le-1"));
    assert_eq!(status, 503);
    assert!(nothing_written(&handler), "an event that could not be logged is not enqueued");
}

#[test]
fn the_catalogue_is_served_with_each_schema() {
    let handler = handler();
    let (status, body) = answer(block_on(handler.handle(request("GET", "/v1/event-types", "acme", "manage", None))));
    assert_eq!(status, 200);
    let names: Vec<&str> =
        body["items"].as_array().expect("items").iter().map(|t| t["name"].as_str().expect("name")).collect();
    assert_eq!(names.len(), 4);
    assert!(names.contains(&"client-management.user-assigned-to-legalentity"));
    let created = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|t| t["name"] == "client-management.legalentity-created")
        .expect("created");
    assert!(created["schema"]["properties"]["CustomerGroupId"].is_object());
}

#[test]
fn unknown_routes_and_methods_are_refused() {
    let handler = handler();
    let (status, _) = answer(block_on(handler.handle(request("DELETE", "/v1/events", "acme", "publish", None))));
    assert_eq!(status, 405);
    let (status, _) = answer(block_on(handler.handle(request("GET", "/v1/nope", "acme", "publish", None))));
    assert_eq!(status, 404);
}

#[test]
fn the_sam_fixture_publishes() {
    let handler = handler();
    let text = std::fs::read_to_string(format!("{}/../../events/ingest/publish.json", env!("CARGO_MANIFEST_DIR")))
        .expect("fixture");
    let request = lambda_http::request::from_str(&text).expect("fixture is an API Gateway event");
    let (status, body) = answer(block_on(handler.handle(request)));
    assert_eq!(status, 202, "{body}");
}

/// A publish with an `Idempotency-Key`; the status, the body and whether it was a stored answer.
fn publish_with_key(handler: &Handler, tenant: &str, key: &str, body: &str) -> (u16, Value, bool) {
    let mut request = request("POST", "/v1/events", tenant, "publish", Some(body));
    request.headers_mut().insert("idempotency-key", key.parse().expect("header value"));
    let response = block_on(handler.handle(request));
    let replayed = response.headers().get("idempotent-replayed").is_some_and(|v| v == "true");
    let (status, body) = answer(response);
    (status, body, replayed)
}

#[test]
fn the_same_key_and_body_answer_the_first_answer_and_create_nothing_more() {
    let handler = handler();
    let body = deleted("acme", "le-1").to_string();
    let (status, first, replayed) = publish_with_key(&handler, "acme", "order-4711", &body);
    assert_eq!((status, replayed), (202, false), "{first}");
    let (status, again, replayed) = publish_with_key(&handler, "acme", "order-4711", &body);
    assert_eq!((status, replayed), (202, true), "{again}");
    assert_eq!(again, first, "the first answer, with the same event id");
    assert_eq!(handler_queue(&handler).len(), 1, "one event for two requests");
    assert_eq!(handler.log().all().len(), 1);

    // Another tenant's identical key is theirs.
    let (status, theirs, replayed) =
        publish_with_key(&handler, "globex", "order-4711", &deleted("globex", "le-1").to_string());
    assert_eq!((status, replayed), (202, false), "{theirs}");
    assert_ne!(theirs["id"], first["id"]);
    assert_eq!(handler_queue(&handler).len(), 2);
}

#[test]
fn the_same_key_with_another_body_is_a_conflict_naming_the_header() {
    let handler = handler();
    let (status, _, _) = publish_with_key(&handler, "acme", "k-1", &deleted("acme", "le-1").to_string());
    assert_eq!(status, 202);
    let (status, body, _) = publish_with_key(&handler, "acme", "k-1", &deleted("acme", "le-2").to_string());
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "idempotency_key_reused");
    assert_eq!(body["error"]["field"], "Idempotency-Key");
    assert_eq!(handler_queue(&handler).len(), 1);
}

#[test]
fn a_failed_publish_frees_its_key_and_the_retry_enqueues_the_same_ids() {
    let handler = handler();
    let batch = json!([deleted("acme", "le-1"), deleted("acme", "le-2")]).to_string();
    handler.queue().outage.set(true);
    let (status, _, _) = publish_with_key(&handler, "acme", "batch-9", &batch);
    assert_eq!(status, 503);
    assert!(handler_queue(&handler).is_empty());
    let logged: Vec<String> = handler.log().all().iter().map(|e| e.id.to_string()).collect();
    assert_eq!(logged.len(), 2, "logged before the queue failed");

    handler.queue().outage.set(false);
    let (status, body, replayed) = publish_with_key(&handler, "acme", "batch-9", &batch);
    assert_eq!((status, replayed), (202, false), "{body}");
    let enqueued: Vec<String> = handler_queue(&handler).iter().map(|e| e.id.to_string()).collect();
    let sorted = |ids: &[String]| ids.iter().cloned().collect::<std::collections::BTreeSet<_>>();
    assert_eq!(sorted(&enqueued), sorted(&logged), "the ids stamped by the first try");
    assert_eq!(body["ids"], json!(enqueued), "answered in request order");
    assert_eq!(handler.log().all().len(), 2, "the log holds each event once");
}

#[test]
fn an_idempotency_store_outage_acknowledges_nothing() {
    let handler = handler();
    handler.idempotency().outage.set(true);
    let (status, body, _) = publish_with_key(&handler, "acme", "k", &deleted("acme", "le-1").to_string());
    assert_eq!(status, 503, "{body}");
    assert!(nothing_written(&handler));
}

#[test]
fn bad_idempotency_keys_are_refused_naming_the_header() {
    let handler = handler();
    for key in ["", &"k".repeat(256), "two words"] {
        let (status, body, _) = publish_with_key(&handler, "acme", key, &deleted("acme", "le-1").to_string());
        assert_eq!(status, 422, "{key:?}: {body}");
        assert_eq!(body["error"]["field"], "Idempotency-Key");
    }
    assert!(nothing_written(&handler));
}

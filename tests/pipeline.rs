//! The pipeline end to end, through the local stack's HTTP API: moto as AWS, the real
//! authorizer, ingest, fan-out, delivery and subscriptions handlers, and real HTTP receivers on
//! loopback as subscribers.
//!
//! Each test runs its own moto and stack (about a second to start) so tests run in parallel and
//! share no state. "Nothing was delivered" is only asserted after a later, valid event has
//! arrived, so the pipeline is known to be running when its silence is checked.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use hookline_core::model::Scope;
use hookline_testkit::TestReceiver;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn every_seed_event_arrives_signed_and_exactly_as_published() {
    let stack = Stack::start_with(|_| {}).await;
    let receiver = TestReceiver::start().await.expect("receiver");
    let key = stack.key("acme", BOTH).await;
    let (_, secret) = stack.subscribe_to(&key, &receiver.url(), &["client-management.*"]).await;

    // The catalogue is served to any key, through the same gateway.
    let Answer { status, body: catalogue, .. } = stack.call(Method::GET, "/v1/event-types", Some(&key), None).await;
    assert_eq!(status, 200, "{catalogue}");
    for event_type in SEED_TYPES {
        assert!(catalogue.to_string().contains(event_type), "{event_type} is in the catalogue: {catalogue}");
    }

    let mut published = Vec::new();
    for event_type in SEED_TYPES {
        let data = example(event_type);
        let id = stack.publish_ok(&key, event_type, data.clone()).await;
        assert!(id.starts_with("evt_"), "{id}");
        published.push((id, event_type, data));
    }

    let requests = receiver.wait_for(4, ARRIVAL).await.expect("four webhooks");
    assert_eq!(ids(&requests), published.iter().map(|(id, ..)| id.clone()).collect(), "one delivery per event");
    for (id, event_type, data) in &published {
        let request = requests.iter().find(|r| r.header("webhook-id") == Some(id)).expect("delivered with its id");
        assert_eq!(request.method, "POST");
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_signed(request, &secret, id);
        let envelope = request.json().expect("a JSON body");
        let fields: BTreeSet<&str> = envelope.as_object().expect("an object").keys().map(String::as_str).collect();
        assert_eq!(fields, BTreeSet::from(["data", "timestamp", "type"]), "the envelope: {envelope}");
        assert_eq!(envelope["type"], *event_type);
        assert_eq!(&envelope["data"], data, "{event_type}: data arrives exactly as published");
        let timestamp = envelope["timestamp"].as_str().expect("timestamp");
        assert!(
            time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339).is_ok(),
            "RFC 3339: {timestamp}"
        );
    }
    stack.stop().await;
}

#[tokio::test]
async fn fan_out_delivers_only_what_each_filter_matches_and_nothing_to_disabled_subscriptions() {
    let stack = Stack::start_with(|_| {}).await;
    let platform = stack.key("*", &[Scope::Publish]).await;
    let acme = stack.key("acme", BOTH).await;
    let globex = stack.key("globex", BOTH).await;
    let [prefix, exact, disabled, everything] = [
        TestReceiver::start().await.expect("receiver"),
        TestReceiver::start().await.expect("receiver"),
        TestReceiver::start().await.expect("receiver"),
        TestReceiver::start().await.expect("receiver"),
    ];
    let (_, prefix_secret) = stack.subscribe_to(&acme, &prefix.url(), &["client-management.*"]).await;
    let (_, exact_secret) = stack.subscribe_to(&acme, &exact.url(), &["client-management.legalentity-deleted"]).await;
    let (off, _) = stack.subscribe_to(&acme, &disabled.url(), &["*"]).await;
    // `*` on another tenant: everything of globex's, nothing of acme's.
    let (_, everything_secret) = stack.subscribe_to(&globex, &everything.url(), &["*"]).await;

    let path = format!("/v1/subscriptions/{off}");
    let Answer { status, body, .. } =
        stack.call(Method::PATCH, &path, Some(&acme), Some(json!({"enabled": false}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["enabled"], false);
    let Answer { status, body, .. } = stack.call(Method::GET, &path, Some(&acme), None).await;
    assert_eq!((status, body["enabled"].clone()), (200, json!(false)), "the change is stored: {body}");

    // One batch from a platform publisher: the four seed types for acme, one event for globex.
    let mut batch: Vec<Value> = SEED_TYPES.iter().map(|t| json!({"type": t, "data": example(t)})).collect();
    batch.push(json!({
        "type": "client-management.legalentity-updated",
        "data": example_for("client-management.legalentity-updated", "globex"),
    }));
    let (status, body) = stack.publish(&platform, Value::Array(batch)).await;
    assert_eq!(status, 202, "{body}");
    let published: Vec<String> =
        body["ids"].as_array().expect("ids").iter().map(|id| id.as_str().expect("id").to_owned()).collect();
    assert_eq!(published.len(), 5);
    let acme_ids: BTreeSet<String> = published[..4].iter().cloned().collect();
    let (acme_deleted, globex_updated) = (&published[2], &published[4]);

    let prefix_got = prefix.wait_for(4, ARRIVAL).await.expect("acme's four events");
    let exact_got = exact.wait_for(1, ARRIVAL).await.expect("acme's deletion");
    let everything_got = everything.wait_for(1, ARRIVAL).await.expect("globex's event");
    // Everything matching has arrived; give a wrong delivery time to arrive too.
    tokio::time::sleep(SILENCE).await;

    assert_eq!(ids(&prefix.requests()), acme_ids, "client-management.* gets every acme event, once");
    assert_eq!(prefix.requests().len(), 4);
    assert_eq!(ids(&exact.requests()), BTreeSet::from([acme_deleted.clone()]), "the exact filter gets one type");
    assert_eq!(exact.requests().len(), 1);
    assert_eq!(ids(&everything.requests()), BTreeSet::from([globex_updated.clone()]), "`*` stays in its tenant");
    assert_eq!(everything.requests().len(), 1);
    assert!(disabled.requests().is_empty(), "a disabled subscription receives nothing");

    for request in &prefix_got {
        assert_signed(request, &prefix_secret, request.header("webhook-id").expect("id"));
    }
    assert_signed(&exact_got[0], &exact_secret, acme_deleted);
    assert_signed(&everything_got[0], &everything_secret, globex_updated);
    assert_eq!(everything_got[0].json().expect("json")["data"]["tenant"], "globex");
    stack.stop().await;
}

#[tokio::test]
async fn tenants_cannot_reach_each_others_subscriptions_or_publish_for_each_other() {
    let stack = Stack::start_with(|_| {}).await;
    let acme = stack.key("acme", BOTH).await;
    let globex = stack.key("globex", BOTH).await;
    let acme_receiver = TestReceiver::start().await.expect("receiver");
    let globex_receiver = TestReceiver::start().await.expect("receiver");
    let (acme_sub, _) = stack.subscribe_to(&acme, &acme_receiver.url(), &["*"]).await;
    let (globex_sub, _) = stack.subscribe_to(&globex, &globex_receiver.url(), &["*"]).await;

    let path = format!("/v1/subscriptions/{acme_sub}");
    for (method, body) in
        [(Method::GET, None), (Method::PATCH, Some(json!({"enabled": false}))), (Method::DELETE, None)]
    {
        let Answer { status, body: answer, .. } = stack.call(method.clone(), &path, Some(&globex), body).await;
        assert_eq!(status, 404, "{method} another tenant's subscription: {answer}");
        assert_eq!(answer["error"]["code"], "not_found", "{answer}");
    }
    let Answer { status, body: listing, .. } = stack.call(Method::GET, "/v1/subscriptions", Some(&globex), None).await;
    assert_eq!(status, 200, "{listing}");
    let listed: Vec<&str> =
        listing["items"].as_array().expect("items").iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(listed, [globex_sub.as_str()], "globex lists its own subscription only");
    let Answer { status, body: mine, .. } = stack.call(Method::GET, &path, Some(&acme), None).await;
    assert_eq!((status, mine["enabled"].clone()), (200, json!(true)), "the owner's subscription is untouched: {mine}");
    assert!(mine.get("secret").is_none(), "the secret is shown only on create");

    // acme's key publishing for globex: refused, nothing written or queued.
    let (status, answer) = stack
        .publish(
            &acme,
            json!({"type": "client-management.legalentity-deleted", "data": deleted_data("globex", "le-1")}),
        )
        .await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["error"]["code"], "forbidden", "{answer}");
    assert_eq!(answer["error"]["field"], "data.tenant", "{answer}");

    // The pipeline is running: acme's own event arrives, and only that.
    let canary = stack.publish_ok(&acme, "client-management.legalentity-deleted", deleted_data("acme", "le-2")).await;
    acme_receiver.wait_for(1, ARRIVAL).await.expect("acme's own event");
    tokio::time::sleep(SILENCE).await;
    assert_eq!(ids(&acme_receiver.requests()), BTreeSet::from([canary]));
    assert_eq!(acme_receiver.requests().len(), 1);
    assert!(globex_receiver.requests().is_empty(), "the refused event was delivered to nobody");
    stack.stop().await;
}

#[tokio::test]
async fn bad_publish_requests_get_json_errors_and_nothing_is_delivered() {
    let stack = Stack::start_with(|_| {}).await;
    let key = stack.key("acme", BOTH).await;
    let receiver = TestReceiver::start().await.expect("receiver");
    stack.subscribe_to(&key, &receiver.url(), &["*"]).await;

    let event = |data: Value| json!({"type": "client-management.legalentity-deleted", "data": data});
    let raw = |path: &str, body: String, content_type: &str, key: Option<&str>| {
        let mut request = stack.http.post(stack.url(path)).header("content-type", content_type).body(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request
    };
    let post = |body: String| raw("/v1/events", body, "application/json", Some(&key));
    let over_ingest_limit = event(json!({
        "tenant": "acme", "legalEntityId": "le-1", "legalEntityParentId": "x".repeat(1_100_000),
    }));
    let over_lambda_limit = "x".repeat(6 * 1024 * 1024 + 1);
    let many = Value::Array((0..101).map(|i| event(deleted_data("acme", &format!("le-{i}")))).collect());
    let good = event(deleted_data("acme", "le-1")).to_string();

    // (what, request, status, error code, field — or for 413s, the limit the message names)
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str, Option<&str>)> = vec![
        ("malformed JSON", post("{\"type\": ".into()), 400, "", None),
        (
            "unknown type",
            post(json!({"type": "client-management.nope", "data": {"tenant": "acme"}}).to_string()),
            422,
            "",
            Some("type"),
        ),
        (
            "wrong field type",
            post(event(json!({"tenant": "acme", "legalEntityId": 7})).to_string()),
            422,
            "",
            Some("data.legalEntityId"),
        ),
        ("missing tenant", post(event(json!({"legalEntityId": "le-1"})).to_string()), 422, "", Some("data.tenant")),
        ("body over the API's 1 MiB", post(over_ingest_limit.to_string()), 413, "", Some("1048576")),
        ("body over Lambda's 6 MB", post(over_lambda_limit), 413, "", Some("6291456")),
        ("array of 101", post(many.to_string()), 413, "", None),
        ("wrong content-type", raw("/v1/events", "tenant=acme".into(), "text/plain", Some(&key)), 415, "", None),
        ("no key", raw("/v1/events", good.clone(), "application/json", None), 401, "unauthorized", None),
        (
            "unknown key",
            raw("/v1/events", good.clone(), "application/json", Some("hk_not-a-key")),
            401,
            "unauthorized",
            None,
        ),
        ("unknown route", raw("/v1/event", good, "application/json", Some(&key)), 404, "not_found", None),
    ];
    let count = cases.len();
    for (what, request, status, code, field) in cases {
        let response = request.send().await.unwrap_or_else(|e| panic!("{what}: an answer: {e}"));
        assert_eq!(response.status().as_u16(), status, "{what}");
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(content_type.as_deref(), Some("application/json"), "{what}");
        let body: Value = response.json().await.unwrap_or_else(|e| panic!("{what}: the error is JSON: {e}"));
        assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{what}: {body}");
        if !code.is_empty() {
            assert_eq!(body["error"]["code"], code, "{what}: {body}");
        }
        match (status, field) {
            (413, Some(limit)) => {
                let message = body["error"]["message"].as_str().unwrap_or_default();
                assert!(message.contains(limit), "{what}: refused at the {limit}-byte limit: {body}");
            }
            (_, Some(field)) => assert_eq!(body["error"]["field"], field, "{what}: {body}"),
            _ => {}
        }
    }

    // The pipeline is running: a good event arrives, and only that.
    let canary = stack.publish_ok(&key, "client-management.legalentity-deleted", deleted_data("acme", "le-ok")).await;
    receiver.wait_for(1, ARRIVAL).await.expect("the good event");
    tokio::time::sleep(SILENCE).await;
    assert_eq!(ids(&receiver.requests()), BTreeSet::from([canary]), "none of the {count} bad requests delivered");
    assert_eq!(receiver.requests().len(), 1);
    stack.stop().await;
}

#[tokio::test]
async fn a_failed_delivery_is_retried_with_the_same_id_and_every_attempt_is_in_the_log() {
    let stack = Stack::start_with(|_| {}).await;
    let key = stack.key("acme", BOTH).await;
    let receiver = TestReceiver::start().await.expect("receiver");
    receiver.script([hookline_testkit::Reply::status(500).with_body("upstream down")]);
    let (subscription, secret) = stack.subscribe_to(&key, &receiver.url(), &["*"]).await;
    let id = stack.publish_ok(&key, "client-management.legalentity-deleted", deleted_data("acme", "le-7")).await;

    // Schedule "1s,1s": the second attempt comes about a second after the first fails.
    let requests = receiver.wait_for(2, ARRIVAL).await.expect("a retry");
    for request in &requests {
        assert_signed(request, &secret, &id);
    }

    let path = format!("/v1/subscriptions/{subscription}/attempts");
    let attempts = hookline_testkit::eventually(Duration::from_secs(10), "two logged attempts", || async {
        let Answer { status, body: page, .. } = stack.call(Method::GET, &path, Some(&key), None).await;
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
    assert_eq!((items[1]["attempt"].clone(), items[1]["outcome"].clone()), (json!(1), json!("retry_scheduled")));
    assert_eq!(items[1]["status"], 500);
    assert_eq!(items[1]["responseExcerpt"], "upstream down");
    assert_eq!(items[1]["eventId"], id.as_str());
    tokio::time::sleep(SILENCE).await;
    assert_eq!(receiver.requests().len(), 2, "nothing after the success");
    stack.stop().await;
}

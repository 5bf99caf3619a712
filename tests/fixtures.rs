//! Every `events/**/*.json` fixture — the files `sam local invoke -e` and the Lambda emulator
//! test take — fed to its function's handler (in-memory adapters, a real HTTP receiver for
//! deliver), and the answer checked: status and body, batch item failures, the policy.
//!
//! The directory is the function (`events/<function>/<case>.json`). A fixture with no check here,
//! or a check whose fixture is gone, fails `every_fixture_is_checked`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequest;
use aws_lambda_events::sqs::SqsEvent;
use hookline_authorizer::Authorizer;
use hookline_core::envelope::ReceivedEnvelope;
use hookline_core::ids::{AttemptId, EventId, SubscriptionId};
use hookline_core::memory::{
    MemoryApiKeyStore, MemoryAttemptLog, MemoryDeadLetterQueue, MemoryDeliveryQueue, MemoryEventLog, MemoryEventQueue,
    MemoryIdempotencyStore, MemorySubscriptionStore,
};
use hookline_core::model::{Attempt, AttemptOutcome, DeliveryMessage, Event, EventMessage, Subscription};
use hookline_core::ports::{ApiKeyStore, AttemptLog, EventLog, SubscriptionStore};
use hookline_core::signing::{self, DEFAULT_TOLERANCE};
use hookline_deliver::{Deliver, DeliverConfig};
use hookline_fanout::Fanout;
use hookline_ingest::{Ingest, IngestConfig};
use hookline_subscriptions::{Subscriptions, SubscriptionsConfig};
use hookline_testkit::{TestReceiver, model};
use serde_json::{Value, json};
use time::OffsetDateTime;

/// Every fixture, by path under `events/`.
const FIXTURES: &[&str] = &[
    "authorizer/token.json",
    "deliver/sqs-batch.json",
    "fanout/sqs-batch.json",
    "ingest/event-types.json",
    "ingest/publish.json",
    "subscriptions/attempts.json",
    "subscriptions/create.json",
    "subscriptions/delete.json",
    "subscriptions/get.json",
    "subscriptions/list.json",
    "subscriptions/patch.json",
    "subscriptions/replay.json",
    "subscriptions/rotate-secret.json",
];

/// The API key the fixtures present (`Authorization: Bearer …`); a made-up local key.
const FIXTURE_KEY: &str = "hk_local-example-key-for-sam-invoke-0000000000";
/// The subscription the item-route fixtures and the deliver fixture name.
const FIXTURE_SUBSCRIPTION: &str = "sub_01M6KCWYWS1HEAD8X4A1JH69RE";

fn fixture_subscription() -> SubscriptionId {
    FIXTURE_SUBSCRIPTION.parse().expect("a subscription id")
}

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn fixture(name: &str) -> String {
    assert!(FIXTURES.contains(&name), "{name} is not listed in FIXTURES");
    let path = events_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()))
}

fn api_request(name: &str) -> lambda_http::Request {
    lambda_http::request::from_str(&fixture(name))
        .unwrap_or_else(|err| panic!("{name} is not an API Gateway proxy event: {err}"))
}

fn sqs_event(name: &str) -> SqsEvent {
    serde_json::from_str(&fixture(name)).unwrap_or_else(|err| panic!("{name} is not an SQS event: {err}"))
}

/// Status and JSON body (`Null` when empty) of an API answer.
fn answer(response: lambda_http::Response<lambda_http::Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = match response.body() {
        lambda_http::Body::Text(text) => serde_json::from_str(text).expect("a JSON body"),
        lambda_http::Body::Binary(bytes) => serde_json::from_slice(bytes).expect("a JSON body"),
        lambda_http::Body::Empty => Value::Null,
        _ => panic!("an unexpected body kind"),
    };
    (status, body)
}

fn subscription(id: SubscriptionId, url: &str, event_types: &[&str]) -> Subscription {
    let event_types = event_types.iter().map(|t| (*t).to_owned()).collect();
    Subscription { id, event_types, ..model::subscription("acme", url) }
}

fn collect(dir: &Path, into: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|err| panic!("reading {}: {err}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect(&path, into);
        } else if path.extension().is_some_and(|e| e == "json") {
            let relative = path.strip_prefix(events_dir()).expect("under events/");
            into.insert(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn every_fixture_is_checked() {
    let mut found = BTreeSet::new();
    collect(&events_dir(), &mut found);
    let listed: BTreeSet<String> = FIXTURES.iter().map(|f| (*f).to_owned()).collect();
    assert_eq!(found, listed, "events/ and the checks in tests/fixtures.rs must list the same fixtures");
}

#[tokio::test]
async fn ingest_fixtures_publish_and_list_the_catalogue() {
    let ingest = Ingest::new(
        MemoryEventQueue::default(),
        MemoryEventLog::default(),
        MemoryIdempotencyStore::default(),
        IngestConfig::default(),
    );

    let (status, body) = answer(ingest.handle(api_request("ingest/publish.json")).await);
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().expect("an event id");
    assert!(id.starts_with("evt_"), "{id}");
    let queued = ingest.queue().enqueued();
    assert_eq!(queued.len(), 1, "one event enqueued");
    assert_eq!(queued[0].id.as_str(), id);
    assert_eq!(queued[0].tenant.as_str(), "acme");
    assert_eq!(queued[0].event_type, "client-management.legalentity-deleted");

    let (status, body) = answer(ingest.handle(api_request("ingest/event-types.json")).await);
    assert_eq!(status, 200, "{body}");
    let names: BTreeSet<&str> =
        body["items"].as_array().expect("items").iter().map(|t| t["name"].as_str().expect("name")).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "client-management.legalentity-created",
            "client-management.legalentity-deleted",
            "client-management.legalentity-updated",
            "client-management.user-assigned-to-legalentity",
        ])
    );
    assert_eq!(ingest.queue().enqueued().len(), 1, "listing enqueues nothing");
}

#[tokio::test]
async fn subscription_fixtures_run_every_route() {
    let handler = Subscriptions::new(
        MemorySubscriptionStore::default(),
        MemoryAttemptLog::default(),
        MemoryEventLog::default(),
        MemoryDeliveryQueue::default(),
        SubscriptionsConfig::default(),
    );
    // The subscription the item fixtures name, one stored event its replay finds, one attempt.
    let existing = subscription(
        fixture_subscription(),
        "https://93.184.216.34/hookline/webhooks",
        &["client-management.legalentity-deleted"],
    );
    handler.store().create(&existing).await.expect("seed subscription");
    let stored = Event {
        id: EventId::generate(),
        tenant: "acme".parse().expect("tenant"),
        event_type: "client-management.legalentity-deleted".into(),
        timestamp: OffsetDateTime::now_utc(),
        data: json!({"tenant": "acme", "legalEntityId": "le-1001", "legalEntityParentId": "le-1000"}),
    };
    handler.events().append(std::slice::from_ref(&stored)).await.expect("seed event");
    let attempt = Attempt {
        id: AttemptId::generate(),
        tenant: existing.tenant.clone(),
        subscription_id: existing.id.clone(),
        event_id: stored.id.clone(),
        event_type: stored.event_type.clone(),
        attempt: 1,
        at: OffsetDateTime::now_utc(),
        duration_ms: 42,
        status: Some(200),
        error_kind: None,
        response_excerpt: None,
        outcome: AttemptOutcome::Delivered,
    };
    handler.attempts().record(&attempt).await.expect("seed attempt");

    let (status, body) = answer(handler.handle(api_request("subscriptions/get.json")).await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], FIXTURE_SUBSCRIPTION);
    assert!(body.get("secret").is_none(), "a read never shows the secret: {body}");

    let (status, body) = answer(handler.handle(api_request("subscriptions/list.json")).await);
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["items"].as_array().expect("items").iter().filter_map(|s| s["id"].as_str()).collect();
    assert_eq!(ids, vec![FIXTURE_SUBSCRIPTION]);

    let (status, body) = answer(handler.handle(api_request("subscriptions/attempts.json")).await);
    assert_eq!(status, 200, "{body}");
    let attempts = body["items"].as_array().expect("items");
    assert_eq!(attempts.len(), 1, "{body}");
    assert_eq!(attempts[0]["eventId"], stored.id.as_str());

    let (status, body) = answer(handler.handle(api_request("subscriptions/rotate-secret.json")).await);
    assert_eq!(status, 200, "{body}");
    let rotated = body["secret"].as_str().expect("the new secret");
    assert!(rotated.starts_with("whsec_"));
    assert_ne!(rotated, existing.secrets[0].secret.to_whsec());

    let (status, body) = answer(handler.handle(api_request("subscriptions/replay.json")).await);
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["count"], 1, "the stored event is in the fixture's window: {body}");
    let replayed = handler.deliveries().enqueued();
    assert_eq!(replayed.len(), 1);
    assert_eq!(replayed[0].task.event.id, stored.id);
    assert_eq!(replayed[0].task.subscription_id, existing.id);

    let (status, body) = answer(handler.handle(api_request("subscriptions/patch.json")).await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["eventTypes"], json!(["client-management.*"]));

    let (status, body) = answer(handler.handle(api_request("subscriptions/create.json")).await);
    assert_eq!(status, 201, "{body}");
    assert!(body["id"].as_str().is_some_and(|id| id.starts_with("sub_") && id != FIXTURE_SUBSCRIPTION));
    assert!(body["secret"].as_str().is_some_and(|s| s.starts_with("whsec_")));

    let (status, body) = answer(handler.handle(api_request("subscriptions/delete.json")).await);
    assert_eq!(status, 204, "{body}");
    let (status, body) = answer(handler.handle(api_request("subscriptions/get.json")).await);
    assert_eq!(status, 404, "deleted: {body}");
}

#[tokio::test]
async fn the_authorizer_fixture_is_allowed_for_its_key_only() {
    let event: ApiGatewayCustomAuthorizerRequest =
        serde_json::from_str(&fixture("authorizer/token.json")).expect("a TOKEN authorizer event");

    let keys = MemoryApiKeyStore::default();
    let key = model::api_key("acme", FIXTURE_KEY);
    keys.create(&key).await.expect("store key");
    let response = Authorizer::new(keys).handle(event.clone()).await.expect("the fixture's key is allowed");
    let policy = serde_json::to_value(&response).expect("policy JSON");
    assert_eq!(policy["principalId"], key.id.to_string());
    let statement = &policy["policyDocument"]["Statement"][0];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(statement["Action"], json!(["execute-api:Invoke"]));
    assert_eq!(policy["context"]["tenant"], "acme");
    assert_eq!(policy["context"]["scopes"], "publish,manage");

    // Against a store that does not hold that key, the same event is refused.
    assert!(Authorizer::new(MemoryApiKeyStore::default()).handle(event).await.is_err());
}

#[tokio::test]
async fn the_fanout_fixture_becomes_one_task_per_matching_subscription() {
    let batch = sqs_event("fanout/sqs-batch.json");
    let EventMessage::V1(event) = serde_json::from_str(batch.records[0].body.as_deref().expect("a body"))
        .expect("the record carries an event message");
    let store = MemorySubscriptionStore::default();
    let url = "https://93.184.216.34/in";
    let everything = subscription(SubscriptionId::generate(), url, &["*"]);
    let prefix = subscription(SubscriptionId::generate(), url, &["client-management.*"]);
    let other_type = subscription(SubscriptionId::generate(), url, &["client-management.legalentity-deleted"]);
    for sub in [&everything, &prefix, &other_type] {
        store.create(sub).await.expect("seed");
    }
    let fanout = Fanout::new(store, MemoryDeliveryQueue::default());

    let response = fanout.handle(batch).await;

    assert!(response.batch_item_failures.is_empty(), "{:?}", response.batch_item_failures);
    let tasks = fanout.queue().enqueued();
    let targets: BTreeSet<_> = tasks.iter().map(|t| t.task.subscription_id.clone()).collect();
    assert_eq!(targets, BTreeSet::from([everything.id, prefix.id]));
    assert!(tasks.iter().all(|t| t.task.event == event && t.task.attempts_made == 0));
}

#[tokio::test]
async fn the_deliver_fixture_reaches_a_real_receiver_signed() {
    let batch = sqs_event("deliver/sqs-batch.json");
    let DeliveryMessage::V1(task) = serde_json::from_str(batch.records[0].body.as_deref().expect("a body"))
        .expect("the record carries a delivery message");
    assert_eq!(task.subscription_id.as_str(), FIXTURE_SUBSCRIPTION);
    let receiver = TestReceiver::start().await.expect("receiver");
    let sub = subscription(fixture_subscription(), &receiver.url(), &["*"]);
    let store = MemorySubscriptionStore::default();
    store.create(&sub).await.expect("seed");
    // Local mode, so the loopback receiver is an allowed target.
    let config = DeliverConfig { allow_private_targets: true, timeout: Duration::from_secs(5), ..Default::default() };
    let deliver = Deliver::new(
        store,
        MemoryAttemptLog::default(),
        MemoryDeliveryQueue::default(),
        MemoryDeadLetterQueue::default(),
        config,
    )
    .expect("deliver");

    let response = deliver.handle(batch).await;

    assert!(response.batch_item_failures.is_empty(), "{:?}", response.batch_item_failures);
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.header("webhook-id"), Some(task.event.id.as_str()));
    let timestamp = request.header("webhook-timestamp").expect("timestamp");
    let now = OffsetDateTime::now_utc().unix_timestamp();
    assert_eq!(
        signing::verify(
            &sub.secrets[0].secret,
            task.event.id.as_str(),
            timestamp,
            request.header("webhook-signature").expect("signature"),
            &request.body,
            now,
            DEFAULT_TOLERANCE,
        ),
        Ok(())
    );
    let received: ReceivedEnvelope = serde_json::from_slice(&request.body).expect("an envelope");
    assert_eq!(received.data, task.event.data);
    let attempts = deliver.attempts().all();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, AttemptOutcome::Delivered);
    assert!(deliver.queue().enqueued().is_empty() && deliver.dead_letters().letters().is_empty());
}

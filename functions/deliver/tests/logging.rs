//! What the deliver function logs in Lambda's JSON log format: exactly one line per record,
//! carrying tenant, event id, subscription id, attempt and outcome, and never the payload, the
//! signature or the signing secret.

use std::time::Duration;

use hookline_core::ids::EventId;
use hookline_core::memory::{MemoryAttemptLog, MemoryDeadLetterQueue, MemoryDeliveryQueue, MemorySubscriptionStore};
use hookline_core::model::{DeliveryMessage, DeliveryTask, Event, SecretEntry, Subscription};
use hookline_core::ports::SubscriptionStore;
use hookline_core::signing::WebhookSecret;
use hookline_deliver::{Deliver, DeliverConfig};
use hookline_testkit::{CapturedLog, Reply, TestReceiver, model};
use serde_json::{Value, json};
use time::OffsetDateTime;

fn subscription(url: &str, secret: &WebhookSecret) -> Subscription {
    let secrets = vec![SecretEntry { secret: secret.clone(), expires_at: None }];
    Subscription { secrets, ..model::subscription("acme", url) }
}

fn record(id: &str, sub: &Subscription, attempts_made: u32) -> (String, String, EventId) {
    let event = Event {
        id: EventId::generate(),
        tenant: "acme".parse().expect("tenant"),
        event_type: "client-management.legalentity-deleted".into(),
        timestamp: OffsetDateTime::now_utc(),
        data: json!({"tenant": "acme", "legalEntityId": "le-secret-payload-value"}),
    };
    let event_id = event.id.clone();
    let task = DeliveryTask { attempts_made, ..DeliveryTask::first(event, sub.id.clone()) };
    (id.to_owned(), serde_json::to_string(&DeliveryMessage::V1(task)).expect("json"), event_id)
}

#[tokio::test]
async fn one_json_line_per_record_with_its_ids_and_outcome_and_nothing_secret() {
    let captured = CapturedLog::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let healthy = TestReceiver::start().await.expect("receiver");
    let failing = TestReceiver::start().await.expect("receiver");
    failing.set_default(Reply::status(500));
    let secret = WebhookSecret::generate();
    let sub = subscription(&healthy.url(), &secret);
    let other = subscription(&failing.url(), &secret);
    let store = MemorySubscriptionStore::default();
    store.create(&sub).await.expect("create");
    store.create(&other).await.expect("create");
    let config =
        DeliverConfig { allow_private_targets: true, timeout: Duration::from_secs(5), ..DeliverConfig::default() };
    let handler = Deliver::new(
        store,
        MemoryAttemptLog::default(),
        MemoryDeliveryQueue::default(),
        MemoryDeadLetterQueue::default(),
        config,
    )
    .expect("handler");
    let records = [record("m1", &sub, 0), record("m2", &other, 2)];
    let pairs: Vec<(&str, String)> = records.iter().map(|(id, body, _)| (id.as_str(), body.clone())).collect();
    let event = hookline_testkit::lambda::sqs_event("arn:aws:sqs:us-east-1:123456789012:hookline-deliveries", &pairs);
    let response = handler.handle(event).await;
    assert!(response.batch_item_failures.is_empty());

    let text = captured.lines().join("\n");
    let lines: Vec<Value> =
        text.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("JSON: {line}: {e}"))).collect();
    assert_eq!(lines.len(), 2, "one line per record: {text}");
    let mut outcomes = Vec::new();
    for line in &lines {
        let span = &line["span"];
        assert_eq!(span["tenant"], "acme", "{line}");
        assert!(span["subscription_id"] == sub.id.as_str() || span["subscription_id"] == other.id.as_str(), "{line}");
        assert!(
            records
                .iter()
                .any(|(id, _, event_id)| span["event_id"] == event_id.as_str() && span["message_id"] == id.as_str()),
            "{line}"
        );
        outcomes.push((span["attempt"].clone(), line["fields"]["outcome"].clone()));
    }
    outcomes.sort_by_key(|(attempt, _)| attempt.as_u64());
    assert_eq!(outcomes, [(json!(1), json!("delivered")), (json!(3), json!("retry_scheduled"))]);
    for forbidden in ["le-secret-payload-value", &secret.to_whsec()[6..], "v1,"] {
        assert!(!text.contains(forbidden), "the log holds {forbidden:?}: {text}");
    }
}

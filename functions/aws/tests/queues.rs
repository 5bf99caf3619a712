//! The SQS adapters against a real moto server: batching, delays, redrive to the DLQ, outages.

use std::collections::BTreeSet;
use std::time::Duration;

use hookline_aws::resources::QueueSettings;
use hookline_aws::{SqsDeliveryQueue, SqsEventQueue};
use hookline_core::ids::{EventId, SubscriptionId};
use hookline_core::model::{DeliveryMessage, DeliveryTask, Event, EventMessage};
use hookline_core::ports::{DeliveryQueue, EventQueue, ScheduledTask};
use hookline_testkit::TestAws;
use time::OffsetDateTime;

fn event(n: usize) -> Event {
    Event {
        id: EventId::generate(),
        tenant: "acme".parse().expect("tenant"),
        event_type: "client-management.user-assigned-to-legalentity".into(),
        timestamp: OffsetDateTime::now_utc(),
        data: serde_json::json!({"tenant": "acme", "userId": format!("u-{n}"), "legalEntityId": "le-1", "assignmentId": "as-1"}),
    }
}

fn task(n: usize) -> DeliveryTask {
    DeliveryTask {
        event: event(n),
        subscription_id: SubscriptionId::generate(),
        attempts_made: 0,
        first_attempt_at: None,
        not_before: None,
        replay_id: None,
    }
}

fn body_of(message: &aws_sdk_sqs::types::Message) -> &str {
    message.body().expect("message has a body")
}

#[tokio::test]
async fn events_past_one_batch_are_all_enqueued_intact() {
    let aws = TestAws::start().await.expect("moto");
    let queue = SqsEventQueue::new(aws.sqs(), &aws.resources.events_queue_url);
    let events: Vec<Event> = (0..23).map(event).collect();
    queue.enqueue(&events).await.expect("enqueue 23 = 10 + 10 + 3");

    let received = aws.receive_all(&aws.resources.events_queue_url).await.expect("receive");
    let got: BTreeSet<String> = received
        .iter()
        .map(|m| match serde_json::from_str::<EventMessage>(body_of(m)).expect("a v1 event message") {
            EventMessage::V1(e) => serde_json::to_string(&e).expect("json"),
        })
        .collect();
    let sent: BTreeSet<String> = events.iter().map(|e| serde_json::to_string(e).expect("json")).collect();
    assert_eq!(got, sent);
}

#[tokio::test]
async fn a_delayed_delivery_task_stays_hidden_until_its_delay_has_passed() {
    let aws = TestAws::start().await.expect("moto");
    let queue = SqsDeliveryQueue::new(aws.sqs(), &aws.resources.deliveries_queue_url);
    let now = task(1);
    let later = task(2);
    queue
        .enqueue(&[
            ScheduledTask::now(now.clone()),
            ScheduledTask { task: later.clone(), delay: Duration::from_secs(2) },
        ])
        .await
        .expect("enqueue");

    let first = aws.receive_all(&aws.resources.deliveries_queue_url).await.expect("receive");
    assert_eq!(first.len(), 1, "only the undelayed task is visible at once");
    assert_eq!(serde_json::from_str::<DeliveryMessage>(body_of(&first[0])).expect("parse"), DeliveryMessage::V1(now));

    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let second = aws.receive_all(&aws.resources.deliveries_queue_url).await.expect("receive");
    assert_eq!(second.len(), 1, "the delayed task appears after its delay");
    assert_eq!(
        serde_json::from_str::<DeliveryMessage>(body_of(&second[0])).expect("parse"),
        DeliveryMessage::V1(later)
    );
}

#[tokio::test]
async fn a_message_never_deleted_lands_in_the_dlq_after_max_receive_count() {
    let settings = QueueSettings { max_receive_count: 2, visibility_timeout: Duration::from_secs(1) };
    let aws = TestAws::start_with(&settings).await.expect("moto");
    let queue = SqsEventQueue::new(aws.sqs(), &aws.resources.events_queue_url);
    let poison = event(7);
    queue.enqueue(std::slice::from_ref(&poison)).await.expect("enqueue");

    // A consumer that crashes every time: receives, never deletes.
    for receive in 1..=2 {
        let got = aws.receive_all(&aws.resources.events_queue_url).await.expect("receive");
        assert_eq!(got.len(), 1, "receive {receive} sees the message");
        tokio::time::sleep(Duration::from_millis(1_300)).await;
    }
    let third = aws.receive_all(&aws.resources.events_queue_url).await.expect("receive");
    assert!(third.is_empty(), "after 2 receives the queue hands it out no more");

    let dead = aws.receive_all(&aws.resources.events_dlq_url).await.expect("receive dlq");
    assert_eq!(dead.len(), 1);
    assert_eq!(serde_json::from_str::<EventMessage>(body_of(&dead[0])).expect("parse"), EventMessage::V1(poison));
}

#[tokio::test]
async fn an_unreachable_queue_is_reported_as_retryable() {
    let mut aws = TestAws::start().await.expect("moto");
    let queue = SqsEventQueue::new(aws.sqs(), &aws.resources.events_queue_url);
    aws.moto.stop();
    let err = queue.enqueue(&[event(1)]).await.expect_err("moto is down");
    assert!(err.is_retryable(), "{err}");
}

#[tokio::test]
async fn provisioning_twice_keeps_the_same_resources_and_redrive_policy() {
    let aws = TestAws::start().await.expect("moto");
    let again = hookline_aws::Resources::provision(&aws.config, "hookline", &QueueSettings::default())
        .await
        .expect("provision again");
    assert_eq!(again, aws.resources);
    let attributes = aws
        .sqs()
        .get_queue_attributes()
        .queue_url(&aws.resources.deliveries_queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .expect("attributes")
        .attributes
        .unwrap_or_default();
    let redrive = &attributes[&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy];
    assert!(redrive.contains("hookline-deliveries-dlq"), "{redrive}");
    assert_eq!(attributes[&aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout], "180");
}

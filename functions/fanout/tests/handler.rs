//! The fan-out handler with an in-memory store and queue: which subscriptions get a task, and
//! which records SQS must hand back.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use hookline_core::error::PortError;
use hookline_core::ids::{EventId, SubscriptionId};
use hookline_core::memory::{MemoryDeliveryQueue, MemorySubscriptionStore};
use hookline_core::model::{DisabledReason, Event, EventMessage, Subscription, TenantId};
use hookline_core::ports::{Page, SubscriptionStore};
use hookline_fanout::Fanout;
use hookline_testkit::model;
use serde_json::json;
use time::OffsetDateTime;

const CREATED: &str = "client-management.legalentity-created";

fn tenant(name: &str) -> TenantId {
    name.parse().expect("tenant")
}

fn subscription(tenant_name: &str, filters: &[&str]) -> Subscription {
    let event_types = filters.iter().map(|f| (*f).to_owned()).collect();
    Subscription { event_types, ..model::subscription(tenant_name, "https://hooks.example.com/in") }
}

fn event(tenant_name: &str, event_type: &str) -> Event {
    Event {
        id: EventId::generate(),
        tenant: tenant(tenant_name),
        event_type: event_type.into(),
        timestamp: OffsetDateTime::now_utc(),
        data: json!({"tenant": tenant_name, "legalEntityId": "le-1", "name": "Nordwind"}),
    }
}

fn body(event: &Event) -> String {
    serde_json::to_string(&EventMessage::V1(event.clone())).expect("serialize")
}

fn sqs_event(records: &[(&str, String)]) -> SqsEvent {
    hookline_testkit::lambda::sqs_event("arn:aws:sqs:us-east-1:123456789012:hookline-events", records)
}

fn failures(response: &SqsBatchResponse) -> Vec<String> {
    hookline_testkit::lambda::failures(response)
}

async fn store_with(subscriptions: &[&Subscription]) -> MemorySubscriptionStore {
    let store = MemorySubscriptionStore::default();
    for sub in subscriptions {
        store.create(sub).await.expect("create");
    }
    store
}

#[tokio::test]
async fn each_matching_enabled_subscription_of_the_tenant_gets_one_task() {
    let exact = subscription("acme", &[CREATED]);
    let prefix = subscription("acme", &["client-management.*"]);
    let all = subscription("acme", &["*"]);
    let other_type = subscription("acme", &["client-management.legalentity-deleted", "billing.*"]);
    let mut switched_off = subscription("acme", &["*"]);
    switched_off.enabled = false;
    let mut gone = subscription("acme", &[CREATED]);
    gone.disabled = Some(DisabledReason { reason: "endpoint answered 410 Gone".into(), at: OffsetDateTime::now_utc() });
    let other_tenant = subscription("globex", &["*"]);
    let store = store_with(&[&exact, &prefix, &all, &other_type, &switched_off, &gone, &other_tenant]).await;
    let fanout = Fanout::new(store, MemoryDeliveryQueue::default());

    let event = event("acme", CREATED);
    let response = fanout.handle(sqs_event(&[("m1", body(&event))])).await;

    assert_eq!(failures(&response), Vec::<String>::new());
    let tasks = fanout.queue().enqueued();
    let targets: BTreeSet<_> = tasks.iter().map(|s| s.task.subscription_id.clone()).collect();
    assert_eq!(targets, BTreeSet::from([exact.id, prefix.id, all.id]));
    assert_eq!(tasks.len(), 3);
    for scheduled in &tasks {
        assert_eq!(scheduled.delay, std::time::Duration::ZERO);
        assert_eq!(scheduled.task.event, event);
        assert_eq!(scheduled.task.attempts_made, 0);
        assert_eq!(scheduled.task.first_attempt_at, None);
        assert_eq!(scheduled.task.not_before, None);
    }
}

#[tokio::test]
async fn an_event_nobody_subscribed_to_is_done_without_tasks() {
    let store = store_with(&[&subscription("acme", &["client-management.legalentity-deleted"])]).await;
    let fanout = Fanout::new(store, MemoryDeliveryQueue::default());
    let response = fanout.handle(sqs_event(&[("m1", body(&event("acme", CREATED)))])).await;
    assert!(failures(&response).is_empty());
    assert!(fanout.queue().enqueued().is_empty());
}

/// A store that is down for one tenant only, and counts how often each tenant is listed.
#[derive(Debug, Default)]
struct PartlyDownStore {
    inner: MemorySubscriptionStore,
    down: Option<TenantId>,
    list_all_calls: AtomicUsize,
}

impl PartlyDownStore {
    fn check(&self, tenant: &TenantId) -> Result<(), PortError> {
        if self.down.as_ref() == Some(tenant) { Err(PortError::Unavailable("throttled".into())) } else { Ok(()) }
    }
}

impl SubscriptionStore for PartlyDownStore {
    async fn create(&self, subscription: &Subscription) -> Result<(), PortError> {
        self.inner.create(subscription).await
    }

    async fn get(&self, tenant: &TenantId, id: &SubscriptionId) -> Result<Option<Subscription>, PortError> {
        self.check(tenant)?;
        self.inner.get(tenant, id).await
    }

    async fn list(
        &self,
        tenant: &TenantId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Subscription>, PortError> {
        self.check(tenant)?;
        self.inner.list(tenant, limit, cursor).await
    }

    async fn list_all(&self, tenant: &TenantId) -> Result<Vec<Subscription>, PortError> {
        self.list_all_calls.fetch_add(1, Ordering::SeqCst);
        self.check(tenant)?;
        self.inner.list_all(tenant).await
    }

    async fn update(&self, subscription: &Subscription) -> Result<(), PortError> {
        self.inner.update(subscription).await
    }

    async fn delete(&self, tenant: &TenantId, id: &SubscriptionId) -> Result<bool, PortError> {
        self.inner.delete(tenant, id).await
    }
}

#[tokio::test]
async fn a_store_outage_fails_only_the_records_it_touches() {
    let acme = subscription("acme", &["*"]);
    let globex = subscription("globex", &["*"]);
    let store = PartlyDownStore { down: Some(tenant("globex")), ..PartlyDownStore::default() };
    store.create(&acme).await.expect("create");
    store.create(&globex).await.expect("create");
    let fanout = Fanout::new(store, MemoryDeliveryQueue::default());

    let batch = sqs_event(&[
        ("acme-1", body(&event("acme", CREATED))),
        ("globex-1", body(&event("globex", CREATED))),
        ("acme-2", body(&event("acme", "client-management.legalentity-deleted"))),
    ]);
    let response = fanout.handle(batch).await;

    assert_eq!(failures(&response), vec!["globex-1".to_owned()]);
    let tasks = fanout.queue().enqueued();
    assert_eq!(tasks.len(), 2);
    assert!(tasks.iter().all(|s| s.task.subscription_id == acme.id));
    // Two acme records, one globex record: each tenant was listed once.
    assert_eq!(fanout.store().list_all_calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_queue_outage_fails_the_records_that_had_tasks_to_enqueue() {
    let store = store_with(&[&subscription("acme", &[CREATED])]).await;
    let queue = MemoryDeliveryQueue::default();
    queue.outage.set(true);
    let fanout = Fanout::new(store, queue);
    let batch = sqs_event(&[
        ("matched", body(&event("acme", CREATED))),
        ("unmatched", body(&event("acme", "client-management.legalentity-deleted"))),
    ]);
    let response = fanout.handle(batch).await;
    assert_eq!(failures(&response), vec!["matched".to_owned()]);
}

#[tokio::test]
async fn unreadable_records_are_reported_and_the_rest_of_the_batch_goes_through() {
    let store = store_with(&[&subscription("acme", &["*"])]).await;
    let fanout = Fanout::new(store, MemoryDeliveryQueue::default());
    let good = event("acme", CREATED);
    let mut future_version = serde_json::to_value(EventMessage::V1(good.clone())).expect("serialize");
    future_version["kind"] = json!("event.v9");
    let mut batch = sqs_event(&[
        ("not-json", "{not json".to_owned()),
        ("future-version", future_version.to_string()),
        ("bad-tenant", body(&good).replace("\"tenant\":\"acme\"", "\"tenant\":\"a b\"")),
        ("good", body(&good)),
        ("no-body", String::new()),
    ]);
    batch.records[4].body = None;

    let response = fanout.handle(batch).await;

    let mut failed = failures(&response);
    failed.sort();
    assert_eq!(failed, ["bad-tenant", "future-version", "no-body", "not-json"]);
    let tasks = fanout.queue().enqueued();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].task.event, good);
}

#[tokio::test]
async fn handling_a_batch_is_a_send_future() {
    fn assert_send<T: Send>(_: &T) {}
    let fanout = Fanout::new(MemorySubscriptionStore::default(), MemoryDeliveryQueue::default());
    // The local stack spawns handlers on a multi-threaded runtime.
    let future = fanout.handle(sqs_event(&[]));
    assert_send(&future);
    assert!(future.await.batch_item_failures.is_empty());
}

#[tokio::test]
async fn the_fixture_event_fans_out() {
    let batch: SqsEvent = serde_json::from_str(include_str!("../../../events/fanout/sqs-batch.json"))
        .expect("the fixture is a Lambda SQS event");
    let EventMessage::V1(expected) =
        serde_json::from_str(batch.records[0].body.as_deref().expect("body")).expect("an event message");
    let all = subscription("acme", &["*"]);
    let exact = subscription("acme", &[CREATED]);
    let store = store_with(&[&all, &exact, &subscription("acme", &["client-management.legalentity-deleted"])]).await;
    let fanout = Fanout::new(store, MemoryDeliveryQueue::default());

    let response = fanout.handle(batch).await;

    assert!(failures(&response).is_empty());
    let tasks = fanout.queue().enqueued();
    let targets: BTreeSet<_> = tasks.iter().map(|s| s.task.subscription_id.clone()).collect();
    assert_eq!(targets, BTreeSet::from([all.id, exact.id]));
    assert!(tasks.iter().all(|s| s.task.event == expected));
    assert_eq!(expected.data["CustomerGroupId"], "cg-wholesale-eu");
}

/// A deliveries queue that records each enqueue call's size and refuses the calls whose
/// number is listed.
#[derive(Debug, Default)]
struct CountingQueue {
    inner: MemoryDeliveryQueue,
    calls: std::sync::Mutex<Vec<usize>>,
    refuse_calls: Vec<usize>,
}

impl hookline_core::ports::DeliveryQueue for CountingQueue {
    async fn enqueue(&self, tasks: &[hookline_core::ports::ScheduledTask]) -> Result<(), PortError> {
        let call = {
            let mut calls = self.calls.lock().expect("calls");
            calls.push(tasks.len());
            calls.len()
        };
        if self.refuse_calls.contains(&call) {
            return Err(PortError::Unavailable("throttled".into()));
        }
        self.inner.enqueue(tasks).await
    }
}

#[tokio::test]
async fn the_tasks_of_a_whole_batch_go_out_ten_per_enqueue_call() {
    let store = store_with(&[&subscription("acme", &[CREATED])]).await;
    let fanout = Fanout::new(store, CountingQueue::default());
    let names: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    let records: Vec<(&str, String)> =
        names.iter().map(|name| (name.as_str(), body(&event("acme", CREATED)))).collect();

    let response = fanout.handle(sqs_event(&records)).await;

    assert!(failures(&response).is_empty());
    // Ten events with one subscription each: one call (one SendMessageBatch), not ten.
    assert_eq!(*fanout.queue().calls.lock().expect("calls"), vec![10]);
    assert_eq!(fanout.queue().inner.enqueued().len(), 10);
}

#[tokio::test]
async fn a_refused_enqueue_call_fails_exactly_the_records_with_a_task_in_it() {
    // Four subscriptions: records a, b, c have 4 tasks each, 12 in all, sent as 10 + 2.
    let subs: Vec<Subscription> = (0..4).map(|_| subscription("acme", &[CREATED])).collect();
    let store = store_with(&subs.iter().collect::<Vec<_>>()).await;
    let queue = CountingQueue { refuse_calls: vec![2], ..CountingQueue::default() };
    let fanout = Fanout::new(store, queue);
    let batch = sqs_event(&[
        ("a", body(&event("acme", CREATED))),
        ("b", body(&event("acme", CREATED))),
        ("nothing", body(&event("acme", "client-management.legalentity-deleted"))),
        ("c", body(&event("acme", CREATED))),
    ]);

    let response = fanout.handle(batch).await;

    let calls = fanout.queue().calls.lock().expect("calls").clone();
    assert_eq!(calls.iter().sum::<usize>(), 12);
    assert!(calls.iter().all(|size| *size <= hookline_fanout::SEND_BATCH), "{calls:?}");
    // join_all starts the calls in order, so call 2 holds tasks 10 and 11: c's last two.
    assert_eq!(failures(&response), vec!["c".to_owned()]);
    assert_eq!(fanout.queue().inner.enqueued().len(), 10);
}

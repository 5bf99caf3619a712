//! The storage ports' contract, run against the DynamoDB adapter on a real moto server and
//! against the in-memory doubles, so the doubles that handler tests use behave like the real
//! thing.

use std::collections::BTreeMap;
use std::time::Duration;

use hookline_aws::DynamoStore;
use hookline_core::error::PortError;
use hookline_core::idempotency::{self, IdempotencyRecord, IdempotencyState, request_hash};
use hookline_core::ids::{ApiKeyId, AttemptId, EventId, SubscriptionId};
use hookline_core::memory::{
    MemoryApiKeyStore, MemoryAttemptLog, MemoryEventLog, MemoryIdempotencyStore, MemorySubscriptionStore,
};
use hookline_core::model::{
    ApiKey, Attempt, AttemptOutcome, Event, KeyOwner, Scope, SecretEntry, Subscription, TenantId,
};
use hookline_core::ports::{ApiKeyStore, AttemptLog, EventLog, IdempotencyStore, SubscriptionStore, TimeWindow};
use hookline_core::signing::WebhookSecret;
use hookline_testkit::TestAws;
use time::OffsetDateTime;

fn tenant(name: &str) -> TenantId {
    name.parse().expect("valid tenant")
}

fn subscription(tenant_name: &str) -> Subscription {
    let now = OffsetDateTime::now_utc();
    Subscription {
        id: SubscriptionId::generate(),
        tenant: tenant(tenant_name),
        url: "https://hooks.example.com/in".into(),
        event_types: vec!["client-management.*".into()],
        description: Some("ERP sync".into()),
        enabled: true,
        metadata: BTreeMap::from([("team".into(), "billing".into())]),
        secrets: vec![SecretEntry { secret: WebhookSecret::generate(), expires_at: None }],
        disabled: None,
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

fn event(tenant_name: &str, at: OffsetDateTime) -> Event {
    Event {
        // Ingest stamps the id and the timestamp from one clock reading.
        id: EventId::generate_at(at),
        tenant: tenant(tenant_name),
        event_type: "client-management.legalentity-deleted".into(),
        timestamp: at,
        // 1.0 must come back as 1.0, not 1: deliveries replay the exact payload.
        data: serde_json::json!({"tenant": tenant_name, "legalEntityId": "le-1", "ratio": 1.0, "big": 12345678901234567u64}),
    }
}

async fn subscription_contract(store: &impl SubscriptionStore) {
    let acme = tenant("acme");
    let first = subscription("acme");
    store.create(&first).await.expect("create");
    assert!(matches!(store.create(&first).await, Err(PortError::Conflict(_))), "a second create of one id conflicts");
    assert_eq!(store.get(&acme, &first.id).await.expect("get"), Some(first.clone()));
    assert_eq!(store.get(&tenant("globex"), &first.id).await.expect("get"), None, "tenants are isolated");

    let mut created = vec![first.clone()];
    for _ in 0..6 {
        let sub = subscription("acme");
        store.create(&sub).await.expect("create");
        created.push(sub);
    }
    store.create(&subscription("globex")).await.expect("create other tenant");

    // Pages of 3 over 7 subscriptions: 3 + 3 + 1, in creation order, no duplicates.
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = store.list(&acme, 3, cursor.as_deref()).await.expect("list");
        assert!(page.items.len() <= 3);
        pages += 1;
        seen.extend(page.items.into_iter().map(|s| s.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 10, "pagination must end");
    }
    let expected: Vec<_> = created.iter().map(|s| s.id.clone()).collect();
    assert_eq!(seen, expected);
    assert_eq!(store.list_all(&acme).await.expect("list_all").len(), 7);

    let mut changed = first.clone();
    changed.enabled = false;
    changed.version = 2;
    store.update(&changed).await.expect("update at the next version");
    assert_eq!(store.get(&acme, &first.id).await.expect("get"), Some(changed.clone()));
    let mut stale = first.clone();
    stale.description = Some("lost update".into());
    stale.version = 2;
    assert!(matches!(store.update(&stale).await, Err(PortError::Conflict(_))), "a stale version conflicts");

    assert!(!store.delete(&tenant("globex"), &first.id).await.expect("delete"), "another tenant cannot delete");
    assert!(store.delete(&acme, &first.id).await.expect("delete"));
    assert!(!store.delete(&acme, &first.id).await.expect("delete again"));
    assert_eq!(store.get(&acme, &first.id).await.expect("get"), None);
    let mut gone = changed;
    gone.version = 3;
    assert!(matches!(store.update(&gone).await, Err(PortError::Conflict(_))), "updating a deleted one conflicts");
}

async fn event_log_contract(log: &impl EventLog) {
    let start = OffsetDateTime::now_utc() - time::Duration::minutes(10);
    // 30 events, one second apart: more than one 25-item batch write.
    let events: Vec<Event> = (0..30).map(|i| event("acme", start + time::Duration::seconds(i))).collect();
    let stamped = events;
    log.append(&stamped).await.expect("append");
    log.append(&[event("globex", start)]).await.expect("append other tenant");

    for e in [&stamped[0], &stamped[29]] {
        assert_eq!(log.get(&tenant("acme"), &e.id).await.expect("get").as_ref(), Some(e), "payload comes back exact");
    }
    assert_eq!(log.get(&tenant("globex"), &stamped[0].id).await.expect("get"), None);

    // Window [10 s, 20 s) holds events 10..20, read in pages of 4.
    let window = TimeWindow { since: start + time::Duration::seconds(10), until: start + time::Duration::seconds(20) };
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = log.list(&tenant("acme"), window, 4, cursor.as_deref()).await.expect("list");
        seen.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, stamped[10..20].to_vec());
}

fn attempt(tenant_name: &str, subscription: &SubscriptionId, number: u32) -> Attempt {
    Attempt {
        id: AttemptId::generate(),
        tenant: tenant(tenant_name),
        subscription_id: subscription.clone(),
        event_id: EventId::generate(),
        event_type: "client-management.legalentity-created".into(),
        attempt: number,
        at: OffsetDateTime::now_utc(),
        duration_ms: 12,
        status: Some(500),
        error_kind: None,
        response_excerpt: Some("upstream down".into()),
        outcome: AttemptOutcome::RetryScheduled {
            next_attempt_at: OffsetDateTime::now_utc() + time::Duration::seconds(5),
        },
    }
}

async fn attempt_log_contract(log: &impl AttemptLog) {
    let sub = SubscriptionId::generate();
    let mut recorded = Vec::new();
    for n in 1..=5 {
        let a = attempt("acme", &sub, n);
        log.record(&a).await.expect("record");
        recorded.push(a);
    }
    log.record(&attempt("globex", &sub, 1)).await.expect("record other tenant");
    let first = log.list(&tenant("acme"), &sub, 2, None).await.expect("list");
    let numbers: Vec<u32> = first.items.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, vec![5, 4], "newest first");
    let mut all = first.items;
    let mut cursor = first.next_cursor;
    while let Some(next) = cursor {
        let page = log.list(&tenant("acme"), &sub, 2, Some(&next)).await.expect("list");
        all.extend(page.items);
        cursor = page.next_cursor;
    }
    recorded.reverse();
    assert_eq!(all, recorded);

    let key = EventId::generate().to_string();
    let replay_key = format!("{key}#rpl_01jd0000000000000000000000");
    assert!(!log.was_delivered(&tenant("acme"), &sub, &key).await.expect("check"));
    log.mark_delivered(&tenant("acme"), &sub, &key, OffsetDateTime::now_utc()).await.expect("mark");
    assert!(log.was_delivered(&tenant("acme"), &sub, &key).await.expect("check"));
    assert!(!log.was_delivered(&tenant("globex"), &sub, &key).await.expect("check"), "per tenant");
    assert!(!log.was_delivered(&tenant("acme"), &SubscriptionId::generate(), &key).await.expect("check"), "per sub");
    assert!(!log.was_delivered(&tenant("acme"), &sub, &replay_key).await.expect("check"), "a replay is its own");
    let listed = log.list(&tenant("acme"), &sub, 10, None).await.expect("list");
    assert_eq!(listed.items.len(), 5, "a delivered marker is not an attempt");
}

async fn idempotency_contract(store: &impl IdempotencyStore) {
    let acme: KeyOwner = "acme".parse().expect("owner");
    let globex: KeyOwner = "globex".parse().expect("owner");
    let now = OffsetDateTime::now_utc();
    let first =
        IdempotencyRecord::claim(acme.clone(), "order-1".into(), request_hash(b"{}"), vec![EventId::generate()], now);
    store.claim(&first).await.expect("claim");
    assert!(matches!(store.claim(&first).await, Err(PortError::Conflict(_))), "one claim per key");
    assert_eq!(store.get(&acme, "order-1").await.expect("get"), Some(first.clone()));
    assert_eq!(store.get(&globex, "order-1").await.expect("get"), None, "keys are per owner");
    let theirs = IdempotencyRecord { owner: globex.clone(), ..first.clone() };
    store.claim(&theirs).await.expect("another owner may use the same key");

    let done = first.next(IdempotencyState::Complete { status: 202, body: serde_json::json!({"id": "evt_x"}) });
    store.replace(&done).await.expect("replace");
    assert_eq!(store.get(&acme, "order-1").await.expect("get"), Some(done.clone()));
    assert!(matches!(store.replace(&done).await, Err(PortError::Conflict(_))), "a stale version loses");

    let old = now - idempotency::WINDOW - time::Duration::seconds(1);
    let stale = IdempotencyRecord::claim(acme.clone(), "order-2".into(), request_hash(b"[]"), Vec::new(), old);
    store.claim(&stale).await.expect("claim");
    assert_eq!(store.get(&acme, "order-2").await.expect("get"), None, "expired after the window");
    let fresh = IdempotencyRecord::claim(acme, "order-2".into(), request_hash(b"[]"), Vec::new(), now);
    store.claim(&fresh).await.expect("an expired key may be claimed again");
}

async fn api_key_contract(store: &impl ApiKeyStore) {
    let key = ApiKey {
        id: ApiKeyId::generate(),
        owner: KeyOwner::Tenant(tenant("acme")),
        scopes: vec![Scope::Manage, Scope::Publish],
        key_hash: "a".repeat(64),
        created_at: OffsetDateTime::now_utc(),
        revoked_at: None,
    };
    store.create(&key).await.expect("create");
    assert!(matches!(store.create(&key).await, Err(PortError::Conflict(_))));
    let platform =
        ApiKey { id: ApiKeyId::generate(), owner: KeyOwner::Platform, key_hash: "b".repeat(64), ..key.clone() };
    store.create(&platform).await.expect("create platform key");

    assert_eq!(store.find_by_hash(&key.key_hash).await.expect("find"), Some(key.clone()));
    assert_eq!(store.find_by_hash(&"c".repeat(64)).await.expect("find"), None);
    assert_eq!(store.list(&key.owner).await.expect("list"), vec![key.clone()]);
    assert_eq!(store.list(&KeyOwner::Platform).await.expect("list"), vec![platform]);

    let at = OffsetDateTime::now_utc().replace_nanosecond(0).expect("valid");
    assert!(store.revoke(&key.id, at).await.expect("revoke"));
    let revoked = store.find_by_hash(&key.key_hash).await.expect("find").expect("still stored");
    assert_eq!(revoked.revoked_at, Some(at));
    assert_eq!(store.list(&key.owner).await.expect("list")[0].revoked_at, Some(at), "listing shows the revocation");
    assert!(!store.revoke(&ApiKeyId::generate(), at).await.expect("revoke unknown"));
}

async fn dynamo() -> (TestAws, DynamoStore) {
    let aws = TestAws::start().await.expect("moto with hookline's resources");
    let store = DynamoStore::new(aws.dynamo(), &aws.resources.table, Duration::from_secs(30 * 86_400));
    (aws, store)
}

#[tokio::test]
async fn dynamo_subscriptions_keep_the_contract() {
    let (_aws, store) = dynamo().await;
    subscription_contract(&store).await;
}

#[tokio::test]
async fn dynamo_event_log_keeps_the_contract() {
    let (_aws, store) = dynamo().await;
    event_log_contract(&store).await;
}

#[tokio::test]
async fn dynamo_attempt_log_keeps_the_contract() {
    let (_aws, store) = dynamo().await;
    attempt_log_contract(&store).await;
}

#[tokio::test]
async fn dynamo_api_keys_keep_the_contract() {
    let (_aws, store) = dynamo().await;
    api_key_contract(&store).await;
}

#[tokio::test]
async fn dynamo_idempotency_keeps_the_contract() {
    let (_aws, store) = dynamo().await;
    idempotency_contract(&store).await;
}

#[tokio::test]
async fn memory_doubles_keep_the_same_contract() {
    subscription_contract(&MemorySubscriptionStore::default()).await;
    event_log_contract(&MemoryEventLog::default()).await;
    attempt_log_contract(&MemoryAttemptLog::default()).await;
    api_key_contract(&MemoryApiKeyStore::default()).await;
    idempotency_contract(&MemoryIdempotencyStore::default()).await;
}

#[tokio::test]
async fn a_forged_cursor_is_refused_not_followed() {
    let (_aws, store) = dynamo().await;
    let acme = tenant("acme");
    SubscriptionStore::create(&store, &subscription("globex")).await.expect("create");
    use base64::Engine;
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("T#globex");
    let err = SubscriptionStore::list(&store, &acme, 10, Some(&forged)).await.expect_err("refused");
    assert!(matches!(err, PortError::Invalid(_)), "{err}");
    let page = SubscriptionStore::list(
        &store,
        &acme,
        10,
        Some(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("SUB#")),
    )
    .await
    .expect("list");
    assert!(page.items.is_empty(), "a cursor never leaves the caller's partition");
}

#[tokio::test]
async fn expired_records_are_not_read_back_even_before_dynamodb_deletes_them() {
    let aws = TestAws::start().await.expect("moto");
    // Zero retention: every event is expired the moment it is written; moto never deletes.
    let store = DynamoStore::new(aws.dynamo(), &aws.resources.table, Duration::ZERO);
    let old = event("acme", OffsetDateTime::now_utc() - time::Duration::minutes(1));
    store.append(std::slice::from_ref(&old)).await.expect("append");
    assert_eq!(EventLog::get(&store, &tenant("acme"), &old.id).await.expect("get"), None);
    let window = TimeWindow { since: old.timestamp - time::Duration::hours(1), until: OffsetDateTime::now_utc() };
    assert!(EventLog::list(&store, &tenant("acme"), window, 10, None).await.expect("list").items.is_empty());
}

#[tokio::test]
async fn an_unreachable_dynamodb_is_reported_as_retryable() {
    let (mut aws, store) = dynamo().await;
    aws.moto.stop();
    let err = store.append(&[event("acme", OffsetDateTime::now_utc())]).await.expect_err("moto is down");
    assert!(err.is_retryable(), "{err}");
}

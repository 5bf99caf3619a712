use std::collections::BTreeSet;

use hookline_core::error::PortError;
use hookline_core::ids::SubscriptionId;
use hookline_core::memory::{MemoryAttemptLog, MemoryDeliveryQueue, MemoryEventLog, MemorySubscriptionStore};
use hookline_core::model::{DisabledReason, Subscription, TenantId};
use hookline_core::ports::{Page, SubscriptionStore};
use hookline_subscriptions::{Subscriptions, SubscriptionsConfig};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use time::OffsetDateTime;

use crate::support::*;

fn tenant(name: &str) -> TenantId {
    name.parse().expect("tenant")
}

async fn stored(handler: &Handler, id: &str) -> Subscription {
    let id: SubscriptionId = id.parse().expect("id");
    handler.store().get(&tenant("acme"), &id).await.expect("store").expect("stored")
}

#[tokio::test]
async fn create_get_patch_list_delete() {
    let handler = handler();
    let created = create(
        &handler,
        ACME,
        json!({
            "url": "https://93.184.216.34/hooks/in",
            "eventTypes": ["client-management.*"],
            "description": "CRM sync",
            "metadata": {"team": "crm"}
        }),
    )
    .await;
    let id = id_of(&created);
    assert!(id.starts_with("sub_"), "{id}");
    assert_eq!(created["url"], "https://93.184.216.34/hooks/in");
    assert_eq!(created["eventTypes"], json!(["client-management.*"]));
    assert_eq!(created["description"], "CRM sync");
    assert_eq!(created["enabled"], true);
    assert_eq!(created["metadata"], json!({"team": "crm"}));
    assert_eq!(created["disabled"], json!(null));
    assert!(created["secret"].as_str().is_some_and(|s| s.starts_with("whsec_")));
    let created_at = OffsetDateTime::parse(
        created["createdAt"].as_str().expect("createdAt"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("rfc3339");
    assert_eq!(created["createdAt"], created["updatedAt"]);

    // The tenant comes from the key, and the subscription is stored under it.
    let record = stored(&handler, &id).await;
    assert_eq!(record.tenant, tenant("acme"));
    assert_eq!(record.version, 1);
    assert_eq!(record.secrets.len(), 1);
    assert_eq!(record.created_at, created_at);

    let fetched = call("GET", ITEM).id(&id).send(&handler).await;
    assert_eq!(fetched.status, 200);
    let mut expected = created.clone();
    expected.as_object_mut().expect("object").remove("secret");
    assert_eq!(fetched.body, expected);

    let patched = call("PATCH", ITEM)
        .id(&id)
        .json(json!({
            "eventTypes": [CREATED, "client-management.legalentity-deleted"],
            "description": null,
            "enabled": false,
            "metadata": {"team": "billing", "env": "prod"}
        }))
        .send(&handler)
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(patched.body["id"], id.as_str());
    assert_eq!(patched.body["url"], "https://93.184.216.34/hooks/in", "fields not in the patch stay");
    assert_eq!(patched.body["eventTypes"], json!([CREATED, "client-management.legalentity-deleted"]));
    assert_eq!(patched.body["description"], json!(null));
    assert_eq!(patched.body["enabled"], false);
    assert_eq!(patched.body["metadata"], json!({"env": "prod", "team": "billing"}));
    assert_eq!(patched.body["createdAt"], created["createdAt"]);
    assert!(patched.body.get("secret").is_none());
    assert_eq!(stored(&handler, &id).await.version, 2);

    let patched = call("PATCH", ITEM).id(&id).json(json!({"url": "https://93.184.216.35/v2"})).send(&handler).await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(patched.body["url"], "https://93.184.216.35/v2");
    assert_eq!(patched.body["enabled"], false);
    assert_eq!(stored(&handler, &id).await.version, 3);

    let listed = call("GET", COLLECTION).send(&handler).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["items"], json!([patched.body]));
    assert_eq!(listed.body["nextCursor"], json!(null));

    let deleted = call("DELETE", ITEM).id(&id).send(&handler).await;
    assert_eq!(deleted.status, 204);
    assert!(deleted.raw.is_empty(), "204 has no body");
    assert_eq!(call("GET", ITEM).id(&id).send(&handler).await.status, 404);
    assert_eq!(call("DELETE", ITEM).id(&id).send(&handler).await.status, 404);
    assert_eq!(call("PATCH", ITEM).id(&id).json(json!({"enabled": true})).send(&handler).await.status, 404);
    let listed = call("GET", COLLECTION).send(&handler).await;
    assert_eq!(listed.body["items"], json!([]));
}

#[tokio::test]
async fn enabled_defaults_to_true_and_can_be_false_at_creation() {
    let handler = handler();
    let off =
        create(&handler, ACME, json!({"url": "https://93.184.216.34/", "eventTypes": ["*"], "enabled": false})).await;
    assert_eq!(off["enabled"], false);
    let on = create(&handler, ACME, new_subscription("on")).await;
    assert_eq!(on["enabled"], true);
}

#[tokio::test]
async fn enabling_again_clears_why_hookline_disabled_it() {
    let handler = handler();
    let id = id_of(&create(&handler, ACME, new_subscription("gone")).await);
    let mut record = stored(&handler, &id).await;
    let at = OffsetDateTime::now_utc();
    record.enabled = false;
    record.disabled = Some(DisabledReason { reason: "the endpoint answered 410 Gone".into(), at });
    record.version += 1;
    handler.store().update(&record).await.expect("update");

    let fetched = call("GET", ITEM).id(&id).send(&handler).await;
    assert_eq!(fetched.body["enabled"], false);
    assert_eq!(fetched.body["disabled"]["reason"], "the endpoint answered 410 Gone");
    assert!(fetched.body["disabled"]["at"].is_string());

    // Changing something else leaves the reason in place.
    let patched = call("PATCH", ITEM).id(&id).json(json!({"description": "x"})).send(&handler).await;
    assert_eq!(patched.body["disabled"]["reason"], "the endpoint answered 410 Gone");

    let patched = call("PATCH", ITEM).id(&id).json(json!({"enabled": true})).send(&handler).await;
    assert_eq!(patched.status, 200);
    assert_eq!(patched.body["enabled"], true);
    assert_eq!(patched.body["disabled"], json!(null));
    assert_eq!(stored(&handler, &id).await.disabled, None);
}

#[tokio::test]
async fn an_empty_patch_changes_nothing() {
    let handler = handler();
    let created = create(&handler, ACME, new_subscription("same")).await;
    let id = id_of(&created);
    let patched = call("PATCH", ITEM).id(&id).json(json!({})).send(&handler).await;
    assert_eq!(patched.status, 200);
    assert_eq!(patched.body["updatedAt"], created["updatedAt"]);
    assert_eq!(stored(&handler, &id).await.version, 1);
}

#[tokio::test]
async fn five_subscriptions_page_by_two() {
    let handler = handler();
    let mut created = Vec::new();
    for n in 0..5 {
        created.push(id_of(&create(&handler, ACME, new_subscription(&format!("s{n}"))).await));
    }
    // Another tenant's subscriptions never show up.
    create(&handler, GLOBEX, new_subscription("other")).await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let mut list = call("GET", COLLECTION).query("limit", "2");
        if let Some(cursor) = &cursor {
            list = list.query("cursor", cursor.clone());
        }
        let page = list.send(&handler).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        let items = page.body["items"].as_array().expect("items").clone();
        pages.push(items.len());
        seen.extend(items.iter().map(id_of));
        assert!(items.iter().all(|item| item.get("secret").is_none()));
        match page.body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages.len() < 10, "paging does not end");
    }
    assert_eq!(pages, [2, 2, 1]);
    assert_eq!(seen, created, "oldest first, each once");

    let all = call("GET", COLLECTION).send(&handler).await;
    assert_eq!(all.body["items"].as_array().map(Vec::len), Some(5), "default limit 20");
    assert_eq!(all.body["nextCursor"], json!(null));
    let one = call("GET", COLLECTION).query("limit", "100").send(&handler).await;
    assert_eq!(one.status, 200);
}

#[tokio::test]
async fn a_bad_limit_is_a_400_naming_limit() {
    let handler = handler();
    let id = id_of(&create(&handler, ACME, new_subscription("l")).await);
    for limit in ["0", "101", "-1", "ten", "", "2.5"] {
        for resource in [COLLECTION, ATTEMPTS] {
            let answer = call("GET", resource).id(&id).query("limit", limit).send(&handler).await;
            assert_eq!((answer.status, answer.field()), (400, Some("limit")), "{resource} limit={limit:?}");
        }
    }
}

/// A store that refuses every cursor and can lose every write race.
#[derive(Debug, Default)]
struct Awkward {
    inner: MemorySubscriptionStore,
    conflicts_left: AtomicUsize,
    updates: AtomicUsize,
}

impl SubscriptionStore for Awkward {
    async fn create(&self, subscription: &Subscription) -> Result<(), PortError> {
        self.inner.create(subscription).await
    }

    async fn get(&self, tenant: &TenantId, id: &SubscriptionId) -> Result<Option<Subscription>, PortError> {
        self.inner.get(tenant, id).await
    }

    async fn list(
        &self,
        tenant: &TenantId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Subscription>, PortError> {
        match cursor {
            Some(_) => Err(PortError::Invalid("the cursor is not one this API handed out".into())),
            None => self.inner.list(tenant, limit, None).await,
        }
    }

    async fn list_all(&self, tenant: &TenantId) -> Result<Vec<Subscription>, PortError> {
        self.inner.list_all(tenant).await
    }

    async fn update(&self, subscription: &Subscription) -> Result<(), PortError> {
        self.updates.fetch_add(1, Ordering::SeqCst);
        let lose = self.conflicts_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if lose {
            return Err(PortError::Conflict("changed meanwhile".into()));
        }
        self.inner.update(subscription).await
    }

    async fn delete(&self, tenant: &TenantId, id: &SubscriptionId) -> Result<bool, PortError> {
        self.inner.delete(tenant, id).await
    }
}

fn awkward(conflicts: usize) -> Subscriptions<Awkward, MemoryAttemptLog, MemoryEventLog, MemoryDeliveryQueue> {
    let store = Awkward { conflicts_left: AtomicUsize::new(conflicts), ..Awkward::default() };
    Subscriptions::new(
        store,
        MemoryAttemptLog::default(),
        MemoryEventLog::default(),
        MemoryDeliveryQueue::default(),
        SubscriptionsConfig::default(),
    )
}

#[tokio::test]
async fn a_cursor_the_store_refuses_is_a_400_naming_cursor() {
    let handler = awkward(0);
    let answer = call("GET", COLLECTION).query("cursor", "forged").send(&handler).await;
    assert_eq!((answer.status, answer.field(), answer.code()), (400, Some("cursor"), Some("invalid_cursor")));
}

#[tokio::test]
async fn a_lost_write_race_is_retried_from_a_fresh_read() {
    let handler = awkward(2);
    let created = call("POST", COLLECTION).json(new_subscription("race")).send(&handler).await;
    let id = id_of(&created.body);
    let patched = call("PATCH", ITEM).id(&id).json(json!({"description": "third time lucky"})).send(&handler).await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    assert_eq!(handler.store().updates.load(Ordering::SeqCst), 3);
    let stored = handler.store().get(&tenant("acme"), &id.parse().expect("id")).await.expect("get").expect("found");
    assert_eq!(stored.description.as_deref(), Some("third time lucky"));
    assert_eq!(stored.version, 2, "one successful write");
}

#[tokio::test]
async fn a_write_race_lost_every_time_is_a_409() {
    let handler = awkward(usize::MAX);
    let created = call("POST", COLLECTION).json(new_subscription("race")).send(&handler).await;
    let id = id_of(&created.body);
    let patched = call("PATCH", ITEM).id(&id).json(json!({"description": "never"})).send(&handler).await;
    assert_eq!((patched.status, patched.code()), (409, Some("conflict")));
    assert_eq!(handler.store().updates.load(Ordering::SeqCst), 4, "one try and three retries");
    let rotated = call("POST", ROTATE).id(&id).send(&handler).await;
    assert_eq!(rotated.status, 409);
}

#[tokio::test]
async fn an_unreachable_store_is_a_503() {
    let handler = handler();
    let id = id_of(&create(&handler, ACME, new_subscription("down")).await);
    handler.store().outage.set(true);
    for request in [
        call("GET", COLLECTION),
        call("POST", COLLECTION).json(new_subscription("x")),
        call("GET", ITEM).id(&id),
        call("PATCH", ITEM).id(&id).json(json!({"enabled": false})),
        call("DELETE", ITEM).id(&id),
        call("POST", ROTATE).id(&id),
    ] {
        let answer = request.send(&handler).await;
        assert_eq!((answer.status, answer.code()), (503, Some("unavailable")), "{request:?}");
    }
    handler.store().outage.set(false);
    let ids: BTreeSet<String> =
        handler.store().list_all(&tenant("acme")).await.expect("list").iter().map(|s| s.id.to_string()).collect();
    assert_eq!(ids, BTreeSet::from([id]), "nothing was created or deleted during the outage");
}

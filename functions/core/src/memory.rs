//! In-memory implementations of every port, for unit tests of the core and the handlers.
//!
//! Behind the `test-doubles` feature, which only dev-dependencies enable, so none of this ships.
//! Each adapter can be switched into an outage to test what handlers do when AWS is unreachable.
//! End-to-end tests use the real SQS and DynamoDB adapters against moto instead.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use time::OffsetDateTime;

use crate::error::PortError;
use crate::idempotency::IdempotencyRecord;
use crate::ids::{ApiKeyId, EventId, SubscriptionId};
use crate::model::{ApiKey, Attempt, DeadLetter, Event, KeyOwner, Subscription, TenantId};
use crate::ports::{
    ApiKeyStore, AttemptLog, DeadLetterQueue, DeliveryQueue, EventLog, EventQueue, IdempotencyStore, Page,
    ScheduledTask, SubscriptionStore, TimeWindow,
};

/// A switch that makes an adapter answer `Unavailable`, as if AWS could not be reached.
#[derive(Debug, Default)]
pub struct Outage(AtomicBool);

impl Outage {
    pub fn set(&self, down: bool) {
        self.0.store(down, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), PortError> {
        if self.0.load(Ordering::SeqCst) { Err(PortError::Unavailable("simulated outage".into())) } else { Ok(()) }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking test thread must not hide the state from the assertions that follow.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Pages over a sorted map by key: the cursor is the last key returned.
fn page_of<T: Clone>(rows: impl Iterator<Item = (String, T)>, limit: usize, cursor: Option<&str>) -> Page<T> {
    let limit = limit.max(1);
    let mut items = Vec::new();
    let mut last = None;
    let mut more = false;
    for (key, value) in rows.filter(|(key, _)| cursor.is_none_or(|after| key.as_str() > after)) {
        if items.len() == limit {
            more = true;
            break;
        }
        last = Some(key);
        items.push(value);
    }
    Page { items, next_cursor: if more { last } else { None } }
}

/// Records what was enqueued, in order.
#[derive(Debug, Default)]
pub struct MemoryEventQueue {
    pub outage: Outage,
    events: Mutex<Vec<Event>>,
}

impl MemoryEventQueue {
    pub fn enqueued(&self) -> Vec<Event> {
        lock(&self.events).clone()
    }
}

impl EventQueue for MemoryEventQueue {
    async fn enqueue(&self, events: &[Event]) -> Result<(), PortError> {
        self.outage.check()?;
        lock(&self.events).extend_from_slice(events);
        Ok(())
    }
}

/// Records what was enqueued, in order.
#[derive(Debug, Default)]
pub struct MemoryDeliveryQueue {
    pub outage: Outage,
    tasks: Mutex<Vec<ScheduledTask>>,
}

impl MemoryDeliveryQueue {
    pub fn enqueued(&self) -> Vec<ScheduledTask> {
        lock(&self.tasks).clone()
    }

    pub fn take(&self) -> Vec<ScheduledTask> {
        std::mem::take(&mut *lock(&self.tasks))
    }
}

impl DeliveryQueue for MemoryDeliveryQueue {
    async fn enqueue(&self, tasks: &[ScheduledTask]) -> Result<(), PortError> {
        self.outage.check()?;
        lock(&self.tasks).extend_from_slice(tasks);
        Ok(())
    }
}

/// Records what was dead-lettered, in order.
#[derive(Debug, Default)]
pub struct MemoryDeadLetterQueue {
    pub outage: Outage,
    letters: Mutex<Vec<DeadLetter>>,
}

impl MemoryDeadLetterQueue {
    pub fn letters(&self) -> Vec<DeadLetter> {
        lock(&self.letters).clone()
    }
}

impl DeadLetterQueue for MemoryDeadLetterQueue {
    async fn send(&self, letter: &DeadLetter) -> Result<(), PortError> {
        self.outage.check()?;
        lock(&self.letters).push(letter.clone());
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct MemorySubscriptionStore {
    pub outage: Outage,
    rows: Mutex<BTreeMap<(TenantId, String), Subscription>>,
}

impl SubscriptionStore for MemorySubscriptionStore {
    async fn create(&self, subscription: &Subscription) -> Result<(), PortError> {
        self.outage.check()?;
        let key = (subscription.tenant.clone(), subscription.id.to_string());
        let mut rows = lock(&self.rows);
        if rows.contains_key(&key) {
            return Err(PortError::Conflict(format!("subscription {} exists", subscription.id)));
        }
        rows.insert(key, subscription.clone());
        Ok(())
    }

    async fn get(&self, tenant: &TenantId, id: &SubscriptionId) -> Result<Option<Subscription>, PortError> {
        self.outage.check()?;
        Ok(lock(&self.rows).get(&(tenant.clone(), id.to_string())).cloned())
    }

    async fn list(
        &self,
        tenant: &TenantId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Subscription>, PortError> {
        self.outage.check()?;
        let rows = lock(&self.rows);
        let own = rows.iter().filter(|((t, _), _)| t == tenant).map(|((_, id), sub)| (id.clone(), sub.clone()));
        Ok(page_of(own, limit, cursor))
    }

    async fn list_all(&self, tenant: &TenantId) -> Result<Vec<Subscription>, PortError> {
        self.outage.check()?;
        Ok(lock(&self.rows).iter().filter(|((t, _), _)| t == tenant).map(|(_, sub)| sub.clone()).collect())
    }

    async fn update(&self, subscription: &Subscription) -> Result<(), PortError> {
        self.outage.check()?;
        let key = (subscription.tenant.clone(), subscription.id.to_string());
        let mut rows = lock(&self.rows);
        match rows.get(&key) {
            Some(stored) if stored.version + 1 == subscription.version => {
                rows.insert(key, subscription.clone());
                Ok(())
            }
            _ => Err(PortError::Conflict(format!("subscription {} changed or is gone", subscription.id))),
        }
    }

    async fn delete(&self, tenant: &TenantId, id: &SubscriptionId) -> Result<bool, PortError> {
        self.outage.check()?;
        Ok(lock(&self.rows).remove(&(tenant.clone(), id.to_string())).is_some())
    }
}

#[derive(Debug, Default)]
pub struct MemoryEventLog {
    pub outage: Outage,
    rows: Mutex<BTreeMap<(TenantId, EventId), Event>>,
}

impl MemoryEventLog {
    pub fn all(&self) -> Vec<Event> {
        lock(&self.rows).values().cloned().collect()
    }
}

impl EventLog for MemoryEventLog {
    async fn append(&self, events: &[Event]) -> Result<(), PortError> {
        self.outage.check()?;
        let mut rows = lock(&self.rows);
        for event in events {
            rows.insert((event.tenant.clone(), event.id.clone()), event.clone());
        }
        Ok(())
    }

    async fn get(&self, tenant: &TenantId, id: &EventId) -> Result<Option<Event>, PortError> {
        self.outage.check()?;
        Ok(lock(&self.rows).get(&(tenant.clone(), id.clone())).cloned())
    }

    async fn list(
        &self,
        tenant: &TenantId,
        window: TimeWindow,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Event>, PortError> {
        self.outage.check()?;
        let rows = lock(&self.rows);
        let own = rows
            .iter()
            .filter(|((t, _), event)| t == tenant && event.timestamp >= window.since && event.timestamp < window.until)
            .map(|((_, id), event)| (id.to_string(), event.clone()));
        Ok(page_of(own, limit, cursor))
    }
}

#[derive(Debug, Default)]
pub struct MemoryAttemptLog {
    pub outage: Outage,
    /// Fails only [`AttemptLog::record`]: the attempt is made but cannot be written down.
    pub record_outage: Outage,
    rows: Mutex<Vec<Attempt>>,
    delivered: Mutex<BTreeSet<(TenantId, SubscriptionId, String)>>,
}

impl MemoryAttemptLog {
    pub fn all(&self) -> Vec<Attempt> {
        lock(&self.rows).clone()
    }
}

impl AttemptLog for MemoryAttemptLog {
    async fn record(&self, attempt: &Attempt) -> Result<(), PortError> {
        self.outage.check()?;
        self.record_outage.check()?;
        lock(&self.rows).push(attempt.clone());
        Ok(())
    }

    async fn list(
        &self,
        tenant: &TenantId,
        subscription: &SubscriptionId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Attempt>, PortError> {
        self.outage.check()?;
        let rows = lock(&self.rows);
        // Newest first: order by the inverted id so the cursor comparison stays "greater than".
        let mut own: Vec<(String, Attempt)> = rows
            .iter()
            .filter(|a| &a.tenant == tenant && &a.subscription_id == subscription)
            .map(|a| (invert(a.id.as_str()), a.clone()))
            .collect();
        own.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(page_of(own.into_iter(), limit, cursor))
    }

    async fn mark_delivered(
        &self,
        tenant: &TenantId,
        subscription: &SubscriptionId,
        delivery_key: &str,
        _at: OffsetDateTime,
    ) -> Result<(), PortError> {
        self.outage.check()?;
        lock(&self.delivered).insert((tenant.clone(), subscription.clone(), delivery_key.to_owned()));
        Ok(())
    }

    async fn was_delivered(
        &self,
        tenant: &TenantId,
        subscription: &SubscriptionId,
        delivery_key: &str,
    ) -> Result<bool, PortError> {
        self.outage.check()?;
        Ok(lock(&self.delivered).contains(&(tenant.clone(), subscription.clone(), delivery_key.to_owned())))
    }
}

/// Maps each byte to its complement so that ascending order of the result is descending order
/// of the input.
fn invert(key: &str) -> String {
    key.bytes().map(|b| format!("{:02x}", 255 - b)).collect()
}

#[derive(Debug, Default)]
pub struct MemoryApiKeyStore {
    pub outage: Outage,
    rows: Mutex<BTreeMap<String, ApiKey>>,
}

impl ApiKeyStore for MemoryApiKeyStore {
    async fn create(&self, key: &ApiKey) -> Result<(), PortError> {
        self.outage.check()?;
        let mut rows = lock(&self.rows);
        if rows.values().any(|k| k.id == key.id || k.key_hash == key.key_hash) {
            return Err(PortError::Conflict(format!("API key {} exists", key.id)));
        }
        rows.insert(key.id.to_string(), key.clone());
        Ok(())
    }

    async fn find_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>, PortError> {
        self.outage.check()?;
        Ok(lock(&self.rows).values().find(|k| k.key_hash == key_hash).cloned())
    }

    async fn list(&self, owner: &KeyOwner) -> Result<Vec<ApiKey>, PortError> {
        self.outage.check()?;
        Ok(lock(&self.rows).values().filter(|k| &k.owner == owner).cloned().collect())
    }

    async fn revoke(&self, id: &ApiKeyId, at: OffsetDateTime) -> Result<bool, PortError> {
        self.outage.check()?;
        match lock(&self.rows).get_mut(id.as_str()) {
            Some(key) => {
                key.revoked_at.get_or_insert(at);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[derive(Debug, Default)]
pub struct MemoryIdempotencyStore {
    pub outage: Outage,
    rows: Mutex<BTreeMap<(String, String), IdempotencyRecord>>,
}

impl MemoryIdempotencyStore {
    fn live(record: &IdempotencyRecord) -> bool {
        record.expires_at() > OffsetDateTime::now_utc()
    }
}

impl IdempotencyStore for MemoryIdempotencyStore {
    async fn claim(&self, record: &IdempotencyRecord) -> Result<(), PortError> {
        self.outage.check()?;
        let mut rows = lock(&self.rows);
        let key = (record.owner.as_str().to_owned(), record.key.clone());
        if rows.get(&key).is_some_and(Self::live) {
            return Err(PortError::Conflict(format!("idempotency key {} is taken", record.key)));
        }
        rows.insert(key, record.clone());
        Ok(())
    }

    async fn get(&self, owner: &KeyOwner, key: &str) -> Result<Option<IdempotencyRecord>, PortError> {
        self.outage.check()?;
        let rows = lock(&self.rows);
        Ok(rows.get(&(owner.as_str().to_owned(), key.to_owned())).filter(|r| Self::live(r)).cloned())
    }

    async fn replace(&self, record: &IdempotencyRecord) -> Result<(), PortError> {
        self.outage.check()?;
        let mut rows = lock(&self.rows);
        let key = (record.owner.as_str().to_owned(), record.key.clone());
        match rows.get_mut(&key) {
            Some(stored) if stored.version + 1 == record.version => {
                *stored = record.clone();
                Ok(())
            }
            _ => Err(PortError::Conflict(format!("idempotency key {} changed meanwhile", record.key))),
        }
    }
}

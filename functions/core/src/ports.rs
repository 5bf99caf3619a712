//! The narrow capabilities the handlers need from the outside world.
//!
//! Each trait is one capability (a queue, a store, a log). `hookline-aws` implements them with
//! SQS and DynamoDB; `crate::memory` implements them in memory for unit tests. Handlers are
//! generic over these traits (static dispatch), and no SDK type crosses them.
//!
//! Pagination cursors are opaque strings minted by the adapter. An adapter only ever combines a
//! cursor with the caller's own tenant, so a forged cursor cannot reach another tenant's rows.

use std::future::Future;
use std::time::Duration;

use time::OffsetDateTime;

use crate::error::PortError;
use crate::idempotency::IdempotencyRecord;
use crate::ids::{ApiKeyId, EventId, SubscriptionId};
use crate::model::{ApiKey, Attempt, DeadLetter, DeliveryTask, Event, KeyOwner, Subscription, TenantId};

/// One page of a listing, and the cursor of the next page if there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A delivery task and how long the queue should hold it before handing it out.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledTask {
    pub task: DeliveryTask,
    pub delay: Duration,
}

impl ScheduledTask {
    pub fn now(task: DeliveryTask) -> Self {
        Self { task, delay: Duration::ZERO }
    }
}

/// The queue between ingest and fan-out.
pub trait EventQueue: Send + Sync {
    /// Enqueue every event durably. `Ok` means all of them are enqueued; on `Err` some may be.
    fn enqueue(&self, events: &[Event]) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// The queue between fan-out and delivery.
pub trait DeliveryQueue: Send + Sync {
    /// Enqueue every task durably, each after its delay. `Ok` means all of them are enqueued.
    fn enqueue(&self, tasks: &[ScheduledTask]) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Where delivery tasks go when their retry schedule is spent.
pub trait DeadLetterQueue: Send + Sync {
    fn send(&self, letter: &DeadLetter) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Tenants' subscriptions.
pub trait SubscriptionStore: Send + Sync {
    /// Store a new subscription; `Conflict` if its id exists already.
    fn create(&self, subscription: &Subscription) -> impl Future<Output = Result<(), PortError>> + Send;

    fn get(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
    ) -> impl Future<Output = Result<Option<Subscription>, PortError>> + Send;

    /// One page of the tenant's subscriptions, oldest first.
    fn list(
        &self,
        tenant: &TenantId,
        limit: usize,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<Page<Subscription>, PortError>> + Send;

    /// Every subscription of the tenant (fan-out reads them all).
    fn list_all(&self, tenant: &TenantId) -> impl Future<Output = Result<Vec<Subscription>, PortError>> + Send;

    /// Replace a subscription whose stored version is `subscription.version - 1`; `Conflict`
    /// if it changed meanwhile or no longer exists.
    fn update(&self, subscription: &Subscription) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Delete it; `false` if there was nothing to delete.
    fn delete(&self, tenant: &TenantId, id: &SubscriptionId) -> impl Future<Output = Result<bool, PortError>> + Send;
}

/// A closed-open time window over the event log: `since <= t < until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    pub since: OffsetDateTime,
    pub until: OffsetDateTime,
}

/// Every accepted event, kept for replay until its retention runs out.
pub trait EventLog: Send + Sync {
    /// Store every event. `Ok` means all of them are stored.
    fn append(&self, events: &[Event]) -> impl Future<Output = Result<(), PortError>> + Send;

    fn get(&self, tenant: &TenantId, id: &EventId) -> impl Future<Output = Result<Option<Event>, PortError>> + Send;

    /// One page of the tenant's events inside the window, oldest first.
    fn list(
        &self,
        tenant: &TenantId,
        window: TimeWindow,
        limit: usize,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<Page<Event>, PortError>> + Send;
}

/// Every delivery attempt, kept until its retention runs out.
pub trait AttemptLog: Send + Sync {
    fn record(&self, attempt: &Attempt) -> impl Future<Output = Result<(), PortError>> + Send;

    /// One page of a subscription's attempts, newest first.
    fn list(
        &self,
        tenant: &TenantId,
        subscription: &SubscriptionId,
        limit: usize,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<Page<Attempt>, PortError>> + Send;

    /// Remembers that the task with this [`DeliveryTask::delivery_key`] was delivered to the
    /// subscription (kept as long as attempts are).
    fn mark_delivered(
        &self,
        tenant: &TenantId,
        subscription: &SubscriptionId,
        delivery_key: &str,
        at: OffsetDateTime,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Whether [`AttemptLog::mark_delivered`] was called for it.
    fn was_delivered(
        &self,
        tenant: &TenantId,
        subscription: &SubscriptionId,
        delivery_key: &str,
    ) -> impl Future<Output = Result<bool, PortError>> + Send;
}

/// API keys, found by the SHA-256 of the presented key.
pub trait ApiKeyStore: Send + Sync {
    /// Store a new key; `Conflict` if its id or hash exists already.
    fn create(&self, key: &ApiKey) -> impl Future<Output = Result<(), PortError>> + Send;

    fn find_by_hash(&self, key_hash: &str) -> impl Future<Output = Result<Option<ApiKey>, PortError>> + Send;

    /// Every key of an owner, revoked ones included, oldest first.
    fn list(&self, owner: &KeyOwner) -> impl Future<Output = Result<Vec<ApiKey>, PortError>> + Send;

    /// Mark a key revoked; `false` if no such key exists.
    fn revoke(&self, id: &ApiKeyId, at: OffsetDateTime) -> impl Future<Output = Result<bool, PortError>> + Send;
}

/// Remembered publishes, by the owner of the API key and the `Idempotency-Key` they sent.
pub trait IdempotencyStore: Send + Sync {
    /// Store a new record; `Conflict` if a record for its owner and key exists and has not
    /// expired.
    fn claim(&self, record: &IdempotencyRecord) -> impl Future<Output = Result<(), PortError>> + Send;

    /// The record for the owner and key, unless there is none or it expired.
    fn get(
        &self,
        owner: &KeyOwner,
        key: &str,
    ) -> impl Future<Output = Result<Option<IdempotencyRecord>, PortError>> + Send;

    /// Replace the record whose stored version is `record.version - 1`; `Conflict` if another
    /// request replaced it first.
    fn replace(&self, record: &IdempotencyRecord) -> impl Future<Output = Result<(), PortError>> + Send;
}

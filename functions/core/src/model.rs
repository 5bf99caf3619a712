//! The records hookline keeps and passes between its functions.
//!
//! These types are what the ports store and the queues carry. Queue payloads are versioned,
//! tagged enums ([`EventMessage`], [`DeliveryMessage`]) so a message written by one release can
//! be read — or refused with a clear reason — by the next.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use time::OffsetDateTime;

use crate::ids::{ApiKeyId, AttemptId, EventId, ReplayId, SubscriptionId};
use crate::signing::WebhookSecret;

/// A tenant of the platform, as named by producers in `data.tenant`.
///
/// Tenant names become part of storage keys, so they are limited to 1–128 characters from
/// `[A-Za-z0-9._:-]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tenant must be 1 to 128 characters from A-Z, a-z, 0-9, '.', '_', ':' and '-'")]
pub struct InvalidTenant;

impl TenantId {
    pub const MAX_LEN: usize = 128;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TenantId {
    type Err = InvalidTenant;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let valid = !value.is_empty()
            && value.len() <= Self::MAX_LEN
            && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
        if valid { Ok(Self(value.to_owned())) } else { Err(InvalidTenant) }
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for TenantId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// One accepted event: validated against the catalogue, stamped with an id and a time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: EventId,
    pub tenant: TenantId,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    pub data: Value,
}

/// What the events queue carries. Tagged and versioned: add a variant, never change one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum EventMessage {
    #[serde(rename = "event.v1")]
    V1(Event),
}

/// A signing secret of a subscription, with the time it stops being used after a rotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretEntry {
    #[serde(with = "secret_text")]
    pub secret: WebhookSecret,
    /// `None` for the current secret; set on a rotated-out secret, which keeps signing until then.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

mod secret_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::signing::WebhookSecret;

    pub fn serialize<S: Serializer>(secret: &WebhookSecret, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&secret.to_whsec())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<WebhookSecret, D::Error> {
        WebhookSecret::parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// Why a subscription stopped receiving deliveries without its owner turning it off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DisabledReason {
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// A tenant's endpoint and the event types it wants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub tenant: TenantId,
    pub url: String,
    pub event_types: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub enabled: bool,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Current secret first; rotated-out secrets follow until they expire.
    pub secrets: Vec<SecretEntry>,
    #[serde(default)]
    pub disabled: Option<DisabledReason>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Optimistic-locking version, bumped by every update.
    pub version: u64,
}

impl Subscription {
    /// The secrets that sign a delivery made at `now`: the current one and any rotated-out one
    /// that has not expired yet.
    pub fn signing_secrets(&self, now: OffsetDateTime) -> impl Iterator<Item = &WebhookSecret> {
        self.secrets
            .iter()
            .filter(move |entry| entry.expires_at.is_none_or(|expiry| expiry > now))
            .map(|entry| &entry.secret)
    }
}

/// One delivery of one event to one subscription, as the deliveries queue carries it.
///
/// The event travels inside the task so that a delivery needs no read of the event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryTask {
    pub event: Event,
    pub subscription_id: SubscriptionId,
    /// Attempts already made (0 for a fresh task).
    pub attempts_made: u32,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub first_attempt_at: Option<OffsetDateTime>,
    /// Do not attempt before this time. Lets a retry wait longer than one SQS delay allows.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub not_before: Option<OffsetDateTime>,
    /// Set on tasks a replay enqueued: they deliver again what was already delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_id: Option<ReplayId>,
}

impl DeliveryTask {
    /// The first delivery of `event` to the subscription `subscription_id`, as fan-out enqueues
    /// it: no attempt made yet, due at once, not a replay.
    pub fn first(event: Event, subscription_id: SubscriptionId) -> Self {
        Self { event, subscription_id, attempts_made: 0, first_attempt_at: None, not_before: None, replay_id: None }
    }

    /// What duplicate suppression remembers once the task is delivered: the event id, and the
    /// replay id for a replay. Two copies of one task share it; a replay does not share it with
    /// the original delivery.
    pub fn delivery_key(&self) -> String {
        match &self.replay_id {
            Some(replay) => format!("{}#{replay}", self.event.id),
            None => self.event.id.to_string(),
        }
    }
}

/// What the deliveries queue carries. Tagged and versioned like [`EventMessage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum DeliveryMessage {
    #[serde(rename = "delivery.v1")]
    V1(DeliveryTask),
}

/// A delivery task that will not be tried again, and why, as the deliveries dead-letter queue
/// carries it. (A message that crashed the handler reaches the same queue unchanged, through the
/// queue's redrive policy.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub task: DeliveryTask,
    /// One line for the operator: the last status or error and how many attempts were made.
    pub reason: String,
    pub attempts: u32,
    #[serde(default)]
    pub last_status: Option<u16>,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub first_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub last_attempt_at: OffsetDateTime,
}

/// What hookline itself writes to the deliveries dead-letter queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum DeadLetterMessage {
    #[serde(rename = "dead-delivery.v1")]
    V1(DeadLetter),
}

/// How one attempt ended, from the subscriber's side of the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AttemptOutcome {
    Delivered,
    RetryScheduled {
        #[serde(with = "time::serde::rfc3339")]
        next_attempt_at: OffsetDateTime,
    },
    Exhausted,
    Disabled,
}

/// One row of the attempt log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub id: AttemptId,
    pub tenant: TenantId,
    pub subscription_id: SubscriptionId,
    pub event_id: EventId,
    pub event_type: String,
    /// 1 for the first try.
    pub attempt: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub duration_ms: u64,
    /// The HTTP status, when the subscriber answered at all.
    #[serde(default)]
    pub status: Option<u16>,
    /// `timeout`, `connect`, `dns`, `blocked`, … when it did not.
    #[serde(default)]
    pub error_kind: Option<String>,
    /// The start of the response body, bounded, for the tenant's debugging.
    #[serde(default)]
    pub response_excerpt: Option<String>,
    #[serde(flatten)]
    pub outcome: AttemptOutcome,
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// `POST /v1/events`.
    Publish,
    /// Subscriptions, attempts, replay, rotation.
    Manage,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Publish => "publish",
            Self::Manage => "manage",
        }
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "publish" => Ok(Self::Publish),
            "manage" => Ok(Self::Manage),
            other => Err(format!("unknown scope `{other}`; scopes are `publish` and `manage`")),
        }
    }
}

/// Whose data a key reaches: one tenant's, or — for platform publishers — any tenant's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyOwner {
    Platform,
    Tenant(TenantId),
}

impl KeyOwner {
    /// The text form: `*` for the platform, else the tenant.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Platform => "*",
            Self::Tenant(tenant) => tenant.as_str(),
        }
    }

    /// Whether a caller holding this key may act for `tenant`.
    pub fn may_act_for(&self, tenant: &TenantId) -> bool {
        match self {
            Self::Platform => true,
            Self::Tenant(own) => own == tenant,
        }
    }
}

impl FromStr for KeyOwner {
    type Err = InvalidTenant;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        if value == "*" { Ok(Self::Platform) } else { value.parse().map(Self::Tenant) }
    }
}

impl Serialize for KeyOwner {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for KeyOwner {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// A stored API key. The key text itself is never stored, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub owner: KeyOwner,
    pub scopes: Vec<Scope>,
    /// Lowercase hex SHA-256 of the whole key text.
    pub key_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deleted_event() -> Event {
        Event {
            id: EventId::generate(),
            tenant: "acme".parse().expect("tenant"),
            event_type: "client-management.legalentity-deleted".into(),
            timestamp: OffsetDateTime::UNIX_EPOCH,
            data: serde_json::json!({"tenant": "acme", "legalEntityId": "le-1"}),
        }
    }

    #[test]
    fn tenant_names_are_limited_to_key_safe_characters() {
        assert!("acme-eu_1:prod.2".parse::<TenantId>().is_ok());
        for bad in ["", "a#b", "a b", "ümlaut", "x/y", &"t".repeat(129)] {
            assert_eq!(bad.parse::<TenantId>(), Err(InvalidTenant), "{bad:?}");
        }
    }

    #[test]
    fn queue_messages_are_tagged_with_their_version() {
        let event = deleted_event();
        let json = serde_json::to_value(EventMessage::V1(event.clone())).expect("serialize");
        assert_eq!(json["kind"], "event.v1");
        assert_eq!(json["type"], "client-management.legalentity-deleted");
        assert_eq!(json["timestamp"], "1970-01-01T00:00:00Z");
        let back: EventMessage = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, EventMessage::V1(event));
        let unknown = serde_json::json!({"kind": "event.v9"});
        assert!(serde_json::from_value::<EventMessage>(unknown).is_err());
    }

    #[test]
    fn a_first_task_is_due_now_with_no_attempt_and_keyed_by_its_event() {
        let event = deleted_event();
        let subscription = SubscriptionId::generate();
        let task = DeliveryTask::first(event.clone(), subscription.clone());
        assert_eq!((task.attempts_made, task.first_attempt_at, task.not_before), (0, None, None));
        assert_eq!(task.subscription_id, subscription);
        assert_eq!(task.delivery_key(), event.id.to_string(), "not a replay");
    }

    #[test]
    fn rotated_out_secrets_sign_until_they_expire() {
        let now = OffsetDateTime::now_utc();
        let current = WebhookSecret::generate();
        let old = WebhookSecret::generate();
        let expired = WebhookSecret::generate();
        let sub = Subscription {
            id: SubscriptionId::generate(),
            tenant: "acme".parse().expect("tenant"),
            url: "https://example.com/hook".into(),
            event_types: vec!["*".into()],
            description: None,
            enabled: true,
            metadata: BTreeMap::new(),
            secrets: vec![
                SecretEntry { secret: current.clone(), expires_at: None },
                SecretEntry { secret: old.clone(), expires_at: Some(now + time::Duration::hours(1)) },
                SecretEntry { secret: expired, expires_at: Some(now - time::Duration::seconds(1)) },
            ],
            disabled: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let signing: Vec<_> = sub.signing_secrets(now).cloned().collect();
        assert_eq!(signing, vec![current, old]);
    }

    #[test]
    fn a_platform_key_acts_for_any_tenant_and_a_tenant_key_for_its_own() {
        let acme: TenantId = "acme".parse().expect("tenant");
        let globex: TenantId = "globex".parse().expect("tenant");
        assert!(KeyOwner::Platform.may_act_for(&acme));
        assert!(KeyOwner::Tenant(acme.clone()).may_act_for(&acme));
        assert!(!KeyOwner::Tenant(acme).may_act_for(&globex));
        assert_eq!("*".parse::<KeyOwner>(), Ok(KeyOwner::Platform));
    }
}

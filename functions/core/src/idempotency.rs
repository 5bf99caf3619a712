//! Idempotent publishing: what is remembered about a publish sent with an `Idempotency-Key`.
//!
//! A producer that did not hear the answer to a publish (a timeout, a dropped connection) sends
//! it again with the same key. The first request claims the key with a short lease and the ids
//! and time it stamped; once its events are logged and enqueued the answer is stored, and every
//! later request with that key and the same body gets that answer back without creating
//! anything. If the first request failed (503) or its process died, the lease runs out and the
//! next request with the key enqueues the same event ids again, so a subscriber that already got
//! them sees the same `webhook-id` and the deliverer's duplicate suppression holds.
//!
//! Keys are scoped to the API key's owner (a tenant, or the platform), and remembered for
//! [`WINDOW`].

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::ids::EventId;
use crate::model::KeyOwner;

/// How long a key and its answer are remembered.
pub const WINDOW: Duration = Duration::from_secs(24 * 3600);

/// How long a claim keeps other requests with the same key waiting (409) before the key may be
/// taken over. Longer than a publish can take (the API's own timeout is 29 s on API Gateway).
pub const LEASE: Duration = Duration::from_secs(30);

/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// One remembered publish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub owner: KeyOwner,
    pub key: String,
    /// Lowercase hex SHA-256 of the request body as sent.
    pub request_hash: String,
    /// The ids stamped on the events, in request order.
    pub event_ids: Vec<EventId>,
    /// The time stamped on the events.
    #[serde(with = "time::serde::rfc3339")]
    pub stamped_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub state: IdempotencyState,
    /// 1 when claimed; each replace adds one.
    pub version: u64,
}

/// Where the remembered publish stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum IdempotencyState {
    /// A request holds the key until `lease_until`.
    Pending {
        #[serde(with = "time::serde::rfc3339")]
        lease_until: OffsetDateTime,
    },
    /// The publish was accepted; this is the answer it got.
    Complete { status: u16, body: Value },
}

impl IdempotencyRecord {
    /// A fresh claim by a request arriving `now`.
    pub fn claim(
        owner: KeyOwner,
        key: String,
        request_hash: String,
        event_ids: Vec<EventId>,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            owner,
            key,
            request_hash,
            event_ids,
            stamped_at: now,
            created_at: now,
            state: IdempotencyState::Pending { lease_until: now + LEASE },
            version: 1,
        }
    }

    /// When the key may be used for a new publish again.
    pub fn expires_at(&self) -> OffsetDateTime {
        self.created_at + WINDOW
    }

    /// The next version of this record in `state`.
    pub fn next(&self, state: IdempotencyState) -> Self {
        Self { state, version: self.version + 1, ..self.clone() }
    }
}

/// The hash a repeated request's body is compared by.
pub fn request_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Why a key is refused: printable ASCII, 1 to [`MAX_KEY_LEN`] characters.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(format!("must be 1 to {MAX_KEY_LEN} characters long"));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("may hold only printable ASCII characters without spaces".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_printable_ascii_of_bounded_length() {
        assert!(check_key("order-4711/retry").is_ok());
        assert!(check_key(&"k".repeat(MAX_KEY_LEN)).is_ok());
        assert!(check_key("").is_err());
        assert!(check_key(&"k".repeat(MAX_KEY_LEN + 1)).is_err());
        assert!(check_key("two words").is_err());
        assert!(check_key("schlüssel").is_err());
    }

    #[test]
    fn a_record_round_trips_and_versions_count_up() {
        let now = OffsetDateTime::from_unix_timestamp(1_764_000_000).expect("time");
        let record = IdempotencyRecord::claim(
            "acme".parse().expect("owner"),
            "k1".into(),
            request_hash(b"{}"),
            vec![EventId::generate_at(now)],
            now,
        );
        assert_eq!(record.state, IdempotencyState::Pending { lease_until: now + LEASE });
        assert_eq!(record.expires_at(), now + WINDOW);
        let done = record.next(IdempotencyState::Complete { status: 202, body: serde_json::json!({"id": "evt_1"}) });
        assert_eq!(done.version, 2);
        let text = serde_json::to_string(&done).expect("json");
        assert_eq!(serde_json::from_str::<IdempotencyRecord>(&text).expect("parse"), done);
        assert_ne!(request_hash(b"{}"), request_hash(b"{ }"), "the body as sent, byte for byte");
    }
}

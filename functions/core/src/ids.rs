//! Prefixed, time-sortable identifiers (`evt_…`, `sub_…`, `key_…`, `att_…`).
//!
//! Each id is a type prefix followed by a ULID in Crockford base32, so ids of one kind sort by
//! creation time as plain strings. DynamoDB sort keys rely on that: the event log is a range
//! query over event ids, and the attempt log reads newest first by reversing the order.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use ulid::Ulid;

/// Why a string is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind} id (expected `{prefix}` followed by 26 base32 characters)")]
pub struct IdError {
    pub kind: &'static str,
    pub prefix: &'static str,
    pub value: String,
}

macro_rules! prefixed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new id stamped with the current time, greater than every id of this kind that
            /// this process generated before (so two attempts in one millisecond still sort).
            pub fn generate() -> Self {
                Self::from_ulid(monotonic())
            }

            /// A new id stamped with `at` (ingest stamps an event's id and timestamp together).
            pub fn generate_at(at: OffsetDateTime) -> Self {
                Self::from_ulid(Ulid::from_parts(unix_millis(at), rand::random::<u128>()))
            }

            /// The smallest id that could have been generated at `at`; used as a range bound.
            pub fn lower_bound(at: OffsetDateTime) -> Self {
                Self::from_ulid(Ulid::from_parts(unix_millis(at), 0))
            }

            /// The largest id that could have been generated at `at`; used as a range bound.
            pub fn upper_bound(at: OffsetDateTime) -> Self {
                Self::from_ulid(Ulid::from_parts(unix_millis(at), u128::MAX))
            }

            fn from_ulid(ulid: Ulid) -> Self {
                Self(format!("{}{}", $prefix, ulid))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// When the id was generated (millisecond precision).
            pub fn created_at(&self) -> OffsetDateTime {
                let ulid = Ulid::from_string(&self.0[$prefix.len()..]).unwrap_or_default();
                let nanos = i128::from(ulid.timestamp_ms()) * 1_000_000;
                OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                let valid = value
                    .strip_prefix($prefix)
                    .is_some_and(|rest| rest.len() == 26 && Ulid::from_string(rest).is_ok());
                if valid {
                    Ok(Self(value.to_owned()))
                } else {
                    Err(IdError { kind: $kind, prefix: $prefix, value: value.to_owned() })
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// One generator for the process: ULIDs of the same millisecond increment instead of being
/// random, so ids sort in generation order.
static GENERATOR: std::sync::Mutex<ulid::Generator> = std::sync::Mutex::new(ulid::Generator::new());

fn monotonic() -> Ulid {
    let mut generator = GENERATOR.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // Overflow needs 2^80 ids in one millisecond; fall back to a random one rather than fail.
    generator.generate().unwrap_or_else(|_| Ulid::generate())
}

fn unix_millis(at: OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

prefixed_id!(
    /// One published event; also the `webhook-id` of every delivery of it.
    EventId,
    "evt_",
    "event"
);
prefixed_id!(
    /// One tenant subscription (an endpoint and its filters).
    SubscriptionId,
    "sub_",
    "subscription"
);
prefixed_id!(
    /// One API key; the id is public, the key text is not.
    ApiKeyId,
    "key_",
    "API key"
);
prefixed_id!(
    /// One delivery attempt in the attempt log.
    AttemptId,
    "att_",
    "attempt"
);
prefixed_id!(
    /// One replay request: the deliveries it enqueues carry it, so a replay delivers again
    /// what was delivered before, once.
    ReplayId,
    "rpl_",
    "replay"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_ids_carry_their_prefix_and_parse_back() {
        let id = EventId::generate();
        assert!(id.as_str().starts_with("evt_"));
        assert_eq!(id.as_str().len(), 30);
        assert_eq!(id.as_str().parse::<EventId>(), Ok(id.clone()));
        let json = serde_json::to_string(&id).expect("serialize");
        assert_eq!(serde_json::from_str::<EventId>(&json).expect("deserialize"), id);
    }

    #[test]
    fn a_foreign_prefix_or_garbage_is_refused() {
        let sub = SubscriptionId::generate();
        assert!(sub.as_str().parse::<EventId>().is_err());
        assert!("evt_".parse::<EventId>().is_err());
        assert!("evt_not-a-ulid-at-all-0000000".parse::<EventId>().is_err());
        assert!(serde_json::from_str::<SubscriptionId>("\"sub_x\"").is_err());
    }

    #[test]
    fn ids_generated_in_a_row_are_strictly_increasing() {
        let ids: Vec<AttemptId> = (0..1000).map(|_| AttemptId::generate()).collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let early = EventId::lower_bound(OffsetDateTime::UNIX_EPOCH + time::Duration::days(10_000));
        let id = EventId::generate();
        let late = EventId::upper_bound(OffsetDateTime::now_utc() + time::Duration::seconds(1));
        assert!(early < id && id < late);
    }

    proptest! {
        #[test]
        fn bounds_bracket_every_id_of_that_millisecond(ms in 0u64..=253_402_300_799_000, random in any::<u128>()) {
            let id = EventId::from_ulid(Ulid::from_parts(ms, random));
            let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).expect("in range");
            prop_assert!(EventId::lower_bound(at) <= id);
            prop_assert!(id <= EventId::upper_bound(at));
            prop_assert_eq!(id.created_at(), at);
        }
    }
}

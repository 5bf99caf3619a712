//! The body a subscriber receives: `{"type", "timestamp", "data"}`.
//!
//! The body is rendered once per attempt and those exact bytes are both signed and sent, so
//! the signature always covers what is on the wire.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::model::Event;

/// The delivered JSON document, borrowed from the event it describes.
#[derive(Debug, Serialize)]
pub struct Envelope<'a> {
    #[serde(rename = "type")]
    pub event_type: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    pub data: &'a Value,
}

impl<'a> Envelope<'a> {
    pub fn of(event: &'a Event) -> Self {
        Self { event_type: &event.event_type, timestamp: event.timestamp, data: &event.data }
    }

    /// The exact bytes to sign and send.
    pub fn to_body(&self) -> Vec<u8> {
        // Serializing a Value tree and a str cannot fail; an empty body would fail every
        // signature check loudly rather than deliver something unsigned.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The envelope as a receiver parses it (tests, example receivers).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReceivedEnvelope {
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    pub data: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::EventId;

    #[test]
    fn the_body_holds_type_timestamp_and_the_data_unchanged() {
        let data = serde_json::json!({"tenant": "acme", "legalEntityId": "le-1", "CustomerGroupId": "cg-9"});
        let event = Event {
            id: EventId::generate(),
            tenant: "acme".parse().expect("tenant"),
            event_type: "client-management.legalentity-updated".into(),
            timestamp: time::macros::datetime!(2026-12-04 12:00:00.5 UTC),
            data: data.clone(),
        };
        let body = Envelope::of(&event).to_body();
        let text = String::from_utf8(body.clone()).expect("utf-8");
        assert!(
            text.starts_with(
                r#"{"type":"client-management.legalentity-updated","timestamp":"2026-12-04T12:00:00.5Z","data":"#
            ),
            "{text}"
        );
        let parsed: ReceivedEnvelope = serde_json::from_slice(&body).expect("parse");
        assert_eq!(parsed.data, data);
        assert_eq!(parsed.timestamp, event.timestamp);
    }
}

//! Ingest validation: `Catalogue::builtin().validate` on one thread, for each seed event type
//! with its full example payload from `functions/core/catalogue/examples/`.

use std::time::{Duration, Instant};

use hookline_core::catalogue::Catalogue;

/// The four seed event types and their example payloads, as shipped.
pub const EXAMPLES: [(&str, &str); 4] = [
    (
        "client-management.legalentity-created",
        include_str!("../../../functions/core/catalogue/examples/client-management.legalentity-created.json"),
    ),
    (
        "client-management.legalentity-updated",
        include_str!("../../../functions/core/catalogue/examples/client-management.legalentity-updated.json"),
    ),
    (
        "client-management.legalentity-deleted",
        include_str!("../../../functions/core/catalogue/examples/client-management.legalentity-deleted.json"),
    ),
    (
        "client-management.user-assigned-to-legalentity",
        include_str!("../../../functions/core/catalogue/examples/client-management.user-assigned-to-legalentity.json"),
    ),
];

/// One event type's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    pub event_type: &'static str,
    pub payload_bytes: usize,
    /// Validations per second on one thread (one core).
    pub per_second: f64,
    /// Parsing the payload text and validating it, per second: what ingest does per event.
    pub parse_and_validate_per_second: f64,
}

/// Validates each example for `duration`, on the calling thread.
pub fn run(duration: Duration) -> anyhow::Result<Vec<Validation>> {
    let catalogue = Catalogue::builtin();
    let mut out = Vec::new();
    for (event_type, text) in EXAMPLES {
        let data: serde_json::Value = serde_json::from_str(text)?;
        catalogue.validate(event_type, &data).map_err(|e| anyhow::anyhow!("{event_type}: {e}"))?;
        let per_second = rate(duration, || catalogue.validate(event_type, &data).is_ok());
        let parse_and_validate_per_second = rate(duration, || {
            serde_json::from_str::<serde_json::Value>(text)
                .is_ok_and(|data| catalogue.validate(event_type, &data).is_ok())
        });
        eprintln!(
            "ingest: {event_type}: {per_second:.0} validations/s ({parse_and_validate_per_second:.0}/s with parsing)"
        );
        out.push(Validation { event_type, payload_bytes: text.len(), per_second, parse_and_validate_per_second });
    }
    Ok(out)
}

/// Calls `f` in rounds of 256 until `duration` has passed; calls per second.
fn rate(duration: Duration, mut f: impl FnMut() -> bool) -> f64 {
    let started = Instant::now();
    let mut calls = 0u64;
    while started.elapsed() < duration {
        for _ in 0..256 {
            std::hint::black_box(f());
        }
        calls += 256;
    }
    calls as f64 / started.elapsed().as_secs_f64()
}

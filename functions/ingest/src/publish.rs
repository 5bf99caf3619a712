//! Publishing: parse, validate every event, stamp, log, enqueue.

use hookline_core::catalogue::{Catalogue, ValidationError};
use hookline_core::ids::EventId;
use hookline_core::model::{Event, Scope, TenantId};
use hookline_core::ports::{EventLog, EventQueue};
use hookline_http::{ApiError, Caller, body, json_response};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::Value;
use time::OffsetDateTime;

/// Size limits of one publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishLimits {
    /// The whole request body.
    pub max_body_bytes: usize,
    /// One event's `data`, as JSON. Keeps every event well inside SQS's 1 MiB message limit.
    pub max_event_bytes: usize,
    /// Events in one array.
    pub max_batch: usize,
}

impl Default for PublishLimits {
    fn default() -> Self {
        Self { max_body_bytes: 1_048_576, max_event_bytes: 256 * 1024, max_batch: 100 }
    }
}

/// Reads, validates and accepts one publish request.
pub(crate) async fn publish(
    catalogue: &Catalogue,
    queue: &impl EventQueue,
    log: &impl EventLog,
    limits: &PublishLimits,
    caller: &Caller,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    caller.require(Scope::Publish)?;
    let document = body::json_body(request, limits.max_body_bytes)?;
    let now = OffsetDateTime::now_utc();
    let (events, batch) = match document {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(ApiError::bad_request("empty_batch", "the array holds no events"));
            }
            if items.len() > limits.max_batch {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "batch_too_large",
                    format!("an array may hold at most {} events; this one holds {}", limits.max_batch, items.len()),
                ));
            }
            let events = items
                .into_iter()
                .enumerate()
                .map(|(i, item)| accept(catalogue, limits, caller, item, &format!("[{i}]."), now))
                .collect::<Result<Vec<_>, _>>()?;
            (events, true)
        }
        single => (vec![accept(catalogue, limits, caller, single, "", now)?], false),
    };

    // The log first: an event that is enqueued is then always replayable. If enqueueing fails
    // the producer gets a 503 and retries; the orphaned log rows are never delivered by themselves.
    log.append(&events).await?;
    queue.enqueue(&events).await?;
    for event in &events {
        tracing::info!(tenant = %event.tenant, event_id = %event.id, event_type = %event.event_type, "event accepted");
    }

    let answer = if batch {
        serde_json::json!({ "ids": events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>() })
    } else {
        serde_json::json!({ "id": events[0].id.as_str() })
    };
    Ok(json_response(StatusCode::ACCEPTED, &answer))
}

/// Turns one `{"type", "data"}` object into an accepted event, or says which field is wrong.
/// `at` prefixes field names inside a batch (`[3].`).
fn accept(
    catalogue: &Catalogue,
    limits: &PublishLimits,
    caller: &Caller,
    item: Value,
    at: &str,
    now: OffsetDateTime,
) -> Result<Event, ApiError> {
    let Value::Object(mut object) = item else {
        let field = at.trim_end_matches('.');
        let message = "an event is a JSON object: {\"type\": \"…\", \"data\": {…}}";
        return Err(ApiError::bad_request("invalid_event", message).with_field(if field.is_empty() {
            "$"
        } else {
            field
        }));
    };
    if let Some(unknown) = object.keys().find(|k| !matches!(k.as_str(), "type" | "data")) {
        return Err(ApiError::bad_request(
            "unknown_field",
            format!("unknown field `{unknown}`; an event has `type` and `data`"),
        )
        .with_field(format!("{at}{unknown}")));
    }
    let event_type = match object.remove("type") {
        Some(Value::String(name)) => name,
        Some(_) => return Err(ApiError::invalid_field(format!("{at}type"), "`type` must be a string")),
        None => return Err(ApiError::invalid_field(format!("{at}type"), "required field is missing")),
    };
    let data = object
        .remove("data")
        .ok_or_else(|| ApiError::invalid_field(format!("{at}data"), "required field is missing"))?;

    catalogue.validate(&event_type, &data).map_err(|err| match &err {
        ValidationError::UnknownEventType { .. } => ApiError::invalid_field(format!("{at}type"), err.to_string()),
        ValidationError::Invalid { path, message, .. } => {
            ApiError::invalid_field(format!("{at}{path}"), message.clone())
        }
    })?;

    let size = serde_json::to_vec(&data).map(|bytes| bytes.len()).unwrap_or(usize::MAX);
    if size > limits.max_event_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "event_too_large",
            format!("an event's data may be at most {} bytes; this one is {size}", limits.max_event_bytes),
        )
        .with_field(format!("{at}data")));
    }

    let tenant = tenant_of(&data).map_err(|message| ApiError::invalid_field(format!("{at}data.tenant"), message))?;
    if !caller.owner.may_act_for(&tenant) {
        return Err(ApiError::forbidden(format!("this API key may not publish events for tenant `{tenant}`"))
            .with_field(format!("{at}data.tenant")));
    }
    Ok(Event { id: EventId::generate_at(now), tenant, event_type, timestamp: now, data })
}

fn tenant_of(data: &Value) -> Result<TenantId, String> {
    let text = data.get("tenant").and_then(Value::as_str).ok_or("required field is missing")?;
    text.parse().map_err(|err: hookline_core::model::InvalidTenant| err.to_string())
}

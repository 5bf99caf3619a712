//! Publishing: parse, validate every event, stamp, log, enqueue.

use hookline_core::catalogue::{Catalogue, ValidationError};
use hookline_core::error::PortError;
use hookline_core::idempotency::{self, IdempotencyRecord, IdempotencyState};
use hookline_core::ids::EventId;
use hookline_core::metrics::{self, Metric};
use hookline_core::model::{Event, Scope, TenantId};
use hookline_core::ports::{EventLog, EventQueue, IdempotencyStore};
use hookline_http::{ApiError, Caller, body, json_response};
use lambda_http::http::{HeaderValue, StatusCode};
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

/// The header a producer names a publish by, so that sending it again is safe.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Set on an answer that was stored by an earlier request with the same idempotency key.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// Where the handler keeps what it needs for one publish.
pub(crate) struct Ports<'a, Q, L, I> {
    pub queue: &'a Q,
    pub log: &'a L,
    pub idempotency: &'a I,
}

/// Reads, validates and accepts one publish request.
pub(crate) async fn publish<Q: EventQueue, L: EventLog, I: IdempotencyStore>(
    catalogue: &Catalogue,
    ports: Ports<'_, Q, L, I>,
    limits: &PublishLimits,
    caller: &Caller,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    caller.require(Scope::Publish)?;
    let key = idempotency_key(request)?;
    let document = body::json_body(request, limits.max_body_bytes)?;
    let now = OffsetDateTime::now_utc();
    let (mut events, batch) = match document {
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

    let Some(key) = key else {
        enqueue(ports.queue, ports.log, &events).await?;
        return Ok(json_response(StatusCode::ACCEPTED, &answer(&events, batch)));
    };
    let claimed = match claim(ports.idempotency, caller, key, request, &events, now).await? {
        Claim::Answered(response) => return Ok(response),
        Claim::Held(record) => record,
    };
    // A request that takes over an abandoned claim publishes the ids the first one stamped: a
    // subscriber that already received them sees the same webhook-ids again.
    for (event, id) in events.iter_mut().zip(&claimed.event_ids) {
        event.id = id.clone();
        event.timestamp = claimed.stamped_at;
    }
    if let Err(error) = enqueue(ports.queue, ports.log, &events).await {
        // Let the producer's retry take the key over at once rather than after the lease.
        let released = claimed.next(IdempotencyState::Pending { lease_until: OffsetDateTime::now_utc() });
        if let Err(release) = ports.idempotency.replace(&released).await {
            tracing::warn!(error = %release, "could not release the idempotency key; it frees itself when its lease ends");
        }
        return Err(error);
    }
    let body = answer(&events, batch);
    let complete =
        claimed.next(IdempotencyState::Complete { status: StatusCode::ACCEPTED.as_u16(), body: body.clone() });
    if let Err(error) = ports.idempotency.replace(&complete).await {
        // The events are enqueued, so the answer is 202. A repeat after the lease publishes the
        // same ids again, and duplicate suppression keeps subscribers from a second delivery.
        tracing::warn!(%error, "could not store the idempotent answer");
    }
    Ok(json_response(StatusCode::ACCEPTED, &body))
}

/// The log first: an event that is enqueued is then always replayable. If enqueueing fails the
/// producer gets a 503 and retries; orphaned log rows are never delivered by themselves.
async fn enqueue(queue: &impl EventQueue, log: &impl EventLog, events: &[Event]) -> Result<(), ApiError> {
    log.append(events).await?;
    queue.enqueue(events).await?;
    for event in events {
        tracing::info!(tenant = %event.tenant, event_id = %event.id, event_type = %event.event_type, "event accepted");
    }
    metrics::emit(&[(Metric::Published, u64::try_from(events.len()).unwrap_or(u64::MAX))]);
    Ok(())
}

fn answer(events: &[Event], batch: bool) -> Value {
    if batch {
        serde_json::json!({ "ids": events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>() })
    } else {
        serde_json::json!({ "id": events[0].id.as_str() })
    }
}

/// The `Idempotency-Key` header, if sent.
fn idempotency_key(request: &Request) -> Result<Option<String>, ApiError> {
    let Some(value) = request.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| "may hold only printable ASCII characters without spaces".to_owned());
    let key = text.and_then(|key| idempotency::check_key(key).map(|()| key.to_owned()));
    key.map(Some).map_err(|message| ApiError::invalid_field("Idempotency-Key", message))
}

/// How claiming the key went.
enum Claim {
    /// This request holds the key and must publish.
    Held(IdempotencyRecord),
    /// An earlier request answered already (or holds the key, or sent another body).
    Answered(Response<Body>),
}

async fn claim(
    store: &impl IdempotencyStore,
    caller: &Caller,
    key: String,
    request: &Request,
    events: &[Event],
    now: OffsetDateTime,
) -> Result<Claim, ApiError> {
    let hash = idempotency::request_hash(request.body().as_ref());
    let ids = events.iter().map(|e| e.id.clone()).collect();
    let record = IdempotencyRecord::claim(caller.owner.clone(), key, hash, ids, now);
    match store.claim(&record).await {
        Ok(()) => return Ok(Claim::Held(record)),
        Err(PortError::Conflict(_)) => {}
        Err(error) => return Err(error.into()),
    }
    let in_use = || {
        ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_in_use",
            "a request with this Idempotency-Key is still being processed; retry shortly",
        )
        .with_field("Idempotency-Key")
    };
    // Expired between the claim and this read: someone else may claim it now, so say retry.
    let Some(existing) = store.get(&caller.owner, &record.key).await? else {
        return Err(in_use());
    };
    if existing.request_hash != record.request_hash || existing.event_ids.len() != events.len() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request body in the last 24 hours",
        )
        .with_field("Idempotency-Key"));
    }
    match &existing.state {
        IdempotencyState::Complete { status, body } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::ACCEPTED);
            let mut response = json_response(status, body);
            response.headers_mut().insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
            Ok(Claim::Answered(response))
        }
        IdempotencyState::Pending { lease_until } if *lease_until > now => Err(in_use()),
        IdempotencyState::Pending { .. } => {
            let taken = existing.next(IdempotencyState::Pending { lease_until: now + idempotency::LEASE });
            match store.replace(&taken).await {
                Ok(()) => Ok(Claim::Held(taken)),
                Err(PortError::Conflict(_)) => Err(in_use()),
                Err(error) => Err(error.into()),
            }
        }
    }
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

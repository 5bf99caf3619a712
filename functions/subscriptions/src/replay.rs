//! `POST /v1/subscriptions/{id}/replay`: deliver the tenant's logged events in a time window
//! again, to one subscription.
//!
//! The event log is read oldest first; every event the subscription's filters match becomes a
//! fresh delivery task carrying one replay id, so the deliverer's duplicate suppression lets
//! each event through once more (and only once, however often SQS hands a task out). One request
//! replays at most [`MAX_EVENTS`] events; when the window holds more, the answer's `nextSince`
//! is where the next request starts. A page is cut only between two different timestamps, so
//! chaining requests from `nextSince` neither skips nor repeats an event.

use hookline_core::ids::ReplayId;
use hookline_core::matching::matches_any;
use hookline_core::model::{DeliveryTask, Event, Subscription};
use hookline_core::ports::{DeliveryQueue, EventLog, ScheduledTask, TimeWindow};
use hookline_http::ApiError;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The most events one replay request enqueues.
pub const MAX_EVENTS: usize = 1_000;

/// How many events one read of the log returns.
const PAGE: usize = 200;

/// A replay request's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub since: OffsetDateTime,
    pub until: OffsetDateTime,
}

/// Reads `{"since", "until"?}`; `until` defaults to now and may not lie beyond it.
pub fn window(body: Value, now: OffsetDateTime) -> Result<Window, ApiError> {
    let Value::Object(mut object) = body else {
        return Err(
            ApiError::bad_request("invalid_body", "the body is a JSON object: {\"since\": \"…\"}").with_field("$")
        );
    };
    if let Some(unknown) = object.keys().find(|k| !matches!(k.as_str(), "since" | "until")) {
        return Err(ApiError::bad_request(
            "unknown_field",
            format!("unknown field `{unknown}`; a replay has `since` and `until`"),
        )
        .with_field(unknown.clone()));
    }
    let since = match object.remove("since") {
        Some(value) => time_field("since", &value)?,
        None => return Err(ApiError::invalid_field("since", "`since` is required")),
    };
    let until = match object.remove("until") {
        None | Some(Value::Null) => now,
        Some(value) => time_field("until", &value)?.min(now),
    };
    if since >= until {
        return Err(ApiError::invalid_field("since", "`since` must be earlier than `until` and than now"));
    }
    Ok(Window { since, until })
}

fn time_field(name: &str, value: &Value) -> Result<OffsetDateTime, ApiError> {
    value.as_str().and_then(|text| OffsetDateTime::parse(text, &Rfc3339).ok()).ok_or_else(|| {
        ApiError::invalid_field(name, format!("`{name}` must be an RFC 3339 time, e.g. 2026-12-01T00:00:00Z"))
    })
}

/// What a replay enqueued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Replayed {
    pub replay_id: ReplayId,
    /// Events enqueued for delivery.
    pub count: usize,
    /// Set when the window held more than one request replays: start the next one here.
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    pub next_since: Option<OffsetDateTime>,
}

/// Enqueues the window's matching events for `subscription`, page by page.
pub async fn replay(
    log: &impl EventLog,
    queue: &impl DeliveryQueue,
    subscription: &Subscription,
    window: Window,
) -> Result<Replayed, ApiError> {
    let replay_id = ReplayId::generate();
    let mut replayed = 0;
    let mut cursor: Option<String> = None;
    let mut last_enqueued: Option<OffsetDateTime> = None;
    let window = TimeWindow { since: window.since, until: window.until };
    loop {
        let page = log.list(&subscription.tenant, window, PAGE, cursor.as_deref()).await?;
        let mut tasks = Vec::new();
        let mut stop_at = None;
        for event in page.items.into_iter().filter(|event| matches_any(&subscription.event_types, &event.event_type)) {
            // Full: finish the millisecond being replayed, then stop where the next one starts.
            if replayed + tasks.len() >= MAX_EVENTS && last_timestamp(&tasks, last_enqueued) != Some(event.timestamp) {
                stop_at = Some(event.timestamp);
                break;
            }
            tasks.push(task(event, subscription, &replay_id));
        }
        if let Some(last) = tasks.last() {
            last_enqueued = Some(last.task.event.timestamp);
        }
        queue.enqueue(&tasks).await?;
        replayed += tasks.len();
        if stop_at.is_some() {
            return Ok(Replayed { replay_id, count: replayed, next_since: stop_at });
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(Replayed { replay_id, count: replayed, next_since: None }),
        }
    }
}

fn last_timestamp(tasks: &[ScheduledTask], before: Option<OffsetDateTime>) -> Option<OffsetDateTime> {
    tasks.last().map(|t| t.task.event.timestamp).or(before)
}

fn task(event: Event, subscription: &Subscription, replay_id: &ReplayId) -> ScheduledTask {
    ScheduledTask::now(DeliveryTask {
        replay_id: Some(replay_id.clone()),
        ..DeliveryTask::first(event, subscription.id.clone())
    })
}

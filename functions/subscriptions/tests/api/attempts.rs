use hookline_core::ids::{AttemptId, EventId, SubscriptionId};
use hookline_core::model::{Attempt, AttemptOutcome};
use hookline_core::ports::AttemptLog;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::support::*;

fn attempt(subscription: &str, n: u32, at: OffsetDateTime, event: &EventId, outcome: AttemptOutcome) -> Attempt {
    Attempt {
        id: AttemptId::generate(),
        tenant: "acme".parse().expect("tenant"),
        subscription_id: subscription.parse::<SubscriptionId>().expect("id"),
        event_id: event.clone(),
        event_type: CREATED.to_owned(),
        attempt: n,
        at,
        duration_ms: 100 + u64::from(n),
        status: (n > 1).then_some(500 + n as u16),
        error_kind: (n == 1).then(|| "timeout".to_owned()),
        response_excerpt: (n > 1).then(|| format!("oops {n}")),
        outcome,
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339).expect("format")
}

#[tokio::test]
async fn attempts_are_listed_newest_first() {
    let handler = handler();
    let id = id_of(&create(&handler, ACME, new_subscription("a")).await);
    let other = id_of(&create(&handler, ACME, new_subscription("b")).await);
    let event = EventId::generate();
    let start = OffsetDateTime::now_utc().replace_nanosecond(0).expect("whole seconds");
    let retry_at = start + Duration::seconds(5);
    let log = handler.attempts();
    log.record(&attempt(&id, 1, start, &event, AttemptOutcome::RetryScheduled { next_attempt_at: retry_at }))
        .await
        .expect("record");
    log.record(&attempt(&other, 1, start, &event, AttemptOutcome::Delivered)).await.expect("record");
    log.record(&attempt(
        &id,
        2,
        start + Duration::seconds(5),
        &event,
        AttemptOutcome::RetryScheduled { next_attempt_at: start + Duration::minutes(5) },
    ))
    .await
    .expect("record");
    let last = attempt(&id, 3, start + Duration::minutes(5), &event, AttemptOutcome::Exhausted);
    log.record(&last).await.expect("record");

    let answer = call("GET", ATTEMPTS).id(&id).send(&handler).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let items = answer.body["items"].as_array().expect("items");
    let numbers: Vec<_> = items.iter().map(|item| item["attempt"].as_u64()).collect();
    assert_eq!(numbers, [Some(3), Some(2), Some(1)], "newest first, only this subscription's");
    assert_eq!(answer.body["nextCursor"], json!(null));
    assert_eq!(
        items[0],
        json!({
            "id": last.id.to_string(),
            "eventId": event.to_string(),
            "eventType": CREATED,
            "attempt": 3,
            "at": rfc3339(start + Duration::minutes(5)),
            "durationMs": 103,
            "status": 503,
            "errorKind": null,
            "responseExcerpt": "oops 3",
            "outcome": "exhausted"
        })
    );
    assert_eq!(items[2]["outcome"], "retry_scheduled");
    assert_eq!(items[2]["errorKind"], "timeout");
    assert_eq!(items[2]["status"], json!(null));
    assert_eq!(items[2]["nextAttemptAt"], rfc3339(retry_at));

    // Paging by two.
    let first = call("GET", ATTEMPTS).id(&id).query("limit", "2").send(&handler).await;
    let page: Vec<_> = first.body["items"].as_array().expect("items").iter().map(|i| i["attempt"].clone()).collect();
    assert_eq!(page, [json!(3), json!(2)]);
    let cursor = first.body["nextCursor"].as_str().expect("a next page").to_owned();
    let second = call("GET", ATTEMPTS).id(&id).query("limit", "2").query("cursor", cursor).send(&handler).await;
    let page: Vec<_> = second.body["items"].as_array().expect("items").iter().map(|i| i["attempt"].clone()).collect();
    assert_eq!(page, [json!(1)]);
    assert_eq!(second.body["nextCursor"], json!(null));
}

#[tokio::test]
async fn a_subscription_without_attempts_lists_none() {
    let handler = handler();
    let id = id_of(&create(&handler, ACME, new_subscription("quiet")).await);
    let answer = call("GET", ATTEMPTS).id(&id).send(&handler).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, json!({"items": [], "nextCursor": null}));
}

use hookline_core::ids::EventId;
use hookline_core::model::Event;
use hookline_core::ports::EventLog;
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::support::*;

const DELETED: &str = "client-management.legalentity-deleted";

fn event(tenant: &str, event_type: &str, at: OffsetDateTime) -> Event {
    Event {
        id: EventId::generate_at(at),
        tenant: tenant.parse().expect("tenant"),
        event_type: event_type.to_owned(),
        timestamp: at,
        data: json!({"tenant": tenant, "legalEntityId": "le-1"}),
    }
}

fn text(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).expect("format")
}

/// The event ids the replay enqueued, in order, and the replay ids they carry.
fn enqueued(handler: &Handler) -> (Vec<EventId>, Vec<String>) {
    let tasks = handler.deliveries().enqueued();
    let ids = tasks.iter().map(|t| t.task.event.id.clone()).collect();
    let replays = tasks.iter().map(|t| t.task.replay_id.as_ref().expect("a replay id").to_string()).collect();
    (ids, replays)
}

#[tokio::test]
async fn replay_enqueues_the_windows_matching_events_of_the_callers_tenant_only() {
    let handler = handler();
    let id = id_of(&create(&handler, ACME, new_subscription("a")).await);
    let start = OffsetDateTime::now_utc() - Duration::hours(2);
    let inside = event("acme", CREATED, start + Duration::minutes(10));
    let later = event("acme", CREATED, start + Duration::minutes(50));
    let log = vec![
        event("acme", CREATED, start - Duration::minutes(1)),
        inside.clone(),
        event("acme", DELETED, start + Duration::minutes(20)),
        event("globex", CREATED, start + Duration::minutes(30)),
        later.clone(),
        event("acme", CREATED, start + Duration::minutes(61)),
    ];
    handler.events().append(&log).await.expect("append");

    let body = json!({"since": text(start), "until": text(start + Duration::hours(1))});
    let answer = call("POST", REPLAY).id(&id).json(body).send(&handler).await;
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    assert_eq!(answer.body["count"], 2);
    assert!(answer.body["replayId"].as_str().is_some_and(|r| r.starts_with("rpl_")), "{:?}", answer.body);
    assert_eq!(answer.body.get("nextSince"), None);
    let (ids, replays) = enqueued(&handler);
    assert_eq!(ids, [inside.id, later.id], "in the window, matching `{CREATED}`, this tenant's, oldest first");
    assert!(replays.iter().all(|r| Some(r.as_str()) == answer.body["replayId"].as_str()));
    assert!(handler.deliveries().enqueued().iter().all(|t| t.task.attempts_made == 0 && t.delay.is_zero()));
}

#[tokio::test]
async fn until_defaults_to_now_and_each_replay_has_its_own_id() {
    let handler = handler();
    let id = id_of(&create(&handler, ACME, new_subscription("a")).await);
    let at = OffsetDateTime::now_utc() - Duration::minutes(5);
    handler.events().append(&[event("acme", CREATED, at)]).await.expect("append");
    let body = json!({"since": text(at - Duration::minutes(1))});
    let first = call("POST", REPLAY).id(&id).json(body.clone()).send(&handler).await;
    let second = call("POST", REPLAY).id(&id).json(body).send(&handler).await;
    assert_eq!((first.status, second.status), (202, 202));
    assert_eq!((first.body["count"].clone(), second.body["count"].clone()), (json!(1), json!(1)));
    assert_ne!(first.body["replayId"], second.body["replayId"], "asking twice delivers twice");
}

#[tokio::test]
async fn a_large_window_is_cut_between_timestamps_and_continues_from_next_since() {
    let handler = handler();
    let id = id_of(&create(&handler, ACME, new_subscription("a")).await);
    let start = (OffsetDateTime::now_utc() - Duration::hours(1)).replace_millisecond(0).expect("ms");
    // 1,100 events, two per millisecond, so the cut must fall between two milliseconds.
    let events: Vec<Event> =
        (0..1_100).map(|n| event("acme", CREATED, start + Duration::milliseconds(n / 2))).collect();
    handler.events().append(&events).await.expect("append");

    let first = call("POST", REPLAY).id(&id).json(json!({"since": text(start)})).send(&handler).await;
    assert_eq!(first.status, 202, "{:?}", first.body);
    let replayed = first.body["count"].as_u64().expect("count");
    assert_eq!(replayed, 1_000, "the per-request cap, on a millisecond boundary");
    let next = first.body["nextSince"].as_str().expect("nextSince when cut").to_owned();
    let second = call("POST", REPLAY).id(&id).json(json!({"since": next})).send(&handler).await;
    assert_eq!(second.status, 202, "{:?}", second.body);
    assert_eq!(second.body["count"], 100);
    assert_eq!(second.body.get("nextSince"), None);

    let (ids, _) = enqueued(&handler);
    let unique: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (1_100, 1_100), "every event once across the two requests");
}

#[tokio::test]
async fn bad_replay_requests_name_the_field_and_enqueue_nothing() {
    let handler = handler();
    let id = id_of(&create(&handler, ACME, new_subscription("a")).await);
    let now = OffsetDateTime::now_utc();
    let cases = [
        (json!({}), 422, "since"),
        (json!({"since": "yesterday"}), 422, "since"),
        (json!({"since": 1_700_000_000}), 422, "since"),
        (json!({"since": text(now - Duration::hours(1)), "until": "soon"}), 422, "until"),
        (json!({"since": text(now), "until": text(now - Duration::hours(1))}), 422, "since"),
        (json!({"since": text(now + Duration::hours(1))}), 422, "since"),
        (json!({"since": text(now - Duration::hours(1)), "limit": 5}), 400, "limit"),
        (json!(["since"]), 400, "$"),
    ];
    for (body, status, field) in cases {
        let answer = call("POST", REPLAY).id(&id).json(body.clone()).send(&handler).await;
        assert_eq!((answer.status, answer.field()), (status, Some(field)), "{body}: {:?}", answer.body);
    }
    assert!(handler.deliveries().enqueued().is_empty());
}

#[tokio::test]
async fn replay_is_404_for_another_tenants_subscription_and_409_for_a_disabled_one() {
    let handler = handler();
    let theirs = id_of(&create(&handler, GLOBEX, new_subscription("g")).await);
    let since = json!({"since": text(OffsetDateTime::now_utc() - Duration::hours(1))});
    let answer = call("POST", REPLAY).id(&theirs).json(since.clone()).send(&handler).await;
    assert_eq!(answer.status, 404, "{:?}", answer.body);

    let mut body = new_subscription("off");
    body["enabled"] = json!(false);
    let off = id_of(&create(&handler, ACME, body).await);
    let answer = call("POST", REPLAY).id(&off).json(since.clone()).send(&handler).await;
    assert_eq!((answer.status, answer.code()), (409, Some("subscription_disabled")), "{:?}", answer.body);

    let answer = call("POST", REPLAY).id(&off).key(PUBLISHER).json(since).send(&handler).await;
    assert_eq!(answer.status, 403, "the publish scope cannot replay");
    assert!(handler.deliveries().enqueued().is_empty());
}

//! Retention and deletion, read straight from the table: events and attempts carry an
//! `expires_at` TTL of their own time plus the retention period, subscriptions and keys carry
//! none, and deleting a subscription removes its signing secrets (current and rotated-out) at
//! once, not at some TTL.

mod common;

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{ARRIVAL, BOTH, Stack, deleted};
use hookline_local::LocalOptions;
use hookline_testkit::{TestReceiver, eventually};
use reqwest::Method;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const RETENTION_DAYS: i64 = 3;

type Item = std::collections::HashMap<String, AttributeValue>;

fn text<'a>(item: &'a Item, name: &str) -> &'a str {
    item.get(name).and_then(|v| v.as_s().ok()).map_or("", String::as_str)
}

fn expires_at(item: &Item) -> Option<i64> {
    item.get("expires_at").and_then(|v| v.as_n().ok()).map(|n| n.parse().expect("a number"))
}

/// The RFC 3339 time at `field` of the item's stored record, in unix seconds.
fn record_time(item: &Item, field: &str) -> i64 {
    let doc: Value = serde_json::from_str(text(item, "doc")).expect("doc is JSON");
    OffsetDateTime::parse(doc[field].as_str().expect("a time"), &Rfc3339).expect("RFC 3339").unix_timestamp()
}

#[tokio::test]
async fn events_and_attempts_expire_after_the_retention_and_deleted_subscriptions_keep_no_secret() {
    let retention = Duration::from_secs(86_400 * RETENTION_DAYS as u64);
    let stack = Stack::start(LocalOptions { retention, ..LocalOptions::default() }).await;
    let key = stack.key("acme", BOTH).await;
    let receiver = TestReceiver::start().await.expect("receiver");
    let (subscription, created) = stack.subscribe(&key, &receiver.url()).await;
    let first_secret = created["secret"].as_str().expect("secret").to_owned();
    let path = format!("/v1/subscriptions/{subscription}");
    let rotated = stack.call(Method::POST, &format!("{path}/rotate-secret"), Some(&key), None).await;
    let second_secret = rotated.body["secret"].as_str().expect("secret").to_owned();

    let accepted = stack.call(Method::POST, "/v1/events", Some(&key), Some(deleted("acme", "le-1"))).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    receiver.wait_for(1, ARRIVAL).await.expect("delivered");
    // The delivered marker is written just after the attempt row.
    let items = eventually(ARRIVAL, "the attempt and its delivered marker in the table", || async {
        let items = stack.items().await;
        let has = |part: &str| items.keys().any(|(pk, _)| pk.contains(part));
        (has("#ATT#") && has("#DLV#")).then_some(items)
    })
    .await
    .expect("an attempt");

    let ttl = RETENTION_DAYS * 86_400;
    let (mut events, mut attempts) = (0, 0);
    let (mut attempt_expiry, mut marker_expiry) = (Vec::new(), Vec::new());
    for ((pk, sk), item) in &items {
        if pk.ends_with("#EVT") {
            events += 1;
            assert_eq!(expires_at(item), Some(record_time(item, "timestamp") + ttl), "event {sk}");
        } else if pk.contains("#ATT#") {
            attempts += 1;
            assert_eq!(expires_at(item), Some(record_time(item, "at") + ttl), "attempt {sk}");
            attempt_expiry.push(expires_at(item));
        } else if pk.contains("#DLV#") {
            // The delivered marker (duplicate suppression) lives exactly as long as its attempt.
            marker_expiry.push(expires_at(item));
        } else {
            assert_eq!(expires_at(item), None, "{pk} {sk}: subscriptions and keys never expire by TTL");
        }
    }
    assert_eq!((events, attempts), (1, 1), "{:?}", items.keys().collect::<Vec<_>>());
    assert_eq!(marker_expiry, attempt_expiry, "one delivered marker, expiring with its attempt");

    let everything = |items: &std::collections::BTreeMap<(String, String), Item>| format!("{items:?}");
    let stored = everything(&items);
    assert!(stored.contains(&first_secret[6..]) && stored.contains(&second_secret[6..]), "both secrets are stored");
    let gone = stack.call(Method::DELETE, &path, Some(&key), None).await;
    assert_eq!(gone.status, 204, "{}", gone.body);
    let after = stack.items().await;
    let remaining = everything(&after);
    assert!(!after.keys().any(|(_, sk)| sk.starts_with("SUB#")), "the subscription item is gone at once");
    assert!(!remaining.contains(&first_secret[6..]), "the first secret is gone");
    assert!(!remaining.contains(&second_secret[6..]), "the rotated-in secret is gone");
    assert!(after.keys().any(|(pk, _)| pk.contains("#ATT#")), "its attempt log stays until its TTL");
    stack.stop().await;
}

//! SSRF defence, end to end, with private targets disallowed (as deployed): hostile targets are
//! refused when a subscription is saved (422 saying why), and a name re-pointed after saving
//! (DNS rebinding) is refused when the delivery connects, recorded as a `blocked` attempt.
//! Names resolve through a scripted resolver, so no test depends on real DNS.

mod common;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{ARRIVAL, BOTH, Stack, deleted};
use hookline_local::LocalOptions;
use hookline_testkit::{ScriptedResolver, TestReceiver, eventually};
use reqwest::Method;
use serde_json::{Value, json};

const PUBLIC: &str = "93.184.216.34";

fn ip(text: &str) -> IpAddr {
    text.parse().expect("an address")
}

async fn strict_stack(resolver: &ScriptedResolver) -> Stack {
    Stack::start(LocalOptions {
        allow_private_targets: false,
        resolver: Some(Arc::new(resolver.clone())),
        retry_schedule: "1s,1s".parse().expect("schedule"),
        delivery_timeout: Duration::from_secs(2),
        ..LocalOptions::default()
    })
    .await
}

#[tokio::test]
async fn hostile_targets_are_refused_when_saved_with_the_reason() {
    let resolver = ScriptedResolver::new();
    resolver.set("localhost", &[ip("127.0.0.1"), ip("::1")]);
    resolver.set("loopback.attacker.example", &[ip("127.0.0.1")]);
    resolver.set("metadata.attacker.example", &[ip("169.254.169.254")]);
    resolver.set("vpc.attacker.example", &[ip("10.1.2.3")]);
    resolver.set("mixed.attacker.example", &[ip(PUBLIC), ip("192.168.1.1")]);
    resolver.set("mapped.attacker.example", &[ip("::ffff:127.0.0.1")]);
    resolver.set("hooks.acme.example", &[ip(PUBLIC)]);
    let stack = strict_stack(&resolver).await;
    let key = stack.key("acme", BOTH).await;
    let (existing, _) = stack.subscribe(&key, "https://hooks.acme.example/in").await;
    let items_before = stack.item_keys().await;

    // (target, words the refusal must contain)
    let targets: &[(&str, &[&str])] = &[
        ("https://127.0.0.1/", &["127.0.0.1", "loopback"]),
        ("https://127.255.255.254:8443/", &["loopback"]),
        ("https://localhost/", &["localhost", "loopback"]),
        ("https://0.0.0.0/", &["unspecified"]),
        ("https://10.0.0.1/", &["private"]),
        ("https://10.255.255.254/", &["private"]),
        ("https://172.16.0.1/", &["private"]),
        ("https://172.31.255.254/", &["private"]),
        ("https://192.168.0.1/", &["private"]),
        ("https://100.64.0.1/", &["carrier-grade NAT"]),
        ("https://169.254.169.254/latest/meta-data/", &["169.254.169.254", "cloud metadata"]),
        ("https://169.254.170.2/v2/credentials", &["cloud metadata"]),
        ("https://169.254.1.1/", &["link-local"]),
        ("https://224.0.0.1/", &["multicast"]),
        ("https://255.255.255.255/", &["broadcast"]),
        ("https://[::1]/", &["loopback"]),
        ("https://[::]/", &["unspecified"]),
        ("https://[fd00::1]/", &["unique local"]),
        ("https://[fd00:ec2::254]/", &["cloud metadata"]),
        ("https://[fe80::1]/", &["link-local"]),
        ("https://[::ffff:127.0.0.1]/", &["loopback"]),
        ("https://[::ffff:169.254.169.254]/", &["cloud metadata"]),
        ("https://[64:ff9b::a9fe:a9fe]/", &["cloud metadata"]),
        ("https://2130706433/", &["127.0.0.1", "loopback"]),
        ("https://0177.0.0.1/", &["127.0.0.1", "loopback"]),
        ("https://0x7f.1/", &["127.0.0.1", "loopback"]),
        ("https://0x7f000001/", &["127.0.0.1", "loopback"]),
        ("https://127.1/", &["127.0.0.1", "loopback"]),
        ("https://0xa9fea9fe/", &["cloud metadata"]),
        ("https://loopback.attacker.example/", &["loopback.attacker.example", "127.0.0.1"]),
        ("https://metadata.attacker.example/", &["cloud metadata"]),
        ("https://vpc.attacker.example/", &["private"]),
        ("https://mixed.attacker.example/", &["192.168.1.1", "private"]),
        ("https://mapped.attacker.example/", &["loopback"]),
        ("https://unresolvable.attacker.example/", &["does not resolve"]),
        ("http://93.184.216.34/", &["https"]),
        ("https://user:pass@93.184.216.34/", &["credentials"]),
    ];
    let mut failures = Vec::new();
    let mut count = 0;
    for (target, words) in targets {
        // On create, and on update of an existing subscription.
        let create = json!({"url": target, "eventTypes": ["*"]});
        let path = format!("/v1/subscriptions/{existing}");
        for (method, path, body) in
            [(Method::POST, "/v1/subscriptions", create), (Method::PATCH, path.as_str(), json!({"url": target}))]
        {
            count += 1;
            let answer = stack.call(method.clone(), path, Some(&key), Some(body)).await;
            let message = answer.body["error"]["message"].as_str().unwrap_or_default();
            let good = answer.status == 422
                && answer.body["error"]["field"] == "url"
                && words.iter().all(|word| message.contains(word));
            if !good {
                failures.push(format!("{method} {target}: {} {}", answer.status, answer.body));
            }
        }
    }
    println!("ssrf save-time cases: {count} ({} targets, each on create and on update)", targets.len());
    assert!(failures.is_empty(), "{} refusals were wrong:\n{}", failures.len(), failures.join("\n"));
    assert!(targets.len() >= 20);
    assert_eq!(stack.item_keys().await, items_before, "nothing was stored");
    let kept = stack.call(Method::GET, &format!("/v1/subscriptions/{existing}"), Some(&key), None).await;
    assert_eq!(kept.body["url"], "https://hooks.acme.example/in", "the update changed nothing");
    stack.stop().await;
}

/// The attempt log of a subscription once it holds `n` entries, newest first.
async fn attempts(stack: &Stack, key: &str, subscription: &str, n: usize) -> Vec<Value> {
    let path = format!("/v1/subscriptions/{subscription}/attempts");
    eventually(ARRIVAL, &format!("{n} attempts"), || async {
        let answer = stack.call(Method::GET, &path, Some(key), None).await;
        let items = answer.body["items"].as_array().cloned().unwrap_or_default();
        (items.len() >= n).then_some(items)
    })
    .await
    .expect("the attempt log")
}

#[tokio::test]
async fn a_name_rebound_to_loopback_after_saving_is_blocked_when_delivering() {
    let resolver = ScriptedResolver::new();
    let receiver = TestReceiver::start().await.expect("receiver");
    let port = receiver.url().parse::<reqwest::Url>().expect("url").port().expect("port");
    resolver.set("rebind.attacker.example", &[ip(PUBLIC)]);
    let stack = strict_stack(&resolver).await;
    let key = stack.key("acme", BOTH).await;
    // Public when saved: accepted.
    let (subscription, _) = stack.subscribe(&key, &format!("https://rebind.attacker.example:{port}/hook")).await;

    // Then the attacker re-points the name at the receiver on loopback.
    resolver.set("rebind.attacker.example", &[ip("127.0.0.1")]);
    let lookups_before = resolver.lookups().len();
    let accepted = stack.call(Method::POST, "/v1/events", Some(&key), Some(deleted("acme", "le-1"))).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);

    let items = attempts(&stack, &key, &subscription, 1).await;
    let first = items.last().expect("the first attempt");
    assert_eq!(first["errorKind"], "blocked", "refused at connect time: {first}");
    assert_eq!(first["status"], Value::Null, "nothing answered: {first}");
    assert_eq!(first["eventId"], accepted.body["id"]);
    assert!(
        resolver.lookups()[lookups_before..].iter().any(|name| name == "rebind.attacker.example"),
        "resolved again"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(receiver.requests().is_empty(), "no request reached the loopback receiver");
    println!("ssrf delivery-time cases: 1 (DNS rebinding)");
    stack.stop().await;
}

#[tokio::test]
async fn a_name_that_stops_resolving_is_a_dns_error_and_retried() {
    let resolver = ScriptedResolver::new();
    resolver.set("gone.acme.example", &[ip(PUBLIC)]);
    let stack = strict_stack(&resolver).await;
    let key = stack.key("acme", BOTH).await;
    let (subscription, _) = stack.subscribe(&key, "https://gone.acme.example/hook").await;
    resolver.unset("gone.acme.example");
    let accepted = stack.call(Method::POST, "/v1/events", Some(&key), Some(deleted("acme", "le-2"))).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);

    // Schedule "1s,1s": three attempts in all, each a DNS failure.
    let items = attempts(&stack, &key, &subscription, 2).await;
    let oldest = &items[items.len() - 1];
    assert_eq!((oldest["attempt"].clone(), oldest["errorKind"].clone()), (json!(1), json!("dns")), "{oldest}");
    assert_eq!(oldest["outcome"], "retry_scheduled", "{oldest}");
    let retry = &items[items.len() - 2];
    assert_eq!((retry["attempt"].clone(), retry["errorKind"].clone()), (json!(2), json!("dns")), "retried: {retry}");
    assert_eq!(retry["eventId"], accepted.body["id"]);
    stack.stop().await;
}

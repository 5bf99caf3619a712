//! Hostile input, end to end: malformed and malicious requests against the publish and
//! subscription routes of a local stack over moto. Each must get the right 4xx with a JSON error
//! naming the field at fault, and leave nothing behind: the stack runs without its SQS pollers,
//! so anything enqueued would still be on a queue, and the table is compared item by item.
//! A valid publish at the end shows that both checks do see what a request leaves.

mod common;

use std::sync::Arc;

use common::{BOTH, Stack, deleted, example};
use hookline_core::model::Scope;
use hookline_local::LocalOptions;
use hookline_testkit::ScriptedResolver;
use reqwest::Method;
use serde_json::{Value, json};

/// One hostile request and the answer it must get.
struct Case {
    what: String,
    request: reqwest::RequestBuilder,
    status: u16,
    /// The error code, when the case pins it.
    code: Option<&'static str>,
    /// The field the error must name.
    field: Option<String>,
}

impl Case {
    fn new(what: impl Into<String>, request: reqwest::RequestBuilder, status: u16) -> Self {
        Self { what: what.into(), request, status, code: None, field: None }
    }

    fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

/// `[[[…]]]` or `{"a":{"a":…}}`, `depth` levels deep.
fn nested(depth: usize, object: bool) -> String {
    if object {
        format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
    } else {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }
}

fn raw(
    stack: &Stack,
    method: Method,
    path: &str,
    key: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> reqwest::RequestBuilder {
    let mut request = stack.http.request(method, stack.url(path)).body(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request
}

#[tokio::test]
async fn malformed_and_malicious_requests_get_json_errors_and_leave_nothing_behind() {
    let resolver = ScriptedResolver::new();
    resolver.set("hooks.acme.example", &["93.184.216.34".parse().expect("ip")]);
    resolver.set("hooks.globex.example", &["93.184.216.35".parse().expect("ip")]);
    resolver.set("internal.acme.example", &["10.0.0.7".parse().expect("ip")]);
    let stack = Stack::start(LocalOptions {
        allow_private_targets: false,
        resolver: Some(Arc::new(resolver.clone())),
        run_pollers: false,
        ..LocalOptions::default()
    })
    .await;
    let acme = stack.key("acme", BOTH).await;
    let publisher = stack.key("acme", &[Scope::Publish]).await;
    let manager = stack.key("acme", &[Scope::Manage]).await;
    let globex = stack.key("globex", BOTH).await;
    let (revoked, revoked_id) = stack.key_with_id("acme", BOTH).await;
    stack.revoke(&revoked_id).await;
    let (mine, _) = stack.subscribe(&acme, "https://hooks.acme.example/in").await;
    let (theirs, _) = stack.subscribe(&globex, "https://hooks.globex.example/in").await;
    let mine_before = stack.call(Method::GET, &format!("/v1/subscriptions/{mine}"), Some(&acme), None).await.body;
    let theirs_before = stack.call(Method::GET, &format!("/v1/subscriptions/{theirs}"), Some(&globex), None).await.body;

    let items_before = stack.item_keys().await;
    let depths_before = stack.depths().await;
    assert!(depths_before.values().all(|depth| *depth == 0), "queues start empty: {depths_before:?}");

    let json = Some("application/json");
    let publish = |body: String| raw(&stack, Method::POST, "/v1/events", Some(&acme), json, body);
    let event = |data: Value| json!({"type": "client-management.legalentity-deleted", "data": data}).to_string();
    let create = |body: String| raw(&stack, Method::POST, "/v1/subscriptions", Some(&acme), json, body);
    let create_url = |url: &str| create(json!({"url": url, "eventTypes": ["*"]}).to_string());
    let get = |path: &str, key: &str| raw(&stack, Method::GET, path, Some(key), None, "");
    let mine_path = format!("/v1/subscriptions/{mine}");
    let theirs_path = format!("/v1/subscriptions/{theirs}");
    let patch_mine = |body: Value| raw(&stack, Method::PATCH, &mine_path, Some(&acme), json, body.to_string());
    let good = event(json!({"tenant": "acme", "legalEntityId": "le-1"}));
    let huge = "x".repeat(300 * 1024);
    let mut oversized_event = example("client-management.legalentity-created");
    oversized_event["legalInfo"] = json!({"notes": huge.clone()});
    let forged = |text: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    };

    let cases = vec![
        // ---- publish: bodies
        Case::new("publish: malformed JSON", publish("{\"type\": ".into()), 400).code("invalid_json"),
        Case::new("publish: trailing garbage", publish(format!("{good}}}")), 400).code("invalid_json"),
        Case::new("publish: empty body", publish(String::new()), 400).code("invalid_json"),
        Case::new("publish: whitespace only", publish("  \n ".into()), 400).code("invalid_json"),
        Case::new("publish: a JSON string", publish("\"hello\"".into()), 400).field("$"),
        Case::new("publish: a JSON number", publish("42".into()), 400).field("$"),
        Case::new("publish: null", publish("null".into()), 400).field("$"),
        Case::new("publish: empty array", publish("[]".into()), 400).code("empty_batch"),
        Case::new("publish: 101 events", publish(format!("[{}]", vec![good.clone(); 101].join(","))), 413).code("batch_too_large"),
        Case::new("publish: array of numbers", publish("[1,2]".into()), 400).field("[0]"),
        Case::new("publish: unknown top-level field", publish(json!({"type": "client-management.legalentity-deleted", "data": {"tenant": "acme", "legalEntityId": "le-1"}, "admin": true}).to_string()), 400).code("unknown_field").field("admin"),
        Case::new("publish: missing type", publish(json!({"data": {"tenant": "acme"}}).to_string()), 422).field("type"),
        Case::new("publish: type is a number", publish(json!({"type": 7, "data": {"tenant": "acme"}}).to_string()), 422).field("type"),
        Case::new("publish: unknown type", publish(json!({"type": "client-management.nope", "data": {"tenant": "acme"}}).to_string()), 422).field("type"),
        Case::new("publish: type with a path", publish(json!({"type": "../../etc/passwd", "data": {"tenant": "acme"}}).to_string()), 422).field("type"),
        Case::new("publish: missing data", publish(json!({"type": "client-management.legalentity-deleted"}).to_string()), 422).field("data"),
        Case::new("publish: data is an array", publish(json!({"type": "client-management.legalentity-deleted", "data": []}).to_string()), 422),
        Case::new("publish: missing tenant", publish(event(json!({"legalEntityId": "le-1"}))), 422).field("data.tenant"),
        Case::new("publish: tenant is a number", publish(event(json!({"tenant": 7, "legalEntityId": "le-1"}))), 422).field("data.tenant"),
        Case::new("publish: legalEntityId is an object", publish(event(json!({"tenant": "acme", "legalEntityId": {"$ne": null}}))), 422).field("data.legalEntityId"),
        Case::new("publish: unknown data field", publish(event(json!({"tenant": "acme", "legalEntityId": "le-1", "isAdmin": true}))), 422),
        Case::new("publish: tenant with a NUL byte", publish(event(json!({"tenant": "ac\u{0}me", "legalEntityId": "le-1"}))), 422).field("data.tenant"),
        Case::new("publish: 300 KiB string in data", publish(event(json!({"tenant": "acme", "legalEntityId": "le-1", "legalEntityParentId": huge}))), 422).field("data.legalEntityParentId"),
        Case::new("publish: event data over 256 KiB in a free-form field", publish(json!({"type": "client-management.legalentity-created", "data": oversized_event}).to_string()), 413).code("event_too_large").field("data"),
        Case::new("publish: body over 1 MiB", publish(format!("[{}]", vec![event(json!({"tenant": "acme", "legalEntityId": "x".repeat(20_000)})); 60].join(","))), 413),
        Case::new("publish: body over Lambda's 6 MB", publish("x".repeat(6 * 1024 * 1024 + 1)), 413),
        Case::new("publish: 5,000 nested arrays", publish(nested(5_000, false)), 400).code("invalid_json"),
        Case::new("publish: 1,000 nested objects in data", publish(format!("{{\"type\":\"client-management.legalentity-deleted\",\"data\":{}}}", nested(1_000, true))), 400).code("invalid_json"),
        Case::new("publish: invalid UTF-8", raw(&stack, Method::POST, "/v1/events", Some(&acme), json, vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}']), 400).code("invalid_json"),
        Case::new("publish: a batch with one bad event", publish(format!("[{good},{}]", event(json!({"tenant": "acme"})))), 422).field("[1].data.legalEntityId"),
        Case::new("publish: a batch with another tenant's event", publish(format!("[{good},{}]", event(json!({"tenant": "globex", "legalEntityId": "le-2"})))), 403).field("[1].data.tenant"),
        // ---- publish: Idempotency-Key (checked before anything is claimed or written)
        Case::new("publish: Idempotency-Key of 256 characters", publish(good.clone()).header("idempotency-key", "k".repeat(256)), 422).field("Idempotency-Key"),
        Case::new("publish: Idempotency-Key with spaces", publish(good.clone()).header("idempotency-key", "order 4711"), 422).field("Idempotency-Key"),
        Case::new("publish: empty Idempotency-Key", publish(good.clone()).header("idempotency-key", ""), 422).field("Idempotency-Key"),
        Case::new("publish: Idempotency-Key and a bad body", publish(event(json!({"tenant": "acme"}))).header("idempotency-key", "k-1"), 422).field("data.legalEntityId"),
        // ---- publish: content type, auth, scope, method
        Case::new("publish: text/plain", raw(&stack, Method::POST, "/v1/events", Some(&acme), Some("text/plain"), good.clone()), 415),
        Case::new("publish: no content-type", raw(&stack, Method::POST, "/v1/events", Some(&acme), None, good.clone()), 415),
        Case::new("publish: form-encoded", raw(&stack, Method::POST, "/v1/events", Some(&acme), Some("application/x-www-form-urlencoded"), "type=x&data=y"), 415),
        Case::new("publish: application/xml", raw(&stack, Method::POST, "/v1/events", Some(&acme), Some("application/xml"), "<event/>"), 415),
        Case::new("publish: no key", raw(&stack, Method::POST, "/v1/events", None, json, good.clone()), 401).code("unauthorized"),
        Case::new("publish: Basic scheme", raw(&stack, Method::POST, "/v1/events", None, json, good.clone()).header("authorization", format!("Basic {acme}")), 401).code("unauthorized"),
        Case::new("publish: unknown key", raw(&stack, Method::POST, "/v1/events", Some("hk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), json, good.clone()), 401).code("unauthorized"),
        Case::new("publish: a 4 KiB key", raw(&stack, Method::POST, "/v1/events", Some(&format!("hk_{}", "A".repeat(4096))), json, good.clone()), 401).code("unauthorized"),
        Case::new("publish: key with a tampered last character", raw(&stack, Method::POST, "/v1/events", Some(&format!("{}{}", &acme[..acme.len() - 1], if acme.ends_with('A') { 'B' } else { 'A' })), json, good.clone()), 401).code("unauthorized"),
        Case::new("publish: revoked key", raw(&stack, Method::POST, "/v1/events", Some(&revoked), json, good.clone()), 401).code("unauthorized"),
        Case::new("publish: manage-only key", raw(&stack, Method::POST, "/v1/events", Some(&manager), json, good.clone()), 403).code("forbidden"),
        Case::new("publish: for another tenant", publish(event(json!({"tenant": "globex", "legalEntityId": "le-1"}))), 403).field("data.tenant"),
        Case::new("publish: GET", raw(&stack, Method::GET, "/v1/events", Some(&acme), None, ""), 405),
        Case::new("event types: no key", raw(&stack, Method::GET, "/v1/event-types", None, None, ""), 401),
        // ---- subscriptions: bodies
        Case::new("create: malformed JSON", create("{\"url\": ".into()), 400).code("invalid_json"),
        Case::new("create: an array", create("[]".into()), 400),
        Case::new("create: a string", create("\"https://hooks.acme.example\"".into()), 400),
        Case::new("create: missing url", create(json!({"eventTypes": ["*"]}).to_string()), 422).field("url"),
        Case::new("create: url is a number", create(json!({"url": 42, "eventTypes": ["*"]}).to_string()), 422).field("url"),
        Case::new("create: missing eventTypes", create(json!({"url": "https://hooks.acme.example/in"}).to_string()), 422).field("eventTypes"),
        Case::new("create: eventTypes is a string", create(json!({"url": "https://hooks.acme.example/in", "eventTypes": "*"}).to_string()), 422).field("eventTypes"),
        Case::new("create: eventTypes empty", create(json!({"url": "https://hooks.acme.example/in", "eventTypes": []}).to_string()), 422).field("eventTypes"),
        Case::new("create: unknown event type", create(json!({"url": "https://hooks.acme.example/in", "eventTypes": ["*", "billing.*"]}).to_string()), 422).field("eventTypes[1]"),
        Case::new("create: 33 filters", create(json!({"url": "https://hooks.acme.example/in", "eventTypes": vec!["*"; 33]}).to_string()), 422).field("eventTypes"),
        Case::new("create: 10,000-character description", create(json!({"url": "https://hooks.acme.example/in", "eventTypes": ["*"], "description": "d".repeat(10_000)}).to_string()), 422).field("description"),
        Case::new("create: enabled is a string", create(json!({"url": "https://hooks.acme.example/in", "eventTypes": ["*"], "enabled": "yes"}).to_string()), 422).field("enabled"),
        Case::new("create: 17 metadata entries", create(json!({"url": "https://hooks.acme.example/in", "eventTypes": ["*"], "metadata": (0..17).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}).to_string()), 422).field("metadata"),
        Case::new("create: a metadata value that is a number", create(json!({"url": "https://hooks.acme.example/in", "eventTypes": ["*"], "metadata": {"team": 7}}).to_string()), 422),
        Case::new("create: a tenant field", create(json!({"url": "https://hooks.acme.example/in", "eventTypes": ["*"], "tenant": "globex"}).to_string()), 400).code("unknown_field").field("tenant"),
        Case::new("create: a secret field", create(json!({"url": "https://hooks.acme.example/in", "eventTypes": ["*"], "secret": "whsec_AAAA"}).to_string()), 400).code("unknown_field").field("secret"),
        Case::new("create: 3,000-character url", create_url(&format!("https://hooks.acme.example/{}", "a".repeat(3_000))), 422).field("url"),
        Case::new("create: url with credentials", create_url("https://admin:hunter2@hooks.acme.example/in"), 422).field("url"),
        Case::new("create: ftp url", create_url("ftp://hooks.acme.example/in"), 422).field("url"),
        Case::new("create: javascript: url", create_url("javascript:alert(1)"), 422).field("url"),
        Case::new("create: file url", create_url("file:///etc/passwd"), 422).field("url"),
        Case::new("create: plain http", create_url("http://hooks.acme.example/in"), 422).field("url"),
        Case::new("create: relative url", create_url("/in"), 422).field("url"),
        Case::new("create: loopback target", create_url("https://127.0.0.1/in"), 422).field("url"),
        Case::new("create: metadata-service target", create_url("https://169.254.169.254/latest/meta-data/"), 422).field("url"),
        Case::new("create: decimal loopback target", create_url("https://2130706433/in"), 422).field("url"),
        Case::new("create: name resolving to a private address", create_url("https://internal.acme.example/in"), 422).field("url"),
        Case::new("create: name that does not resolve", create_url("https://nowhere.acme.example/in"), 422).field("url"),
        Case::new("create: text/plain", raw(&stack, Method::POST, "/v1/subscriptions", Some(&acme), Some("text/plain"), json!({"url": "https://hooks.acme.example/in", "eventTypes": ["*"]}).to_string()), 415),
        Case::new("create: body over 64 KiB", create(json!({"url": "https://hooks.acme.example/in", "eventTypes": ["*"], "description": "d".repeat(70_000)}).to_string()), 413),
        Case::new("create: invalid UTF-8", raw(&stack, Method::POST, "/v1/subscriptions", Some(&acme), json, vec![b'{', b'"', b'u', 0xc3, 0x28, b'"', b':', b'1', b'}']), 400).code("invalid_json"),
        Case::new("create: 2,000 nested arrays", create(nested(2_000, false)), 400).code("invalid_json"),
        Case::new("create: publish-only key", raw(&stack, Method::POST, "/v1/subscriptions", Some(&publisher), json, json!({"url": "https://hooks.acme.example/in", "eventTypes": ["*"]}).to_string()), 403).code("forbidden"),
        Case::new("create: no key", raw(&stack, Method::POST, "/v1/subscriptions", None, json, json!({"url": "https://hooks.acme.example/in", "eventTypes": ["*"]}).to_string()), 401),
        Case::new("create: revoked key", raw(&stack, Method::POST, "/v1/subscriptions", Some(&revoked), json, json!({"url": "https://hooks.acme.example/in", "eventTypes": ["*"]}).to_string()), 401),
        // ---- subscriptions: listing parameters and cursors
        Case::new("list: limit=0", get("/v1/subscriptions?limit=0", &acme), 400).field("limit"),
        Case::new("list: limit=101", get("/v1/subscriptions?limit=101", &acme), 400).field("limit"),
        Case::new("list: limit=-1", get("/v1/subscriptions?limit=-1", &acme), 400).field("limit"),
        Case::new("list: limit=abc", get("/v1/subscriptions?limit=abc", &acme), 400).field("limit"),
        Case::new("list: limit=1e3", get("/v1/subscriptions?limit=1e3", &acme), 400).field("limit"),
        Case::new("list: limit=99999999999999999999999", get("/v1/subscriptions?limit=99999999999999999999999", &acme), 400).field("limit"),
        Case::new("list: cursor not base64", get("/v1/subscriptions?cursor=%21%21%21", &acme), 400).code("invalid_cursor").field("cursor"),
        Case::new("list: cursor naming another tenant's partition", get(&format!("/v1/subscriptions?cursor={}", forged("T#globex")), &acme), 400).code("invalid_cursor").field("cursor"),
        Case::new("list: cursor of an attempt key", get(&format!("/v1/subscriptions?cursor={}", forged(&format!("ATT#{theirs}"))), &acme), 400).code("invalid_cursor"),
        Case::new("list: cursor with an oversized key", get(&format!("/v1/subscriptions?cursor={}", forged(&format!("SUB#{}", "x".repeat(2_000)))), &acme), 400).code("invalid_cursor"),
        Case::new("list: publish-only key", get("/v1/subscriptions", &publisher), 403).code("forbidden"),
        Case::new("attempts: limit=1000", get(&format!("{mine_path}/attempts?limit=1000"), &acme), 400).field("limit"),
        Case::new("attempts: cursor not base64", get(&format!("{mine_path}/attempts?cursor=%7B%7D"), &acme), 400).code("invalid_cursor").field("cursor"),
        Case::new("attempts: a subscription key as cursor", get(&format!("{mine_path}/attempts?cursor={}", forged(&format!("SUB#{theirs}"))), &acme), 400).code("invalid_cursor"),
        // ---- subscriptions: other tenants' ids and malformed ids (404, never 403)
        Case::new("get: another tenant's id", get(&theirs_path, &acme), 404).code("not_found"),
        Case::new("patch: another tenant's id", raw(&stack, Method::PATCH, &theirs_path, Some(&acme), json, json!({"enabled": false}).to_string()), 404).code("not_found"),
        Case::new("delete: another tenant's id", raw(&stack, Method::DELETE, &theirs_path, Some(&acme), None, ""), 404).code("not_found"),
        Case::new("rotate: another tenant's id", raw(&stack, Method::POST, &format!("{theirs_path}/rotate-secret"), Some(&acme), None, ""), 404).code("not_found"),
        Case::new("attempts: another tenant's id", get(&format!("{theirs_path}/attempts"), &acme), 404).code("not_found"),
        Case::new("replay: another tenant's id", raw(&stack, Method::POST, &format!("{theirs_path}/replay"), Some(&acme), json, json!({"since": "2026-01-01T00:00:00Z"}).to_string()), 404).code("not_found"),
        Case::new("replay: publish-only key", raw(&stack, Method::POST, &format!("{mine_path}/replay"), Some(&publisher), json, json!({"since": "2026-01-01T00:00:00Z"}).to_string()), 403).code("forbidden"),
        Case::new("replay: since missing", raw(&stack, Method::POST, &format!("{mine_path}/replay"), Some(&acme), json, "{}"), 422).field("since"),
        Case::new("replay: since not a time", raw(&stack, Method::POST, &format!("{mine_path}/replay"), Some(&acme), json, json!({"since": "last week"}).to_string()), 422).field("since"),
        Case::new("replay: until before since", raw(&stack, Method::POST, &format!("{mine_path}/replay"), Some(&acme), json, json!({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}).to_string()), 422).field("since"),
        Case::new("replay: unknown field", raw(&stack, Method::POST, &format!("{mine_path}/replay"), Some(&acme), json, json!({"since": "2026-01-01T00:00:00Z", "tenant": "globex"}).to_string()), 400).code("unknown_field").field("tenant"),
        Case::new("replay: not JSON", raw(&stack, Method::POST, &format!("{mine_path}/replay"), Some(&acme), Some("text/plain"), "since=yesterday"), 415),
        Case::new("GET replay", get(&format!("{mine_path}/replay"), &acme), 405),
        Case::new("get: malformed id", get("/v1/subscriptions/sub_'%20OR%201=1--", &acme), 404).code("not_found"),
        Case::new("get: encoded path traversal", get("/v1/subscriptions/..%2F..%2Fkeys", &acme), 404).code("not_found"),
        // ---- subscriptions: patching one's own with bad values changes nothing
        Case::new("patch: private target", patch_mine(json!({"url": "https://10.0.0.1/in"})), 422).field("url"),
        Case::new("patch: enabled is a number", patch_mine(json!({"enabled": 1})), 422).field("enabled"),
        Case::new("patch: unknown field", patch_mine(json!({"tenant": "globex"})), 400).code("unknown_field").field("tenant"),
        Case::new("patch: eventTypes null", patch_mine(json!({"eventTypes": null})), 422).field("eventTypes"),
        // ---- routes and methods
        Case::new("PUT on the collection", raw(&stack, Method::PUT, "/v1/subscriptions", Some(&acme), json, "{}"), 405),
        Case::new("DELETE on the collection", raw(&stack, Method::DELETE, "/v1/subscriptions", Some(&acme), None, ""), 405),
        Case::new("GET rotate-secret", get(&format!("{mine_path}/rotate-secret"), &acme), 405),
        Case::new("unknown route", get("/v1/admin/keys", &acme), 404).code("not_found"),
        Case::new("POST the OpenAPI document", raw(&stack, Method::POST, "/v1/openapi.json", None, json, "{}"), 405),
    ];

    let count = cases.len();
    let mut failures = Vec::new();
    for case in cases {
        let answer = stack.send(case.request).await;
        let error = &answer.body["error"];
        let mut wrong = Vec::new();
        if answer.status != case.status {
            wrong.push(format!("status {} (expected {})", answer.status, case.status));
        }
        if answer.content_type.as_deref() != Some("application/json") {
            wrong.push(format!("content-type {:?}", answer.content_type));
        }
        if !(error["code"].is_string() && error["message"].is_string()) {
            wrong.push("no JSON error body".to_owned());
        }
        if let Some(code) = case.code
            && error["code"] != code
        {
            wrong.push(format!("code {} (expected {code})", error["code"]));
        }
        if let Some(field) = &case.field
            && error["field"] != field.as_str()
        {
            wrong.push(format!("field {} (expected {field})", error["field"]));
        }
        if !wrong.is_empty() {
            failures.push(format!("{}: {} — {}", case.what, wrong.join(", "), answer.body));
        }
    }
    println!("hostile-input cases: {count}");
    assert!(failures.is_empty(), "{} of {count} cases answered wrongly:\n{}", failures.len(), failures.join("\n"));
    assert!(count >= 50, "at least 50 hostile cases, not {count}");

    // Nothing was stored, changed or enqueued.
    assert_eq!(stack.item_keys().await, items_before, "no item was added or removed");
    assert_eq!(stack.depths().await, depths_before, "nothing was enqueued");
    let mine_after = stack.call(Method::GET, &mine_path, Some(&acme), None).await.body;
    let theirs_after = stack.call(Method::GET, &theirs_path, Some(&globex), None).await.body;
    assert_eq!(mine_after, mine_before, "the patched-at subscription is unchanged");
    assert_eq!(theirs_after, theirs_before, "the other tenant's subscription is unchanged");

    // Another tenant's id answers exactly as one that does not exist: no hint that it does.
    let nobody = format!("/v1/subscriptions/sub_{}", "0".repeat(26));
    let missing = stack.call(Method::GET, &nobody, Some(&acme), None).await;
    let foreign = stack.call(Method::GET, &theirs_path, Some(&acme), None).await;
    assert_eq!((missing.status, &missing.body), (foreign.status, &foreign.body));

    // The checks see a request that does leave something: one valid event, logged and queued.
    let accepted = stack.call(Method::POST, "/v1/events", Some(&acme), Some(deleted("acme", "le-canary"))).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let depths = stack.depths().await;
    assert_eq!(depths["events"], 1, "the valid event is on the events queue: {depths:?}");
    assert_eq!(stack.item_keys().await.len(), items_before.len() + 1, "and in the event log");
    stack.stop().await;
}

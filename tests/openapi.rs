//! The OpenAPI document cannot drift from the code: every route the template and the local
//! gateway declare is documented and every documented route is served, with exactly the
//! documented methods; and real answers from the local stack over moto, successes and errors,
//! validate against the document's schemas for their status.

mod common;

use std::collections::BTreeSet;

use common::{ARRIVAL, Answer, BOTH, Stack, deleted};
use hookline_core::model::Scope;
use hookline_local::LocalOptions;
use hookline_testkit::{TestReceiver, eventually};
use reqwest::Method;
use serde_json::{Value, json};

const COMMITTED: &str = include_str!("../functions/http/openapi.json");
const TEMPLATE: &str = include_str!("../template.yaml");

const METHODS: [&str; 5] = ["get", "post", "patch", "delete", "put"];

fn document() -> Value {
    serde_json::from_str(COMMITTED).expect("the committed document is JSON")
}

fn documented_paths(document: &Value) -> BTreeSet<String> {
    document["paths"].as_object().expect("paths").keys().cloned().collect()
}

fn documented_methods(document: &Value, path: &str) -> BTreeSet<&'static str> {
    METHODS.into_iter().filter(|method| document["paths"][path][*method].is_object()).collect()
}

/// `(path, method)` of every API event in the template, method as written (`ANY` included).
fn template_routes() -> Vec<(String, String)> {
    let field = |line: &str, name: &str| {
        let start = line.find(&format!("{name}: "))? + name.len() + 2;
        let rest = &line[start..];
        let value = match rest.strip_prefix('"') {
            Some(quoted) => &quoted[..quoted.find('"')?],
            None => &rest[..rest.find([',', '}']).unwrap_or(rest.len())],
        };
        Some(value.trim().to_owned())
    };
    TEMPLATE
        .lines()
        .filter(|line| line.contains("RestApiId: !Ref Api"))
        .map(|line| (field(line, "Path").expect("a Path"), field(line, "Method").expect("a Method")))
        .collect()
}

#[test]
fn every_declared_route_is_documented_and_every_documented_route_is_declared() {
    let document = document();
    let documented = documented_paths(&document);
    let gateway: BTreeSet<String> = hookline_local::api_routes().into_iter().map(str::to_owned).collect();
    assert_eq!(gateway, documented, "the local gateway's routes and the document's paths");

    let template = template_routes();
    assert!(template.len() >= 7, "the template's API events were found: {template:?}");
    let template_paths: BTreeSet<String> = template.iter().map(|(path, _)| path.clone()).collect();
    for (path, method) in &template {
        assert!(documented.contains(path), "{path} is in the template but not documented");
        if method != "ANY" {
            let method = method.to_ascii_lowercase();
            assert!(document["paths"][path][&method].is_object(), "{method} {path} is in the template, not documented");
        }
    }
    for path in &documented {
        let declared: Vec<&String> =
            template.iter().filter(|(declared, _)| declared == path).map(|(_, method)| method).collect();
        assert!(!declared.is_empty(), "{path} is documented but the template declares no route");
        for method in documented_methods(&document, path) {
            assert!(
                declared.iter().any(|m| *m == "ANY" || m.eq_ignore_ascii_case(method)),
                "{method} {path} is documented but the template routes only {declared:?}"
            );
        }
    }
    assert!(template_paths.is_subset(&documented));
}

#[tokio::test]
async fn the_stack_serves_exactly_the_documented_methods_and_the_committed_document() {
    let document = document();
    let stack = Stack::start(LocalOptions::default()).await;
    let key = stack.key("acme", BOTH).await;
    let template_paths: BTreeSet<String> = template_routes().into_iter().map(|(path, _)| path).collect();

    let served = stack.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(served.status, 200, "served without a key");
    assert_eq!(served.body, document, "the served document is the committed one");

    let nobody = format!("sub_{}", "0".repeat(26));
    let mut checked = 0;
    for path in documented_paths(&document) {
        assert!(template_paths.contains(&path), "{path} is documented but the template declares no route");
        let documented = documented_methods(&document, &path);
        let concrete = path.replace("{id}", &nobody);
        for method in METHODS {
            let method_name = method.to_ascii_uppercase();
            let request = stack.request(method_name.parse().expect("method"), &concrete, Some(&key), Some(&json!({})));
            let answer = stack.send(request).await;
            let unrouted =
                answer.status == 405 || (answer.status == 404 && answer.body["error"]["message"] == "no such route");
            assert_eq!(
                !unrouted,
                documented.contains(method),
                "{method_name} {path}: answered {} {} but documented methods are {documented:?}",
                answer.status,
                answer.body
            );
            checked += 1;
        }
    }
    println!("openapi: {checked} (path, method) pairs checked against the handlers");
    stack.stop().await;
}

/// Validates `answer` against the document's schema for `method path` and its status.
fn conforms(document: &Value, path: &str, method: &str, answer: &Answer) -> Result<(), String> {
    let operation = &document["paths"][path][method];
    if !operation.is_object() {
        return Err(format!("{method} {path} is not documented"));
    }
    let response = &operation["responses"][answer.status.to_string()];
    if !response.is_object() {
        return Err(format!("{method} {path}: status {} is not documented ({})", answer.status, answer.body));
    }
    let Some(schema) = response["content"]["application/json"]["schema"].as_object() else {
        return match answer.body {
            Value::Null => Ok(()),
            _ => Err(format!("{method} {path} {}: documented without a body, got {}", answer.status, answer.body)),
        };
    };
    if answer.content_type.as_deref() != Some("application/json") {
        return Err(format!("{method} {path} {}: content-type {:?}", answer.status, answer.content_type));
    }
    let mut root = Value::Object(schema.clone());
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    root["components"] = document["components"].clone();
    let validator = jsonschema::draft202012::new(&root).map_err(|e| format!("{method} {path}: bad schema: {e}"))?;
    let errors: Vec<String> =
        validator.iter_errors(&answer.body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{method} {path} {}: {} — {}", answer.status, errors.join("; "), answer.body))
    }
}

#[tokio::test]
async fn real_answers_validate_against_the_document() {
    let document = document();
    let stack =
        Stack::start(LocalOptions { retry_schedule: "1s".parse().expect("schedule"), ..LocalOptions::default() }).await;
    let key = stack.key("acme", BOTH).await;
    let publisher = stack.key("acme", &[Scope::Publish]).await;
    let receiver = TestReceiver::start().await.expect("receiver");
    receiver.script([hookline_testkit::Reply::status(500).with_body("try later")]);
    let mut seen: Vec<(&str, &str, Answer)> = Vec::new();

    let answer = stack.call(Method::GET, "/v1/openapi.json", None, None).await;
    seen.push(("/v1/openapi.json", "get", answer));
    let answer = stack.call(Method::GET, "/v1/event-types", Some(&key), None).await;
    seen.push(("/v1/event-types", "get", answer));

    let body = json!({"url": receiver.url(), "eventTypes": ["client-management.*"], "description": "d", "metadata": {"team": "core"}});
    let created = stack.call(Method::POST, "/v1/subscriptions", Some(&key), Some(body)).await;
    let id = created.body["id"].as_str().expect("id").to_owned();
    seen.push(("/v1/subscriptions", "post", created));
    let (second, _) = stack.subscribe(&key, &receiver.url()).await;
    let item = format!("/v1/subscriptions/{id}");

    let answer = stack.call(Method::POST, "/v1/events", Some(&publisher), Some(deleted("acme", "le-1"))).await;
    seen.push(("/v1/events", "post", answer));
    let batch = json!([deleted("acme", "le-2"), deleted("acme", "le-3")]);
    let answer = stack.call(Method::POST, "/v1/events", Some(&publisher), Some(batch)).await;
    seen.push(("/v1/events", "post", answer));

    let page = stack.call(Method::GET, "/v1/subscriptions?limit=1", Some(&key), None).await;
    let cursor = page.body["nextCursor"].as_str().expect("a second page").to_owned();
    seen.push(("/v1/subscriptions", "get", page));
    let answer = stack.call(Method::GET, &format!("/v1/subscriptions?limit=1&cursor={cursor}"), Some(&key), None).await;
    seen.push(("/v1/subscriptions", "get", answer));
    seen.push(("/v1/subscriptions/{id}", "get", stack.call(Method::GET, &item, Some(&key), None).await));
    let patch = json!({"description": null, "enabled": false, "eventTypes": ["*"]});
    seen.push(("/v1/subscriptions/{id}", "patch", stack.call(Method::PATCH, &item, Some(&key), Some(patch)).await));
    let rotate = format!("{item}/rotate-secret");
    seen.push((
        "/v1/subscriptions/{id}/rotate-secret",
        "post",
        stack.call(Method::POST, &rotate, Some(&key), None).await,
    ));

    // Attempts: one failed (500, retried) and one delivered, as the receiver answers.
    let attempts = format!("/v1/subscriptions/{second}/attempts");
    let logged = eventually(ARRIVAL, "attempts", || async {
        let answer = stack.call(Method::GET, &format!("{attempts}?limit=2"), Some(&key), None).await;
        (answer.body["items"].as_array().is_some_and(|items| items.len() >= 2)).then_some(answer)
    })
    .await
    .expect("logged attempts");
    seen.push(("/v1/subscriptions/{id}/attempts", "get", logged));

    // Replay: accepted for the enabled subscription, 409 for the one disabled above.
    let since = json!({"since": "2020-01-01T00:00:00Z"});
    let replay = format!("/v1/subscriptions/{second}/replay");
    seen.push((
        "/v1/subscriptions/{id}/replay",
        "post",
        stack.call(Method::POST, &replay, Some(&key), Some(since.clone())).await,
    ));
    let replay_disabled = format!("{item}/replay");
    seen.push((
        "/v1/subscriptions/{id}/replay",
        "post",
        stack.call(Method::POST, &replay_disabled, Some(&key), Some(since)).await,
    ));

    // Idempotency: a repeat answers the stored 202, another body under the same key is 409.
    for data in ["le-9", "le-9", "le-10"] {
        let request = stack
            .request(Method::POST, "/v1/events", Some(&publisher), Some(&deleted("acme", data)))
            .header("idempotency-key", "openapi-1");
        seen.push(("/v1/events", "post", stack.send(request).await));
    }

    // Errors, each in its documented shape.
    let errors = [
        ("/v1/events", "post", stack.call(Method::POST, "/v1/events", None, Some(deleted("acme", "x"))).await),
        ("/v1/events", "post", stack.call(Method::POST, "/v1/events", Some(&key), Some(json!({"type": 1}))).await),
        ("/v1/events", "post", stack.call(Method::POST, "/v1/events", Some(&key), Some(deleted("globex", "x"))).await),
        ("/v1/events", "post", stack.call(Method::POST, "/v1/events", Some(&key), Some(json!([]))).await),
        (
            "/v1/events",
            "post",
            stack
                .send(
                    stack
                        .request(Method::POST, "/v1/events", Some(&key), None)
                        .body("x")
                        .header("content-type", "text/plain"),
                )
                .await,
        ),
        (
            "/v1/subscriptions",
            "post",
            stack.call(Method::POST, "/v1/subscriptions", Some(&key), Some(json!({"url": "ftp://x"}))).await,
        ),
        (
            "/v1/subscriptions",
            "post",
            stack.call(Method::POST, "/v1/subscriptions", Some(&publisher), Some(json!({}))).await,
        ),
        ("/v1/subscriptions", "get", stack.call(Method::GET, "/v1/subscriptions?limit=0", Some(&key), None).await),
        ("/v1/subscriptions", "get", stack.call(Method::GET, "/v1/subscriptions?cursor=%21", Some(&key), None).await),
        ("/v1/subscriptions/{id}", "delete", stack.call(Method::DELETE, &item, Some(&key), None).await),
        ("/v1/subscriptions/{id}", "get", stack.call(Method::GET, &item, Some(&key), None).await),
        (
            "/v1/subscriptions/{id}/attempts",
            "get",
            stack.call(Method::GET, &format!("{item}/attempts"), Some(&key), None).await,
        ),
    ];
    seen.extend(errors);

    let mut statuses = BTreeSet::new();
    let failures: Vec<String> = seen
        .iter()
        .filter_map(|(path, method, answer)| {
            statuses.insert(answer.status);
            conforms(&document, path, method, answer).err()
        })
        .collect();
    println!("openapi: {} real answers validated, statuses {statuses:?}", seen.len());
    assert!(failures.is_empty(), "answers that do not match the document:\n{}", failures.join("\n"));
    for status in [200, 201, 202, 204, 400, 401, 403, 404, 415, 422] {
        assert!(statuses.contains(&status), "status {status} was exercised");
    }

    // The validator does catch a difference: a secret in a subscription read is not allowed.
    let read = stack.call(Method::GET, &format!("/v1/subscriptions/{second}"), Some(&key), None).await;
    let mut leaked = Answer { status: read.status, content_type: read.content_type.clone(), body: read.body.clone() };
    leaked.body["secret"] = json!("whsec_AAAA");
    assert!(conforms(&document, "/v1/subscriptions/{id}", "get", &read).is_ok());
    assert!(conforms(&document, "/v1/subscriptions/{id}", "get", &leaked).is_err(), "a secret in a read is refused");
    stack.stop().await;
}

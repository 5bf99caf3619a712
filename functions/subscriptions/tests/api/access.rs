use hookline_core::ports::SubscriptionStore;
use serde_json::json;

use crate::support::*;

/// Every route, aimed at subscription `id`.
fn every_route(id: &str) -> Vec<Call> {
    vec![
        call("POST", COLLECTION).json(new_subscription("x")),
        call("GET", COLLECTION),
        call("GET", ITEM).id(id),
        call("PATCH", ITEM).id(id).json(json!({"enabled": false})),
        call("DELETE", ITEM).id(id),
        call("GET", ATTEMPTS).id(id),
        call("POST", ROTATE).id(id),
    ]
}

#[tokio::test]
async fn another_tenants_subscription_is_not_found_on_every_route() {
    let handler = handler();
    let theirs = create(&handler, GLOBEX, new_subscription("theirs")).await;
    let id = id_of(&theirs);
    for request in [
        call("GET", ITEM).id(&id),
        call("PATCH", ITEM).id(&id).json(json!({"description": "mine now"})),
        call("DELETE", ITEM).id(&id),
        call("POST", ROTATE).id(&id),
        call("GET", ATTEMPTS).id(&id),
    ] {
        let answer = request.clone().key(ACME).send(&handler).await;
        assert_eq!((answer.status, answer.code()), (404, Some("not_found")), "{request:?}");
    }
    // Untouched, and still there for its owner.
    let fetched = call("GET", ITEM).id(&id).key(GLOBEX).send(&handler).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body["description"], json!(null));
    assert_eq!(fetched.body["updatedAt"], theirs["updatedAt"]);
}

#[tokio::test]
async fn a_malformed_id_is_not_found() {
    let handler = handler();
    for id in ["nope", "sub_", "evt_01JF0000000000000000000000", "sub_01JF000000000000000000000!"] {
        for request in [call("GET", ITEM), call("DELETE", ITEM), call("POST", ROTATE), call("GET", ATTEMPTS)] {
            let answer = request.id(id).send(&handler).await;
            assert_eq!(answer.status, 404, "{id}");
        }
    }
}

#[tokio::test]
async fn the_manage_scope_is_required() {
    let handler = handler();
    let id = id_of(&create(&handler, ACME, new_subscription("mine")).await);
    for request in every_route(&id) {
        let answer = request.clone().key(PUBLISHER).send(&handler).await;
        assert_eq!((answer.status, answer.code()), (403, Some("forbidden")), "{request:?}");
        assert!(answer.message().contains("manage"), "{}", answer.message());
    }
    assert_eq!(call("GET", ITEM).id(&id).send(&handler).await.status, 200, "still there");
}

#[tokio::test]
async fn a_platform_key_manages_no_tenant() {
    let handler = handler();
    let id = id_of(&create(&handler, ACME, new_subscription("mine")).await);
    for request in every_route(&id) {
        let answer = request.clone().key(PLATFORM).send(&handler).await;
        assert_eq!(answer.status, 403, "{request:?}");
    }
    assert_eq!(handler.store().list_all(&"acme".parse().expect("tenant")).await.expect("list").len(), 1);
}

#[tokio::test]
async fn a_request_without_an_authorizer_context_is_401() {
    let handler = handler();
    let answer = call("GET", COLLECTION).anonymous().send(&handler).await;
    assert_eq!(answer.status, 401);
}

#[tokio::test]
async fn the_tenant_cannot_be_chosen_in_the_body() {
    let handler = handler();
    let mut body = new_subscription("sneaky");
    body["tenant"] = json!("globex");
    let answer = call("POST", COLLECTION).json(body).send(&handler).await;
    assert_eq!((answer.status, answer.field()), (400, Some("tenant")));
    let globex = call("GET", COLLECTION).key(GLOBEX).send(&handler).await;
    assert_eq!(globex.body["items"], json!([]));
}

#[tokio::test]
async fn unknown_routes_are_404_and_unknown_methods_405() {
    let handler = handler();
    let id = id_of(&create(&handler, ACME, new_subscription("r")).await);
    for (method, resource) in [
        ("DELETE", COLLECTION),
        ("PUT", COLLECTION),
        ("PUT", ITEM),
        ("POST", ITEM),
        ("POST", ATTEMPTS),
        ("GET", ROTATE),
        ("DELETE", ROTATE),
        ("GET", REPLAY),
    ] {
        let answer = call(method, resource).id(&id).send(&handler).await;
        assert_eq!((answer.status, answer.code()), (405, Some("method_not_allowed")), "{method} {resource}");
    }
    for resource in ["/v1/events", "/v1/subscriptions/{id}/redeliver", "/v2/subscriptions"] {
        let answer = call("GET", resource).id(&id).send(&handler).await;
        assert_eq!((answer.status, answer.code()), (404, Some("not_found")), "{resource}");
    }
}

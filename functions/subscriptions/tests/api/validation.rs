use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn unacceptable_urls_are_422_naming_url_and_nothing_is_stored() {
    let handler = handler();
    for url in [
        json!("not a url"),
        json!("/relative/path"),
        json!("http://93.184.216.34/plain-http"),
        json!("ftp://93.184.216.34/file"),
        json!("https://user:secret@93.184.216.34/in"),
        json!("https://127.0.0.1/x"),
        json!("https://10.0.0.1/x"),
        json!("https://[::1]/x"),
        json!("https://169.254.169.254/latest/meta-data/"),
        json!("https://192.168.1.1:8443/x"),
        json!(format!("https://93.184.216.34/{}", "a".repeat(2048))),
        json!(42),
    ] {
        let answer = call("POST", COLLECTION).json(json!({"url": url, "eventTypes": ["*"]})).send(&handler).await;
        assert_eq!((answer.status, answer.field()), (422, Some("url")), "{url}: {:?}", answer.body);
    }
    let listed = call("GET", COLLECTION).send(&handler).await;
    assert_eq!(listed.body["items"], json!([]));
}

#[tokio::test]
async fn the_refusal_says_which_address_and_why() {
    let handler = handler();
    let answer = call("POST", COLLECTION)
        .json(json!({"url": "https://169.254.169.254/latest", "eventTypes": ["*"]}))
        .send(&handler)
        .await;
    assert!(answer.message().contains("169.254.169.254"), "{}", answer.message());
    assert!(answer.message().contains("cloud metadata"), "{}", answer.message());
    // A name is resolved, and refused for what it resolves to (`localhost` needs no network).
    let answer = call("POST", COLLECTION)
        .json(json!({"url": "https://localhost:8443/x", "eventTypes": ["*"]}))
        .send(&handler)
        .await;
    assert_eq!((answer.status, answer.field()), (422, Some("url")));
    assert!(answer.message().contains("loopback"), "{}", answer.message());
}

#[tokio::test]
async fn local_mode_admits_http_loopback_targets() {
    let handler = local_handler();
    let created = create(&handler, ACME, json!({"url": "http://127.0.0.1:9/x", "eventTypes": ["*"]})).await;
    assert_eq!(created["url"], "http://127.0.0.1:9/x");
    // Still no other schemes, and still no credentials.
    for url in ["ftp://127.0.0.1/x", "http://u:p@127.0.0.1:9/x"] {
        let answer = call("POST", COLLECTION).json(json!({"url": url, "eventTypes": ["*"]})).send(&handler).await;
        assert_eq!((answer.status, answer.field()), (422, Some("url")), "{url}");
    }
}

#[tokio::test]
async fn event_types_must_name_catalogue_types() {
    let handler = handler();
    let answer = call("POST", COLLECTION)
        .json(json!({"url": "https://93.184.216.34/", "eventTypes": ["client-management.legalentity-exploded"]}))
        .send(&handler)
        .await;
    assert_eq!((answer.status, answer.field()), (422, Some("eventTypes[0]")));
    for known in [
        "client-management.legalentity-created",
        "client-management.legalentity-updated",
        "client-management.legalentity-deleted",
        "client-management.user-assigned-to-legalentity",
    ] {
        assert!(answer.message().contains(known), "{}", answer.message());
    }
    let answer = call("POST", COLLECTION)
        .json(json!({"url": "https://93.184.216.34/", "eventTypes": [CREATED, "billing.*"]}))
        .send(&handler)
        .await;
    assert_eq!((answer.status, answer.field()), (422, Some("eventTypes[1]")));
    for filters in [json!(["*"]), json!(["client-management.*"]), json!(["client-management.legalentity-*"])] {
        create(&handler, ACME, json!({"url": "https://93.184.216.34/", "eventTypes": filters})).await;
    }
}

#[tokio::test]
async fn unknown_fields_are_400_and_wrong_types_422() {
    let handler = handler();
    let mut body = new_subscription("x");
    body["secret"] = json!("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let answer = call("POST", COLLECTION).json(body).send(&handler).await;
    assert_eq!((answer.status, answer.field(), answer.code()), (400, Some("secret"), Some("unknown_field")));

    let mut body = new_subscription("x");
    body["enabled"] = json!("true");
    let answer = call("POST", COLLECTION).json(body).send(&handler).await;
    assert_eq!((answer.status, answer.field()), (422, Some("enabled")));

    let mut body = new_subscription("x");
    body["metadata"] = json!({"team": ["a"]});
    let answer = call("POST", COLLECTION).json(body).send(&handler).await;
    assert_eq!((answer.status, answer.field()), (422, Some("metadata.team")));
}

#[tokio::test]
async fn bodies_are_json_objects_of_at_most_64_kib() {
    let handler = handler();
    let answer = call("POST", COLLECTION).raw_body("{\"url\":").send(&handler).await;
    assert_eq!((answer.status, answer.code()), (400, Some("invalid_json")));
    let answer = call("POST", COLLECTION).json(json!([new_subscription("x")])).send(&handler).await;
    assert_eq!(answer.status, 400);
    let mut big = new_subscription("x");
    big["description"] = json!("d".repeat(64 * 1024));
    let answer = call("POST", COLLECTION).json(big).send(&handler).await;
    assert_eq!(answer.status, 413);
}

#[tokio::test]
async fn a_patch_is_validated_like_a_create() {
    let handler = handler();
    let created = create(&handler, ACME, new_subscription("p")).await;
    let id = id_of(&created);
    for (body, status, field) in [
        (json!({"url": "https://10.0.0.1/x"}), 422, "url"),
        (json!({"eventTypes": ["nope.nothing"]}), 422, "eventTypes[0]"),
        (json!({"eventTypes": []}), 422, "eventTypes"),
        (json!({"description": "d".repeat(513)}), 422, "description"),
        (json!({"enabled": null}), 422, "enabled"),
        (json!({"tenant": "globex"}), 400, "tenant"),
        (json!({"id": "sub_01JF0000000000000000000000"}), 400, "id"),
    ] {
        let answer = call("PATCH", ITEM).id(&id).json(body.clone()).send(&handler).await;
        assert_eq!((answer.status, answer.field()), (status, Some(field)), "{body}");
    }
    let fetched = call("GET", ITEM).id(&id).send(&handler).await;
    let mut expected = created.clone();
    expected.as_object_mut().expect("object").remove("secret");
    assert_eq!(fetched.body, expected, "unchanged");
}

use hookline_core::ids::SubscriptionId;
use hookline_core::model::{SecretEntry, Subscription};
use hookline_core::ports::SubscriptionStore;
use hookline_core::signing::WebhookSecret;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::support::*;

async fn stored(handler: &Handler, id: &str) -> Subscription {
    let id: SubscriptionId = id.parse().expect("id");
    handler.store().get(&"acme".parse().expect("tenant"), &id).await.expect("store").expect("stored")
}

#[tokio::test]
async fn the_secret_is_shown_on_create_and_rotate_only() {
    let handler = handler();
    let created = create(&handler, ACME, new_subscription("s")).await;
    let id = id_of(&created);
    let secret = created["secret"].as_str().expect("secret on create");
    assert_eq!(WebhookSecret::parse(secret).expect("whsec"), stored(&handler, &id).await.secrets[0].secret);

    for request in [
        call("GET", ITEM).id(&id),
        call("GET", COLLECTION),
        call("PATCH", ITEM).id(&id).json(json!({"description": "d"})),
        call("GET", ATTEMPTS).id(&id),
    ] {
        let answer = request.send(&handler).await;
        assert_eq!(answer.status, 200, "{request:?}");
        let text = String::from_utf8(answer.raw.clone()).expect("utf-8");
        assert!(!text.contains("whsec_") && !text.contains("secret"), "{request:?}: {text}");
    }

    let rotated = call("POST", ROTATE).id(&id).send(&handler).await;
    assert_eq!(rotated.status, 200);
    let object = rotated.body.as_object().expect("object");
    assert_eq!(object.keys().collect::<Vec<_>>(), ["secret"]);
    assert!(rotated.body["secret"].as_str().is_some_and(|s| s.starts_with("whsec_")));
}

#[tokio::test]
async fn rotation_keeps_the_old_secret_for_a_day() {
    let handler = handler();
    let created = create(&handler, ACME, new_subscription("rotate")).await;
    let id = id_of(&created);
    let first = WebhookSecret::parse(created["secret"].as_str().expect("secret")).expect("whsec");

    let before = OffsetDateTime::now_utc();
    let rotated = call("POST", ROTATE).id(&id).send(&handler).await;
    let after = OffsetDateTime::now_utc();
    let second = WebhookSecret::parse(rotated.body["secret"].as_str().expect("secret")).expect("whsec");
    assert_ne!(second, first);

    let record = stored(&handler, &id).await;
    assert_eq!(record.version, 2);
    assert_eq!(record.secrets.len(), 2);
    assert_eq!(record.secrets[0], SecretEntry { secret: second.clone(), expires_at: None });
    assert_eq!(record.secrets[1].secret, first);
    let expiry = record.secrets[1].expires_at.expect("the old secret expires");
    assert!(expiry >= before + Duration::hours(24) && expiry <= after + Duration::hours(24), "{expiry}");
    // Both sign now; only the new one after the grace period.
    assert_eq!(record.signing_secrets(after).count(), 2);
    let later: Vec<_> = record.signing_secrets(after + Duration::hours(25)).collect();
    assert_eq!(later, [&second]);
    assert_eq!(rotated.body.get("secrets"), None);

    // Rotating again keeps both earlier secrets until they expire...
    let third = call("POST", ROTATE).id(&id).send(&handler).await;
    let third = WebhookSecret::parse(third.body["secret"].as_str().expect("secret")).expect("whsec");
    let record = stored(&handler, &id).await;
    let secrets: Vec<_> = record.secrets.iter().map(|e| e.secret.clone()).collect();
    assert_eq!(secrets, [third.clone(), second.clone(), first.clone()]);
    assert_eq!(record.secrets[2].expires_at, Some(expiry), "an earlier expiry is not extended");

    // ...and drops those already expired.
    let mut aged = record.clone();
    aged.secrets[2].expires_at = Some(OffsetDateTime::now_utc() - Duration::seconds(1));
    aged.version += 1;
    handler.store().update(&aged).await.expect("update");
    let fourth = call("POST", ROTATE).id(&id).send(&handler).await;
    let fourth = WebhookSecret::parse(fourth.body["secret"].as_str().expect("secret")).expect("whsec");
    let secrets: Vec<_> = stored(&handler, &id).await.secrets.iter().map(|e| e.secret.clone()).collect();
    assert_eq!(secrets, [fourth, third, second]);
}

#[tokio::test]
async fn a_deleted_subscription_cannot_be_rotated() {
    let handler = handler();
    let id = id_of(&create(&handler, ACME, new_subscription("gone")).await);
    assert_eq!(call("DELETE", ITEM).id(&id).send(&handler).await.status, 204);
    assert_eq!(call("POST", ROTATE).id(&id).send(&handler).await.status, 404);
}

//! The authorizer against the in-memory key store and API Gateway-shaped events.

use aws_lambda_events::apigw::{ApiGatewayCustomAuthorizerRequest, ApiGatewayCustomAuthorizerResponse};
use hookline_authorizer::{Authorizer, AuthorizerError};
use hookline_core::api_key;
use hookline_core::memory::MemoryApiKeyStore;
use hookline_core::model::{ApiKey, Scope};
use hookline_core::ports::ApiKeyStore;
use hookline_testkit::model;
use serde_json::{Value, json};
use time::OffsetDateTime;

const METHOD_ARN: &str = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/v1/subscriptions/sub_1";

/// A key text that `events/authorizer/token.json` presents.
const FIXTURE_KEY: &str = "hk_local-example-key-for-sam-invoke-0000000000";

async fn store_key(store: &MemoryApiKeyStore, text: &str, owner: &str, scopes: Vec<Scope>) -> ApiKey {
    let key = ApiKey { scopes, ..model::api_key(owner, text) };
    store.create(&key).await.expect("create key");
    key
}

fn request(token: Option<&str>, method_arn: &str) -> ApiGatewayCustomAuthorizerRequest {
    serde_json::from_value(json!({"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn}))
        .expect("authorizer request")
}

fn as_json(response: &ApiGatewayCustomAuthorizerResponse) -> Value {
    serde_json::to_value(response).expect("serialize")
}

#[tokio::test]
async fn a_valid_key_is_allowed_on_the_whole_api_with_its_tenant_and_scopes() {
    let store = MemoryApiKeyStore::default();
    let minted = api_key::mint();
    let key = store_key(&store, &minted.text, "acme", vec![Scope::Publish, Scope::Manage]).await;
    let authorizer = Authorizer::new(store);

    let bearer = format!("Bearer {}", minted.text);
    let response = authorizer.handle(request(Some(&bearer), METHOD_ARN)).await.expect("allowed");
    let json = as_json(&response);
    assert_eq!(json["principalId"], key.id.to_string());
    let statement = &json["policyDocument"]["Statement"][0];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(statement["Action"], json!(["execute-api:Invoke"]));
    assert_eq!(statement["Resource"], json!(["arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/*/*"]));
    assert_eq!(json["policyDocument"]["Statement"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["context"], json!({"tenant": "acme", "scopes": "publish,manage", "keyId": key.id.to_string()}));

    let resolved = authorizer.resolve(Some(&bearer)).await.expect("resolved");
    assert_eq!(resolved, key);
}

#[tokio::test]
async fn a_platform_key_carries_the_platform_owner() {
    let store = MemoryApiKeyStore::default();
    let minted = api_key::mint();
    store_key(&store, &minted.text, "*", vec![Scope::Publish]).await;
    let authorizer = Authorizer::new(store);
    let response =
        authorizer.handle(request(Some(&format!("Bearer {}", minted.text)), METHOD_ARN)).await.expect("allowed");
    assert_eq!(as_json(&response)["context"]["tenant"], "*");
    assert_eq!(as_json(&response)["context"]["scopes"], "publish");
}

#[tokio::test]
async fn wrong_missing_malformed_or_revoked_keys_are_unauthorized() {
    let store = MemoryApiKeyStore::default();
    let minted = api_key::mint();
    let revoked_text = api_key::mint().text;
    store_key(&store, &minted.text, "acme", vec![Scope::Manage]).await;
    let revoked = store_key(&store, &revoked_text, "acme", vec![Scope::Manage]).await;
    assert!(store.revoke(&revoked.id, OffsetDateTime::now_utc()).await.expect("revoke"));
    let authorizer = Authorizer::new(store);

    let unknown = format!("Bearer {}", api_key::mint().text);
    let basic = format!("Basic {}", minted.text);
    let bare = minted.text.clone();
    let revoked_bearer = format!("Bearer {revoked_text}");
    let truncated = format!("Bearer {}", &minted.text[..minted.text.len() - 1]);
    for token in [
        None,
        Some(""),
        Some("Bearer"),
        Some(unknown.as_str()),
        Some(basic.as_str()),
        Some(bare.as_str()),
        Some(revoked_bearer.as_str()),
        Some(truncated.as_str()),
    ] {
        assert_eq!(authorizer.resolve(token).await, Err(AuthorizerError::Unauthorized), "{token:?}");
        let error = authorizer.handle(request(token, METHOD_ARN)).await.expect_err("refused");
        assert_eq!(error, AuthorizerError::Unauthorized, "{token:?}");
        assert_eq!(error.to_string(), "Unauthorized");
    }
}

#[tokio::test]
async fn a_store_outage_is_not_a_deny() {
    let store = MemoryApiKeyStore::default();
    let minted = api_key::mint();
    store_key(&store, &minted.text, "acme", vec![Scope::Manage]).await;
    store.outage.set(true);
    let authorizer = Authorizer::new(store);

    let bearer = format!("Bearer {}", minted.text);
    let error = authorizer.resolve(Some(&bearer)).await.expect_err("outage");
    assert!(matches!(error, AuthorizerError::Unavailable(_)), "{error:?}");
    assert_ne!(error.to_string(), "Unauthorized");
    let error = authorizer.handle(request(Some(&bearer), METHOD_ARN)).await.expect_err("outage");
    assert!(matches!(error, AuthorizerError::Unavailable(_)), "{error:?}");

    // The key is fine once the store is back.
    authorizer.keys().outage.set(false);
    assert!(authorizer.resolve(Some(&bearer)).await.is_ok());
}

#[tokio::test]
async fn a_method_arn_that_names_no_api_is_an_error_not_an_allow() {
    let store = MemoryApiKeyStore::default();
    let minted = api_key::mint();
    store_key(&store, &minted.text, "acme", vec![Scope::Manage]).await;
    let authorizer = Authorizer::new(store);
    let error = authorizer
        .handle(request(Some(&format!("Bearer {}", minted.text)), "arn:aws:lambda:eu-west-1:1:function:f"))
        .await
        .expect_err("bad arn");
    assert!(matches!(error, AuthorizerError::InvalidMethodArn(_)), "{error:?}");
}

#[tokio::test]
async fn the_sam_fixture_is_authorized() {
    let text = include_str!("../../../events/authorizer/token.json");
    let event: ApiGatewayCustomAuthorizerRequest = serde_json::from_str(text).expect("fixture parses");
    assert_eq!(event.type_.as_deref(), Some("TOKEN"));

    let store = MemoryApiKeyStore::default();
    let key = store_key(&store, FIXTURE_KEY, "acme", vec![Scope::Manage]).await;
    let authorizer = Authorizer::new(store);
    let response = authorizer.handle(event.clone()).await.expect("fixture key allowed");
    let json = as_json(&response);
    assert_eq!(json["principalId"], key.id.to_string());
    assert_eq!(
        json["policyDocument"]["Statement"][0]["Resource"],
        json!(["arn:aws:execute-api:us-east-1:123456789012:abc123/prod/*/*"])
    );

    // With that key revoked the same event is refused.
    let store = MemoryApiKeyStore::default();
    let revoked = store_key(&store, FIXTURE_KEY, "acme", vec![Scope::Manage]).await;
    store.revoke(&revoked.id, OffsetDateTime::now_utc()).await.expect("revoke");
    assert_eq!(Authorizer::new(store).handle(event).await, Err(AuthorizerError::Unauthorized));
}

//! Hookline's records as tests build them: a valid value with plain defaults, whose fields a
//! test then sets with struct-update syntax, e.g.
//! `Subscription { enabled: false, ..model::subscription("acme", url) }`.

use std::collections::BTreeMap;

use hookline_core::api_key;
use hookline_core::ids::{ApiKeyId, SubscriptionId};
use hookline_core::model::{ApiKey, Scope, SecretEntry, Subscription};
use hookline_core::signing::WebhookSecret;
use time::OffsetDateTime;

/// An enabled subscription of `tenant` to every event type (`*`), delivering to `url`: a fresh
/// id and one fresh signing secret, no description, metadata or disabled reason, created now at
/// version 1.
///
/// Panics when `tenant` is not a valid tenant name.
pub fn subscription(tenant: &str, url: &str) -> Subscription {
    let now = OffsetDateTime::now_utc();
    Subscription {
        id: SubscriptionId::generate(),
        tenant: tenant.parse().unwrap_or_else(|err| panic!("tenant {tenant:?}: {err}")),
        url: url.to_owned(),
        event_types: vec!["*".into()],
        description: None,
        enabled: true,
        metadata: BTreeMap::new(),
        secrets: vec![SecretEntry { secret: WebhookSecret::generate(), expires_at: None }],
        disabled: None,
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

/// A live API key of `owner` (a tenant, or `*` for a platform key) with both scopes, stored as the
/// SHA-256 of `key_text` the way `hookline keys create` stores one; created now, not revoked.
///
/// Panics when `owner` is not a valid key owner.
pub fn api_key(owner: &str, key_text: &str) -> ApiKey {
    ApiKey {
        id: ApiKeyId::generate(),
        owner: owner.parse().unwrap_or_else(|err| panic!("owner {owner:?}: {err}")),
        scopes: vec![Scope::Publish, Scope::Manage],
        key_hash: api_key::hash(key_text),
        created_at: OffsetDateTime::now_utc(),
        revoked_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_subscription_signs_with_its_one_secret_and_matches_every_type() {
        let sub = subscription("acme", "https://hooks.example.com/in");
        assert_eq!(sub.tenant.as_str(), "acme");
        assert_eq!(sub.url, "https://hooks.example.com/in");
        assert_eq!(sub.event_types, ["*"]);
        assert!(sub.enabled && sub.disabled.is_none());
        assert_eq!(sub.signing_secrets(OffsetDateTime::now_utc()).count(), 1);
        assert_ne!(sub.id, subscription("acme", "https://hooks.example.com/in").id, "a fresh id each time");
    }

    #[test]
    #[should_panic(expected = "tenant \"a b\"")]
    fn an_invalid_tenant_is_refused_loudly() {
        subscription("a b", "https://hooks.example.com/in");
    }

    #[test]
    fn a_built_api_key_holds_the_hash_of_its_text_never_the_text() {
        let key = api_key("acme", "hk_test-key");
        assert_eq!(key.key_hash, hookline_core::api_key::hash("hk_test-key"));
        assert!(!format!("{key:?}").contains("hk_test-key"));
        assert_eq!(key.scopes, [Scope::Publish, Scope::Manage]);
        assert!(key.revoked_at.is_none());
    }
}

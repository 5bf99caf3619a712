//! `hookline keys list` and `hookline keys revoke`: what an operator does when a key leaks.
//!
//! Both reach the table the way `hookline keys create` does (HOOKLINE_TABLE, default
//! `hookline`, on AWS_ENDPOINT_URL when set). Listing prints ids, owner, scopes and dates, never
//! a key or its hash. A revoked key is refused by the very next request in the local stack (its
//! gateway asks the authorizer every time); on AWS, API Gateway caches the authorizer's answer
//! per key for `ReauthorizeEvery` seconds (60 in `template.yaml`), so a revoked key can keep
//! working for up to a minute there.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use hookline_aws::DynamoStore;
use hookline_core::ids::ApiKeyId;
use hookline_core::model::{ApiKey, KeyOwner};
use hookline_core::ports::ApiKeyStore;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The key table a `hookline keys` command works on, and how to name it in errors.
pub struct KeyTable {
    pub store: DynamoStore,
    /// "table `hookline` at http://127.0.0.1:4566 (…)" or "… on AWS (…)".
    pub place: String,
}

impl KeyTable {
    /// From HOOKLINE_TABLE and AWS_ENDPOINT_URL, as every `hookline keys` command reads them.
    pub async fn from_env() -> Self {
        let table = std::env::var("HOOKLINE_TABLE")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| "hookline".to_owned());
        let (config, place) = crate::aws_target().await;
        let place = format!("table `{table}` {place}");
        // Keys never expire by TTL; retention applies to events and attempts only.
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), &table, Duration::ZERO);
        Self { store, place }
    }
}

/// Writes one line per key of `tenant` (`*`: platform keys), oldest first, under a header.
pub async fn list(keys: &impl ApiKeyStore, place: &str, tenant: &str, out: &mut impl Write) -> anyhow::Result<()> {
    let owner: KeyOwner = tenant.parse().with_context(|| format!("--tenant `{tenant}`"))?;
    let found = keys.list(&owner).await.with_context(|| format!("listing the keys in {place}"))?;
    writeln!(out, "KEY_ID\tTENANT\tSCOPES\tCREATED\tREVOKED")?;
    for key in &found {
        writeln!(out, "{}", line(key))?;
    }
    Ok(())
}

/// One key, tab-separated: id, owner, scopes, created, revoked (`-` when live). The hash is
/// left out on purpose: it is all an attacker needs to find the key's record.
fn line(key: &ApiKey) -> String {
    let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
    let date = |at: OffsetDateTime| at.format(&Rfc3339).unwrap_or_else(|_| at.to_string());
    format!(
        "{}\t{}\t{}\t{}\t{}",
        key.id.as_str(),
        key.owner.as_str(),
        scopes.join(","),
        date(key.created_at),
        key.revoked_at.map_or_else(|| "-".to_owned(), date)
    )
}

/// Revokes a key by id; an unknown id is an error. Revoking twice keeps the first time.
pub async fn revoke(keys: &impl ApiKeyStore, place: &str, id: &str, out: &mut impl Write) -> anyhow::Result<()> {
    let id: ApiKeyId = id.trim().parse().with_context(|| format!("`{id}` is not an API key id (key_…)"))?;
    let found =
        keys.revoke(&id, OffsetDateTime::now_utc()).await.with_context(|| format!("revoking the key in {place}"))?;
    if !found {
        bail!("there is no API key {} in {place}", id.as_str());
    }
    writeln!(
        out,
        "revoked API key {}; the local stack refuses it now, API Gateway on AWS within its authorizer cache TTL (60 s)",
        id.as_str()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use hookline_core::api_key;
    use hookline_core::memory::MemoryApiKeyStore;
    use hookline_core::model::Scope;

    use super::*;

    fn key(owner: &str, scopes: &[Scope]) -> (ApiKey, String) {
        let minted = api_key::mint();
        let key = ApiKey {
            id: ApiKeyId::generate(),
            owner: owner.parse().expect("owner"),
            scopes: scopes.to_vec(),
            key_hash: minted.hash,
            created_at: OffsetDateTime::now_utc(),
            revoked_at: None,
        };
        (key, minted.text)
    }

    #[tokio::test]
    async fn list_shows_ids_scopes_and_dates_but_never_the_key_or_its_hash() {
        let store = MemoryApiKeyStore::default();
        let (acme, acme_text) = key("acme", &[Scope::Publish, Scope::Manage]);
        let (globex, _) = key("globex", &[Scope::Publish]);
        store.create(&acme).await.expect("create");
        store.create(&globex).await.expect("create");
        let mut out = Vec::new();
        list(&store, "memory", "acme", &mut out).await.expect("list");
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0], "KEY_ID\tTENANT\tSCOPES\tCREATED\tREVOKED");
        let fields: Vec<&str> = lines[1].split('\t').collect();
        assert_eq!(fields[..3], [acme.id.as_str(), "acme", "publish,manage"]);
        assert_eq!(fields[4], "-");
        assert!(!text.contains(&acme_text) && !text.contains(&acme.key_hash), "{text}");
        assert!(!text.contains(globex.id.as_str()), "other tenants' keys are not listed");
        let mut out = Vec::new();
        assert!(list(&store, "memory", "not a tenant!", &mut out).await.is_err());
    }

    #[tokio::test]
    async fn revoke_marks_the_key_and_refuses_unknown_or_malformed_ids() {
        let store = MemoryApiKeyStore::default();
        let (acme, _) = key("acme", &[Scope::Manage]);
        store.create(&acme).await.expect("create");
        let mut out = Vec::new();
        revoke(&store, "memory", acme.id.as_str(), &mut out).await.expect("revoke");
        assert!(String::from_utf8_lossy(&out).contains(acme.id.as_str()));
        let listed = store.list(&acme.owner).await.expect("list");
        assert!(listed[0].revoked_at.is_some());
        let unknown = ApiKeyId::generate();
        let error = revoke(&store, "memory", unknown.as_str(), &mut out).await.expect_err("unknown");
        assert!(error.to_string().contains(unknown.as_str()), "{error}");
        assert!(revoke(&store, "memory", "sub_nope", &mut out).await.is_err(), "malformed");
    }
}

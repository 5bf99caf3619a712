//! The caller of an API route, as the authorizer resolved its key.
//!
//! The authorizer writes [`CallerContext`] into API Gateway's request context; the API functions
//! read it back with [`Caller::from_request`]. Both sides use this one type so they cannot drift.
//! The tenant always comes from here, never from a request body.

use std::collections::HashMap;

use hookline_core::model::{ApiKey, KeyOwner, Scope, TenantId};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde_json::Value;

use crate::ApiError;

/// Who is calling: the key's id, whose data it reaches, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub key_id: String,
    pub owner: KeyOwner,
    pub scopes: Vec<Scope>,
}

/// The authorizer's context entries. API Gateway only passes strings, numbers and booleans,
/// so scopes travel comma-separated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerContext;

impl CallerContext {
    pub const TENANT: &'static str = "tenant";
    pub const SCOPES: &'static str = "scopes";
    pub const KEY_ID: &'static str = "keyId";

    /// The context the authorizer returns for a valid key.
    pub fn for_key(key: &ApiKey) -> serde_json::Map<String, Value> {
        let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
        let mut context = serde_json::Map::new();
        context.insert(Self::TENANT.into(), Value::String(key.owner.as_str().to_owned()));
        context.insert(Self::SCOPES.into(), Value::String(scopes.join(",")));
        context.insert(Self::KEY_ID.into(), Value::String(key.id.to_string()));
        context
    }
}

impl Caller {
    /// Reads the caller from the authorizer's context; a request without one is 401.
    pub fn from_request(request: &Request) -> Result<Self, ApiError> {
        let fields = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV1(context)) => &context.authorizer.fields,
            Some(RequestContext::ApiGatewayV2(context)) => match &context.authorizer {
                Some(authorizer) => &authorizer.fields,
                None => return Err(ApiError::unauthorized()),
            },
            _ => return Err(ApiError::unauthorized()),
        };
        Self::from_fields(fields).ok_or_else(ApiError::unauthorized)
    }

    fn from_fields(fields: &HashMap<String, Value>) -> Option<Self> {
        let text = |name: &str| fields.get(name).and_then(Value::as_str);
        let owner = text(CallerContext::TENANT)?.parse().ok()?;
        let scopes = text(CallerContext::SCOPES)?
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<Scope>, _>>()
            .ok()?;
        Some(Self { key_id: text(CallerContext::KEY_ID)?.to_owned(), owner, scopes })
    }

    /// 403 unless the key carries `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("this API key lacks the `{}` scope", scope.as_str())))
        }
    }

    /// The tenant whose resources a `manage` call touches. A platform key belongs to no
    /// tenant and so manages none.
    pub fn tenant(&self) -> Result<&TenantId, ApiError> {
        match &self.owner {
            KeyOwner::Tenant(tenant) => Ok(tenant),
            KeyOwner::Platform => Err(ApiError::forbidden(
                "a platform key publishes for any tenant but manages no tenant's subscriptions; use a tenant key",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_core::ids::ApiKeyId;

    #[test]
    fn the_authorizer_context_reads_back_as_the_same_caller() {
        let key = ApiKey {
            id: ApiKeyId::generate(),
            owner: KeyOwner::Tenant("acme".parse().expect("tenant")),
            scopes: vec![Scope::Publish, Scope::Manage],
            key_hash: "0".repeat(64),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            revoked_at: None,
        };
        let fields: HashMap<String, Value> = CallerContext::for_key(&key).into_iter().collect();
        let caller = Caller::from_fields(&fields).expect("caller");
        assert_eq!(caller.owner, key.owner);
        assert_eq!(caller.scopes, key.scopes);
        assert_eq!(caller.key_id, key.id.to_string());
        assert!(caller.require(Scope::Manage).is_ok());
    }

    #[test]
    fn scopes_and_platform_keys_are_enforced() {
        let publisher = Caller { key_id: "key_x".into(), owner: KeyOwner::Platform, scopes: vec![Scope::Publish] };
        assert_eq!(publisher.require(Scope::Manage).expect_err("no manage").status, 403);
        assert_eq!(publisher.tenant().expect_err("platform").status, 403);
        assert!(Caller::from_fields(&HashMap::new()).is_none());
    }
}

//! The API Gateway TOKEN authorizer: `Authorization: Bearer hk_…` → the key's tenant and scopes.
//!
//! The key is hashed and looked up by its hash; its text is never stored or logged. A valid key
//! gets an Allow policy on the whole API (API Gateway caches the answer per token and reuses it
//! for every route) and the [`CallerContext`] the API functions read back as their caller.
//!
//! API Gateway only understands two failures from a TOKEN authorizer: the exact error message
//! `Unauthorized` (→ 401) and anything else (→ 500). An unknown or revoked key must be the
//! first; a store outage must be the second, or a deny would be cached for a valid key.

use aws_lambda_events::apigw::{ApiGatewayCustomAuthorizerRequest, ApiGatewayCustomAuthorizerResponse};
use hookline_core::api_key;
use hookline_core::model::ApiKey;
use hookline_core::ports::ApiKeyStore;
use hookline_http::CallerContext;
use lambda_runtime::Diagnostic;
use serde_json::{Value, json};

/// Why a request was not authorized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizerError {
    /// No key, a malformed one, an unknown one or a revoked one. The message must be exactly
    /// `Unauthorized`: API Gateway turns that message, and only that one, into a 401.
    #[error("Unauthorized")]
    Unauthorized,
    /// The key store could not answer; API Gateway answers 500 and caches nothing.
    #[error("the API key store is unavailable: {0}")]
    Unavailable(String),
    /// API Gateway sent a `methodArn` this authorizer cannot scope a policy to.
    #[error("the methodArn `{0}` is not an execute-api ARN (arn:…:execute-api:region:account:api/stage/…)")]
    InvalidMethodArn(String),
    /// The response could not be built (a bug, never the caller's fault).
    #[error("the authorizer response could not be built: {0}")]
    Internal(String),
}

impl AuthorizerError {
    fn kind(&self) -> &'static str {
        match self {
            Self::Unauthorized => "Unauthorized",
            Self::Unavailable(_) => "Unavailable",
            Self::InvalidMethodArn(_) => "InvalidMethodArn",
            Self::Internal(_) => "Internal",
        }
    }
}

impl From<AuthorizerError> for Diagnostic {
    fn from(error: AuthorizerError) -> Self {
        Diagnostic { error_type: error.kind().to_owned(), error_message: error.to_string() }
    }
}

/// The authorizer, generic over where keys are stored.
#[derive(Debug)]
pub struct Authorizer<K> {
    keys: K,
}

impl<K: ApiKeyStore> Authorizer<K> {
    pub fn new(keys: K) -> Self {
        Self { keys }
    }

    /// The key store (tests inspect the in-memory one).
    pub fn keys(&self) -> &K {
        &self.keys
    }

    /// The live key an `Authorization` header value presents.
    pub async fn resolve(&self, authorization: Option<&str>) -> Result<ApiKey, AuthorizerError> {
        let Some(text) = authorization.and_then(api_key::from_authorization) else {
            tracing::info!(reason = "missing or malformed", "API key refused");
            return Err(AuthorizerError::Unauthorized);
        };
        let found = self.keys.find_by_hash(&api_key::hash(text)).await.map_err(|error| {
            tracing::error!(%error, "API key store unavailable");
            AuthorizerError::Unavailable(error.to_string())
        })?;
        match found {
            None => {
                tracing::info!(reason = "unknown", "API key refused");
                Err(AuthorizerError::Unauthorized)
            }
            Some(key) if key.revoked_at.is_some() => {
                tracing::info!(reason = "revoked", key_id = %key.id, "API key refused");
                Err(AuthorizerError::Unauthorized)
            }
            Some(key) => Ok(key),
        }
    }

    /// Answers API Gateway: an Allow policy on the whole API, the key id as principal, and
    /// the caller's tenant and scopes as context.
    pub async fn handle(
        &self,
        request: ApiGatewayCustomAuthorizerRequest,
    ) -> Result<ApiGatewayCustomAuthorizerResponse, AuthorizerError> {
        let key = self.resolve(request.authorization_token.as_deref()).await?;
        let method_arn = request.method_arn.unwrap_or_default();
        let resource = whole_api_arn(&method_arn).ok_or(AuthorizerError::InvalidMethodArn(method_arn))?;
        tracing::info!(key_id = %key.id, tenant = key.owner.as_str(), "API key accepted");
        let response = json!({
            "principalId": key.id.to_string(),
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Action": ["execute-api:Invoke"], "Effect": "Allow", "Resource": [resource]}],
            },
            "context": Value::Object(CallerContext::for_key(&key)),
        });
        // The response structs are #[non_exhaustive]; JSON is the one way to build them.
        serde_json::from_value(response).map_err(|error| AuthorizerError::Internal(error.to_string()))
    }
}

/// `arn:aws:execute-api:region:account:apiId/stage/METHOD/path` → `…:apiId/stage/*/*`: every
/// method and path of the API and stage that asked, so one cached answer serves every route.
fn whole_api_arn(method_arn: &str) -> Option<String> {
    let parts: Vec<&str> = method_arn.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts.as_slice() else {
        return None;
    };
    let mut path = resource.split('/');
    let (api_id, stage) = (path.next()?, path.next()?);
    let valid = *arn == "arn"
        && !partition.is_empty()
        && *service == "execute-api"
        && !region.is_empty()
        && !account.is_empty()
        && !api_id.is_empty()
        && !stage.is_empty();
    valid.then(|| format!("arn:{partition}:execute-api:{region}:{account}:{api_id}/{stage}/*/*"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_covers_every_route_of_the_calling_stage() {
        assert_eq!(
            whole_api_arn("arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/v1/subscriptions/sub_1")
                .as_deref(),
            Some("arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/*/*")
        );
        assert_eq!(
            whole_api_arn("arn:aws-cn:execute-api:cn-north-1:123456789012:abc123/dev/POST/").as_deref(),
            Some("arn:aws-cn:execute-api:cn-north-1:123456789012:abc123/dev/*/*")
        );
        for bad in [
            "",
            "arn:aws:lambda:eu-west-1:123456789012:function:x",
            "arn:aws:execute-api:eu-west-1:123456789012:abc123",
            "arn:aws:execute-api:eu-west-1:123456789012:abc123/",
            "arn:aws:execute-api::123456789012:abc123/prod/GET/",
        ] {
            assert_eq!(whole_api_arn(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_unauthorized_reads_as_unauthorized_to_api_gateway() {
        assert_eq!(AuthorizerError::Unauthorized.to_string(), "Unauthorized");
        let diagnostic = Diagnostic::from(AuthorizerError::Unavailable("GetItem: timeout".into()));
        assert_ne!(diagnostic.error_message, "Unauthorized");
        assert_eq!(diagnostic.error_type, "Unavailable");
        assert_eq!(Diagnostic::from(AuthorizerError::Unauthorized).error_message, "Unauthorized");
    }
}

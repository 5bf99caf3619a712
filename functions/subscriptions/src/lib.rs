//! The subscriptions function: tenants manage their webhook endpoints.
//!
//! | route | answer |
//! |---|---|
//! | `POST /v1/subscriptions` | 201, the subscription and its signing secret (shown only here) |
//! | `GET /v1/subscriptions` (`limit`, `cursor`) | 200 `{"items", "nextCursor"}` |
//! | `GET / PATCH / DELETE /v1/subscriptions/{id}` | 200 / 200 / 204 |
//! | `POST /v1/subscriptions/{id}/rotate-secret` | 200 `{"secret"}`; the old one signs 24 h more (configurable) |
//! | `GET /v1/subscriptions/{id}/attempts` (`limit`, `cursor`) | 200, newest first |
//! | `POST /v1/subscriptions/{id}/replay` (`since`, `until`) | 202 `{"count", "replayId", "nextSince"?}` |
//! | `GET /v1/openapi.json` | 200, the API's OpenAPI document; the one route without a key |
//!
//! Every other route needs a tenant key with the `manage` scope, and acts on that key's tenant only:
//! the tenant never comes from the request, and another tenant's id answers 404 exactly like
//! one that does not exist. Routes are matched on API Gateway's resource path, never the URI.

mod input;
pub mod replay;
mod rotation;
mod target;
mod view;

use hookline_core::catalogue::Catalogue;
use hookline_core::error::PortError;
use hookline_core::ids::SubscriptionId;
use hookline_core::model::{Scope, SecretEntry, Subscription, TenantId};
use hookline_core::ports::{AttemptLog, DeliveryQueue, EventLog, SubscriptionStore};
use hookline_core::resolve::Resolver;
use hookline_core::signing::WebhookSecret;
use hookline_http::{ApiError, Caller, json_response, route};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use time::OffsetDateTime;
use tracing::Instrument;

pub use rotation::DEFAULT_GRACE as DEFAULT_ROTATION_GRACE;
pub use target::TargetRules;

use crate::view::{AttemptView, PageView, SubscriptionView};

/// Request bodies are small JSON documents; anything bigger is refused unread.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// `limit` when the query does not say.
pub const DEFAULT_PAGE_SIZE: usize = 20;
/// The largest `limit` accepted.
pub const MAX_PAGE_SIZE: usize = 100;
/// How many times a read-modify-write is retried after losing a race with another writer.
const CONFLICT_RETRIES: usize = 3;

pub const ALLOW_PRIVATE_TARGETS_ENV: &str = "HOOKLINE_ALLOW_PRIVATE_TARGETS";
pub const ROTATION_GRACE_HOURS_ENV: &str = "HOOKLINE_ROTATION_GRACE_HOURS";
/// The longest rotation grace accepted: 30 days.
pub const MAX_ROTATION_GRACE_HOURS: i64 = 720;

/// The function's settings, read once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionsConfig {
    /// Admits `http` URLs and private, loopback and link-local targets. Local mode only.
    pub allow_private_targets: bool,
    /// How long a rotated-out secret keeps signing deliveries beside the new one.
    pub rotation_grace: time::Duration,
    /// Where target host names are resolved when a subscription is saved: the system resolver,
    /// except in tests that script answers. Not read from the environment.
    pub resolver: Resolver,
}

impl Default for SubscriptionsConfig {
    fn default() -> Self {
        Self { allow_private_targets: false, rotation_grace: DEFAULT_ROTATION_GRACE, resolver: Resolver::system() }
    }
}

/// A configuration variable whose value cannot be used.
#[derive(thiserror::Error)]
#[error("environment variable {name} {reason}, not {value:?}")]
pub struct InvalidVariable {
    pub name: &'static str,
    pub reason: &'static str,
    pub value: String,
}

// `main` returning an error prints its Debug form: make that the sentence, not the struct.
impl std::fmt::Debug for InvalidVariable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl SubscriptionsConfig {
    /// Reads `HOOKLINE_ALLOW_PRIVATE_TARGETS` (default false) and
    /// `HOOKLINE_ROTATION_GRACE_HOURS` (default 24).
    pub fn from_env() -> Result<Self, InvalidVariable> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, InvalidVariable> {
        let defaults = Self::default();
        let allow_private_targets = match var(ALLOW_PRIVATE_TARGETS_ENV) {
            None => defaults.allow_private_targets,
            Some(text) => match text.trim().to_ascii_lowercase().as_str() {
                "" | "false" | "0" | "no" => false,
                "true" | "1" | "yes" => true,
                _ => {
                    return Err(InvalidVariable {
                        name: ALLOW_PRIVATE_TARGETS_ENV,
                        reason: "must be true or false",
                        value: text,
                    });
                }
            },
        };
        let rotation_grace = match var(ROTATION_GRACE_HOURS_ENV).filter(|text| !text.trim().is_empty()) {
            None => defaults.rotation_grace,
            Some(text) => match text.trim().parse::<i64>() {
                Ok(hours @ 0..=MAX_ROTATION_GRACE_HOURS) => time::Duration::hours(hours),
                _ => {
                    return Err(InvalidVariable {
                        name: ROTATION_GRACE_HOURS_ENV,
                        reason: "must be a whole number of hours from 0 to 720",
                        value: text,
                    });
                }
            },
        };
        Ok(Self { allow_private_targets, rotation_grace, resolver: defaults.resolver })
    }
}

/// The routes this function serves, by API Gateway resource path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    Collection,
    Item,
    Attempts,
    RotateSecret,
    Replay,
    OpenApi,
}

impl Resource {
    fn of(path: &str) -> Option<Self> {
        match path {
            "/v1/subscriptions" => Some(Self::Collection),
            "/v1/subscriptions/{id}" => Some(Self::Item),
            "/v1/subscriptions/{id}/attempts" => Some(Self::Attempts),
            "/v1/subscriptions/{id}/rotate-secret" => Some(Self::RotateSecret),
            "/v1/subscriptions/{id}/replay" => Some(Self::Replay),
            hookline_http::openapi::PATH => Some(Self::OpenApi),
            _ => None,
        }
    }
}

/// The handler, generic over where subscriptions and attempts are stored, where events are
/// logged, and the deliveries queue a replay enqueues on.
#[derive(Debug)]
pub struct Subscriptions<S, A, E, D> {
    store: S,
    attempts: A,
    events: E,
    deliveries: D,
    targets: TargetRules,
    rotation_grace: time::Duration,
    catalogue: &'static Catalogue,
}

impl<S: SubscriptionStore, A: AttemptLog, E: EventLog, D: DeliveryQueue> Subscriptions<S, A, E, D> {
    pub fn new(store: S, attempts: A, events: E, deliveries: D, config: SubscriptionsConfig) -> Self {
        Self {
            store,
            attempts,
            events,
            deliveries,
            targets: TargetRules::new(config.allow_private_targets).with_resolver(config.resolver),
            rotation_grace: config.rotation_grace,
            catalogue: Catalogue::builtin(),
        }
    }

    /// The event log (tests fill the in-memory one).
    pub fn events(&self) -> &E {
        &self.events
    }

    /// The deliveries queue (tests inspect the in-memory one).
    pub fn deliveries(&self) -> &D {
        &self.deliveries
    }

    /// The subscription store (tests inspect the in-memory one).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The attempt log (tests fill the in-memory one).
    pub fn attempts(&self) -> &A {
        &self.attempts
    }

    /// Answers one API request; every error is a JSON answer.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        match self.route(&request).await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        }
    }

    async fn route(&self, request: &Request) -> Result<Response<Body>, ApiError> {
        let resource = route::resource(request)
            .as_deref()
            .and_then(Resource::of)
            .ok_or_else(|| ApiError::not_found("no such route"))?;
        if resource == Resource::OpenApi {
            return match request.method() {
                &Method::GET => Ok(hookline_http::openapi::response()),
                _ => Err(ApiError::method_not_allowed()),
            };
        }
        let caller = Caller::from_request(request)?;
        caller.require(Scope::Manage)?;
        let tenant = caller.tenant()?;
        let span = tracing::info_span!(
            "subscriptions",
            tenant = %tenant,
            key_id = %caller.key_id,
            subscription_id = tracing::field::Empty,
        );
        async {
            let id = || subscription_id(request);
            match (resource, request.method()) {
                (Resource::Collection, &Method::POST) => self.create(tenant, request).await,
                (Resource::Collection, &Method::GET) => self.list(tenant, request).await,
                (Resource::Item, &Method::GET) => self.get(tenant, &id()?).await,
                (Resource::Item, &Method::PATCH) => self.patch(tenant, &id()?, request).await,
                (Resource::Item, &Method::DELETE) => self.delete(tenant, &id()?).await,
                (Resource::Attempts, &Method::GET) => self.list_attempts(tenant, &id()?, request).await,
                (Resource::RotateSecret, &Method::POST) => self.rotate_secret(tenant, &id()?).await,
                (Resource::Replay, &Method::POST) => self.replay(tenant, &id()?, request).await,
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        .instrument(span)
        .await
    }

    async fn create(&self, tenant: &TenantId, request: &Request) -> Result<Response<Body>, ApiError> {
        let body = hookline_http::body::json_body(request, MAX_BODY_BYTES)?;
        let new = input::create(body, self.catalogue)?;
        let url = self.targets.check(&new.url).await?;
        let now = OffsetDateTime::now_utc();
        let subscription = Subscription {
            id: SubscriptionId::generate(),
            tenant: tenant.clone(),
            url: url.into(),
            event_types: new.event_types,
            description: new.description,
            enabled: new.enabled,
            metadata: new.metadata,
            secrets: vec![SecretEntry { secret: WebhookSecret::generate(), expires_at: None }],
            disabled: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        self.store.create(&subscription).await?;
        tracing::info!(subscription_id = %subscription.id, "subscription created");
        Ok(json_response(StatusCode::CREATED, &SubscriptionView::created(&subscription)))
    }

    async fn list(&self, tenant: &TenantId, request: &Request) -> Result<Response<Body>, ApiError> {
        let (limit, cursor) = page_params(request)?;
        let page = self.store.list(tenant, limit, cursor.as_deref()).await.map_err(cursor_error)?;
        let items = page.items.iter().map(SubscriptionView::of).collect();
        Ok(json_response(StatusCode::OK, &PageView { items, next_cursor: page.next_cursor }))
    }

    async fn get(&self, tenant: &TenantId, id: &SubscriptionId) -> Result<Response<Body>, ApiError> {
        let subscription = self.find(tenant, id).await?;
        Ok(json_response(StatusCode::OK, &SubscriptionView::of(&subscription)))
    }

    async fn patch(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
        request: &Request,
    ) -> Result<Response<Body>, ApiError> {
        let body = hookline_http::body::json_body(request, MAX_BODY_BYTES)?;
        let fields = input::patch(body, self.catalogue)?;
        if fields.is_empty() {
            return self.get(tenant, id).await;
        }
        let url = match &fields.url {
            Some(text) => Some(String::from(self.targets.check(text).await?)),
            None => None,
        };
        let subscription = self
            .modify(tenant, id, |subscription, _| {
                if let Some(url) = &url {
                    subscription.url.clone_from(url);
                }
                if let Some(event_types) = &fields.event_types {
                    subscription.event_types.clone_from(event_types);
                }
                if let Some(description) = &fields.description {
                    subscription.description.clone_from(description);
                }
                if let Some(metadata) = &fields.metadata {
                    subscription.metadata.clone_from(metadata);
                }
                if let Some(enabled) = fields.enabled {
                    subscription.enabled = enabled;
                    // Turning it on again is how a tenant acknowledges why hookline turned it off.
                    if enabled {
                        subscription.disabled = None;
                    }
                }
            })
            .await?;
        tracing::info!("subscription updated");
        Ok(json_response(StatusCode::OK, &SubscriptionView::of(&subscription)))
    }

    async fn delete(&self, tenant: &TenantId, id: &SubscriptionId) -> Result<Response<Body>, ApiError> {
        if !self.store.delete(tenant, id).await? {
            return Err(no_such_subscription());
        }
        tracing::info!("subscription deleted");
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NO_CONTENT;
        Ok(response)
    }

    async fn rotate_secret(&self, tenant: &TenantId, id: &SubscriptionId) -> Result<Response<Body>, ApiError> {
        let secret = WebhookSecret::generate();
        self.modify(tenant, id, |subscription, now| {
            subscription.secrets =
                rotation::rotate(std::mem::take(&mut subscription.secrets), secret.clone(), now, self.rotation_grace);
        })
        .await?;
        tracing::info!("subscription secret rotated");
        Ok(json_response(StatusCode::OK, &json!({ "secret": secret.to_whsec() })))
    }

    async fn list_attempts(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
        request: &Request,
    ) -> Result<Response<Body>, ApiError> {
        let (limit, cursor) = page_params(request)?;
        // The attempt log is keyed by tenant already; reading the subscription first makes an
        // unknown or deleted one a 404 rather than an empty list.
        self.find(tenant, id).await?;
        let page = self.attempts.list(tenant, id, limit, cursor.as_deref()).await.map_err(cursor_error)?;
        let items = page.items.iter().map(AttemptView::of).collect();
        Ok(json_response(StatusCode::OK, &PageView { items, next_cursor: page.next_cursor }))
    }

    async fn replay(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
        request: &Request,
    ) -> Result<Response<Body>, ApiError> {
        let body = hookline_http::body::json_body(request, MAX_BODY_BYTES)?;
        let window = replay::window(body, OffsetDateTime::now_utc())?;
        let subscription = self.find(tenant, id).await?;
        if !subscription.enabled || subscription.disabled.is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "subscription_disabled",
                "the subscription is disabled; enable it (PATCH {\"enabled\": true}) before replaying to it",
            ));
        }
        let replayed = replay::replay(&self.events, &self.deliveries, &subscription, window).await?;
        tracing::info!(
            replay_id = %replayed.replay_id,
            count = replayed.count,
            since = %window.since,
            until = %window.until,
            "replay enqueued"
        );
        Ok(json_response(StatusCode::ACCEPTED, &replayed))
    }

    async fn find(&self, tenant: &TenantId, id: &SubscriptionId) -> Result<Subscription, ApiError> {
        self.store.get(tenant, id).await?.ok_or_else(no_such_subscription)
    }

    /// Read, change, write back with the version bumped; on losing a race to another writer,
    /// start again from a fresh read.
    async fn modify(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
        change: impl Fn(&mut Subscription, OffsetDateTime),
    ) -> Result<Subscription, ApiError> {
        for _ in 0..=CONFLICT_RETRIES {
            let mut subscription = self.find(tenant, id).await?;
            let now = OffsetDateTime::now_utc();
            change(&mut subscription, now);
            subscription.updated_at = now;
            subscription.version += 1;
            match self.store.update(&subscription).await {
                Ok(()) => return Ok(subscription),
                Err(PortError::Conflict(_)) => tracing::info!("subscription changed meanwhile; reading it again"),
                Err(error) => return Err(error.into()),
            }
        }
        Err(ApiError::conflict("the subscription kept changing while this request updated it; retry"))
    }
}

fn no_such_subscription() -> ApiError {
    ApiError::not_found("no such subscription")
}

/// The `{id}` path parameter, recorded on the request's span. A malformed id names no
/// subscription, so it is a 404 too.
fn subscription_id(request: &Request) -> Result<SubscriptionId, ApiError> {
    let id: SubscriptionId =
        route::path_param(request, "id").and_then(|id| id.parse().ok()).ok_or_else(no_such_subscription)?;
    tracing::Span::current().record("subscription_id", id.as_str());
    Ok(id)
}

/// `limit` (1 to 100, default 20) and the opaque `cursor` of a listing.
fn page_params(request: &Request) -> Result<(usize, Option<String>), ApiError> {
    let limit = match route::query_param(request, "limit") {
        None => DEFAULT_PAGE_SIZE,
        Some(text) => match text.trim().parse::<usize>() {
            Ok(limit @ 1..=MAX_PAGE_SIZE) => limit,
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!("`limit` must be a whole number from 1 to {MAX_PAGE_SIZE}"),
                )
                .with_field("limit"));
            }
        },
    };
    let cursor = route::query_param(request, "cursor").filter(|cursor| !cursor.is_empty());
    Ok((limit, cursor))
}

/// A cursor the store cannot read is the client's: it was not handed out by this API.
fn cursor_error(error: PortError) -> ApiError {
    match error {
        PortError::Invalid(_) => ApiError::bad_request(
            "invalid_cursor",
            "`cursor` is not one this API handed out; pass `nextCursor` from the previous page unchanged",
        )
        .with_field("cursor"),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<SubscriptionsConfig, InvalidVariable> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        SubscriptionsConfig::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn private_targets_are_refused_unless_configured() {
        assert_eq!(config(&[]).expect("default"), SubscriptionsConfig::default());
        assert!(!SubscriptionsConfig::default().allow_private_targets);
        assert!(config(&[(ALLOW_PRIVATE_TARGETS_ENV, "TRUE")]).expect("true").allow_private_targets);
        assert!(!config(&[(ALLOW_PRIVATE_TARGETS_ENV, "0")]).expect("false").allow_private_targets);
        let error = config(&[(ALLOW_PRIVATE_TARGETS_ENV, "maybe")]).expect_err("bad");
        assert!(error.to_string().contains(ALLOW_PRIVATE_TARGETS_ENV));
    }

    #[test]
    fn the_rotation_grace_is_read_in_hours_and_bad_values_name_the_variable() {
        assert_eq!(config(&[]).expect("default").rotation_grace, time::Duration::hours(24));
        assert_eq!(config(&[(ROTATION_GRACE_HOURS_ENV, "")]).expect("empty").rotation_grace, time::Duration::hours(24));
        assert_eq!(config(&[(ROTATION_GRACE_HOURS_ENV, " 2 ")]).expect("2").rotation_grace, time::Duration::hours(2));
        assert_eq!(config(&[(ROTATION_GRACE_HOURS_ENV, "0")]).expect("0").rotation_grace, time::Duration::ZERO);
        for bad in ["-1", "721", "1.5", "a day"] {
            let message = config(&[(ROTATION_GRACE_HOURS_ENV, bad)]).expect_err(bad).to_string();
            assert!(message.contains(ROTATION_GRACE_HOURS_ENV) && message.contains("hours"), "{message}");
        }
        let error = config(&[(ROTATION_GRACE_HOURS_ENV, "soon")]).expect_err("bad");
        assert_eq!(format!("{error:?}"), error.to_string(), "main prints the sentence");
    }

    #[test]
    fn every_route_template_is_known() {
        for path in [
            "/v1/subscriptions",
            "/v1/subscriptions/{id}",
            "/v1/subscriptions/{id}/attempts",
            "/v1/subscriptions/{id}/rotate-secret",
            "/v1/subscriptions/{id}/replay",
            "/v1/openapi.json",
        ] {
            assert!(Resource::of(path).is_some(), "{path}");
        }
        assert_eq!(Resource::of("/v1/subscriptions/sub_01J/attempts"), None, "templates, not paths");
        assert_eq!(Resource::of("/v1/events"), None);
    }
}

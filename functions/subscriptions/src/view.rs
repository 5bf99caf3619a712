//! The JSON shapes the API answers with. Signing secrets never appear here except in the one
//! answer that creates them.

use std::collections::BTreeMap;

use hookline_core::ids::{AttemptId, EventId, SubscriptionId};
use hookline_core::model::{Attempt, AttemptOutcome, DisabledReason, Subscription};
use serde::Serialize;
use time::OffsetDateTime;

/// A subscription as the API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionView<'a> {
    id: &'a SubscriptionId,
    url: &'a str,
    event_types: &'a [String],
    description: Option<&'a str>,
    enabled: bool,
    metadata: &'a BTreeMap<String, String>,
    disabled: Option<&'a DisabledReason>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    /// Only in the answer to a create: the one time the tenant sees the secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl<'a> SubscriptionView<'a> {
    pub fn of(subscription: &'a Subscription) -> Self {
        Self {
            id: &subscription.id,
            url: &subscription.url,
            event_types: &subscription.event_types,
            description: subscription.description.as_deref(),
            enabled: subscription.enabled,
            metadata: &subscription.metadata,
            disabled: subscription.disabled.as_ref(),
            created_at: subscription.created_at,
            updated_at: subscription.updated_at,
            secret: None,
        }
    }

    /// The view of a subscription just created, with its current secret.
    pub fn created(subscription: &'a Subscription) -> Self {
        let secret = subscription.secrets.first().map(|entry| entry.secret.to_whsec());
        Self { secret, ..Self::of(subscription) }
    }
}

/// One delivery attempt as the API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView<'a> {
    id: &'a AttemptId,
    event_id: &'a EventId,
    event_type: &'a str,
    attempt: u32,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    duration_ms: u64,
    status: Option<u16>,
    error_kind: Option<&'a str>,
    response_excerpt: Option<&'a str>,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none", with = "time::serde::rfc3339::option")]
    next_attempt_at: Option<OffsetDateTime>,
}

impl<'a> AttemptView<'a> {
    pub fn of(attempt: &'a Attempt) -> Self {
        let (outcome, next_attempt_at) = match attempt.outcome {
            AttemptOutcome::Delivered => ("delivered", None),
            AttemptOutcome::RetryScheduled { next_attempt_at } => ("retry_scheduled", Some(next_attempt_at)),
            AttemptOutcome::Exhausted => ("exhausted", None),
            AttemptOutcome::Disabled => ("disabled", None),
        };
        Self {
            id: &attempt.id,
            event_id: &attempt.event_id,
            event_type: &attempt.event_type,
            attempt: attempt.attempt,
            at: attempt.at,
            duration_ms: attempt.duration_ms,
            status: attempt.status,
            error_kind: attempt.error_kind.as_deref(),
            response_excerpt: attempt.response_excerpt.as_deref(),
            outcome,
            next_attempt_at,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageView<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

//! The deliver function: signs and POSTs each delivery task, records the attempt, and
//! schedules the retry or gives up into the dead-letter queue.
//!
//! - [`config`]: [`DeliverConfig`], read once at start.
//! - [`client`]: the one HTTP client, with its SSRF-checking resolver.
//! - [`attempt`]: how an attempt is described in the attempt log and a dead letter.
//!
//! Every attempt is recorded before its consequence (retry task, dead letter, disabling) is
//! carried out, and any port failure reports the record as a batch item failure: SQS hands the
//! task back and it is tried again. Deliveries are at least once; a task is never lost.

pub mod attempt;
pub mod client;
pub mod config;

use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use hookline_core::envelope::Envelope;
use hookline_core::error::PortError;
use hookline_core::ids::AttemptId;
use hookline_core::metrics::{self, Metric};
use hookline_core::model::{
    Attempt, AttemptOutcome, DeadLetter, DeliveryMessage, DeliveryTask, DisabledReason, Subscription,
};
use hookline_core::ports::{AttemptLog, DeadLetterQueue, DeliveryQueue, ScheduledTask, SubscriptionStore};
use hookline_core::retry::{AttemptResult, Verdict, classify, honours_retry_after, parse_retry_after, random_jitter};
use hookline_core::signing::signature_header;
use time::OffsetDateTime;
use tracing::Instrument as _;

pub use client::{Answer, WebhookClient, WebhookHeaders};
pub use config::DeliverConfig;

/// Why a subscription that answered 410 is disabled.
pub const GONE_REASON: &str = "endpoint answered 410 Gone";

/// How often disabling a subscription is tried when concurrent updates keep winning.
const DISABLE_TRIES: usize = 3;

/// Deliver could not start.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("environment variable {name} is invalid: {reason}")]
    InvalidVariable { name: &'static str, reason: String },
    #[error("the delivery HTTP client could not be built: {0}")]
    HttpClient(#[from] reqwest::Error),
}

/// Why one record must come back from SQS.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("the record has no body")]
    MissingBody,
    #[error("the record's body is not a delivery message: {0}")]
    Unparsable(#[from] serde_json::Error),
    #[error("reading the subscription failed: {0}")]
    ReadSubscription(PortError),
    #[error("re-enqueueing the task failed: {0}")]
    Enqueue(PortError),
    #[error("recording the attempt failed: {0}")]
    RecordAttempt(PortError),
    #[error("sending the task to the dead-letter queue failed: {0}")]
    DeadLetter(PortError),
    #[error("disabling the subscription failed: {0}")]
    Disable(PortError),
    #[error("checking whether the task was delivered already failed: {0}")]
    CheckDelivered(PortError),
}

/// How a record was finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
    /// The subscription was deleted; there is nothing to deliver to.
    SubscriptionGone,
    /// The subscription is disabled (by its owner, or after a 410).
    SubscriptionDisabled,
    /// The task is not due yet and went back on the queue.
    Deferred { until: OffsetDateTime },
    /// This task (a copy SQS handed out twice, or a retry racing a late success) was delivered
    /// already; it is not POSTed again.
    AlreadyDelivered,
    /// An attempt was made and recorded.
    Attempted(AttemptOutcome),
}

/// The handler, generic over the subscription store, the attempt log, the deliveries queue
/// and the dead-letter queue.
#[derive(Debug)]
pub struct Deliver<S, A, D, X> {
    store: S,
    attempts: A,
    queue: D,
    dead_letters: X,
    config: DeliverConfig,
    client: WebhookClient,
}

impl<S, A, D, X> Deliver<S, A, D, X>
where
    S: SubscriptionStore,
    A: AttemptLog,
    D: DeliveryQueue,
    X: DeadLetterQueue,
{
    /// Builds the handler and its one HTTP client.
    pub fn new(store: S, attempts: A, queue: D, dead_letters: X, config: DeliverConfig) -> Result<Self, DeliverError> {
        let client = WebhookClient::new(&config)?;
        Ok(Self { store, attempts, queue, dead_letters, config, client })
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn attempts(&self) -> &A {
        &self.attempts
    }

    pub fn queue(&self) -> &D {
        &self.queue
    }

    pub fn dead_letters(&self) -> &X {
        &self.dead_letters
    }

    pub fn config(&self) -> &DeliverConfig {
        &self.config
    }

    /// Delivers one SQS batch, its records concurrently; the response names every record that
    /// must come back.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let span = tracing::info_span!("deliver_batch", records = event.records.len());
        let outcomes = join_all(event.records.iter().map(|record| self.process(record))).instrument(span).await;
        let mut response = SqsBatchResponse::default();
        for (record, result) in event.records.iter().zip(outcomes) {
            if result.is_err() {
                // Lambda always sets an id; an empty one would make it retry the whole batch.
                response.add_failure(record.message_id.clone().unwrap_or_default());
            }
        }
        response
    }

    /// One record, in its own span; logs how it ended.
    async fn process(&self, record: &SqsMessage) -> Result<Finished, RecordError> {
        let message_id = record.message_id.as_deref().unwrap_or_default();
        let task = match parse(record) {
            Ok(task) => task,
            Err(error) => {
                tracing::error!(%message_id, %error, "unreadable record; reporting it so it reaches the deliveries DLQ");
                return Err(error);
            }
        };
        let span = tracing::info_span!(
            "deliver",
            %message_id,
            tenant = %task.event.tenant,
            event_id = %task.event.id,
            subscription_id = %task.subscription_id,
            attempt = task.attempts_made.saturating_add(1),
        );
        let accepted_at = task.event.timestamp;
        async move {
            let result = self.deliver(task).await;
            if let Ok(finished) = &result {
                metrics::emit(&measure(finished, accepted_at));
            }
            match &result {
                Ok(Finished::SubscriptionGone) => tracing::warn!("subscription no longer exists; delivery dropped"),
                Ok(Finished::SubscriptionDisabled) => tracing::info!("subscription is disabled; delivery skipped"),
                Ok(Finished::Deferred { until }) => tracing::info!(%until, "not due yet; re-enqueued"),
                Ok(Finished::AlreadyDelivered) => tracing::info!("delivered already; duplicate suppressed"),
                // The attempt itself was logged when it was made.
                Ok(Finished::Attempted(_)) => {}
                Err(error) => tracing::error!(%error, "delivery record failed; SQS will hand it back"),
            }
            result
        }
        .instrument(span)
        .await
    }

    async fn deliver(&self, task: DeliveryTask) -> Result<Finished, RecordError> {
        // Both reads at once: one round trip to the table instead of two on every delivery.
        // The marker is only consulted where it always was, so a deleted, disabled or deferred
        // task ends as before even when the marker cannot be read.
        let delivery_key = task.delivery_key();
        let (subscription, delivered) = futures::join!(
            self.store.get(&task.event.tenant, &task.subscription_id),
            self.attempts.was_delivered(&task.event.tenant, &task.subscription_id, &delivery_key),
        );
        let subscription = subscription.map_err(RecordError::ReadSubscription)?;
        let Some(subscription) = subscription else {
            return Ok(Finished::SubscriptionGone);
        };
        if !subscription.enabled || subscription.disabled.is_some() {
            return Ok(Finished::SubscriptionDisabled);
        }
        let now = OffsetDateTime::now_utc();
        if let Some(until) = task.not_before
            && until > now
        {
            let delay = client::sqs_delay((until - now).unsigned_abs());
            self.queue.enqueue(&[ScheduledTask { task, delay }]).await.map_err(RecordError::Enqueue)?;
            return Ok(Finished::Deferred { until });
        }
        if delivered.map_err(RecordError::CheckDelivered)? {
            return Ok(Finished::AlreadyDelivered);
        }
        self.attempt(task, subscription).await.map(Finished::Attempted)
    }

    /// Makes one attempt, records it, then carries out its consequence.
    ///
    /// Recording first means a failed consequence (the queue is down) sends the original task
    /// back through SQS without having lost the attempt's row; the reverse order could leave an
    /// attempt unlogged, or, with the log down, multiply retry tasks on every redelivery.
    async fn attempt(&self, task: DeliveryTask, subscription: Subscription) -> Result<AttemptOutcome, RecordError> {
        let attempt_number = task.attempts_made.saturating_add(1);
        let at = OffsetDateTime::now_utc();
        let timestamp = at.unix_timestamp();
        let body = Envelope::of(&task.event).to_body();
        let signature = signature_header(subscription.signing_secrets(at), task.event.id.as_str(), timestamp, &body);
        let clock = Instant::now();
        let headers = WebhookHeaders { id: task.event.id.as_str(), timestamp, signature: &signature };
        let answer = self.client.post(&subscription.url, headers, body).await;
        let duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);

        let next = match classify(&answer.result) {
            Verdict::Delivered => Next::Done,
            Verdict::Gone => Next::Disable,
            Verdict::Retry => {
                let retry_after = match answer.result {
                    AttemptResult::Status(status) if honours_retry_after(status) => {
                        answer.retry_after.as_deref().and_then(|value| parse_retry_after(value, SystemTime::now()))
                    }
                    _ => None,
                };
                match self.config.schedule.next_delay(attempt_number, retry_after, random_jitter()) {
                    Some(delay) => Next::Retry { delay, at: OffsetDateTime::now_utc() + delay },
                    None => Next::DeadLetter,
                }
            }
        };
        let outcome = next.outcome();

        let row = Attempt {
            id: AttemptId::generate(),
            tenant: task.event.tenant.clone(),
            subscription_id: task.subscription_id.clone(),
            event_id: task.event.id.clone(),
            event_type: task.event.event_type.clone(),
            attempt: attempt_number,
            at,
            duration_ms,
            status: attempt::status(&answer.result),
            error_kind: attempt::error_kind(&answer.result).map(str::to_owned),
            response_excerpt: answer.excerpt.clone(),
            outcome: outcome.clone(),
        };
        log_attempt(&row, &answer);
        self.attempts.record(&row).await.map_err(RecordError::RecordAttempt)?;

        match next {
            Next::Done => {
                // Without the marker a second copy of this task would be POSTed again, which
                // at-least-once allows; the delivery itself stands, so a failure here only warns.
                let key = task.delivery_key();
                if let Err(error) =
                    self.attempts.mark_delivered(&task.event.tenant, &task.subscription_id, &key, at).await
                {
                    tracing::warn!(%error, "could not record the delivery for duplicate suppression");
                }
            }
            Next::Disable => self.disable(subscription, at).await.map_err(RecordError::Disable)?,
            Next::Retry { delay, at: not_before } => {
                let retry = DeliveryTask {
                    attempts_made: attempt_number,
                    first_attempt_at: task.first_attempt_at.or(Some(at)),
                    not_before: Some(not_before),
                    ..task
                };
                let scheduled = ScheduledTask { task: retry, delay: client::sqs_delay(delay) };
                self.queue.enqueue(&[scheduled]).await.map_err(RecordError::Enqueue)?;
            }
            Next::DeadLetter => {
                let letter = DeadLetter {
                    reason: attempt::dead_letter_reason(attempt_number, &answer.result),
                    attempts: attempt_number,
                    last_status: attempt::status(&answer.result),
                    last_error: answer.error.clone(),
                    first_attempt_at: task.first_attempt_at.or(Some(at)),
                    last_attempt_at: at,
                    task,
                };
                self.dead_letters.send(&letter).await.map_err(RecordError::DeadLetter)?;
                tracing::warn!(reason = %letter.reason, "delivery dead-lettered");
            }
        }
        Ok(outcome)
    }

    /// Marks the subscription disabled after a 410, re-reading it when a concurrent update wins.
    async fn disable(&self, mut subscription: Subscription, at: OffsetDateTime) -> Result<(), PortError> {
        for _ in 0..DISABLE_TRIES {
            subscription.enabled = false;
            subscription.disabled = Some(DisabledReason { reason: GONE_REASON.to_owned(), at });
            subscription.updated_at = at;
            subscription.version += 1;
            match self.store.update(&subscription).await {
                Ok(()) => {
                    tracing::warn!("subscription disabled: {GONE_REASON}");
                    return Ok(());
                }
                Err(PortError::Conflict(_)) => {
                    match self.store.get(&subscription.tenant, &subscription.id).await? {
                        // Deleted or disabled meanwhile: nothing left to do.
                        None => return Ok(()),
                        Some(current) if current.disabled.is_some() => return Ok(()),
                        Some(current) => subscription = current,
                    }
                }
                Err(error) => return Err(error),
            }
        }
        Err(PortError::Conflict(format!("subscription {} kept changing while being disabled", subscription.id)))
    }
}

/// What an attempt's verdict asks for once it is recorded.
enum Next {
    /// Delivered: nothing more to do.
    Done,
    /// 410 Gone: disable the subscription.
    Disable,
    /// Enqueue the next attempt, held back `delay`, due `at`.
    Retry { delay: Duration, at: OffsetDateTime },
    /// Schedule spent: send the task to the dead-letter queue.
    DeadLetter,
}

impl Next {
    fn outcome(&self) -> AttemptOutcome {
        match self {
            Self::Done => AttemptOutcome::Delivered,
            Self::Disable => AttemptOutcome::Disabled,
            Self::Retry { at, .. } => AttemptOutcome::RetryScheduled { next_attempt_at: *at },
            Self::DeadLetter => AttemptOutcome::Exhausted,
        }
    }
}

/// The metrics one finished record contributes.
fn measure(finished: &Finished, accepted_at: OffsetDateTime) -> Vec<(Metric, u64)> {
    match finished {
        Finished::Attempted(AttemptOutcome::Delivered) => {
            let latency = (OffsetDateTime::now_utc() - accepted_at).whole_milliseconds();
            vec![(Metric::Delivered, 1), (Metric::DeliveryLatency, u64::try_from(latency).unwrap_or(0))]
        }
        Finished::Attempted(AttemptOutcome::RetryScheduled { .. }) => {
            vec![(Metric::FailedAttempts, 1), (Metric::Retried, 1)]
        }
        Finished::Attempted(AttemptOutcome::Exhausted) => {
            vec![(Metric::FailedAttempts, 1), (Metric::Exhausted, 1), (Metric::DeadLettered, 1)]
        }
        Finished::Attempted(AttemptOutcome::Disabled) => vec![(Metric::FailedAttempts, 1), (Metric::Disabled, 1)],
        Finished::AlreadyDelivered => vec![(Metric::DuplicatesSuppressed, 1)],
        Finished::SubscriptionGone | Finished::SubscriptionDisabled | Finished::Deferred { .. } => Vec::new(),
    }
}

/// One line per attempt: status or error, duration, outcome. No payload, no signature.
fn log_attempt(row: &Attempt, answer: &Answer) {
    let status = row.status;
    let error_kind = row.error_kind.as_deref();
    let duration_ms = row.duration_ms;
    let error = answer.error.as_deref();
    match &row.outcome {
        AttemptOutcome::Delivered => tracing::info!(?status, duration_ms, outcome = "delivered", "attempt delivered"),
        AttemptOutcome::RetryScheduled { next_attempt_at } => tracing::info!(
            ?status,
            ?error_kind,
            ?error,
            duration_ms,
            outcome = "retry_scheduled",
            %next_attempt_at,
            "attempt failed; retry scheduled"
        ),
        AttemptOutcome::Exhausted => tracing::warn!(
            ?status,
            ?error_kind,
            ?error,
            duration_ms,
            outcome = "exhausted",
            "attempt failed; retry schedule spent"
        ),
        AttemptOutcome::Disabled => {
            tracing::warn!(?status, duration_ms, outcome = "disabled", "endpoint is gone; disabling the subscription")
        }
    }
}

fn parse(record: &SqsMessage) -> Result<DeliveryTask, RecordError> {
    let body = record.body.as_deref().ok_or(RecordError::MissingBody)?;
    let DeliveryMessage::V1(task) = serde_json::from_str(body)?;
    Ok(task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_counts_what_an_operator_alarms_on() {
        let accepted = OffsetDateTime::now_utc() - time::Duration::seconds(2);
        let delivered = measure(&Finished::Attempted(AttemptOutcome::Delivered), accepted);
        assert_eq!(delivered[0], (Metric::Delivered, 1));
        assert!(
            matches!(delivered[1], (Metric::DeliveryLatency, ms) if (2_000..10_000).contains(&ms)),
            "{delivered:?}"
        );
        let retry = Finished::Attempted(AttemptOutcome::RetryScheduled { next_attempt_at: accepted });
        assert_eq!(measure(&retry, accepted), [(Metric::FailedAttempts, 1), (Metric::Retried, 1)]);
        assert_eq!(
            measure(&Finished::Attempted(AttemptOutcome::Exhausted), accepted),
            [(Metric::FailedAttempts, 1), (Metric::Exhausted, 1), (Metric::DeadLettered, 1)]
        );
        assert_eq!(
            measure(&Finished::Attempted(AttemptOutcome::Disabled), accepted),
            [(Metric::FailedAttempts, 1), (Metric::Disabled, 1)]
        );
        assert_eq!(measure(&Finished::AlreadyDelivered, accepted), [(Metric::DuplicatesSuppressed, 1)]);
        assert!(measure(&Finished::SubscriptionGone, accepted).is_empty());
    }
}

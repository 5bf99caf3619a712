//! The fan-out function: turns each published event into one delivery task per matching
//! subscription.
//!
//! For every record of an SQS batch from the events queue, fan-out reads the event, finds the
//! tenant's subscriptions that are enabled and whose event-type filters match, and enqueues one
//! [`DeliveryTask`] each on the deliveries queue. A record that cannot be read, or whose
//! subscriptions or enqueue fail, is reported as a batch item failure: SQS hands it back later
//! and, after the redrive policy's receive count, moves it to the events dead-letter queue.
//! Nothing is dropped silently.

use std::collections::{BTreeSet, HashMap};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use hookline_core::error::PortError;
use hookline_core::matching::matches_any;
use hookline_core::metrics::{self, Metric};
use hookline_core::model::{DeliveryTask, Event, EventMessage, Subscription, TenantId};
use hookline_core::ports::{DeliveryQueue, ScheduledTask, SubscriptionStore};
use tracing::Instrument as _;

/// Why one record of a batch could not be fanned out.
#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    #[error("the record has no body")]
    MissingBody,
    #[error("the record's body is not an event message: {0}")]
    Unparsable(#[from] serde_json::Error),
    #[error("reading the tenant's subscriptions failed: {0}")]
    Subscriptions(PortError),
    #[error("enqueueing the delivery tasks failed: {0}")]
    Enqueue(PortError),
}

/// The handler, generic over where subscriptions are read and delivery tasks are queued.
#[derive(Debug)]
pub struct Fanout<S, D> {
    store: S,
    queue: D,
}

impl<S: SubscriptionStore, D: DeliveryQueue> Fanout<S, D> {
    pub fn new(store: S, queue: D) -> Self {
        Self { store, queue }
    }

    /// The subscription store (tests fill the in-memory one).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The deliveries queue (tests inspect the in-memory one).
    pub fn queue(&self) -> &D {
        &self.queue
    }

    /// Fans out one SQS batch; the response names every record that must come back.
    ///
    /// The tasks of every record go out together, [`SEND_BATCH`] per enqueue call, so a batch
    /// of ten events with one subscription each costs one `SendMessageBatch`, not ten. A record
    /// succeeds when every call holding one of its tasks succeeded; a failed call fails each
    /// record with a task in it, and SQS hands those back whole (their other tasks may then be
    /// enqueued twice, which at-least-once delivery allows and the delivered markers absorb).
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let span = tracing::info_span!("fanout_batch", records = event.records.len());
        self.handle_batch(event).instrument(span).await
    }

    async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        let records: Vec<(String, Result<Event, FanoutError>)> =
            event.records.iter().map(|record| (message_id(record), parse(record))).collect();

        // Each tenant's subscriptions are read once per batch, however many of its events it holds.
        let tenants: BTreeSet<TenantId> =
            records.iter().filter_map(|(_, parsed)| parsed.as_ref().ok()).map(|event| event.tenant.clone()).collect();
        let subscriptions: HashMap<TenantId, Result<Vec<Subscription>, PortError>> =
            join_all(tenants.into_iter().map(|tenant| async move {
                let subscriptions = self.store.list_all(&tenant).await;
                (tenant, subscriptions)
            }))
            .await
            .into_iter()
            .collect();

        // Every task of the batch in record order, `owners[i]` the record of `tasks[i]`; each
        // record keeps its task count, or why it has none to send.
        let mut tasks: Vec<ScheduledTask> = Vec::new();
        let mut owners: Vec<usize> = Vec::new();
        let planned: Vec<Planned> = records
            .into_iter()
            .enumerate()
            .map(|(index, (message_id, parsed))| {
                let span = match &parsed {
                    Ok(event) => {
                        tracing::info_span!("fanout", %message_id, tenant = %event.tenant, event_id = %event.id)
                    }
                    Err(_) => tracing::info_span!("fanout", %message_id),
                };
                let count = parsed.and_then(|event| tasks_for(&event, subscriptions.get(&event.tenant))).map(|mine| {
                    owners.extend(std::iter::repeat_n(index, mine.len()));
                    let count = mine.len();
                    tasks.extend(mine);
                    count
                });
                Planned { message_id, span, tasks: count }
            })
            .collect();

        let sent = join_all(tasks.chunks(SEND_BATCH).map(|chunk| self.queue.enqueue(chunk))).await;
        let mut enqueue_failures: HashMap<usize, PortError> = HashMap::new();
        for (chunk_owners, result) in owners.chunks(SEND_BATCH).zip(sent) {
            if let Err(error) = result {
                for index in chunk_owners {
                    enqueue_failures.entry(*index).or_insert_with(|| error.clone());
                }
            }
        }

        let mut response = SqsBatchResponse::default();
        for (index, plan) in planned.into_iter().enumerate() {
            let result = match plan.tasks {
                Ok(count) => match enqueue_failures.remove(&index) {
                    Some(error) => Err(FanoutError::Enqueue(error)),
                    None => Ok(count),
                },
                Err(error) => Err(error),
            };
            plan.span.in_scope(|| match &result {
                Ok(0) => tracing::info!("no subscription matches; nothing to deliver"),
                Ok(deliveries) => {
                    tracing::info!(deliveries, "delivery tasks enqueued");
                    metrics::emit(&[(Metric::TasksEnqueued, u64::try_from(*deliveries).unwrap_or(u64::MAX))]);
                }
                Err(error @ (FanoutError::MissingBody | FanoutError::Unparsable(_))) => {
                    tracing::error!(%error, "unreadable record; reporting it so it reaches the events DLQ");
                }
                Err(error) => tracing::error!(%error, "fan-out failed; the record will be retried"),
            });
            if result.is_err() {
                response.add_failure(plan.message_id);
            }
        }
        response
    }
}

/// How many delivery tasks one enqueue call carries: what one SQS `SendMessageBatch` takes.
pub const SEND_BATCH: usize = 10;

/// One record of a batch, before its tasks are sent.
struct Planned {
    message_id: String,
    span: tracing::Span,
    /// How many tasks it has in the batch's sends.
    tasks: Result<usize, FanoutError>,
}

/// One task per matching subscription of one event.
fn tasks_for(
    event: &Event,
    subscriptions: Option<&Result<Vec<Subscription>, PortError>>,
) -> Result<Vec<ScheduledTask>, FanoutError> {
    let subscriptions = match subscriptions {
        Some(Ok(subscriptions)) => subscriptions,
        Some(Err(error)) => return Err(FanoutError::Subscriptions(error.clone())),
        // Every parsed event's tenant was read above; treat a miss as a failed read all the same.
        None => return Err(FanoutError::Subscriptions(PortError::Unavailable("tenant not read".into()))),
    };
    Ok(subscriptions
        .iter()
        .filter(|sub| receives(sub, &event.event_type))
        .map(|sub| ScheduledTask::now(DeliveryTask::first(event.clone(), sub.id.clone())))
        .collect())
}

/// Whether a subscription wants events of this type now: enabled, not disabled by hookline
/// (410 Gone), and one of its filters matches.
fn receives(subscription: &Subscription, event_type: &str) -> bool {
    subscription.enabled && subscription.disabled.is_none() && matches_any(&subscription.event_types, event_type)
}

/// The record's id for the batch response. Lambda always sets one; if it were ever missing,
/// an empty identifier makes Lambda retry the whole batch, which loses nothing.
fn message_id(record: &SqsMessage) -> String {
    record.message_id.clone().unwrap_or_default()
}

fn parse(record: &SqsMessage) -> Result<Event, FanoutError> {
    let body = record.body.as_deref().ok_or(FanoutError::MissingBody)?;
    let EventMessage::V1(event) = serde_json::from_str(body)?;
    Ok(event)
}

//! The events and deliveries queues on SQS.
//!
//! Sends go out in `SendMessageBatch` calls of at most 10 entries and at most
//! [`MAX_BATCH_BYTES`], and a send only succeeds when SQS has accepted every entry — partial
//! batch failures are retried once and then reported, never ignored.

use std::time::Duration;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use hookline_core::error::PortError;
use hookline_core::model::{DeadLetter, DeadLetterMessage, DeliveryMessage, Event, EventMessage};
use hookline_core::ports::{DeadLetterQueue, DeliveryQueue, EventQueue, ScheduledTask};

use crate::errors::port_error;

/// SQS accepts at most 10 entries in one batch call.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// SQS caps a whole batch request at 1 MiB; leave room for the request's own framing.
pub const MAX_BATCH_BYTES: usize = 1_000_000;
/// SQS can hold a message back for at most 15 minutes.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

/// One message to send: its body and how long SQS should hold it back.
#[derive(Debug, Clone)]
struct Outgoing {
    body: String,
    delay: Duration,
}

/// Splits messages into batches that respect both the entry count and the byte limit.
fn batches(messages: &[Outgoing]) -> Vec<&[Outgoing]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, message) in messages.iter().enumerate() {
        let full = i - start == MAX_BATCH_ENTRIES || (i > start && bytes + message.body.len() > MAX_BATCH_BYTES);
        if full {
            out.push(&messages[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += message.body.len();
    }
    if start < messages.len() {
        out.push(&messages[start..]);
    }
    out
}

/// SQS delays are whole seconds; round up so a message is never handed out before its time.
fn delay_seconds(delay: Duration) -> i32 {
    let delay = delay.min(MAX_DELAY);
    let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    i32::try_from(seconds).unwrap_or(900)
}

async fn send_all(client: &aws_sdk_sqs::Client, queue_url: &str, messages: &[Outgoing]) -> Result<(), PortError> {
    for batch in batches(messages) {
        let mut pending: Vec<(usize, &Outgoing)> = batch.iter().enumerate().collect();
        // One more try for entries SQS refused individually (throttling, a transient fault).
        for round in 0..2 {
            let entries = pending
                .iter()
                .map(|(i, message)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(&message.body)
                        .delay_seconds(delay_seconds(message.delay))
                        .build()
                        .map_err(|e| PortError::Invalid(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let output = client
                .send_message_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| port_error("SendMessageBatch", e))?;
            let failed = output.failed();
            if failed.is_empty() {
                pending.clear();
                break;
            }
            if round == 1 || failed.iter().any(|f| f.sender_fault()) {
                let first = &failed[0];
                return Err(PortError::Unavailable(format!(
                    "SendMessageBatch: {} of {} entries refused, first: {} {}",
                    failed.len(),
                    pending.len(),
                    first.code(),
                    first.message().unwrap_or_default()
                )));
            }
            pending.retain(|(i, _)| failed.iter().any(|f| f.id() == i.to_string()));
        }
    }
    Ok(())
}

fn body_of<T: serde::Serialize>(message: &T) -> Result<String, PortError> {
    serde_json::to_string(message).map_err(|e| PortError::Invalid(e.to_string()))
}

/// The queue ingest writes and fan-out reads.
#[derive(Debug, Clone)]
pub struct SqsEventQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsEventQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }
}

impl EventQueue for SqsEventQueue {
    async fn enqueue(&self, events: &[Event]) -> Result<(), PortError> {
        let messages = events
            .iter()
            .map(|event| Ok(Outgoing { body: body_of(&EventMessage::V1(event.clone()))?, delay: Duration::ZERO }))
            .collect::<Result<Vec<_>, PortError>>()?;
        send_all(&self.client, &self.queue_url, &messages).await
    }
}

/// The queue fan-out (and retries) write and delivery reads.
#[derive(Debug, Clone)]
pub struct SqsDeliveryQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsDeliveryQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }
}

impl DeliveryQueue for SqsDeliveryQueue {
    async fn enqueue(&self, tasks: &[ScheduledTask]) -> Result<(), PortError> {
        let messages = tasks
            .iter()
            .map(|scheduled| {
                Ok(Outgoing { body: body_of(&DeliveryMessage::V1(scheduled.task.clone()))?, delay: scheduled.delay })
            })
            .collect::<Result<Vec<_>, PortError>>()?;
        send_all(&self.client, &self.queue_url, &messages).await
    }
}

/// The deliveries dead-letter queue, for tasks whose retry schedule is spent.
#[derive(Debug, Clone)]
pub struct SqsDeadLetterQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsDeadLetterQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }
}

impl DeadLetterQueue for SqsDeadLetterQueue {
    async fn send(&self, letter: &DeadLetter) -> Result<(), PortError> {
        let message = Outgoing { body: body_of(&DeadLetterMessage::V1(letter.clone()))?, delay: Duration::ZERO };
        send_all(&self.client, &self.queue_url, &[message]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sized(n: usize) -> Outgoing {
        Outgoing { body: "x".repeat(n), delay: Duration::ZERO }
    }

    #[test]
    fn delays_round_up_to_whole_seconds_within_the_sqs_limit() {
        assert_eq!(delay_seconds(Duration::ZERO), 0);
        assert_eq!(delay_seconds(Duration::from_millis(1)), 1);
        assert_eq!(delay_seconds(Duration::from_millis(2_000)), 2);
        assert_eq!(delay_seconds(Duration::from_millis(2_001)), 3);
        assert_eq!(delay_seconds(Duration::from_secs(86_400)), 900);
    }

    #[test]
    fn batches_hold_at_most_ten_entries() {
        let messages: Vec<_> = (0..23).map(|_| sized(10)).collect();
        let sizes: Vec<_> = batches(&messages).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, vec![10, 10, 3]);
    }

    #[test]
    fn batches_stay_under_the_byte_limit() {
        let messages: Vec<_> = (0..5).map(|_| sized(400_000)).collect();
        let sizes: Vec<_> = batches(&messages).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, vec![2, 2, 1]);
        assert!(batches(&[]).is_empty());
    }
}

//! `hookline dlq list | redrive`: what the dead-letter queues hold, and moving it back.
//!
//! The deliveries DLQ holds two kinds of message: tasks the deliverer gave up on
//! (`dead-delivery.v1`, with the reason), and tasks that made the handler fail `maxReceiveCount`
//! times, moved there unchanged by the queue's redrive policy (`delivery.v1`). The events DLQ
//! holds events fan-out failed on (`event.v1`). Redriving is receive, send to the source queue,
//! then delete — in that order, so a message is never lost, only (if the tool dies between send
//! and delete) moved twice, which duplicate suppression absorbs. A dead letter goes back as a
//! fresh task with the whole retry schedule ahead of it. moto has no StartMessageMoveTask, and
//! this way one code path runs locally and on AWS.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Context;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, Message, MessageSystemAttributeName};
use hookline_core::model::{DeadLetterMessage, DeliveryMessage, DeliveryTask, EventMessage};
use serde_json::{Value, json};

/// Which pair of queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QueueKind {
    Events,
    Deliveries,
}

impl QueueKind {
    fn name(self) -> &'static str {
        match self {
            Self::Events => "events",
            Self::Deliveries => "deliveries",
        }
    }

    /// The variables that name the queue and its DLQ on AWS (the stack's outputs).
    fn variables(self) -> (&'static str, &'static str) {
        match self {
            Self::Events => ("HOOKLINE_EVENTS_QUEUE_URL", "HOOKLINE_EVENTS_DLQ_URL"),
            Self::Deliveries => ("HOOKLINE_DELIVERIES_QUEUE_URL", "HOOKLINE_DELIVERIES_DLQ_URL"),
        }
    }
}

/// A queue and its dead-letter queue.
#[derive(Debug, Clone)]
pub struct Queues {
    pub kind: QueueKind,
    pub source: String,
    pub dlq: String,
}

impl Queues {
    /// From HOOKLINE_<KIND>_QUEUE_URL / _DLQ_URL if set, else the local stack's names
    /// (`hookline-<kind>`, `hookline-<kind>-dlq`) looked up on the endpoint.
    pub async fn find(sqs: &Client, kind: QueueKind) -> anyhow::Result<Self> {
        let (source_var, dlq_var) = kind.variables();
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let url = async |var_value: Option<String>, name: String| match var_value {
            Some(url) => Ok(url),
            None => sqs
                .get_queue_url()
                .queue_name(&name)
                .send()
                .await
                .with_context(|| format!("finding queue `{name}` (set {source_var} and {dlq_var} on AWS)"))
                .and_then(|out| out.queue_url.context("GetQueueUrl answered without a URL")),
        };
        let source = url(var(source_var), format!("hookline-{}", kind.name())).await?;
        let dlq = url(var(dlq_var), format!("hookline-{}-dlq", kind.name())).await?;
        Ok(Self { kind, source, dlq })
    }
}

/// How long a listed message stays hidden before it is made visible again.
const HOLD: Duration = Duration::from_secs(60);

/// Receives every message of the DLQ once (each held hidden while it is read), newest
/// receives last. Stops at the first empty receive or a message seen before.
async fn drain(sqs: &Client, dlq: &str) -> anyhow::Result<Vec<Message>> {
    let mut seen = HashSet::new();
    let mut all = Vec::new();
    loop {
        let output = sqs
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(10)
            .visibility_timeout(i32::try_from(HOLD.as_secs()).unwrap_or(60))
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .with_context(|| format!("receiving from {dlq}"))?;
        let messages = output.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(all);
        }
        let before = all.len();
        for message in messages {
            if seen.insert(message.message_id.clone().unwrap_or_default()) {
                all.push(message);
            }
        }
        if all.len() == before {
            return Ok(all);
        }
    }
}

/// Makes held messages visible again at once.
async fn release(sqs: &Client, dlq: &str, messages: &[&Message]) -> anyhow::Result<()> {
    for chunk in messages.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle.clone())
                    .visibility_timeout(0)
                    .build()
                    .ok()
            })
            .collect::<Vec<_>>();
        if entries.is_empty() {
            continue;
        }
        sqs.change_message_visibility_batch()
            .queue_url(dlq)
            .set_entries(Some(entries))
            .send()
            .await
            .with_context(|| format!("making listed messages visible again on {dlq}"))?;
    }
    Ok(())
}

/// One dead-lettered message as the operator sees it, and what a redrive sends back.
#[derive(Debug, Clone, PartialEq)]
pub struct Described {
    pub summary: Value,
    /// The body to send to the source queue; `None` for a message hookline cannot read.
    pub redrive_body: Option<String>,
}

/// Reads a DLQ message of `kind`.
pub fn describe(kind: QueueKind, message: &Message) -> Described {
    let body = message.body.as_deref().unwrap_or_default();
    let receives = message
        .attributes
        .as_ref()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|n| n.parse::<u64>().ok());
    let sent_at = message
        .attributes
        .as_ref()
        .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
        .and_then(|ms| ms.parse::<i128>().ok())
        .and_then(|ms| time::OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).ok())
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
    let mut summary = json!({
        "queue": kind.name(),
        "messageId": message.message_id.as_deref().unwrap_or_default(),
        "deadLetteredAt": sent_at,
    });
    let fields = |summary: &mut Value, more: Value| {
        if let (Some(target), Value::Object(more)) = (summary.as_object_mut(), more) {
            target.extend(more);
        }
    };
    let redrive_body = match kind {
        QueueKind::Deliveries => match serde_json::from_str::<DeadLetterMessage>(body) {
            Ok(DeadLetterMessage::V1(letter)) => {
                fields(
                    &mut summary,
                    json!({
                        "kind": "dead-delivery.v1",
                        "tenant": letter.task.event.tenant,
                        "eventId": letter.task.event.id,
                        "eventType": letter.task.event.event_type,
                        "subscriptionId": letter.task.subscription_id,
                        "reason": letter.reason,
                        "attempts": letter.attempts,
                        "lastStatus": letter.last_status,
                        "lastError": letter.last_error,
                        "firstAttemptAt": letter.first_attempt_at.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
                        "lastAttemptAt": letter.last_attempt_at.format(&time::format_description::well_known::Rfc3339).ok(),
                    }),
                );
                let fresh = DeliveryTask { attempts_made: 0, first_attempt_at: None, not_before: None, ..letter.task };
                serde_json::to_string(&DeliveryMessage::V1(fresh)).ok()
            }
            Err(_) => match serde_json::from_str::<DeliveryMessage>(body) {
                Ok(DeliveryMessage::V1(task)) => {
                    fields(
                        &mut summary,
                        json!({
                            "kind": "delivery.v1",
                            "tenant": task.event.tenant,
                            "eventId": task.event.id,
                            "eventType": task.event.event_type,
                            "subscriptionId": task.subscription_id,
                            "reason": poison_reason(receives),
                            "attempts": task.attempts_made,
                        }),
                    );
                    Some(body.to_owned())
                }
                Err(error) => unreadable(&mut summary, body, &error),
            },
        },
        QueueKind::Events => match serde_json::from_str::<EventMessage>(body) {
            Ok(EventMessage::V1(event)) => {
                fields(
                    &mut summary,
                    json!({
                        "kind": "event.v1",
                        "tenant": event.tenant,
                        "eventId": event.id,
                        "eventType": event.event_type,
                        "reason": poison_reason(receives),
                    }),
                );
                Some(body.to_owned())
            }
            Err(error) => unreadable(&mut summary, body, &error),
        },
    };
    Described { summary, redrive_body }
}

fn poison_reason(receives: Option<u64>) -> String {
    match receives {
        Some(n) => format!("moved by the queue's redrive policy: the handler failed on it {n} times"),
        None => "moved by the queue's redrive policy: the handler failed on it repeatedly".to_owned(),
    }
}

fn unreadable(summary: &mut Value, body: &str, error: &serde_json::Error) -> Option<String> {
    let excerpt: String = body.chars().take(200).collect();
    summary["kind"] = json!("unreadable");
    summary["reason"] = json!(format!("not a hookline message: {error}"));
    summary["bodyExcerpt"] = json!(excerpt);
    None
}

/// Prints one JSON object per message; leaves every message where it was.
pub async fn list(sqs: &Client, queues: &Queues) -> anyhow::Result<usize> {
    let messages = drain(sqs, &queues.dlq).await?;
    for message in &messages {
        println!("{}", describe(queues.kind, message).summary);
    }
    release(sqs, &queues.dlq, &messages.iter().collect::<Vec<_>>()).await?;
    Ok(messages.len())
}

/// Sends every readable message back to its source queue, then deletes it from the DLQ.
/// Prints one JSON object per message moved. Unreadable ones stay (and are printed, `kept`).
pub async fn redrive(sqs: &Client, queues: &Queues) -> anyhow::Result<(usize, usize)> {
    let messages = drain(sqs, &queues.dlq).await?;
    let mut kept = Vec::new();
    let mut moved = 0;
    for message in &messages {
        let described = describe(queues.kind, message);
        let Some(body) = described.redrive_body else {
            let mut summary = described.summary;
            summary["action"] = json!("kept");
            println!("{summary}");
            kept.push(message);
            continue;
        };
        sqs.send_message().queue_url(&queues.source).message_body(body).send().await.with_context(|| {
            format!("sending message {} back to {}", message.message_id.as_deref().unwrap_or("?"), queues.source)
        })?;
        sqs.delete_message()
            .queue_url(&queues.dlq)
            .set_receipt_handle(message.receipt_handle.clone())
            .send()
            .await
            .with_context(|| format!("deleting the redriven message from {}", queues.dlq))?;
        let mut summary = described.summary;
        summary["action"] = json!("redriven");
        println!("{summary}");
        moved += 1;
    }
    release(sqs, &queues.dlq, &kept).await?;
    Ok((moved, kept.len()))
}

#[cfg(test)]
mod tests {
    use hookline_core::ids::{EventId, SubscriptionId};
    use hookline_core::model::{DeadLetter, Event};
    use time::OffsetDateTime;

    use super::*;

    fn task() -> DeliveryTask {
        DeliveryTask {
            event: Event {
                id: EventId::generate(),
                tenant: "acme".parse().expect("tenant"),
                event_type: "client-management.legalentity-deleted".into(),
                timestamp: OffsetDateTime::now_utc(),
                data: json!({"tenant": "acme", "legalEntityId": "le-1"}),
            },
            subscription_id: SubscriptionId::generate(),
            attempts_made: 3,
            first_attempt_at: Some(OffsetDateTime::now_utc()),
            not_before: Some(OffsetDateTime::now_utc()),
            replay_id: None,
        }
    }

    fn message(body: &str) -> Message {
        Message::builder().message_id("m-1").body(body).build()
    }

    #[test]
    fn a_dead_letter_is_described_with_its_reason_and_redriven_as_a_fresh_task() {
        let task = task();
        let letter = DeadLetter {
            task: task.clone(),
            reason: "HTTP 500 after 3 attempts".into(),
            attempts: 3,
            last_status: Some(500),
            last_error: None,
            first_attempt_at: task.first_attempt_at,
            last_attempt_at: OffsetDateTime::now_utc(),
        };
        let body = serde_json::to_string(&DeadLetterMessage::V1(letter)).expect("json");
        let described = describe(QueueKind::Deliveries, &message(&body));
        assert_eq!(described.summary["kind"], "dead-delivery.v1");
        assert_eq!(described.summary["reason"], "HTTP 500 after 3 attempts");
        assert_eq!(described.summary["tenant"], "acme");
        assert_eq!(described.summary["eventId"], task.event.id.as_str());
        assert_eq!(described.summary["subscriptionId"], task.subscription_id.as_str());
        assert_eq!(described.summary["lastStatus"], 500);
        let DeliveryMessage::V1(fresh) =
            serde_json::from_str(&described.redrive_body.expect("redrivable")).expect("a delivery message");
        assert_eq!((fresh.attempts_made, fresh.first_attempt_at, fresh.not_before), (0, None, None));
        assert_eq!(fresh.event, task.event);
    }

    #[test]
    fn a_poison_task_goes_back_unchanged_and_unreadable_bodies_stay() {
        let body = serde_json::to_string(&DeliveryMessage::V1(task())).expect("json");
        let described = describe(QueueKind::Deliveries, &message(&body));
        assert_eq!(described.summary["kind"], "delivery.v1");
        assert_eq!(described.redrive_body.as_deref(), Some(body.as_str()));

        let described = describe(QueueKind::Deliveries, &message("{not json"));
        assert_eq!(described.summary["kind"], "unreadable");
        assert_eq!(described.redrive_body, None);
        let described = describe(QueueKind::Events, &message(&body));
        assert_eq!(described.summary["kind"], "unreadable", "a delivery is not an event");
    }
}

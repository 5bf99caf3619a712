//! Lambda's SQS event-source mapping, played in-process.
//!
//! Long-polls a queue for batches of up to 10, hands each batch to the handler as the very
//! `SqsEvent` Lambda would build, and deletes only the records the handler did not report in
//! `batchItemFailures`. Failed records stay on the queue: they reappear after the visibility
//! timeout, and the queue's redrive policy moves repeat failures to its dead-letter queue.

use std::future::Future;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName};
use tokio::sync::watch;

/// A queue to poll, with the ARN Lambda would put in each record.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    sqs: aws_sdk_sqs::Client,
    url: String,
    arn: String,
}

impl Source {
    pub(crate) async fn new(sqs: aws_sdk_sqs::Client, url: &str) -> anyhow::Result<Self> {
        let arn = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .unwrap_or_default();
        Ok(Self { sqs, url: url.to_owned(), arn })
    }
}

/// The batch as Lambda delivers it (built from JSON: the event structs are non-exhaustive).
fn lambda_event(source: &Source, messages: &[Message]) -> serde_json::Result<SqsEvent> {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            let attributes: serde_json::Map<String, serde_json::Value> = m
                .attributes()
                .map(|a| a.iter().map(|(k, v)| (k.as_str().to_owned(), serde_json::Value::String(v.clone()))).collect())
                .unwrap_or_default();
            serde_json::json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": source.arn,
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records }))
}

/// Polls `source` until `stop` turns true, running `handler` on every batch.
pub(crate) async fn poll<H, F>(source: Source, mut stop: watch::Receiver<bool>, handler: H)
where
    H: Fn(SqsEvent) -> F,
    F: Future<Output = SqsBatchResponse>,
{
    while !*stop.borrow() {
        let received = tokio::select! {
            _ = stop.changed() => break,
            received = source
                .sqs
                .receive_message()
                .queue_url(&source.url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send() => received,
        };
        let messages = match received {
            Ok(output) => output.messages.unwrap_or_default(),
            Err(err) => {
                tracing::warn!(queue = %source.url, error = %aws_sdk_sqs::error::DisplayErrorContext(&err), "receive failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let event = match lambda_event(&source, &messages) {
            Ok(event) => event,
            Err(err) => {
                tracing::error!(error = %err, "could not build the Lambda event; the batch stays on the queue");
                continue;
            }
        };
        let response = handler(event).await;
        let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        // Lambda treats a failure it cannot match to a record as a failure of the whole batch.
        if failed.iter().any(|id| !messages.iter().any(|m| m.message_id() == Some(*id))) {
            tracing::warn!(queue = %source.url, "a batch item failure names no record; the whole batch will be retried");
            continue;
        }
        let entries: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| !failed.contains(&m.message_id().unwrap_or_default()))
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .ok()
            })
            .collect();
        if entries.is_empty() {
            continue;
        }
        if let Err(err) =
            source.sqs.delete_message_batch().queue_url(&source.url).set_entries(Some(entries)).send().await
        {
            // The messages come back after their visibility timeout: delivered twice, never lost.
            tracing::warn!(queue = %source.url, error = %aws_sdk_sqs::error::DisplayErrorContext(&err), "delete failed");
        }
    }
}

//! Lambda's SQS event-source mapping, played in-process.
//!
//! Long-polls a queue for batches of up to 10, hands each batch to the handler as the very
//! `SqsEvent` Lambda would build, and deletes only the records the handler did not report in
//! `batchItemFailures`. Failed records stay on the queue: they reappear after the visibility
//! timeout, and the queue's redrive policy moves repeat failures to its dead-letter queue.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
};
use base64::Engine;
use futures::FutureExt;
use serde_json::{Map, Value, json};
use tokio::sync::watch;

/// Backoff after a failed receive: doubles from the first to the last, so a stopped moto is
/// retried promptly but not hammered.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(5));

/// A queue to poll, with the ARN and region Lambda would put in each record.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    sqs: aws_sdk_sqs::Client,
    url: String,
    arn: String,
    region: String,
    /// Per-batch log lines at debug rather than info.
    quiet: bool,
}

impl Source {
    pub(crate) async fn new(sqs: aws_sdk_sqs::Client, url: &str, quiet: bool) -> anyhow::Result<Self> {
        let arn = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .unwrap_or_default();
        // arn:aws:sqs:<region>:<account>:<name>
        let region = arn.split(':').nth(3).filter(|r| !r.is_empty()).unwrap_or("us-east-1").to_owned();
        Ok(Self { sqs, url: url.to_owned(), arn, region, quiet })
    }

    fn name(&self) -> &str {
        self.url.rsplit('/').next().unwrap_or(&self.url)
    }
}

/// A message attribute as Lambda renders it in an SQS record.
fn message_attribute(value: &MessageAttributeValue) -> Value {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    json!({
        "stringValue": value.string_value(),
        "binaryValue": value.binary_value().map(|b| b64(b.as_ref())),
        "stringListValues": value.string_list_values(),
        "binaryListValues": value.binary_list_values().iter().map(|b| b64(b.as_ref())).collect::<Vec<_>>(),
        "dataType": value.data_type(),
    })
}

/// The batch as Lambda delivers it (built from JSON: the event structs are non-exhaustive).
fn lambda_event(source: &Source, messages: &[Message]) -> serde_json::Result<SqsEvent> {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: Map<String, Value> = m
                .attributes()
                .map(|a| a.iter().map(|(k, v)| (k.as_str().to_owned(), Value::String(v.clone()))).collect())
                .unwrap_or_default();
            let message_attributes: Map<String, Value> = m
                .message_attributes()
                .map(|a| a.iter().map(|(k, v)| (k.clone(), message_attribute(v))).collect())
                .unwrap_or_default();
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": m.md5_of_body(),
                "md5OfMessageAttributes": m.md5_of_message_attributes(),
                "eventSource": "aws:sqs",
                "eventSourceARN": source.arn,
                "awsRegion": source.region,
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records }))
}

/// The records to delete: every one the handler did not report as failed. `None` when a
/// reported failure names no record of the batch: Lambda then treats the whole batch as failed.
fn to_delete<'a>(messages: &'a [Message], response: &SqsBatchResponse) -> Option<Vec<&'a Message>> {
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    if failed.iter().any(|id| !messages.iter().any(|m| m.message_id() == Some(*id))) {
        return None;
    }
    Some(messages.iter().filter(|m| !failed.contains(&m.message_id().unwrap_or_default())).collect())
}

/// Polls `source` until `stop` turns true, running `handler` on every batch. A batch in flight
/// when `stop` turns true is finished (handled and its successes deleted) first.
pub(crate) async fn poll<H, F>(source: Source, mut stop: watch::Receiver<bool>, handler: H)
where
    H: Fn(SqsEvent) -> F,
    F: Future<Output = SqsBatchResponse>,
{
    let mut backoff = BACKOFF.0;
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
                .message_attribute_names("All")
                .send() => received,
        };
        let messages = match received {
            Ok(output) => {
                backoff = BACKOFF.0;
                output.messages.unwrap_or_default()
            }
            Err(err) => {
                if *stop.borrow() {
                    break;
                }
                tracing::warn!(queue = source.name(), error = %DisplayErrorContext(&err), retry_in = ?backoff, "receive failed");
                tokio::select! {
                    _ = stop.changed() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF.1);
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let event = match lambda_event(&source, &messages) {
            Ok(event) => event,
            Err(err) => {
                tracing::error!(queue = source.name(), error = %err, "could not build the Lambda event; the batch stays on the queue");
                continue;
            }
        };
        // A panicking handler fails its whole batch, as a crashed Lambda invocation does; the
        // poller carries on.
        let Ok(response) = AssertUnwindSafe(handler(event)).catch_unwind().await else {
            tracing::error!(
                queue = source.name(),
                records = messages.len(),
                "the handler panicked; the batch stays on the queue"
            );
            continue;
        };
        let Some(done) = to_delete(&messages, &response) else {
            tracing::warn!(
                queue = source.name(),
                "a batch item failure names no record; the whole batch will be retried"
            );
            continue;
        };
        let failures = messages.len() - done.len();
        if source.quiet {
            tracing::debug!(queue = source.name(), records = messages.len(), failures, "batch handled");
        } else {
            tracing::info!(queue = source.name(), records = messages.len(), failures, "batch handled");
        }
        delete(&source, &done).await;
    }
}

/// Deletes handled messages. One that cannot be deleted comes back after its visibility timeout:
/// handled twice, never lost.
async fn delete(source: &Source, done: &[&Message]) {
    let entries: Vec<DeleteMessageBatchRequestEntry> = done
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .build()
                .ok()
        })
        .collect();
    if entries.is_empty() {
        return;
    }
    match source.sqs.delete_message_batch().queue_url(&source.url).set_entries(Some(entries)).send().await {
        Ok(output) => {
            for failed in output.failed() {
                tracing::warn!(
                    queue = source.name(),
                    code = failed.code(),
                    message = failed.message(),
                    "delete failed; the message will be handled again"
                );
            }
        }
        Err(err) => {
            tracing::warn!(queue = source.name(), error = %DisplayErrorContext(&err), "delete failed; the batch will be handled again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str) -> Message {
        Message::builder().message_id(id).receipt_handle(format!("r-{id}")).body("{}").build()
    }

    fn failures(ids: &[&str]) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for id in ids {
            response.add_failure(*id);
        }
        response
    }

    #[test]
    fn only_the_records_not_reported_as_failed_are_deleted() {
        let batch = [message("a"), message("b"), message("c")];
        let ids =
            |done: Vec<&Message>| done.iter().filter_map(|m| m.message_id()).map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(ids(to_delete(&batch, &failures(&[])).expect("ok")), ["a", "b", "c"]);
        assert_eq!(ids(to_delete(&batch, &failures(&["b"])).expect("ok")), ["a", "c"]);
        assert!(to_delete(&batch, &failures(&["a", "b", "c"])).expect("ok").is_empty());
        assert!(to_delete(&batch, &failures(&["zzz"])).is_none(), "an unknown id fails the whole batch");
    }

    /// Against a real moto queue with redrive after 2 receives and a 1 s visibility timeout.
    mod on_moto {
        use std::sync::{Arc, Mutex};

        use hookline_aws::resources::QueueSettings;
        use hookline_testkit::{TestAws, eventually};

        use super::*;

        async fn aws() -> TestAws {
            let settings = QueueSettings { max_receive_count: 2, visibility_timeout: Duration::from_secs(1) };
            TestAws::start_with(&settings).await.expect("moto")
        }

        async fn send(aws: &TestAws, bodies: &[&str]) {
            for body in bodies {
                aws.sqs()
                    .send_message()
                    .queue_url(&aws.resources.events_queue_url)
                    .message_body(*body)
                    .send()
                    .await
                    .expect("send");
            }
        }

        async fn stop(stop: watch::Sender<bool>, poller: tokio::task::JoinHandle<()>) {
            stop.send(true).expect("poller listening");
            tokio::time::timeout(Duration::from_secs(5), poller).await.expect("stops promptly").expect("did not panic");
        }

        #[tokio::test]
        async fn successes_are_deleted_and_a_repeat_failure_ends_in_the_dead_letter_queue() {
            let aws = aws().await;
            send(&aws, &["ok-1", "bad", "ok-2"]).await;
            let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
            let source = Source::new(aws.sqs(), &aws.resources.events_queue_url, true).await.expect("source");
            let (stop_tx, stop_rx) = watch::channel(false);
            let record = seen.clone();
            let poller = tokio::spawn(poll(source, stop_rx, move |event: SqsEvent| {
                let record = record.clone();
                async move {
                    let mut response = SqsBatchResponse::default();
                    for message in event.records {
                        assert_eq!(message.event_source.as_deref(), Some("aws:sqs"));
                        assert!(
                            message.event_source_arn.as_deref().is_some_and(|arn| arn.ends_with(":hookline-events"))
                        );
                        let body = message.body.clone().unwrap_or_default();
                        let count = message.attributes.get("ApproximateReceiveCount").cloned().unwrap_or_default();
                        if body == "bad" {
                            response.add_failure(message.message_id.clone().unwrap_or_default());
                        }
                        record.lock().expect("lock").push((body, count));
                    }
                    response
                }
            }));

            let dead = eventually(Duration::from_secs(20), "the failing message in the DLQ", || async {
                let messages = aws.receive_all(&aws.resources.events_dlq_url).await.ok()?;
                (!messages.is_empty()).then_some(messages)
            })
            .await
            .expect("redriven");
            // Past another visibility timeout: an undeleted success would have come back by now.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            stop(stop_tx, poller).await;

            assert_eq!(dead.iter().map(|m| m.body().unwrap_or_default()).collect::<Vec<_>>(), ["bad"]);
            let mut seen = seen.lock().expect("lock").clone();
            seen.sort();
            let expected = [("bad", "1"), ("bad", "2"), ("ok-1", "1"), ("ok-2", "1")];
            assert_eq!(
                seen,
                expected.map(|(b, c)| (b.to_owned(), c.to_owned())),
                "successes once, the failure until redrive"
            );
            assert!(aws.receive_all(&aws.resources.events_queue_url).await.expect("receive").is_empty());
        }

        #[tokio::test]
        async fn a_panicking_handler_fails_its_batch_and_the_poller_carries_on() {
            let aws = aws().await;
            send(&aws, &["once"]).await;
            let calls: Arc<Mutex<u32>> = Arc::default();
            let source = Source::new(aws.sqs(), &aws.resources.events_queue_url, true).await.expect("source");
            let (stop_tx, stop_rx) = watch::channel(false);
            let counter = calls.clone();
            let poller = tokio::spawn(poll(source, stop_rx, move |_event: SqsEvent| {
                let counter = counter.clone();
                async move {
                    let call = {
                        let mut calls = counter.lock().expect("lock");
                        *calls += 1;
                        *calls
                    };
                    assert!(call > 1, "the first invocation crashes");
                    SqsBatchResponse::default()
                }
            }));
            eventually(Duration::from_secs(10), "a second invocation", || async {
                (*calls.lock().expect("lock") >= 2).then_some(())
            })
            .await
            .expect("the message came back after its visibility timeout");
            tokio::time::sleep(Duration::from_millis(1500)).await;
            stop(stop_tx, poller).await;
            assert_eq!(*calls.lock().expect("lock"), 2, "handled once after the crash, then deleted");
            assert!(aws.receive_all(&aws.resources.events_dlq_url).await.expect("receive").is_empty());
        }
    }
}

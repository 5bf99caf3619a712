//! Lambda events for handler tests, built from JSON as Lambda sends them (the
//! `aws_lambda_events` structs are non-exhaustive).

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};

/// An SQS batch from the queue named by `queue_arn`, one record per `(message id, body)`.
pub fn sqs_event(queue_arn: &str, records: &[(&str, String)]) -> SqsEvent {
    let records: Vec<_> = records
        .iter()
        .map(|(id, body)| {
            serde_json::json!({
                "messageId": id, "receiptHandle": format!("receipt-{id}"), "body": body,
                "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": "us-east-1"
            })
        })
        .collect();
    match serde_json::from_value(serde_json::json!({ "Records": records })) {
        Ok(event) => event,
        Err(err) => panic!("the SQS event shape no longer parses: {err}"),
    }
}

/// The message ids a batch response reports as failed.
pub fn failures(response: &SqsBatchResponse) -> Vec<String> {
    response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect()
}

//! What the local stack is doing, for `hookline dev`'s live status: events in, delivery
//! outcomes so far (from the functions' own metric totals) and the four queues' depths.

use std::fmt;

use aws_sdk_sqs::types::QueueAttributeName;
use hookline_aws::resources::Resources;
use hookline_core::metrics::{self, Metric};

/// One queue's messages: waiting, being handled, and held back (retries not due yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
}

impl Depth {
    /// Every message on the queue, whatever its state.
    pub fn total(&self) -> u64 {
        self.visible + self.in_flight + self.delayed
    }
}

/// A snapshot of the stack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Status {
    pub events_in: u64,
    pub delivered: u64,
    pub retrying: u64,
    pub dead_lettered: u64,
    pub events_queue: Depth,
    pub deliveries_queue: Depth,
    pub events_dlq: u64,
    pub deliveries_dlq: u64,
}

impl fmt::Display for Status {
    /// One compact line, e.g. `events in 12 · delivered 30 · retrying 2 · dead-lettered 1 ·
    /// queues: events 0, deliveries 3 (1 in flight, 2 delayed), DLQs 0/1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "events in {} · delivered {} · retrying {} · dead-lettered {} · queues: events {}, deliveries {}, DLQs {}/{}",
            self.events_in,
            self.delivered,
            self.retrying,
            self.dead_lettered,
            DepthText(self.events_queue),
            DepthText(self.deliveries_queue),
            self.events_dlq,
            self.deliveries_dlq
        )
    }
}

struct DepthText(Depth);

impl fmt::Display for DepthText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let depth = self.0;
        write!(f, "{}", depth.total())?;
        match (depth.in_flight, depth.delayed) {
            (0, 0) => Ok(()),
            (n, 0) => write!(f, " ({n} in flight)"),
            (0, d) => write!(f, " ({d} delayed)"),
            (n, d) => write!(f, " ({n} in flight, {d} delayed)"),
        }
    }
}

/// Reads the process's metric totals and the queues' attributes.
pub(crate) async fn read(sqs: &aws_sdk_sqs::Client, resources: &Resources) -> anyhow::Result<Status> {
    let totals = metrics::totals();
    let (events_queue, deliveries_queue, events_dlq, deliveries_dlq) = tokio::try_join!(
        queue_depth(sqs, &resources.events_queue_url),
        queue_depth(sqs, &resources.deliveries_queue_url),
        queue_depth(sqs, &resources.events_dlq_url),
        queue_depth(sqs, &resources.deliveries_dlq_url),
    )?;
    Ok(Status {
        events_in: totals.get(Metric::Published),
        delivered: totals.get(Metric::Delivered),
        retrying: totals.get(Metric::Retried),
        dead_lettered: totals.get(Metric::DeadLettered),
        events_queue,
        deliveries_queue,
        events_dlq: events_dlq.total(),
        deliveries_dlq: deliveries_dlq.total(),
    })
}

/// One queue's depth from its approximate message counts (what SQS reports, not an exact
/// figure). The end-to-end tests read queues with it too.
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<Depth> {
    let output = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await?;
    let attributes = output.attributes.unwrap_or_default();
    let number = |name: QueueAttributeName| attributes.get(&name).and_then(|n| n.parse().ok()).unwrap_or(0);
    Ok(Depth {
        visible: number(QueueAttributeName::ApproximateNumberOfMessages),
        in_flight: number(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        delayed: number(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_is_compact_and_names_every_figure() {
        let status = Status {
            events_in: 12,
            delivered: 30,
            retrying: 2,
            dead_lettered: 1,
            events_queue: Depth::default(),
            deliveries_queue: Depth { visible: 0, in_flight: 1, delayed: 2 },
            events_dlq: 0,
            deliveries_dlq: 1,
        };
        assert_eq!(
            status.to_string(),
            "events in 12 · delivered 30 · retrying 2 · dead-lettered 1 · \
             queues: events 0, deliveries 3 (1 in flight, 2 delayed), DLQs 0/1"
        );
    }
}

//! Fan-out: time per event for a tenant with 1, 10, 100 and 1,000 matching subscriptions, the
//! `fanout` handler with the in-memory store and deliveries queue.

use std::time::{Duration, Instant};

use hookline_core::memory::{MemoryDeliveryQueue, MemorySubscriptionStore};
use hookline_core::model::{EventMessage, TenantId};
use hookline_core::ports::SubscriptionStore;
use hookline_fanout::Fanout;

/// The subscription counts the issue asks for.
pub const COUNTS: [usize; 4] = [1, 10, 100, 1_000];

/// One count's result.
#[derive(Debug, Clone, PartialEq)]
pub struct PerEvent {
    pub subscriptions: usize,
    /// Mean wall time of one single-event invocation.
    pub mean: Duration,
    /// Median of the same.
    pub median: Duration,
}

/// Handles single-event batches for `duration` per count (at least 20 events).
pub async fn run(counts: &[usize], duration: Duration) -> anyhow::Result<Vec<PerEvent>> {
    let tenant: TenantId = "bench".parse().map_err(|_| anyhow::anyhow!("tenant"))?;
    let mut out = Vec::new();
    for &count in counts {
        let store = MemorySubscriptionStore::default();
        for i in 0..count {
            store.create(&crate::delivery::subscription(&tenant, &format!("https://hooks.example.com/{i}"))).await?;
        }
        let fanout = Fanout::new(store, MemoryDeliveryQueue::default());
        let mut times = Vec::new();
        let started = Instant::now();
        while times.len() < 20 || started.elapsed() < duration {
            let event = crate::delivery::event(&tenant)?;
            let body = serde_json::to_string(&EventMessage::V1(event))?;
            let batch = hookline_testkit::lambda::sqs_event(
                "arn:aws:sqs:us-east-1:123456789012:hookline-events",
                &[("m1", body)],
            );
            let clock = Instant::now();
            let response = fanout.handle(batch).await;
            times.push(clock.elapsed());
            anyhow::ensure!(response.batch_item_failures.is_empty(), "fan-out reported a failure");
            let enqueued = fanout.queue().take().len();
            anyhow::ensure!(enqueued == count, "{enqueued} tasks enqueued for {count} subscriptions");
        }
        times.sort();
        let mean = times.iter().sum::<Duration>() / u32::try_from(times.len()).unwrap_or(u32::MAX);
        let median = times[times.len() / 2];
        eprintln!("fanout: {count:>5} subscriptions: mean {mean:?}, median {median:?} per event");
        out.push(PerEvent { subscriptions: count, mean, median });
    }
    Ok(out)
}

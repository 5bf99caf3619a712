//! Delivery throughput: the `deliver` handler against a bare reqwest POST loop, both posting to
//! the same loopback receiver at the same number of requests in flight.
//!
//! The handler runs as Lambda runs it: SQS batches of at most 10 records, handled with
//! `Deliver::handle`, signing and attempt logging on; `in flight / 10` batches run at once
//! (Lambda's concurrent invocations). The store, attempt log and queues are the in-memory
//! adapters, so the figure is hookline's cost, not moto's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_lambda_events::sqs::SqsEvent;
use hookline_core::ids::{EventId, SubscriptionId};
use hookline_core::memory::{MemoryAttemptLog, MemoryDeadLetterQueue, MemoryDeliveryQueue, MemorySubscriptionStore};
use hookline_core::model::{DeliveryMessage, DeliveryTask, Event, Subscription, TenantId};
use hookline_core::ports::SubscriptionStore;
use hookline_deliver::{Deliver, DeliverConfig};
use hookline_testkit::model;
use time::OffsetDateTime;

/// One level's result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    pub in_flight: usize,
    /// Deliveries per second through the handler.
    pub handler: f64,
    /// POSTs per second of the bare reqwest loop.
    pub bare: f64,
}

impl Level {
    pub fn ratio(&self) -> f64 {
        if self.bare > 0.0 { self.handler / self.bare } else { 0.0 }
    }
}

/// The in-flight levels the issue asks for.
pub const LEVELS: [usize; 4] = [1, 10, 50, 100];

type Handler = Deliver<MemorySubscriptionStore, MemoryAttemptLog, MemoryDeliveryQueue, MemoryDeadLetterQueue>;

/// A receiver that answers every request 200 with a tiny body and counts what it got.
pub async fn start_receiver() -> anyhow::Result<(SocketAddr, Arc<AtomicU64>)> {
    let hits = Arc::new(AtomicU64::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().fallback(move |_body: axum::body::Bytes| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::Relaxed);
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((address, hits))
}

/// A subscription of tenant `tenant` to every event type, delivering to `url`. It keeps a
/// description, as a real one usually does, so the stored items the cost figures weigh are
/// not smaller than in use.
pub fn subscription(tenant: &TenantId, url: &str) -> Subscription {
    Subscription { description: Some("bench receiver".into()), ..model::subscription(tenant.as_str(), url) }
}

/// The user-assigned example payload (260 bytes): a typical small webhook.
pub fn event(tenant: &TenantId) -> anyhow::Result<Event> {
    let mut data: serde_json::Value = serde_json::from_str(crate::ingest::EXAMPLES[3].1)?;
    data["tenant"] = serde_json::Value::String(tenant.as_str().to_owned());
    Ok(Event {
        id: EventId::generate(),
        tenant: tenant.clone(),
        event_type: crate::ingest::EXAMPLES[3].0.to_owned(),
        timestamp: OffsetDateTime::now_utc(),
        data,
    })
}

/// One SQS batch of `size` fresh delivery tasks (fresh event ids: a repeated one would be
/// suppressed as delivered already).
fn batch(template: &Event, subscription: &SubscriptionId, size: usize) -> SqsEvent {
    let records: Vec<(String, String)> = (0..size)
        .map(|i| {
            let task = DeliveryTask::first(Event { id: EventId::generate(), ..template.clone() }, subscription.clone());
            let body = serde_json::to_string(&DeliveryMessage::V1(task)).unwrap_or_default();
            (format!("m{i}"), body)
        })
        .collect();
    let records: Vec<(&str, String)> = records.iter().map(|(id, body)| (id.as_str(), body.clone())).collect();
    hookline_testkit::lambda::sqs_event("arn:aws:sqs:us-east-1:123456789012:hookline-deliveries", &records)
}

async fn handler(url: &str) -> anyhow::Result<(Arc<Handler>, Subscription, Event)> {
    let tenant: TenantId = "bench".parse().map_err(|_| anyhow::anyhow!("tenant"))?;
    let subscription = subscription(&tenant, url);
    let store = MemorySubscriptionStore::default();
    store.create(&subscription).await?;
    let config = DeliverConfig { allow_private_targets: true, ..DeliverConfig::default() };
    let deliver = Deliver::new(
        store,
        MemoryAttemptLog::default(),
        MemoryDeliveryQueue::default(),
        MemoryDeadLetterQueue::default(),
        config,
    )?;
    Ok((Arc::new(deliver), subscription, event(&tenant)?))
}

/// Deliveries per second through the handler with `in_flight` records in flight.
async fn through_handler(url: &str, in_flight: usize, duration: Duration) -> anyhow::Result<f64> {
    let (deliver, subscription, template) = handler(url).await?;
    let batch_size = in_flight.min(10);
    let invocations = in_flight.div_ceil(batch_size);
    let delivered = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..invocations)
        .map(|_| {
            let (deliver, subscription, template) = (deliver.clone(), subscription.id.clone(), template.clone());
            let (delivered, failed, stop) = (delivered.clone(), failed.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let response = deliver.handle(batch(&template, &subscription, batch_size)).await;
                    let failures = response.batch_item_failures.len() as u64;
                    delivered.fetch_add(batch_size as u64 - failures, Ordering::Relaxed);
                    failed.fetch_add(failures, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let failed = failed.load(Ordering::Relaxed);
    anyhow::ensure!(failed == 0, "{failed} deliveries failed in the handler run");
    let attempts = deliver.attempts().all();
    anyhow::ensure!(
        attempts.len() as u64 == delivered.load(Ordering::Relaxed),
        "every delivery must have its attempt row"
    );
    Ok(delivered.load(Ordering::Relaxed) as f64 / elapsed)
}

/// POSTs per second of a plain reqwest loop, `in_flight` at a time, same body size.
async fn bare(url: &str, in_flight: usize, duration: Duration, body_len: usize) -> anyhow::Result<f64> {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build()?;
    let body = vec![b'x'; body_len];
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let (client, url, body, done, stop) =
                (client.clone(), url.to_owned(), body.clone(), done.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let sent = client.post(&url).header("content-type", "application/json").body(body.clone()).send();
                    if let Ok(response) = sent.await
                        && response.status().is_success()
                        && response.bytes().await.is_ok()
                    {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await?;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

/// Microseconds the harness spends building one SQS record (a fresh task serialised into a
/// Lambda-shaped event): part of every handler figure, not part of hookline.
pub fn harness_micros_per_record() -> anyhow::Result<f64> {
    let tenant: TenantId = "bench".parse().map_err(|_| anyhow::anyhow!("tenant"))?;
    let template = event(&tenant)?;
    let subscription = SubscriptionId::generate();
    let started = Instant::now();
    let rounds = 500;
    for _ in 0..rounds {
        std::hint::black_box(batch(&template, &subscription, 10));
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / f64::from(rounds * 10))
}

/// Rounds per level and side.
const ROUNDS: u32 = 5;

fn median(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates.get(rates.len() / 2).copied().unwrap_or_default()
}

/// Runs every level: handler and bare loop in alternating rounds, `duration` in all per side.
pub async fn run(levels: &[usize], duration: Duration) -> anyhow::Result<Vec<Level>> {
    let (address, _hits) = start_receiver().await?;
    let url = format!("http://{address}/webhook");
    let tenant: TenantId = "bench".parse().map_err(|_| anyhow::anyhow!("tenant"))?;
    let body_len = hookline_core::envelope::Envelope::of(&event(&tenant)?).to_body().len();
    let mut out = Vec::new();
    for &in_flight in levels {
        // Short alternating rounds, median of each side: background load on a shared machine
        // then weighs on both sides alike.
        let mut handler_rates = Vec::new();
        let mut bare_rates = Vec::new();
        for _ in 0..ROUNDS {
            handler_rates.push(through_handler(&url, in_flight, duration / ROUNDS).await?);
            bare_rates.push(bare(&url, in_flight, duration / ROUNDS, body_len).await?);
        }
        let (handler, bare) = (median(handler_rates), median(bare_rates));
        let level = Level { in_flight, handler, bare };
        eprintln!(
            "delivery: {in_flight:>3} in flight: handler {handler:>8.0}/s, bare reqwest {bare:>8.0}/s, ratio {:.2}",
            level.ratio()
        );
        out.push(level);
    }
    Ok(out)
}

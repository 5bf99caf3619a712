//! AWS cost: every AWS API request of a local-stack run, counted, per delivered webhook, and
//! priced at list prices.
//!
//! The count is taken by a counting HTTP proxy between the stack and moto: the stack is
//! started with `LocalOptions::endpoint` pointing at the proxy, so every SDK request of every
//! handler and of the event-source-mapping pollers passes through it, and nothing in
//! `infra/local` had to change. The proxy reads the operation from `X-Amz-Target` (SQS and
//! DynamoDB both speak the JSON protocol), the queue from `QueueUrl`, the number of messages a
//! receive returned, the entries of a batch delete, and the item bytes DynamoDB's capacity
//! units depend on. Set-up requests (queues, table, key, subscriptions) happen before the count
//! starts or go straight to moto.
//!
//! Durations for the GB-seconds come from the handlers' own tracing spans (`fanout` and
//! `deliver`, one per record) measured during the same run.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hookline_core::api_key;
use hookline_core::ids::ApiKeyId;
use hookline_core::model::{ApiKey, KeyOwner, Scope, TenantId};
use hookline_core::ports::{ApiKeyStore, SubscriptionStore};
use hookline_local::{LocalOptions, MotoProcess};
use tracing::span;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

/// List prices used (us-east-1, on-demand, USD).
pub mod price {
    /// Lambda arm64, per request.
    pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
    /// Lambda arm64, per GB-second (first pricing tier).
    pub const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
    /// Lambda memory the template gives each function (`MemorySize: 256`), in GB.
    pub const LAMBDA_MEMORY_GB: f64 = 256.0 / 1024.0;
    /// SQS standard queue, per request (each 64 KiB chunk of a payload is one request).
    pub const SQS_REQUEST: f64 = 0.40 / 1e6;
    /// DynamoDB on-demand, per write request unit (1 KB).
    pub const DYNAMODB_WRU: f64 = 0.625 / 1e6;
    /// DynamoDB on-demand, per read request unit (4 KB strongly consistent, 2 × 4 KB eventually).
    pub const DYNAMODB_RRU: f64 = 0.125 / 1e6;
    /// API Gateway REST API, per request (first 333 M a month).
    pub const API_GATEWAY_REST_REQUEST: f64 = 3.50 / 1e6;
}

/// Counts for one operation (and, for SQS, one queue).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpCount {
    pub requests: u64,
    /// ReceiveMessage: messages handed out; DeleteMessageBatch / SendMessageBatch: entries.
    pub entries: u64,
    /// ReceiveMessage calls that came back empty (idle long polls).
    pub empty: u64,
    /// DynamoDB request units (write or read), estimated from item bytes.
    pub units: f64,
}

#[derive(Debug, Default)]
struct Counter {
    ops: Mutex<BTreeMap<String, OpCount>>,
}

impl Counter {
    fn reset(&self) {
        lock(&self.ops).clear();
    }

    fn snapshot(&self) -> BTreeMap<String, OpCount> {
        lock(&self.ops).clone()
    }

    fn entries(&self, key: &str) -> u64 {
        lock(&self.ops).get(key).map_or(0, |count| count.entries)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug)]
struct Proxy {
    upstream: String,
    client: reqwest::Client,
    counter: Arc<Counter>,
}

fn queue_name(request: &serde_json::Value) -> String {
    request["QueueUrl"].as_str().and_then(|url| url.rsplit('/').next()).unwrap_or("?").to_owned()
}

fn array_len(value: &serde_json::Value, key: &str) -> u64 {
    value[key].as_array().map_or(0, |items| items.len() as u64)
}

/// What one request costs in the counter's terms.
fn classify(target: &str, request: &[u8], response: &[u8]) -> (String, OpCount) {
    let (service, operation) = match target.split_once('.') {
        Some((prefix, op)) if prefix.starts_with("AmazonSQS") => ("sqs", op),
        Some((prefix, op)) if prefix.starts_with("DynamoDB") => ("dynamodb", op),
        _ => ("other", target),
    };
    let request_json: serde_json::Value = serde_json::from_slice(request).unwrap_or_default();
    let mut count = OpCount { requests: 1, ..OpCount::default() };
    let key = if service == "sqs" {
        let response_json: serde_json::Value = serde_json::from_slice(response).unwrap_or_default();
        match operation {
            "ReceiveMessage" => {
                count.entries = array_len(&response_json, "Messages");
                count.empty = u64::from(count.entries == 0);
            }
            "DeleteMessageBatch" | "SendMessageBatch" => count.entries = array_len(&request_json, "Entries"),
            "SendMessage" | "DeleteMessage" => count.entries = 1,
            _ => {}
        }
        format!("sqs {operation} {}", queue_name(&request_json))
    } else {
        let kib = |bytes: usize| (bytes as f64 / 1024.0).ceil().max(1.0);
        let read = |bytes: usize| {
            let consistent = request_json["ConsistentRead"].as_bool().unwrap_or(false);
            (bytes as f64 / 4096.0).ceil().max(1.0) * if consistent { 1.0 } else { 0.5 }
        };
        let text = String::from_utf8_lossy(request);
        count.units = match operation {
            "PutItem" | "UpdateItem" | "DeleteItem" => kib(request.len()),
            "BatchWriteItem" => {
                let items = text.matches("\"PutRequest\"").count() + text.matches("\"DeleteRequest\"").count();
                (items as f64).max(kib(request.len()))
            }
            "TransactWriteItems" => {
                let items = text.matches("\"Put\"").count()
                    + text.matches("\"Update\"").count()
                    + text.matches("\"Delete\"").count()
                    + text.matches("\"ConditionCheck\"").count();
                2.0 * (items as f64).max(kib(request.len()))
            }
            "GetItem" | "Query" | "Scan" | "BatchGetItem" => read(response.len()),
            _ => 0.0,
        };
        format!("{service} {operation}")
    };
    (key, count)
}

async fn forward(
    State(proxy): State<Arc<Proxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("unknown").to_owned();
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = proxy.client.request(method, format!("{}{path}", proxy.upstream)).body(body.clone());
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let upstream = match request.send().await {
        Ok(upstream) => upstream,
        Err(error) => return (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    };
    let status = upstream.status();
    let mut response_headers = upstream.headers().clone();
    response_headers.remove("content-length");
    response_headers.remove("transfer-encoding");
    let response_body = upstream.bytes().await.unwrap_or_default();
    let (key, count) = classify(&target, &body, &response_body);
    {
        let mut ops = lock(&proxy.counter.ops);
        let total = ops.entry(key).or_default();
        total.requests += count.requests;
        total.entries += count.entries;
        total.empty += count.empty;
        total.units += count.units;
    }
    (status, response_headers, response_body).into_response()
}

async fn start_proxy(upstream: String, counter: Arc<Counter>) -> anyhow::Result<String> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let proxy = Arc::new(Proxy { upstream, client, counter });
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{address}"))
}

/// Per-record span durations of the handlers (`fanout`, `deliver`), in the cost run only.
#[derive(Debug, Default)]
pub struct SpanTimes {
    times: Mutex<HashMap<&'static str, Vec<Duration>>>,
}

impl SpanTimes {
    fn mean(&self, name: &str) -> Option<Duration> {
        let times = lock(&self.times);
        let times = times.get(name)?;
        (!times.is_empty()).then(|| times.iter().sum::<Duration>() / u32::try_from(times.len()).unwrap_or(u32::MAX))
    }

    fn reset(&self) {
        lock(&self.times).clear();
    }
}

/// The process-wide span timer the cost run's runtime threads report to.
pub fn span_times() -> &'static Arc<SpanTimes> {
    static TIMES: OnceLock<Arc<SpanTimes>> = OnceLock::new();
    TIMES.get_or_init(Arc::default)
}

struct Opened(Instant);

/// A tracing layer that times the handlers' per-record spans.
#[derive(Debug)]
pub struct SpanTimer(Arc<SpanTimes>);

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for SpanTimer {
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let name = attrs.metadata().name();
        if matches!(name, "deliver" | "fanout" | "deliver_batch" | "fanout_batch")
            && let Some(span) = ctx.span(id)
        {
            span.extensions_mut().insert(Opened(Instant::now()));
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id)
            && let Some(Opened(at)) = span.extensions().get::<Opened>()
        {
            lock(&self.0.times).entry(span.metadata().name()).or_default().push(at.elapsed());
        }
    }
}

/// The dispatcher the cost run installs on its runtime's threads.
pub fn dispatch() -> tracing::Dispatch {
    tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(SpanTimer(span_times().clone()))
            .with(tracing_subscriber::filter::LevelFilter::INFO),
    )
}

/// One fan-out scenario's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub fan_out: usize,
    pub events: usize,
    pub events_per_publish: usize,
    pub payload_bytes: usize,
    pub deliveries: u64,
    pub ops: BTreeMap<String, OpCount>,
    /// Mean invocation of the fan-out handler.
    pub fanout_record: Duration,
    /// Mean invocation of the deliver handler.
    pub deliver_record: Duration,
    /// Mean round trip of one publish request through the local API (authorizer + ingest).
    pub publish: Duration,
}

/// Dollars per delivered webhook, by line.
#[derive(Debug, Clone, PartialEq)]
pub struct Bill {
    pub lines: Vec<(String, f64, String)>,
}

impl Bill {
    pub fn total(&self) -> f64 {
        self.lines.iter().map(|(_, dollars, _)| dollars).sum()
    }

    /// Without API Gateway: the Lambda + SQS + DynamoDB figure the goal is set on.
    pub fn core_total(&self) -> f64 {
        self.lines.iter().filter(|(line, _, _)| !line.starts_with("API Gateway")).map(|(_, dollars, _)| dollars).sum()
    }
}

impl Scenario {
    fn sum(&self, filter: impl Fn(&str) -> bool, field: impl Fn(&OpCount) -> f64) -> f64 {
        self.ops.iter().filter(|(key, _)| filter(key)).map(|(_, count)| field(count)).sum()
    }

    /// Non-empty receives on a queue: Lambda invocations of its consumer.
    pub fn invocations(&self, queue: &str) -> f64 {
        self.sum(|key| key == format!("sqs ReceiveMessage {queue}"), |c| (c.requests - c.empty) as f64)
    }

    /// AWS requests per delivered webhook (idle long polls left out; see the text).
    pub fn requests_per_delivery(&self) -> f64 {
        let busy = self.sum(|_| true, |c| (c.requests - c.empty) as f64);
        busy / self.deliveries.max(1) as f64
    }

    pub fn bill(&self) -> Bill {
        let per = |value: f64| value / self.deliveries.max(1) as f64;
        let sqs = per(self.sum(|key| key.starts_with("sqs "), |c| (c.requests - c.empty) as f64));
        let wru = per(self.sum(
            |key| {
                ["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"]
                    .iter()
                    .any(|op| key.ends_with(op))
            },
            |c| c.units,
        ));
        let rru = per(self
            .sum(|key| ["GetItem", "Query", "Scan", "BatchGetItem"].iter().any(|op| key.ends_with(op)), |c| c.units));
        let fanout_invocations = per(self.invocations("hookline-events"));
        let deliver_invocations = per(self.invocations("hookline-deliveries"));
        let ingest_invocations =
            1.0 / self.events_per_publish as f64 * self.events as f64 / self.deliveries.max(1) as f64;
        let invocations = fanout_invocations + deliver_invocations + ingest_invocations;
        let billed_ms = |d: Duration| (d.as_secs_f64() * 1000.0).ceil().max(1.0) / 1000.0;
        let gb_seconds = (fanout_invocations * billed_ms(self.fanout_record)
            + deliver_invocations * billed_ms(self.deliver_record)
            + ingest_invocations * billed_ms(self.publish))
            * price::LAMBDA_MEMORY_GB;
        Bill {
            lines: vec![
                (
                    "Lambda requests".into(),
                    invocations * price::LAMBDA_REQUEST,
                    format!(
                        "{invocations:.3} invocations (ingest {ingest_invocations:.3}, fanout {fanout_invocations:.3}, deliver {deliver_invocations:.3})"
                    ),
                ),
                (
                    "Lambda GB-seconds".into(),
                    gb_seconds * price::LAMBDA_GB_SECOND,
                    format!(
                        "{gb_seconds:.6} GB-s at 256 MB (fanout {:.0} ms, deliver {:.0} ms, ingest {:.0} ms per invocation)",
                        billed_ms(self.fanout_record) * 1000.0,
                        billed_ms(self.deliver_record) * 1000.0,
                        billed_ms(self.publish) * 1000.0
                    ),
                ),
                ("SQS requests".into(), sqs * price::SQS_REQUEST, format!("{sqs:.3} requests")),
                ("DynamoDB writes".into(), wru * price::DYNAMODB_WRU, format!("{wru:.3} WRU")),
                ("DynamoDB reads".into(), rru * price::DYNAMODB_RRU, format!("{rru:.3} RRU")),
                (
                    "API Gateway (publish)".into(),
                    ingest_invocations * price::API_GATEWAY_REST_REQUEST,
                    format!("{ingest_invocations:.3} REST requests ({} events per publish)", self.events_per_publish),
                ),
            ],
        }
    }
}

/// A valid legalentity-created payload of about 1 KB: the example with its largest optional
/// fields dropped until it fits.
pub fn payload_1kb(tenant: &str) -> anyhow::Result<serde_json::Value> {
    let mut data: serde_json::Value = serde_json::from_str(crate::ingest::EXAMPLES[0].1)?;
    data["tenant"] = tenant.into();
    let keep = ["tenant", "legalEntityId", "name"];
    while data.to_string().len() > 1024 {
        let object = data.as_object_mut().ok_or_else(|| anyhow::anyhow!("example is not an object"))?;
        let largest = object
            .iter()
            .filter(|(key, _)| !keep.contains(&key.as_str()))
            .max_by_key(|(_, value)| value.to_string().len())
            .map(|(key, _)| key.clone())
            .ok_or_else(|| anyhow::anyhow!("cannot shrink the example to 1 KB"))?;
        object.remove(&largest);
    }
    hookline_core::catalogue::Catalogue::builtin()
        .validate(crate::ingest::EXAMPLES[0].0, &data)
        .map_err(|e| anyhow::anyhow!("the 1 KB payload is invalid: {e}"))?;
    Ok(data)
}

/// Runs the local stack through the counting proxy and measures each fan-out.
pub async fn run(fan_outs: &[(usize, usize)], events_per_publish: usize) -> anyhow::Result<Vec<Scenario>> {
    let mut moto = MotoProcess::start(Some(0)).await?;
    let counter = Arc::new(Counter::default());
    let proxy = start_proxy(moto.endpoint(), counter.clone()).await?;
    let stack =
        hookline_local::start(LocalOptions { port: 0, endpoint: Some(proxy), quiet: true, ..LocalOptions::default() })
            .await?;
    let result = scenarios(&stack, &moto.endpoint(), &counter, fan_outs, events_per_publish).await;
    stack.shutdown().await;
    moto.stop().await;
    result
}

async fn scenarios(
    stack: &hookline_local::RunningStack,
    moto: &str,
    counter: &Counter,
    fan_outs: &[(usize, usize)],
    events_per_publish: usize,
) -> anyhow::Result<Vec<Scenario>> {
    // Set-up goes straight to moto, not through the proxy.
    let config = hookline_local::emulator_config(moto).await;
    let store = hookline_aws::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        &stack.resources().table,
        Duration::from_secs(86_400),
    );
    let (receiver, hits) = crate::delivery::start_receiver().await?;
    let url = format!("http://{receiver}/webhook");
    let http = reqwest::Client::builder().no_proxy().build()?;
    let mut out = Vec::new();
    for (n, &(fan_out, events)) in fan_outs.iter().enumerate() {
        let tenant_name = format!("cost{n}");
        let tenant: TenantId = tenant_name.parse().map_err(|_| anyhow::anyhow!("tenant"))?;
        let minted = api_key::mint();
        ApiKeyStore::create(
            &store,
            &ApiKey {
                id: ApiKeyId::generate(),
                owner: tenant_name.parse::<KeyOwner>().map_err(|_| anyhow::anyhow!("owner"))?,
                scopes: vec![Scope::Publish],
                key_hash: minted.hash.clone(),
                created_at: time::OffsetDateTime::now_utc(),
                revoked_at: None,
            },
        )
        .await?;
        for _ in 0..fan_out {
            SubscriptionStore::create(&store, &crate::delivery::subscription(&tenant, &url)).await?;
        }
        let data = payload_1kb(&tenant_name)?;
        let payload_bytes = data.to_string().len();
        let expected = (fan_out * events) as u64;
        let before = hits.load(std::sync::atomic::Ordering::Relaxed);
        counter.reset();
        span_times().reset();

        let mut publish_total = Duration::ZERO;
        let mut publishes = 0u32;
        for chunk_start in (0..events).step_by(events_per_publish) {
            let size = events_per_publish.min(events - chunk_start);
            let batch: Vec<_> =
                (0..size).map(|_| serde_json::json!({"type": crate::ingest::EXAMPLES[0].0, "data": data})).collect();
            let clock = Instant::now();
            let response = http
                .post(format!("{}/v1/events", stack.api_url()))
                .bearer_auth(&minted.text)
                .json(&batch)
                .send()
                .await?;
            publish_total += clock.elapsed();
            publishes += 1;
            anyhow::ensure!(response.status() == StatusCode::ACCEPTED, "publish answered {}", response.status());
        }

        // Done when every delivery arrived and both queues' messages are deleted.
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let delivered = hits.load(std::sync::atomic::Ordering::Relaxed) - before;
            let deleted_events = counter.entries("sqs DeleteMessageBatch hookline-events");
            let deleted_deliveries = counter.entries("sqs DeleteMessageBatch hookline-deliveries");
            if delivered >= expected && deleted_events >= events as u64 && deleted_deliveries >= expected {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "fan-out {fan_out}: {delivered}/{expected} delivered, {deleted_events} events and {deleted_deliveries} deliveries deleted after 240 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let scenario = Scenario {
            fan_out,
            events,
            events_per_publish,
            payload_bytes,
            deliveries: hits.load(std::sync::atomic::Ordering::Relaxed) - before,
            ops: counter.snapshot(),
            // A whole invocation where the handler has a batch span, else its mean record (the
            // records of a batch run concurrently).
            fanout_record: span_times()
                .mean("fanout_batch")
                .or_else(|| span_times().mean("fanout"))
                .unwrap_or_default(),
            deliver_record: span_times()
                .mean("deliver_batch")
                .or_else(|| span_times().mean("deliver"))
                .unwrap_or_default(),
            publish: publish_total / publishes.max(1),
        };
        eprintln!(
            "cost: fan-out {fan_out}: {} deliveries, {:.2} AWS requests per delivery, ${:.3} per million (Lambda+SQS+DynamoDB), ${:.3} with API Gateway",
            scenario.deliveries,
            scenario.requests_per_delivery(),
            scenario.bill().core_total() * 1e6,
            scenario.bill().total() * 1e6
        );
        out.push(scenario);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_operation_queue_and_units() {
        let (key, count) = classify(
            "AmazonSQS.ReceiveMessage",
            br#"{"QueueUrl":"http://127.0.0.1:1/123456789012/hookline-events"}"#,
            br#"{"Messages":[{"MessageId":"a"},{"MessageId":"b"}]}"#,
        );
        assert_eq!(key, "sqs ReceiveMessage hookline-events");
        assert_eq!((count.requests, count.entries, count.empty), (1, 2, 0));
        let (_, empty) = classify("AmazonSQS.ReceiveMessage", b"{}", b"{}");
        assert_eq!(empty.empty, 1);
        let (key, put) = classify("DynamoDB_20120810.PutItem", &[b'x'; 1500], b"{}");
        assert_eq!((key.as_str(), put.units), ("dynamodb PutItem", 2.0));
        let (_, read) = classify("DynamoDB_20120810.GetItem", br#"{"ConsistentRead":true}"#, b"{}");
        assert_eq!(read.units, 1.0);
    }

    #[test]
    fn the_cost_payload_is_a_valid_event_of_about_one_kilobyte() {
        let data = payload_1kb("acme").expect("payload");
        let size = data.to_string().len();
        assert!((500..=1024).contains(&size), "{size}");
    }

    #[test]
    fn a_bill_divides_by_deliveries_and_leaves_idle_polls_out() {
        let mut ops = BTreeMap::new();
        ops.insert(
            "sqs ReceiveMessage hookline-deliveries".to_owned(),
            OpCount { requests: 12, entries: 10, empty: 10, units: 0.0 },
        );
        ops.insert("dynamodb PutItem".to_owned(), OpCount { requests: 10, entries: 0, empty: 0, units: 10.0 });
        let scenario = Scenario {
            fan_out: 1,
            events: 10,
            events_per_publish: 10,
            payload_bytes: 1000,
            deliveries: 10,
            ops,
            fanout_record: Duration::from_millis(5),
            deliver_record: Duration::from_millis(5),
            publish: Duration::from_millis(5),
        };
        assert!((scenario.requests_per_delivery() - 1.2).abs() < 1e-9);
        assert!((scenario.invocations("hookline-deliveries") - 2.0).abs() < 1e-9);
        let bill = scenario.bill();
        let writes = bill.lines.iter().find(|(line, _, _)| line == "DynamoDB writes").expect("writes line");
        assert!((writes.1 - price::DYNAMODB_WRU).abs() < 1e-15);
        assert!(bill.total() > bill.core_total());
    }
}

//! Cold start: each function's release binary, its size, and the time from process start to
//! its first completed invocation, served by a minimal Lambda Runtime API on loopback
//! (`GET /2018-06-01/runtime/invocation/next`, `POST …/{id}/response` or `…/{id}/error`), with
//! the process's peak RSS (`VmHWM`) read just before it is stopped.
//!
//! Every invocation is one that needs no AWS call (a bad request, an unreadable record, the
//! OpenAPI document), so the figure is the binary's own start and first answer. The SDK
//! clients are still built at start, as in Lambda; the first real AWS call would add its TLS
//! handshake and credential lookup.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::mpsc;

/// The functions, as `cargo lambda build --release` names their directories under `target/lambda`.
pub const FUNCTIONS: [&str; 5] = ["ingest", "fanout", "deliver", "subscriptions", "authorizer"];

/// One function's result.
#[derive(Debug, Clone, PartialEq)]
pub struct ColdStart {
    pub function: &'static str,
    pub binary_bytes: u64,
    /// Median over the runs of process start → first invocation's answer received.
    pub first_invocation: Duration,
    /// Fastest run.
    pub fastest: Duration,
    /// Largest peak RSS over the runs, in KiB.
    pub peak_rss_kib: u64,
    /// `response` or `error`: which endpoint the first answer came to.
    pub answered: String,
    /// What the invocation was.
    pub invocation: &'static str,
}

/// The event each function gets, and why it needs no AWS call.
pub fn invocation(function: &str) -> anyhow::Result<(serde_json::Value, &'static str)> {
    let fixture = |text: &str| -> anyhow::Result<serde_json::Value> { Ok(serde_json::from_str(text)?) };
    Ok(match function {
        "ingest" => {
            let mut event = fixture(include_str!("../../../events/ingest/publish.json"))?;
            event["body"] = r#"{"type":"client-management.no-such-type","data":{}}"#.into();
            (event, "publish of an unknown event type → 422 (validation, no AWS call)")
        }
        "fanout" | "deliver" => {
            let mut event = fixture(include_str!("../../../events/fanout/sqs-batch.json"))?;
            if let Some(records) = event["Records"].as_array_mut() {
                records.truncate(1);
                records[0]["body"] = "not a queue message".into();
            }
            (event, "SQS batch of one unreadable record → batch item failure (no AWS call)")
        }
        "subscriptions" => {
            let mut event = fixture(include_str!("../../../events/subscriptions/list.json"))?;
            event["httpMethod"] = "GET".into();
            event["resource"] = "/v1/openapi.json".into();
            event["path"] = "/prod/v1/openapi.json".into();
            event["requestContext"]["resourcePath"] = "/v1/openapi.json".into();
            event["requestContext"]["httpMethod"] = "GET".into();
            event["requestContext"]["path"] = "/prod/v1/openapi.json".into();
            event["queryStringParameters"] = serde_json::Value::Null;
            event["multiValueQueryStringParameters"] = serde_json::Value::Null;
            (event, "GET /v1/openapi.json → 200 (no AWS call)")
        }
        "authorizer" => {
            let mut event = fixture(include_str!("../../../events/authorizer/token.json"))?;
            event["authorizationToken"] = "Bearer not-a-hookline-key".into();
            (event, "token that is not an hk_ key → Unauthorized (no AWS call)")
        }
        other => anyhow::bail!("no invocation for {other}"),
    })
}

#[derive(Debug)]
struct RuntimeApi {
    event: String,
    served: Mutex<bool>,
    answered: mpsc::UnboundedSender<(Instant, String, String)>,
}

async fn next(State(api): State<Arc<RuntimeApi>>) -> Response {
    let first = {
        let mut served = api.served.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        !std::mem::replace(&mut *served, true)
    };
    if !first {
        // Lambda freezes the process here; the bench stops it instead.
        std::future::pending::<()>().await;
    }
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() + 30_000)
        .unwrap_or_default();
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", HeaderValue::from_static("bench-request-1"));
    headers.insert("lambda-runtime-deadline-ms", HeaderValue::from(deadline as u64));
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:bench"),
    );
    headers.insert("lambda-runtime-trace-id", HeaderValue::from_static("Root=1-00000000-000000000000000000000000"));
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    (StatusCode::OK, headers, api.event.clone()).into_response()
}

async fn answer(
    State(api): State<Arc<RuntimeApi>>,
    UrlPath((_id, kind)): UrlPath<(String, String)>,
    body: String,
) -> StatusCode {
    let _ = api.answered.send((Instant::now(), kind, body));
    StatusCode::ACCEPTED
}

async fn init_error(State(api): State<Arc<RuntimeApi>>, body: String) -> StatusCode {
    let _ = api.answered.send((Instant::now(), "init-error".into(), body));
    StatusCode::ACCEPTED
}

/// A Runtime API that serves `event` once; answers arrive on the returned channel.
async fn start_runtime_api(
    event: String,
) -> anyhow::Result<(String, mpsc::UnboundedReceiver<(Instant, String, String)>, tokio::task::JoinHandle<()>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let api = Arc::new(RuntimeApi { event, served: Mutex::new(false), answered: tx });
    let app = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(answer))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let address = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((format!("http://{address}"), rx, server))
}

/// Peak resident set size of a live process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Starts `binary` once against a fresh Runtime API; (time to first answer, peak RSS, answer kind).
async fn once(function: &str, binary: &Path, event: &serde_json::Value) -> anyhow::Result<(Duration, u64, String)> {
    let (api, mut answers, server) = start_runtime_api(event.to_string()).await?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{function}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        // Nothing listens there: the invocations make no AWS call.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("HOOKLINE_TABLE", "hookline")
        .env("HOOKLINE_EVENTS_QUEUE_URL", "http://127.0.0.1:9/000000000000/hookline-events")
        .env("HOOKLINE_EVENTS_DLQ_URL", "http://127.0.0.1:9/000000000000/hookline-events-dlq")
        .env("HOOKLINE_DELIVERIES_QUEUE_URL", "http://127.0.0.1:9/000000000000/hookline-deliveries")
        .env("HOOKLINE_DELIVERIES_DLQ_URL", "http://127.0.0.1:9/000000000000/hookline-deliveries-dlq")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().unwrap_or_default();
    let answer = tokio::time::timeout(Duration::from_secs(20), answers.recv()).await;
    let rss = peak_rss_kib(pid).unwrap_or_default();
    let _ = child.start_kill();
    let output = child.wait_with_output().await?;
    server.abort();
    match answer {
        Ok(Some((at, kind, body))) => {
            anyhow::ensure!(kind != "init-error", "{function} failed to start: {body}");
            Ok((at - started, rss, kind))
        }
        _ => anyhow::bail!(
            "{function} gave no answer within 20 s; stderr: {}",
            String::from_utf8_lossy(&output.stderr).chars().take(2_000).collect::<String>()
        ),
    }
}

/// Measures every function in `bin_dir`, `runs` starts each.
pub async fn run(bin_dir: &Path, runs: usize) -> anyhow::Result<Vec<ColdStart>> {
    let mut out = Vec::new();
    for function in FUNCTIONS {
        let binary: PathBuf = bin_dir.join(function).join("bootstrap");
        let binary_bytes = std::fs::metadata(&binary)
            .map_err(|e| anyhow::anyhow!("{}: {e} (build it first: make lambda-build)", binary.display()))?
            .len();
        let (event, invocation) = invocation(function)?;
        let mut times = Vec::new();
        let mut peak = 0;
        let mut answered = String::new();
        for _ in 0..runs.max(1) {
            let (time, rss, kind) = once(function, &binary, &event).await?;
            times.push(time);
            peak = peak.max(rss);
            answered = kind;
        }
        times.sort();
        let result = ColdStart {
            function,
            binary_bytes,
            first_invocation: times[times.len() / 2],
            fastest: times[0],
            peak_rss_kib: peak,
            answered,
            invocation,
        };
        eprintln!(
            "coldstart: {function}: {:.1} MB, first invocation {:?} (fastest {:?}), peak RSS {} KiB, {}",
            binary_bytes as f64 / 1e6,
            result.first_invocation,
            result.fastest,
            peak,
            result.answered
        );
        out.push(result);
    }
    Ok(out)
}

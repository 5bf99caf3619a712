//! The release Lambda binaries — the `bootstrap` files `cargo lambda build --release` makes and
//! `sam build` packages — run as real processes under cargo-lambda's Lambda runtime emulator
//! (`cargo lambda watch --only-lambda-apis`), against a real moto server, invoked through the
//! Lambda Invoke API with the `events/` fixtures.
//!
//! Each binary gets the environment of `env.json` (the file `sam local invoke --env-vars` takes),
//! with its `host.docker.internal:4566` moto endpoint swapped for this test's moto. Then:
//! the authorizer allows the fixture's key; ingest's publish lands on the events queue; fanout
//! turns its fixture into a task on the deliveries queue; deliver POSTs its fixture, signed, to
//! a real receiver on loopback and records the attempt; a subscriptions route answers; and a
//! published event travels ingest → SQS → fanout → SQS → deliver → receiver, each hop through the
//! binaries, with this test playing Lambda's SQS event-source mapping.
//!
//! Needs the release bootstraps and cargo-lambda, so it is ignored by a plain `cargo test`;
//! `make test` builds both and runs it (`make lambda-test`). When run, anything missing fails it.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::Message;
use hookline_aws::DynamoStore;
use hookline_core::envelope::ReceivedEnvelope;
use hookline_core::ids::SubscriptionId;
use hookline_core::model::{AttemptOutcome, DeliveryMessage, EventMessage, Subscription};
use hookline_core::ports::{ApiKeyStore, AttemptLog, SubscriptionStore};
use hookline_core::signing::{self, DEFAULT_TOLERANCE};
use hookline_testkit::{TestAws, TestReceiver, model};
use serde_json::{Value, json};
use time::OffsetDateTime;

const FUNCTIONS: &[&str] = &["authorizer", "ingest", "fanout", "deliver", "subscriptions"];
/// The key the fixtures present and the subscription they name.
const FIXTURE_KEY: &str = "hk_local-example-key-for-sam-invoke-0000000000";
const FIXTURE_SUBSCRIPTION: &str = "sub_01M6KCWYWS1HEAD8X4A1JH69RE";
/// The moto endpoint `env.json` names, as SAM's containers reach the host.
const ENV_JSON_ENDPOINT: &str = "http://host.docker.internal:4566";
/// How long one invocation may take (the first one of a binary includes its cold start).
const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where `cargo lambda build --release` put the bootstraps: `HOOKLINE_LAMBDA_DIR`, else
/// `$CARGO_TARGET_DIR/lambda`, else `target/lambda`.
fn lambda_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HOOKLINE_LAMBDA_DIR") {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace().join("target"));
    let target = if target.is_absolute() { target } else { workspace().join(target) };
    target.join("lambda")
}

fn fixture(name: &str) -> Value {
    let path = workspace().join("events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{} is not JSON: {err}", path.display()))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free loopback port").port()
}

fn wait_for_port(port: u16, child: &mut Child, what: &str, logs: &Path) {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("child status") {
            panic!("{what} exited with {status} before listening:\n{}", tail(logs));
        }
        if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not listen on {address} within 30 s:\n{}", tail(logs));
}

/// The last lines of a log file, for failure messages.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// A child process killed when dropped, its output in a log file.
struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    fn spawn(name: &str, mut command: Command, logs: &Path) -> Self {
        let log = logs.join(format!("{name}.log"));
        let out = File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let spawned = command.stdin(Stdio::null()).stdout(Stdio::from(out)).stderr(Stdio::from(err)).spawn();
        let child = spawned.unwrap_or_else(|error| {
            panic!(
                "could not start {name} ({command:?}): {error}; cargo-lambda comes with `make tools` \
                 (.venv-tools/bin), or set HOOKLINE_CARGO_LAMBDA"
            )
        });
        Self { name: name.to_owned(), child, log }
    }

    /// Fails, with its log, if the process has exited.
    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("child status") {
            panic!("{} exited with {status}:\n{}", self.name, tail(&self.log));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The emulator and one process per function binary.
struct Emulator {
    port: u16,
    http: reqwest::Client,
    logs: PathBuf,
    functions: BTreeMap<String, Process>,
    // Dropped last: the functions first stop polling it.
    watch: Process,
}

impl Emulator {
    fn start(logs: &Path) -> Self {
        let cargo_lambda =
            std::env::var_os("HOOKLINE_CARGO_LAMBDA").map(PathBuf::from).unwrap_or_else(|| "cargo-lambda".into());
        let port = free_port();
        let mut command = Command::new(&cargo_lambda);
        command
            .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", &port.to_string()])
            .current_dir(workspace());
        let mut watch = Process::spawn("cargo-lambda-watch", command, logs);
        wait_for_port(port, &mut watch.child, "cargo lambda watch", &watch.log);
        Self { port, http: reqwest::Client::new(), logs: logs.to_owned(), functions: BTreeMap::new(), watch }
    }

    /// Runs `<lambda dir>/<name>/bootstrap` against the emulator's runtime API for `name`, with
    /// only `env` and what Lambda itself sets.
    fn run_function(&mut self, name: &str, env: &BTreeMap<String, String>) {
        let bootstrap = lambda_dir().join(name).join("bootstrap");
        assert!(
            bootstrap.is_file(),
            "{} is missing: build the functions with `cargo lambda build --release` (make lambda-build), \
             or set HOOKLINE_LAMBDA_DIR",
            bootstrap.display()
        );
        let mut command = Command::new(&bootstrap);
        command
            .env_clear()
            .envs(env)
            .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{}/.rt/{name}", self.port))
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "emulator")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing");
        let process = Process::spawn(name, command, &self.logs);
        self.functions.insert(name.to_owned(), process);
    }

    /// Invokes a function through the Lambda Invoke API and returns its result; a function
    /// error or a dead process fails the test with the function's log.
    async fn invoke(&mut self, name: &str, payload: &Value) -> Value {
        self.watch.assert_running();
        let function = self.functions.get_mut(name).unwrap_or_else(|| panic!("{name} is not running"));
        function.assert_running();
        let url = format!("http://127.0.0.1:{}/2015-03-31/functions/{name}/invocations", self.port);
        let response = self
            .http
            .post(&url)
            .timeout(INVOKE_TIMEOUT)
            .json(payload)
            .send()
            .await
            .unwrap_or_else(|err| panic!("invoking {name}: {err}\n{name} log:\n{}", tail(&function.log)));
        let status = response.status();
        let function_error = response.headers().get("x-amz-function-error").cloned();
        let text = response.text().await.expect("invoke answer");
        assert!(
            status.is_success() && function_error.is_none(),
            "{name} answered {status} {function_error:?}: {text}\n{name} log:\n{}",
            tail(&function.log)
        );
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("{name} answered non-JSON {text:?}: {err}"))
    }
}

/// `env.json`'s variables (its `Parameters`), pointed at this moto instead of SAM's host.
fn env_json_for(endpoint: &str) -> BTreeMap<String, String> {
    let path = workspace().join("env.json");
    let text = std::fs::read_to_string(&path).expect("env.json at the repository root");
    let file: Value = serde_json::from_str(&text).expect("env.json is JSON");
    file["Parameters"]
        .as_object()
        .expect("env.json has Parameters")
        .iter()
        .map(|(name, value)| {
            let value = value.as_str().unwrap_or_else(|| panic!("env.json: {name} must be a string"));
            (name.clone(), value.replace(ENV_JSON_ENDPOINT, endpoint))
        })
        .collect()
}

/// An SQS event as Lambda's event-source mapping builds it from received messages.
fn sqs_event(queue_arn: &str, messages: &[Message]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({
                "messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0", "SenderId": "emulator",
                               "ApproximateFirstReceiveTimestamp": "0"},
                "messageAttributes": {}, "md5OfBody": m.md5_of_body(), "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn, "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

fn batch_failures(answer: &Value) -> &Vec<Value> {
    answer["batchItemFailures"].as_array().unwrap_or_else(|| panic!("not an SQS batch response: {answer}"))
}

/// An API Gateway proxy answer's status and JSON body.
fn http_answer(answer: &Value) -> (u64, Value) {
    let status = answer["statusCode"].as_u64().unwrap_or_else(|| panic!("not a proxy response: {answer}"));
    let body = match answer["body"].as_str() {
        Some(text) if !text.is_empty() => serde_json::from_str(text).expect("a JSON body"),
        _ => Value::Null,
    };
    (status, body)
}

async fn receive(aws: &TestAws, queue_url: &str, expected: usize) -> Vec<Message> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut all = Vec::new();
    while all.len() < expected && Instant::now() < deadline {
        all.extend(aws.receive_all(queue_url).await.expect("receive"));
        if all.len() < expected {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    all
}

#[tokio::test]
#[ignore = "needs the release bootstraps (cargo lambda build --release) and cargo-lambda; `make lambda-test` runs it"]
async fn release_binaries_under_the_lambda_emulator() {
    let logs = std::env::temp_dir().join(format!("hookline-lambda-emulator-{}", std::process::id()));
    std::fs::create_dir_all(&logs).expect("log directory");
    let aws = TestAws::start().await.expect("moto (run `make tools` or set HOOKLINE_MOTO_SERVER)");
    let endpoint = aws.moto.endpoint();
    let env = env_json_for(&endpoint);
    // env.json names exactly the resources the template's names give (and `hookline dev` makes).
    for (name, value) in aws.resources.to_env() {
        assert_eq!(env.get(name), Some(&value), "env.json's {name}, with moto at {endpoint}");
    }
    assert_eq!(env.get("AWS_ENDPOINT_URL"), Some(&endpoint), "env.json points AWS_ENDPOINT_URL at moto");

    let mut emulator = Emulator::start(&logs);
    for name in FUNCTIONS {
        emulator.run_function(name, &env);
    }
    let store = DynamoStore::new(aws.dynamo(), &aws.resources.table, Duration::from_secs(86_400));
    let receiver = TestReceiver::start().await.expect("receiver");

    // authorizer: the fixture's key, stored hashed in the table, is allowed with its tenant.
    let key = model::api_key("acme", FIXTURE_KEY);
    ApiKeyStore::create(&store, &key).await.expect("store key");
    let policy = emulator.invoke("authorizer", &fixture("authorizer/token.json")).await;
    assert_eq!(policy["principalId"], key.id.to_string(), "{policy}");
    assert_eq!(policy["policyDocument"]["Statement"][0]["Effect"], "Allow", "{policy}");
    assert_eq!(policy["context"]["tenant"], "acme", "{policy}");

    // The subscription the fixtures name, pointed at the real receiver, for every event type.
    let subscription = Subscription {
        id: FIXTURE_SUBSCRIPTION.parse::<SubscriptionId>().expect("id"),
        ..model::subscription("acme", &receiver.url())
    };
    let secret = subscription.secrets[0].secret.clone();
    SubscriptionStore::create(&store, &subscription).await.expect("store subscription");

    // subscriptions: the get fixture reads it back, without its secret.
    let (status, body) = http_answer(&emulator.invoke("subscriptions", &fixture("subscriptions/get.json")).await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], FIXTURE_SUBSCRIPTION);
    assert_eq!(body["url"], receiver.url());

    // ingest: event-types answers the catalogue; publish answers 202 and the event is on SQS.
    let (status, body) = http_answer(&emulator.invoke("ingest", &fixture("ingest/event-types.json")).await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(4), "{body}");
    let (status, body) = http_answer(&emulator.invoke("ingest", &fixture("ingest/publish.json")).await);
    assert_eq!(status, 202, "{body}");
    let published = body["id"].as_str().expect("event id").to_owned();
    let on_events_queue = receive(&aws, &aws.resources.events_queue_url, 1).await;
    assert_eq!(on_events_queue.len(), 1, "one event on the events queue");
    let EventMessage::V1(event) =
        serde_json::from_str(on_events_queue[0].body().expect("body")).expect("an event message");
    assert_eq!(event.id.as_str(), published);
    assert_eq!(event.event_type, "client-management.legalentity-deleted");

    // ingest refuses a body the catalogue rejects, and enqueues nothing.
    let mut bad = fixture("ingest/publish.json");
    bad["body"] = json!(r#"{"type":"client-management.legalentity-deleted","data":{"tenant":"acme"}}"#);
    let (status, body) = http_answer(&emulator.invoke("ingest", &bad).await);
    assert_eq!(status / 100, 4, "{body}");
    assert!(receive(&aws, &aws.resources.events_queue_url, 1).await.is_empty(), "nothing enqueued");

    // fanout: its fixture becomes one delivery task for the subscription, on the deliveries queue.
    let fanout_fixture = fixture("fanout/sqs-batch.json");
    let answer = emulator.invoke("fanout", &fanout_fixture).await;
    assert!(batch_failures(&answer).is_empty(), "{answer}");
    let fixture_event: EventMessage =
        serde_json::from_str(fanout_fixture["Records"][0]["body"].as_str().expect("body")).expect("event message");
    let EventMessage::V1(fixture_event) = fixture_event;
    let tasks = receive(&aws, &aws.resources.deliveries_queue_url, 1).await;
    assert_eq!(tasks.len(), 1, "one task for the one subscription");
    let DeliveryMessage::V1(task) = serde_json::from_str(tasks[0].body().expect("body")).expect("a delivery message");
    assert_eq!(task.subscription_id, subscription.id);
    assert_eq!(task.event, fixture_event);

    // deliver: its fixture reaches the receiver, signed with the subscription's secret.
    let deliver_fixture = fixture("deliver/sqs-batch.json");
    let DeliveryMessage::V1(fixture_task) =
        serde_json::from_str(deliver_fixture["Records"][0]["body"].as_str().expect("body")).expect("delivery message");
    let answer = emulator.invoke("deliver", &deliver_fixture).await;
    assert!(batch_failures(&answer).is_empty(), "{answer}");
    let requests = receiver.wait_for(1, Duration::from_secs(10)).await.expect("the webhook arrives");
    let request = &requests[0];
    assert_eq!(request.header("webhook-id"), Some(fixture_task.event.id.as_str()));
    let verified = signing::verify(
        &secret,
        fixture_task.event.id.as_str(),
        request.header("webhook-timestamp").expect("timestamp"),
        request.header("webhook-signature").expect("signature"),
        &request.body,
        OffsetDateTime::now_utc().unix_timestamp(),
        DEFAULT_TOLERANCE,
    );
    assert_eq!(verified, Ok(()), "the signature verifies with the subscription's secret");
    let envelope: ReceivedEnvelope = serde_json::from_slice(&request.body).expect("an envelope");
    assert_eq!(envelope.data, fixture_task.event.data);
    let attempts = AttemptLog::list(&store, &subscription.tenant, &subscription.id, 10, None).await.expect("attempts");
    assert_eq!(attempts.items.len(), 1, "one attempt recorded in DynamoDB");
    assert_eq!(attempts.items[0].outcome, AttemptOutcome::Delivered);

    // The published event, hop by hop through the binaries: events queue → fanout → deliveries
    // queue → deliver → receiver.
    let events_arn = "arn:aws:sqs:us-east-1:123456789012:hookline-events";
    let answer = emulator.invoke("fanout", &sqs_event(events_arn, &on_events_queue)).await;
    assert!(batch_failures(&answer).is_empty(), "{answer}");
    let tasks = receive(&aws, &aws.resources.deliveries_queue_url, 1).await;
    assert_eq!(tasks.len(), 1, "one task for the published event");
    let deliveries_arn = "arn:aws:sqs:us-east-1:123456789012:hookline-deliveries";
    let answer = emulator.invoke("deliver", &sqs_event(deliveries_arn, &tasks)).await;
    assert!(batch_failures(&answer).is_empty(), "{answer}");
    let requests = receiver.wait_for(2, Duration::from_secs(10)).await.expect("the published event arrives");
    assert_eq!(requests[1].header("webhook-id"), Some(published.as_str()));
    let envelope: ReceivedEnvelope = serde_json::from_slice(&requests[1].body).expect("an envelope");
    assert_eq!(envelope.data["legalEntityId"], "le-1001");

    // Every binary is still up, and none logged the subscription's secret.
    let whsec = secret.to_whsec();
    for (name, function) in &mut emulator.functions {
        function.assert_running();
        assert!(!std::fs::read_to_string(&function.log).unwrap_or_default().contains(&whsec), "{name} logged a secret");
    }
    drop(emulator);
    let _ = std::fs::remove_dir_all(&logs);
}

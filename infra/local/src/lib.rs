//! The local stack: hookline end to end on a laptop, offline.
//!
//! - [`moto`]: the AWS emulator, started as a child process (port 4566 unless taken) unless an
//!   endpoint is given.
//! - [`gateway`]: plays API Gateway — routes on the API's resource templates, runs the
//!   authorizer, builds the REST proxy event and calls the same handler the Lambda runs; bodies
//!   over Lambda's 6 MB are refused, a panicking handler is a 502.
//! - [`mapping`]: plays Lambda's SQS event-source mapping — long polls, batches of up to 10,
//!   deletes only what the handler did not report as failed, leaves failures to their
//!   visibility timeout and the queue's redrive policy; SQS errors are retried with backoff.
//!
//! The queues and table are created by the same code the tests use, with the template's
//! settings, so what runs here is the shape that deploys.

mod gateway;
mod mapping;
mod moto;
mod status;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::Credentials;
use hookline_authorizer::Authorizer;
use hookline_aws::resources::{QueueSettings, Resources};
use hookline_aws::{DynamoStore, SqsDeadLetterQueue, SqsDeliveryQueue, SqsEventQueue};
use hookline_core::resolve::{ResolveHost, Resolver};
use hookline_core::retry::RetrySchedule;
use hookline_deliver::{Deliver, DeliverConfig};
use hookline_fanout::Fanout;
use hookline_ingest::{Ingest, IngestConfig};
use hookline_subscriptions::{Subscriptions, SubscriptionsConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use moto::{DEFAULT_AWS_PORT, MotoProcess};
pub use status::{Depth, Status, queue_depth};

/// The resource template of every route the local API serves (`template.yaml` declares the
/// same), e.g. `/v1/subscriptions/{id}`.
pub fn api_routes() -> Vec<&'static str> {
    gateway::routes().collect()
}

/// How to run the local stack.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// The API port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// An AWS endpoint (moto) to use; `None` starts `moto_server` (from `HOOKLINE_MOTO_SERVER`,
    /// else `PATH`) on `aws_port`.
    pub endpoint: Option<String>,
    /// The port of the moto this stack starts itself: `None` is [`DEFAULT_AWS_PORT`] unless it
    /// is taken (then any free port), `Some(0)` any free port, `Some(port)` exactly that one.
    pub aws_port: Option<u16>,
    pub retry_schedule: RetrySchedule,
    pub delivery_timeout: Duration,
    /// Local mode delivers to `http` and loopback targets unless told otherwise.
    pub allow_private_targets: bool,
    /// How long the event log and the attempt log keep their records.
    pub retention: Duration,
    /// How long a rotated-out secret keeps signing (`HOOKLINE_ROTATION_GRACE_HOURS`).
    pub rotation_grace: Duration,
    /// Resolves subscription hosts, when saved and when delivered to; `None` is the system
    /// resolver. Tests inject a scripted one (DNS rebinding, names that stop resolving).
    pub resolver: Option<Arc<dyn ResolveHost>>,
    /// The queues' redrive count and visibility timeout (the template's by default).
    pub queue_settings: QueueSettings,
    /// Per-request and per-batch log lines at debug rather than info.
    pub quiet: bool,
    /// Runs the SQS pollers (fan-out and delivery). Off, only the API runs and whatever it
    /// enqueues stays on the queue: tests use that to count exactly what a request enqueued.
    pub run_pollers: bool,
}

impl Default for LocalOptions {
    fn default() -> Self {
        Self {
            port: 3000,
            endpoint: None,
            aws_port: None,
            retry_schedule: RetrySchedule::default(),
            delivery_timeout: Duration::from_secs(15),
            allow_private_targets: true,
            retention: Duration::from_secs(30 * 86_400),
            rotation_grace: Duration::from_secs(24 * 3_600),
            resolver: None,
            queue_settings: QueueSettings::default(),
            quiet: false,
            run_pollers: true,
        }
    }
}

/// Every handler, wired to the real SQS and DynamoDB adapters — exactly as the Lambdas wire them.
struct Handlers {
    authorizer: Authorizer<DynamoStore>,
    ingest: Ingest<SqsEventQueue, DynamoStore, DynamoStore>,
    subscriptions: Subscriptions<DynamoStore, DynamoStore, DynamoStore, SqsDeliveryQueue>,
    fanout: Fanout<DynamoStore, SqsDeliveryQueue>,
    deliver: Deliver<DynamoStore, DynamoStore, SqsDeliveryQueue, SqsDeadLetterQueue>,
}

/// A running stack; stop it with [`RunningStack::shutdown`].
#[derive(Debug)]
pub struct RunningStack {
    api: SocketAddr,
    endpoint: String,
    resources: Resources,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    moto: Option<MotoProcess>,
    sqs: aws_sdk_sqs::Client,
}

impl RunningStack {
    /// `http://127.0.0.1:<port>`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api)
    }

    /// The AWS endpoint the stack uses.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn resources(&self) -> &Resources {
        &self.resources
    }

    /// Events in, delivery outcomes so far and queue depths, for a live status.
    pub async fn status(&self) -> anyhow::Result<Status> {
        status::read(&self.sqs, &self.resources).await
    }

    /// Stops accepting requests, lets in-flight batches finish, and stops moto if it started it.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        if let Some(mut moto) = self.moto.take() {
            moto.stop().await;
        }
    }
}

impl Drop for RunningStack {
    /// A stack dropped without [`RunningStack::shutdown`] still stops its tasks (moto, if it
    /// started one, is killed with its handle).
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// SDK configuration for an emulator endpoint: the environment's region and credentials when
/// set, else `us-east-1` and throwaway credentials (moto accepts any).
pub async fn emulator_config(endpoint: &str) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).endpoint_url(endpoint);
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
        loader = loader.region(Region::new("us-east-1"));
    }
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        loader = loader.credentials_provider(Credentials::new("local", "local", None, None, "hookline-local"));
    }
    loader.load().await
}

/// Starts the stack: moto (unless given), the resources, the API and the two pollers.
pub async fn start(options: LocalOptions) -> anyhow::Result<RunningStack> {
    let (moto, endpoint) = match &options.endpoint {
        Some(endpoint) => (None, endpoint.clone()),
        None => {
            let moto = MotoProcess::start(options.aws_port).await?;
            let endpoint = moto.endpoint();
            (Some(moto), endpoint)
        }
    };
    let config = emulator_config(&endpoint).await;
    let resources = Resources::provision(&config, "hookline", &options.queue_settings)
        .await
        .with_context(|| format!("creating hookline's queues and table on {endpoint}"))?;

    let sqs = aws_sdk_sqs::Client::new(&config);
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), &resources.table, options.retention);
    let deliveries = SqsDeliveryQueue::new(sqs.clone(), &resources.deliveries_queue_url);
    let deliver_config = DeliverConfig {
        schedule: options.retry_schedule.clone(),
        timeout: options.delivery_timeout,
        allow_private_targets: options.allow_private_targets,
        resolver: Resolver::from(options.resolver.clone()),
    };
    let rotation_grace =
        time::Duration::try_from(options.rotation_grace).context("the rotation grace is too long to represent")?;
    let handlers = Arc::new(Handlers {
        authorizer: Authorizer::new(store.clone()),
        ingest: Ingest::new(
            SqsEventQueue::new(sqs.clone(), &resources.events_queue_url),
            store.clone(),
            store.clone(),
            IngestConfig::default(),
        ),
        subscriptions: Subscriptions::new(
            store.clone(),
            store.clone(),
            store.clone(),
            deliveries.clone(),
            SubscriptionsConfig {
                allow_private_targets: options.allow_private_targets,
                rotation_grace,
                resolver: Resolver::from(options.resolver.clone()),
            },
        ),
        fanout: Fanout::new(store.clone(), deliveries.clone()),
        deliver: Deliver::new(
            store.clone(),
            store,
            deliveries,
            SqsDeadLetterQueue::new(sqs.clone(), &resources.deliveries_dlq_url),
            deliver_config,
        )?,
    });

    // Everything that can fail comes before the first task starts.
    let events_source = mapping::Source::new(sqs.clone(), &resources.events_queue_url, options.quiet).await?;
    let deliveries_source = mapping::Source::new(sqs.clone(), &resources.deliveries_queue_url, options.quiet).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
        .await
        .with_context(|| format!("binding the API to 127.0.0.1:{} (HOOKLINE_PORT / --port)", options.port))?;
    let api = listener.local_addr()?;

    let (stop, stopped) = watch::channel(false);
    let gateway = gateway::Gateway { handlers: handlers.clone(), quiet: options.quiet };
    let mut tasks = vec![tokio::spawn(gateway::serve(listener, gateway, stopped.clone()))];
    if !options.run_pollers {
        return Ok(RunningStack { api, endpoint, resources, stop, tasks, moto, sqs });
    }
    let fanout_handlers = handlers.clone();
    tasks.push(tokio::spawn(mapping::poll(events_source, stopped.clone(), move |batch| {
        let handlers = fanout_handlers.clone();
        async move { handlers.fanout.handle(batch).await }
    })));
    // Lambda scales consumers with the backlog; two pollers let a slow subscriber not hold up
    // every other delivery.
    for _ in 0..2 {
        let deliver_handlers = handlers.clone();
        tasks.push(tokio::spawn(mapping::poll(deliveries_source.clone(), stopped.clone(), move |batch| {
            let handlers = deliver_handlers.clone();
            async move { handlers.deliver.handle(batch).await }
        })));
    }
    Ok(RunningStack { api, endpoint, resources, stop, tasks, moto, sqs })
}

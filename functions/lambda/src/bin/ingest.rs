//! The ingest Lambda: wiring only. The handler is `hookline_ingest::Ingest`.

use hookline_aws::{DynamoStore, Resources, SqsEventQueue, sdk_config};
use hookline_ingest::{Ingest, IngestConfig};
use lambda_http::{Error, Request, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    hookline_lambda::init_logging();
    hookline_core::metrics::enable_emf("ingest");
    let resources = Resources::from_env()?;
    let config = IngestConfig::from_env()?;
    let retention = hookline_aws::resources::retention_from_env()?;
    let sdk = sdk_config().await;
    // One table holds the event log and the idempotency keys; the store is cheap to clone.
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), resources.table, retention);
    let ingest = Ingest::new(
        SqsEventQueue::new(aws_sdk_sqs::Client::new(&sdk), resources.events_queue_url),
        store.clone(),
        store,
        config,
    );
    let ingest = &ingest;
    lambda_http::run(service_fn(move |request: Request| async move { Ok::<_, Error>(ingest.handle(request).await) }))
        .await
}

//! The subscriptions Lambda: wiring only. The handler is `hookline_subscriptions::Subscriptions`.

use hookline_aws::{DynamoStore, Resources, SqsDeliveryQueue, sdk_config};
use hookline_subscriptions::{Subscriptions, SubscriptionsConfig};
use lambda_http::{Error, Request, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    hookline_lambda::init_logging();
    let resources = Resources::from_env()?;
    let config = SubscriptionsConfig::from_env()?;
    let retention = hookline_aws::resources::retention_from_env()?;
    let sdk = sdk_config().await;
    // One table holds subscriptions, the attempt log and the event log; the store is cheap to
    // clone. Replays enqueue on the deliveries queue.
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), resources.table, retention);
    let deliveries = SqsDeliveryQueue::new(aws_sdk_sqs::Client::new(&sdk), resources.deliveries_queue_url);
    let subscriptions = Subscriptions::new(store.clone(), store.clone(), store, deliveries, config);
    let subscriptions = &subscriptions;
    lambda_http::run(service_fn(
        move |request: Request| async move { Ok::<_, Error>(subscriptions.handle(request).await) },
    ))
    .await
}

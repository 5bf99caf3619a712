//! The deliver Lambda: wiring only. The handler is `hookline_deliver::Deliver`.

use aws_lambda_events::sqs::SqsEvent;
use hookline_aws::{DynamoStore, Resources, SqsDeadLetterQueue, SqsDeliveryQueue, sdk_config};
use hookline_deliver::{Deliver, DeliverConfig};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    hookline_lambda::init_logging();
    hookline_core::metrics::enable_emf("deliver");
    let resources = Resources::from_env()?;
    let config = DeliverConfig::from_env()?;
    let retention = hookline_aws::resources::retention_from_env()?;
    let sdk = sdk_config().await;
    let dynamo = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), resources.table, retention);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let deliver = Deliver::new(
        dynamo.clone(),
        dynamo,
        SqsDeliveryQueue::new(sqs.clone(), resources.deliveries_queue_url),
        SqsDeadLetterQueue::new(sqs, resources.deliveries_dlq_url),
        config,
    )?;
    let deliver = &deliver;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(deliver.handle(event.payload).await)
    }))
    .await
}

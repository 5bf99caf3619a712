//! The fan-out Lambda: wiring only. The handler is `hookline_fanout::Fanout`.

use aws_lambda_events::sqs::SqsEvent;
use hookline_aws::{DynamoStore, Resources, SqsDeliveryQueue, sdk_config};
use hookline_fanout::Fanout;
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    hookline_lambda::init_logging();
    hookline_core::metrics::enable_emf("fanout");
    let resources = Resources::from_env()?;
    let retention = hookline_aws::resources::retention_from_env()?;
    let sdk = sdk_config().await;
    let fanout = Fanout::new(
        DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), resources.table, retention),
        SqsDeliveryQueue::new(aws_sdk_sqs::Client::new(&sdk), resources.deliveries_queue_url),
    );
    let fanout = &fanout;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(fanout.handle(event.payload).await)
    }))
    .await
}

//! The authorizer Lambda: wiring only. The handler is `hookline_authorizer::Authorizer`.

use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequest;
use hookline_authorizer::Authorizer;
use hookline_aws::{DynamoStore, Resources, sdk_config};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    hookline_lambda::init_logging();
    let table = Resources::table_from_env()?;
    let retention = hookline_aws::resources::retention_from_env()?;
    let sdk = sdk_config().await;
    let authorizer = Authorizer::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table, retention));
    let authorizer = &authorizer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ApiGatewayCustomAuthorizerRequest>| async move {
        authorizer.handle(event.payload).await
    }))
    .await
}

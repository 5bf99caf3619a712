//! The authorizer Lambda: wiring only. The handler is `hookline_authorizer::Authorizer`.

use std::time::Duration;

use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequest;
use hookline_authorizer::Authorizer;
use hookline_aws::resources::MissingVariable;
use hookline_aws::{DynamoStore, Resources, sdk_config};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = match std::env::var(Resources::TABLE_ENV) {
        Ok(table) if !table.trim().is_empty() => table,
        _ => return Err(MissingVariable(Resources::TABLE_ENV).into()),
    };
    let retention = Duration::from_secs(86_400 * hookline_aws::resources::retention_days_from_env()?);
    let sdk = sdk_config().await;
    let authorizer = Authorizer::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table, retention));
    let authorizer = &authorizer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ApiGatewayCustomAuthorizerRequest>| async move {
        authorizer.handle(event.payload).await
    }))
    .await
}

//! Where hookline's queues and table are, and how to create them on an emulator.
//!
//! On AWS, `template.yaml` creates the resources and hands their names to the functions as
//! environment variables. Locally, [`Resources::provision`] creates the same queues (with their
//! dead-letter queues and redrive policies) and the same table on whatever endpoint the SDK is
//! pointed at, so the local stack and the tests run against the shape that deploys.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use hookline_core::error::PortError;

use crate::errors::port_error;

/// Loads the SDK configuration once: region, credentials and `AWS_ENDPOINT_URL` from the
/// environment, exactly as on Lambda.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// The names of the table and queues one deployment uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resources {
    pub table: String,
    pub events_queue_url: String,
    pub events_dlq_url: String,
    pub deliveries_queue_url: String,
    pub deliveries_dlq_url: String,
}

/// Names a missing or empty environment variable.
#[derive(thiserror::Error)]
#[error("environment variable {0} is not set; it names a hookline resource (see README, Configuration)")]
pub struct MissingVariable(pub &'static str);

/// `HOOKLINE_RETENTION_DAYS`: how long events and attempts are kept (default 30, at most 365).
pub fn retention_days_from_env() -> Result<u64, InvalidVariable> {
    match std::env::var("HOOKLINE_RETENTION_DAYS") {
        Err(_) => Ok(30),
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(days) if (1..=365).contains(&days) => Ok(days),
            _ => {
                Err(InvalidVariable { name: "HOOKLINE_RETENTION_DAYS", reason: "a whole number of days from 1 to 365" })
            }
        },
    }
}

/// `HOOKLINE_RETENTION_DAYS` as a duration.
pub fn retention_from_env() -> Result<Duration, InvalidVariable> {
    Ok(Duration::from_secs(86_400 * retention_days_from_env()?))
}

/// Names an environment variable whose value cannot be used.
#[derive(thiserror::Error)]
#[error("environment variable {name} must be {reason}")]
pub struct InvalidVariable {
    pub name: &'static str,
    pub reason: &'static str,
}

// `main` returning an error prints its Debug form; make that the sentence, not the struct.
impl std::fmt::Debug for MissingVariable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::fmt::Debug for InvalidVariable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// How [`Resources::provision`] shapes the queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    /// Receives before SQS moves a message to its dead-letter queue.
    pub max_receive_count: u32,
    /// How long a received message stays hidden from other consumers.
    pub visibility_timeout: Duration,
}

impl Default for QueueSettings {
    /// The values `template.yaml` uses.
    fn default() -> Self {
        Self { max_receive_count: 5, visibility_timeout: Duration::from_secs(180) }
    }
}

impl Resources {
    pub const TABLE_ENV: &'static str = "HOOKLINE_TABLE";
    pub const EVENTS_QUEUE_ENV: &'static str = "HOOKLINE_EVENTS_QUEUE_URL";
    pub const EVENTS_DLQ_ENV: &'static str = "HOOKLINE_EVENTS_DLQ_URL";
    pub const DELIVERIES_QUEUE_ENV: &'static str = "HOOKLINE_DELIVERIES_QUEUE_URL";
    pub const DELIVERIES_DLQ_ENV: &'static str = "HOOKLINE_DELIVERIES_DLQ_URL";

    /// Reads every name from the environment, failing on the first one missing.
    pub fn from_env() -> Result<Self, MissingVariable> {
        let var = |name: &'static str| match std::env::var(name) {
            Ok(value) if !value.trim().is_empty() => Ok(value),
            _ => Err(MissingVariable(name)),
        };
        Ok(Self {
            table: var(Self::TABLE_ENV)?,
            events_queue_url: var(Self::EVENTS_QUEUE_ENV)?,
            events_dlq_url: var(Self::EVENTS_DLQ_ENV)?,
            deliveries_queue_url: var(Self::DELIVERIES_QUEUE_ENV)?,
            deliveries_dlq_url: var(Self::DELIVERIES_DLQ_ENV)?,
        })
    }

    /// Only the table (`HOOKLINE_TABLE`), for functions that use no queue.
    pub fn table_from_env() -> Result<String, MissingVariable> {
        match std::env::var(Self::TABLE_ENV) {
            Ok(table) if !table.trim().is_empty() => Ok(table),
            _ => Err(MissingVariable(Self::TABLE_ENV)),
        }
    }

    /// The variables that point a function at these resources.
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        vec![
            (Self::TABLE_ENV, self.table.clone()),
            (Self::EVENTS_QUEUE_ENV, self.events_queue_url.clone()),
            (Self::EVENTS_DLQ_ENV, self.events_dlq_url.clone()),
            (Self::DELIVERIES_QUEUE_ENV, self.deliveries_queue_url.clone()),
            (Self::DELIVERIES_DLQ_ENV, self.deliveries_dlq_url.clone()),
        ]
    }

    /// Creates (or finds) the table and the four queues named with `prefix` (`hookline` gives
    /// table `hookline`, queues `hookline-events`, `hookline-events-dlq`, `hookline-deliveries`,
    /// `hookline-deliveries-dlq`). Safe to run again on resources that exist.
    pub async fn provision(config: &SdkConfig, prefix: &str, settings: &QueueSettings) -> Result<Self, PortError> {
        let sqs = aws_sdk_sqs::Client::new(config);
        let dynamo = aws_sdk_dynamodb::Client::new(config);
        let (events_queue_url, events_dlq_url) = queue_with_dlq(&sqs, &format!("{prefix}-events"), settings).await?;
        let (deliveries_queue_url, deliveries_dlq_url) =
            queue_with_dlq(&sqs, &format!("{prefix}-deliveries"), settings).await?;
        create_table(&dynamo, prefix).await?;
        Ok(Self {
            table: prefix.to_owned(),
            events_queue_url,
            events_dlq_url,
            deliveries_queue_url,
            deliveries_dlq_url,
        })
    }
}

/// DLQs keep messages for the SQS maximum, 14 days, so an operator has time to look.
const DLQ_RETENTION_SECONDS: u32 = 14 * 24 * 3600;
/// Work queues keep messages 4 days; the retry schedule spends under 2 days.
const QUEUE_RETENTION_SECONDS: u32 = 4 * 24 * 3600;

async fn queue_with_dlq(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    settings: &QueueSettings,
) -> Result<(String, String), PortError> {
    let dlq_url = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .attributes(QueueAttributeName::MessageRetentionPeriod, DLQ_RETENTION_SECONDS.to_string())
        .send()
        .await
        .map_err(|e| port_error("CreateQueue", e))?
        .queue_url
        .unwrap_or_default();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| port_error("GetQueueAttributes", e))?
        .attributes
        .and_then(|mut attributes| attributes.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| PortError::Corrupt(format!("queue {name}-dlq has no ARN")))?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": settings.max_receive_count,
    });
    let attributes = HashMap::from([
        (QueueAttributeName::RedrivePolicy, redrive.to_string()),
        (QueueAttributeName::VisibilityTimeout, settings.visibility_timeout.as_secs().to_string()),
        (QueueAttributeName::MessageRetentionPeriod, QUEUE_RETENTION_SECONDS.to_string()),
    ]);
    let queue_url = sqs
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes.clone()))
        .send()
        .await
        .map_err(|e| port_error("CreateQueue", e))?
        .queue_url
        .unwrap_or_default();
    // CreateQueue on an existing queue keeps its old attributes; make them match.
    sqs.set_queue_attributes()
        .queue_url(&queue_url)
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(|e| port_error("SetQueueAttributes", e))?;
    Ok((queue_url, dlq_url))
}

fn string_key(name: &str) -> Result<AttributeDefinition, PortError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| PortError::Invalid(e.to_string()))
}

fn key(name: &str, key_type: KeyType) -> Result<KeySchemaElement, PortError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(|e| PortError::Invalid(e.to_string()))
}

async fn create_table(dynamo: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), PortError> {
    let exists = dynamo.describe_table().table_name(table).send().await.is_ok();
    if !exists {
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(crate::dynamo::GSI1)
            .key_schema(key("gsi1pk", KeyType::Hash)?)
            .key_schema(key("gsi1sk", KeyType::Range)?)
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .map_err(|e| PortError::Invalid(e.to_string()))?;
        dynamo
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(string_key("pk")?)
            .attribute_definitions(string_key("sk")?)
            .attribute_definitions(string_key("gsi1pk")?)
            .attribute_definitions(string_key("gsi1sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .global_secondary_indexes(gsi)
            .send()
            .await
            .map_err(|e| port_error("CreateTable", e))?;
    }
    let ttl = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name("expires_at")
        .build()
        .map_err(|e| PortError::Invalid(e.to_string()))?;
    // Enabling TTL twice is an error on AWS; only do it when it is off.
    let ttl_on = dynamo
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .ok()
        .and_then(|out| out.time_to_live_description)
        .and_then(|d| d.attribute_name)
        .is_some();
    if !ttl_on {
        dynamo
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|e| port_error("UpdateTimeToLive", e))?;
    }
    Ok(())
}

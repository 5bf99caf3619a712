//! SQS and DynamoDB adapters for hookline-core's ports.
//!
//! - [`dynamo`]: one table holds subscriptions, the event log, the attempt log and API keys
//!   (key design in `docs/adr/0002-dynamodb-single-table.md`).
//! - [`sqs`]: the events and deliveries queues, sent to in batches.
//! - [`resources`]: the names of the queues and the table, read from the environment, and the
//!   code that creates them on an emulator exactly as `template.yaml` declares them on AWS.
//!
//! No SDK type leaves this crate through a port; errors become [`hookline_core::error::PortError`].
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod dynamo;
mod errors;
pub mod resources;
pub mod sqs;

pub use dynamo::DynamoStore;
pub use resources::{Resources, sdk_config};
pub use sqs::{SqsDeadLetterQueue, SqsDeliveryQueue, SqsEventQueue};

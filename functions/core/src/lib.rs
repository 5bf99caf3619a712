//! hookline's domain core.
//!
//! Everything that decides *what* hookline does lives here: the event catalogue and its
//! validation, the delivered envelope, Standard Webhooks signing, the retry policy, subscription
//! matching, the SSRF policy, and the narrow ports that storage and queue adapters implement.
//! No AWS SDK type appears in this crate; the Lambda functions and the local stack wire it to
//! SQS and DynamoDB through `hookline-aws`.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod api_key;
pub mod catalogue;
pub mod envelope;
pub mod error;
pub mod idempotency;
pub mod ids;
pub mod matching;
pub mod metrics;
pub mod model;
pub mod ports;
pub mod resolve;
pub mod retry;
pub mod signing;
pub mod ssrf;

#[cfg(feature = "test-doubles")]
pub mod memory;

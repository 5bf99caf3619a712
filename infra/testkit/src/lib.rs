//! The harness every crate's tests share.
//!
//! - [`MotoServer`]: a real `moto_server` (the AWS emulator) on a free loopback port, stopped
//!   when dropped; [`TestAws`] adds hookline's queues and table to it, created by the same code
//!   the local stack uses.
//! - [`TestReceiver`]: a real HTTP server on `127.0.0.1:0` that records every request (headers
//!   and raw body) and answers scripted statuses, delays and `Retry-After` headers.
//! - [`ScriptedResolver`]: a DNS resolver whose answers a test sets and changes at run time.
//! - [`lambda`]: Lambda events for handler tests.
//! - [`model`]: hookline's records (subscriptions, API keys) with plain defaults.
//! - [`CapturedLog`]: keeps what a log subscriber writes.
//! - [`eventually`]: polls a condition until it holds or a deadline passes.

mod captured_log;
pub mod lambda;
pub mod model;
mod moto;
mod receiver;
mod resolver;

use std::future::Future;
use std::time::Duration;

pub use captured_log::CapturedLog;
pub use moto::{MotoServer, TestAws};
pub use receiver::{Recorded, Reply, TestReceiver};
pub use resolver::ScriptedResolver;

/// Polls `check` every 50 ms until it returns `Some`, or fails after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

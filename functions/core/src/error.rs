//! The error every port returns, and whether trying again can help.

/// A port (queue, store, log) could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// A conditional write lost: the record exists already, or changed since it was read.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The backing service could not be reached or refused for now (throttling, outage).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A stored record or cursor could not be read back; retrying will not fix it.
    #[error("corrupt: {0}")]
    Corrupt(String),
    /// The request itself is wrong (a forged cursor, a payload over a service limit).
    #[error("invalid: {0}")]
    Invalid(String),
}

impl PortError {
    /// Whether the same call may succeed later without any change.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

//! How a call on the session store failed, and what the failure says about a write.

use crate::fault::{safe_text, Fault};

/// An error of a [`crate::RedisSessionStore`] call. Its text never holds command arguments or
/// reply values (see [`safe_text`]), so it can be logged as it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Redis did not answer, or answered an error.
    #[error("Redis did not answer: {}", safe_text(.0))]
    Redis(#[from] fred::error::Error),
    /// A session value could not be turned into JSON.
    #[error("a session value could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}

impl Fault for StoreError {
    fn is_outage(&self) -> bool {
        matches!(self, StoreError::Redis(err) if err.is_outage())
    }
}

impl StoreError {
    /// A write that failed so may still have been applied: its command may have reached Redis
    /// before the timeout or the lost connection (Redis may even run it after the timeout). Only
    /// a call the breaker refused, which sent nothing, and an answer Redis gave are certain.
    pub fn may_have_applied(&self) -> bool {
        matches!(self, StoreError::Redis(err)
            if err.is_outage() && *err.kind() != fred::error::ErrorKind::Canceled)
    }
}

//! How a call on the session store failed, and what the failure says about a write.

use crate::server::redis::Fault;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("Redis did not answer: {}", crate::server::redis::safe_text(.0))]
    Redis(#[from] fred::error::Error),
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

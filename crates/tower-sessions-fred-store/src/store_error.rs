//! How a call on the session store or its user index failed, and what the failure says about a
//! write.

use crate::fault::{reply_code, safe_text, Fault};

/// An error of a [`crate::RedisSessionStore`] or [`crate::UserIndex`] call. Its text never holds
/// command arguments or reply values, so it can be logged as it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Redis did not answer, or answered an error.
    #[error("{}", safe_text(.0))]
    Redis(#[from] fred::error::Error),
    /// A session value could not be turned into JSON.
    #[error("a session value could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
    /// A user name that cannot be signed in: empty, over 256 bytes, or with braces or control
    /// characters (it is part of the user's index key).
    #[error("the user name cannot be stored")]
    InvalidUser,
    /// [`crate::RedisSessionStore::start_near_cache`] was refused: the text names what the near
    /// cache needs of Redis, and what Redis answered.
    #[error(
        "the near cache needs Redis 6 or later and, for an ACL user, +hello +client|tracking \
         +ping, and +get +set on the key {epoch_key}; Redis answered: {}",
        safe_text(.source)
    )]
    NearCacheRefused {
        /// The key of the heartbeat's flush marker, `<prefix>near-cache-epoch`.
        epoch_key: String,
        /// Redis' answer.
        source: fred::error::Error,
    },
}

impl Fault for StoreError {
    fn is_outage(&self) -> bool {
        StoreError::is_outage(self)
    }
}

impl StoreError {
    /// Redis did not answer (timeout, lost connection, breaker open), as opposed to answering an
    /// error: the call may succeed once Redis is back.
    pub fn is_outage(&self) -> bool {
        matches!(self, StoreError::Redis(err) if err.is_outage())
    }

    /// A write that failed so may still have been applied: its command may have reached Redis
    /// before the timeout or the lost connection (Redis may even run it after the timeout). Only
    /// a call the breaker refused, which sent nothing, and an answer Redis gave are certain.
    pub fn may_have_applied(&self) -> bool {
        matches!(self, StoreError::Redis(err)
            if err.is_outage() && *err.kind() != fred::error::ErrorKind::Canceled)
    }

    /// The error code of Redis' reply (`NOPERM`, `WRONGPASS`, `READONLY`…), when Redis answered
    /// one.
    pub fn reply_code(&self) -> Option<&str> {
        match self {
            StoreError::Redis(err) | StoreError::NearCacheRefused { source: err, .. } => {
                Some(reply_code(err.details())).filter(|code| !code.is_empty())
            }
            _ => None,
        }
    }
}

//! What one request did to its stored session: the changes its save writes, and why its last
//! store operation failed.

use std::time::Duration;

use super::record::{self, Data};

/// What one request changed, ready for the save script. Values are JSON text.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub set: Vec<(String, String)>,
    pub delete: Vec<String>,
    /// Move the idle deadline: the new refreshed-at.
    pub refreshed_at: Option<i64>,
    /// End the session no later than this (a handler's `Expiry::AtDateTime`).
    pub absolute_cap: Option<i64>,
    /// Whose idle timeout applies (a record never changes between anonymous and signed in: a
    /// sign-in gets a new id).
    pub signed_in: bool,
}

impl Changes {
    /// The data fields to set and delete to turn `loaded` into `now`; the rest is left as is.
    pub(crate) fn between(loaded: &Data, now: &Data) -> Result<Changes, serde_json::Error> {
        let mut changes = Changes::default();
        for (key, value) in now {
            if loaded.get(key) != Some(value) {
                let json = serde_json::to_string(value)?;
                changes.set.push((record::data_field(key), json));
            }
        }
        for key in loaded.keys() {
            if !now.contains_key(key) {
                changes.delete.push(record::data_field(key));
            }
        }
        Ok(changes)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.set.is_empty()
            && self.delete.is_empty()
            && self.refreshed_at.is_none()
            && self.absolute_cap.is_none()
    }

    /// Data was written (not only a deadline moved).
    pub(crate) fn has_data(&self) -> bool {
        !self.set.is_empty() || !self.delete.is_empty()
    }
}

/// Why the last store operation of a request failed ([`crate::RequestStore::failure`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionFailure {
    /// Redis did not answer (or answered an error); the detail is for the log only.
    Unavailable(String),
    /// A write was sent but not confirmed (timed out, connection lost): it may have been saved.
    Unconfirmed(String),
    /// The session vanished (expired, signed out, revoked) before the change was written.
    Ended,
    /// A handler stored a value of the wrong type under a key the application reads with a type
    /// ([`crate::StoreBuilder::typed_key`]): a bug in that handler, not the client's doing.
    Rejected(String),
    /// The [`crate::NewSessionPolicy`] refused a new session; it may be tried after the wait.
    TooManyNew(Duration),
}

//! What one request did to its stored session: the changes its save writes, and why its last
//! store operation failed.

use std::time::Duration;

use super::record::{self, Data, Stored};

/// One data field a save changes: its Redis field, the text the request loaded ("" when the key
/// was absent), and its new JSON text (`None`: delete it).
#[derive(Debug)]
pub(crate) struct Change {
    pub field: String,
    pub expected: String,
    pub value: Option<String>,
}

/// What one request changed, ready for the save script.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub data: Vec<Change>,
    /// Move the idle deadline: the new refreshed-at.
    pub refreshed_at: Option<i64>,
    /// End the session no later than this (a handler's `Expiry::AtDateTime`).
    pub absolute_cap: Option<i64>,
    /// Whose idle timeout applies (a record never changes between anonymous and signed in: a
    /// sign-in gets a new id).
    pub signed_in: bool,
}

impl Changes {
    /// The data fields to set and delete to turn `loaded` (stored as `stored`) into `now`; the
    /// rest is left as is.
    pub(crate) fn between(
        loaded: &Data,
        stored: &Stored,
        now: &Data,
    ) -> Result<Changes, serde_json::Error> {
        let expected = |key: &str| stored.get(key).cloned().unwrap_or_default();
        let mut changes = Changes::default();
        for (key, value) in now {
            if loaded.get(key) != Some(value) {
                changes.data.push(Change {
                    field: record::data_field(key),
                    expected: expected(key),
                    value: Some(serde_json::to_string(value)?),
                });
            }
        }
        for key in loaded.keys() {
            if !now.contains_key(key) {
                changes.data.push(Change {
                    field: record::data_field(key),
                    expected: expected(key),
                    value: None,
                });
            }
        }
        Ok(changes)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty() && self.refreshed_at.is_none() && self.absolute_cap.is_none()
    }

    /// Data was written (not only a deadline moved).
    pub(crate) fn has_data(&self) -> bool {
        !self.data.is_empty()
    }

    /// `stored` as it is once these changes are written.
    pub(crate) fn apply_to(&self, stored: &mut Stored) {
        for change in &self.data {
            let key = &change.field[record::DATA_PREFIX.len()..];
            match &change.value {
                Some(text) => stored.insert(key.to_string(), text.clone()),
                None => stored.remove(key),
            };
        }
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
    /// Another request changed a key this one changed, after this one read it: nothing of this
    /// request's changes was written (see [`crate::StoreBuilder::last_writer_wins`]).
    Conflict,
    /// Too many requests were already waiting on the store: refused before the handler ran.
    Busy,
    /// A handler stored a value of the wrong type under a key the application reads with a type
    /// ([`crate::StoreBuilder::typed_key`]): a bug in that handler, not the client's doing.
    Rejected(String),
    /// The [`crate::NewSessionPolicy`] refused a new session; it may be tried after the wait.
    TooManyNew(Duration),
}

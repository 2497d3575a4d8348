//! What one request did to its stored session: the changes its save writes, and why its last
//! store operation failed.

use std::time::Duration;

/// What one request changed, ready for the save script. Values are JSON text.
#[derive(Debug, Default)]
pub struct Changes {
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
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
            && self.delete.is_empty()
            && self.refreshed_at.is_none()
            && self.absolute_cap.is_none()
    }

    /// Data was written (not only a deadline moved).
    pub fn has_data(&self) -> bool {
        !self.set.is_empty() || !self.delete.is_empty()
    }
}

/// Why the last store operation of this request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Redis did not answer (or answered an error); the detail is for the log only.
    Unavailable(String),
    /// The session vanished (expired, signed out, revoked) before the change was written.
    Ended,
    /// A handler stored a value of the wrong type under a key the app reads with a type (a bug
    /// in that handler, not the client's doing).
    Rejected(String),
    /// This client's address created too many sessions lately: none was created.
    TooManyNew(Duration),
}

//! [`SessionHandle`]: how a session is named anywhere its id must not go — a "your sessions"
//! page, a revocation request, a log line.

use std::fmt;

use sha2::{Digest, Sha256};
use tower_sessions::session::Id;

/// A short, stable, non-reversible label of a session id: lets a user tell sessions apart and
/// revoke one without the id itself ever leaving the server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionHandle(pub(crate) String);

impl SessionHandle {
    /// The handle of session `id`: the first 6 bytes of its SHA-256, in hex.
    ///
    /// ```
    /// use tower_sessions::session::Id;
    /// use tower_sessions_fred_store::SessionHandle;
    ///
    /// let handle = SessionHandle::of(&Id(7));
    /// assert_eq!(handle.as_str().len(), 12);
    /// assert_eq!(handle, SessionHandle::of(&Id(7)));
    /// ```
    pub fn of(id: &Id) -> SessionHandle {
        let digest = Sha256::digest(id.0.to_le_bytes());
        SessionHandle(hex::encode(&digest[..6]))
    }

    /// A handle as a client sent it (unchecked: an unknown handle simply matches nothing).
    pub fn from_client(text: impl Into<String>) -> SessionHandle {
        SessionHandle(text.into())
    }

    /// The handle as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

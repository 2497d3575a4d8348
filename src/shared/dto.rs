//! What the API returns, shared by server and browser. Times are milliseconds since the Unix
//! epoch.

use serde::{Deserialize, Serialize};

use super::input::Theme;

/// The session as `/api/session` returns it and the panel shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    /// A session exists in Redis for this visitor.
    pub active: bool,
    /// The request carried the cookie of a session that has ended (expired or signed out).
    pub previous_ended: bool,
    /// A short hash of the session id (never the id).
    pub id_fingerprint: String,
    pub created_at: i64,
    /// When activity last moved the idle deadline (accurate to the refresh threshold).
    pub last_active: i64,
    pub idle_expires_at: i64,
    pub absolute_expires_at: i64,
    /// The earlier of the two deadlines: when Redis deletes the session.
    pub expires_at: i64,
    /// Seconds until `expires_at`; the Redis key's TTL.
    pub ttl_seconds: i64,
    pub idle_timeout_seconds: u64,
    pub absolute_timeout_seconds: u64,
    pub counter: i64,
    /// Data kept in the session through the tower-sessions API (the note, the theme, and any
    /// key a handler inserted), except the counter shown above.
    pub data: serde_json::Map<String, serde_json::Value>,
    /// The signed-in user; `None` for an anonymous session.
    pub user: Option<String>,
    pub signed_in_at: Option<i64>,
}

impl SessionView {
    /// The stored theme preference; `Default` when none is stored.
    pub fn theme(&self) -> Theme {
        self.data
            .get("theme")
            .and_then(|value| value.as_str())
            .and_then(|text| Theme::parse(text).ok())
            .unwrap_or(Theme::Default)
    }
}

/// One of the signed-in user's sessions, as "Your sessions" lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionListing {
    /// Stable short handle; never the session id.
    pub handle: String,
    pub signed_in_at: i64,
    pub last_seen: i64,
    pub expires_at: i64,
    /// The browser and system as a person reads them ("Chrome 156 on Linux").
    pub device: String,
    /// The User-Agent as sent at sign-in (shortened to 120 characters).
    pub user_agent: String,
    pub address: String,
    pub this_device: bool,
}

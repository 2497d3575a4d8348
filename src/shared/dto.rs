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
    pub data: SessionData,
    /// The signed-in user; `None` for an anonymous session.
    pub user: Option<String>,
    pub signed_in_at: Option<i64>,
}

/// The session's data as the server holds it: every key, whatever the type of its value.
#[cfg(feature = "ssr")]
pub type SessionData = serde_json::Map<String, serde_json::Value>;

/// The session's data as the page reads it: only the two keys it shows. The server keeps both as
/// strings (it refuses a session where either is not one) and sends every key; the others are
/// skipped here. Reading any JSON value into a `serde_json::Value` map would cost the wasm far more
/// code than these two fields.
#[cfg(not(feature = "ssr"))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    theme: Option<String>,
}

impl SessionView {
    /// The stored note; empty when none is stored.
    pub fn note(&self) -> &str {
        self.text("note").unwrap_or_default()
    }

    /// The stored theme preference; `Default` when none is stored.
    pub fn theme(&self) -> Theme {
        self.text("theme")
            .and_then(|text| Theme::parse(text).ok())
            .unwrap_or(Theme::Default)
    }

    /// The string the session's data holds under `key`, if any.
    fn text(&self, key: &str) -> Option<&str> {
        #[cfg(feature = "ssr")]
        {
            self.data.get(key).and_then(serde_json::Value::as_str)
        }
        #[cfg(not(feature = "ssr"))]
        {
            match key {
                "note" => self.data.note.as_deref(),
                "theme" => self.data.theme.as_deref(),
                _ => None,
            }
        }
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

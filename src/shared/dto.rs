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
    /// The session's public data (the note, the theme: the keys declared public), each value as
    /// text; keys not declared public never leave the server.
    pub data: SessionData,
    /// The signed-in user; `None` for an anonymous session.
    pub user: Option<String>,
    pub signed_in_at: Option<i64>,
}

/// The session's public data: only the keys declared public on the server
/// (`server::sessions::keys::PUBLIC`), each value as text. Every other key stays on the server.
#[cfg(feature = "ssr")]
pub type SessionData = serde_json::Map<String, serde_json::Value>;

/// The session's public data as the page reads it: key → text. Any key the server declares
/// public arrives here, with no struct to extend. (Text, not any JSON value: a
/// `serde_json::Value` map would cost the wasm far more code.)
#[cfg(not(feature = "ssr"))]
pub type SessionData = std::collections::BTreeMap<String, String>;

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
            self.data.get(key).map(String::as_str)
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

//! What the API returns, shared by server and browser. Times are milliseconds since the Unix
//! epoch.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::{
    input::Theme,
    session_keys::{PublicKey, NOTE, THEME},
};

/// The session as `/api/session` returns it and the panel shows it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
    /// The session's public data: the keys declared in `session_keys`, each with its stored JSON
    /// value; keys not declared there never leave the server. Read one with [`SessionView::get`].
    pub data: SessionData,
    /// The signed-in user; `None` for an anonymous session.
    pub user: Option<String>,
    pub signed_in_at: Option<i64>,
}

#[cfg(feature = "ssr")]
pub type SessionData = serde_json::Map<String, serde_json::Value>;

/// The session's public data as the page reads it: key → its JSON text, decoded only when a
/// component asks for it with its type (a `serde_json::Value` tree would cost the wasm far more
/// code).
#[cfg(not(feature = "ssr"))]
pub type SessionData = std::collections::BTreeMap<String, Box<serde_json::value::RawValue>>;

impl SessionView {
    /// The value stored under `key`, read as its declared type; `None` when absent (or stored as
    /// something else by other code).
    pub fn get<T: DeserializeOwned>(&self, key: PublicKey<T>) -> Option<T> {
        let value = self.data.get(key.name)?;
        #[cfg(feature = "ssr")]
        let read = T::deserialize(value);
        #[cfg(not(feature = "ssr"))]
        let read = serde_json::from_str(value.get());
        read.ok()
    }

    pub fn note(&self) -> String {
        self.get(NOTE).unwrap_or_default()
    }

    pub fn theme(&self) -> Theme {
        self.get(THEME)
            .and_then(|text| Theme::parse(&text).ok())
            .unwrap_or(Theme::Default)
    }
}

/// One of the signed-in user's sessions, as "Your sessions" lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

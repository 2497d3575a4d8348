//! The session as `/api/session` returns it and the panel shows it (shared by server and
//! browser). Times are milliseconds since the Unix epoch.

use serde::{Deserialize, Serialize};

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
    /// User data kept in the session (the note).
    pub data: serde_json::Map<String, serde_json::Value>,
    /// The signed-in user; `None` for an anonymous session.
    pub user: Option<String>,
    pub signed_in_at: Option<i64>,
}

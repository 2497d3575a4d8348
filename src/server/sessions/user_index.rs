//! The per-user session index: which sessions a user is signed in with, so that they can be
//! listed and revoked ("sign out that other device", "sign out everywhere else").
//!
//! A hash per user (`KeySpace::user_sessions`), field = the session's handle (a fingerprint of
//! its id), value = JSON [`IndexEntry`]. The store adds an entry when it creates a signed-in
//! session and removes it when it deletes one; entries of sessions that expired are pruned when
//! the list is read. The hash's TTL is the absolute session timeout, renewed at each sign-in, so
//! it never outlives the sessions it lists.

use std::{collections::HashMap, fmt};

use fred::prelude::{HashesInterface, KeysInterface, Pool};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tower_sessions::session::Id;

use super::{
    expiry::ExpiryPolicy,
    record::{meta, SignedIn},
};
use crate::{server::redis::KeySpace, shared::input::Username};

/// Entries younger than this are not pruned: their session may still be on its way to Redis.
const PRUNE_GRACE_MS: i64 = 10_000;

/// A short, stable, non-reversible label of a session id: lets a user tell sessions apart and
/// revoke one without the id itself ever leaving the server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionHandle(String);

impl SessionHandle {
    pub fn of(id: &Id) -> SessionHandle {
        let digest = Sha256::digest(id.0.to_le_bytes());
        SessionHandle(hex::encode(&digest[..6]))
    }

    /// A handle as a client sent it (unchecked: an unknown handle simply matches nothing).
    pub fn from_client(text: String) -> SessionHandle {
        SessionHandle(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexEntry {
    /// The session id: server-side only, never sent to a browser.
    pub id: String,
    pub signed_in_at: i64,
    pub user_agent: String,
    pub address: String,
}

/// One live session of a user, as "Your sessions" shows it.
#[derive(Debug, Clone)]
pub struct ListedSession {
    pub handle: SessionHandle,
    pub entry: IndexEntry,
    pub last_seen: i64,
    pub expires_at: i64,
}

#[derive(Clone, Debug)]
pub struct UserIndex {
    pool: Pool,
    keys: KeySpace,
    policy: ExpiryPolicy,
}

impl UserIndex {
    pub fn new(pool: Pool, keys: KeySpace, policy: ExpiryPolicy) -> Self {
        UserIndex { pool, keys, policy }
    }

    pub async fn add(&self, id: &Id, signed_in: &SignedIn) -> Result<(), fred::error::Error> {
        let key = self.keys.user_sessions(&signed_in.user);
        let entry = IndexEntry {
            id: id.to_string(),
            signed_in_at: signed_in.at,
            user_agent: signed_in.user_agent.clone(),
            address: signed_in.address.clone(),
        };
        let json = serde_json::to_string(&entry).unwrap_or_default();
        let pipeline = self.pool.next().pipeline();
        let _: () = pipeline.hset(&key, (SessionHandle::of(id).0, json)).await?;
        let _: () = pipeline
            .pexpire(&key, self.policy.absolute_ms(), None)
            .await?;
        let _: ((), ()) = pipeline.all().await?;
        Ok(())
    }

    pub async fn remove(
        &self,
        user: &Username,
        handle: &SessionHandle,
    ) -> Result<(), fred::error::Error> {
        let _: i64 = self
            .pool
            .hdel(self.keys.user_sessions(user), handle.as_str())
            .await?;
        Ok(())
    }

    /// The user's live sessions, oldest sign-in first. Two round trips whatever the count: the
    /// index, then every session's deadline fields in one pipeline. Dead entries are pruned.
    pub async fn list(
        &self,
        user: &Username,
        now: i64,
    ) -> Result<Vec<ListedSession>, fred::error::Error> {
        let key = self.keys.user_sessions(user);
        let (entries, mut dead) = self.entries(&key).await?;
        let mut listed = Vec::with_capacity(entries.len());
        if !entries.is_empty() {
            let pipeline = self.pool.next().pipeline();
            for (_, entry) in &entries {
                let fields = vec![meta::REFRESHED_AT, meta::ABSOLUTE_DEADLINE, meta::USER];
                let _: () = pipeline.hmget(self.session_key(&entry.id), fields).await?;
            }
            let states: Vec<(Option<i64>, Option<i64>, Option<String>)> = pipeline.all().await?;
            for ((handle, entry), (refreshed, absolute, owner)) in entries.into_iter().zip(states) {
                // The session must still exist and belong to this user.
                match (refreshed, absolute) {
                    (Some(refreshed), Some(absolute))
                        if owner.as_deref() == Some(user.as_str()) =>
                    {
                        listed.push(ListedSession {
                            handle,
                            last_seen: refreshed,
                            expires_at: self.policy.deadline(refreshed, absolute),
                            entry,
                        })
                    }
                    _ if now - entry.signed_in_at > PRUNE_GRACE_MS => dead.push(handle),
                    _ => {}
                }
            }
        }
        if !dead.is_empty() {
            let handles: Vec<String> = dead.into_iter().map(|h| h.0).collect();
            let _: i64 = self.pool.hdel(&key, handles).await?;
        }
        listed.sort_by_key(|s| s.entry.signed_in_at);
        Ok(listed)
    }

    /// Deletes the session behind `handle` (its record, so it is dead at its next request) and
    /// its entry. `false` when the user has no such session.
    pub async fn revoke(
        &self,
        user: &Username,
        handle: &SessionHandle,
    ) -> Result<bool, fred::error::Error> {
        let key = self.keys.user_sessions(user);
        let json: Option<String> = self.pool.hget(&key, handle.as_str()).await?;
        let Some(entry) = json.and_then(|j| serde_json::from_str::<IndexEntry>(&j).ok()) else {
            return Ok(false);
        };
        let _: i64 = self.pool.del(self.session_key(&entry.id)).await?;
        let _: i64 = self.pool.hdel(&key, handle.as_str()).await?;
        Ok(true)
    }

    /// Revokes every session of the user but `keep`; returns how many.
    pub async fn revoke_all_except(
        &self,
        user: &Username,
        keep: Option<&SessionHandle>,
    ) -> Result<usize, fred::error::Error> {
        let key = self.keys.user_sessions(user);
        let (entries, broken) = self.entries(&key).await?;
        let victims: Vec<(SessionHandle, Option<IndexEntry>)> = entries
            .into_iter()
            .map(|(handle, entry)| (handle, Some(entry)))
            .chain(broken.into_iter().map(|handle| (handle, None)))
            .filter(|(handle, _)| Some(handle) != keep)
            .collect();
        if victims.is_empty() {
            return Ok(0);
        }
        // Records first (one pipeline), then the entries.
        let pipeline = self.pool.next().pipeline();
        for entry in victims.iter().filter_map(|(_, entry)| entry.as_ref()) {
            let _: () = pipeline.del(self.session_key(&entry.id)).await?;
        }
        let _: Vec<i64> = pipeline.all().await?;
        let handles: Vec<String> = victims.iter().map(|(h, _)| h.0.clone()).collect();
        let _: i64 = self.pool.hdel(&key, handles).await?;
        Ok(victims.len())
    }

    /// The index's entries, and the handles of entries that cannot be read.
    async fn entries(
        &self,
        key: &str,
    ) -> Result<(Vec<(SessionHandle, IndexEntry)>, Vec<SessionHandle>), fred::error::Error> {
        let raw: HashMap<String, String> = self.pool.hgetall(key).await?;
        let mut entries = Vec::with_capacity(raw.len());
        let mut broken = Vec::new();
        for (handle, json) in raw {
            match serde_json::from_str::<IndexEntry>(&json) {
                Ok(entry) => entries.push((SessionHandle(handle), entry)),
                Err(_) => broken.push(SessionHandle(handle)),
            }
        }
        Ok((entries, broken))
    }

    fn session_key(&self, id: &str) -> String {
        match id.parse::<Id>() {
            Ok(id) => self.keys.session(&id),
            // Never matches a real key; the entry is pruned as dead.
            Err(_) => format!("invalid-session-id:{id}"),
        }
    }
}

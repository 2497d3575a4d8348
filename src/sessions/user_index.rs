//! The per-user session index: which sessions a user is signed in with, so that they can be
//! listed and revoked ("sign out that other device", "sign out everywhere else").
//!
//! A hash per user (`KeySpace::user_sessions`), field = the session's handle (a fingerprint of
//! its id), value = JSON [`IndexEntry`]. Entries are added when a signed-in session is stored and
//! removed on sign-out and revocation; entries of sessions that expired are pruned when the list
//! is read. The hash's TTL is the absolute session timeout, renewed at each sign-in, so it can
//! never outlive the sessions it lists.

use std::time::Duration;

use fred::prelude::{HashesInterface, KeysInterface, Pool};
use serde::{Deserialize, Serialize};
use tower_sessions::session::Id;

use super::{fields, store::deadline_ms};
use crate::redis::KeySpace;

/// Entries younger than this are not pruned: their session may still be on its way to Redis.
const PRUNE_GRACE_MS: i64 = 10_000;

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
    pub handle: String,
    pub entry: IndexEntry,
    pub last_seen: i64,
    pub expires_at: i64,
}

#[derive(Clone, Debug)]
pub struct UserIndex {
    pool: Pool,
    keys: KeySpace,
    idle: Duration,
    absolute: Duration,
}

impl UserIndex {
    pub fn new(pool: Pool, keys: KeySpace, idle: Duration, absolute: Duration) -> Self {
        UserIndex {
            pool,
            keys,
            idle,
            absolute,
        }
    }

    pub async fn add(
        &self,
        user: &str,
        handle: &str,
        entry: &IndexEntry,
    ) -> Result<(), fred::error::Error> {
        let key = self.keys.user_sessions(user);
        let json = serde_json::to_string(entry).unwrap_or_default();
        let pipeline = self.pool.next().pipeline();
        let _: () = pipeline.hset(&key, (handle, json)).await?;
        let _: () = pipeline
            .pexpire(&key, self.absolute.as_millis() as i64, None)
            .await?;
        let _: ((), ()) = pipeline.all().await?;
        Ok(())
    }

    pub async fn remove(&self, user: &str, handle: &str) -> Result<(), fred::error::Error> {
        let _: i64 = self
            .pool
            .hdel(self.keys.user_sessions(user), handle)
            .await?;
        Ok(())
    }

    /// The user's live sessions, oldest sign-in first. Two round trips whatever the count: the
    /// index, then every session's deadline fields in one pipeline. Dead entries are pruned.
    pub async fn list(
        &self,
        user: &str,
        now: i64,
    ) -> Result<Vec<ListedSession>, fred::error::Error> {
        let key = self.keys.user_sessions(user);
        let raw: std::collections::HashMap<String, String> = self.pool.hgetall(&key).await?;
        let mut entries = Vec::with_capacity(raw.len());
        let mut broken = Vec::new();
        for (handle, json) in raw {
            match serde_json::from_str::<IndexEntry>(&json) {
                Ok(entry) => entries.push((handle, entry)),
                Err(_) => broken.push(handle),
            }
        }
        let mut listed = Vec::with_capacity(entries.len());
        if !entries.is_empty() {
            let pipeline = self.pool.next().pipeline();
            for (_, entry) in &entries {
                let session_key = self.session_key(&entry.id);
                let _: () = pipeline
                    .hmget(
                        session_key,
                        vec![
                            fields::REFRESHED_AT,
                            fields::ABSOLUTE_DEADLINE,
                            fields::USER,
                        ],
                    )
                    .await?;
            }
            let states: Vec<(Option<i64>, Option<i64>, Option<String>)> = pipeline.all().await?;
            for ((handle, entry), (refreshed, absolute, owner)) in entries.into_iter().zip(states) {
                // Field values are JSON; the session must still belong to this user.
                let owner_matches = owner
                    .and_then(|o| serde_json::from_str::<String>(&o).ok())
                    .is_some_and(|o| o == user);
                match (refreshed, absolute) {
                    (Some(refreshed), Some(absolute)) if owner_matches => {
                        listed.push(ListedSession {
                            handle,
                            last_seen: refreshed,
                            expires_at: deadline_ms(refreshed, absolute, self.idle),
                            entry,
                        })
                    }
                    _ if now - entry.signed_in_at > PRUNE_GRACE_MS => broken.push(handle),
                    _ => {}
                }
            }
        }
        if !broken.is_empty() {
            let _: i64 = self.pool.hdel(&key, broken).await?;
        }
        listed.sort_by_key(|s| s.entry.signed_in_at);
        Ok(listed)
    }

    /// Deletes the session behind `handle` (its record, so it is dead at its next request) and
    /// its entry. `false` when the user has no such session.
    pub async fn revoke(&self, user: &str, handle: &str) -> Result<bool, fred::error::Error> {
        let key = self.keys.user_sessions(user);
        let json: Option<String> = self.pool.hget(&key, handle).await?;
        let Some(entry) = json.and_then(|j| serde_json::from_str::<IndexEntry>(&j).ok()) else {
            return Ok(false);
        };
        let pipeline = self.pool.next().pipeline();
        let _: () = pipeline.del(self.session_key(&entry.id)).await?;
        let _: () = pipeline.hdel(&key, handle).await?;
        let _: (i64, i64) = pipeline.all().await?;
        Ok(true)
    }

    /// Revokes every session of the user but `keep` (a handle); returns how many.
    pub async fn revoke_all_except(
        &self,
        user: &str,
        keep: Option<&str>,
    ) -> Result<usize, fred::error::Error> {
        let key = self.keys.user_sessions(user);
        let raw: std::collections::HashMap<String, String> = self.pool.hgetall(&key).await?;
        let victims: Vec<(String, Option<IndexEntry>)> = raw
            .into_iter()
            .filter(|(handle, _)| Some(handle.as_str()) != keep)
            .map(|(handle, json)| (handle, serde_json::from_str(&json).ok()))
            .collect();
        if victims.is_empty() {
            return Ok(0);
        }
        let pipeline = self.pool.next().pipeline();
        for (_, entry) in &victims {
            if let Some(entry) = entry {
                let _: () = pipeline.del(self.session_key(&entry.id)).await?;
            }
        }
        let handles: Vec<String> = victims.iter().map(|(h, _)| h.clone()).collect();
        let _: () = pipeline.hdel(&key, handles).await?;
        let _: Vec<i64> = pipeline.all().await?;
        Ok(victims.len())
    }

    fn session_key(&self, id: &str) -> String {
        match id.parse::<Id>() {
            Ok(id) => self.keys.session(&id),
            // Never matches a real key; the entry is pruned as dead.
            Err(_) => format!("invalid-session-id:{id}"),
        }
    }
}

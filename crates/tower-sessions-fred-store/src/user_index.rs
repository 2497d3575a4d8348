//! The per-user session index: which sessions a user is signed in with, so that they can be
//! listed and revoked ("sign out that other device", "sign out everywhere else").
//!
//! A hash per user (`<prefix>user:{<name>}:sessions`), field = the session's handle (a
//! fingerprint of its id), value = JSON `IndexEntry`. The store adds an entry when it creates a signed-in
//! session and removes it when it deletes one; entries of sessions that expired are pruned when
//! the list is read. The hash's TTL is the absolute session timeout, renewed at each sign-in, so
//! it never outlives the sessions it lists.

use std::{collections::HashMap, fmt, sync::Arc};

use fred::{
    prelude::{HashesInterface, KeysInterface, Pool},
    types::Expiration,
};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tower_sessions::session::Id;

use crate::{
    expiry::ExpiryPolicy,
    keys::SessionKeys,
    near_cache::NearCache,
    now_ms,
    observer::{timed, Operation, StoreObserver},
    record::{meta, SignedIn},
    Breaker, SessionHandle, StoreError,
};

/// Entries younger than this are not pruned: their session may still be on its way to Redis.
const PRUNE_GRACE_MS: i64 = 10_000;

/// An owner key outlives its session's absolute deadline by this much, so that the expiry event
/// of the session, delivered a little late, still finds it.
const OWNER_GRACE_MS: i64 = 60_000;

/// What the index keeps of one session (JSON in the user's hash).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IndexEntry {
    /// The session id: server-side only, never handed out.
    id: String,
    signed_in_at: i64,
    /// What the application recorded at sign-in ([`crate::RequestStore::prepare_sign_in`]).
    #[serde(default)]
    details: serde_json::Value,
}

/// One live session of a user, as a "your sessions" page shows it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ListedSession {
    /// The handle to revoke it by.
    pub handle: SessionHandle,
    /// When the user signed in (ms since the epoch).
    pub signed_in_at: i64,
    /// When its idle deadline last moved (ms).
    pub last_seen: i64,
    /// When it ends unless used again (ms).
    pub expires_at: i64,
    details: serde_json::Value,
}

impl ListedSession {
    /// What the application recorded at sign-in, read as a `T`; `None` when it was recorded as
    /// something else (an older version of the application, say).
    pub fn details<T: DeserializeOwned>(&self) -> Option<T> {
        T::deserialize(&self.details).ok()
    }
}

/// Which sessions each user is signed in with: list them, revoke one, revoke all others.
/// From [`crate::RedisSessionStore::index`]. Every call goes through the store's breaker.
///
/// ```no_run
/// use tower_sessions_fred_store::{RedisSessionStore, SessionHandle, StoreError};
///
/// #[derive(serde::Deserialize)]
/// struct Device {
///     user_agent: String,
/// }
///
/// # async fn example(store: RedisSessionStore) -> Result<(), StoreError> {
/// let index = store.index();
/// for session in index.list("ada").await? {
///     let device = session.details::<Device>().map(|d| d.user_agent);
///     println!("{} {:?} until {}", session.handle, device, session.expires_at);
/// }
/// index.revoke("ada", &SessionHandle::from_client("3f2a9c01b7e4")).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct UserIndex {
    pool: Pool,
    breaker: Breaker,
    keys: SessionKeys,
    policy: ExpiryPolicy,
    observer: Arc<dyn StoreObserver>,
    owner_keys: bool,
    /// This process's near cache, which forgets a revoked session at once.
    near_cache: Option<Arc<NearCache>>,
}

impl fmt::Debug for UserIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserIndex").finish_non_exhaustive()
    }
}

impl UserIndex {
    pub(crate) fn new(
        pool: Pool,
        keys: SessionKeys,
        policy: ExpiryPolicy,
        observer: Arc<dyn StoreObserver>,
        owner_keys: bool,
        breaker: Breaker,
    ) -> Self {
        UserIndex {
            pool,
            breaker,
            keys,
            policy,
            observer,
            owner_keys,
            near_cache: None,
        }
    }

    pub(crate) fn forgetting_in(self, near_cache: Option<Arc<NearCache>>) -> Self {
        UserIndex { near_cache, ..self }
    }

    fn forget_cached(&self, key: &str) {
        if let Some(cache) = &self.near_cache {
            cache.invalidate(key);
        }
    }

    fn observed<'a, T: 'a>(
        &'a self,
        operation: Operation,
        run: impl std::future::Future<Output = T> + 'a,
    ) -> impl std::future::Future<Output = T> + 'a {
        timed(&*self.observer, operation, run)
    }

    /// A public call: observed, and through the breaker.
    async fn guarded<T>(
        &self,
        operation: Operation,
        call: impl std::future::Future<Output = Result<T, fred::error::Error>>,
    ) -> Result<T, StoreError> {
        Ok(self.observed(operation, self.breaker.run(call)).await?)
    }

    /// Whether `key` (as a keyspace event names it) is a session's record.
    pub fn is_session_key(&self, key: &str) -> bool {
        self.keys.session_id_in(key).is_some()
    }

    /// Removes a session that expired from its user's index, given the expired key as a keyspace
    /// event names it (with [`crate::StoreBuilder::owner_keys`] on, its owner key names the user).
    /// `true` when there was an entry to remove; `false` too for a key that is not a session's.
    pub async fn prune_expired(&self, expired_key: &str) -> Result<bool, StoreError> {
        let Some(id) = self.keys.session_id_in(expired_key) else {
            return Ok(false);
        };
        let owner_key = self.keys.session_owner(id);
        let prune = async {
            let owner: Option<String> = self.pool.get(&owner_key).await?;
            let Some(user) = owner.filter(|name| SignedIn::valid_user(name)) else {
                return Ok::<_, fred::error::Error>(false);
            };
            let handle = id.parse::<Id>().map(|id| SessionHandle::of(&id).0);
            let removed: i64 = match &handle {
                Ok(handle) => {
                    self.pool
                        .hdel(self.keys.user_sessions(&user), handle)
                        .await?
                }
                Err(_) => 0,
            };
            let _: i64 = self.pool.del(&owner_key).await?;
            Ok(removed > 0)
        };
        self.guarded(Operation::IndexPruneExpired, prune).await
    }

    pub(crate) async fn add(
        &self,
        id: &Id,
        signed_in: &SignedIn,
    ) -> Result<(), fred::error::Error> {
        let key = self.keys.user_sessions(&signed_in.user);
        let entry = IndexEntry {
            id: id.to_string(),
            signed_in_at: signed_in.at,
            details: signed_in.details.clone(),
        };
        let json = serde_json::to_string(&entry).unwrap_or_default();
        let pipeline = self.pool.next().pipeline();
        let _: () = pipeline.hset(&key, (SessionHandle::of(id).0, json)).await?;
        let _: () = pipeline
            .pexpire(&key, self.policy.absolute_ms(), None)
            .await?;
        if self.owner_keys {
            let owner_key = self.keys.session_owner(&entry.id);
            let ttl = Expiration::PX(self.policy.absolute_ms() + OWNER_GRACE_MS);
            let user = signed_in.user.as_str();
            let _: () = pipeline
                .set(owner_key, user, Some(ttl), None, false)
                .await?;
        }
        let _: Vec<fred::types::Value> = self.observed(Operation::IndexAdd, pipeline.all()).await?;
        Ok(())
    }

    /// Removes `handle` from `user`'s index (the session itself is left as it is).
    pub(crate) async fn remove(
        &self,
        user: &str,
        handle: &SessionHandle,
    ) -> Result<(), fred::error::Error> {
        let key = self.keys.user_sessions(user);
        let _: i64 = self
            .observed(Operation::IndexRemove, self.pool.hdel(key, handle.as_str()))
            .await?;
        Ok(())
    }

    /// The user's live sessions, oldest sign-in first. Two round trips whatever the count: the
    /// index, then every session's deadline fields in one pipeline. Dead entries are pruned.
    pub async fn list(&self, user: &str) -> Result<Vec<ListedSession>, StoreError> {
        self.guarded(Operation::IndexList, self.list_unobserved(user, now_ms()))
            .await
    }

    async fn list_unobserved(
        &self,
        user: &str,
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
                    (Some(refreshed), Some(absolute)) if owner.as_deref() == Some(user) => listed
                        .push(ListedSession {
                            handle,
                            signed_in_at: entry.signed_in_at,
                            last_seen: refreshed,
                            expires_at: self.policy.deadline(refreshed, absolute),
                            details: entry.details,
                        }),
                    _ if now - entry.signed_in_at > PRUNE_GRACE_MS => dead.push(handle),
                    _ => {}
                }
            }
        }
        if !dead.is_empty() {
            let handles: Vec<String> = dead.into_iter().map(|h| h.0).collect();
            let _: i64 = self.pool.hdel(&key, handles).await?;
        }
        listed.sort_by_key(|s| s.signed_in_at);
        Ok(listed)
    }

    /// Deletes the session behind `handle` (its record, so it is dead at its next request) and
    /// its entry. `false` when the user has no such session.
    pub async fn revoke(&self, user: &str, handle: &SessionHandle) -> Result<bool, StoreError> {
        let key = self.keys.user_sessions(user);
        let revoke = async {
            let json: Option<String> = self.pool.hget(&key, handle.as_str()).await?;
            let Some(entry) = json.and_then(|j| serde_json::from_str::<IndexEntry>(&j).ok()) else {
                return Ok::<_, fred::error::Error>(false);
            };
            let session_key = self.session_key(&entry.id);
            let _: i64 = self.pool.del(&session_key).await?;
            self.forget_cached(&session_key);
            let _: i64 = self.pool.hdel(&key, handle.as_str()).await?;
            Ok(true)
        };
        let revoked = self.guarded(Operation::IndexRevoke, revoke).await?;
        if revoked {
            self.observer.sessions_deleted(std::slice::from_ref(handle));
        }
        Ok(revoked)
    }

    /// Revokes every session of the user but `keep`; returns how many.
    pub async fn revoke_all_except(
        &self,
        user: &str,
        keep: Option<&SessionHandle>,
    ) -> Result<usize, StoreError> {
        let revoke = self.revoke_all_except_unobserved(user, keep);
        let handles = self.guarded(Operation::IndexRevokeAll, revoke).await?;
        self.observer.sessions_deleted(&handles);
        Ok(handles.len())
    }

    /// Revokes; returns the handles revoked.
    async fn revoke_all_except_unobserved(
        &self,
        user: &str,
        keep: Option<&SessionHandle>,
    ) -> Result<Vec<SessionHandle>, fred::error::Error> {
        let key = self.keys.user_sessions(user);
        let (entries, broken) = self.entries(&key).await?;
        let victims: Vec<(SessionHandle, Option<IndexEntry>)> = entries
            .into_iter()
            .map(|(handle, entry)| (handle, Some(entry)))
            .chain(broken.into_iter().map(|handle| (handle, None)))
            .filter(|(handle, _)| Some(handle) != keep)
            .collect();
        if victims.is_empty() {
            return Ok(Vec::new());
        }
        // Records first (one pipeline), then the entries.
        let pipeline = self.pool.next().pipeline();
        let session_keys: Vec<String> = victims
            .iter()
            .filter_map(|(_, entry)| entry.as_ref())
            .map(|entry| self.session_key(&entry.id))
            .collect();
        for session_key in &session_keys {
            let _: () = pipeline.del(session_key).await?;
        }
        let _: Vec<i64> = pipeline.all().await?;
        for session_key in &session_keys {
            self.forget_cached(session_key);
        }
        let handles: Vec<SessionHandle> = victims.into_iter().map(|(h, _)| h).collect();
        let fields: Vec<&str> = handles.iter().map(SessionHandle::as_str).collect();
        let _: i64 = self.pool.hdel(&key, fields).await?;
        Ok(handles)
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

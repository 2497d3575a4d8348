//! `RedisSessionStore`: sessions as Redis hashes on a fred pool, shared by every request.
//!
//! Why not `tower_sessions_redis_store::RedisStore`: it keeps a record as one opaque blob under
//! the bare session id, rewrites the whole blob on every save (concurrent requests overwrite each
//! other: most concurrent increments are lost), and fails every request for a blob
//! it cannot decode. Here a record is a hash under a prefixed key (layout in `record`):
//!
//! * reading a session is one `HGETALL`;
//! * a save writes only the fields its request changed, in one script that first checks the
//!   session still exists, so concurrent writers never lose each other's updates and a revoked
//!   session is never re-created;
//! * a value that cannot be decoded (garbage, an older format, a key of another type) is logged
//!   and read as "no session", so the visitor gets a fresh one instead of an error.
//!
//! Under this crate's layer, requests reach it through `RequestStore` (the tower-sessions
//! `SessionStore` of one request), which knows what was loaded and therefore what changed; under
//! the stock layer, through its own `SessionStore` implementation (`stock`), which saves whole
//! records.

use std::{
    collections::HashMap,
    hash::{BuildHasher, BuildHasherDefault, DefaultHasher},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Instant,
};

use fred::prelude::{Client, HashesInterface, Pool};
use tower_sessions::session::Id;

use crate::{
    durability::ReplicaWait,
    expiry::ExpiryPolicy,
    keys::SessionKeys,
    near_cache::{NearCache, NearCacheStats},
    now_ms,
    observer::{timed, Operation, StoreObserver},
    record::{self, Admits, Loaded},
    user_index::UserIndex,
    writes::Scripts,
    Breaker, BreakerState, StoreBuilder, StoreError,
};

/// Sessions as Redis hashes on a fred [`Pool`], shared by every request: cloning it clones one
/// `Arc`. Build it with [`RedisSessionStore::builder`].
///
/// It is a [`tower_sessions::SessionStore`] for the stock `SessionManagerLayer`, and the store
/// behind this crate's [`crate::SessionLayer`], which gives each request a
/// [`crate::RequestStore`] on top of it.
#[derive(Clone)]
pub struct RedisSessionStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) pool: Pool,
    pub(crate) keys: SessionKeys,
    pub(crate) policy: ExpiryPolicy,
    pub(crate) index: UserIndex,
    pub(crate) observer: Arc<dyn StoreObserver>,
    pub(crate) typed: Arc<[(String, Admits)]>,
    pub(crate) scripts: Scripts,
    pub(crate) undecodable: AtomicU64,
    pub(crate) breaker: Breaker,
    pub(crate) wait: ReplicaWait,
    pub(crate) last_writer_wins: bool,
    pub(crate) near_cache: Option<Arc<NearCache>>,
}

impl std::fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessionStore")
            .field("keys", &self.inner.keys)
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

impl RedisSessionStore {
    /// A builder on `pool` with the defaults: no key prefix, signed-in sessions idle out after 7
    /// days and anonymous ones after 1, every session ends after 30 days,
    /// [`crate::BreakerSettings::default`], no replica wait, no near cache.
    ///
    /// ```no_run
    /// # async fn example(pool: fred::prelude::Pool) {
    /// use std::time::Duration;
    /// use tower_sessions_fred_store::RedisSessionStore;
    ///
    /// let store = RedisSessionStore::builder(pool)
    ///     .key_prefix("myapp:")
    ///     .idle_timeout(Duration::from_secs(3600))
    ///     .absolute_timeout(Duration::from_secs(86_400))
    ///     .build();
    /// # }
    /// ```
    pub fn builder(pool: Pool) -> StoreBuilder {
        StoreBuilder::new(pool)
    }

    /// [`RedisSessionStore::builder`] on a single connection.
    pub fn builder_for_client(client: Client) -> StoreBuilder {
        let pool = Pool::from_clients(vec![client]);
        // A pool of one client is never empty, the one thing `from_clients` refuses.
        StoreBuilder::new(pool.unwrap_or_else(|_| unreachable!("a pool of one client")))
    }

    /// The pool the store sends its commands on.
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    pub(crate) fn policy(&self) -> &ExpiryPolicy {
        &self.inner.policy
    }

    /// The per-user index of signed-in sessions kept beside the sessions.
    pub fn index(&self) -> &UserIndex {
        &self.inner.index
    }

    /// The breaker every call of this store goes through: run your application's other Redis
    /// calls through it too, so that they fail fast together during an outage.
    pub fn breaker(&self) -> &Breaker {
        &self.inner.breaker
    }

    pub(crate) fn observer(&self) -> &dyn StoreObserver {
        &*self.inner.observer
    }

    pub(crate) fn typed(&self) -> &[(String, Admits)] {
        &self.inner.typed
    }

    pub(crate) fn key(&self, id: &Id) -> String {
        self.inner.keys.session(id)
    }

    /// The pool's client for every command on a session's `key`. Always the same one: with the
    /// near cache, a connection tracks what it read but is not told of its own writes (NOLOOP),
    /// so a second connection of ours reading the key would hear of our writes and drop the
    /// copy each write leaves.
    pub(crate) fn client_for(&self, key: &str) -> &Client {
        let clients = self.inner.pool.clients();
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(key);
        &clients[(hash % clients.len() as u64) as usize]
    }

    pub(crate) fn observed<'a, T: 'a>(
        &'a self,
        operation: Operation,
        run: impl std::future::Future<Output = T> + 'a,
    ) -> impl std::future::Future<Output = T> + 'a {
        timed(&*self.inner.observer, operation, run)
    }

    /// Turns the near cache on ([`StoreBuilder::near_cache`]): client tracking on every
    /// connection of the pool, which must speak RESP3 (`fred::types::RespVersion::RESP3` in its
    /// config) and be connected. Until this returns `Ok`, every read goes to Redis.
    pub async fn start_near_cache(&self) -> Result<(), StoreError> {
        let Some(cache) = &self.inner.near_cache else {
            return Ok(());
        };
        let epoch_key = self.inner.keys.near_cache_epoch();
        crate::tracking::start(self.inner.pool.clients(), cache, epoch_key.clone())
            .await
            .map_err(|source| StoreError::NearCacheRefused { epoch_key, source })
    }

    /// What the near cache has done, when it is configured.
    pub fn near_cache_stats(&self) -> Option<NearCacheStats> {
        self.inner.near_cache.as_ref().map(|cache| cache.stats())
    }

    /// One `HGETALL`, or none when the near cache holds the session. `None` when there is no
    /// session, or none that can be read. Shared: a copy the near cache holds is not copied.
    pub(crate) async fn load(&self, id: &Id) -> Result<Option<Arc<Loaded>>, StoreError> {
        let key = self.key(id);
        let cache = self.inner.near_cache.as_deref();
        if let Some(cache) = cache {
            let breaker = &self.inner.breaker;
            if breaker.current() == BreakerState::Closed && breaker.reachable() {
                if let Some(hit) = cache.get(&key, now_ms()) {
                    return Ok(Some(hit));
                }
            } else {
                // Redis is away: invalidations may be lost meanwhile.
                cache.drop_all();
            }
        }
        // Boxed: the way to Redis (command, timeout, breaker, observer) is a far larger future
        // than a hit needs, which every caller's would otherwise hold and move on every read.
        Box::pin(self.load_from_redis(id, key)).await
    }

    async fn load_from_redis(
        &self,
        id: &Id,
        key: String,
    ) -> Result<Option<Arc<Loaded>>, StoreError> {
        let sent = Instant::now();
        let raw: Result<HashMap<String, String>, fred::error::Error> = self
            .observed(
                Operation::SessionLoad,
                // Boxed where it is made: fred's command futures run to tens of KB, and the
                // breaker, its timeout and the observer would each move it again.
                self.inner
                    .breaker
                    .run_as(Box::pin(self.client_for(&key).hgetall(&key))),
            )
            .await;
        let raw = match raw {
            Ok(raw) if raw.is_empty() => return Ok(None),
            Ok(raw) => raw,
            Err(err) if err.details().starts_with("WRONGTYPE") => {
                self.report_undecodable("the key holds another Redis type");
                return Ok(None);
            }
            Err(err) if matches!(err.kind(), fred::error::ErrorKind::Parse) => {
                self.report_undecodable("a field is not text");
                return Ok(None);
            }
            Err(err) => return Err(err.into()),
        };
        Ok(self.decoded(id, key, raw, sent))
    }

    /// The record in `raw` (a whole hash, as `HGETALL` answered it for a command sent at
    /// `sent`), kept in the near cache; `None` when it cannot be decoded.
    fn decoded(
        &self,
        id: &Id,
        key: String,
        raw: HashMap<String, String>,
        sent: Instant,
    ) -> Option<Arc<Loaded>> {
        let (loaded, deadline, bytes) = self.copy_of(id, raw)?;
        if let Some(cache) = self.inner.near_cache.as_deref() {
            cache.insert(key, loaded.clone(), deadline, bytes, sent);
        }
        Some(loaded)
    }

    /// The record in `raw`, with its deadline and length (what the near cache keeps); `None`
    /// (and reported) when it cannot be decoded.
    pub(crate) fn copy_of(
        &self,
        id: &Id,
        raw: HashMap<String, String>,
    ) -> Option<crate::near_cache::Answer> {
        let bytes = raw
            .iter()
            .map(|(field, value)| field.len() + value.len())
            .sum();
        match record::decode(raw, self.typed()) {
            Ok((meta, data, stored)) => {
                let deadline = self
                    .inner
                    .policy
                    .for_session(meta.signed_in.is_some())
                    .deadline(meta.refreshed_at, meta.absolute_deadline);
                let loaded = Loaded {
                    id: *id,
                    meta,
                    data,
                    stored,
                };
                Some((Arc::new(loaded), deadline, bytes))
            }
            Err(why) => {
                self.report_undecodable(why.reason());
                None
            }
        }
    }

    /// Whether a write should answer with the record it leaves, for the near cache.
    pub(crate) fn caching(&self) -> bool {
        self.inner
            .near_cache
            .as_deref()
            .is_some_and(NearCache::is_active)
    }

    /// Waits, as [`StoreBuilder::wait_for_replicas`] asks, until enough replicas have the write
    /// `client` just sent on `key`: for the application's own writes that matter as much as a
    /// new session.
    pub async fn wait_for_replicas(
        &self,
        client: &Client,
        key: &str,
    ) -> Result<(), fred::error::Error> {
        self.inner.wait.after_write(client, key).await
    }

    /// How many records could not be decoded since start (for tests and logs).
    pub fn undecodable_count(&self) -> u64 {
        self.inner.undecodable.load(Ordering::Relaxed)
    }

    /// Logs an undecodable record: the first one, then every 100th, so bad data cannot flood
    /// the log. The key is not logged: it contains the session id.
    pub(crate) fn report_undecodable(&self, reason: &str) {
        let seen = self.inner.undecodable.fetch_add(1, Ordering::Relaxed);
        if seen % 100 == 0 {
            tracing::warn!(
                reason,
                undecodable_so_far = seen + 1,
                "session record cannot be decoded; treating it as no session"
            );
        }
    }
}

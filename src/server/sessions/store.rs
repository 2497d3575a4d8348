//! `RedisSessionStore`: sessions as Redis hashes on the fred pool, shared by every request.
//!
//! Why not `tower_sessions_redis_store::RedisStore`: it keeps a record as one opaque blob under
//! the bare session id, rewrites the whole blob on every save (concurrent requests overwrite each
//! other: 91 % of concurrent increments lost in the benchmark), and fails every request for a blob
//! it cannot decode. Here a record is a hash under a prefixed key (layout in `record`):
//!
//! * reading a session is one `HGETALL`;
//! * a save writes only the fields its request changed, in one script that first checks the
//!   session still exists, so concurrent writers never lose each other's updates and a revoked
//!   session is never re-created;
//! * a value that cannot be decoded (garbage, an older format, a key of another type) is logged
//!   and read as "no session", so the visitor gets a fresh one instead of an error.
//!
//! Requests reach it through `RequestStore` (the tower-sessions `SessionStore` of one request),
//! which knows what was loaded and therefore what changed.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use fred::{
    prelude::{HashesInterface, KeysInterface, Pool},
    types::scripts::Script,
};
use tower_sessions::session::Id;

pub use super::store_error::StoreError;
use super::{
    changes::Changes,
    expiry::ExpiryPolicy,
    live::LiveSessions,
    record::{self, Data, Meta},
    user_index::{SessionHandle, UserIndex},
};
use crate::{
    server::{
        observability::{Metrics, RedisOperation},
        redis::{Breaker, BreakerSettings, KeySpace, ReplicaWait},
    },
    shared::input::Username,
};

/// The shared store: cloning it clones one `Arc`.
#[derive(Clone)]
pub struct RedisSessionStore {
    inner: Arc<Inner>,
    wait: ReplicaWait,
}

struct Inner {
    pool: Pool,
    keys: KeySpace,
    policy: ExpiryPolicy,
    index: UserIndex,
    live: LiveSessions,
    metrics: Metrics,
    create: Script,
    save: Script,
    increment: Script,
    undecodable: AtomicU64,
    breaker: Breaker,
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
    /// A store writing sessions at [`KeySpace::session`].
    ///
    /// ```no_run
    /// # async fn example(pool: fred::prelude::Pool) {
    /// use std::time::Duration;
    /// use sessionboard::server::{redis::KeySpace, sessions::{ExpiryPolicy, RedisSessionStore}};
    ///
    /// let policy = ExpiryPolicy {
    ///     idle: Duration::from_secs(604_800),
    ///     anonymous_idle: Duration::from_secs(86_400),
    ///     absolute: Duration::from_secs(2_592_000),
    ///     refresh_fraction: 0.01,
    /// };
    /// let store = RedisSessionStore::new(pool, KeySpace::new("sessionboard:"), policy);
    /// # }
    /// ```
    pub fn new(pool: Pool, keys: KeySpace, policy: ExpiryPolicy) -> Self {
        let settings = BreakerSettings {
            command_timeout: std::time::Duration::from_millis(1500),
            failures_to_open: 3,
            probe_interval: std::time::Duration::from_millis(250),
        };
        let breaker = Breaker::new(settings, Some(pool.clone()), "Redis".into());
        Self::with_breaker(pool, keys, policy, breaker)
    }

    /// A store whose every call goes through `breaker` (the pool's, in the app).
    pub fn with_breaker(
        pool: Pool,
        keys: KeySpace,
        policy: ExpiryPolicy,
        breaker: Breaker,
    ) -> Self {
        Self::observed(pool, keys, policy, breaker, Metrics::default(), false)
    }

    /// A store whose every call goes through `breaker` and reports into `metrics`. With
    /// `owner_keys`, a signed-in session also gets a `KeySpace::session_owner` key, for the
    /// expiry-event handler (`SESSION_EXPIRY_EVENTS`).
    pub fn observed(
        pool: Pool,
        keys: KeySpace,
        policy: ExpiryPolicy,
        breaker: Breaker,
        metrics: Metrics,
        owner_keys: bool,
    ) -> Self {
        let live = LiveSessions::new(pool.clone(), &keys, &policy, &metrics);
        let index = UserIndex::new(pool.clone(), keys.clone(), policy).observed(
            metrics.clone(),
            live.clone(),
            owner_keys,
        );
        RedisSessionStore {
            inner: Arc::new(Inner {
                index,
                live,
                metrics,
                pool,
                keys,
                policy,
                create: Script::from_lua(include_str!("scripts/create.lua")),
                save: Script::from_lua(include_str!("scripts/save.lua")),
                increment: Script::from_lua(include_str!("scripts/increment.lua")),
                undecodable: AtomicU64::new(0),
                breaker,
            }),
            wait: ReplicaWait::default(),
        }
    }

    /// New sessions (a sign-in, a first visit) are answered only once `wait` is met
    /// (`REDIS_WAIT_REPLICAS`).
    pub fn with_replica_wait(mut self, wait: ReplicaWait) -> Self {
        self.wait = wait;
        self
    }

    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    pub fn keys(&self) -> &KeySpace {
        &self.inner.keys
    }

    pub fn policy(&self) -> &ExpiryPolicy {
        &self.inner.policy
    }

    /// The per-user index of signed-in sessions kept beside the sessions.
    pub fn index(&self) -> &UserIndex {
        &self.inner.index
    }

    /// The count behind the live-session gauge.
    pub fn live(&self) -> &LiveSessions {
        &self.inner.live
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The breaker every call of this store goes through.
    pub fn breaker(&self) -> &Breaker {
        &self.inner.breaker
    }

    /// The Redis key of a session.
    pub fn key(&self, id: &Id) -> String {
        self.inner.keys.session(id)
    }

    /// One `HGETALL`. `None` when there is no session, or none that can be read.
    pub async fn load(&self, id: &Id) -> Result<Option<(Meta, Data)>, StoreError> {
        let raw: Result<HashMap<String, String>, fred::error::Error> = self
            .inner
            .metrics
            .redis(
                RedisOperation::SessionLoad,
                self.inner
                    .breaker
                    .run(self.inner.pool.hgetall(self.key(id))),
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
        match record::decode(raw) {
            Ok(decoded) => Ok(Some(decoded)),
            Err(why) => {
                self.report_undecodable(why.reason());
                Ok(None)
            }
        }
    }

    /// Stores a new session and, when it is signed in, its entry in the user's index. A taken id
    /// (vanishingly rare) is replaced by a fresh one, so `id` may change.
    pub async fn create(&self, id: &mut Id, meta: &Meta, data: &Data) -> Result<(), StoreError> {
        let breaker = self.inner.breaker.clone();
        breaker.run(self.create_unguarded(id, meta, data)).await
    }

    async fn create_unguarded(
        &self,
        id: &mut Id,
        meta: &Meta,
        data: &Data,
    ) -> Result<(), StoreError> {
        let deadline = self
            .inner
            .policy
            .for_session(meta.signed_in.is_some())
            .deadline(meta.refreshed_at, meta.absolute_deadline);
        let mut args = Vec::with_capacity(1 + 2 * (data.len() + 7));
        args.push(deadline.to_string());
        for (field, value) in meta.fields() {
            args.push(field.to_string());
            args.push(value);
        }
        for (key, value) in data {
            args.push(record::data_field(key));
            args.push(serde_json::to_string(value)?);
        }
        let client = self.inner.pool.next();
        loop {
            let created: i64 = self
                .inner
                .metrics
                .redis(
                    RedisOperation::SessionCreate,
                    self.inner
                        .create
                        .evalsha_with_reload(client, self.key(id), args.clone()),
                )
                .await?;
            if created == 1 {
                break;
            }
            *id = Id::default();
        }
        self.wait.after_write(client, &self.key(id)).await?;
        self.inner
            .live
            .record(SessionHandle::of(id).to_string(), deadline, false);
        // The record first, then its entry: an entry whose record is missing is pruned when the
        // list is read, while a record without an entry could not be signed out from elsewhere.
        if let Some(signed_in) = &meta.signed_in {
            self.inner.index.add(id, signed_in).await?;
        }
        Ok(())
    }

    /// Applies one request's changes. `false` when the session no longer exists (it is not
    /// re-created).
    pub async fn save(&self, id: &Id, changes: &Changes) -> Result<bool, StoreError> {
        let mut args = Vec::with_capacity(6 + 2 * changes.set.len() + changes.delete.len());
        args.push(record::meta::REFRESHED_AT.to_string());
        args.push(record::meta::ABSOLUTE_DEADLINE.to_string());
        args.push(optional(changes.refreshed_at));
        let policy = self.inner.policy.for_session(changes.signed_in);
        args.push(policy.idle_ms().to_string());
        args.push(optional(changes.absolute_cap));
        args.push(changes.set.len().to_string());
        for (field, value) in &changes.set {
            args.push(field.clone());
            args.push(value.clone());
        }
        args.extend(changes.delete.iter().cloned());
        let save = self.inner.breaker.run(self.inner.save.evalsha_with_reload(
            self.inner.pool.next(),
            self.key(id),
            args,
        ));
        let saved: i64 = self
            .inner
            .metrics
            .redis(RedisOperation::SessionSave, save)
            .await?;
        Ok(saved == 1)
    }

    /// Deletes a session's record, then its entry in its user's index.
    pub async fn delete(&self, id: &Id, user: Option<&Username>) -> Result<(), StoreError> {
        self.inner
            .metrics
            .redis(
                RedisOperation::SessionDelete,
                self.inner.breaker.run(self.delete_unguarded(id, user)),
            )
            .await
    }

    async fn delete_unguarded(&self, id: &Id, user: Option<&Username>) -> Result<(), StoreError> {
        let _: i64 = self.inner.pool.del(self.key(id)).await?;
        self.inner
            .live
            .remove(vec![SessionHandle::of(id).to_string()]);
        if let Some(user) = user {
            self.inner
                .index
                .remove(user, &SessionHandle::of(id))
                .await?;
        }
        Ok(())
    }

    /// Adds `amount` to an integer data key of an existing session; `None` when the session no
    /// longer exists (it is never re-created as a half record).
    pub async fn increment(
        &self,
        id: &Id,
        key: &str,
        amount: i64,
    ) -> Result<Option<i64>, StoreError> {
        let increment = self.inner.increment.evalsha_with_reload(
            self.inner.pool.next(),
            self.key(id),
            vec![record::data_field(key), amount.to_string()],
        );
        let value: Option<i64> = self
            .inner
            .metrics
            .redis(
                RedisOperation::SessionIncrement,
                self.inner.breaker.run(increment),
            )
            .await?;
        Ok(value)
    }

    /// How many records could not be decoded since start (for tests and logs).
    pub fn undecodable_count(&self) -> u64 {
        self.inner.undecodable.load(Ordering::Relaxed)
    }

    /// Logs an undecodable record: the first one, then every 100th, so bad data cannot flood
    /// the log. The key is not logged: it contains the session id.
    fn report_undecodable(&self, reason: &str) {
        let seen = self.inner.undecodable.fetch_add(1, Ordering::Relaxed);
        if seen.is_multiple_of(100) {
            tracing::warn!(
                reason,
                undecodable_so_far = seen + 1,
                "session record cannot be decoded; treating it as no session"
            );
        }
    }
}

fn optional(ms: Option<i64>) -> String {
    ms.map(|ms| ms.to_string()).unwrap_or_default()
}

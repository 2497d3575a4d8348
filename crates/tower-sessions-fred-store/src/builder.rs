//! [`StoreBuilder`]: every setting of a [`RedisSessionStore`], with defaults.

use std::{sync::Arc, time::Duration};

use fred::prelude::Pool;
use serde::de::DeserializeOwned;

use crate::{
    durability::ReplicaWait,
    expiry::ExpiryPolicy,
    keys::SessionKeys,
    near_cache::{NearCache, NearCacheSettings},
    observer::NoObserver,
    record::{self, Admits},
    store::Inner,
    user_index::UserIndex,
    writes::Scripts,
    Breaker, BreakerSettings, RedisSessionStore, StoreObserver,
};

/// Builds a [`RedisSessionStore`]; from [`RedisSessionStore::builder`].
///
/// ```no_run
/// # async fn example(pool: fred::prelude::Pool) {
/// use std::time::Duration;
/// use tower_sessions_fred_store::{BreakerSettings, RedisSessionStore};
///
/// let store = RedisSessionStore::builder(pool)
///     .key_prefix("myapp:")
///     .idle_timeout(Duration::from_secs(7 * 86_400))
///     .anonymous_idle_timeout(Duration::from_secs(86_400))
///     .absolute_timeout(Duration::from_secs(30 * 86_400))
///     .refresh_fraction(0.01)
///     .breaker(BreakerSettings::default().command_timeout(Duration::from_millis(1500)))
///     .wait_for_replicas(1, Duration::from_millis(1500))
///     .typed_key::<i64>("counter")
///     .build();
/// # }
/// ```
#[must_use]
pub struct StoreBuilder {
    pool: Pool,
    prefix: String,
    policy: ExpiryPolicy,
    breaker: Option<Breaker>,
    breaker_settings: BreakerSettings,
    wait: ReplicaWait,
    observer: Arc<dyn StoreObserver>,
    owner_keys: bool,
    last_writer_wins: bool,
    typed: Vec<(String, Admits)>,
    near_cache: Option<NearCacheSettings>,
}

impl StoreBuilder {
    pub(crate) fn new(pool: Pool) -> Self {
        StoreBuilder {
            pool,
            prefix: String::new(),
            policy: ExpiryPolicy::default(),
            breaker: None,
            breaker_settings: BreakerSettings::default(),
            wait: ReplicaWait::default(),
            observer: Arc::new(NoObserver),
            owner_keys: false,
            last_writer_wins: false,
            typed: Vec::new(),
            near_cache: None,
        }
    }

    /// Every key starts with `prefix` (default: none).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// A signed-in session ends this long after its last activity (default 7 days). Under the
    /// stock `SessionManagerLayer` the layer's `Expiry` decides instead, capped by the absolute
    /// timeout.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.policy.idle = idle;
        self
    }

    /// An anonymous session ends this long after its last activity (default 1 day; never longer
    /// than the idle timeout). Under the stock `SessionManagerLayer` the layer's `Expiry` decides
    /// instead, capped by the absolute timeout.
    pub fn anonymous_idle_timeout(mut self, idle: Duration) -> Self {
        self.policy.anonymous_idle = idle;
        self
    }

    /// Every session ends this long after it began or signed in, however active (default 30
    /// days).
    pub fn absolute_timeout(mut self, absolute: Duration) -> Self {
        self.policy.absolute = absolute;
        self
    }

    /// Activity moves the idle deadline only when it would move by more than this fraction of
    /// the idle timeout (default 0.01), so most read-only requests write nothing. A move onto
    /// the absolute deadline is always made, so an active session lasts until its absolute
    /// limit. Under the stock layer every save moves it.
    pub fn refresh_fraction(mut self, fraction: f64) -> Self {
        self.policy.refresh_fraction = fraction.clamp(0.0, 1.0);
        self
    }

    /// The store's own breaker decides with these settings (default:
    /// [`BreakerSettings::default`]). Share it with your other Redis calls through
    /// [`RedisSessionStore::breaker`].
    pub fn breaker(mut self, settings: BreakerSettings) -> Self {
        self.breaker_settings = settings;
        self.breaker = None;
        self
    }

    /// Goes through `breaker`, made elsewhere and shared with other Redis calls, instead of one
    /// of its own: its settings apply, and it opens and closes for them all.
    pub fn shared_breaker(mut self, breaker: Breaker) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// A new session (a first visit, a sign-in) is acknowledged only once `replicas` replicas
    /// have it, waiting at most `timeout` (default: no wait). Redis' `WAIT` is best effort: it
    /// narrows the window in which a master crash loses a new session, and cannot close it.
    pub fn wait_for_replicas(mut self, replicas: u32, timeout: Duration) -> Self {
        self.wait = ReplicaWait { replicas, timeout };
        self
    }

    /// Hears what the store does (default: nothing does).
    pub fn observer(mut self, observer: Arc<dyn StoreObserver>) -> Self {
        self.observer = observer;
        self
    }

    /// A signed-in session also gets an owner key (`<prefix>session-owner:{<id>}`), so that
    /// whoever handles its expiry event can remove it from the user's index
    /// ([`UserIndex::prune_expired`]).
    pub fn owner_keys(mut self, on: bool) -> Self {
        self.owner_keys = on;
        self
    }

    /// Under [`crate::SessionLayer`], a save whose key another request changed meanwhile is
    /// written anyway (the last writer wins that key) instead of being refused with 409
    /// `session_conflict`. Default: refused.
    pub fn last_writer_wins(mut self, on: bool) -> Self {
        self.last_writer_wins = on;
        self
    }

    /// The application reads `key` as a `T`: a stored record where it holds something else reads
    /// as no session, and a handler storing something else is refused, so no handler ever meets
    /// a value it cannot read.
    pub fn typed_key<T: DeserializeOwned>(mut self, key: impl Into<String>) -> Self {
        self.typed.push((key.into(), record::admits::<T>));
        self
    }

    /// Keeps session records in this process, kept correct by Redis' client tracking (default:
    /// off; needs Redis 6 or later). Call [`RedisSessionStore::start_near_cache`] once the pool
    /// (RESP3) is connected; a read of an unchanged session then costs no Redis command, and a
    /// change made anywhere is seen here as soon as Redis' invalidation arrives.
    pub fn near_cache(mut self, settings: NearCacheSettings) -> Self {
        self.near_cache = Some(settings);
        self
    }

    /// The store. Nothing is sent to Redis until the first call.
    pub fn build(self) -> RedisSessionStore {
        let keys = SessionKeys::new(&self.prefix);
        let breaker = self.breaker.unwrap_or_else(|| {
            Breaker::new(
                self.breaker_settings,
                Some(self.pool.clone()),
                "Redis".into(),
            )
        });
        let near_cache = self
            .near_cache
            .map(|settings| Arc::new(NearCache::new(settings)));
        let index = UserIndex::new(
            self.pool.clone(),
            keys.clone(),
            self.policy,
            self.observer.clone(),
            self.owner_keys,
            breaker.clone(),
        )
        .forgetting_in(near_cache.clone());
        RedisSessionStore {
            inner: Arc::new(Inner {
                pool: self.pool,
                keys,
                policy: self.policy,
                index,
                observer: self.observer,
                typed: self.typed.into(),
                scripts: Scripts::default(),
                undecodable: Default::default(),
                breaker,
                wait: self.wait,
                last_writer_wins: self.last_writer_wins,
                near_cache,
            }),
        }
    }
}

//! [`StoreBuilder`]: every setting of a [`RedisSessionStore`], with defaults.

use std::{sync::Arc, time::Duration};

use fred::prelude::Pool;

use crate::{
    near_cache::{NearCache, NearCacheSettings},
    record::ValueKind,
    store::Inner,
    writes::Scripts,
    Breaker, BreakerSettings, ExpiryPolicy, NoObserver, RedisSessionStore, ReplicaWait,
    SessionKeys, StoreObserver, UserIndex,
};

/// Builds a [`RedisSessionStore`]; from [`RedisSessionStore::builder`].
///
/// ```no_run
/// # async fn example(pool: fred::prelude::Pool) {
/// use std::time::Duration;
/// use tower_sessions_fred_store::{RedisSessionStore, ValueKind};
///
/// let store = RedisSessionStore::builder(pool)
///     .key_prefix("myapp:")
///     .idle_timeout(Duration::from_secs(7 * 86_400))
///     .anonymous_idle_timeout(Duration::from_secs(86_400))
///     .absolute_timeout(Duration::from_secs(30 * 86_400))
///     .refresh_fraction(0.01)
///     .command_timeout(Duration::from_millis(1500))
///     .breaker_failures_to_open(3)
///     .breaker_probe_interval(Duration::from_millis(250))
///     .wait_for_replicas(1, Duration::from_millis(1500))
///     .typed_key("counter", ValueKind::Integer)
///     .build();
/// # }
/// ```
#[must_use]
pub struct StoreBuilder {
    pool: Pool,
    prefix: String,
    policy: ExpiryPolicy,
    breaker_settings: BreakerSettings,
    breaker: Option<Breaker>,
    wait: ReplicaWait,
    observer: Arc<dyn StoreObserver>,
    owner_keys: bool,
    typed: Vec<(String, ValueKind)>,
    near_cache: Option<NearCacheSettings>,
}

impl StoreBuilder {
    pub(crate) fn new(pool: Pool) -> Self {
        StoreBuilder {
            pool,
            prefix: String::new(),
            policy: ExpiryPolicy::default(),
            breaker_settings: BreakerSettings::default(),
            breaker: None,
            wait: ReplicaWait::default(),
            observer: Arc::new(NoObserver),
            owner_keys: false,
            typed: Vec::new(),
            near_cache: None,
        }
    }

    /// Every key starts with `prefix` (default: none).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// A signed-in session ends this long after its last activity (default 7 days).
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.policy.idle = idle;
        self
    }

    /// An anonymous session ends this long after its last activity (default 1 day; never longer
    /// than the idle timeout). Under the stock layer the key's deadline is the layer's `Expiry`
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
    /// the idle timeout (default 0.01), so most read-only requests write nothing.
    pub fn refresh_fraction(mut self, fraction: f64) -> Self {
        self.policy.refresh_fraction = fraction.clamp(0.0, 1.0);
        self
    }

    /// All four deadlines settings at once.
    pub fn expiry(mut self, policy: ExpiryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// No call waits longer than this for Redis (default 1.5 s).
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.breaker_settings.command_timeout = timeout;
        self
    }

    /// The breaker opens after this many timed-out calls in a row (default 3).
    pub fn breaker_failures_to_open(mut self, failures: u32) -> Self {
        self.breaker_settings.failures_to_open = failures.max(1);
        self
    }

    /// While open on a connection that stays up, one call probes this often (default 250 ms).
    pub fn breaker_probe_interval(mut self, interval: Duration) -> Self {
        self.breaker_settings.probe_interval = interval;
        self
    }

    /// Shares `breaker` (its own settings apply) instead of building one from the settings
    /// above: the application's other Redis calls then open and close it too.
    pub fn breaker(mut self, breaker: Breaker) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// A new session (a first visit, a sign-in) is acknowledged only once `replicas` replicas
    /// hold it, waiting at most `timeout` (default: no wait).
    pub fn wait_for_replicas(mut self, replicas: u32, timeout: Duration) -> Self {
        self.wait = ReplicaWait { replicas, timeout };
        self
    }

    /// Hears what the store does (default: nothing does).
    pub fn observer(mut self, observer: Arc<dyn StoreObserver>) -> Self {
        self.observer = observer;
        self
    }

    /// A signed-in session also gets a [`SessionKeys::session_owner`] key, so that whoever
    /// handles its expiry event can remove it from the user's index ([`UserIndex::prune_expired`]).
    pub fn owner_keys(mut self, on: bool) -> Self {
        self.owner_keys = on;
        self
    }

    /// The application reads `key` as `kind`: a stored record where it has another type reads as
    /// no session, and a handler storing another type is refused.
    pub fn typed_key(mut self, key: impl Into<String>, kind: ValueKind) -> Self {
        self.typed.push((key.into(), kind));
        self
    }

    /// Keeps session records in this process, kept correct by Redis' client tracking (default:
    /// off). Call [`RedisSessionStore::start_near_cache`] once the pool (RESP3) is connected; a
    /// read of an unchanged session then costs no Redis command, and a change made anywhere is
    /// seen here as soon as Redis' invalidation arrives (loopback: well under a millisecond).
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
                near_cache,
            }),
        }
    }
}

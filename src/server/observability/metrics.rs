//! The app's Prometheus metrics, on a registry of its own (prometheus-client): no process-global
//! recorder, so several apps in one process (the tests) each count only their own requests.
//!
//! Every label takes its values from a bounded set: route patterns (never raw paths), HTTP
//! methods and statuses, and the fixed names below.

use std::{fmt, future::Future, sync::Arc, time::Instant};

use tower_sessions_fred_store::NearCacheStats;

use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet, EncodeLabelValue, LabelValueEncoder},
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use super::{
    http_routes::{HttpRoutes, InstalledRoutes},
    redis_timings::{RedisOperation, RedisTimings},
};

/// Why a session ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum EndReason {
    SignedOut,
    Revoked,
    Forgotten,
    Expired,
}

impl EndReason {
    const ALL: [EndReason; 4] = [
        EndReason::SignedOut,
        EndReason::Revoked,
        EndReason::Forgotten,
        EndReason::Expired,
    ];
}

impl EncodeLabelValue for EndReason {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        let name = match self {
            EndReason::SignedOut => "signed_out",
            EndReason::Revoked => "revoked",
            EndReason::Forgotten => "forgotten",
            EndReason::Expired => "expired",
        };
        EncodeLabelValue::encode(&name, encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: EndReason,
}

/// How a sign-in attempt ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum LoginResult {
    Ok,
    Invalid,
    Limited,
}

impl LoginResult {
    const ALL: [LoginResult; 3] = [LoginResult::Ok, LoginResult::Invalid, LoginResult::Limited];
}

impl EncodeLabelValue for LoginResult {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        let name = match self {
            LoginResult::Ok => "ok",
            LoginResult::Invalid => "invalid",
            LoginResult::Limited => "limited",
        };
        EncodeLabelValue::encode(&name, encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: LoginResult,
}

/// Why a request was refused before any session work.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Refusal {
    CrossSite,
    HostNotAllowed,
}

impl Refusal {
    const ALL: [Refusal; 2] = [Refusal::CrossSite, Refusal::HostNotAllowed];
}

impl EncodeLabelValue for Refusal {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
        let name = match self {
            Refusal::CrossSite => "cross_site",
            Refusal::HostNotAllowed => "host_not_allowed",
        };
        EncodeLabelValue::encode(&name, encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabel {
    reason: Refusal,
}

/// Cheap to clone (one `Arc`); every handle inside counts into this app's registry.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    /// Off (`METRICS_ENABLED=false`): requests and Redis calls are not timed.
    enabled: bool,
    registry: Registry,
    /// Requests by route: filled in when the router is built.
    http_routes: InstalledRoutes,
    redis_timings: Arc<RedisTimings>,
    redis_up: Gauge,
    sessions_created: Counter,
    sessions_ended: Family<ReasonLabel, Counter>,
    sessions_live: Gauge,
    logins: Family<ResultLabel, Counter>,
    registrations: Counter,
    refused: Family<RefusalLabel, Counter>,
    near_cache: NearCacheMetrics,
}

/// The session near cache's own counts, copied from the store at each scrape.
#[derive(Default)]
struct NearCacheMetrics {
    hits: Counter,
    misses: Counter,
    dropped: Counter,
    entries: Gauge,
}

impl NearCacheMetrics {
    fn registered_in(registry: &mut Registry) -> NearCacheMetrics {
        let metrics = NearCacheMetrics::default();
        for (name, help, counter) in [
            ("hits", "Session reads answered from this instance's memory", &metrics.hits),
            ("misses", "Session reads that went to Redis", &metrics.misses),
            ("dropped", "Times the whole near cache was dropped (a lost connection, a flush, a missed heartbeat)", &metrics.dropped),
        ] {
            registry.register(format!("session_near_cache_{name}"), help, counter.clone());
        }
        registry.register(
            "session_near_cache_entries",
            "Sessions held in this instance's memory (as of the last scrape)",
            metrics.entries.clone(),
        );
        metrics
    }
}

impl Default for Metrics {
    /// Metrics nobody scrapes (a store built outside an app, say).
    fn default() -> Self {
        Metrics::new(Counter::default())
    }
}

impl Metrics {
    /// `redis_reconnects` is the counter the Redis pool's connection watcher increments.
    pub fn new(redis_reconnects: Counter) -> Metrics {
        let mut registry = Registry::with_prefix("sessionboard");
        let http_routes = InstalledRoutes::default();
        let redis_timings = Arc::new(RedisTimings::default());
        let (redis_up, sessions_live) = (Gauge::default(), Gauge::default());
        let (sessions_created, registrations) = (Counter::default(), Counter::default());
        let sessions_ended = Family::<ReasonLabel, Counter>::default();
        let logins = Family::<ResultLabel, Counter>::default();
        let refused = Family::<RefusalLabel, Counter>::default();
        // Every label value known up front reads 0 from the first scrape: a series that only
        // appears with its first event hides that event from `rate()` and from alerts on it.
        for reason in EndReason::ALL {
            drop(sessions_ended.get_or_create(&ReasonLabel { reason }));
        }
        for result in LoginResult::ALL {
            drop(logins.get_or_create(&ResultLabel { result }));
        }
        for reason in Refusal::ALL {
            drop(refused.get_or_create(&RefusalLabel { reason }));
        }
        let r = &mut registry;
        r.register_collector(Box::new(http_routes.clone()));
        r.register_collector(Box::new(redis_timings.clone()));
        r.register(
            "redis_up",
            "1 while the pool is connected to Redis",
            redis_up.clone(),
        );
        r.register(
            "redis_reconnects",
            "Pooled Redis connections re-established after a loss",
            redis_reconnects,
        );
        r.register(
            "sessions_created",
            "Sessions created",
            sessions_created.clone(),
        );
        r.register(
            "sessions_ended",
            "Sessions ended, by reason",
            sessions_ended.clone(),
        );
        r.register(
            "sessions_live",
            "Sessions whose deadline has not passed (as of the last scrape)",
            sessions_live.clone(),
        );
        r.register("logins", "Sign-in attempts, by result", logins.clone());
        r.register(
            "registrations",
            "Accounts registered",
            registrations.clone(),
        );
        r.register(
            "requests_refused",
            "Requests refused before any session work, by reason",
            refused.clone(),
        );
        let near_cache = NearCacheMetrics::registered_in(r);
        Metrics(Arc::new(Inner {
            enabled: true,
            registry,
            http_routes,
            redis_timings,
            redis_up,
            sessions_created,
            sessions_ended,
            sessions_live,
            logins,
            registrations,
            refused,
            near_cache,
        }))
    }

    /// Metrics that time nothing (`METRICS_ENABLED=false`); the counters still count, unserved.
    pub fn off() -> Metrics {
        let mut metrics = Metrics::default();
        if let Some(inner) = Arc::get_mut(&mut metrics.0) {
            inner.enabled = false;
        }
        metrics
    }

    /// Whether requests and Redis calls are timed (and `/metrics` served).
    pub fn enabled(&self) -> bool {
        self.0.enabled
    }

    /// The table requests are counted in, one entry per route pattern in `routes` (called
    /// once, when the router is built; a second call gets the first table).
    pub fn http_routes(&self, routes: impl FnOnce() -> Vec<&'static str>) -> Arc<HttpRoutes> {
        self.0.http_routes.install(routes)
    }

    /// Runs one Redis operation and records how long it took, whatever its outcome.
    pub async fn redis<T>(&self, operation: RedisOperation, run: impl Future<Output = T>) -> T {
        if !self.0.enabled {
            return run.await;
        }
        let started = Instant::now();
        let outcome = run.await;
        self.redis_observed(operation, started.elapsed());
        outcome
    }

    /// Records one Redis operation someone else timed (the session store's observer).
    pub fn redis_observed(&self, operation: RedisOperation, elapsed: std::time::Duration) {
        if self.0.enabled {
            self.0.redis_timings.of(operation).observe(elapsed);
        }
    }

    pub fn session_created(&self) {
        self.0.sessions_created.inc();
    }

    pub fn sessions_ended(&self, reason: EndReason, count: u64) {
        self.0
            .sessions_ended
            .get_or_create(&ReasonLabel { reason })
            .inc_by(count);
    }

    pub fn login(&self, result: LoginResult) {
        self.0.logins.get_or_create(&ResultLabel { result }).inc();
    }

    pub fn registered(&self) {
        self.0.registrations.inc();
    }

    /// The counter of one kind of refusal, to keep and count into without the family's lock:
    /// refusals come as fast as anyone cares to send them.
    pub fn refusals(&self, reason: Refusal) -> Counter {
        self.0
            .refused
            .get_or_create(&RefusalLabel { reason })
            .clone()
    }

    /// The scrape-time readings: the pool's connection state and the live-session count (`None`
    /// when it could not be read: the gauge keeps its last value rather than pretend zero).
    pub fn set_readings(&self, redis_up: bool, live_sessions: Option<u64>) {
        self.0.redis_up.set(i64::from(redis_up));
        if let Some(live) = live_sessions {
            self.0
                .sessions_live
                .set(i64::try_from(live).unwrap_or(i64::MAX));
        }
    }

    /// The near cache's counts as the store keeps them (none when it is off).
    pub fn set_near_cache(&self, stats: Option<NearCacheStats>) {
        let (Some(stats), metrics) = (stats, &self.0.near_cache) else {
            return;
        };
        // The store's counts only grow: each counter takes what it has not seen yet.
        for (counter, total) in [
            (&metrics.hits, stats.hits),
            (&metrics.misses, stats.misses),
            (&metrics.dropped, stats.dropped),
        ] {
            counter.inc_by(total.saturating_sub(counter.get()));
        }
        metrics
            .entries
            .set(i64::try_from(stats.entries).unwrap_or(i64::MAX));
    }

    /// The text exposition (OpenMetrics, which Prometheus reads).
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.0.registry);
        text
    }
}

/// The media type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

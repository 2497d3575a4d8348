//! The app's Prometheus metrics, on a registry of its own (prometheus-client): no process-global
//! recorder, so several apps in one process (the tests) each count only their own requests.
//!
//! Every label takes its values from a bounded set: route patterns (never raw paths), HTTP
//! methods and statuses, and the fixed names below.

use std::{
    fmt,
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::http::Method;
use prometheus_client::{
    encoding::{
        text::{encode_eof, encode_registry},
        EncodeLabelSet, EncodeLabelValue, LabelValueEncoder,
    },
    metrics::{
        counter::{ConstCounter, Counter},
        family::Family,
        gauge::{ConstGauge, Gauge},
        histogram::{exponential_buckets, Histogram},
    },
    registry::Registry,
};
use tower_sessions_fred_store::NearCacheStats;

/// An enum whose variants are a label's values, with their names in the exposition.
macro_rules! label_values {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $label:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
        pub enum $name {
            $($variant,)*
        }

        impl $name {
            #[allow(dead_code)] // not every family makes its series up front
            const ALL: &'static [$name] = &[$($name::$variant,)*];
        }

        impl EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> fmt::Result {
                let name = match self {
                    $($name::$variant => $label,)*
                };
                EncodeLabelValue::encode(&name, encoder)
            }
        }
    };
}

label_values! {
    /// Why a session ended.
    EndReason {
        SignedOut => "signed_out",
        Revoked => "revoked",
        Forgotten => "forgotten",
        Expired => "expired",
    }
}

label_values! {
    /// How a sign-in attempt ended.
    LoginResult {
        Ok => "ok",
        Invalid => "invalid",
        Limited => "limited",
    }
}

label_values! {
    /// Why a request was refused before any session work.
    Refusal {
        CrossSite => "cross_site",
        HostNotAllowed => "host_not_allowed",
    }
}

label_values! {
    /// One round trip or script of the app's, named in the `operation` label.
    RedisOperation {
        SessionLoad => "session_load",
        SessionCreate => "session_create",
        SessionSave => "session_save",
        SessionDelete => "session_delete",
        SessionIncrement => "session_increment",
        IndexAdd => "index_add",
        IndexRemove => "index_remove",
        IndexList => "index_list",
        IndexPruneExpired => "index_prune_expired",
        IndexRevoke => "index_revoke",
        IndexRevokeAll => "index_revoke_all",
        LiveSessionsCount => "live_sessions_count",
        AccountCreate => "account_create",
        AccountRead => "account_read",
        AccountSetPassword => "account_set_password",
        AccountMarkUsed => "account_mark_used",
        LoginAttempt => "login_attempt",
        LoginSucceeded => "login_succeeded",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: RedisOperation,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: EndReason,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: LoginResult,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabel {
    reason: Refusal,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// The standard methods by name; any other is `other`, so a client cannot add series.
static METHODS: [Method; 9] = [
    Method::GET,
    Method::POST,
    Method::HEAD,
    Method::PUT,
    Method::DELETE,
    Method::OPTIONS,
    Method::PATCH,
    Method::CONNECT,
    Method::TRACE,
];

/// Cheap to clone (one `Arc`); every handle inside counts into this app's registry.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    /// Off (`METRICS_ENABLED=false`): requests and Redis calls are not timed.
    enabled: bool,
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_durations: Histograms<RouteLabel>,
    redis_durations: Histograms<OperationLabel>,
    redis_up: Gauge,
    sessions_created: Counter,
    sessions_ended: Family<ReasonLabel, Counter>,
    sessions_live: Gauge,
    logins: Family<ResultLabel, Counter>,
    registrations: Counter,
    refused: Family<RefusalLabel, Counter>,
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
        let mut m = Inner {
            enabled: true,
            registry: Registry::with_prefix("sessionboard"),
            http_requests: Family::default(),
            // 1 ms … ~4 s: page renders and Argon2 sign-ins included.
            http_durations: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 13))
            }),
            // 100 µs … ~1.6 s: a loopback round trip up to the command timeout.
            redis_durations: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0001, 2.0, 15))
            }),
            redis_up: Gauge::default(),
            sessions_created: Counter::default(),
            sessions_ended: Family::default(),
            sessions_live: Gauge::default(),
            logins: Family::default(),
            registrations: Counter::default(),
            refused: Family::default(),
        };
        // Every label value known up front reads 0 from the first scrape: a series that only
        // appears with its first event hides that event from `rate()` and from alerts on it.
        for &reason in EndReason::ALL {
            drop(m.sessions_ended.get_or_create(&ReasonLabel { reason }));
        }
        for &result in LoginResult::ALL {
            drop(m.logins.get_or_create(&ResultLabel { result }));
        }
        for &reason in Refusal::ALL {
            drop(m.refused.get_or_create(&RefusalLabel { reason }));
        }
        let r = &mut m.registry;
        r.register(
            "http_requests",
            "HTTP requests answered",
            m.http_requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route pattern",
            m.http_durations.clone(),
        );
        r.register(
            "redis_command_duration_seconds",
            "Time of the app's Redis operations (one round trip or script each), by operation",
            m.redis_durations.clone(),
        );
        let up = "1 while the pool is connected to Redis";
        r.register("redis_up", up, m.redis_up.clone());
        let reconnects = "Pooled Redis connections re-established after a loss";
        r.register("redis_reconnects", reconnects, redis_reconnects);
        let created = m.sessions_created.clone();
        r.register("sessions_created", "Sessions created", created);
        let ended = m.sessions_ended.clone();
        r.register("sessions_ended", "Sessions ended, by reason", ended);
        r.register(
            "sessions_live",
            "Sessions whose deadline has not passed (as of the last scrape)",
            m.sessions_live.clone(),
        );
        r.register("logins", "Sign-in attempts, by result", m.logins.clone());
        let registered = m.registrations.clone();
        r.register("registrations", "Accounts registered", registered);
        r.register(
            "requests_refused",
            "Requests refused before any session work, by reason",
            m.refused.clone(),
        );
        Metrics(Arc::new(m))
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

    /// One answered request, under its route pattern.
    pub fn http_answered(&self, route: &'static str, method: &Method, status: u16, took: Duration) {
        let method = METHODS
            .iter()
            .find(|known| *known == method)
            .map_or("other", Method::as_str);
        let labels = HttpLabels {
            route,
            method,
            status,
        };
        self.0.http_requests.get_or_create(&labels).inc();
        let route = RouteLabel { route };
        let durations = self.0.http_durations.get_or_create(&route);
        durations.observe(took.as_secs_f64());
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
    pub fn redis_observed(&self, operation: RedisOperation, elapsed: Duration) {
        if self.0.enabled {
            let label = OperationLabel { operation };
            let durations = self.0.redis_durations.get_or_create(&label);
            durations.observe(elapsed.as_secs_f64());
        }
    }

    pub fn session_created(&self) {
        self.0.sessions_created.inc();
    }

    pub fn sessions_ended(&self, reason: EndReason, count: u64) {
        let label = ReasonLabel { reason };
        self.0.sessions_ended.get_or_create(&label).inc_by(count);
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
        self.0.refused.get_or_create_owned(&RefusalLabel { reason })
    }

    /// The scrape-time readings: the pool's connection state and the live-session count (`None`
    /// when it could not be read: the gauge keeps its last value rather than pretend zero).
    pub fn set_readings(&self, redis_up: bool, live_sessions: Option<u64>) {
        self.0.redis_up.set(i64::from(redis_up));
        if let Some(live) = live_sessions {
            let live = i64::try_from(live).unwrap_or(i64::MAX);
            self.0.sessions_live.set(live);
        }
    }

    /// The text exposition (OpenMetrics, which Prometheus reads), with the near cache's figures
    /// as the store reports them at this scrape (none when it is off).
    pub fn encode(&self, near_cache: Option<NearCacheStats>) -> String {
        let mut text = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail.
        let _ = encode_registry(&mut text, &self.0.registry);
        if let Some(stats) = near_cache {
            let _ = encode_registry(&mut text, &near_cache_figures(stats));
        }
        let _ = encode_eof(&mut text);
        text
    }
}

/// The store's own cumulative counts, read at scrape time: a registry made for one scrape, so
/// two scrapes at once each report what the store says rather than add to counters of ours.
fn near_cache_figures(stats: NearCacheStats) -> Registry {
    let mut registry = Registry::with_prefix("sessionboard_session_near_cache");
    for (name, help, total) in [
        ("hits", "Session reads answered from this instance's memory", stats.hits),
        ("misses", "Session reads that went to Redis", stats.misses),
        (
            "dropped",
            "Times the whole near cache was dropped (a lost connection, a flush, a missed heartbeat)",
            stats.dropped,
        ),
    ] {
        registry.register(name, help, ConstCounter::new(total));
    }
    let entries = i64::try_from(stats.entries).unwrap_or(i64::MAX);
    let help = "Sessions held in this instance's memory";
    registry.register("entries", help, ConstGauge::new(entries));
    registry
}

/// The media type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'t>(text: &'t str, series: &str) -> Option<&'t str> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
    }

    #[test]
    fn requests_are_counted_and_timed_by_route_with_odd_methods_as_other() {
        let metrics = Metrics::default();
        let took = Duration::from_micros(1500);
        metrics.http_answered("/a", &Method::GET, 200, took);
        metrics.http_answered("/a", &Method::GET, 200, took);
        let brew = Method::from_bytes(b"BREW").expect("a method");
        metrics.http_answered("/a", &brew, 405, took);
        let text = metrics.encode(None);
        let counted = r#"sessionboard_http_requests_total{route="/a",method="GET",status="200"}"#;
        assert_eq!(sample(&text, counted), Some("2"), "{text}");
        let other = r#"sessionboard_http_requests_total{route="/a",method="other",status="405"}"#;
        assert_eq!(sample(&text, other), Some("1"), "{text}");
        for (series, value) in [
            (r#"_bucket{le="0.001",route="/a"}"#, "0"),
            (r#"_bucket{le="0.002",route="/a"}"#, "3"),
            (r#"_bucket{le="+Inf",route="/a"}"#, "3"),
            (r#"_count{route="/a"}"#, "3"),
        ] {
            let series = format!("sessionboard_http_request_duration_seconds{series}");
            assert_eq!(sample(&text, &series), Some(value), "{series}:\n{text}");
        }
    }

    #[test]
    fn near_cache_figures_are_the_stores_own_however_often_scraped() {
        let metrics = Metrics::default();
        let mut stats = NearCacheStats::default();
        stats.hits = 5;
        stats.entries = 2;
        for _ in 0..3 {
            let text = metrics.encode(Some(stats));
            let hits = sample(&text, "sessionboard_session_near_cache_hits_total");
            assert_eq!(hits, Some("5"), "{text}");
            let entries = sample(&text, "sessionboard_session_near_cache_entries");
            assert_eq!(entries, Some("2"), "{text}");
            assert!(text.ends_with("# EOF\n"), "{text}");
        }
        let off = metrics.encode(None);
        assert!(!off.contains("near_cache"), "{off}");
    }
}

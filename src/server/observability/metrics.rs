//! The app's Prometheus metrics, on a registry of its own (prometheus-client): no process-global
//! recorder, so several apps in one process (the tests) each count only their own requests.
//!
//! Every label takes its values from a bounded set: route patterns (never raw paths), HTTP
//! methods and statuses, and the fixed names below.

use std::{
    fmt,
    future::Future,
    hash::Hash,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::http::Method;
use prometheus_client::{
    encoding::{
        text::{encode_eof, encode_registry},
        EncodeLabelSet, LabelSetEncoder,
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

/// Enums whose variants are the values of one label each, and the label set of that label.
macro_rules! label_values {
    ($($(#[$doc:meta])* $name:ident as $key:ident { $($variant:ident => $value:literal,)* })*) => {
        $($(#[$doc])*
        #[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
        pub enum $name {
            $($variant,)*
        }

        impl $name {
            #[allow(dead_code)] // not every family has its series at 0 from the start
            const ALL: &'static [$name] = &[$($name::$variant,)*];
        }

        impl EncodeLabelSet for $name {
            fn encode(&self, encoder: &mut LabelSetEncoder) -> fmt::Result {
                let value = match self {
                    $($name::$variant => $value,)*
                };
                [(stringify!($key), value)].encode(encoder)
            }
        }
    )*};
}

label_values! {
    /// Why a session ended.
    EndReason as reason {
        SignedOut => "signed_out",
        Revoked => "revoked",
        Forgotten => "forgotten",
        Expired => "expired",
    }

    /// How a sign-in attempt ended.
    LoginResult as result {
        Ok => "ok",
        Invalid => "invalid",
        Limited => "limited",
    }

    /// Why a request was refused before any session work.
    Refusal as reason {
        CrossSite => "cross_site",
        HostNotAllowed => "host_not_allowed",
    }

    /// One round trip or script of the app's, named in the `operation` label.
    RedisOperation as operation {
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

/// The standard methods; any other is `other`, so a client cannot add series.
const METHODS: [&str; 9] = [
    "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
];

/// The registry's series, each with its name and HELP text: the struct and its registration
/// from one table, so no series is made and left out of the exposition.
macro_rules! series {
    ($($field:ident: $type:ty = $made:expr => $name:literal, $help:literal;)*) => {
        struct Inner {
            /// Off (`METRICS_ENABLED=false`): requests and Redis calls are not timed.
            enabled: bool,
            registry: Registry,
            $($field: $type,)*
        }

        impl Inner {
            fn new(enabled: bool, mut registry: Registry) -> Inner {
                $(
                    let $field: $type = $made;
                    registry.register($name, $help, $field.clone());
                )*
                Inner { enabled, registry, $($field,)* }
            }
        }
    };
}

series! {
    http_requests: Family<HttpLabels, Counter> = Family::default()
        => "http_requests", "HTTP requests answered";
    // 1 ms … ~4 s: page renders and Argon2 sign-ins included.
    http_durations: Family<RouteLabel, Histogram, fn() -> Histogram> =
        Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 13)))
        => "http_request_duration_seconds", "Time to answer an HTTP request, by route pattern";
    // 100 µs … ~1.6 s: a loopback round trip up to the command timeout.
    redis_durations: Family<RedisOperation, Histogram, fn() -> Histogram> =
        Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0001, 2.0, 15)))
        => "redis_command_duration_seconds",
        "Time of the app's Redis operations (one round trip or script each), by operation";
    redis_up: Gauge = Gauge::default()
        => "redis_up", "1 while the pool is connected to Redis";
    sessions_created: Counter = Counter::default()
        => "sessions_created", "Sessions created";
    sessions_ended: Family<EndReason, Counter> = zeroed(EndReason::ALL)
        => "sessions_ended", "Sessions ended, by reason";
    sessions_live: Gauge = Gauge::default()
        => "sessions_live", "Sessions whose deadline has not passed (as of the last scrape)";
    logins: Family<LoginResult, Counter> = zeroed(LoginResult::ALL)
        => "logins", "Sign-in attempts, by result";
    registrations: Counter = Counter::default()
        => "registrations", "Accounts registered";
    refused: Family<Refusal, Counter> = zeroed(Refusal::ALL)
        => "requests_refused", "Requests refused before any session work, by reason";
}

/// A family with a series at 0 for each of `values` from the first scrape: a series that only
/// appears with its first event hides that event from `rate()` and from alerts on it.
fn zeroed<L: Clone + Hash + Eq>(values: &[L]) -> Family<L, Counter> {
    let family = Family::default();
    for value in values {
        drop(family.get_or_create(value));
    }
    family
}

/// Cheap to clone (one `Arc`); every handle inside counts into this app's registry.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl Metrics {
    /// `redis_reconnects` is the counter the Redis pool's connection watcher increments.
    pub fn new(redis_reconnects: Counter) -> Metrics {
        let mut registry = Registry::with_prefix("sessionboard");
        let help = "Pooled Redis connections re-established after a loss";
        registry.register("redis_reconnects", help, redis_reconnects);
        Metrics(Arc::new(Inner::new(true, registry)))
    }

    /// Metrics that time nothing (`METRICS_ENABLED=false`); the counters still count, unserved.
    pub fn off() -> Metrics {
        Metrics(Arc::new(Inner::new(false, Registry::default())))
    }

    /// Whether requests and Redis calls are timed (and `/metrics` served).
    pub fn enabled(&self) -> bool {
        self.0.enabled
    }

    /// One answered request, under its route pattern.
    pub fn http_answered(&self, route: &'static str, method: &Method, status: u16, took: Duration) {
        let known = METHODS.into_iter().find(|known| *known == method.as_str());
        let method = known.unwrap_or("other");
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
            let durations = self.0.redis_durations.get_or_create(&operation);
            durations.observe(elapsed.as_secs_f64());
        }
    }

    pub fn session_created(&self) {
        self.0.sessions_created.inc();
    }

    pub fn sessions_ended(&self, reason: EndReason, count: u64) {
        let ended = self.0.sessions_ended.get_or_create(&reason);
        ended.inc_by(count);
    }

    pub fn login(&self, result: LoginResult) {
        self.0.logins.get_or_create(&result).inc();
    }

    pub fn registered(&self) {
        self.0.registrations.inc();
    }

    /// The counter of one kind of refusal, to keep and count into without the family's lock:
    /// refusals come as fast as anyone cares to send them.
    pub fn refusals(&self, reason: Refusal) -> Counter {
        self.0.refused.get_or_create_owned(&reason)
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
    let hits = "Session reads answered from this instance's memory";
    registry.register("hits", hits, ConstCounter::new(stats.hits));
    let misses = "Session reads that went to Redis";
    registry.register("misses", misses, ConstCounter::new(stats.misses));
    let dropped = "Times the whole near cache was dropped (a lost connection, a flush, a missed \
                   heartbeat)";
    registry.register("dropped", dropped, ConstCounter::new(stats.dropped));
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

    fn assert_lines(text: &str, lines: &[&str]) {
        for line in lines {
            let line = format!("sessionboard_{line}");
            assert!(text.lines().any(|seen| seen == line), "{line}:\n{text}");
        }
    }

    #[test]
    fn requests_are_counted_and_timed_by_route_with_odd_methods_as_other() {
        let metrics = Metrics::new(Counter::default());
        let brew = Method::from_bytes(b"BREW").expect("a method");
        for (method, status) in [(&Method::GET, 200), (&Method::GET, 200), (&brew, 405)] {
            metrics.http_answered("/a", method, status, Duration::from_micros(1500));
        }
        let text = metrics.encode(None);
        assert_lines(
            &text,
            &[
                r#"http_requests_total{route="/a",method="GET",status="200"} 2"#,
                r#"http_requests_total{route="/a",method="other",status="405"} 1"#,
                r#"http_request_duration_seconds_bucket{le="0.001",route="/a"} 0"#,
                r#"http_request_duration_seconds_bucket{le="0.002",route="/a"} 3"#,
                r#"http_request_duration_seconds_count{route="/a"} 3"#,
            ],
        );
    }

    #[test]
    fn near_cache_figures_are_the_stores_own_however_often_scraped() {
        let metrics = Metrics::new(Counter::default());
        let mut stats = NearCacheStats::default();
        (stats.hits, stats.entries) = (5, 2);
        for _ in 0..3 {
            let text = metrics.encode(Some(stats));
            let lines = [
                "session_near_cache_hits_total 5",
                "session_near_cache_entries 2",
            ];
            assert_lines(&text, &lines);
            assert!(text.ends_with("# EOF\n"), "{text}");
        }
        assert!(!metrics.encode(None).contains("near_cache"));
    }
}

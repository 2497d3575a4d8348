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
    encoding::{text::encode, EncodeLabelSet, EncodeLabelValue, LabelValueEncoder},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

// `&'static str` labels: looking a series up on the request path allocates nothing.
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
    operation: &'static str,
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum EndReason {
    SignedOut,
    Revoked,
    Forgotten,
    Expired,
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

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn http_buckets() -> Histogram {
    // 1 ms … ~4 s: page renders and Argon2 sign-ins included.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.001, 2.0, 13,
    ))
}

fn redis_buckets() -> Histogram {
    // 100 µs … ~1.6 s: a loopback round trip up to the command timeout.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0001, 2.0, 15,
    ))
}

/// The standard methods by name; any other is `other`, so a client cannot add series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Cheap to clone (one `Arc`); every handle inside counts into this app's registry.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    /// Off (`METRICS_ENABLED=false`): requests and Redis calls are not timed.
    enabled: bool,
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Histograms<RouteLabel>,
    redis_duration: Histograms<OperationLabel>,
    redis_up: Gauge,
    sessions_created: Counter,
    sessions_ended: Family<ReasonLabel, Counter>,
    sessions_live: Gauge,
    logins: Family<ResultLabel, Counter>,
    registrations: Counter,
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
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration = Histograms::<RouteLabel>::new_with_constructor(http_buckets);
        let redis_duration = Histograms::<OperationLabel>::new_with_constructor(redis_buckets);
        let (redis_up, sessions_live) = (Gauge::default(), Gauge::default());
        let (sessions_created, registrations) = (Counter::default(), Counter::default());
        let sessions_ended = Family::<ReasonLabel, Counter>::default();
        let logins = Family::<ResultLabel, Counter>::default();
        let r = &mut registry;
        r.register(
            "http_requests",
            "HTTP requests answered",
            http_requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route pattern",
            http_duration.clone(),
        );
        r.register(
            "redis_command_duration_seconds",
            "Time of the app's Redis operations (one round trip or script each), by operation",
            redis_duration.clone(),
        );
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
        Metrics(Arc::new(Inner {
            enabled: true,
            registry,
            http_requests,
            http_duration,
            redis_duration,
            redis_up,
            sessions_created,
            sessions_ended,
            sessions_live,
            logins,
            registrations,
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

    /// One answered request; `route` is a route pattern, never a raw path.
    pub fn http_request(&self, route: &'static str, method: &Method, status: u16, took: Duration) {
        if !self.0.enabled {
            return;
        }
        let labels = HttpLabels {
            route,
            method: method_label(method),
            status,
        };
        self.0.http_requests.get_or_create(&labels).inc();
        let route = RouteLabel { route };
        self.0
            .http_duration
            .get_or_create(&route)
            .observe(took.as_secs_f64());
    }

    /// Runs one Redis operation and records how long it took, whatever its outcome.
    pub async fn redis<T>(&self, operation: &'static str, run: impl Future<Output = T>) -> T {
        if !self.0.enabled {
            return run.await;
        }
        let started = Instant::now();
        let outcome = run.await;
        self.0
            .redis_duration
            .get_or_create(&OperationLabel { operation })
            .observe(started.elapsed().as_secs_f64());
        outcome
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

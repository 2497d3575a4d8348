//! Every request measured and logged once, and `/metrics` for Prometheus to scrape.

use std::{
    collections::HashSet,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header::CONTENT_TYPE, HeaderValue, Method},
    response::{IntoResponse, Response},
};
use tower::{Layer, Service};
use tower_sessions_fred_store::ServedSession;
use tracing::Level;

use crate::{
    server::{
        observability::{Metrics, CONTENT_TYPE as METRICS, REQUEST_ID_HEADER},
        state::AppState,
    },
    shared::clock::now_ms,
};

/// The route every server function is served under.
pub const SERVER_FN_ROUTE: &str = "/api/{*fn_name}";

/// Where requests that match none of the router's routes are counted.
const UNMATCHED: &str = "unmatched";

/// The layer that counts, times and logs every request. It runs around the router (before it
/// matches anything), so it names a request's route itself: the app's routes are fixed paths —
/// pages, probes, server functions — matched exactly; any other `/api/…` is `/api/{*fn_name}`
/// and everything else (static files, 404s) `unmatched`. A bounded set either way.
///
/// A `Layer` of our own rather than `axum::middleware::from_fn`, which clones the whole inner
/// service and boxes two futures per request.
#[derive(Clone)]
pub struct Observer {
    /// Where requests are counted: none with `METRICS_ENABLED=false` (the log line is the
    /// tracing filter's).
    metrics: Option<Metrics>,
    known: Arc<HashSet<&'static str>>,
}

impl Observer {
    /// `routes`: the router's own paths (pages, probes); server functions are added here.
    pub fn new(metrics: &Metrics, routes: Vec<String>) -> Self {
        let server_fns = leptos::server_fn::axum::server_fn_paths().map(|(path, _)| path);
        let routes = routes.into_iter().map(label);
        Observer {
            metrics: metrics.enabled().then(|| metrics.clone()),
            known: Arc::new(routes.chain(server_fns).collect()),
        }
    }

    fn route(&self, request: &Request<Body>) -> &'static str {
        let path = request.uri().path();
        match self.known.get(path) {
            Some(route) => route,
            None if path.starts_with("/api/") => SERVER_FN_ROUTE,
            None => UNMATCHED,
        }
    }
}

/// A route's label, made once per process: every worker's router, and every app a test process
/// builds, names the same few routes.
fn label(route: String) -> &'static str {
    static LABELS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut labels = LABELS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = labels.iter().find(|known| **known == route) {
        return known;
    }
    let made: &'static str = Box::leak(route.into_boxed_str());
    labels.push(made);
    made
}

impl<S> Layer<S> for Observer {
    type Service = Observed<S>;

    fn layer(&self, inner: S) -> Observed<S> {
        Observed {
            inner,
            observer: self.clone(),
        }
    }
}

/// The inner service, observed.
#[derive(Clone)]
pub struct Observed<S> {
    inner: S,
    observer: Observer,
}

impl<S> Service<Request<Body>> for Observed<S>
where
    S: Service<Request<Body>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ObservedResponse<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The log line's fields are gathered only when it will be written.
        let logged = tracing::enabled!(target: "sessionboard::request", Level::INFO);
        let request_id = logged
            .then(|| request.headers().get(REQUEST_ID_HEADER).cloned())
            .flatten();
        let seen = Seen {
            started: Instant::now(),
            method: request.method().clone(),
            route: self.observer.route(&request),
            logged,
            request_id,
            metrics: self.observer.metrics.clone(),
        };
        ObservedResponse {
            inner: self.inner.call(request),
            seen: Some(seen),
        }
    }
}

pin_project_lite::pin_project! {
    /// The inner response, counted and logged when it is ready.
    pub struct ObservedResponse<F> {
        #[pin]
        inner: F,
        seen: Option<Seen>,
    }
}

/// What the request was, kept until its response.
struct Seen {
    started: Instant,
    method: Method,
    route: &'static str,
    logged: bool,
    request_id: Option<HeaderValue>,
    metrics: Option<Metrics>,
}

impl<F, E> Future for ObservedResponse<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let outcome = std::task::ready!(this.inner.poll(cx));
        if let (Ok(response), Some(seen)) = (&outcome, this.seen.take()) {
            seen.answered(response);
        }
        Poll::Ready(outcome)
    }
}

impl Seen {
    /// Counts and times the request by route pattern, and logs one line with its method, route,
    /// status, latency, request id and session fingerprint.
    fn answered(self, response: &Response) {
        let took = self.started.elapsed();
        let status = response.status().as_u16();
        if let Some(metrics) = &self.metrics {
            metrics.http_answered(self.route, &self.method, status, took);
        }
        if !self.logged {
            return;
        }
        let session = response
            .extensions()
            .get::<ServedSession>()
            .map(|served| served.handle().to_string());
        tracing::info!(
            target: "sessionboard::request",
            method = self.method.as_str(),
            route = self.route,
            status,
            latency_ms = took.as_secs_f64() * 1000.0,
            request_id = self.request_id.as_ref().and_then(|id| id.to_str().ok()),
            session = session.as_deref(),
            "request"
        );
    }
}

/// How long a scrape waits for the live-session count: a loopback `ZCARD` takes well under a
/// millisecond, and a Redis that has just gone away must not hold the scrape for the whole
/// command timeout.
const LIVE_COUNT_BUDGET: Duration = Duration::from_millis(200);

/// `GET /metrics`: the Prometheus text exposition. Reads at scrape time the live-session count
/// (one round trip, skipped while Redis is away and bounded by `LIVE_COUNT_BUDGET`), then
/// whether the pool is connected and the near cache's figures (no Redis command).
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut live = None;
    if state.redis.is_connected() {
        let count = state.live_sessions.count(now_ms(), &state.metrics);
        match tokio::time::timeout(LIVE_COUNT_BUDGET, count).await {
            Ok(Ok(count)) => live = Some(count),
            Ok(Err(err)) => {
                tracing::debug!(error = %err.details(), "could not count live sessions")
            }
            Err(_) => tracing::debug!("counting live sessions took too long; skipped"),
        }
    }
    state.metrics.set_readings(state.redis.is_connected(), live);
    let near_cache = state.sessions.near_cache_stats();
    ([(CONTENT_TYPE, METRICS)], state.metrics.encode(near_cache))
}

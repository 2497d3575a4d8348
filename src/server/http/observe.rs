//! Every request measured and logged once, and `/metrics` for Prometheus to scrape.

use std::{
    collections::HashSet,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::{Request, State},
    http::header::CONTENT_TYPE,
    middleware::Next,
    response::{IntoResponse, Response},
};
use tracing::Level;

use crate::{
    server::{
        observability::{Metrics, SessionFingerprint, CONTENT_TYPE as METRICS, REQUEST_ID_HEADER},
        state::AppState,
    },
    shared::clock::now_ms,
};

/// The route every server function is served under.
pub const SERVER_FN_ROUTE: &str = "/api/{*fn_name}";

/// What the request middleware needs: the metrics, and the app's routes. It runs around the
/// router (before it matches anything), so it names a request's route itself: the app's routes
/// are fixed paths — pages, probes, server functions — matched exactly; any other `/api/…` is
/// `/api/{*fn_name}` and everything else (static files, 404s) `unmatched`. A bounded set either
/// way.
#[derive(Clone)]
pub struct Observer {
    metrics: Metrics,
    routes: Arc<HashSet<&'static str>>,
}

impl Observer {
    /// `routes`: the router's own paths (pages, probes); server functions are added here.
    pub fn new(metrics: Metrics, routes: impl IntoIterator<Item = String>) -> Self {
        let server_fns = leptos::server_fn::axum::server_fn_paths().map(|(path, _method)| path);
        // Copied once to `&'static str` labels: the router's paths are a fixed, small set.
        let routes = routes
            .into_iter()
            .map(|route| &*Box::leak(route.into_boxed_str()))
            .chain(server_fns)
            .collect();
        Observer {
            metrics,
            routes: Arc::new(routes),
        }
    }

    fn route(&self, request: &Request<Body>) -> &'static str {
        let path = request.uri().path();
        match self.routes.get(path) {
            Some(route) => route,
            None if path.starts_with("/api/") => SERVER_FN_ROUTE,
            None => "unmatched",
        }
    }
}

/// Middleware, inside the request-id layers: counts and times the request by route pattern, and
/// logs one line with its method, route, status, latency, request id and session fingerprint.
pub async fn observe_requests(
    State(observer): State<Observer>,
    request: Request<Body>,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = observer.route(&request);
    // The log line's fields are gathered only when it will be written.
    let logged = tracing::enabled!(target: "sessionboard::request", Level::INFO);
    let request_id = logged
        .then(|| request.headers().get(REQUEST_ID_HEADER).cloned())
        .flatten();
    let response = next.run(request).await;
    let took = started.elapsed();
    let status = response.status().as_u16();
    observer.metrics.http_request(route, &method, status, took);
    if logged {
        let session = response
            .extensions()
            .get::<SessionFingerprint>()
            .map(SessionFingerprint::text);
        tracing::info!(
            target: "sessionboard::request",
            method = method.as_str(),
            route,
            status,
            latency_ms = took.as_secs_f64() * 1000.0,
            request_id = request_id.as_ref().and_then(|id| id.to_str().ok()),
            session = session.as_deref(),
            "request"
        );
    }
    response
}

/// How long a scrape waits for the live-session count: a loopback `ZCARD` takes well under a
/// millisecond, and a Redis that has just gone away must not hold the scrape for the whole
/// command timeout.
const LIVE_COUNT_BUDGET: Duration = Duration::from_millis(200);

/// `GET /metrics`: the Prometheus text exposition. Reads two things at scrape time: the
/// live-session count (one round trip, skipped while Redis is away and bounded by
/// `LIVE_COUNT_BUDGET`), then whether the pool is connected (no Redis command).
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut live = None;
    if state.redis.is_connected() {
        let count = state.sessions.live().count(now_ms(), &state.metrics);
        match tokio::time::timeout(LIVE_COUNT_BUDGET, count).await {
            Ok(Ok(count)) => live = Some(count),
            Ok(Err(err)) => {
                tracing::debug!(error = %err.details(), "could not count live sessions")
            }
            Err(_) => tracing::debug!("counting live sessions took too long; skipped"),
        }
    }
    state.metrics.set_readings(state.redis.is_connected(), live);
    ([(CONTENT_TYPE, METRICS)], state.metrics.encode())
}

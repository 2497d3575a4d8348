//! Every request measured and logged once, and `/metrics` for Prometheus to scrape.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
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
        observability::{HttpRoutes, Metrics, RouteId, CONTENT_TYPE as METRICS, REQUEST_ID_HEADER},
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
/// A `Layer` of our own rather than `axum::middleware::from_fn`: that clones the whole inner
/// service and boxes two futures per request, which cost more than the counting itself.
#[derive(Clone)]
pub struct Observer(Arc<Routes>);

struct Routes {
    /// Whether requests are counted (`METRICS_ENABLED`); the log line is the tracing filter's.
    counted: bool,
    table: Arc<HttpRoutes>,
    server_fns: RouteId,
    unmatched: RouteId,
}

impl Observer {
    /// `routes`: the router's own paths (pages, probes); server functions are added here.
    pub fn new(metrics: &Metrics, routes: Vec<String>) -> Self {
        let table = metrics.http_routes(|| {
            let server_fns = leptos::server_fn::axum::server_fn_paths().map(|(path, _)| path);
            // Copied once to `&'static str` labels: the router's paths are a fixed, small set.
            let routes = routes.into_iter().map(|r| &*Box::leak(r.into_boxed_str()));
            let fallbacks = [SERVER_FN_ROUTE, UNMATCHED];
            routes.chain(server_fns).chain(fallbacks).collect()
        });
        let fallback = |name| {
            table
                .find(name)
                .expect("the fallback routes are in every table")
        };
        Observer(Arc::new(Routes {
            counted: metrics.enabled(),
            server_fns: fallback(SERVER_FN_ROUTE),
            unmatched: fallback(UNMATCHED),
            table,
        }))
    }

    fn route(&self, request: &Request<Body>) -> RouteId {
        let path = request.uri().path();
        match self.0.table.find(path) {
            Some(route) => route,
            None if path.starts_with("/api/") => self.0.server_fns,
            None => self.0.unmatched,
        }
    }
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
            observer: self.observer.clone(),
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
    route: RouteId,
    logged: bool,
    request_id: Option<HeaderValue>,
    observer: Observer,
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
        let routes = &self.observer.0;
        if routes.counted {
            routes.table.record(self.route, &self.method, status, took);
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
            route = routes.table.name(self.route),
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

/// `GET /metrics`: the Prometheus text exposition. Reads two things at scrape time: the
/// live-session count (one round trip, skipped while Redis is away and bounded by
/// `LIVE_COUNT_BUDGET`), then whether the pool is connected (no Redis command).
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
    state
        .metrics
        .set_near_cache(state.sessions.near_cache_stats());
    ([(CONTENT_TYPE, METRICS)], state.metrics.encode())
}

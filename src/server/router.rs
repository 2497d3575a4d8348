//! The routes, and the layers each passes through. Probes and static files stay outside the
//! session layer, so they never touch Redis; state-changing requests from another site are
//! refused before the session layer, so they never touch it either. Around everything: the
//! request id (a usable `X-Request-Id` or a new one, echoed back), then the request's metrics and
//! log line. `/metrics` is outside the session layer too, or on `METRICS_ADDR` alone (always so
//! in production). Inside those, requests for a host this site is not are refused.

use std::{convert::Infallible, sync::OnceLock, time::Duration};

use axum::{
    body::Body,
    extract::Request,
    http::{HeaderValue, StatusCode},
    middleware,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use tower::{util::BoxCloneSyncService, ServiceBuilder};
use tower_http::{
    request_id::{PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
};

use super::{
    config::Environment,
    http::{
        health,
        hosts::CheckHostLayer,
        observe::{self, Observer},
        responses, security,
        static_files::{self, cache_hashed_files, HashedFiles},
    },
    observability::{drop_invalid_request_id, FastRequestId, Refusal},
    server_fns::server_fn_handler,
    session_gate::{pass_session_gate, SessionGate},
    sessions::SessionLayer,
    state::AppState,
};

/// The pages to serve: the Leptos app and the HTML shell around it. Handed in by the crate root
/// (`sessionboard::pages`), so server code never depends on the UI that depends on it.
#[derive(Clone, Copy)]
pub struct Pages {
    pub shell: fn(LeptosOptions) -> AnyView,
    pub app: fn() -> AnyView,
}

/// The whole app as one service: the router, and around it the layers every response passes.
pub type App = BoxCloneSyncService<Request<Body>, Response, Infallible>;

/// The site's service: the routes with `state`, pages behind `sessions`.
pub fn app(state: AppState, pages: Pages, sessions: SessionLayer) -> App {
    let routes = page_routes(pages);
    let page_paths: Vec<String> = routes
        .iter()
        .map(|route| route.path().to_string())
        .collect();
    let gate = SessionGate::of(&state, sessions);
    let server = &state.settings.server;
    let hsts = responses::hsts_value(
        state.settings.server.environment == Environment::Production,
        server.hsts_max_age,
        server.hsts_include_subdomains,
    );

    let with_sessions = Router::<AppState>::new()
        // Every server function, by the path in the request.
        .route(
            "/api/{*fn_name}",
            get(server_fn_handler).post(server_fn_handler),
        )
        .leptos_routes_with_context(
            &state,
            routes,
            {
                let state = state.clone();
                move || provide_context(state.clone())
            },
            {
                let options = state.leptos_options.clone();
                move || (pages.shell)(options.clone())
            },
        )
        .layer(middleware::from_fn_with_state(gate, pass_session_gate));

    let files = static_files(&state, pages);
    let (router, own_paths) = own_routes(&state);
    let observed_routes = page_paths
        .into_iter()
        .chain(own_paths.into_iter().map(str::to_string));
    let observer = Observer::new(&state.metrics, observed_routes.collect());
    let outer = Outer {
        observer,
        // Measured and logged when anyone is to see it: metrics on, or the request log on.
        observed: state.metrics.enabled()
            || tracing::enabled!(target: "sessionboard::request", tracing::Level::INFO),
        hsts,
        request_timeout: state.settings.server.request_timeout,
        check_host: CheckHostLayer::new(
            &state.settings.server.allowed_hosts,
            state.metrics.refusals(Refusal::HostNotAllowed),
        ),
    };
    let router = router
        .merge(with_sessions)
        // On every route registered so far, so after the merge.
        .method_not_allowed_fallback(responses::method_not_allowed)
        .fallback_service(files)
        .with_state(state);
    outer.around(router)
}

/// The pages' route list, generated once per process and shared by every worker (and every app
/// a test process builds). While leptos_router generates a route list, no resource anywhere in
/// the process loads: the flag that stops them is global (leptos-rs/leptos#4773, open in 0.8),
/// so a page another worker renders meanwhile waits forever for its data. Only one set of
/// `Pages` exists per process (`sessionboard::pages`).
fn page_routes(pages: Pages) -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES
        .get_or_init(|| generate_route_list(pages.app))
        .clone()
}

/// What every response passes, outside the router.
struct Outer {
    observer: Observer,
    observed: bool,
    hsts: Option<HeaderValue>,
    request_timeout: Duration,
    check_host: Option<CheckHostLayer>,
}

impl Outer {
    /// Around the router, not `Router::layer`: that would box every route once per layer.
    fn around(self, router: Router) -> App {
        let observe = self.observed.then_some(self.observer);
        let security = security::SecurityHeaders::new(self.hsts);
        let layers = ServiceBuilder::new()
            .map_response(responses::explain_timeout)
            .map_request(drop_invalid_request_id)
            .layer(SetRequestIdLayer::x_request_id(FastRequestId))
            .layer(PropagateRequestIdLayer::x_request_id())
            .option_layer(observe)
            .map_response(IntoResponse::into_response)
            .layer(static_files::compression())
            // Inside the request-id and metrics layers: a 408 is counted and carries its id.
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                self.request_timeout,
            ))
            .map_response(move |response| security.apply(response))
            // Inside the rest: a refusal is counted, logged and carries its request id.
            .option_layer(self.check_host)
            .service(router);
        BoxCloneSyncService::new(layers)
    }
}

/// The probes, and `/metrics` when the site address serves it; with their paths.
fn own_routes(state: &AppState) -> (Router<AppState>, Vec<&'static str>) {
    let mut router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    let mut own_paths = vec!["/healthz", "/readyz"];
    if metrics_on_site(state) {
        router = router.route("/metrics", get(observe::metrics));
        own_paths.push("/metrics");
    }
    (router, own_paths)
}

/// Whether `/metrics` is served on the site address: only when `METRICS_ADDR` does not take it,
/// and never in production, where the site address is public and the metrics name every route,
/// the sign-in failure rate and the Redis state for anyone to read.
fn metrics_on_site(state: &AppState) -> bool {
    metrics_want_site(state) && state.settings.server.environment != Environment::Production
}

/// Says once, at start-up, when production leaves `/metrics` unserved.
pub fn explain_metrics_placement(state: &AppState) {
    if metrics_want_site(state) && state.settings.server.environment == Environment::Production {
        tracing::info!(
            "/metrics is not served: in production it is served only on METRICS_ADDR, \
             which is not set"
        );
    }
}

/// Metrics are on and no `METRICS_ADDR` takes them.
fn metrics_want_site(state: &AppState) -> bool {
    state.metrics.enabled() && state.settings.server.metrics_addr.is_none()
}

/// Static files (and the not-found page): the hashed ones are marked immutable.
fn static_files(state: &AppState, pages: Pages) -> Router {
    let hashed = HashedFiles::new(
        state.leptos_options.hash_files,
        &state.leptos_options.site_pkg_dir,
    );
    Router::new()
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            pages.shell,
        ))
        .layer(middleware::from_fn_with_state(hashed, cache_hashed_files))
        .with_state(state.clone())
}

/// `/metrics` alone, for `METRICS_ADDR`: a listener that need not be reachable from outside.
pub fn metrics_only(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(observe::metrics))
        .with_state(state)
}

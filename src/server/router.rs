//! The routes, and the one tower stack around them (ARCHITECTURE.md, "The request path"). Probes,
//! `/metrics` and static files never pass the session gate, so they never touch Redis.

use std::{
    convert::Infallible,
    sync::{Arc, OnceLock},
};

use axum::{
    body::Body,
    extract::Request,
    http::{
        header::{
            HeaderName, CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY,
            X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
        },
        HeaderValue, StatusCode,
    },
    middleware,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use tower::{util::BoxCloneSyncService, ServiceBuilder};
use tower_http::{
    compression::CompressionLayer,
    request_id::{PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    timeout::TimeoutLayer,
    validate_request::ValidateRequestHeaderLayer,
};

use crate::shared::error::ErrorCode;

use super::{
    allowed_hosts::AllowedHosts,
    config::Environment,
    http::{
        health,
        observe::{self, Observer, SERVER_FN_ROUTE},
        responses::{self, json_error},
        static_files,
    },
    observability::{drop_invalid_request_id, FastRequestId, Refusal},
    server_fns::server_fn_handler,
    session_gate::{pass_session_gate, SessionGate},
    sessions::SessionLayer,
    state::AppState,
};

/// The pages to serve, handed in by the crate root (`sessionboard::pages`), so server code never
/// depends on the UI that depends on it.
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
    let mut paths: Vec<String> = routes.iter().map(|r| r.path().to_string()).collect();
    let with_sessions = Router::new()
        .route(
            SERVER_FN_ROUTE,
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
        .layer(middleware::from_fn_with_state(
            SessionGate::of(&state, sessions),
            pass_session_gate,
        ));
    let mut router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    paths.extend(PROBES.map(String::from));
    if metrics_on_site(&state) {
        router = router.route("/metrics", get(observe::metrics));
        paths.push("/metrics".into());
    }
    let router = static_files::serve(router.merge(with_sessions), &state, pages.shell)
        // On every route registered so far, so last.
        .method_not_allowed_fallback(responses::method_not_allowed)
        .with_state(state.clone());
    around(router, &state, paths)
}

/// The pages' route list, generated once per process and shared by every worker (and every app
/// a test process builds). While leptos_router generates one, no resource anywhere in the
/// process loads (a global flag in leptos_router 0.8), so a page another worker renders
/// meanwhile would wait forever for its data.
fn page_routes(pages: Pages) -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES
        .get_or_init(|| generate_route_list(pages.app))
        .clone()
}

/// Around the router, not `Router::layer`, which would box every route once per layer.
fn around(router: Router, state: &AppState, paths: Vec<String>) -> App {
    let server = &state.settings.server;
    let observed = state.metrics.enabled()
        || tracing::enabled!(target: "sessionboard::request", tracing::Level::INFO);
    let always = |name: HeaderName, value| {
        SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
    };
    let nothing_allowed = HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'");
    let hsts =
        hsts(state).map(|v| SetResponseHeaderLayer::overriding(STRICT_TRANSPORT_SECURITY, v));
    let layers = ServiceBuilder::new()
        .map_response(responses::explain_timeout)
        .map_request(drop_invalid_request_id)
        .layer(SetRequestIdLayer::x_request_id(FastRequestId))
        .layer(PropagateRequestIdLayer::x_request_id())
        .option_layer(observed.then(|| Observer::new(&state.metrics, paths)))
        .map_response(IntoResponse::into_response)
        .layer(CompressionLayer::new())
        // Inside the request-id and metrics layers: a 408 is counted and carries its id.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            server.request_timeout,
        ))
        // Pages set their own policy, with the nonce of their scripts (`ui::app::shell`).
        .layer(SetResponseHeaderLayer::if_not_present(
            CONTENT_SECURITY_POLICY,
            nothing_allowed,
        ))
        .layer(always(REFERRER_POLICY, "same-origin"))
        .layer(always(X_FRAME_OPTIONS, "DENY"))
        .layer(always(X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .option_layer(hsts)
        // Inside the rest: a refusal is counted, logged and carries its request id.
        .option_layer(check_host(state).map(ValidateRequestHeaderLayer::custom))
        .service(router);
    BoxCloneSyncService::new(layers)
}

/// Answered whatever the host: an orchestrator asks by the container's address.
const PROBES: [&str; 2] = ["/healthz", "/readyz"];

/// Refuses a request for a host this site is not (`ALLOWED_HOSTS`), counting each refusal;
/// `None` when any host is allowed.
// The refusal is the answer itself, as tower-http's trait has it.
#[allow(clippy::result_large_err)]
fn check_host(
    state: &AppState,
) -> Option<impl FnMut(&mut Request) -> Result<(), Response> + Clone + Send + Sync + 'static> {
    let hosts = Arc::new(state.settings.server.allowed_hosts.clone());
    let refused = state.metrics.refusals(Refusal::HostNotAllowed);
    (*hosts != AllowedHosts::Any).then_some(move |request: &mut Request| {
        if hosts.admit(request) || PROBES.contains(&request.uri().path()) {
            return Ok(());
        }
        refused.inc();
        let message = "This server does not serve the host this request names.";
        Err(json_error(
            ErrorCode::HostNotAllowed,
            message,
            request.headers(),
        ))
    })
}

/// `Strict-Transport-Security`, in production only.
fn hsts(state: &AppState) -> Option<HeaderValue> {
    let server = &state.settings.server;
    if server.environment != Environment::Production {
        return None;
    }
    let subdomains = match server.hsts_include_subdomains {
        true => "; includeSubDomains",
        false => "",
    };
    let max_age = server.hsts_max_age.as_secs();
    HeaderValue::from_str(&format!("max-age={max_age}{subdomains}")).ok()
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

fn metrics_want_site(state: &AppState) -> bool {
    state.metrics.enabled() && state.settings.server.metrics_addr.is_none()
}

/// `/metrics` alone, for `METRICS_ADDR`: a listener that need not be reachable from outside.
pub fn metrics_only(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(observe::metrics))
        .with_state(state)
}

//! The routes, and the layers each passes through. Probes and static files stay outside the
//! session layer, so they never touch Redis; state-changing requests from another site are
//! refused before the session layer, so they never touch it either. Around everything: the
//! request id (a usable `X-Request-Id` or a new one, echoed back), then the request's metrics and
//! log line. `/metrics` is outside the session layer too, or on `METRICS_ADDR` alone.

use axum::{
    body::Body,
    extract::{Request, State},
    middleware,
    response::IntoResponse,
    routing::get,
    Router,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, handle_server_fns_with_context, LeptosRoutes};

use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use super::{
    http::{
        health,
        observe::{self, observe_requests, Observer},
        security,
    },
    observability::drop_invalid_request_id,
    sessions::{self, manage_sessions},
    state::AppState,
};

/// The pages to serve: the Leptos app and the HTML shell around it. Handed in by the crate root
/// (`sessionboard::pages`), so server code never depends on the UI that depends on it.
#[derive(Clone, Copy)]
pub struct Pages {
    pub shell: fn(LeptosOptions) -> AnyView,
    pub app: fn() -> AnyView,
}

pub fn app(state: AppState, pages: Pages) -> Router {
    let routes = generate_route_list(pages.app);
    let sessions = sessions::layer_state(state.sessions.clone(), &state.settings.session);

    let with_sessions = Router::<AppState>::new()
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
        .layer(middleware::from_fn_with_state(sessions, manage_sessions))
        .layer(middleware::from_fn(security::refuse_cross_site));

    let observer = Observer::new(state.metrics.clone());
    let mut router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    if state.settings.server.metrics_addr.is_none() {
        router = router.route("/metrics", get(observe::metrics));
    }
    router
        .merge(with_sessions)
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            pages.shell,
        ))
        .layer(security::security_headers())
        .layer(middleware::from_fn_with_state(observer, observe_requests))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(middleware::map_request(drop_invalid_request_id))
        .with_state(state)
}

/// `/metrics` alone, for `METRICS_ADDR`: a listener that need not be reachable from outside.
pub fn metrics_only(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(observe::metrics))
        .with_state(state)
}

async fn server_fn_handler(
    State(state): State<AppState>,
    request: Request<Body>,
) -> impl IntoResponse {
    handle_server_fns_with_context(move || provide_context(state.clone()), request).await
}

//! The routes, and the layers each passes through. Probes and static files stay outside the
//! session layer, so they never touch Redis; state-changing requests from another site are
//! refused before the session layer, so they never touch it either.

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header::CACHE_CONTROL, HeaderValue, StatusCode},
    middleware,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, handle_server_fns_with_context, LeptosRoutes};
use tower_http::{set_header::SetResponseHeaderLayer, timeout::TimeoutLayer};

use super::{
    config::Environment,
    http::{
        failover, health,
        responses::{self, checked_body},
        security::{self, SiteScheme},
        static_files::{self, cache_hashed_files, HashedFiles},
    },
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
    let sessions = sessions::layer_state(state.sessions.clone(), &state.settings);
    let site = SiteScheme::of(state.settings.session.cookie_secure);
    let server = &state.settings.server;
    let hsts = responses::hsts_value(
        state.settings.environment == Environment::Production,
        server.hsts_max_age,
        server.hsts_include_subdomains,
    );

    let with_sessions = Router::<AppState>::new()
        // Leptos routes each server function by its own path; this one takes the rest.
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
        .layer(middleware::from_fn(checked_body))
        .layer(middleware::from_fn_with_state(sessions, manage_sessions))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            failover::hold_during_failover,
        ))
        .layer(middleware::from_fn_with_state(
            site,
            security::refuse_cross_site,
        ))
        .layer(middleware::from_fn_with_state(
            site,
            security::same_origin_redirects,
        ))
        // Pages and API answers carry session or account data: no cache may keep them.
        .layer(SetResponseHeaderLayer::overriding(
            CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));

    // Static files (and the not-found page): the hashed ones are marked immutable.
    let hashed = HashedFiles::new(
        state.leptos_options.hash_files,
        &state.leptos_options.site_pkg_dir,
    );
    let files = Router::new()
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            pages.shell,
        ))
        .layer(middleware::from_fn_with_state(hashed, cache_hashed_files))
        .with_state(state.clone());

    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(with_sessions)
        .fallback_service(files)
        .layer(security::security_headers())
        .layer(middleware::from_fn_with_state(
            hsts,
            responses::strict_transport_security,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.settings.server.request_timeout,
        ))
        .layer(static_files::compression())
        .with_state(state)
}

async fn server_fn_handler(State(state): State<AppState>, request: Request<Body>) -> Response {
    let path = request.uri().path();
    let known = leptos::server_fn::axum::server_fn_paths()
        .any(|(known, method)| known == path && method == request.method());
    if !known {
        return responses::unknown_api();
    }
    handle_server_fns_with_context(move || provide_context(state.clone()), request)
        .await
        .into_response()
}

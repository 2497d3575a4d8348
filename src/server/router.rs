//! The routes, and the layers each passes through. Probes and static files stay outside the
//! session layer, so they never touch Redis; state-changing requests from another site are
//! refused before the session layer, so they never touch it either.

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

use super::{
    http::{
        health, security,
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
        .layer(static_files::compression())
        .with_state(state)
}

async fn server_fn_handler(
    State(state): State<AppState>,
    request: Request<Body>,
) -> impl IntoResponse {
    handle_server_fns_with_context(move || provide_context(state.clone()), request).await
}

//! Builds the application apart from `main`, so tests can serve the real app on any port.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    body::Body,
    extract::{FromRef, Request, State},
    middleware,
    response::IntoResponse,
    routing::get,
    Router,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, handle_server_fns_with_context, LeptosRoutes};
use tokio::net::TcpListener;

use crate::{
    app::{shell, App},
    auth::{Auth, LoginLimits},
    configuration::Settings,
    health,
    redis::{KeySpace, RedisError, RedisPool},
    security,
    sessions::{self, ExpiryPolicy, RedisSessionStore},
};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Redis(#[from] RedisError),
    #[error("could not prepare accounts: {0}")]
    Auth(String),
}

/// Everything a request handler may need, cloned cheaply per request.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub leptos_options: LeptosOptions,
    pub redis: RedisPool,
    pub store: RedisSessionStore,
    pub auth: Auth,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    /// Connects to Redis (waiting as configured), prepares the session store and accounts, and
    /// creates the demo accounts.
    pub async fn connect(
        settings: Settings,
        leptos_options: LeptosOptions,
    ) -> Result<AppState, StartupError> {
        let redis = RedisPool::connect(&settings.redis).await?;
        let keys = KeySpace::new(&settings.redis.key_prefix);
        let auth = Auth::new(
            redis.pool.clone(),
            keys.clone(),
            LoginLimits {
                max_failures_per_user: settings.auth.max_failures_per_user,
                max_failures_per_address: settings.auth.max_failures_per_address,
                window: settings.auth.failure_window,
            },
        )
        .await
        .map_err(|err| StartupError::Auth(err.to_string()))?;
        auth.seed(&settings.auth.demo_users)
            .await
            .map_err(|err| StartupError::Auth(err.to_string()))?;
        let store = RedisSessionStore::new(
            redis.pool.clone(),
            keys,
            ExpiryPolicy {
                idle: settings.session.idle_timeout,
                absolute: settings.session.absolute_timeout,
            },
        );
        Ok(AppState {
            settings: Arc::new(settings),
            leptos_options,
            redis,
            store,
            auth,
        })
    }
}

/// The whole app: pages and server functions behind the session layer; probes and static files
/// outside it, so they never touch Redis.
pub fn app(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let session_layer = sessions::layer(state.store.clone(), &state.settings.session);

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
                move || shell(options.clone())
            },
        )
        .layer(session_layer)
        // Outside the session layer: a refused request never reaches Redis.
        .layer(middleware::from_fn(security::refuse_cross_site));

    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(with_sessions)
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn(security::security_headers))
        .with_state(state)
}

async fn server_fn_handler(
    State(state): State<AppState>,
    request: Request<Body>,
) -> impl IntoResponse {
    handle_server_fns_with_context(move || provide_context(state.clone()), request).await
}

/// Serves until Ctrl-C or SIGTERM; in-flight requests finish, then the Redis pool closes.
pub async fn serve(state: AppState, listener: TcpListener) -> std::io::Result<()> {
    let redis = state.redis.clone();
    let router = app(state);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    tracing::info!("stopped accepting requests; closing the Redis pool");
    redis.quit().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

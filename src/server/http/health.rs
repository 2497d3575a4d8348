//! Liveness and readiness probes.

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use serde_json::json;

use crate::server::state::AppState;

/// The process is up. Touches neither Redis nor sessions.
pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, Json(json!({ "status": "ok" })))
}

/// The app can serve sessions: Redis answers a PING within the command timeout.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.redis.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({ "status": "unavailable", "reason": format!("session store (Redis) unreachable: {reason}") }),
            ),
        ),
    }
}

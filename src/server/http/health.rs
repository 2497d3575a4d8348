//! Liveness and readiness probes.

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use serde_json::json;

use crate::server::{redis::BreakerState, state::AppState};

/// The process is up. Touches neither Redis nor sessions.
pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, Json(json!({ "status": "ok" })))
}

/// The app can serve sessions: the session-store breaker is closed and Redis answers a PING
/// within the command timeout. While the breaker is open the answer comes at once, without a
/// command.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let breaker = state.redis.breaker().current();
    if breaker != BreakerState::Closed {
        let reason = "session store (Redis) unavailable: the breaker is open";
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "breaker": breaker.as_str(), "reason": reason })),
        );
    }
    match state.redis.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "breaker": breaker.as_str() })),
        ),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "unavailable",
                "breaker": breaker.as_str(),
                "reason": format!("session store (Redis) unreachable: {reason}"),
            })),
        ),
    }
}

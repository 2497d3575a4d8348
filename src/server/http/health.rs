//! Liveness and readiness probes.

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use serde_json::json;

use crate::server::state::AppState;

/// The process is up. Touches neither Redis nor sessions.
pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, Json(json!({ "status": "ok" })))
}

/// The app can serve sessions and is not shutting down: Redis answers a PING
/// (`RedisPool::readiness`; while the breaker is open this PING can be the probe that closes it,
/// so an instance no balancer sends traffic to still comes back).
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.draining.is_on() {
        let body = json!({ "status": "draining", "reason": "the server is shutting down" });
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    let answered = state.redis.readiness().await;
    let breaker = state.redis.breaker().current().as_str();
    match answered {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "breaker": breaker })),
        ),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "unavailable",
                "breaker": breaker,
                "reason": format!("session store (Redis) unavailable: {reason}"),
            })),
        ),
    }
}

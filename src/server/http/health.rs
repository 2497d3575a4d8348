//! Liveness and readiness probes.

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use serde_json::json;

use crate::server::state::AppState;

/// The process is up. Touches neither Redis nor sessions.
pub async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, Json(json!({ "status": "ok" })))
}

/// The app can serve sessions and is not shutting down: Redis answers a PING (see
/// `RedisPool::readiness`: one at a time, shared briefly; while the breaker is open, refused at
/// once unless it is the probe that closes it — so a load balancer that sends no traffic to an
/// instance that is not ready still brings it back).
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.draining.is_on() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "draining", "reason": "the server is shutting down" })),
        );
    }
    let answered = state.redis.readiness().await;
    let breaker = state.redis.breaker().current();
    match answered {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "breaker": breaker.as_str() })),
        ),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "unavailable",
                "breaker": breaker.as_str(),
                "reason": format!("session store (Redis) unavailable: {reason}"),
            })),
        ),
    }
}

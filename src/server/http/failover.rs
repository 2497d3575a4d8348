//! Requests wait out a sentinel failover instead of writing to a master on its way out: what it
//! took would be thrown away once the sentinels demote it.

use std::time::Duration;

use axum::{
    extract::{Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};

use crate::{
    server::{observability::request_id_of, state::AppState},
    shared::error::{ApiError, ErrorCode},
};

/// How long a request waits for the new master; a planned failover takes one to two seconds.
const HOLD: Duration = Duration::from_secs(4);

pub async fn hold_during_failover(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if state.redis.failover_settled(HOLD).await {
        return next.run(request).await;
    }
    let error = ApiError::new(
        ErrorCode::SessionStoreUnavailable,
        "The session store is changing masters — retrying. Nothing was changed.",
    )
    .with_request_id(request_id_of(request.headers()).map(str::to_string));
    (StatusCode::SERVICE_UNAVAILABLE, Json(error)).into_response()
}

//! Requests wait out a sentinel failover instead of writing to a master on its way out: what it
//! took would be thrown away once the sentinels demote it.

use std::time::Duration;

use axum::{
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};

use crate::{
    server::{observability::request_id_of, redis::RedisPool},
    shared::error::{ApiError, ErrorCode},
};

/// How long a request waits for the new master; a planned failover takes one to two seconds.
const HOLD: Duration = Duration::from_secs(4);

/// `Some(answer)` when a failover is still under way after [`HOLD`]; `None` (at once, when none
/// runs) when the request may go on.
pub async fn failover_refusal(redis: &RedisPool, headers: &HeaderMap) -> Option<Response> {
    if redis.failover_settled(HOLD).await {
        return None;
    }
    let error = ApiError::new(
        ErrorCode::SessionStoreUnavailable,
        "The session store is changing masters — retrying. Nothing was changed.",
    )
    .with_request_id(request_id_of(headers).map(str::to_string));
    Some((StatusCode::SERVICE_UNAVAILABLE, Json(error)).into_response())
}

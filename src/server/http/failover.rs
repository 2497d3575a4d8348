//! Requests wait out a sentinel failover instead of writing to a master on its way out: what it
//! took would be thrown away once the sentinels demote it.

use std::time::Duration;

use axum::{http::HeaderMap, response::Response};

use crate::server::{
    error::{error_response, failover_under_way},
    observability::request_id_of,
    redis::RedisPool,
};

/// How long a request waits for the new master; a planned failover takes one to two seconds.
const HOLD: Duration = Duration::from_secs(4);

/// `Some(answer)` when a failover is still under way after [`HOLD`]; `None` (at once, when none
/// runs) when the request may go on.
pub async fn failover_refusal(redis: &RedisPool, headers: &HeaderMap) -> Option<Response> {
    if redis.failover_settled(HOLD).await {
        return None;
    }
    Some(error_response(failover_under_way(), request_id_of(headers)))
}

//! What a request that may touch a session passes, in order, as one middleware: cross-site
//! refusal, the failover hold, the session layer, the body check; on the way out, redirects kept
//! on this site and `Cache-Control: no-store`.
//!
//! One middleware, not six: axum boxes a route once per layer and `from_fn` clones and boxes
//! again per request, which a profile of the session read showed as a fifth of the server's CPU.
//! Each step stays in its own module and is a plain function here.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{header::CACHE_CONTROL, HeaderValue},
    middleware::Next,
    response::Response,
};

use super::{
    http::{
        failover::failover_refusal,
        responses::checked_body,
        security::{cross_site_refusal, keep_redirect_on_site, AskedHost, SiteScheme},
    },
    redis::RedisPool,
    sessions::{self, SessionLayerState},
};

/// What the gate needs, shared by every request.
#[derive(Clone)]
pub struct SessionGate(Arc<Steps>);

struct Steps {
    site: SiteScheme,
    redis: RedisPool,
    sessions: SessionLayerState,
}

impl SessionGate {
    pub fn new(site: SiteScheme, redis: RedisPool, sessions: SessionLayerState) -> Self {
        SessionGate(Arc::new(Steps {
            site,
            redis,
            sessions,
        }))
    }
}

/// Middleware: `axum::middleware::from_fn_with_state(gate, pass_session_gate)`.
pub async fn pass_session_gate(
    State(gate): State<SessionGate>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = through(&gate.0, request, next).await;
    // Pages and API answers carry session or account data: no cache may keep them.
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn through(steps: &Steps, mut request: Request, next: Next) -> Response {
    // Refused before any Redis work.
    if let Some(refused) = cross_site_refusal(steps.site, &request) {
        return refused;
    }
    if let Some(held) = failover_refusal(&steps.redis, request.headers()).await {
        return held;
    }
    let host = AskedHost::of(&request);
    let begun = match sessions::begin(&steps.sessions, &mut request) {
        Ok(begun) => begun,
        Err(refused) => return refused,
    };
    let response = match checked_body(request).await {
        Ok(request) => next.run(request).await,
        Err(refused) => refused,
    };
    let response = begun.finish(response).await;
    keep_redirect_on_site(steps.site, &host, response)
}

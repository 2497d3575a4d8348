//! What a request that may touch a session passes, in order, as one middleware: cross-site
//! refusal, the failover hold, the session layer, the body check; on the way out, redirects kept
//! on this site and `Cache-Control: no-store`.
//!
//! One middleware, not six: axum boxes a route once per layer and `from_fn` clones and boxes
//! again per request, which a profile of the session read showed as a fifth of the server's CPU.
//! Each step stays in its own module and is a plain function here.

use std::{sync::Arc, time::Duration};

use prometheus_client::metrics::counter::Counter;

use axum::{
    extract::{Request, State},
    http::{
        header::{CACHE_CONTROL, RETRY_AFTER},
        HeaderValue, Method, StatusCode,
    },
    middleware::Next,
    response::Response,
};

use super::{
    error::retry_soon,
    http::{
        failover::failover_refusal,
        page_deadline::{page_deadline, render_within},
        responses::checked_body,
        security::{cross_site_refusal, keep_redirect_on_site, AskedHost, SiteScheme},
    },
    observability::Refusal,
    redis::RedisPool,
    sessions::SessionLayer,
    state::AppState,
};

/// What the gate needs, shared by every request.
#[derive(Clone)]
pub struct SessionGate(Arc<Steps>);

struct Steps {
    site: SiteScheme,
    redis: RedisPool,
    sessions: SessionLayer,
    /// `requests_refused_total{reason="cross_site"}`.
    cross_site_refused: Counter,
    /// Pages are answered within this (`http::page_deadline`).
    page_deadline: Duration,
}

impl SessionGate {
    /// The gate as `state`'s settings configure it, around `sessions`.
    pub fn of(state: &AppState, sessions: SessionLayer) -> Self {
        let settings = &state.settings;
        SessionGate(Arc::new(Steps {
            site: SiteScheme::of(settings.session.cookie_secure),
            redis: state.redis.clone(),
            sessions,
            cross_site_refused: state.metrics.refusals(Refusal::CrossSite),
            page_deadline: page_deadline(settings.redis.command_timeout),
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
        steps.cross_site_refused.inc();
        return refused;
    }
    if let Some(held) = failover_refusal(&steps.redis, request.headers()).await {
        return held;
    }
    let host = AskedHost::of(&request);
    let begun = match steps.sessions.begin(&mut request) {
        Ok(begun) => begun,
        Err(refused) => return refused,
    };
    // A page (not an API call: those are bounded by their Redis calls alone).
    let page = request.method() == Method::GET && !request.uri().path().starts_with("/api/");
    let response = match checked_body(request).await {
        Ok(request) if page => render_within(steps.page_deadline, next.run(request)).await,
        Ok(request) => next.run(request).await,
        Err(refused) => refused,
    };
    let mut response = begun.finish(response).await;
    // A server function's 503 is built by Leptos, not by `error_response`: it gets the same
    // `Retry-After` here (a 503 that has one keeps it).
    if response.status() == StatusCode::SERVICE_UNAVAILABLE
        && !response.headers().contains_key(RETRY_AFTER)
    {
        retry_soon(response.headers_mut());
    }
    keep_redirect_on_site(steps.site, &host, response)
}

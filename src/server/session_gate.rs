//! What a request that may touch a session passes, in order, as one middleware (see
//! ARCHITECTURE.md for why one): cross-site refusal, the failover hold, the session layer, the
//! body check, the page deadline; on the way out, `Retry-After` on every 503, redirects kept on
//! this site and `Cache-Control: no-store`.

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
    error::{error_response, failover_under_way, retry_soon},
    http::{
        page_deadline::{page_deadline, render_within},
        responses::checked_body,
        security::{asked_host, cross_site_refusal, keep_redirect_on_site, SiteScheme},
    },
    observability::{request_id_of, Refusal},
    redis::RedisPool,
    sessions::SessionLayer,
    state::AppState,
};

/// How long a request waits out a sentinel failover rather than write to a master on its way
/// out (what it took would be thrown away once it is demoted); a planned one takes 1–2 s.
const FAILOVER_HOLD: Duration = Duration::from_secs(4);

pub struct SessionGate {
    site: SiteScheme,
    redis: RedisPool,
    sessions: SessionLayer,
    cross_site_refused: Counter,
    page_deadline: Duration,
}

impl SessionGate {
    pub fn of(state: &AppState, sessions: SessionLayer) -> Arc<Self> {
        let settings = &state.settings;
        Arc::new(SessionGate {
            site: SiteScheme::of(settings.session.cookie_secure),
            redis: state.redis.clone(),
            sessions,
            cross_site_refused: state.metrics.refusals(Refusal::CrossSite),
            page_deadline: page_deadline(settings.redis.command_timeout),
        })
    }
}

/// `axum::middleware::from_fn_with_state(gate, pass_session_gate)`.
pub async fn pass_session_gate(
    State(gate): State<Arc<SessionGate>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = through(&gate, request, next).await;
    // Pages and API answers carry session or account data: no cache may keep them.
    let no_store = HeaderValue::from_static("no-store");
    response.headers_mut().insert(CACHE_CONTROL, no_store);
    response
}

async fn through(steps: &SessionGate, mut request: Request, next: Next) -> Response {
    if let Some(refused) = cross_site_refusal(steps.site, &request) {
        steps.cross_site_refused.inc();
        return refused;
    }
    if !steps.redis.failover_settled(FAILOVER_HOLD).await {
        let request_id = request_id_of(request.headers());
        return error_response(failover_under_way(), request_id);
    }
    let host = asked_host(&request);
    let begun = match steps.sessions.begin(&mut request) {
        Ok(begun) => begun,
        Err(refused) => return refused,
    };
    // API calls are bounded by their Redis calls alone.
    let page = request.method() == Method::GET && !request.uri().path().starts_with("/api/");
    let response = match checked_body(request).await {
        Ok(request) if page => render_within(steps.page_deadline, next.run(request)).await,
        Ok(request) => next.run(request).await,
        Err(refused) => refused,
    };
    let mut response = begun.finish(response).await;
    // A server function's 503 is built by Leptos, not by `error_response`.
    if response.status() == StatusCode::SERVICE_UNAVAILABLE
        && !response.headers().contains_key(RETRY_AFTER)
    {
        retry_soon(response.headers_mut());
    }
    keep_redirect_on_site(steps.site, host.as_ref(), response)
}

//! Fast paths: server functions also answered by a plain axum handler at their own `PATH`, with
//! the same body and the same JSON on the wire. The page makes two calls far more often than the
//! rest — read the session (`GET /api/session`, polled) and count +1 (`POST /api/increment`) — and
//! the crate root hands those to the router as [`FastPath`]s (`sessionboard::pages`).
//!
//! Why: Leptos' server-function dispatch gives every call a reactive owner, a copy of the
//! request's parts and a response-options cell, which cost more server CPU than the session
//! read itself. The server function stays, and both run ONE body (`ui/home.rs`,
//! `read_session_of`, `increment_counter_of`): the server function calls it while a page renders,
//! the fast path for the browser's calls, so a check added to it applies to both. A form posted
//! without JavaScript (which Leptos answers with a redirect) goes on to Leptos' dispatch.
//! `tests/api` checks that both answer alike.

use std::future::Future;

use axum::{
    extract::{Request, State},
    http::{header::ACCEPT, Method},
    response::{IntoResponse, Response},
    routing::{on, MethodFilter, MethodRouter},
    Json,
};
use leptos::server_fn::ServerFn;
use serde::Serialize;

use super::{
    error::{error_response, misconfigured},
    observability::request_id_of,
    server_fns::server_fn_handler,
    sessions::AppSession,
    state::AppState,
};
use crate::shared::error::ApiError;

/// A server function answered without Leptos' dispatch: its path and the route serving it.
pub struct FastPath {
    path: &'static str,
    route: MethodRouter<AppState>,
}

impl FastPath {
    /// The server function `S` at `S::PATH` and with its method, answered by `body` — the body
    /// `S` itself runs, given the request's session. Its value is answered as JSON, its error as
    /// `S`'s would be ([`error_response`]).
    ///
    /// Panics when `S` is not a registered server function (at start-up, building the router).
    pub fn new<S, F, Fut>(body: F) -> FastPath
    where
        S: ServerFn<Error = ApiError>,
        S::Output: Serialize,
        F: Fn(AppSession) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<S::Output, ApiError>> + Send + 'static,
    {
        let path = S::PATH;
        let method = leptos::server_fn::axum::server_fn_paths()
            .find_map(|(known, method)| (known == path).then_some(method))
            .unwrap_or_else(|| panic!("{path} is not a registered server function"));
        let filter = MethodFilter::try_from(method)
            .unwrap_or_else(|_| panic!("{path}: a server function's method"));
        let handler = move |State(state): State<AppState>, request: Request| {
            serve(path, body.clone(), state, request)
        };
        FastPath {
            path,
            route: on(filter, handler),
        }
    }

    /// The server function's `PATH`.
    pub fn path(&self) -> &'static str {
        self.path
    }

    /// The path and the route serving it, for the router.
    pub fn into_route(self) -> (&'static str, MethodRouter<AppState>) {
        (self.path, self.route)
    }
}

async fn serve<T, F, Fut>(
    path: &'static str,
    body: F,
    state: AppState,
    request: Request,
) -> Response
where
    T: Serialize,
    F: Fn(AppSession) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    if is_form_post(&request) {
        // Leptos answers it with a redirect back to the page.
        return server_fn_handler(State(state), request).await;
    }
    let result = match AppSession::of(&request) {
        Some(session) => body(session).await,
        None => Err(misconfigured(format_args!(
            "the session layer in front of {path}"
        ))),
    };
    match result {
        Ok(value) => Json(value).into_response(),
        Err(error) => error_response(error, request_id_of(request.headers()), Some(path)),
    }
}

/// A form posted without JavaScript: the browser asks for a page back.
fn is_form_post(request: &Request) -> bool {
    request.method() == Method::POST
        && request
            .headers()
            .get(ACCEPT)
            .and_then(|accept| accept.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
}

//! The two calls a page makes most — read the session (`GET /api/session`, polled) and count +1
//! (`POST /api/increment`) — answered by plain axum handlers at their server functions' own
//! paths, with the same JSON on the wire.
//!
//! Why: Leptos' server-function dispatch gives every call a reactive owner, a copy of the
//! request's parts and a response-options cell, which cost more server CPU than the session
//! read itself. The server functions (`ui/home.rs`) stay: the page calls them while rendering,
//! and a form posted without JavaScript (which Leptos answers with a redirect) still goes to
//! them. Both paths call the same `AppSession` method; `tests/api` checks the wire format.

use axum::{
    extract::{Request, State},
    http::{
        header::{HeaderName, ACCEPT},
        HeaderValue, StatusCode,
    },
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;

use super::{
    observability::request_id_of,
    server_fns::server_fn_handler,
    sessions::{AppSession, SessionError},
    state::AppState,
};
use crate::shared::error::{ApiError, ErrorCode};

/// `GetSession::PATH` (`ui/home.rs`).
pub const READ_SESSION_PATH: &str = "/api/session";
/// `IncrementCounter::PATH` (`ui/home.rs`).
pub const INCREMENT_PATH: &str = "/api/increment";

/// Leptos marks a server function's error answer with this header (its value: the path).
const SERVER_FN_ERROR: HeaderName = HeaderName::from_static("serverfnerror");

pub async fn read_session(request: Request) -> Response {
    let Some(session) = AppSession::of(&request) else {
        return misconfigured(READ_SESSION_PATH, &request);
    };
    let view = session.view().await;
    answer(READ_SESSION_PATH, &request, view)
}

pub async fn increment(State(state): State<AppState>, request: Request) -> Response {
    // A form posted without JavaScript: Leptos answers it with a redirect back to the page.
    let from_form = request
        .headers()
        .get(ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if from_form {
        return server_fn_handler(State(state), request).await;
    }
    let Some(session) = AppSession::of(&request) else {
        return misconfigured(INCREMENT_PATH, &request);
    };
    let counted = session.increment_counter().await;
    answer(INCREMENT_PATH, &request, counted)
}

/// What the server function would have answered: the value as JSON, or the error as JSON with
/// the status its code names and the request id.
fn answer<T: Serialize>(
    path: &'static str,
    request: &Request,
    result: Result<T, SessionError>,
) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(err) => error(path, request, ApiError::from(err)),
    }
}

fn error(path: &'static str, request: &Request, error: ApiError) -> Response {
    let error = error.with_request_id(request_id_of(request.headers()).map(str::to_string));
    let status =
        StatusCode::from_u16(error.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Json(error)).into_response();
    response
        .headers_mut()
        .insert(SERVER_FN_ERROR, HeaderValue::from_static(path));
    response
}

fn misconfigured(path: &'static str, request: &Request) -> Response {
    tracing::error!("the session layer is missing in front of {path}");
    error(
        path,
        request,
        ApiError::new(ErrorCode::Internal, "The server is misconfigured."),
    )
}

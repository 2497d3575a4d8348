//! Leptos' server-function dispatch, for every `/api/…` path without a handler of its own: a
//! known server function is run with the app's state in its context; any other path is a JSON
//! 404, never the library's text.

use axum::{
    body::Body,
    extract::{Request, State},
    response::{IntoResponse, Response},
};
use leptos::prelude::provide_context;
use leptos_axum::handle_server_fns_with_context;

use super::{http::responses::json_error, state::AppState};
use crate::shared::error::ErrorCode;

/// Leptos' server-function dispatch, for every `/api/…` path without a handler of its own.
pub async fn server_fn_handler(State(state): State<AppState>, request: Request<Body>) -> Response {
    let path = request.uri().path();
    let known = leptos::server_fn::axum::server_fn_paths()
        .any(|(known, method)| known == path && method == request.method());
    if !known {
        let message = "There is no such API endpoint.";
        return json_error(ErrorCode::NotFound, message, request.headers());
    }
    handle_server_fns_with_context(move || provide_context(state.clone()), request)
        .await
        .into_response()
}

//! What a Leptos server function or page render needs from the request it serves, read from the
//! Leptos context in one place.

use axum::http::{header::USER_AGENT, request::Parts};
use leptos::prelude::use_context;

use super::{
    sessions::{AppSession, ClientInfo},
    state::AppState,
};
use crate::shared::{
    error::{ApiError, ErrorCode},
    input::Username,
};

fn misconfigured(what: &str) -> ApiError {
    tracing::error!("{what} missing from the request context");
    ApiError::new(ErrorCode::Internal, "The server is misconfigured.")
}

pub fn state() -> Result<AppState, ApiError> {
    use_context::<AppState>().ok_or_else(|| misconfigured("AppState"))
}

pub fn app_session() -> Result<AppSession, ApiError> {
    AppSession::from_request().ok_or_else(|| misconfigured("the session layer"))
}

/// The signed-in user of this request's session, or 401.
pub async fn signed_in() -> Result<(AppSession, Username), ApiError> {
    let session = app_session()?;
    match session.user().await? {
        Some(user) => Ok((session, user)),
        None => Err(ApiError::new(ErrorCode::NotSignedIn, "Sign in first.")),
    }
}

/// The client's address and User-Agent, for the limiter and the session list.
pub fn client() -> ClientInfo {
    leptos::prelude::with_context(|parts: &Parts| {
        let address = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip().to_string());
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        ClientInfo {
            address: address.unwrap_or_else(|| "unknown".into()),
            user_agent: user_agent.unwrap_or_else(|| "unknown".into()),
        }
    })
    .unwrap_or_else(|| ClientInfo {
        address: "unknown".into(),
        user_agent: "unknown".into(),
    })
}

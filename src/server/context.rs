//! What a Leptos server function or page render needs from the request it serves, read from the
//! Leptos context in one place.

use axum::http::{header::USER_AGENT, request::Parts};
use leptos::prelude::use_context;

use super::{
    accounts::TrustedDevice,
    error::misconfigured,
    sessions::{AppSession, ClientInfo},
    state::AppState,
};
use crate::shared::{
    error::{ApiError, ErrorCode},
    input::Username,
};

pub fn state() -> Result<AppState, ApiError> {
    use_context::<AppState>().ok_or_else(|| misconfigured("AppState in the request context"))
}

pub fn app_session() -> Result<AppSession, ApiError> {
    AppSession::from_request()
        .ok_or_else(|| misconfigured("the session layer in the request context"))
}

/// The signed-in user of this request's session, or 401.
pub async fn signed_in() -> Result<(AppSession, Username), ApiError> {
    let session = app_session()?;
    match session.user().await? {
        Some(user) => Ok((session, user)),
        None => Err(ApiError::new(ErrorCode::NotSignedIn, "Sign in first.")),
    }
}

/// The signed-in user of this request once the password is confirmed: entered in this session
/// within the re-authentication window, or given now (checked within the sign-in limits); 401
/// otherwise.
pub async fn reauthenticated(password: Option<String>) -> Result<(AppSession, Username), ApiError> {
    let (session, user) = signed_in().await?;
    state()?
        .accounts
        .reauthenticate(
            &session,
            &user,
            password,
            &client(),
            trusted_device(user.as_str()).as_ref(),
        )
        .await?;
    Ok((session, user))
}

/// The client's address and User-Agent, for the limiter and the session list.
pub fn client() -> ClientInfo {
    let parts = use_context::<Parts>();
    let address = match (parts.as_ref(), use_context::<AppState>()) {
        (Some(parts), Some(state)) => state
            .settings
            .server
            .trusted_proxies
            .client_address(&parts.extensions, &parts.headers),
        _ => "unknown".to_string(),
    };
    let user_agent = parts
        .as_ref()
        .and_then(|p| p.headers.get(USER_AGENT))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown")
        .to_string();
    ClientInfo {
        address,
        user_agent,
    }
}

/// The browser's device cookie for `user`, when it carries one we signed for that name (see
/// `accounts::DeviceCookies`).
pub fn trusted_device(user: &str) -> Option<TrustedDevice> {
    let state = use_context::<AppState>()?;
    let user = Username::parse(user).ok()?;
    leptos::prelude::with_context(|parts: &Parts| state.devices.read(&parts.headers, &user))?
}

/// Trusts this browser for `user`'s next sign-ins: a new device cookie on the response.
pub fn remember_device(user: &Username) {
    let (Some(state), Some(response)) = (
        use_context::<AppState>(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    if let Some(cookie) = state.devices.issue(user) {
        response.append_header(axum::http::header::SET_COOKIE, cookie);
    }
}

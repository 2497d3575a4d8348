//! What a Leptos server function or page render needs from the request it serves, read from the
//! Leptos context in one place.

use axum::http::{
    header::{SET_COOKIE, USER_AGENT},
    request::Parts,
};
use leptos::prelude::{use_context, with_context};

use super::{
    accounts::TrustedDevice,
    client_address::address_text,
    error::misconfigured,
    sessions::{AppSession, ClientInfo},
    state::AppState,
};
use crate::shared::{error::ApiError, input::Username};

pub fn state() -> Result<AppState, ApiError> {
    use_context::<AppState>().ok_or_else(|| misconfigured("the app's state"))
}

pub fn app_session() -> Result<AppSession, ApiError> {
    AppSession::from_request(&state()?.metrics).ok_or_else(|| misconfigured("the session layer"))
}

/// The signed-in user of this request's session, or 401.
pub async fn signed_in() -> Result<(AppSession, Username), ApiError> {
    let session = app_session()?;
    let user = session.signed_in().await?;
    Ok((session, user))
}

/// The signed-in user of this request once the password is confirmed: entered in this session
/// within the re-authentication window, or given now (checked within the sign-in limits); 401
/// otherwise.
pub async fn reauthenticated(password: Option<String>) -> Result<(AppSession, Username), ApiError> {
    let (session, user) = signed_in().await?;
    let (client, device) = (client(), trusted_device(user.as_str()));
    let accounts = &state()?.accounts;
    let reauth = accounts.reauthenticate(&session, &user, password, &client, device.as_ref());
    reauth.await?;
    Ok((session, user))
}

/// The client's address and User-Agent, for the limiter and the session list.
pub fn client() -> ClientInfo {
    let state = use_context::<AppState>();
    with_context(|parts: &Parts| ClientInfo {
        address: state.map_or("unknown".to_string(), |state| {
            let proxies = &state.settings.server.trusted_proxies;
            address_text(proxies.client_ip(&parts.extensions, &parts.headers))
        }),
        user_agent: (parts.headers.get(USER_AGENT))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("unknown")
            .to_string(),
    })
    .unwrap_or_else(|| ClientInfo {
        address: "unknown".to_string(),
        user_agent: "unknown".to_string(),
    })
}

/// The browser's device cookie for `user`, when it carries one we signed for that name (see
/// `accounts::DeviceCookies`).
pub fn trusted_device(user: &str) -> Option<TrustedDevice> {
    let state = use_context::<AppState>()?;
    let user = Username::parse(user).ok()?;
    with_context(|parts: &Parts| state.devices.read(&parts.headers, &user))?
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
        response.append_header(SET_COOKIE, cookie);
    }
}

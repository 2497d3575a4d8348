//! Server-side causes → the safe [`ApiError`] a client sees, and the one way an `ApiError`
//! becomes an HTTP answer ([`error_response`]). The detail goes to the log; the Redis pool
//! already logs an outage once each way, so per-request store failures are logged at debug level
//! only.

use axum::{
    http::{header::RETRY_AFTER, HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use leptos::server_fn::error::SERVER_FN_ERROR_HEADER;

use super::{accounts::AccountError, sessions::SessionError};
use crate::shared::{
    clock::seconds_to_wait,
    error::{ApiError, ErrorCode},
};

/// The session store could not be reached: nothing was sent, so nothing was changed.
pub const STORE_UNAVAILABLE_MESSAGE: &str =
    "The session store is unavailable — retrying. Nothing was changed.";

/// A sentinel failover outlasted the hold (`http::failover`): nothing was sent.
pub const FAILOVER_MESSAGE: &str =
    "The session store is changing masters — retrying. Nothing was changed.";

/// A write was sent and not confirmed: "Nothing was changed" would not be true.
pub const UNCONFIRMED_MESSAGE: &str =
    "The session store did not confirm the change in time: it may or may not have been saved. \
     Reload to see.";

/// Leptos' header on a server function's error answer (its value: the function's path).
const SERVER_FN_ERROR: HeaderName = HeaderName::from_static(SERVER_FN_ERROR_HEADER);

/// The one way an [`ApiError`] becomes an HTTP answer: `{code, message, request_id}` as JSON
/// with the status its code names, `request_id` set to the request's (`X-Request-Id`),
/// `Retry-After: 1` on a 503, and, when it answers the server function at `server_fn` (its
/// `PATH`), the header a server function's own error answer carries.
pub fn error_response(
    error: ApiError,
    request_id: Option<&str>,
    server_fn: Option<&'static str>,
) -> Response {
    let error = error.with_request_id(request_id.map(str::to_owned));
    let status = error.code.http_status();
    let mut response = (status, Json(error)).into_response();
    let headers = response.headers_mut();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        retry_soon(headers);
    }
    if let Some(path) = server_fn {
        headers.insert(SERVER_FN_ERROR, HeaderValue::from_static(path));
    }
    response
}

/// `Retry-After: 1`, which every 503 carries: the client may ask again in a second.
pub fn retry_soon(headers: &mut HeaderMap) {
    headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
}

impl IntoResponse for ApiError {
    /// [`error_response`] with the request id the error carries, answering no server function.
    fn into_response(self) -> Response {
        let request_id = self.request_id.clone();
        error_response(self, request_id.as_deref(), None)
    }
}

/// The server lacks what a request needs (the session layer, the app's state): a bug, logged.
pub fn misconfigured(what: impl std::fmt::Display) -> ApiError {
    tracing::error!("{what} is missing");
    ApiError::new(ErrorCode::Internal, "The server is misconfigured.")
}

/// A sentinel failover is still under way.
pub fn failover_under_way() -> ApiError {
    ApiError::new(ErrorCode::SessionStoreUnavailable, FAILOVER_MESSAGE)
}

/// The last step of every server function: the error's code decides the response status.
pub fn answer<T>(result: Result<T, ApiError>) -> Result<T, ApiError> {
    result.map_err(ApiError::answered)
}

pub fn too_many_new_sessions(wait: std::time::Duration) -> ApiError {
    ApiError::new(
        ErrorCode::TooManyAttempts,
        format!(
            "Too many new sessions from your address. Try again in {} s.",
            seconds_to_wait(wait)
        ),
    )
}

fn store_unavailable(detail: &str) -> ApiError {
    tracing::debug!(%detail, "session store unavailable");
    ApiError::new(
        ErrorCode::SessionStoreUnavailable,
        STORE_UNAVAILABLE_MESSAGE,
    )
}

impl From<SessionError> for ApiError {
    fn from(err: SessionError) -> Self {
        match err {
            SessionError::StoreUnavailable(detail) => store_unavailable(&detail),
            SessionError::Unconfirmed(detail) => {
                tracing::debug!(%detail, "a session write was not confirmed");
                ApiError::new(ErrorCode::SessionStoreUnconfirmed, UNCONFIRMED_MESSAGE)
            }
            SessionError::Ended => ApiError::new(
                ErrorCode::SessionEnded,
                "Your session ended before the change could be saved. Reload to start a new one.",
            ),
            SessionError::Conflict => ApiError::new(
                ErrorCode::SessionConflict,
                "Another request changed your session at the same time. Nothing was changed; \
                 try again.",
            ),
            SessionError::TooManyNew(wait) => too_many_new_sessions(wait),
            SessionError::Value(detail) => {
                tracing::warn!(%detail, "a session value could not be used");
                ApiError::new(ErrorCode::Internal, "A session value could not be used.")
            }
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> Self {
        match err {
            AccountError::UsernameTaken => {
                ApiError::new(ErrorCode::UsernameTaken, "That username is taken.")
            }
            AccountError::InvalidCredentials => {
                ApiError::new(ErrorCode::InvalidCredentials, "Wrong username or password.")
            }
            AccountError::TooManyAttempts(wait) => ApiError::new(
                ErrorCode::TooManyAttempts,
                format!(
                    "Too many failed sign-ins. Try again in {} s.",
                    seconds_to_wait(wait)
                ),
            ),
            AccountError::TooManyRegistrations(wait) => ApiError::new(
                ErrorCode::TooManyAttempts,
                format!(
                    "Too many new accounts from your address. Try again in {} s.",
                    seconds_to_wait(wait)
                ),
            ),
            AccountError::ReauthRequired => ApiError::new(
                ErrorCode::ReauthRequired,
                "Enter your password to sign out other sessions.",
            ),
            AccountError::Store(err) => store_unavailable(err.details()),
            AccountError::Session(err) => err.into(),
            AccountError::PasswordChangedUnfinished(err) => {
                tracing::debug!(error = %err, "a password change did not finish");
                ApiError::new(
                    ErrorCode::PasswordChangeIncomplete,
                    "Your password was changed, but not every other session could be signed out. \
                     Use “Sign out all other sessions” once the session store is back.",
                )
            }
            AccountError::Password(err) => {
                tracing::error!(error = %err, "password hashing failed");
                ApiError::new(
                    ErrorCode::Internal,
                    "Signing in failed on the server; try again.",
                )
            }
        }
    }
}

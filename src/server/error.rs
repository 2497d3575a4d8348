//! Server-side causes → the safe [`ApiError`] a client sees, and the one way an `ApiError`
//! becomes an HTTP answer ([`error_response`]). The detail goes to the log; the Redis pool
//! already logs an outage once each way, so per-request store failures are logged at debug level
//! only.

use std::time::Duration;

use axum::{
    http::{header::RETRY_AFTER, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};

use tower_sessions_fred_store::SessionFailure;

use super::{accounts::AccountError, sessions::SessionError};
use crate::shared::{
    clock::seconds_to_wait,
    error::{ApiError, ErrorCode},
};

/// The one way an [`ApiError`] becomes an HTTP answer outside a server function:
/// `{code, message, request_id}` as JSON with the status its code names, `request_id` set to the
/// request's (`X-Request-Id`), and `Retry-After: 1` on a 503.
pub fn error_response(error: ApiError, request_id: Option<&str>) -> Response {
    let error = error.with_request_id(request_id.map(str::to_owned));
    let status = error.code.http_status();
    let mut response = (status, Json(error)).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        retry_soon(response.headers_mut());
    }
    response
}

/// `Retry-After: 1`, which every 503 carries: the client may ask again in a second.
pub fn retry_soon(headers: &mut HeaderMap) {
    headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
}

/// The server lacks what a request needs (the session layer, the app's state): a bug, logged.
pub fn misconfigured(what: &str) -> ApiError {
    tracing::error!("{what} is missing from the request");
    ApiError::new(ErrorCode::Misconfigured, "The server is misconfigured.")
}

/// A sentinel failover outlasted the hold (`http::failover`): nothing was sent.
pub fn failover_under_way() -> ApiError {
    ApiError::new(
        ErrorCode::SessionStoreUnavailable,
        "The session store is changing masters — retrying. Nothing was changed.",
    )
}

/// The session store could not be reached: nothing was sent, so nothing was changed.
pub fn store_unavailable(detail: &str) -> ApiError {
    tracing::debug!(%detail, "session store unavailable");
    ApiError::new(
        ErrorCode::SessionStoreUnavailable,
        "The session store is unavailable — retrying. Nothing was changed.",
    )
}

/// A limit refused `what`: "Too many {what}. Try again in N s."
fn too_many(what: &str, wait: Duration) -> ApiError {
    let wait = seconds_to_wait(wait);
    ApiError::new(
        ErrorCode::TooManyAttempts,
        format!("Too many {what}. Try again in {wait} s."),
    )
}

impl From<SessionError> for ApiError {
    fn from(err: SessionError) -> Self {
        match err {
            SessionError::Store(failure) => failure.into(),
            SessionError::NotSignedIn => ApiError::new(ErrorCode::NotSignedIn, "Sign in first."),
            SessionError::NoSuchSession => ApiError::new(ErrorCode::NotFound, "No such session."),
        }
    }
}

impl From<SessionFailure> for ApiError {
    fn from(failure: SessionFailure) -> Self {
        match failure {
            SessionFailure::Busy => ApiError::new(
                ErrorCode::SessionStoreUnavailable,
                "The server is busy — retrying. Nothing was changed.",
            ),
            SessionFailure::Unavailable(detail) => store_unavailable(&detail),
            SessionFailure::Unconfirmed(detail) => {
                tracing::debug!(%detail, "a session write was not confirmed");
                // Sent and not confirmed: "Nothing was changed" would not be true.
                ApiError::new(
                    ErrorCode::SessionStoreUnconfirmed,
                    "The session store did not confirm the change in time: it may or may not \
                     have been saved. Reload to see.",
                )
            }
            SessionFailure::Ended => ApiError::new(
                ErrorCode::SessionEnded,
                "Your session ended before the change could be saved. Reload to start a new one.",
            ),
            SessionFailure::Conflict => ApiError::new(
                ErrorCode::SessionConflict,
                "Another request changed your session at the same time. Nothing was changed; \
                 try again.",
            ),
            SessionFailure::TooManyNew(wait) => too_many("new sessions from your address", wait),
            SessionFailure::Rejected(detail) => {
                tracing::warn!(%detail, "a session value could not be used");
                ApiError::new(ErrorCode::Internal, "A session value could not be used.")
            }
            // A kind of failure a newer store may add: the store could not do what was asked.
            other => store_unavailable(&format!("{other:?}")),
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
            AccountError::TooManyAttempts(wait) => too_many("failed sign-ins", wait),
            AccountError::TooManyRegistrations(wait) => {
                too_many("new accounts from your address", wait)
            }
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

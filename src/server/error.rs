//! Server-side causes → the safe [`ApiError`] a client sees. The detail goes to the log; the
//! Redis pool already logs an outage once each way, so per-request store failures are logged at
//! debug level only.

use super::{accounts::AccountError, sessions::SessionError};
use crate::shared::{
    clock::seconds_to_wait,
    error::{ApiError, ErrorCode},
};

/// A write was sent and not confirmed: "Nothing was changed" would not be true.
pub const UNCONFIRMED_MESSAGE: &str =
    "The session store did not confirm the change in time: it may or may not have been saved. \
     Reload to see.";

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
        "The session store is unavailable — retrying. Nothing was changed.",
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

//! Errors as the browser sees them.
//!
//! [`ApiError`] is what a server function returns: a stable machine-readable `code` and a message
//! safe to show a user. Server-side causes are logged in detail where they are converted (see
//! `server::AppError`) and never reach the client.

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// Stable identifier, e.g. `session_store_unavailable`.
    pub code: String,
    /// A sentence for the user.
    pub message: String,
}

impl ApiError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ApiError {
            code: code.to_string(),
            message: message.into(),
        }
    }

    /// True when the session store could not be reached; the UI shows its banner for it.
    pub fn is_store_unavailable(&self) -> bool {
        self.code == STORE_UNAVAILABLE
    }
}

pub const STORE_UNAVAILABLE: &str = "session_store_unavailable";

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Request(_) => ApiError::new(
                "network",
                "The server could not be reached. Check your connection and try again.",
            ),
            ServerFnErrorErr::Args(detail) | ServerFnErrorErr::MissingArg(detail) => {
                let err = ApiError::new(
                    "bad_request",
                    format!("The form was not understood: {detail}"),
                );
                #[cfg(feature = "ssr")]
                let err = err.with_status(axum::http::StatusCode::BAD_REQUEST);
                err
            }
            other => ApiError::new("internal", format!("Something went wrong: {other}")),
        }
    }
}

#[cfg(feature = "ssr")]
mod server {
    use axum::http::StatusCode;
    use leptos::prelude::use_context;
    use leptos_axum::ResponseOptions;

    use super::{ApiError, STORE_UNAVAILABLE};
    use crate::{auth::AuthError, sessions::SessionError};

    impl ApiError {
        /// Sets the HTTP status of the server function's response (when there is one).
        pub fn with_status(self, status: StatusCode) -> Self {
            if let Some(options) = use_context::<ResponseOptions>() {
                options.set_status(status);
            }
            self
        }
    }

    /// The detail goes to the log (at debug level: the Redis pool already logs an outage once,
    /// so failed requests must not flood the log); the user gets a safe sentence.
    impl From<SessionError> for ApiError {
        fn from(err: SessionError) -> Self {
            match err {
                SessionError::StoreUnavailable(detail) => {
                    tracing::debug!(%detail, "session store unavailable");
                    ApiError::new(
                        STORE_UNAVAILABLE,
                        "The session store is unavailable — retrying. Nothing was changed.",
                    )
                    .with_status(StatusCode::SERVICE_UNAVAILABLE)
                }
                SessionError::Ended => ApiError::new(
                    "session_ended",
                    "Your session ended before the change could be saved. Reload to start a new one.",
                )
                .with_status(StatusCode::CONFLICT),
            }
        }
    }

    impl From<fred::error::Error> for ApiError {
        fn from(err: fred::error::Error) -> Self {
            SessionError::StoreUnavailable(err.details().to_string()).into()
        }
    }

    impl From<AuthError> for ApiError {
        fn from(err: AuthError) -> Self {
            match err {
                AuthError::UsernameTaken => {
                    ApiError::new("username_taken", "That username is taken.")
                        .with_status(StatusCode::CONFLICT)
                }
                AuthError::InvalidCredentials => {
                    ApiError::new("invalid_credentials", "Wrong username or password.")
                        .with_status(StatusCode::UNAUTHORIZED)
                }
                AuthError::TooManyAttempts(wait) => ApiError::new(
                    "too_many_attempts",
                    format!(
                        "Too many failed sign-ins. Try again in {} s.",
                        wait.as_secs().max(1)
                    ),
                )
                .with_status(StatusCode::TOO_MANY_REQUESTS),
                AuthError::Store(err) => err.into(),
                AuthError::Password(err) => {
                    tracing::error!(error = %err, "password hashing failed");
                    ApiError::new("internal", "Signing in failed on the server; try again.")
                        .with_status(StatusCode::INTERNAL_SERVER_ERROR)
                }
            }
        }
    }
}

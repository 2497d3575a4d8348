//! Errors as the browser sees them: a stable [`ErrorCode`] and a sentence safe to show a user.
//!
//! Server-side causes are logged in detail where they are converted (`server::error`) and never
//! reach the client; the HTTP status of an error follows from its code alone.

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
    Bytes, Encodes,
};
use serde::{Deserialize, Serialize};

/// Every error the API can answer, as it appears in the `code` field of a JSON error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    SessionStoreUnavailable,
    /// A write was sent but Redis did not confirm it in time: it may or may not have been saved.
    SessionStoreUnconfirmed,
    /// The new password is stored, but the store failed before every other session was signed
    /// out.
    PasswordChangeIncomplete,
    SessionEnded,
    /// Another request changed the same session data meanwhile; nothing was written.
    SessionConflict,
    NoteEmpty,
    NoteTooLong,
    NoteInvalid,
    ThemeInvalid,
    UsernameInvalid,
    PasswordInvalid,
    UsernameTaken,
    InvalidCredentials,
    TooManyAttempts,
    NotSignedIn,
    ReauthRequired,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    BadRequest,
    PayloadTooLarge,
    CrossSiteRequest,
    /// The request names a host this site is not (`Host`, HTTP/2 `:authority`).
    HostNotAllowed,
    Network,
    Internal,
    /// The server lacks what a request needs (the session layer, the app's state): a bug.
    Misconfigured,
}

impl ErrorCode {
    /// The HTTP status an error with this code is answered with.
    pub const fn status(self) -> u16 {
        match self {
            ErrorCode::SessionStoreUnavailable
            | ErrorCode::SessionStoreUnconfirmed
            | ErrorCode::PasswordChangeIncomplete => 503,
            ErrorCode::SessionEnded | ErrorCode::SessionConflict | ErrorCode::UsernameTaken => 409,
            ErrorCode::NoteEmpty
            | ErrorCode::NoteTooLong
            | ErrorCode::NoteInvalid
            | ErrorCode::ThemeInvalid
            | ErrorCode::UsernameInvalid
            | ErrorCode::PasswordInvalid => 422,
            ErrorCode::InvalidCredentials | ErrorCode::NotSignedIn | ErrorCode::ReauthRequired => {
                401
            }
            ErrorCode::TooManyAttempts => 429,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::BadRequest | ErrorCode::HostNotAllowed => 400,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::CrossSiteRequest => 403,
            ErrorCode::Network | ErrorCode::Internal | ErrorCode::Misconfigured => 500,
        }
    }

    #[cfg(feature = "ssr")]
    pub fn http_status(self) -> axum::http::StatusCode {
        axum::http::StatusCode::from_u16(self.status())
            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    /// A sentence for the user.
    pub message: String,
    /// The id of the request that failed (its `X-Request-Id`), for the user to quote; set by the
    /// server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            request_id: None,
        }
    }

    pub fn with_request_id(self, request_id: Option<String>) -> Self {
        ApiError { request_id, ..self }
    }

    /// True when the session store could not be reached; the UI shows its banner for it.
    pub fn is_store_unavailable(&self) -> bool {
        matches!(
            self.code,
            ErrorCode::SessionStoreUnavailable | ErrorCode::SessionStoreUnconfirmed
        )
    }

    /// Makes this error the answer of the request being served: its status follows from the
    /// code, and it names the request (`X-Request-Id`). A no-op in the browser. A plain form post
    /// (no JavaScript: the browser asks for HTML) keeps the redirect back to its page that Leptos
    /// answers it with, the error in the URL, so the page shows the message where the hydrated
    /// page would.
    pub fn answered(self) -> Self {
        #[cfg(feature = "ssr")]
        let answered = {
            use leptos::prelude::use_context;
            let parts = use_context::<axum::http::request::Parts>();
            let header = |name| parts.as_ref()?.headers.get(name)?.to_str().ok();
            let html = header(axum::http::header::ACCEPT).is_some_and(|a| a.contains("text/html"));
            if let (false, Some(options)) = (html, use_context::<leptos_axum::ResponseOptions>()) {
                options.set_status(self.code.http_status());
            }
            let id = header(axum::http::header::HeaderName::from_static("x-request-id"));
            self.with_request_id(id.map(str::to_string))
        };
        #[cfg(not(feature = "ssr"))]
        let answered = self;
        answered
    }
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Request(_) => ApiError::new(
                ErrorCode::Network,
                "The server could not be reached. Check your connection and try again.",
            ),
            // The library's own words name its internals: the client gets a plain sentence.
            ServerFnErrorErr::Args(_)
            | ServerFnErrorErr::MissingArg(_)
            | ServerFnErrorErr::Deserialization(_) => {
                ApiError::new(ErrorCode::BadRequest, "The request was not understood.")
            }
            _ => ApiError::new(ErrorCode::Internal, "Something went wrong on the server."),
        }
    }

    /// Encodes the error a server function answers with: [`ApiError::answered`], from one place
    /// for every server function (Leptos encodes an error here only to answer with it).
    fn ser(&self) -> Bytes {
        JsonEncoding::encode(&self.clone().answered()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case_on_the_wire() {
        let err = ApiError::new(ErrorCode::SessionStoreUnavailable, "x");
        let json = serde_json::to_value(&err).unwrap();
        assert_eq!(json["code"], "session_store_unavailable");
        assert_eq!(ErrorCode::SessionStoreUnavailable.status(), 503);
    }
}

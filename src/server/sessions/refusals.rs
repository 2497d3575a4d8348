//! The session layer's own answers (busy, a change it could not store) in the app's JSON error
//! shape, with the app's words: the same `ApiError` a server function would answer.

use tower_sessions_fred_store::{RenderRefusal, SessionFailure};

use super::SessionError;
use crate::shared::error::{ApiError, ErrorCode};

/// Too many requests were already waiting on the session store (the layer's one message of its
/// own; the others are `SessionError`'s, in `server::error`).
const BUSY_MESSAGE: &str = "The server is busy — retrying. Nothing was changed.";

pub struct AppRefusals;

impl RenderRefusal for AppRefusals {
    fn render(&self, failure: &SessionFailure, request_id: Option<&str>) -> String {
        let error = match failure {
            SessionFailure::Busy => ApiError::new(ErrorCode::SessionStoreUnavailable, BUSY_MESSAGE),
            // The layer has logged the detail: a handler's bug, not the client's doing.
            SessionFailure::Rejected(_) => {
                ApiError::new(ErrorCode::Internal, "The change could not be saved.")
            }
            failure => ApiError::from(SessionError::from(failure.clone())),
        };
        let error = error.with_request_id(request_id.map(str::to_string));
        serde_json::to_string(&error).unwrap_or_default()
    }
}

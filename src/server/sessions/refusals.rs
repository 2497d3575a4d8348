//! The session layer's own answers (busy, a change it could not store) in the app's JSON error
//! shape, with the app's words: the same `ApiError` a server function would answer.

use tower_sessions_fred_store::{RenderRefusal, SessionFailure};

use crate::shared::error::{ApiError, ErrorCode};

pub struct AppRefusals;

impl RenderRefusal for AppRefusals {
    fn render(&self, failure: &SessionFailure, request_id: Option<&str>) -> String {
        let error = match failure {
            // The layer has logged the detail: a handler's bug, not the client's doing.
            SessionFailure::Rejected(_) => {
                ApiError::new(ErrorCode::Internal, "The change could not be saved.")
            }
            failure => ApiError::from(failure.clone()),
        };
        let error = error.with_request_id(request_id.map(str::to_string));
        serde_json::to_string(&error).unwrap_or_default()
    }
}

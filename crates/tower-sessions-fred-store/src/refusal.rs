//! What [`crate::SessionLayer`] answers when it cannot serve a request as asked, and the hooks
//! that decide whether a brand-new session may be created.

use std::time::Duration;

use async_trait::async_trait;
use http::{Extensions, HeaderMap, StatusCode};

use crate::{SessionFailure, StoreError};

impl SessionFailure {
    /// The status the layer answers with: 503 while the store is busy or away (also for a write
    /// it did not confirm), 409 for a session that ended meanwhile or a conflicting change, 429
    /// for a refused new session, 500 for a handler's value of the wrong type.
    pub fn status(&self) -> StatusCode {
        match self {
            SessionFailure::Busy
            | SessionFailure::Unavailable(_)
            | SessionFailure::Unconfirmed(_) => StatusCode::SERVICE_UNAVAILABLE,
            SessionFailure::Ended | SessionFailure::Conflict => StatusCode::CONFLICT,
            SessionFailure::TooManyNew(_) => StatusCode::TOO_MANY_REQUESTS,
            SessionFailure::Rejected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable snake_case code for clients: `session_store_unavailable`,
    /// `session_store_unconfirmed`, `session_ended`, `session_conflict`,
    /// `too_many_new_sessions` or `internal`.
    pub fn code(&self) -> &'static str {
        match self {
            SessionFailure::Busy | SessionFailure::Unavailable(_) => "session_store_unavailable",
            SessionFailure::Unconfirmed(_) => "session_store_unconfirmed",
            SessionFailure::Ended => "session_ended",
            SessionFailure::Conflict => "session_conflict",
            SessionFailure::TooManyNew(_) => "too_many_new_sessions",
            SessionFailure::Rejected(_) => "internal",
        }
    }

    /// What the `Retry-After` header says: a second for a 503, the wait for a 429.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SessionFailure::TooManyNew(wait) => Some(*wait),
            _ if self.status() == StatusCode::SERVICE_UNAVAILABLE => Some(Duration::from_secs(1)),
            _ => None,
        }
    }

    /// An English sentence for the visitor (the detail of a failure stays in the log).
    pub fn message(&self) -> String {
        match self {
            SessionFailure::Busy => "The server is busy. Nothing was changed; try again.".into(),
            SessionFailure::Unavailable(_) => {
                "The session store is unavailable. Nothing was changed; try again.".into()
            }
            SessionFailure::Unconfirmed(_) => {
                "The session store did not confirm the change in time: it may or may not have \
                 been saved."
                    .into()
            }
            SessionFailure::Ended => "Your session ended before the change could be saved.".into(),
            SessionFailure::Conflict => {
                "Another request changed your session at the same time. Nothing was changed; \
                 try again."
                    .into()
            }
            SessionFailure::TooManyNew(wait) => format!(
                "Too many new sessions from your address. Try again in {} s.",
                wait.as_millis().div_ceil(1000).max(1)
            ),
            SessionFailure::Rejected(_) => "The change could not be saved.".into(),
        }
    }
}

/// Renders the JSON body of the layer's own answer, when it refuses a request (too busy) or a
/// change the handler made could not be stored; the layer sets the status
/// ([`SessionFailure::status`]), `Retry-After` and the content type. The default renders
/// `{"code": …, "message": …, "request_id": …}` with [`SessionFailure::code`] and
/// [`SessionFailure::message`]; implement it to answer in your application's own error shape.
///
/// ```
/// use tower_sessions_fred_store::{RenderRefusal, SessionFailure};
///
/// struct PlainWords;
///
/// impl RenderRefusal for PlainWords {
///     fn render(&self, failure: &SessionFailure, _request_id: Option<&str>) -> String {
///         serde_json::json!({ "error": failure.message() }).to_string()
///     }
/// }
///
/// let body = PlainWords.render(&SessionFailure::Conflict, None);
/// assert!(body.contains("Another request changed your session"));
/// ```
pub trait RenderRefusal: Send + Sync + 'static {
    /// The JSON body. `request_id` is the request's `x-request-id` header, when it had one.
    fn render(&self, failure: &SessionFailure, request_id: Option<&str>) -> String;
}

/// The default [`RenderRefusal`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct JsonRefusals;

impl RenderRefusal for JsonRefusals {
    fn render(&self, refusal: &SessionFailure, request_id: Option<&str>) -> String {
        let mut body = serde_json::Map::new();
        body.insert("code".into(), refusal.code().into());
        body.insert("message".into(), refusal.message().into());
        if let Some(id) = request_id {
            body.insert("request_id".into(), id.into());
        }
        serde_json::Value::Object(body).to_string()
    }
}

/// Asked, once, before a request stores a brand-new session (not a new id for an existing one).
#[async_trait]
pub trait NewSessionGate: Send + Sync {
    /// `Ok(None)`: store it. `Ok(Some(wait))`: refuse it (429); it may be tried after `wait`.
    /// An error is answered as the store being unavailable.
    async fn admit(&self) -> Result<Option<Duration>, StoreError>;
}

/// Makes each request's [`NewSessionGate`] from the request itself, for example to limit how many
/// sessions one client address may create per minute.
pub trait NewSessionPolicy: Send + Sync + 'static {
    /// The gate of the request with these headers and extensions.
    fn gate(&self, headers: &HeaderMap, extensions: &Extensions) -> Box<dyn NewSessionGate>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_body_carries_code_message_and_request_id() {
        let body = JsonRefusals.render(&SessionFailure::Busy, Some("r-1"));
        assert!(body.starts_with(r#"{"code":"session_store_unavailable","#));
        assert!(body.ends_with(r#""request_id":"r-1"}"#));
        assert_eq!(SessionFailure::Conflict.status(), StatusCode::CONFLICT);
    }
}

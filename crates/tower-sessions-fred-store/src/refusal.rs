//! What [`crate::SessionLayer`] answers when it cannot serve a request as asked, and the hook
//! that decides whether a brand-new session may be created.

use std::time::Duration;

use async_trait::async_trait;
use http::{Extensions, HeaderMap, StatusCode};

use crate::SessionFailure;

/// Why the layer answered a request itself.
#[derive(Debug, Clone, Copy)]
pub enum Refusal<'a> {
    /// Too many requests were already waiting on the store: refused before the handler ran.
    Busy,
    /// A change the handler made could not be stored, so its answer would have been untrue.
    Failed(&'a SessionFailure),
}

impl Refusal<'_> {
    /// 503 while the store is busy or away (also for a write it did not confirm), 409 for a
    /// session that ended meanwhile, 429 for a refused new session, 500 for a handler's value of
    /// the wrong type.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::Busy
            | Refusal::Failed(SessionFailure::Unavailable(_))
            | Refusal::Failed(SessionFailure::Unconfirmed(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::Failed(SessionFailure::Ended) => StatusCode::CONFLICT,
            Refusal::Failed(SessionFailure::TooManyNew(_)) => StatusCode::TOO_MANY_REQUESTS,
            Refusal::Failed(SessionFailure::Rejected(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable snake_case code for clients: `session_store_unavailable`,
    /// `session_store_unconfirmed`, `session_ended`, `too_many_new_sessions` or `internal`.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Busy | Refusal::Failed(SessionFailure::Unavailable(_)) => {
                "session_store_unavailable"
            }
            Refusal::Failed(SessionFailure::Unconfirmed(_)) => "session_store_unconfirmed",
            Refusal::Failed(SessionFailure::Ended) => "session_ended",
            Refusal::Failed(SessionFailure::TooManyNew(_)) => "too_many_new_sessions",
            Refusal::Failed(SessionFailure::Rejected(_)) => "internal",
        }
    }

    /// What the `Retry-After` header says: a second for a 503, the wait for a 429.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Refusal::Failed(SessionFailure::TooManyNew(wait)) => Some(*wait),
            _ if self.status() == StatusCode::SERVICE_UNAVAILABLE => Some(Duration::from_secs(1)),
            _ => None,
        }
    }

    /// An English sentence for the visitor (the detail of a failure stays in the log).
    pub fn message(&self) -> String {
        match self {
            Refusal::Busy => "The server is busy. Nothing was changed; try again.".into(),
            Refusal::Failed(SessionFailure::Unavailable(_)) => {
                "The session store is unavailable. Nothing was changed; try again.".into()
            }
            Refusal::Failed(SessionFailure::Unconfirmed(_)) => {
                "The session store did not confirm the change in time: it may or may not have \
                 been saved."
                    .into()
            }
            Refusal::Failed(SessionFailure::Ended) => {
                "Your session ended before the change could be saved.".into()
            }
            Refusal::Failed(SessionFailure::TooManyNew(wait)) => format!(
                "Too many new sessions from your address. Try again in {} s.",
                wait.as_millis().div_ceil(1000).max(1)
            ),
            Refusal::Failed(SessionFailure::Rejected(_)) => "The change could not be saved.".into(),
        }
    }
}

/// Renders the JSON body of a [`Refusal`]; the layer sets the status, `Retry-After` and the
/// content type. Implement it to answer in your application's own error shape and words.
pub trait RenderRefusal: Send + Sync + 'static {
    /// The JSON body. `request_id` is the request's `x-request-id` header, when it had one.
    fn render(&self, refusal: &Refusal<'_>, request_id: Option<&str>) -> String;
}

/// `{"code": …, "message": …, "request_id": …}` with [`Refusal::code`] and
/// [`Refusal::message`]: the default.
///
/// ```
/// use tower_sessions_fred_store::{JsonRefusals, Refusal, RenderRefusal};
///
/// let body = JsonRefusals.render(&Refusal::Busy, Some("r-1"));
/// assert!(body.starts_with(r#"{"code":"session_store_unavailable","#));
/// assert!(body.ends_with(r#""request_id":"r-1"}"#));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonRefusals;

impl RenderRefusal for JsonRefusals {
    fn render(&self, refusal: &Refusal<'_>, request_id: Option<&str>) -> String {
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
    async fn admit(&self) -> Result<Option<Duration>, fred::error::Error>;
}

/// Makes each request's [`NewSessionGate`] from the request itself, for example to limit how many
/// sessions one client address may create per minute.
pub trait NewSessionPolicy: Send + Sync + 'static {
    /// The gate of the request with these headers and extensions.
    fn gate(&self, headers: &HeaderMap, extensions: &Extensions) -> Box<dyn NewSessionGate>;
}

//! The session layer: gives every request a tower-sessions [`Session`] on Redis, and after the
//! handler saves what it changed and sets or clears the cookie.
//!
//! It plays the part of tower-sessions' `SessionManagerLayer`, which cannot do three things this
//! app needs: give each request its own store (so a save writes only what that request changed,
//! see `request_store`), answer a failed save with a JSON 503/409 instead of a bare 500, and
//! accept cookies signed with a previous secret. Handlers see the standard `Session` either way.
//!
//! It also bounds how many requests may be inside it — waiting on Redis — at once: beyond
//! `REDIS_MAX_WAITING_REQUESTS` a request is answered 503 at once instead of joining a queue that
//! a slow Redis would only make longer.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{Request, State},
    http::{
        header::{COOKIE, RETRY_AFTER, SET_COOKIE},
        HeaderValue, StatusCode,
    },
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_sessions::{
    cookie::{Cookie, CookieJar, Key, SameSite},
    session::Id,
    Expiry, Session,
};

use super::{
    changes::Failure, creation::NewSessionLimit, expiry, request_store::RequestStore,
    store::RedisSessionStore, user_index::SessionHandle,
};
use crate::{
    server::observability::{request_id_of, SessionFingerprint},
    shared::{
        clock::{now_ms, seconds_to_wait},
        error::{ApiError, ErrorCode},
    },
};

/// A key read only to make tower-sessions load the record.
const EXPIRY_PROBE: &str = "";

/// How the session cookie is named, protected and signed.
#[derive(Clone)]
pub struct CookieSettings {
    pub name: String,
    pub secure: bool,
    pub same_site: SameSite,
    /// Signs new cookies; verified first.
    pub key: Key,
    /// Still accepted (and the cookie re-signed with `key`), so rotating the secret signs nobody
    /// out.
    pub previous_keys: Vec<Key>,
}

/// Everything the layer needs, shared by all requests.
#[derive(Clone)]
pub struct SessionLayerState {
    pub store: RedisSessionStore,
    pub cookie: Arc<CookieSettings>,
    /// One permit per request inside the layer.
    pub waiting: Arc<Semaphore>,
    pub new_sessions: Arc<NewSessionLimit>,
}

/// The session id a request's cookie carried, if it was ours and intact.
struct Incoming {
    id: Option<Id>,
    cookie_present: bool,
    /// Signed with a previous key: re-issue it signed with the current one.
    resign: bool,
}

/// Middleware: `axum::middleware::from_fn_with_state(state, manage_sessions)`. The app's router
/// runs the same two steps, [`begin`] and [`Begun::finish`], inside its one session-path
/// middleware.
pub async fn manage_sessions(
    State(state): State<SessionLayerState>,
    mut request: Request,
    next: Next,
) -> Response {
    match begin(&state, &mut request) {
        Ok(begun) => begun.finish(next.run(request).await).await,
        Err(refused) => refused,
    }
}

/// A request inside the session layer: its session, and what the response needs to know.
pub struct Begun {
    cookie: Arc<CookieSettings>,
    session: Session,
    request_store: Arc<RequestStore>,
    incoming: Incoming,
    request_id: Option<String>,
    _waiting: OwnedSemaphorePermit,
}

/// Gives `request` its session (read from the cookie, loaded from Redis only when a handler asks),
/// or refuses it at once when too many requests are already waiting on the store.
// The refusal is the answer itself; `Begun` is no smaller than a `Response`, so boxing the error
// would save nothing and allocate.
#[allow(clippy::result_large_err)]
pub fn begin(state: &SessionLayerState, request: &mut Request) -> Result<Begun, Response> {
    let request_id = request_id_of(request.headers()).map(str::to_string);
    let Ok(waiting) = state.waiting.clone().try_acquire_owned() else {
        tracing::debug!("too many requests waiting on the session store; refused one");
        return Err(unavailable(
            ApiError::new(
                ErrorCode::SessionStoreUnavailable,
                "The server is busy — retrying. Nothing was changed.",
            )
            .with_request_id(request_id),
        ));
    };
    let incoming = read_cookie(request, &state.cookie);
    let gate = state.new_sessions.gate(request);
    let request_store = RequestStore::new(state.store.clone(), Some(gate));
    let idle = time::Duration::milliseconds(state.store.policy().idle_ms());
    let session = Session::new(
        incoming.id,
        request_store.clone(),
        Some(Expiry::OnInactivity(idle)),
    );
    request.extensions_mut().insert(super::SessionContext {
        session: session.clone(),
        request_store: request_store.clone(),
    });
    request.extensions_mut().insert(session.clone());
    Ok(Begun {
        cookie: state.cookie.clone(),
        session,
        request_store,
        incoming,
        request_id,
        _waiting: waiting,
    })
}

impl Begun {
    /// After the handler: saves what it changed, sets or clears the cookie, and names the session
    /// (by its fingerprint) for the request log.
    pub async fn finish(self, response: Response) -> Response {
        let mut response = finish(
            &self.cookie,
            &self.session,
            &self.request_store,
            &self.incoming,
            response,
            self.request_id,
        )
        .await;
        // Whatever answered 503 (a server function, a page), the client may retry in a second.
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .entry(RETRY_AFTER)
                .or_insert(HeaderValue::from_static(RETRY_AFTER_SECONDS));
        }
        // The request log names the session by its fingerprint, never by its id.
        if let Some(id) = self.session.id().or(self.incoming.id) {
            let fingerprint = SessionFingerprint::new(id, |id| SessionHandle::of(id).to_string());
            response.extensions_mut().insert(fingerprint);
        }
        response
    }
}

/// A write was sent and not confirmed: "Nothing was changed" would not be true.
pub const UNCONFIRMED_MESSAGE: &str =
    "The session store did not confirm the change in time: it may or may not have been saved. \
     Reload to see.";

/// How long a client is asked to wait before retrying a 503.
const RETRY_AFTER_SECONDS: &str = "1";

/// A 503 in the shape of every API error, with `Retry-After`.
fn unavailable(error: ApiError) -> Response {
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(error)).into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    response
}

/// Saves what the request changed, moves the deadline when due, and sets the cookie.
async fn finish(
    cookie: &CookieSettings,
    session: &Session,
    request_store: &RequestStore,
    incoming: &Incoming,
    mut response: Response,
    request_id: Option<String>,
) -> Response {
    // A handler that chose another expiry: `AtDateTime` ends the session at that date at the
    // latest, `OnSessionEnd` makes this response's cookie a browser-session cookie. Either needs
    // the stored deadlines, so the session is loaded if the handler did not.
    let expiry = session.expiry();
    let expiry_changed = !matches!(expiry, Some(Expiry::OnInactivity(_)));
    if expiry_changed && request_store.loaded().is_none() && session.id().is_some() {
        // Any read loads the record; a failure leaves the expiry as it was.
        let _ = session.get_value(EXPIRY_PROBE).await;
    }
    if session.is_empty().await {
        // Signed out, flushed, or a cookie for a session that is gone: the browser drops it.
        if incoming.cookie_present {
            append_cookie(&mut response, removal_cookie(cookie));
        }
        return response;
    }
    if let Some(Expiry::AtDateTime(at)) = expiry {
        request_store.cap_absolute(expiry::date_ms(at));
    }
    // Only a session the handler loaded is refreshed: requests that never look at the session
    // cost no Redis command at all.
    request_store.slide_deadline(false);
    let deadline_moves = request_store.has_pending_deadline();
    // A store failure the handler met and answered with an error: trying again would only make
    // the client wait a second command timeout.
    let answered_failure = request_store.failure().is_some() && !response.status().is_success();
    let attempt = (session.is_modified() || deadline_moves)
        && !answered_failure
        && !response.status().is_server_error();
    let mut saved = false;
    if attempt {
        match session.save().await {
            Ok(()) => saved = true,
            Err(err) => {
                if let Some(refusal) =
                    refuse_lost_change(request_store, cookie, incoming, request_id)
                {
                    return refusal;
                }
                // Only the deadline could not be moved: the session ends at its previous
                // deadline and the next request tries again.
                tracing::debug!(error = %err, "could not move a session deadline");
            }
        }
    }
    if request_store.failure() == Some(Failure::Ended) && incoming.cookie_present {
        // The session is gone (signed out elsewhere, revoked, expired): so is its cookie.
        append_cookie(&mut response, removal_cookie(cookie));
        return response;
    }
    let Some(id) = session.id() else {
        return response;
    };
    let needs_cookie =
        Some(id) != incoming.id || incoming.resign || expiry_changed || (deadline_moves && saved);
    if let (true, Some(deadline)) = (needs_cookie, request_store.deadline()) {
        let max_age = match expiry {
            Some(Expiry::OnSessionEnd) => None,
            _ => Some(expiry::cookie_max_age(deadline, now_ms())),
        };
        append_cookie(&mut response, session_cookie(cookie, id, max_age));
    }
    response
}

/// A change the handler made could not be stored: the client must not be told it worked. A
/// failed deadline move alone is not refused (the answer stands; the next request tries again).
fn refuse_lost_change(
    request_store: &RequestStore,
    cookie: &CookieSettings,
    incoming: &Incoming,
    request_id: Option<String>,
) -> Option<Response> {
    let lost_data = request_store.failed_with_data();
    let error = match request_store.failure()? {
        Failure::Ended if lost_data => ApiError::new(
            ErrorCode::SessionEnded,
            "Your session ended before the change could be saved. Reload to start a new one.",
        ),
        Failure::Unavailable(_) if lost_data => ApiError::new(
            ErrorCode::SessionStoreUnavailable,
            "The session store is unavailable — retrying. Nothing was changed.",
        ),
        Failure::Unconfirmed(_) if lost_data => {
            ApiError::new(ErrorCode::SessionStoreUnconfirmed, UNCONFIRMED_MESSAGE)
        }
        Failure::Rejected(detail) => {
            tracing::error!(%detail, "a handler stored a session value the app cannot read");
            ApiError::new(ErrorCode::Internal, "The change could not be saved.")
        }
        Failure::TooManyNew(wait) => ApiError::new(
            ErrorCode::TooManyAttempts,
            format!(
                "Too many new sessions from your address. Try again in {} s.",
                seconds_to_wait(wait)
            ),
        ),
        Failure::Ended | Failure::Unavailable(_) | Failure::Unconfirmed(_) => return None,
    }
    .with_request_id(request_id);
    let status = StatusCode::from_u16(error.code.status()).unwrap_or(StatusCode::CONFLICT);
    let ended = error.code == ErrorCode::SessionEnded;
    if status == StatusCode::SERVICE_UNAVAILABLE {
        return Some(unavailable(error));
    }
    let mut response = (status, Json(error)).into_response();
    if ended && incoming.cookie_present {
        append_cookie(&mut response, removal_cookie(cookie));
    }
    Some(response)
}

fn read_cookie(request: &Request<Body>, settings: &CookieSettings) -> Incoming {
    let mut incoming = Incoming {
        id: None,
        cookie_present: false,
        resign: false,
    };
    // Every cookie of our name is tried: one planted beside ours (same name, other path or
    // domain) must not hide the one we signed.
    let candidates = request
        .headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse_encoded)
        .filter_map(Result::ok)
        .filter(|cookie| cookie.name() == settings.name);
    for found in candidates {
        incoming.cookie_present = true;
        let keys = std::iter::once(&settings.key).chain(&settings.previous_keys);
        for (position, key) in keys.enumerate() {
            let verified = CookieJar::new()
                .signed(key)
                .verify(found.clone().into_owned());
            // A signed value that is not an id simply means "no session".
            if let Some(id) = verified.and_then(|cookie| cookie.value().parse::<Id>().ok()) {
                incoming.id = Some(id);
                incoming.resign = position > 0;
                return incoming;
            }
        }
    }
    incoming
}

fn session_cookie(
    settings: &CookieSettings,
    id: Id,
    max_age: Option<time::Duration>,
) -> Cookie<'static> {
    let mut cookie = base_cookie(settings, id.to_string());
    if let Some(max_age) = max_age {
        cookie.set_max_age(max_age);
    }
    let mut jar = CookieJar::new();
    jar.signed_mut(&settings.key).add(cookie);
    jar.get(&settings.name)
        .cloned()
        .unwrap_or_else(|| base_cookie(settings, String::new()))
}

fn removal_cookie(settings: &CookieSettings) -> Cookie<'static> {
    let mut cookie = base_cookie(settings, String::new());
    cookie.make_removal();
    cookie
}

fn base_cookie(settings: &CookieSettings, value: String) -> Cookie<'static> {
    Cookie::build((settings.name.clone(), value))
        .http_only(true)
        .same_site(settings.same_site)
        .secure(settings.secure)
        .path("/")
        .build()
}

fn append_cookie(response: &mut Response, cookie: Cookie<'static>) {
    if let Ok(value) = HeaderValue::from_str(&cookie.encoded().to_string()) {
        response.headers_mut().append(SET_COOKIE, value);
    }
}

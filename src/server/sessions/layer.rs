//! The session layer: gives every request a tower-sessions [`Session`] on Redis, and after the
//! handler saves what it changed and sets or clears the cookie.
//!
//! It plays the part of tower-sessions' `SessionManagerLayer`, which cannot do three things this
//! app needs: give each request its own store (so a save writes only what that request changed,
//! see `request_store`), answer a failed save with a JSON 503/409 instead of a bare 500, and
//! accept cookies signed with a previous secret. Handlers see the standard `Session` either way.

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
use tower_sessions::{
    cookie::{Cookie, CookieJar, Key, SameSite},
    session::Id,
    Expiry, Session,
};

use super::{
    expiry,
    request_store::{Failure, RequestStore},
    store::RedisSessionStore,
    user_index::SessionHandle,
};
use crate::{
    server::observability::{request_id_of, SessionFingerprint},
    shared::{
        clock::now_ms,
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
}

/// The session id a request's cookie carried, if it was ours and intact.
struct Incoming {
    id: Option<Id>,
    cookie_present: bool,
    /// Signed with a previous key: re-issue it signed with the current one.
    resign: bool,
}

/// Middleware: `axum::middleware::from_fn_with_state(state, manage_sessions)`.
pub async fn manage_sessions(
    State(state): State<SessionLayerState>,
    mut request: Request,
    next: Next,
) -> Response {
    let incoming = read_cookie(&request, &state.cookie);
    let request_store = RequestStore::new(state.store.clone());
    let idle = time::Duration::milliseconds(state.store.policy().idle_ms());
    let session = Session::new(
        incoming.id,
        request_store.clone(),
        Some(Expiry::OnInactivity(idle)),
    );
    request.extensions_mut().insert(session.clone());
    request.extensions_mut().insert(super::SessionContext {
        session: session.clone(),
        request_store: request_store.clone(),
    });
    let request_id = request_id_of(request.headers()).map(str::to_string);
    let response = next.run(request).await;
    let mut response = finish(
        &state.cookie,
        &session,
        &request_store,
        &incoming,
        response,
        request_id,
    )
    .await;
    // The request log names the session by its fingerprint, never by its id.
    if let Some(id) = session.id().or(incoming.id) {
        let fingerprint = SessionFingerprint(SessionHandle::of(&id).to_string());
        response.extensions_mut().insert(fingerprint);
    }
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
    if session.is_empty().await {
        // Signed out, flushed, or a cookie for a session that is gone: the browser drops it.
        if incoming.cookie_present {
            append_cookie(&mut response, removal_cookie(cookie));
        }
        return response;
    }
    // A handler that chose another expiry: `AtDateTime` ends the session at that date at the
    // latest, `OnSessionEnd` makes this response's cookie a browser-session cookie. Either needs
    // the stored deadlines, so the session is loaded if the handler did not.
    let expiry = session.expiry();
    let expiry_changed = !matches!(expiry, Some(Expiry::OnInactivity(_)));
    if expiry_changed && request_store.loaded().is_none() {
        // Any read loads the record; a failure leaves the expiry as it was.
        let _ = session.get_value(EXPIRY_PROBE).await;
    }
    if let Some(Expiry::AtDateTime(at)) = expiry {
        request_store.cap_absolute(expiry::date_ms(at));
    }
    // Only a session the handler loaded is refreshed: requests that never look at the session
    // cost no Redis command at all.
    request_store.slide_deadline(false);
    let deadline_moves = request_store.has_pending_deadline();
    let mut saved = true;
    if (session.is_modified() || deadline_moves) && !response.status().is_server_error() {
        if let Err(err) = session.save().await {
            saved = false;
            if let Some(refusal) = refuse_lost_change(request_store, request_id) {
                return refusal;
            }
            // Only the deadline could not be moved: the session ends at its previous deadline
            // and the next request tries again.
            tracing::debug!(error = %err, "could not move a session deadline");
        }
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

/// A change the handler made could not be stored: the client must not be told it worked.
fn refuse_lost_change(
    request_store: &RequestStore,
    request_id: Option<String>,
) -> Option<Response> {
    let error = match request_store.failure()? {
        Failure::Ended => ApiError::new(
            ErrorCode::SessionEnded,
            "Your session ended before the change could be saved. Reload to start a new one.",
        ),
        Failure::Unavailable(_) if request_store.failed_with_data() => ApiError::new(
            ErrorCode::SessionStoreUnavailable,
            "The session store is unavailable — retrying. Nothing was changed.",
        ),
        Failure::Unavailable(_) => return None,
    }
    .with_request_id(request_id);
    let status = StatusCode::from_u16(error.code.status()).unwrap_or(StatusCode::CONFLICT);
    let mut response = (status, Json(error)).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    Some(response)
}

fn read_cookie(request: &Request<Body>, settings: &CookieSettings) -> Incoming {
    let mut incoming = Incoming {
        id: None,
        cookie_present: false,
        resign: false,
    };
    let found = request
        .headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse_encoded)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == settings.name);
    let Some(found) = found else {
        return incoming;
    };
    incoming.cookie_present = true;
    let keys = std::iter::once(&settings.key).chain(&settings.previous_keys);
    for (position, key) in keys.enumerate() {
        let verified = CookieJar::new()
            .signed(key)
            .verify(found.clone().into_owned());
        if let Some(verified) = verified {
            // A signed value that is not an id (or a tampered one) simply means "no session".
            incoming.id = verified.value().parse::<Id>().ok();
            incoming.resign = position > 0 && incoming.id.is_some();
            break;
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

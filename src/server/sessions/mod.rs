//! Server-side sessions, in the order a request meets them:
//!
//! `layer` (cookie → `Session` for the request, save and cookie after the handler) →
//! `app_session` (the typed view the app uses) → `request_store` (the tower-sessions store of
//! one request: saves only what changed) → `store` (Redis hashes, Lua in `scripts/`) and
//! `user_index` (which sessions a user has), with `record` (the hash layout) and `expiry` (the
//! deadlines) beside them; `live` keeps the live-session count and `expiry_events` hears of
//! sessions that expire.

mod app_session;
mod changes;
mod creation;
mod expiry;
pub mod expiry_events;
mod layer;
mod live;
mod record;
mod request_store;
mod store;
mod store_error;
mod user_index;

use std::sync::Arc;

use secrecy::ExposeSecret;
use sha2::{Digest, Sha512};
use tokio::sync::Semaphore;
use tower_sessions::{
    cookie::{Key, SameSite},
    Session,
};

pub use app_session::{AppSession, ClientInfo, SessionError};
pub use creation::NewSessionLimit;
pub use expiry::ExpiryPolicy;
pub use layer::{
    begin, manage_sessions, Begun, CookieSettings, SessionLayerState, UNCONFIRMED_MESSAGE,
};
pub use live::LiveSessions;
pub use request_store::RequestStore;
pub use store::{RedisSessionStore, StoreError};
pub use user_index::{ListedSession, SessionHandle};

use crate::server::{
    config::{self, Settings},
    redis::WindowCounter,
};

/// What the session layer needs: the store, and the cookie as configured (HttpOnly, SameSite and
/// Secure as set, signed with `SESSION_SECRET`; one signed with a `SESSION_SECRET_PREVIOUS` is
/// accepted and re-signed, one whose signature matches none is ignored, as if there were none),
/// and at most `REDIS_MAX_WAITING_REQUESTS` requests inside the layer at once.
pub fn layer_state(store: RedisSessionStore, settings: &Settings) -> SessionLayerState {
    let new_sessions = Arc::new(NewSessionLimit::new(
        WindowCounter::new(store.pool().clone()),
        store.keys().clone(),
        settings.session.new_per_address_per_minute,
        settings.server.trusted_proxies.clone(),
    ));
    SessionLayerState {
        store,
        new_sessions,
        cookie: Arc::new(cookie_settings(&settings.session)),
        waiting: Arc::new(Semaphore::new(settings.redis.max_waiting_requests)),
    }
}

/// The session cookie as configured.
pub fn cookie_settings(settings: &config::SessionSettings) -> CookieSettings {
    CookieSettings {
        name: settings.cookie_name.clone(),
        secure: settings.cookie_secure,
        same_site: match settings.cookie_same_site {
            config::SameSite::Lax => SameSite::Lax,
            config::SameSite::Strict => SameSite::Strict,
        },
        key: signing_key(settings.secret.expose()),
        previous_keys: settings
            .previous_secrets
            .iter()
            .map(|secret| signing_key(secret.expose_secret()))
            .collect(),
    }
}

/// The cookie crate wants 64 bytes of key; SHA-512 stretches any configured secret to that.
fn signing_key(secret: &str) -> Key {
    let digest = Sha512::digest(secret.as_bytes());
    Key::from(digest.as_slice())
}

/// The session of the request being served, as the layer put it in the request: a standard
/// `Session` and the store of this request.
#[derive(Clone)]
pub struct SessionContext {
    pub session: Session,
    pub request_store: Arc<RequestStore>,
}

impl AppSession {
    /// The session the session layer gave `request`.
    pub fn of<B>(request: &axum::http::Request<B>) -> Option<AppSession> {
        let context = request.extensions().get::<SessionContext>()?.clone();
        Some(AppSession::new(context.session, context.request_store))
    }

    /// The session of the request being served (inside a server function or a page render).
    pub fn from_request() -> Option<AppSession> {
        // Borrowed, not cloned: cloning the request's parts would copy every header.
        let context = leptos::prelude::with_context(|parts: &axum::http::request::Parts| {
            parts.extensions.get::<SessionContext>().cloned()
        })??;
        Some(AppSession::new(context.session, context.request_store))
    }
}

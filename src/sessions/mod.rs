//! Server-side sessions: the Redis store, the typed session, and the tower-sessions layer.

mod app_session;
pub mod fields;
mod store;
mod user_index;

pub use app_session::{AppSession, SessionError};
pub use store::{deadline_ms, fingerprint, now_ms, ExpiryPolicy, RedisSessionStore, StoreError};
pub use user_index::{IndexEntry, ListedSession, UserIndex};

use sha2::{Digest, Sha512};
use tower_sessions::{
    cookie::{Key, SameSite},
    service::SignedCookie,
    Expiry, SessionManagerLayer,
};

use crate::configuration::{self, SessionSettings};

/// The cookie layer: HttpOnly, SameSite and Secure as configured, signed with `SESSION_SECRET`
/// (a cookie whose signature does not match is ignored, as if there were none).
pub fn layer(
    store: RedisSessionStore,
    settings: &SessionSettings,
) -> SessionManagerLayer<RedisSessionStore, SignedCookie> {
    let same_site = match settings.cookie_same_site {
        configuration::SameSite::Lax => SameSite::Lax,
        configuration::SameSite::Strict => SameSite::Strict,
    };
    let idle = time::Duration::seconds(settings.idle_timeout.as_secs() as i64);
    SessionManagerLayer::new(store)
        .with_name(settings.cookie_name.clone())
        .with_http_only(true)
        .with_same_site(same_site)
        .with_secure(settings.cookie_secure)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(idle))
        .with_signed(signing_key(settings.secret.expose()))
}

/// The cookie crate wants 64 bytes of key; SHA-512 stretches any configured secret to that.
fn signing_key(secret: &str) -> Key {
    let digest = Sha512::digest(secret.as_bytes());
    Key::from(digest.as_slice())
}

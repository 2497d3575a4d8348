//! The app's side of server-side sessions. The session store itself — the layer, the per-request
//! store, the Redis layout, the user index, the breaker — is the workspace crate
//! `tower-sessions-fred-store`; this module builds it from the settings, in this one place, and
//! adds what is the app's own: the typed `AppSession`, the new-session limit per address, metrics
//! and the live-session count, refusals in the app's error shape, and expiry events.

mod app_session;
mod creation;
pub mod expiry_events;
mod live;
mod observer;
mod refusals;

use std::sync::Arc;

use fred::prelude::Pool;
use secrecy::ExposeSecret;
use tower_sessions::cookie::{Key, SameSite};
use tower_sessions_fred_store::{CookieSettings, NearCacheSettings, StoreBuilder};
pub use tower_sessions_fred_store::{RedisSessionStore, SessionHandle, SessionLayer};

use app_session::keys;
pub use app_session::{AppSession, ClientInfo, SessionError};
use creation::NewSessionLimit;
pub use live::LiveSessions;
use observer::SessionObserver;

use crate::{
    server::{
        config::{self, Settings},
        observability::Metrics,
        redis::{KeySpace, RedisPool, WindowCounter},
    },
    shared::session_keys,
};

/// The session store as the settings configure it, sharing the pool's breaker and reporting
/// into `metrics` and `live`.
pub fn build_store(
    settings: &Settings,
    redis: &RedisPool,
    metrics: &Metrics,
    live: &LiveSessions,
) -> RedisSessionStore {
    let mut builder = store_builder(settings, redis.pool.clone());
    if settings.session.near_cache {
        builder = builder.near_cache(NearCacheSettings::default());
    }
    builder
        .shared_breaker(redis.breaker().clone())
        .wait_for_replicas(settings.redis.wait_replicas, settings.redis.command_timeout)
        .observer(Arc::new(SessionObserver {
            metrics: metrics.clone(),
            live: live.clone(),
        }))
        .owner_keys(settings.session.expiry_events)
        .build()
}

/// What the app's sessions are, whoever runs them: the key prefix, the deadlines and the keys
/// the app reads with a type.
pub fn store_builder(settings: &Settings, pool: Pool) -> StoreBuilder {
    let session = &settings.session;
    RedisSessionStore::builder(pool)
        .key_prefix(settings.redis.key_prefix.clone())
        .idle_timeout(session.idle_timeout)
        .anonymous_idle_timeout(session.anonymous_idle_timeout)
        .absolute_timeout(session.absolute_timeout)
        .refresh_fraction(session.refresh_fraction)
        .typed_key::<i64>(keys::COUNTER)
        .typed_key::<i64>(keys::PASSWORD_AT)
        .typed_key::<String>(session_keys::NOTE.name)
        .typed_key::<String>(session_keys::THEME.name)
}

/// The session layer: the cookie as configured (HttpOnly, SameSite and Secure as set, signed
/// with `SESSION_SECRET`; one signed with a `SESSION_SECRET_PREVIOUS` is accepted and re-signed,
/// one whose signature matches none is ignored, as if there were none), at most
/// `REDIS_MAX_WAITING_REQUESTS` requests inside at once, new sessions limited per address, and
/// refusals in the app's JSON error shape.
pub fn session_layer(store: RedisSessionStore, settings: &Settings) -> SessionLayer {
    let new_sessions = NewSessionLimit(Arc::new(creation::Limit {
        counter: WindowCounter::new(store.pool().clone()),
        keys: KeySpace::new(&settings.redis.key_prefix),
        per_minute: settings.session.new_per_address_per_minute,
        proxies: settings.server.trusted_proxies.clone(),
    }));
    SessionLayer::new(store, cookie_settings(&settings.session))
        .with_max_waiting(settings.redis.max_waiting_requests)
        .with_new_session_policy(Arc::new(new_sessions))
        .with_refusals(Arc::new(refusals::AppRefusals))
}

pub fn cookie_settings(settings: &config::SessionSettings) -> CookieSettings {
    let (key, previous_keys) = cookie_keys(settings);
    CookieSettings::new(key)
        .with_name(settings.cookie_name())
        .with_secure(settings.cookie_secure)
        .with_same_site(same_site(settings))
        .with_previous_keys(previous_keys)
}

/// The key that signs cookies (`SESSION_SECRET`), and those still accepted
/// (`SESSION_SECRET_PREVIOUS`).
pub fn cookie_keys(settings: &config::SessionSettings) -> (Key, Vec<Key>) {
    let key = |secret: &str| CookieSettings::key_from_secret(secret.as_bytes());
    let previous = settings
        .previous_secrets
        .iter()
        .map(|secret| key(secret.expose_secret()))
        .collect();
    (key(settings.secret.expose_secret()), previous)
}

pub fn same_site(settings: &config::SessionSettings) -> SameSite {
    match settings.cookie_same_site {
        config::SameSite::Lax => SameSite::Lax,
        config::SameSite::Strict => SameSite::Strict,
    }
}

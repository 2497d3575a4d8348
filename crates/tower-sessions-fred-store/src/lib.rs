//! Server-side sessions for [tower-sessions] in Redis, on the [fred] client: one Redis hash per
//! session, saves that write only what a request changed, idle and absolute deadlines, a
//! per-user index of signed-in sessions, and a circuit breaker that fails fast while Redis is away.
//!
//! # Two ways in
//!
//! **Under the stock [`tower_sessions::SessionManagerLayer`]**: [`RedisSessionStore`] implements
//! [`tower_sessions::SessionStore`]. Every save writes the whole record (the stock layer hands
//! the store nothing else), so two concurrent requests that change the same session can still
//! overwrite each other's keys, as with any store under that layer. What you get over a plain
//! Redis store: keys under your prefix with Cluster hash tags, an absolute deadline the session
//! never outlives, a record that cannot be decoded read as "no session" instead of an error,
//! a save never re-creating a session that was deleted meanwhile, the breaker, and fred's
//! Cluster, Sentinel, TLS and ACL support.
//!
//! ```no_run
//! use tower_sessions::{Expiry, SessionManagerLayer};
//! use tower_sessions_fred_store::RedisSessionStore;
//!
//! # async fn app(pool: fred::prelude::Pool) {
//! let store = RedisSessionStore::builder(pool).key_prefix("myapp:").build();
//! let layer = SessionManagerLayer::new(store)
//!     .with_expiry(Expiry::OnInactivity(time::Duration::days(1)));
//! # let _ = layer;
//! # }
//! ```
//!
//! **Under this crate's [`SessionLayer`]**: each request gets its own [`RequestStore`], which
//! remembers what it loaded, so a save writes only the keys the request changed, and only while
//! each still holds what the request read: a change to a key another request changed meanwhile
//! is refused with 409 `session_conflict` and nothing written, so no answered update is ever
//! lost ([`StoreBuilder::last_writer_wins`] turns that off). It also: writes nothing for a request that changed nothing, moves the
//! idle deadline only when it moves by more than a fraction of the idle timeout, never re-creates
//! a session that ended meanwhile (409), answers a change it could not store with a JSON
//! 503/409 instead of a bare 500, accepts cookies signed with previous keys, gives anonymous
//! sessions a shorter idle timeout, and sheds load when too many requests wait on Redis.
//! Handlers use the standard [`tower_sessions::Session`] either way.
//!
//! # An optional near cache
//!
//! [`StoreBuilder::near_cache`] keeps the records this process read in memory, kept correct by
//! Redis' client tracking (RESP3): a read of an unchanged session then costs no Redis command,
//! and a change made anywhere drops the copy before the next read here can use it (others'
//! when Redis' invalidation arrives; this process's own writes answer with the new record,
//! which replaces the copy at once). A heartbeat bounds how long a silent path to Redis or a
//! flush can leave a copy in use ([`NearCacheSettings::max_silence()`]).
//!
//! Redis 4.0 or newer; the near cache needs 6.0.
//!
//! # What it keeps in Redis
//!
//! | key | what |
//! | --- | --- |
//! | `<prefix>session:{<id>}` | hash: `d:<key>` = JSON value of each session key, `m:*` = the store's bookkeeping |
//! | `<prefix>user:{<name>}:sessions` | hash: a signed-in user's sessions, handle → entry ([`UserIndex`]) |
//! | `<prefix>session-owner:{<id>}` | string: a session's user, only with [`StoreBuilder::owner_keys`] |
//!
//! The key's TTL is the session's deadline: `min(refreshed + idle, absolute)`.
//!
//! [tower-sessions]: https://docs.rs/tower-sessions
//! [fred]: https://docs.rs/fred

#![warn(missing_docs)]

mod breaker;
mod breaker_settings;
mod builder;
mod changes;
mod cookie;
mod durability;
mod expiry;
mod fault;
mod handle;
mod keys;
mod layer;
mod near_cache;
mod observer;
mod record;
mod refusal;
mod request_store;
mod stock;
mod store;
mod store_error;
mod tracking;
mod user_index;
mod writes;

/// The fred this crate is built on: name its `Pool`, `Client` and `Config` through it.
pub use fred;
/// The tower-sessions this crate is built for (0.14 or 0.15, whichever the app uses).
pub use tower_sessions;

pub use breaker::{Breaker, BreakerState};
pub use breaker_settings::BreakerSettings;
pub use builder::StoreBuilder;
pub use changes::SessionFailure;
pub use cookie::CookieSettings;
pub use handle::SessionHandle;
pub use layer::{Begun, ServedSession, SessionLayer, SessionService};
pub use near_cache::{NearCacheSettings, NearCacheStats};
pub use observer::{Operation, StoreObserver};
pub use refusal::{NewSessionGate, NewSessionPolicy, RenderRefusal};
pub use request_store::RequestStore;
pub use store::RedisSessionStore;
pub use store_error::StoreError;
pub use user_index::{ListedSession, UserIndex};

/// Milliseconds since the Unix epoch: the unit of every deadline the store keeps.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}

/// The README's examples, compiled as doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

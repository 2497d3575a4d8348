//! How an application hears what the store does — for metrics, a live-session gauge, logs —
//! without the store depending on a metrics crate.

use std::time::Duration;

use crate::SessionHandle;

/// A Redis operation of the store, as [`StoreObserver::redis_call`] names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// Reading a session (`HGETALL`).
    SessionLoad,
    /// Storing a new session (and its index entry when signed in).
    SessionCreate,
    /// Saving a request's changes.
    SessionSave,
    /// Deleting a session (and its index entry).
    SessionDelete,
    /// An atomic increment of one key.
    SessionIncrement,
    /// Adding a session to its user's index.
    IndexAdd,
    /// Removing a session from its user's index.
    IndexRemove,
    /// Listing a user's sessions.
    IndexList,
    /// Revoking one of a user's sessions.
    IndexRevoke,
    /// Revoking all of a user's sessions but one.
    IndexRevokeAll,
    /// Removing an expired session from its user's index.
    IndexPruneExpired,
}

impl Operation {
    /// Every operation, for observers that prepare one series each up front.
    pub const ALL: [Operation; 11] = [
        Operation::SessionLoad,
        Operation::SessionCreate,
        Operation::SessionSave,
        Operation::SessionDelete,
        Operation::SessionIncrement,
        Operation::IndexAdd,
        Operation::IndexRemove,
        Operation::IndexList,
        Operation::IndexRevoke,
        Operation::IndexRevokeAll,
        Operation::IndexPruneExpired,
    ];

    /// A snake_case name, fit for a metric label.
    pub fn name(self) -> &'static str {
        match self {
            Operation::SessionLoad => "session_load",
            Operation::SessionCreate => "session_create",
            Operation::SessionSave => "session_save",
            Operation::SessionDelete => "session_delete",
            Operation::SessionIncrement => "session_increment",
            Operation::IndexAdd => "index_add",
            Operation::IndexRemove => "index_remove",
            Operation::IndexList => "index_list",
            Operation::IndexRevoke => "index_revoke",
            Operation::IndexRevokeAll => "index_revoke_all",
            Operation::IndexPruneExpired => "index_prune_expired",
        }
    }
}

/// Receives what the store does. Every method has an empty default, so an observer implements
/// only what it uses. Methods are called on the request's task: keep them cheap and never block
/// (spawn for anything that does I/O).
///
/// ```
/// use std::{sync::atomic::{AtomicU64, Ordering}, time::Duration};
/// use tower_sessions_fred_store::{Operation, StoreObserver};
///
/// #[derive(Default)]
/// struct Created(AtomicU64);
///
/// impl StoreObserver for Created {
///     fn session_created(&self) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
/// }
/// ```
pub trait StoreObserver: Send + Sync + 'static {
    /// A Redis call of the store ended (successfully or not) after `elapsed`.
    fn redis_call(&self, operation: Operation, elapsed: Duration) {
        let _ = (operation, elapsed);
    }

    /// A brand-new session was stored (not a new id for an existing one).
    fn session_created(&self) {}

    /// The session behind `handle` now ends at `deadline_ms`. `later_only`: a concurrent request
    /// may have moved it later already, and that later deadline stands.
    fn deadline_set(&self, handle: &SessionHandle, deadline_ms: i64, later_only: bool) {
        let _ = (handle, deadline_ms, later_only);
    }

    /// These sessions were deleted (signed out, flushed, revoked).
    fn sessions_deleted(&self, handles: &[SessionHandle]) {
        let _ = handles;
    }
}

/// The observer that hears nothing: the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl StoreObserver for NoObserver {}

/// Runs `run` and tells `observer` how long it took.
pub(crate) async fn timed<T>(
    observer: &dyn StoreObserver,
    operation: Operation,
    run: impl std::future::Future<Output = T>,
) -> T {
    let started = std::time::Instant::now();
    let outcome = run.await;
    observer.redis_call(operation, started.elapsed());
    outcome
}

//! `RequestStore`: the tower-sessions `SessionStore` of one request.
//!
//! tower-sessions hands a store the whole record to save, which cannot tell what the request
//! changed — saving it all would undo what concurrent requests wrote meanwhile. So the session
//! layer gives each request its own `RequestStore`, which remembers what it loaded and saves only
//! the difference: keys inserted or changed are set, keys removed are deleted, nothing else is
//! written. A request that changed nothing writes nothing.
//!
//! It also holds what the rest of the request needs to know about the stored session: its
//! bookkeeping (deadlines, the signed-in user), whether the cookie named a session that has
//! ended, and a sign-in waiting to be stored with the next created record. Its tower-sessions
//! `SessionStore` calls are in `calls`.

mod calls;

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use serde::Serialize;
use tower_sessions::{
    session::{Id, Record},
    session_store,
};

use crate::{
    changes::{Changes, SessionFailure},
    now_ms,
    record::{self, Loaded, SignedIn},
    NewSessionGate, RedisSessionStore, StoreError,
};

#[derive(Debug, Default)]
struct State {
    /// Shared with the near cache when it is on (whether the record came from the cache or from
    /// Redis): a read copies no record.
    loaded: Option<Arc<Loaded>>,
    /// The cookie named a session that no longer exists (or cannot be read).
    ended: bool,
    /// A sign-in to store with the next record this request creates.
    sign_in: Option<SignedIn>,
    /// A refreshed-at decided during the request, written by the next save.
    refresh: Option<i64>,
    absolute_cap: Option<i64>,
    failure: Option<SessionFailure>,
    /// The last write carried data or created a record (so its failure must be reported, not
    /// shrugged off).
    saving_data: bool,
    /// Ids this request loaded or deleted: never handed out again by `create`, so a flushed or
    /// signed-out session cannot come back under its old id.
    retired: Vec<Id>,
}

impl State {
    /// How the last store call went. A write that may have applied stays uncertain, whatever
    /// comes after: a later refusal must not turn it into "nothing was changed".
    fn last_call(&mut self, failure: Option<SessionFailure>) {
        if !matches!(self.failure, Some(SessionFailure::Unconfirmed(_))) {
            self.failure = failure;
        }
    }
}

/// The tower-sessions `SessionStore` of one request under [`crate::SessionLayer`]: remembers
/// what the request loaded, so a save writes only what it changed. The layer puts it in the
/// request's extensions as `Arc<RequestStore>`, beside the request's `Session`; what it tells
/// about the session is known once the `Session` has been read.
///
/// ```no_run
/// use std::sync::Arc;
///
/// use axum::{http::StatusCode, Extension};
/// use tower_sessions::Session;
/// use tower_sessions_fred_store::RequestStore;
///
/// #[derive(serde::Serialize)]
/// struct Device<'a> {
///     user_agent: &'a str,
/// }
///
/// async fn sign_in(
///     session: Session,
///     Extension(store): Extension<Arc<RequestStore>>,
/// ) -> Result<&'static str, StatusCode> {
///     // (check the password first)
///     store
///         .prepare_sign_in("ada", &Device { user_agent: "curl" })
///         .map_err(|_| StatusCode::BAD_REQUEST)?;
///     // A new id: the old one no longer loads anything. The layer stores the signed-in record.
///     session.cycle_id().await.map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
///     Ok("signed in")
/// }
///
/// async fn whoami(
///     session: Session,
///     Extension(store): Extension<Arc<RequestStore>>,
/// ) -> Result<String, StatusCode> {
///     let _ = session.get_value("").await.map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
///     Ok(store.signed_in_user().unwrap_or_else(|| "nobody".into()))
/// }
/// ```
pub struct RequestStore {
    store: RedisSessionStore,
    /// Asked before a brand-new session is stored.
    gate: Option<Box<dyn NewSessionGate>>,
    state: Mutex<State>,
}

impl std::fmt::Debug for RequestStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestStore").finish_non_exhaustive()
    }
}

impl RequestStore {
    /// The store of one request; `gate`, when given, is asked before a brand-new session is
    /// stored.
    pub(crate) fn new(
        store: RedisSessionStore,
        gate: Option<Box<dyn NewSessionGate>>,
    ) -> Arc<RequestStore> {
        Arc::new(RequestStore {
            store,
            gate,
            state: Mutex::new(State::default()),
        })
    }

    /// The shared store underneath.
    pub fn store(&self) -> &RedisSessionStore {
        &self.store
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave this state half-written: every update is one assignment.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The session as loaded (and as changed by this request's writes), if there is one.
    pub(crate) fn loaded(&self) -> Option<Arc<Loaded>> {
        self.state().loaded.clone()
    }

    /// The request's cookie named a session that no longer exists (or cannot be read).
    pub fn ended(&self) -> bool {
        self.state().ended
    }

    /// Why the last store call of this request failed, if it did.
    pub fn failure(&self) -> Option<SessionFailure> {
        self.state().failure.clone()
    }

    /// Whether the last failed save carried data (and so lost a change).
    pub(crate) fn failed_with_data(&self) -> bool {
        self.state().saving_data
    }

    /// Signs `user` in with the next record this request stores: call it, then `cycle_id` (or
    /// insert into a new session). The record gets a new absolute deadline counted from now and
    /// keeps the session's data; `details` (what a "your sessions" page shows: a device, an
    /// address) goes to the user's index entry, read back by [`crate::ListedSession::details`].
    /// Refused for a name that cannot be a key part (empty, over 256 bytes, braces or control
    /// characters) or details that are not JSON.
    pub fn prepare_sign_in(&self, user: &str, details: &impl Serialize) -> Result<(), StoreError> {
        if !SignedIn::valid_user(user) {
            return Err(StoreError::InvalidUser);
        }
        self.state().sign_in = Some(SignedIn {
            user: user.to_string(),
            at: now_ms(),
            details: serde_json::to_value(details)?,
        });
        Ok(())
    }

    /// The id of the session this request loaded (or stored), if any: the `Session`'s id once it
    /// has been read, unless the handler has cycled or flushed it since.
    pub fn loaded_id(&self) -> Option<Id> {
        Some(self.state().loaded.as_ref()?.id)
    }

    /// The signed-in user of the loaded session, if anyone is signed in.
    pub fn signed_in_user(&self) -> Option<String> {
        let state = self.state();
        Some(state.loaded.as_ref()?.meta.signed_in.as_ref()?.user.clone())
    }

    /// When the user of the loaded session signed in (ms since the epoch).
    pub fn signed_in_at(&self) -> Option<i64> {
        let state = self.state();
        Some(state.loaded.as_ref()?.meta.signed_in.as_ref()?.at)
    }

    /// When the loaded session began (ms since the epoch; a sign-in keeps it).
    pub fn created_at(&self) -> Option<i64> {
        Some(self.state().loaded.as_ref()?.meta.created_at)
    }

    /// When the loaded session ends however active it is (ms since the epoch).
    pub fn absolute_deadline(&self) -> Option<i64> {
        Some(self.state().loaded.as_ref()?.meta.absolute_deadline)
    }

    /// The idle and absolute timeouts of this request's session (anonymous when none is
    /// loaded).
    pub fn timeouts(&self) -> (Duration, Duration) {
        let signed_in = self
            .state()
            .loaded
            .as_ref()
            .is_some_and(|loaded| loaded.meta.signed_in.is_some());
        let policy = self.store.policy().for_session(signed_in);
        (policy.idle, policy.absolute)
    }

    /// Adds `amount` to the integer under `key`, atomically in Redis: concurrent increments all
    /// count, and none conflicts. `None` when there is no stored session to change (it is never
    /// re-created as a half record): insert the first value through the `Session` instead.
    pub async fn increment(&self, key: &str, amount: i64) -> Result<Option<i64>, StoreError> {
        let Some(id) = self.state().loaded.as_ref().map(|loaded| loaded.id) else {
            return Ok(None);
        };
        self.store.increment(&id, key, amount).await
    }

    /// Decides, once per request, whether it moves the idle deadline (`force`: whenever it moves
    /// at all). Returns the session's (refreshed-at, deadline) as they will be after this request,
    /// so what a page shows is what Redis gets.
    pub fn slide_deadline(&self, force: bool) -> Option<(i64, i64)> {
        let mut state = self.state();
        let now = now_ms();
        let meta = &state.loaded.as_ref()?.meta;
        let policy = self.store.policy().for_session(meta.signed_in.is_some());
        let absolute = meta.absolute_deadline;
        let refreshed = state
            .refresh
            .unwrap_or(state.loaded.as_ref()?.meta.refreshed_at);
        if policy.refresh_due(refreshed, absolute, now, force) {
            state.refresh = Some(now);
            return Some((now, policy.deadline(now, absolute)));
        }
        Some((refreshed, policy.deadline(refreshed, absolute)))
    }

    /// Ends the session no later than `at` (ms), however active it is.
    pub(crate) fn cap_absolute(&self, at: i64) {
        let mut state = self.state();
        let earlier = state.absolute_cap.map_or(at, |cap| cap.min(at));
        if state
            .loaded
            .as_ref()
            .is_none_or(|l| earlier < l.meta.absolute_deadline)
        {
            state.absolute_cap = Some(earlier);
        }
    }

    /// A refresh or a cap is waiting to be saved.
    pub(crate) fn has_pending_deadline(&self) -> bool {
        let state = self.state();
        state.refresh.is_some() || state.absolute_cap.is_some()
    }

    /// The deadline of the session (ms) as it stands after this request's writes.
    pub fn deadline(&self) -> Option<i64> {
        let state = self.state();
        let loaded = state.loaded.as_ref()?;
        let refreshed = state.refresh.unwrap_or(loaded.meta.refreshed_at);
        let absolute = state
            .absolute_cap
            .unwrap_or(loaded.meta.absolute_deadline)
            .min(loaded.meta.absolute_deadline);
        let policy = self
            .store
            .policy()
            .for_session(loaded.meta.signed_in.is_some());
        Some(policy.deadline(refreshed, absolute))
    }

    fn fail(&self, failure: SessionFailure) -> session_store::Error {
        let message = match &failure {
            SessionFailure::Unavailable(detail)
            | SessionFailure::Unconfirmed(detail)
            | SessionFailure::Rejected(detail) => detail.clone(),
            SessionFailure::Ended => "the session ended before the change was saved".to_string(),
            SessionFailure::Conflict => "another request changed the same key".to_string(),
            SessionFailure::Busy => "too many requests are waiting on the store".to_string(),
            SessionFailure::TooManyNew(_) => "too many new sessions from this address".to_string(),
        };
        self.state().last_call(Some(failure));
        session_store::Error::Backend(message)
    }

    fn unavailable(&self, err: StoreError) -> session_store::Error {
        self.fail(SessionFailure::Unavailable(err.to_string()))
    }

    /// A write failed: unconfirmed when it may still have been applied.
    fn write_failed(&self, err: StoreError) -> session_store::Error {
        if err.may_have_applied() {
            self.fail(SessionFailure::Unconfirmed(err.to_string()))
        } else {
            self.unavailable(err)
        }
    }

    /// A store call went through: an earlier failure in this request is history.
    fn succeeded(&self) {
        self.state().last_call(None);
    }

    /// Asks the gate whether a brand-new session may be stored; the error to return if not.
    async fn admit_new(&self) -> Option<session_store::Error> {
        match self.gate.as_ref()?.admit().await {
            Ok(None) => None,
            Ok(Some(wait)) => Some(self.fail(SessionFailure::TooManyNew(wait))),
            Err(err) => Some(self.unavailable(err)),
        }
    }

    /// A value the application reads with a type has another one: a bug in the handler.
    fn refuse_mistyped(&self, record: &Record) -> Result<(), session_store::Error> {
        match record::mistyped_key(&record.data, self.store.typed()) {
            Some(key) => Err(self.fail(SessionFailure::Rejected(format!(
                "the value under \"{key}\" has the wrong type for the application"
            )))),
            None => Ok(()),
        }
    }

    /// What `record` changed against what was loaded, plus any pending deadline move.
    fn changes(&self, record: &Record, loaded: &Loaded) -> Result<Changes, session_store::Error> {
        self.refuse_mistyped(record)?;
        let mut changes = Changes::between(&loaded.data, &loaded.stored, &record.data)
            .map_err(|err| self.unavailable(StoreError::Encode(err)))?;
        let state = self.state();
        changes.signed_in = loaded.meta.signed_in.is_some();
        changes.refreshed_at = state.refresh;
        changes.absolute_cap = state.absolute_cap;
        Ok(changes)
    }
}

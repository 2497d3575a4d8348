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
//! ended, and a sign-in waiting to be stored with the next created record.

use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use tower_sessions::{
    session::{Id, Record},
    session_store, SessionStore,
};

use super::{
    expiry,
    record::{self, Data, Meta, SignedIn},
    store::{Changes, RedisSessionStore, StoreError},
};
use crate::shared::clock::now_ms;

/// Why the last store operation of this request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Redis did not answer (or answered an error); the detail is for the log only.
    Unavailable(String),
    /// The session vanished (expired, signed out, revoked) before the change was written.
    Ended,
}

/// The stored state of the session as this request last saw it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub id: Id,
    pub meta: Meta,
    pub data: Data,
}

#[derive(Debug, Default)]
struct State {
    loaded: Option<Loaded>,
    /// The cookie named a session that no longer exists (or cannot be read).
    ended: bool,
    /// A sign-in to store with the next record this request creates.
    sign_in: Option<SignedIn>,
    /// A refreshed-at decided during the request, written by the next save.
    refresh: Option<i64>,
    absolute_cap: Option<i64>,
    failure: Option<Failure>,
    /// The last save wrote data (so its failure must be reported, not shrugged off).
    saving_data: bool,
}

pub struct RequestStore {
    store: RedisSessionStore,
    state: Mutex<State>,
}

impl std::fmt::Debug for RequestStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestStore").finish_non_exhaustive()
    }
}

impl RequestStore {
    pub fn new(store: RedisSessionStore) -> Arc<RequestStore> {
        Arc::new(RequestStore {
            store,
            state: Mutex::new(State::default()),
        })
    }

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
    pub fn loaded(&self) -> Option<Loaded> {
        self.state().loaded.clone()
    }

    pub fn ended(&self) -> bool {
        self.state().ended
    }

    pub fn failure(&self) -> Option<Failure> {
        self.state().failure.clone()
    }

    /// Whether the last failed save carried data (and so lost a change).
    pub fn failed_with_data(&self) -> bool {
        self.state().saving_data
    }

    /// Stores `signed_in` with the next record this request creates (after `cycle_id`).
    pub fn prepare_sign_in(&self, signed_in: SignedIn) {
        self.state().sign_in = Some(signed_in);
    }

    /// Decides, once per request, whether it moves the idle deadline. Returns the session's
    /// (refreshed-at, deadline) as they will be after this request, so what a page shows is what
    /// Redis gets.
    pub fn slide_deadline(&self, force: bool) -> Option<(i64, i64)> {
        let mut state = self.state();
        let now = now_ms();
        let policy = *self.store.policy();
        let absolute = state.loaded.as_ref()?.meta.absolute_deadline;
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
    pub fn cap_absolute(&self, at: i64) {
        let mut state = self.state();
        if state
            .loaded
            .as_ref()
            .is_some_and(|l| at < l.meta.absolute_deadline)
        {
            state.absolute_cap = Some(at);
        }
    }

    /// A refresh or a cap is waiting to be saved.
    pub fn has_pending_deadline(&self) -> bool {
        let state = self.state();
        state.refresh.is_some() || state.absolute_cap.is_some()
    }

    /// The deadline of the session as it stands after this request's writes.
    pub fn deadline(&self) -> Option<i64> {
        let state = self.state();
        let loaded = state.loaded.as_ref()?;
        let refreshed = state.refresh.unwrap_or(loaded.meta.refreshed_at);
        let absolute = state
            .absolute_cap
            .unwrap_or(loaded.meta.absolute_deadline)
            .min(loaded.meta.absolute_deadline);
        Some(self.store.policy().deadline(refreshed, absolute))
    }

    fn fail(&self, failure: Failure) -> session_store::Error {
        let message = match &failure {
            Failure::Unavailable(detail) => detail.clone(),
            Failure::Ended => "the session ended before the change was saved".to_string(),
        };
        self.state().failure = Some(failure);
        session_store::Error::Backend(message)
    }

    fn unavailable(&self, err: StoreError) -> session_store::Error {
        self.fail(Failure::Unavailable(err.to_string()))
    }

    /// What `record` changed against what was loaded, plus any pending deadline move.
    fn changes(&self, record: &Record, loaded: &Loaded) -> Result<Changes, StoreError> {
        let mut changes = Changes::default();
        for (key, value) in &record.data {
            if loaded.data.get(key) != Some(value) {
                changes
                    .set
                    .push((record::data_field(key), serde_json::to_string(value)?));
            }
        }
        for key in loaded.data.keys() {
            if !record.data.contains_key(key) {
                changes.delete.push(record::data_field(key));
            }
        }
        let state = self.state();
        changes.refreshed_at = state.refresh;
        changes.absolute_cap = state.absolute_cap;
        Ok(changes)
    }
}

#[async_trait]
impl SessionStore for RequestStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let now = now_ms();
        let policy = *self.store.policy();
        let (sign_in, previous) = {
            let mut state = self.state();
            (state.sign_in.take(), state.loaded.take())
        };
        let brand_new = previous.is_none();
        let meta = match (sign_in, previous) {
            // Signing in restarts the absolute clock; the session's age is kept.
            (Some(signed_in), previous) => Meta {
                signed_in: Some(signed_in),
                ..Meta::starting(now, policy.absolute_ms())
            }
            .keeping_created_at(previous.as_ref().map(|p| &p.meta)),
            // `cycle_id` keeps everything but the id: a new id never extends a session's life.
            (None, Some(previous)) => previous.meta,
            (None, None) => Meta::starting(now, policy.absolute_ms()),
        };
        if let Err(err) = self.store.create(&mut record.id, &meta, &record.data).await {
            return Err(self.unavailable(err));
        }
        // A new id for an existing session (sign-in, `cycle_id`) is not a new session.
        if brand_new {
            self.store.metrics().session_created();
        }
        record.expiry_date =
            expiry::date_of(policy.deadline(meta.refreshed_at, meta.absolute_deadline));
        let mut state = self.state();
        state.refresh = None;
        state.absolute_cap = None;
        state.loaded = Some(Loaded {
            id: record.id,
            meta,
            data: record.data.clone(),
        });
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let loaded = match self.loaded().filter(|loaded| loaded.id == record.id) {
            Some(loaded) => loaded,
            // tower-sessions saves a record it never loaded after `clear()`: that record is the
            // whole intended state, so the difference is taken against what Redis holds now.
            None => match self.store.load(&record.id).await {
                Ok(Some((meta, data))) => {
                    let loaded = Loaded {
                        id: record.id,
                        meta,
                        data,
                    };
                    self.state().loaded = Some(loaded.clone());
                    loaded
                }
                Ok(None) => return Err(self.fail(Failure::Ended)),
                Err(err) => return Err(self.unavailable(err)),
            },
        };
        let changes = self
            .changes(record, &loaded)
            .map_err(|err| self.unavailable(err))?;
        if changes.is_empty() {
            return Ok(());
        }
        self.state().saving_data = changes.has_data();
        match self.store.save(&record.id, &changes).await {
            Ok(true) => {}
            Ok(false) => return Err(self.fail(Failure::Ended)),
            Err(err) => return Err(self.unavailable(err)),
        }
        let mut state = self.state();
        if let Some(loaded) = state.loaded.as_mut() {
            loaded.data = record.data.clone();
            if let Some(refreshed) = changes.refreshed_at {
                loaded.meta.refreshed_at = loaded.meta.refreshed_at.max(refreshed);
            }
            if let Some(cap) = changes.absolute_cap {
                loaded.meta.absolute_deadline = loaded.meta.absolute_deadline.min(cap);
            }
            if changes.refreshed_at.is_some() || changes.absolute_cap.is_some() {
                let deadline = self
                    .store
                    .policy()
                    .deadline(loaded.meta.refreshed_at, loaded.meta.absolute_deadline);
                let handle = super::SessionHandle::of(&record.id).to_string();
                let later_only = changes.absolute_cap.is_none();
                self.store.live().record(handle, deadline, later_only);
            }
        }
        state.refresh = None;
        state.absolute_cap = None;
        state.saving_data = false;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self.store.load(id).await {
            Ok(Some((meta, data))) => {
                let deadline = self
                    .store
                    .policy()
                    .deadline(meta.refreshed_at, meta.absolute_deadline);
                let record = Record {
                    id: *id,
                    data: data.clone(),
                    expiry_date: expiry::date_of(deadline),
                };
                self.state().loaded = Some(Loaded {
                    id: *id,
                    meta,
                    data,
                });
                Ok(Some(record))
            }
            Ok(None) => {
                self.state().ended = true;
                Ok(None)
            }
            Err(err) => Err(self.unavailable(err)),
        }
    }

    /// Deletes the record, and its user-index entry when it is signed in. The bookkeeping stays
    /// known to this request, so a `cycle_id` can carry it to the new id.
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let user = self
            .loaded()
            .filter(|loaded| loaded.id == *id)
            .and_then(|loaded| loaded.meta.signed_in.map(|s| s.user));
        self.store
            .delete(id, user.as_ref())
            .await
            .map_err(|err| self.unavailable(err))
    }
}

//! `RequestStore` as tower-sessions' `SessionStore`: what each of its calls (create, save, load,
//! delete) sends to Redis for one request, and what it remembers for the rest of the request.

use async_trait::async_trait;
use tower_sessions::{
    session::{Id, Record},
    session_store, SessionStore,
};

use std::sync::Arc;

use super::RequestStore;
use crate::{
    changes::SessionFailure,
    expiry, now_ms,
    record::{Loaded, Meta},
    writes::Saved,
    SessionHandle,
};

#[async_trait]
impl SessionStore for RequestStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let now = now_ms();
        let policy = *self.store.policy();
        let (sign_in, previous, refresh, cap) = {
            let mut state = self.state();
            state.saving_data = true;
            // `cycle_id` has already given the record a new id and keeps the session's
            // bookkeeping; after `flush()` the record still has the deleted id, and a write then
            // starts a new session rather than bringing the deleted one back.
            let cycled = state
                .loaded
                .as_ref()
                .is_some_and(|loaded| loaded.id != record.id);
            if state.retired.contains(&record.id) {
                record.id = Id::default();
            }
            let previous = state.loaded.take().filter(|_| cycled);
            (
                state.sign_in.take(),
                previous,
                state.refresh.take(),
                state.absolute_cap.take(),
            )
        };
        // A new id for an existing session (sign-in, `cycle_id`) is not a new session.
        let brand_new = previous.is_none();
        let mut meta = match (sign_in, previous) {
            // Signing in restarts the absolute clock; the session's age is kept.
            (Some(signed_in), previous) => Meta {
                signed_in: Some(signed_in),
                ..Meta::starting(now, policy.absolute_ms())
            }
            .keeping_created_at(previous.as_ref().map(|p| &p.meta)),
            // `cycle_id` keeps everything but the id: a new id never extends a session's life.
            (None, Some(previous)) => previous.meta.clone(),
            (None, None) => {
                if let Some(refusal) = self.admit_new().await {
                    return Err(refusal);
                }
                Meta::starting(now, policy.absolute_ms())
            }
        };
        // A new record has had no writes, whatever the id it replaces had.
        meta.version = 0;
        if let Some(refreshed) = refresh {
            meta.refreshed_at = meta.refreshed_at.max(refreshed);
        }
        if let Some(cap) = cap {
            meta.absolute_deadline = meta.absolute_deadline.min(cap);
        }
        self.refuse_mistyped(record)?;
        let stored = match self.store.create(&mut record.id, &meta, &record.data).await {
            Ok(stored) => stored,
            Err(err) => return Err(self.write_failed(err)),
        };
        self.succeeded();
        if brand_new {
            self.store.observer().session_created();
        }
        let policy = policy.for_session(meta.signed_in.is_some());
        record.expiry_date =
            expiry::date_of(policy.deadline(meta.refreshed_at, meta.absolute_deadline));
        let mut state = self.state();
        state.saving_data = false;
        state.loaded = Some(Arc::new(Loaded {
            id: record.id,
            meta,
            data: record.data.clone(),
            stored,
        }));
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let loaded = match self.loaded().filter(|loaded| loaded.id == record.id) {
            Some(loaded) => loaded,
            // tower-sessions saves a record it never loaded after `clear()`: that record is the
            // whole intended state, so the difference is taken against what Redis holds now.
            None => match self.store.load(&record.id).await {
                Ok(Some(loaded)) => {
                    self.state().loaded = Some(loaded.clone());
                    loaded
                }
                Ok(None) => return Err(self.fail(SessionFailure::Ended)),
                Err(err) => return Err(self.unavailable(err)),
            },
        };
        let changes = self.changes(record, &loaded)?;
        if changes.is_empty() {
            return Ok(());
        }
        self.state().saving_data = changes.has_data();
        match self.store.save(&record.id, &changes).await {
            Ok(Saved::Written) => self.succeeded(),
            Ok(Saved::Ended) => return Err(self.fail(SessionFailure::Ended)),
            Ok(Saved::Conflict) => return Err(self.fail(SessionFailure::Conflict)),
            Err(err) => return Err(self.write_failed(err)),
        }
        let mut state = self.state();
        if let Some(shared) = state.loaded.as_mut() {
            // A new record, not the old one changed: the near cache may hold the old one (and
            // drops it on this write), and its data is replaced whole anyway.
            let mut loaded = Loaded {
                id: shared.id,
                meta: shared.meta.clone(),
                data: record.data.clone(),
                stored: shared.stored.clone(),
            };
            changes.apply_to(&mut loaded.stored);
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
                    .for_session(loaded.meta.signed_in.is_some())
                    .deadline(loaded.meta.refreshed_at, loaded.meta.absolute_deadline);
                // A refresh only ever moves it later; a cap may move it earlier.
                let later_only = changes.absolute_cap.is_none();
                self.store.observer().deadline_set(
                    &SessionHandle::of(&record.id),
                    deadline,
                    later_only,
                );
            }
            *shared = Arc::new(loaded);
        }
        state.refresh = None;
        state.absolute_cap = None;
        state.saving_data = false;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self.store.load(id).await {
            Ok(Some(loaded)) => {
                let meta = &loaded.meta;
                let deadline = self
                    .store
                    .policy()
                    .for_session(meta.signed_in.is_some())
                    .deadline(meta.refreshed_at, meta.absolute_deadline);
                let record = Record {
                    id: *id,
                    data: loaded.data.clone(),
                    expiry_date: expiry::date_of(deadline),
                };
                self.state().loaded = Some(loaded);
                Ok(Some(record))
            }
            Ok(None) => {
                self.state().ended = true;
                self.succeeded();
                Ok(None)
            }
            Err(err) => Err(self.unavailable(err)),
        }
    }

    /// Deletes the record, and its user-index entry when it is signed in. The bookkeeping stays
    /// known to this request, so a `cycle_id` can carry it to the new id.
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.state().retired.push(*id);
        self.store
            .delete(id)
            .await
            .map_err(|err| self.write_failed(err))?;
        self.succeeded();
        Ok(())
    }
}

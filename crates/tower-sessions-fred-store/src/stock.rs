//! The store under the stock `tower_sessions::SessionManagerLayer`.
//!
//! That layer hands a store the whole record and nothing about what the request loaded, so a
//! save here replaces the session's data as a whole (in one script, which also never re-creates
//! a session that was deleted meanwhile). Concurrent requests changing the same session can
//! therefore overwrite each other's keys; [`crate::SessionLayer`] is the way in that cannot.
//!
//! The key's deadline is the record's expiry date (the layer's `Expiry`), capped by the absolute
//! deadline fixed when the session was created.

use std::sync::Arc;

use async_trait::async_trait;
use tower_sessions::{
    session::{Id, Record},
    session_store, SessionStore,
};

use crate::{
    expiry::{date_ms, date_of},
    now_ms,
    observer::Operation,
    record::{self, meta, Meta},
    RedisSessionStore, StoreError,
};

fn backend(err: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(err.to_string())
}

impl RedisSessionStore {
    fn refuse_mistyped(&self, record: &Record) -> session_store::Result<()> {
        match record::mistyped_key(&record.data, self.typed()) {
            Some(key) => Err(session_store::Error::Encode(format!(
                "the value under \"{key}\" has the wrong type"
            ))),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.refuse_mistyped(record)?;
        let meta = Meta::starting(now_ms(), self.policy().absolute_ms());
        let deadline = date_ms(record.expiry_date).min(meta.absolute_deadline);
        let breaker = self.breaker().clone();
        breaker
            .run_as(Box::pin(self.create_unguarded(
                &mut record.id,
                &meta,
                &record.data,
                deadline,
            )))
            .await
            .map(drop)
            .map_err(backend)
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.refuse_mistyped(record)?;
        let mut args = Vec::with_capacity(4 + 2 * record.data.len());
        args.push(meta::REFRESHED_AT.to_string());
        args.push(meta::ABSOLUTE_DEADLINE.to_string());
        args.push(now_ms().to_string());
        args.push(date_ms(record.expiry_date).to_string());
        for (key, value) in &record.data {
            args.push(record::data_field(key));
            args.push(serde_json::to_string(value).map_err(backend)?);
        }
        let inner = &self.inner;
        let key = self.key(&record.id);
        let ticket = self.write_begins();
        let replace = inner.breaker.run_as(async {
            let saved: i64 = inner
                .scripts
                .replace
                .evalsha_with_reload(self.client_for(&key), &key, args)
                .await?;
            Ok::<_, StoreError>(saved)
        });
        let saved = self.observed(Operation::SessionSave, replace).await;
        self.write_ends(&record.id, &key, ticket, None);
        let saved = saved.map_err(backend)?;
        if saved == 0 {
            // Deleted meanwhile (signed out elsewhere, expired): it stays deleted, and the next
            // request starts a new session.
            tracing::debug!("a whole-record save found its session gone; nothing was written");
        }
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(loaded) = RedisSessionStore::load(self, id).await.map_err(backend)? else {
            return Ok(None);
        };
        let deadline = self
            .policy()
            .for_session(loaded.meta.signed_in.is_some())
            .deadline(loaded.meta.refreshed_at, loaded.meta.absolute_deadline);
        Ok(Some(Record {
            id: *id,
            // Not copied unless the near cache holds it too.
            data: Arc::unwrap_or_clone(loaded).data,
            expiry_date: date_of(deadline),
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        RedisSessionStore::delete(self, id).await.map_err(backend)
    }
}

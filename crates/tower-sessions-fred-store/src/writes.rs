//! The store's writes: creating, saving, deleting a session and incrementing one of its keys.
//! Each is one Lua script on the session's one key (a Cluster hash tag keeps it on one node),
//! sent on the one connection that carries that key's commands and run through the breaker.
//! With the near cache on, a save and an increment answer with the record they leave, which
//! the cache keeps at once: the next read costs no command.

use std::collections::HashMap;

use fred::types::{scripts::Script, Value};
use tower_sessions::session::Id;

use crate::{
    changes::Changes,
    handle::SessionHandle,
    near_cache::{NearCache, WriteTicket},
    observer::Operation,
    record::{self, meta, Meta, SignedIn},
    RedisSessionStore, StoreError,
};

/// The store's Lua scripts, loaded into Redis on first use (`EVALSHA`, reloaded when missing).
pub(crate) struct Scripts {
    pub(crate) create: Script,
    pub(crate) save: Script,
    pub(crate) replace: Script,
    pub(crate) delete: Script,
    pub(crate) increment: Script,
}

impl Default for Scripts {
    fn default() -> Self {
        Scripts {
            create: Script::from_lua(include_str!("scripts/create.lua")),
            save: Script::from_lua(include_str!("scripts/save.lua")),
            replace: Script::from_lua(include_str!("scripts/replace.lua")),
            delete: Script::from_lua(include_str!("scripts/delete.lua")),
            increment: Script::from_lua(include_str!("scripts/increment.lua")),
        }
    }
}

impl RedisSessionStore {
    /// Stores a new session, ending at its policy's deadline, and, when it is signed in, its
    /// entry in the user's index. A taken id (vanishingly rare) is replaced by a fresh one, so
    /// `id` may change. Returns the data as stored.
    pub(crate) async fn create(
        &self,
        id: &mut Id,
        meta: &Meta,
        data: &record::Data,
    ) -> Result<record::Stored, StoreError> {
        let deadline = self
            .inner
            .policy
            .for_session(meta.signed_in.is_some())
            .deadline(meta.refreshed_at, meta.absolute_deadline);
        let breaker = self.inner.breaker.clone();
        // Boxed: creating spans the record, the replica wait and the index entry, a large future
        // that would otherwise sit inline in every caller's.
        breaker
            .run_as(Box::pin(self.create_unguarded(id, meta, data, deadline)))
            .await
    }

    /// Stores a new session whose key expires at `deadline` (ms); not through the breaker.
    /// Returns the data as stored.
    pub(crate) async fn create_unguarded(
        &self,
        id: &mut Id,
        meta: &Meta,
        data: &record::Data,
        deadline: i64,
    ) -> Result<record::Stored, StoreError> {
        let mut args = Vec::with_capacity(1 + 2 * (data.len() + 5));
        args.push(deadline.to_string());
        for (field, value) in meta.fields() {
            args.push(field.to_string());
            args.push(value);
        }
        let mut stored = record::Stored::with_capacity(data.len());
        for (key, value) in data {
            let text = serde_json::to_string(value)?;
            args.push(record::data_field(key));
            args.push(text.clone());
            stored.insert(key.clone(), text);
        }
        loop {
            let client = self.client_for(&self.key(id));
            let created: i64 = self
                .observed(
                    Operation::SessionCreate,
                    self.inner.scripts.create.evalsha_with_reload(
                        client,
                        self.key(id),
                        args.clone(),
                    ),
                )
                .await?;
            if created == 1 {
                break;
            }
            *id = Id::default();
        }
        let key = self.key(id);
        self.inner
            .wait
            .after_write(self.client_for(&key), &key)
            .await?;
        self.observer()
            .deadline_set(&SessionHandle::of(id), deadline, false);
        // The record first, then its entry: an entry whose record is missing is pruned when the
        // list is read, while a record without an entry could not be signed out from elsewhere.
        if let Some(signed_in) = &meta.signed_in {
            self.inner.index.add(id, signed_in).await?;
        }
        Ok(stored)
    }

    /// Applies one request's changes, unless the session no longer exists or (unless the last
    /// writer wins) another request changed one of the same keys since this one read it.
    pub(crate) async fn save(&self, id: &Id, changes: &Changes) -> Result<Saved, StoreError> {
        let mut args = Vec::with_capacity(6 + 3 * changes.data.len());
        args.push(record::meta::REFRESHED_AT.to_string());
        args.push(record::meta::ABSOLUTE_DEADLINE.to_string());
        args.push(optional(changes.refreshed_at));
        let policy = self.inner.policy.for_session(changes.signed_in);
        args.push(policy.idle_ms().to_string());
        args.push(optional(changes.absolute_cap));
        args.push(flag(!self.inner.last_writer_wins));
        let answer_record = self.caching();
        args.push(flag(answer_record));
        for change in &changes.data {
            args.push(change.field.clone());
            args.push(change.expected.clone());
            args.push(change.value.clone().unwrap_or_default());
        }
        let key = self.key(id);
        let ticket = self.write_begins();
        let save =
            self.inner
                .breaker
                .run_as(Box::pin(self.inner.scripts.save.evalsha_with_reload(
                    self.client_for(&key),
                    &key,
                    args,
                )));
        let saved: Result<Value, fred::error::Error> =
            self.observed(Operation::SessionSave, save).await;
        let (saved, record) = match saved {
            Ok(Value::Array(fields)) => (Ok(Saved::Written), hash_of(fields)),
            Ok(Value::Integer(1)) => (Ok(Saved::Written), None),
            Ok(Value::Integer(2)) => (Ok(Saved::Conflict), None),
            Ok(_) => (Ok(Saved::Ended), None),
            Err(err) => (Err(err), None),
        };
        self.write_ends(id, &key, ticket, record);
        Ok(saved?)
    }

    /// Deletes a session's record, then its entry in its user's index (the record names the
    /// user; one script reads and deletes it).
    pub(crate) async fn delete(&self, id: &Id) -> Result<(), StoreError> {
        self.observed(
            Operation::SessionDelete,
            self.inner
                .breaker
                .run_as(Box::pin(self.delete_unguarded(id))),
        )
        .await
    }

    async fn delete_unguarded(&self, id: &Id) -> Result<(), StoreError> {
        let key = self.key(id);
        let ticket = self.write_begins();
        let user: Result<Option<String>, _> = self
            .inner
            .scripts
            .delete
            .evalsha_with_reload(self.client_for(&key), &key, vec![meta::USER])
            .await;
        self.write_ends(id, &key, ticket, None);
        let user = user?;
        self.observer().sessions_deleted(&[SessionHandle::of(id)]);
        if let Some(user) = user.as_deref().filter(|user| SignedIn::valid_user(user)) {
            self.inner
                .index
                .remove(user, &SessionHandle::of(id))
                .await?;
        }
        Ok(())
    }

    /// Adds `amount` to an integer data key of an existing session; `None` when the session no
    /// longer exists (it is never re-created as a half record).
    pub async fn increment(
        &self,
        id: &Id,
        key: &str,
        amount: i64,
    ) -> Result<Option<i64>, StoreError> {
        let session_key = self.key(id);
        let answer_record = self.caching();
        let args = vec![
            record::data_field(key),
            amount.to_string(),
            flag(answer_record).to_string(),
        ];
        let ticket = self.write_begins();
        let increment = Box::pin(self.inner.scripts.increment.evalsha_with_reload(
            self.client_for(&session_key),
            &session_key,
            args,
        ));
        let value: Result<Value, _> = self
            .observed(
                Operation::SessionIncrement,
                self.inner.breaker.run_as(increment),
            )
            .await;
        let (value, record) = match value {
            Ok(Value::Array(mut answer)) if answer.len() == 2 => {
                let record = match answer.pop() {
                    Some(Value::Array(fields)) => hash_of(fields),
                    _ => None,
                };
                (answer.pop().and_then(|value| value.as_i64()), record)
            }
            Ok(value) => (value.as_i64(), None),
            Err(err) => {
                self.write_ends(id, &session_key, ticket, None);
                return Err(err.into());
            }
        };
        self.write_ends(id, &session_key, ticket, record);
        Ok(value)
    }

    /// Before a write on a session's `key`: what the near cache needs to know of it.
    pub(crate) fn write_begins(&self) -> Option<WriteTicket> {
        self.inner.near_cache.as_deref().map(NearCache::begin_write)
    }

    /// After it, answered with `record` (the whole hash as the write left it) or not.
    pub(crate) fn write_ends(
        &self,
        id: &Id,
        key: &str,
        ticket: Option<WriteTicket>,
        record: Option<HashMap<String, String>>,
    ) {
        if let (Some(cache), Some(ticket)) = (self.inner.near_cache.as_deref(), ticket) {
            let copy = record.and_then(|raw| self.copy_of(id, raw));
            cache.end_write(key, ticket, copy);
        }
    }
}

/// A flat `HGETALL` answer as field → value; `None` if a field or value is not text.
fn hash_of(fields: Vec<Value>) -> Option<HashMap<String, String>> {
    let mut hash = HashMap::with_capacity(fields.len() / 2);
    let mut fields = fields.into_iter();
    while let (Some(field), Some(value)) = (fields.next(), fields.next()) {
        hash.insert(field.into_string()?, value.into_string()?);
    }
    Some(hash)
}

fn flag(on: bool) -> String {
    if on { "1" } else { "0" }.to_string()
}

/// How a save went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Saved {
    Written,
    /// The session no longer exists; nothing was written.
    Ended,
    /// Another request changed one of the keys meanwhile; nothing was written.
    Conflict,
}

fn optional(ms: Option<i64>) -> String {
    ms.map(|ms| ms.to_string()).unwrap_or_default()
}

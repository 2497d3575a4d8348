//! `RedisSessionStore`: tower-sessions' `SessionStore` on our fred pool.
//!
//! Why not `tower_sessions_redis_store::RedisStore` as it is: it keeps a record as one opaque
//! blob under the bare session id, rewrites the whole blob on every save (so concurrent requests
//! overwrite each other), refreshes the TTL only by rewriting, and fails every request for a blob
//! it cannot decode. Here a record is a Redis hash under a prefixed key:
//!
//! * reading a session is one `HGETALL`;
//! * each change is one script that checks the key still exists and touches only its own fields
//!   (`HINCRBY`, `HSET`), so concurrent writers never lose each other's updates;
//! * a save from tower-sessions only moves the deadline (`HSET refreshed_at` + `PEXPIREAT`);
//! * a value that cannot be decoded (garbage, an older format, a key of another type) is logged
//!   and read as "no session", so the visitor gets a fresh one instead of an error.
//!
//! The key's TTL is always the session's deadline: `min(refreshed_at + idle, absolute_deadline)`.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use async_trait::async_trait;
use fred::{
    prelude::{HashesInterface, KeysInterface, Pool},
    types::{scripts::Script, Value as RedisValue},
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tower_sessions::{
    session::{Id, Record},
    session_store, SessionStore,
};

use super::{
    fields,
    user_index::{IndexEntry, UserIndex},
};
use crate::redis::KeySpace;

/// Lua: create the record only if its key is new. ARGV[1] = deadline (ms), then field/value pairs.
const CREATE: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
"#;

/// Lua: move the deadline of an existing record. ARGV = refreshed_at, idle (ms).
/// The deadline is computed here from the stored absolute deadline, so it can never pass it, and
/// never moves back (a slower concurrent request may carry an older refreshed_at).
const REFRESH: &str = r#"
local absolute = tonumber(redis.call('HGET', KEYS[1], 'absolute_deadline'))
if not absolute then return 0 end
local stored = tonumber(redis.call('HGET', KEYS[1], 'refreshed_at')) or 0
local refreshed = math.max(tonumber(ARGV[1]), stored)
redis.call('HSET', KEYS[1], 'refreshed_at', tostring(refreshed))
redis.call('PEXPIREAT', KEYS[1], math.min(refreshed + tonumber(ARGV[2]), absolute))
return 1
"#;

/// Lua: add to an integer field of an existing record. ARGV = field, amount. Nil when gone.
const INCREMENT: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
"#;

/// Lua: set fields of an existing record. ARGV = field/value pairs. 0 when gone.
const SET_FIELDS: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"#;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("Redis did not answer: {0}")]
    Redis(#[from] fred::error::Error),
    #[error("a session value could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}

impl From<StoreError> for session_store::Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Redis(inner) => session_store::Error::Backend(inner.details().to_string()),
            StoreError::Encode(inner) => session_store::Error::Encode(inner.to_string()),
        }
    }
}

/// Timeouts the store enforces through key TTLs.
#[derive(Debug, Clone, Copy)]
pub struct ExpiryPolicy {
    pub idle: Duration,
    pub absolute: Duration,
}

#[derive(Clone)]
pub struct RedisSessionStore {
    pool: Pool,
    keys: KeySpace,
    policy: ExpiryPolicy,
    index: UserIndex,
    scripts: Arc<Scripts>,
    undecodable: Arc<AtomicU64>,
}

struct Scripts {
    create: Script,
    refresh: Script,
    increment: Script,
    set_fields: Script,
}

impl std::fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessionStore")
            .field("keys", &self.keys)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl RedisSessionStore {
    /// A store writing sessions at [`KeySpace::session`].
    ///
    /// ```no_run
    /// # async fn example(pool: fred::prelude::Pool) {
    /// use std::time::Duration;
    /// use sessionboard::{redis::KeySpace, sessions::{ExpiryPolicy, RedisSessionStore}};
    ///
    /// let policy = ExpiryPolicy { idle: Duration::from_secs(604_800), absolute: Duration::from_secs(2_592_000) };
    /// let store = RedisSessionStore::new(pool, KeySpace::new("sessionboard:"), policy);
    /// # }
    /// ```
    pub fn new(pool: Pool, keys: KeySpace, policy: ExpiryPolicy) -> Self {
        RedisSessionStore {
            index: UserIndex::new(pool.clone(), keys.clone(), policy.idle, policy.absolute),
            pool,
            keys,
            policy,
            scripts: Arc::new(Scripts {
                create: Script::from_lua(CREATE),
                refresh: Script::from_lua(REFRESH),
                increment: Script::from_lua(INCREMENT),
                set_fields: Script::from_lua(SET_FIELDS),
            }),
            undecodable: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn policy(&self) -> ExpiryPolicy {
        self.policy
    }

    /// The per-user session index kept beside the sessions.
    pub fn index(&self) -> &UserIndex {
        &self.index
    }

    /// The Redis key of a session.
    pub fn key(&self, id: &Id) -> String {
        self.keys.session(id)
    }

    /// Adds `amount` to an integer field of an existing session; `None` when the session no
    /// longer exists (it is never re-created as a half record).
    pub async fn increment(
        &self,
        id: &Id,
        field: &str,
        amount: i64,
    ) -> Result<Option<i64>, StoreError> {
        let value: Option<i64> = self
            .scripts
            .increment
            .evalsha_with_reload(
                self.pool.next(),
                self.key(id),
                vec![field.to_string(), amount.to_string()],
            )
            .await?;
        Ok(value)
    }

    /// Sets fields of an existing session; `false` when the session no longer exists.
    pub async fn set_fields(&self, id: &Id, values: &[(&str, Value)]) -> Result<bool, StoreError> {
        let mut args = Vec::with_capacity(values.len() * 2);
        for (field, value) in values {
            args.push(field.to_string());
            args.push(serde_json::to_string(value)?);
        }
        let stored: i64 = self
            .scripts
            .set_fields
            .evalsha_with_reload(self.pool.next(), self.key(id), args)
            .await?;
        Ok(stored == 1)
    }

    /// How many records could not be decoded since start (exposed for tests and logs).
    pub fn undecodable_count(&self) -> u64 {
        self.undecodable.load(Ordering::Relaxed)
    }

    /// Logs an undecodable record: the first one, then every 100th, so bad data cannot flood
    /// the log.
    fn report_undecodable(&self, id: &Id, reason: &str) {
        let seen = self.undecodable.fetch_add(1, Ordering::Relaxed);
        if seen.is_multiple_of(100) {
            tracing::warn!(
                key = %self.key(id),
                reason,
                undecodable_so_far = seen + 1,
                "session record cannot be decoded; treating it as no session"
            );
        }
    }

    fn decode(&self, id: &Id, raw: HashMap<String, String>) -> Option<Record> {
        let mut data = HashMap::with_capacity(raw.len());
        for (field, text) in raw {
            match serde_json::from_str::<Value>(&text) {
                Ok(value) => {
                    data.insert(field, value);
                }
                Err(_) => {
                    self.report_undecodable(id, "a field is not JSON");
                    return None;
                }
            }
        }
        let Some((refreshed_at, absolute)) = well_typed(&data) else {
            self.report_undecodable(id, "required fields are missing or of the wrong type");
            return None;
        };
        let deadline = deadline_ms(refreshed_at, absolute, self.policy.idle);
        let expiry_date =
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(deadline) * 1_000_000).ok()?;
        Some(Record {
            id: *id,
            data,
            expiry_date,
        })
    }
}

/// Checks every field the app reads has the type it expects, so that a bad record is "no
/// session" here instead of an error at every later read. Returns (refreshed_at, absolute).
fn well_typed(data: &HashMap<String, Value>) -> Option<(i64, i64)> {
    // Milliseconds between 1970 and the year 3000.
    let instant = |field: &str| {
        data.get(field)
            .and_then(Value::as_i64)
            .filter(|ms| (0..32_503_680_000_000).contains(ms))
    };
    let optional = |field: &str, ok: fn(&Value) -> bool| data.get(field).is_none_or(ok);
    instant(fields::CREATED_AT)?;
    let refreshed_at = instant(fields::REFRESHED_AT)?;
    let absolute = instant(fields::ABSOLUTE_DEADLINE)?;
    let all_ok = optional(fields::COUNTER, |v| v.is_i64())
        && optional(fields::SIGNED_IN_AT, |v| v.is_i64())
        && [
            fields::NOTE,
            fields::USER,
            fields::USER_AGENT,
            fields::ADDRESS,
        ]
        .iter()
        .all(|field| optional(field, Value::is_string));
    all_ok.then_some((refreshed_at, absolute))
}

/// The moment a session ends: its idle deadline, capped by its absolute deadline.
pub fn deadline_ms(refreshed_at: i64, absolute_deadline: i64, idle: Duration) -> i64 {
    refreshed_at
        .saturating_add(idle.as_millis() as i64)
        .min(absolute_deadline)
}

/// A short, stable, non-reversible label for a session id: lets a user tell sessions apart
/// without ever exposing the id itself.
pub fn fingerprint(id: &Id) -> String {
    let digest = Sha256::digest(id.to_string().as_bytes());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let millis = |field: &str| record.data.get(field).and_then(Value::as_i64);
        let (Some(refreshed_at), Some(absolute)) = (
            millis(fields::REFRESHED_AT),
            millis(fields::ABSOLUTE_DEADLINE),
        ) else {
            return Err(session_store::Error::Encode(
                "a new session needs refreshed_at and absolute_deadline (use AppSession)".into(),
            ));
        };
        let deadline = deadline_ms(refreshed_at, absolute, self.policy.idle);
        let mut args = Vec::with_capacity(1 + record.data.len() * 2);
        args.push(deadline.to_string());
        for (field, value) in &record.data {
            args.push(field.clone());
            args.push(serde_json::to_string(value).map_err(StoreError::Encode)?);
        }
        loop {
            let created: i64 = self
                .scripts
                .create
                .evalsha_with_reload(self.pool.next(), self.key(&record.id), args.clone())
                .await
                .map_err(StoreError::Redis)?;
            if created == 1 {
                break;
            }
            record.id = Id::default();
        }
        // A signed-in session joins its user's index once it exists under its final id.
        if let Some(user) = record.data.get(fields::USER).and_then(Value::as_str) {
            let text = |field: &str| {
                record
                    .data
                    .get(field)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let entry = IndexEntry {
                id: record.id.to_string(),
                signed_in_at: millis(fields::SIGNED_IN_AT).unwrap_or(refreshed_at),
                user_agent: text(fields::USER_AGENT),
                address: text(fields::ADDRESS),
            };
            self.index
                .add(user, &fingerprint(&record.id), &entry)
                .await
                .map_err(StoreError::Redis)?;
        }
        Ok(())
    }

    /// tower-sessions saves after a request that changed the session's expiry; data changes go
    /// through [`RedisSessionStore::increment`] and [`RedisSessionStore::set_fields`] at once, so
    /// a save only moves the deadline. A record that vanished meanwhile (expired, revoked) stays
    /// gone.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        // The moment the caller decided to refresh (AppSession puts it in the record), so that
        // the deadline it showed and put in the cookie is the one Redis gets.
        let refreshed_at = record
            .data
            .get(fields::REFRESHED_AT)
            .and_then(Value::as_i64)
            .unwrap_or_else(now_ms);
        let outcome: Result<i64, _> = self
            .scripts
            .refresh
            .evalsha_with_reload(
                self.pool.next(),
                self.key(&record.id),
                vec![
                    refreshed_at.to_string(),
                    (self.policy.idle.as_millis() as i64).to_string(),
                ],
            )
            .await;
        // Best effort on purpose: tower-sessions runs this after the response and would replace
        // a good answer by a bare 500 on error. A deadline that could not be moved only means
        // the session ends at its previous deadline; the next request tries again.
        match outcome {
            Ok(0) => tracing::debug!(
                "session ended before its deadline could be moved; not re-creating it"
            ),
            Ok(_) => {}
            Err(err) => {
                tracing::debug!(error = %err.details(), "could not move a session deadline")
            }
        }
        Ok(())
    }

    async fn load(&self, session_id: &Id) -> session_store::Result<Option<Record>> {
        let raw: Result<HashMap<String, String>, _> = self.pool.hgetall(self.key(session_id)).await;
        match raw {
            Ok(raw) if raw.is_empty() => Ok(None),
            Ok(raw) => Ok(self.decode(session_id, raw)),
            Err(err) if is_wrong_type(&err) => {
                self.report_undecodable(session_id, "the key holds another Redis type");
                Ok(None)
            }
            Err(err) if is_undecodable_reply(&err) => {
                self.report_undecodable(session_id, "a field is not text");
                Ok(None)
            }
            Err(err) => Err(StoreError::Redis(err).into()),
        }
    }

    async fn delete(&self, session_id: &Id) -> session_store::Result<()> {
        let _: RedisValue = self
            .pool
            .del(self.key(session_id))
            .await
            .map_err(StoreError::Redis)?;
        Ok(())
    }
}

fn is_wrong_type(err: &fred::error::Error) -> bool {
    err.details().starts_with("WRONGTYPE")
}

fn is_undecodable_reply(err: &fred::error::Error) -> bool {
    matches!(err.kind(), fred::error::ErrorKind::Parse)
}

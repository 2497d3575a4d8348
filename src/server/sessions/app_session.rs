//! `AppSession`: the typed view of one visitor's session, and the way the app's own code reads
//! and changes it.
//!
//! It wraps the request's tower-sessions [`Session`] (so handlers that use the plain `Session`
//! API see the same data) and its [`RequestStore`] (for the bookkeeping: deadlines and the
//! signed-in user). Reading costs one `HGETALL`. Writes are stored before the method returns, so
//! a failure is answered by the caller like any other error:
//!
//! * `increment` is atomic in Redis (`HINCRBY`): concurrent increments all count;
//! * `set` and `remove` write only their key (last writer wins for that key);
//! * sign-in, sign-out and revocation keep the user's session index in step.

use std::{sync::Arc, time::Duration};

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use tower_sessions::Session;

use tower_sessions_fred_store::{
    ListedSession, Loaded, RequestStore, SessionFailure, SessionHandle, SignedIn, UserIndex,
};

use crate::shared::{
    clock::now_ms,
    dto::SessionView,
    input::{Note, Username},
    session_keys,
};

/// Data keys the app itself reads with a type (declared to the store, which treats a record where
/// one has another type as corrupt). The keys a page may show are `shared::session_keys`.
pub mod keys {
    use crate::shared::session_keys;

    /// The demo counter; a bare integer so that Redis can increment it (`HINCRBY`). Sent to
    /// the page on its own, as `SessionView::counter`.
    pub const COUNTER: &str = "counter";
    pub const NOTE: &str = session_keys::NOTE.name;
    pub const THEME: &str = session_keys::THEME.name;
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the session store is unavailable: {0}")]
    StoreUnavailable(String),
    #[error("the session store did not confirm a write: {0}")]
    Unconfirmed(String),
    #[error("the session ended before the change could be saved")]
    Ended,
    #[error("a session value could not be encoded or decoded: {0}")]
    Value(String),
    #[error("too many new sessions from this address; retry in {0:?}")]
    TooManyNew(std::time::Duration),
}

impl From<SessionFailure> for SessionError {
    fn from(failure: SessionFailure) -> Self {
        match failure {
            SessionFailure::Ended => SessionError::Ended,
            SessionFailure::Unavailable(detail) => SessionError::StoreUnavailable(detail),
            SessionFailure::Unconfirmed(detail) => SessionError::Unconfirmed(detail),
            SessionFailure::Rejected(detail) => SessionError::Value(detail),
            SessionFailure::TooManyNew(wait) => SessionError::TooManyNew(wait),
            // A kind of failure a newer store may add: the store could not do what was asked.
            other => SessionError::StoreUnavailable(format!("{other:?}")),
        }
    }
}

/// Where a sign-in comes from, as "Your sessions" shows it.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub address: String,
    pub user_agent: String,
}

pub struct AppSession {
    session: Session,
    request_store: Arc<RequestStore>,
}

impl AppSession {
    pub fn new(session: Session, request_store: Arc<RequestStore>) -> Self {
        AppSession {
            session,
            request_store,
        }
    }

    /// The standard tower-sessions handle of the same session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The stored session, loading it on first use (one `HGETALL` per request).
    async fn live(&self) -> Result<Option<Arc<Loaded>>, SessionError> {
        // Any read makes tower-sessions load the record through the request store; the key is
        // irrelevant.
        self.session
            .get_value(keys::COUNTER)
            .await
            .map_err(|err| self.error(err))?;
        Ok(self
            .request_store
            .loaded()
            .filter(|loaded| Some(loaded.id) == self.session.id()))
    }

    /// Maps a tower-sessions error to what the request store saw go wrong.
    fn error(&self, err: tower_sessions::session::Error) -> SessionError {
        match self.request_store.failure() {
            Some(failure) => failure.into(),
            None => SessionError::Value(err.to_string()),
        }
    }

    /// The session as the panel shows it.
    pub async fn view(&self) -> Result<SessionView, SessionError> {
        let loaded = self.live().await?;
        Ok(self.to_view(loaded.as_deref(), false))
    }

    /// "Stay signed in": the idle deadline moves now, whatever the refresh threshold.
    pub async fn stay(&self) -> Result<SessionView, SessionError> {
        let loaded = self.live().await?;
        Ok(self.to_view(loaded.as_deref(), true))
    }

    fn to_view(&self, loaded: Option<&Loaded>, force_refresh: bool) -> SessionView {
        let signed_in = loaded.is_some_and(|loaded| loaded.meta.signed_in.is_some());
        let policy = self.request_store.store().policy().for_session(signed_in);
        let idle_timeout_seconds = policy.idle.as_secs();
        let absolute_timeout_seconds = policy.absolute.as_secs();
        let Some(loaded) = loaded else {
            return SessionView {
                previous_ended: self.request_store.ended(),
                idle_timeout_seconds,
                absolute_timeout_seconds,
                ..SessionView::default()
            };
        };
        // The same decision the layer writes after the response, so the page shows what Redis
        // gets.
        let (refreshed_at, expires_at) = self
            .request_store
            .slide_deadline(force_refresh)
            .unwrap_or((loaded.meta.refreshed_at, loaded.meta.absolute_deadline));
        let data = public_data(&loaded.data);
        SessionView {
            active: true,
            previous_ended: false,
            id_fingerprint: SessionHandle::of(&loaded.id).to_string(),
            created_at: loaded.meta.created_at,
            last_active: refreshed_at,
            idle_expires_at: refreshed_at.saturating_add(policy.idle_ms()),
            absolute_expires_at: loaded.meta.absolute_deadline,
            expires_at,
            ttl_seconds: ((expires_at - now_ms()).max(0) + 999) / 1000,
            idle_timeout_seconds,
            absolute_timeout_seconds,
            counter: loaded
                .data
                .get(keys::COUNTER)
                .and_then(Value::as_i64)
                .unwrap_or(0),
            data,
            user: loaded.meta.signed_in.as_ref().map(|s| s.user.clone()),
            signed_in_at: loaded.meta.signed_in.as_ref().map(|s| s.at),
        }
    }

    /// Adds one to the counter atomically and returns the new value.
    pub async fn increment_counter(&self) -> Result<i64, SessionError> {
        match self.live().await? {
            None => {
                self.set(keys::COUNTER, 1).await?;
                Ok(1)
            }
            Some(loaded) => self
                .request_store
                .store()
                .increment(&loaded.id, keys::COUNTER, 1)
                .await
                .map_err(|err| match err.may_have_applied() {
                    true => SessionError::Unconfirmed(err.to_string()),
                    false => SessionError::StoreUnavailable(err.to_string()),
                })?
                .ok_or(SessionError::Ended),
        }
    }

    pub async fn set_note(&self, note: &Note) -> Result<(), SessionError> {
        self.set(keys::NOTE, note.as_str()).await
    }

    /// A value of the session's data (`None` when absent).
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        self.session.get(key).await.map_err(|err| self.error(err))
    }

    /// Stores `value` under `key` now (creating the session if there is none). Only this key is
    /// written; the last writer of a key wins.
    pub async fn set(&self, key: &str, value: impl Serialize) -> Result<(), SessionError> {
        self.live().await?;
        self.session
            .insert(key, value)
            .await
            .map_err(|err| self.error(err))?;
        self.session.save().await.map_err(|err| self.error(err))
    }

    /// Removes `key` from the session's data now.
    pub async fn remove(&self, key: &str) -> Result<(), SessionError> {
        if self.live().await?.is_none() {
            return Ok(());
        }
        self.session
            .remove_value(key)
            .await
            .map_err(|err| self.error(err))?;
        self.session.save().await.map_err(|err| self.error(err))
    }

    /// Deletes the session (and its entry in its user's index) and clears the cookie. `true`
    /// when there was a session to end.
    pub async fn forget(&self) -> Result<bool, SessionError> {
        let existed = self.live().await?.is_some();
        self.session.flush().await.map_err(|err| self.error(err))?;
        Ok(existed)
    }

    /// Signs `user` in: a new session id (the old one no longer loads anything), a new absolute
    /// deadline counted from now, and the visitor's data kept. The new record and its index entry
    /// are stored before this returns.
    ///
    /// The old record is deleted before the new one is stored (tower-sessions' `cycle_id`), so a
    /// Redis failure between the two loses the anonymous data; the caller then answers 503.
    pub async fn login(&self, user: &Username, client: &ClientInfo) -> Result<(), SessionError> {
        let existing = self.live().await?;
        let now = now_ms();
        self.request_store.prepare_sign_in(SignedIn {
            user: user.to_string(),
            at: now,
            password_at: now,
            user_agent: shorten(&client.user_agent, 120),
            address: client.address.clone(),
        });
        if existing.is_some() {
            self.session
                .cycle_id()
                .await
                .map_err(|err| self.error(err))?;
        }
        self.session.save().await.map_err(|err| self.error(err))
    }

    /// Renews the session id and keeps everything else (a privilege change, such as a new
    /// password, must not leave a possibly known id valid).
    pub async fn renew_id(&self) -> Result<(), SessionError> {
        if self.live().await?.is_none() {
            return Ok(());
        }
        self.session
            .cycle_id()
            .await
            .map_err(|err| self.error(err))?;
        self.session.save().await.map_err(|err| self.error(err))
    }

    /// Whether the password was entered in this session within `window`.
    pub async fn password_entered_within(&self, window: Duration) -> Result<bool, SessionError> {
        let window = window.as_millis() as i64;
        Ok(self.live().await?.is_some_and(|loaded| {
            loaded
                .meta
                .signed_in
                .as_ref()
                .is_some_and(|s| now_ms().saturating_sub(s.password_at) <= window)
        }))
    }

    /// Notes that the password was entered in this session just now.
    pub async fn record_password_entry(&self) -> Result<(), SessionError> {
        let Some(id) = self.session.id() else {
            return Ok(());
        };
        let store = self.request_store.store();
        match store.record_password_entry(&id, now_ms()).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(SessionError::Ended),
            Err(err) => Err(SessionError::StoreUnavailable(err.to_string())),
        }
    }

    /// The signed-in user's name, if any. A stored name the app would not accept (written by
    /// something else) counts as nobody signed in.
    pub async fn user(&self) -> Result<Option<Username>, SessionError> {
        Ok(self.live().await?.and_then(|loaded| {
            let signed_in = loaded.meta.signed_in.as_ref()?;
            Username::parse(&signed_in.user).ok()
        }))
    }

    /// This session's handle in its user's index.
    pub fn handle(&self) -> Option<SessionHandle> {
        self.session.id().as_ref().map(SessionHandle::of)
    }

    /// The live sessions of `user` (the signed-in user of this session).
    pub async fn list_sessions(&self, user: &Username) -> Result<Vec<ListedSession>, SessionError> {
        self.index_call(self.index().list(user.as_str(), now_ms()))
            .await
    }

    /// Signs out one of `user`'s sessions; `false` when the user has no such session.
    pub async fn revoke(
        &self,
        user: &Username,
        handle: &SessionHandle,
    ) -> Result<bool, SessionError> {
        self.index_call(self.index().revoke(user.as_str(), handle))
            .await
    }

    /// Signs out every session of `user` but this one; returns how many.
    pub async fn revoke_others(&self, user: &Username) -> Result<usize, SessionError> {
        let keep = self.handle();
        self.index_call(self.index().revoke_all_except(user.as_str(), keep.as_ref()))
            .await
    }

    fn index(&self) -> &UserIndex {
        self.request_store.store().index()
    }

    /// A call on the user index, through the store's breaker.
    async fn index_call<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, fred::error::Error>>,
    ) -> Result<T, SessionError> {
        self.request_store
            .store()
            .breaker()
            .run(call)
            .await
            .map_err(|err| SessionError::StoreUnavailable(err.details().to_string()))
    }
}

/// The keys declared public (`shared::session_keys`), with their values.
fn public_data(data: &std::collections::HashMap<String, Value>) -> serde_json::Map<String, Value> {
    let mut public: serde_json::Map<String, Value> = session_keys::PUBLIC
        .iter()
        .filter_map(|key| Some((key.to_string(), data.get(*key)?.clone())))
        .collect();
    public.sort_keys();
    public
}

/// At most `max` characters, marked with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut short: String = text.chars().take(max - 1).collect();
    short.push('…');
    short
}

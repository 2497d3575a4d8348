//! `AppSession`: the typed view of one visitor's session, and the way the app's own code reads
//! and changes it.
//!
//! It wraps the request's tower-sessions [`Session`] (so handlers that use the plain `Session`
//! API see the same data) and its [`RequestStore`] (for the bookkeeping: deadlines and the
//! signed-in user). Reading costs one `HGETALL`. Writes are stored before the method returns, so
//! a failure is answered by the caller like any other error:
//!
//! * `increment` is atomic in Redis (`HINCRBY`): concurrent increments all count;
//! * `set` and `remove` write only their key, and only if no other request changed it since this
//!   one read it (otherwise nothing is written: `SessionError::Conflict`, a 409);
//! * sign-in, sign-out and revocation keep the user's session index in step.

use std::{sync::Arc, time::Duration};

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use tower_sessions::Session;

use tower_sessions_fred_store::{
    ListedSession, RequestStore, SessionFailure, SessionHandle, StoreError, UserIndex,
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
    /// When the password was last entered in this session (sign-in, re-authentication; ms).
    pub const PASSWORD_AT: &str = "password_at";
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
    #[error("another request changed the same session data at the same time")]
    Conflict,
    #[error("a session value could not be encoded or decoded: {0}")]
    Value(String),
    #[error("too many new sessions from this address; retry in {0:?}")]
    TooManyNew(std::time::Duration),
}

impl From<SessionFailure> for SessionError {
    fn from(failure: SessionFailure) -> Self {
        match failure {
            SessionFailure::Ended => SessionError::Ended,
            SessionFailure::Conflict => SessionError::Conflict,
            SessionFailure::Unavailable(detail) => SessionError::StoreUnavailable(detail),
            SessionFailure::Unconfirmed(detail) => SessionError::Unconfirmed(detail),
            SessionFailure::Rejected(detail) => SessionError::Value(detail),
            SessionFailure::TooManyNew(wait) => SessionError::TooManyNew(wait),
            // A kind of failure a newer store may add: the store could not do what was asked.
            other => SessionError::StoreUnavailable(format!("{other:?}")),
        }
    }
}

/// Where a sign-in comes from, as "Your sessions" shows it: kept in the user's session index.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
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

    /// Whether there is a stored session, loading it on first use (one `HGETALL` per request).
    async fn live(&self) -> Result<bool, SessionError> {
        // Any read makes tower-sessions load the record through the request store; the key is
        // irrelevant.
        self.session
            .get_value(keys::COUNTER)
            .await
            .map_err(|err| self.error(err))?;
        Ok(self.session.id().is_some() && self.request_store.loaded_id() == self.session.id())
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
        self.to_view(false).await
    }

    /// "Stay signed in": the idle deadline moves now, whatever the refresh threshold.
    pub async fn stay(&self) -> Result<SessionView, SessionError> {
        self.to_view(true).await
    }

    async fn to_view(&self, force_refresh: bool) -> Result<SessionView, SessionError> {
        let live = self.live().await?;
        let store = &self.request_store;
        let (idle, absolute) = store.timeouts();
        let (idle_timeout_seconds, absolute_timeout_seconds) = (idle.as_secs(), absolute.as_secs());
        let (Some(created_at), Some(absolute_expires_at), true) =
            (store.created_at(), store.absolute_deadline(), live)
        else {
            return Ok(SessionView {
                previous_ended: store.ended(),
                idle_timeout_seconds,
                absolute_timeout_seconds,
                ..SessionView::default()
            });
        };
        // The same decision the layer writes after the response, so the page shows what Redis
        // gets.
        let (refreshed_at, expires_at) = store
            .slide_deadline(force_refresh)
            .unwrap_or((created_at, absolute_expires_at));
        Ok(SessionView {
            active: true,
            previous_ended: false,
            id_fingerprint: self.handle().map(|h| h.to_string()).unwrap_or_default(),
            created_at,
            last_active: refreshed_at,
            idle_expires_at: refreshed_at.saturating_add(idle.as_millis() as i64),
            absolute_expires_at,
            expires_at,
            ttl_seconds: ((expires_at - now_ms()).max(0) + 999) / 1000,
            idle_timeout_seconds,
            absolute_timeout_seconds,
            counter: self.get::<i64>(keys::COUNTER).await?.unwrap_or(0),
            data: self.public_data().await?,
            user: store.signed_in_user(),
            signed_in_at: store.signed_in_at(),
        })
    }

    /// The keys declared public (`shared::session_keys`), with their values.
    async fn public_data(&self) -> Result<serde_json::Map<String, Value>, SessionError> {
        let mut public = serde_json::Map::new();
        for key in session_keys::PUBLIC {
            if let Some(value) = self.get::<Value>(key).await? {
                public.insert(key.to_string(), value);
            }
        }
        public.sort_keys();
        Ok(public)
    }

    /// Adds one to the counter atomically and returns the new value.
    pub async fn increment_counter(&self) -> Result<i64, SessionError> {
        if !self.live().await? {
            self.set(keys::COUNTER, 1).await?;
            return Ok(1);
        }
        self.request_store
            .increment(keys::COUNTER, 1)
            .await
            .map_err(|err| match err.may_have_applied() {
                true => SessionError::Unconfirmed(err.to_string()),
                false => SessionError::StoreUnavailable(err.to_string()),
            })?
            .ok_or(SessionError::Ended)
    }

    pub async fn set_note(&self, note: &Note) -> Result<(), SessionError> {
        self.set(keys::NOTE, note.as_str()).await
    }

    /// A value of the session's data (`None` when absent).
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        self.session.get(key).await.map_err(|err| self.error(err))
    }

    /// Stores `value` under `key` now (creating the session if there is none). Only this key is
    /// written, and only if no other request changed it since this one read it
    /// ([`SessionError::Conflict`] otherwise).
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
        if !self.live().await? {
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
        let existed = self.live().await?;
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
        let client = ClientInfo {
            user_agent: shorten(&client.user_agent, 120),
            address: client.address.clone(),
        };
        self.request_store
            .prepare_sign_in(user.as_str(), &client)
            .map_err(|err| SessionError::Value(err.to_string()))?;
        self.session
            .insert(keys::PASSWORD_AT, now_ms())
            .await
            .map_err(|err| self.error(err))?;
        if existing {
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
        if !self.live().await? {
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
        if !self.live().await? || self.request_store.signed_in_user().is_none() {
            return Ok(false);
        }
        let entered = self.get::<i64>(keys::PASSWORD_AT).await?;
        let entered = entered.or(self.request_store.signed_in_at()).unwrap_or(0);
        Ok(now_ms().saturating_sub(entered) <= window.as_millis() as i64)
    }

    /// Notes that the password was entered in this session just now.
    pub async fn record_password_entry(&self) -> Result<(), SessionError> {
        if self.session.id().is_none() {
            return Ok(());
        }
        self.set(keys::PASSWORD_AT, now_ms()).await
    }

    /// The signed-in user's name, if any. A stored name the app would not accept (written by
    /// something else) counts as nobody signed in.
    pub async fn user(&self) -> Result<Option<Username>, SessionError> {
        if !self.live().await? {
            return Ok(None);
        }
        let user = self.request_store.signed_in_user();
        Ok(user.and_then(|name| Username::parse(&name).ok()))
    }

    /// This session's handle in its user's index.
    pub fn handle(&self) -> Option<SessionHandle> {
        self.session.id().as_ref().map(SessionHandle::of)
    }

    /// The live sessions of `user` (the signed-in user of this session).
    pub async fn list_sessions(&self, user: &Username) -> Result<Vec<ListedSession>, SessionError> {
        index_answer(self.index().list(user.as_str()).await)
    }

    /// Signs out one of `user`'s sessions; `false` when the user has no such session.
    pub async fn revoke(
        &self,
        user: &Username,
        handle: &SessionHandle,
    ) -> Result<bool, SessionError> {
        index_answer(self.index().revoke(user.as_str(), handle).await)
    }

    /// Signs out every session of `user` but this one; returns how many.
    pub async fn revoke_others(&self, user: &Username) -> Result<usize, SessionError> {
        let keep = self.handle();
        index_answer(
            self.index()
                .revoke_all_except(user.as_str(), keep.as_ref())
                .await,
        )
    }

    fn index(&self) -> &UserIndex {
        self.request_store.store().index()
    }
}

/// What a call on the user index (through the store's breaker) means to the app.
fn index_answer<T>(answer: Result<T, StoreError>) -> Result<T, SessionError> {
    answer.map_err(|err| SessionError::StoreUnavailable(err.to_string()))
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

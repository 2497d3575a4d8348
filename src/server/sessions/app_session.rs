//! `AppSession`: the typed view of one visitor's session, the way the app's own code reads and
//! changes it. It wraps the request's tower-sessions [`Session`] (handlers on the plain `Session`
//! API see the same data) and its [`RequestStore`] (the bookkeeping: deadlines, the signed-in
//! user). Writes are stored before the method returns; a failure is answered like any error:
//!
//! * `increment` is atomic in Redis (`HINCRBY`): concurrent increments all count;
//! * `set` and `remove` write only their key, and only if no other request changed it since this
//!   one read it (otherwise nothing is written: `SessionFailure::Conflict`, a 409);
//! * sign-in, sign-out and revocation keep the user's session index in step, and a session that
//!   ends is counted by its reason (`sessionboard_sessions_ended_total`).

use std::{sync::Arc, time::Duration};

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use tower_sessions::{session, Session};

use tower_sessions_fred_store::{
    ListedSession, RequestStore, SessionFailure, SessionHandle, StoreError, UserIndex,
};

use crate::{
    server::{
        device,
        observability::{EndReason, Metrics},
    },
    shared::{
        clock::now_ms,
        dto::{SessionListing, SessionView},
        input::Username,
        session_keys,
    },
};

/// Data keys the app itself reads with a type, beside the keys a page may show
/// (`shared::session_keys`).
pub mod keys {
    /// The demo counter; a bare integer so that Redis can increment it (`HINCRBY`). Sent to
    /// the page on its own, as `SessionView::counter`.
    pub const COUNTER: &str = "counter";
    /// When the password was last entered in this session (sign-in, re-authentication; ms).
    pub const PASSWORD_AT: &str = "password_at";
}

/// A failure the store reports, or a rule of the app's own.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the session store failed: {0:?}")]
    Store(SessionFailure),
    #[error("no one is signed in")]
    NotSignedIn,
    #[error("the user has no such session")]
    NoSuchSession,
}

type SessionResult<T> = Result<T, SessionError>;

impl From<SessionFailure> for SessionError {
    fn from(failure: SessionFailure) -> Self {
        SessionError::Store(failure)
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
    metrics: Metrics,
}

impl AppSession {
    /// The session of the request being served (inside a server function or a page render).
    pub fn from_request(metrics: &Metrics) -> Option<AppSession> {
        // Borrowed, not cloned: cloning the request's parts would copy every header.
        leptos::prelude::with_context(|parts: &axum::http::request::Parts| {
            Some(AppSession {
                session: parts.extensions.get::<Session>()?.clone(),
                request_store: parts.extensions.get::<Arc<RequestStore>>()?.clone(),
                metrics: metrics.clone(),
            })
        })?
    }

    /// Whether there is a stored session, loading it on first use (one `HGETALL` per request).
    async fn live(&self) -> Result<bool, SessionError> {
        // Any read makes tower-sessions load the record through the request store.
        self.tried(self.session.get_value(keys::COUNTER).await)?;
        Ok(self.session.id().is_some() && self.request_store.loaded_id() == self.session.id())
    }

    /// A tower-sessions call's error as what the request store saw go wrong.
    fn tried<T>(&self, result: Result<T, session::Error>) -> Result<T, SessionError> {
        result.map_err(|err| match self.request_store.failure() {
            Some(failure) => failure.into(),
            None => SessionFailure::Rejected(err.to_string()).into(),
        })
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
        let none = SessionView {
            previous_ended: store.ended(),
            idle_timeout_seconds: idle.as_secs(),
            absolute_timeout_seconds: absolute.as_secs(),
            ..SessionView::default()
        };
        let (Some(created_at), Some(absolute_expires_at), true) =
            (store.created_at(), store.absolute_deadline(), live)
        else {
            return Ok(none);
        };
        // The same decision the layer writes after the response: the page shows what Redis gets.
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
            counter: self.get::<i64>(keys::COUNTER).await?.unwrap_or(0),
            data: self.public_data().await?,
            user: store.signed_in_user(),
            signed_in_at: store.signed_in_at(),
            ..none
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
        Ok(public)
    }

    pub async fn increment_counter(&self) -> Result<i64, SessionError> {
        if !self.live().await? {
            self.set(keys::COUNTER, 1).await?;
            return Ok(1);
        }
        self.request_store
            .increment(keys::COUNTER, 1)
            .await
            .map_err(|err| match err.may_have_applied() {
                true => SessionFailure::Unconfirmed(err.to_string()),
                false => SessionFailure::Unavailable(err.to_string()),
            })?
            .ok_or(SessionFailure::Ended.into())
    }

    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        self.tried(self.session.get(key).await)
    }

    /// Stores `value` under `key` now (creating the session if there is none). Only this key is
    /// written, and only if no other request changed it since this one read it
    /// ([`SessionFailure::Conflict`] otherwise).
    pub async fn set(&self, key: &str, value: impl Serialize) -> Result<(), SessionError> {
        self.live().await?;
        self.tried(self.session.insert(key, value).await)?;
        self.tried(self.session.save().await)
    }

    pub async fn remove(&self, key: &str) -> Result<(), SessionError> {
        if !self.live().await? {
            return Ok(());
        }
        self.tried(self.session.remove_value(key).await)?;
        self.tried(self.session.save().await)
    }

    /// Deletes the session (and its entry in its user's index) and clears the cookie. `true`
    /// when there was a session to end.
    pub async fn forget(&self) -> Result<bool, SessionError> {
        let existed = self.live().await?;
        self.tried(self.session.flush().await)?;
        Ok(existed)
    }

    /// [`forget`](Self::forget), counting the session as ended for `reason`.
    pub async fn end(&self, reason: EndReason) -> Result<(), SessionError> {
        if self.forget().await? {
            self.metrics.sessions_ended(reason, 1);
        }
        Ok(())
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
            .map_err(|err| SessionFailure::Rejected(err.to_string()))?;
        self.tried(self.session.insert(keys::PASSWORD_AT, now_ms()).await)?;
        if existing {
            self.tried(self.session.cycle_id().await)?;
        }
        self.tried(self.session.save().await)
    }

    /// Renews the session id and keeps everything else (a privilege change, such as a new
    /// password, must not leave a possibly known id valid).
    pub async fn renew_id(&self) -> Result<(), SessionError> {
        if !self.live().await? {
            return Ok(());
        }
        self.tried(self.session.cycle_id().await)?;
        self.tried(self.session.save().await)
    }

    pub async fn password_entered_within(&self, window: Duration) -> Result<bool, SessionError> {
        if !self.live().await? || self.request_store.signed_in_user().is_none() {
            return Ok(false);
        }
        let entered = self.get::<i64>(keys::PASSWORD_AT).await?;
        let entered = entered.or(self.request_store.signed_in_at()).unwrap_or(0);
        Ok(now_ms().saturating_sub(entered) <= window.as_millis() as i64)
    }

    pub async fn record_password_entry(&self) -> Result<(), SessionError> {
        if self.session.id().is_none() {
            return Ok(());
        }
        self.set(keys::PASSWORD_AT, now_ms()).await
    }

    /// The signed-in user's name, or [`SessionError::NotSignedIn`]. A stored name the app would
    /// not accept (written by something else) counts as nobody signed in.
    pub async fn signed_in(&self) -> Result<Username, SessionError> {
        let live = self.live().await?;
        let user = self.request_store.signed_in_user().filter(|_| live);
        let user = user.and_then(|name| Username::parse(&name).ok());
        user.ok_or(SessionError::NotSignedIn)
    }

    /// This session's handle in its user's index.
    pub fn handle(&self) -> Option<SessionHandle> {
        self.session.id().as_ref().map(SessionHandle::of)
    }

    /// The live sessions of `user` (this session's), as "Your sessions" lists them.
    pub async fn list_sessions(&self, user: &Username) -> SessionResult<Vec<SessionListing>> {
        let this = self.handle();
        let listed = index_answer(self.index().list(user.as_str()).await)?;
        let listing = |session| listing(session, this.as_ref());
        Ok(listed.into_iter().map(listing).collect())
    }

    /// Signs out one of `user`'s sessions ([`SessionError::NoSuchSession`] when the user has
    /// none by that handle).
    pub async fn revoke(&self, user: &Username, handle: &SessionHandle) -> SessionResult<()> {
        if !index_answer(self.index().revoke(user.as_str(), handle).await)? {
            return Err(SessionError::NoSuchSession);
        }
        self.metrics.sessions_ended(EndReason::Revoked, 1);
        Ok(())
    }

    /// Signs out every session of `user` but this one; returns how many.
    pub async fn revoke_others(&self, user: &Username) -> Result<usize, SessionError> {
        let keep = self.handle();
        let index = self.index().revoke_all_except(user.as_str(), keep.as_ref());
        let revoked = index_answer(index.await)?;
        let ended = u64::try_from(revoked).unwrap_or(u64::MAX);
        self.metrics.sessions_ended(EndReason::Revoked, ended);
        Ok(revoked)
    }

    fn index(&self) -> &UserIndex {
        self.request_store.store().index()
    }
}

/// A session of the user's index as "Your sessions" shows it.
fn listing(session: ListedSession, this: Option<&SessionHandle>) -> SessionListing {
    let client = session.details::<ClientInfo>().unwrap_or_default();
    SessionListing {
        this_device: Some(&session.handle) == this,
        handle: session.handle.to_string(),
        signed_in_at: session.signed_in_at,
        last_seen: session.last_seen,
        expires_at: session.expires_at,
        device: device::name(&client.user_agent),
        user_agent: client.user_agent,
        address: client.address,
    }
}

/// What a call on the user index (through the store's breaker) means to the app.
fn index_answer<T>(answer: Result<T, StoreError>) -> Result<T, SessionError> {
    answer.map_err(|err| SessionFailure::Unavailable(err.to_string()).into())
}

/// At most `max` characters, marked with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    match text.chars().nth(max) {
        Some(_) => text.chars().take(max - 1).chain(['…']).collect(),
        None => text.to_string(),
    }
}

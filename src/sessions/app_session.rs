//! `AppSession`: the typed view of one visitor's session, and the only way code changes it.
//!
//! Reading costs one `HGETALL`. The idle deadline slides with activity, but is only pushed (one
//! small script, and a fresh cookie Max-Age) when it would move by more than the configured
//! fraction of the idle timeout. Changes to an existing session are single atomic Redis
//! operations, applied at once; a new session is stored within the request (see `begin`), so a
//! failure is answered like any other.

use serde_json::Value;
use time::OffsetDateTime;
use tower_sessions::{session::Id, Expiry, Session};

use super::{
    fields,
    store::{deadline_ms, fingerprint, now_ms, ExpiryPolicy, RedisSessionStore},
};
use crate::session_view::SessionView;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the session store is unavailable: {0}")]
    StoreUnavailable(String),
    #[error("the session ended before the change could be saved")]
    Ended,
}

impl From<tower_sessions::session::Error> for SessionError {
    fn from(err: tower_sessions::session::Error) -> Self {
        SessionError::StoreUnavailable(err.to_string())
    }
}

impl From<super::store::StoreError> for SessionError {
    fn from(err: super::store::StoreError) -> Self {
        SessionError::StoreUnavailable(err.to_string())
    }
}

/// What a loaded session holds.
#[derive(Debug, Clone)]
struct Loaded {
    id: Id,
    created_at: i64,
    refreshed_at: i64,
    absolute_deadline: i64,
    counter: i64,
    note: Option<String>,
    user: Option<String>,
    signed_in_at: Option<i64>,
}

pub struct AppSession {
    session: Session,
    store: RedisSessionStore,
    refresh_fraction: f64,
}

impl AppSession {
    pub fn new(session: Session, store: RedisSessionStore, refresh_fraction: f64) -> Self {
        AppSession {
            session,
            store,
            refresh_fraction,
        }
    }

    fn policy(&self) -> ExpiryPolicy {
        self.store.policy()
    }

    /// Loads the session (one `HGETALL`) and slides its idle deadline when due.
    /// `Ok(None)`: no live session; `ended` in the view tells whether the request carried the
    /// cookie of one that has ended (expired, signed out, revoked, or unreadable).
    async fn load(&self) -> Result<(Option<Loaded>, bool), SessionError> {
        self.load_with(false).await
    }

    async fn load_with(&self, force_refresh: bool) -> Result<(Option<Loaded>, bool), SessionError> {
        let had_cookie = self.session.id().is_some();
        let created_at: Option<i64> = self.session.get(fields::CREATED_AT).await?;
        let Some(created_at) = created_at else {
            return Ok((None, had_cookie && self.session.id().is_none()));
        };
        let Some(id) = self.session.id() else {
            // Created earlier in this same request; not stored yet.
            return Ok((None, false));
        };
        let mut loaded = Loaded {
            id,
            created_at,
            refreshed_at: self
                .session
                .get(fields::REFRESHED_AT)
                .await?
                .unwrap_or(created_at),
            absolute_deadline: self
                .session
                .get(fields::ABSOLUTE_DEADLINE)
                .await?
                .unwrap_or(created_at),
            counter: self.session.get(fields::COUNTER).await?.unwrap_or(0),
            note: self.session.get(fields::NOTE).await?,
            user: self.session.get(fields::USER).await?,
            signed_in_at: self.session.get(fields::SIGNED_IN_AT).await?,
        };
        self.slide_deadline(&mut loaded, force_refresh).await?;
        Ok((Some(loaded), false))
    }

    /// Pushes the idle deadline when it would move by more than the refresh threshold. The push
    /// happens after the response (tower-sessions calls the store's `save`), together with a new
    /// cookie Max-Age.
    async fn slide_deadline(&self, loaded: &mut Loaded, force: bool) -> Result<(), SessionError> {
        let policy = self.policy();
        let now = now_ms();
        let threshold = if force {
            0
        } else {
            (policy.idle.as_millis() as f64 * self.refresh_fraction) as i64
        };
        let current = deadline_ms(loaded.refreshed_at, loaded.absolute_deadline, policy.idle);
        let proposed = deadline_ms(now, loaded.absolute_deadline, policy.idle);
        if proposed - current > threshold {
            loaded.refreshed_at = now;
            // The store's save reads it from the record, so Redis gets this very deadline.
            self.session.insert(fields::REFRESHED_AT, now).await?;
            self.session.set_expiry(Some(cookie_expiry(proposed)));
        }
        Ok(())
    }

    /// The session as the panel shows it.
    pub async fn view(&self) -> Result<SessionView, SessionError> {
        let (loaded, ended) = self.load().await?;
        Ok(self.to_view(loaded.as_ref(), ended))
    }

    /// "Stay signed in": pushes the idle deadline now, whatever the refresh threshold.
    pub async fn stay(&self) -> Result<SessionView, SessionError> {
        let (loaded, ended) = self.load_with(true).await?;
        Ok(self.to_view(loaded.as_ref(), ended))
    }

    fn to_view(&self, loaded: Option<&Loaded>, previous_ended: bool) -> SessionView {
        let policy = self.policy();
        let Some(loaded) = loaded else {
            return SessionView {
                previous_ended,
                idle_timeout_seconds: policy.idle.as_secs(),
                absolute_timeout_seconds: policy.absolute.as_secs(),
                ..SessionView::default()
            };
        };
        let idle_deadline = loaded
            .refreshed_at
            .saturating_add(policy.idle.as_millis() as i64);
        let expires_at = idle_deadline.min(loaded.absolute_deadline);
        let mut data = serde_json::Map::new();
        if let Some(note) = &loaded.note {
            data.insert(fields::NOTE.into(), Value::String(note.clone()));
        }
        SessionView {
            active: true,
            previous_ended: false,
            id_fingerprint: fingerprint(&loaded.id),
            created_at: loaded.created_at,
            last_active: loaded.refreshed_at,
            idle_expires_at: idle_deadline,
            absolute_expires_at: loaded.absolute_deadline,
            expires_at,
            ttl_seconds: ((expires_at - now_ms()).max(0) + 999) / 1000,
            idle_timeout_seconds: policy.idle.as_secs(),
            absolute_timeout_seconds: policy.absolute.as_secs(),
            counter: loaded.counter,
            data,
            user: loaded.user.clone(),
            signed_in_at: loaded.signed_in_at,
        }
    }

    /// Adds one to the counter atomically and returns the new value.
    pub async fn increment_counter(&self) -> Result<i64, SessionError> {
        match self.load().await?.0 {
            None => {
                self.begin(&[(fields::COUNTER, Value::from(1))]).await?;
                Ok(1)
            }
            Some(loaded) => self
                .store
                .increment(&loaded.id, fields::COUNTER, 1)
                .await?
                .ok_or(SessionError::Ended),
        }
    }

    /// Stores the note (already validated by the caller).
    pub async fn set_note(&self, note: &str) -> Result<(), SessionError> {
        let value = Value::String(note.to_string());
        match self.load().await?.0 {
            None => self.begin(&[(fields::NOTE, value)]).await,
            Some(loaded) => {
                if self
                    .store
                    .set_fields(&loaded.id, &[(fields::NOTE, value)])
                    .await?
                {
                    Ok(())
                } else {
                    Err(SessionError::Ended)
                }
            }
        }
    }

    /// Deletes the session from Redis (and from its user's index) and clears the cookie.
    pub async fn forget(&self) -> Result<(), SessionError> {
        let (loaded, _) = self.load().await?;
        // The record first: if the index update then fails, the entry points at nothing and is
        // pruned, instead of a live session that "sign out everywhere" cannot reach.
        self.session.flush().await?;
        match loaded {
            Some(loaded) => self.leave_index(&loaded).await,
            None => Ok(()),
        }
    }

    /// Removes a (no longer existing) session of a signed-in user from that user's index.
    async fn leave_index(&self, loaded: &Loaded) -> Result<(), SessionError> {
        if let Some(user) = &loaded.user {
            self.store
                .index()
                .remove(user, &fingerprint(&loaded.id))
                .await
                .map_err(store_down)?;
        }
        Ok(())
    }

    /// Signs `user` in: a new session id (the old one no longer loads anything), a new absolute
    /// deadline counted from now, and the visitor's harmless data (counter, note) kept. The new
    /// record and its index entry are stored before this returns.
    pub async fn login(
        &self,
        user: &str,
        user_agent: &str,
        address: &str,
    ) -> Result<(), SessionError> {
        let now = now_ms();
        let extra = [
            (fields::USER, Value::from(user)),
            (fields::SIGNED_IN_AT, Value::from(now)),
            (fields::USER_AGENT, Value::from(shorten(user_agent, 120))),
            (fields::ADDRESS, Value::from(address)),
        ];
        match self.load().await?.0 {
            None => self.begin(&extra).await,
            Some(loaded) => {
                // tower-sessions deletes the old record here and creates the new one in `save`.
                self.session.cycle_id().await?;
                self.leave_index(&loaded).await?;
                self.restart_clock(now, &extra).await?;
                self.session.save().await?;
                Ok(())
            }
        }
    }

    /// The signed-in user's name, if any.
    pub async fn user(&self) -> Result<Option<String>, SessionError> {
        Ok(self.load().await?.0.and_then(|loaded| loaded.user))
    }

    /// This session's handle in its user's index.
    pub fn handle(&self) -> Option<String> {
        self.session.id().as_ref().map(fingerprint)
    }

    /// Starts a session and stores it now, so that a failure is reported to the user (503) instead
    /// of surfacing as a bare 500 from tower-sessions' save after the response. (tower-sessions
    /// then saves once more after the response; our store's `save` only moves the deadline, one
    /// small script, and only for requests that create a session.)
    async fn begin(&self, extra: &[(&str, Value)]) -> Result<(), SessionError> {
        let now = now_ms();
        self.session.insert(fields::CREATED_AT, now).await?;
        self.restart_clock(now, extra).await?;
        self.session.save().await?;
        Ok(())
    }

    /// Sets a fresh idle and absolute deadline from `now`, plus `extra` fields, in memory.
    async fn restart_clock(&self, now: i64, extra: &[(&str, Value)]) -> Result<(), SessionError> {
        let policy = self.policy();
        let absolute = now + policy.absolute.as_millis() as i64;
        self.session.insert(fields::REFRESHED_AT, now).await?;
        self.session
            .insert(fields::ABSOLUTE_DEADLINE, absolute)
            .await?;
        for (field, value) in extra {
            self.session.insert(field, value).await?;
        }
        self.session
            .set_expiry(Some(cookie_expiry(deadline_ms(now, absolute, policy.idle))));
        Ok(())
    }
}

fn store_down(err: fred::error::Error) -> SessionError {
    SessionError::StoreUnavailable(err.details().to_string())
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

/// The cookie's expiry for a session deadline. Max-Age is whole seconds and rounded down, which
/// would end the cookie before the session; two extra seconds keep it until Redis, the source of
/// truth, has deleted the session, so the server can still tell the visitor it has ended.
fn cookie_expiry(deadline_ms: i64) -> Expiry {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(deadline_ms + 2_000) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    Expiry::AtDateTime(at)
}

#[cfg(feature = "ssr")]
impl AppSession {
    /// The session of the request being served (inside a server function or page render).
    pub async fn from_request() -> Result<AppSession, crate::error::ApiError> {
        use axum::http::StatusCode;
        use leptos::prelude::use_context;

        use crate::{error::ApiError, startup::AppState};

        let internal = |what: &str| {
            tracing::error!("{what} missing from the request context");
            ApiError::new("internal", "The server is misconfigured.")
                .with_status(StatusCode::INTERNAL_SERVER_ERROR)
        };
        let state = use_context::<AppState>().ok_or_else(|| internal("AppState"))?;
        let session: Session = leptos_axum::extract()
            .await
            .map_err(|_| internal("the session layer"))?;
        Ok(AppSession::new(
            session,
            state.store.clone(),
            state.settings.session.refresh_fraction,
        ))
    }
}

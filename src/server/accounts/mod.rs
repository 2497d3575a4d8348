//! Accounts and sign-in: the account store, Argon2id hashing and the brute-force limiter, behind
//! one service whose methods are whole operations (sign in = check + new session; password
//! change = check + new hash + new session id + the other sessions signed out).

mod limiter;
mod password;
mod store;
mod trusted_device;

use std::{sync::Arc, time::Duration};

use fred::prelude::Pool;
use secrecy::{ExposeSecret, SecretString};

pub use limiter::{LoginLimits, SIGN_INS_PER_WINDOW};
pub use password::PasswordError;
pub use trusted_device::{DeviceCookies, TrustedDevice};

use self::{limiter::LoginLimiter, store::AccountStore};
use crate::{
    server::{
        observability::{LoginResult, Metrics, RedisOperation},
        redis::{Breaker, KeySpace, WindowCounter},
        sessions::{AppSession, ClientInfo, RedisSessionStore, SessionError},
    },
    shared::{
        clock::now_ms,
        input::{Password, Username},
    },
};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("that username is taken")]
    UsernameTaken,
    /// Unknown user and wrong password are one error, on purpose.
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("too many failed sign-ins; retry in {0:?}")]
    TooManyAttempts(Duration),
    #[error("the password must be entered again")]
    ReauthRequired,
    #[error("too many registrations from one address; retry in {0:?}")]
    TooManyRegistrations(Duration),
    #[error("the account store is unavailable: {}", crate::server::redis::safe_text(.0))]
    Store(#[from] fred::error::Error),
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The new password is stored; renewing the session or signing the others out failed.
    #[error("the password was changed, but not every other session was signed out: {0}")]
    PasswordChangedUnfinished(SessionError),
    #[error(transparent)]
    Password(#[from] PasswordError),
}

/// The limits of the accounts service.
#[derive(Debug, Clone, Copy)]
pub struct AccountPolicy {
    pub login: LoginLimits,
    /// Registrations from one address per hour.
    pub max_registrations_per_address: u32,
    /// An account that never signs in is deleted this long after it was created.
    pub unused_account_ttl: Duration,
    /// Revoking sessions needs the password unless it was entered this recently.
    pub reauth_window: Duration,
}

const REGISTRATION_WINDOW: Duration = Duration::from_secs(3600);

#[derive(Clone)]
pub struct Accounts {
    store: AccountStore,
    limiter: LoginLimiter,
    keys: KeySpace,
    registrations: WindowCounter,
    policy: AccountPolicy,
    /// Verified against when the user does not exist, so both failures take as long.
    decoy_hash: Arc<str>,
    /// The session store's breaker: accounts live in the same Redis.
    breaker: Breaker,
    metrics: Metrics,
}

impl Accounts {
    pub async fn new(
        pool: Pool,
        keys: KeySpace,
        policy: AccountPolicy,
        breaker: Breaker,
        metrics: Metrics,
    ) -> Result<Accounts, PasswordError> {
        Ok(Accounts {
            store: AccountStore::new(pool.clone(), keys.clone()),
            limiter: LoginLimiter::new(pool.clone(), keys.clone(), policy.login),
            registrations: WindowCounter::new(pool),
            keys,
            policy,
            decoy_hash: password::decoy_hash()?.into(),
            breaker,
            metrics,
        })
    }

    /// Registration and password changes answer only once as many replicas have them as
    /// `sessions` waits for (`REDIS_WAIT_REPLICAS`).
    pub fn with_replica_wait(mut self, sessions: RedisSessionStore) -> Self {
        self.store.durable = Some(sessions);
        self
    }

    /// Creates an account for a visitor at `client`, within the registrations allowed from its
    /// address; the account expires unless it signs in within the configured time. Counted in
    /// `sessionboard_registrations_total`.
    pub async fn register(
        &self,
        username: &Username,
        password: Password,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        let key = self.keys.registrations_for_address(&client.address);
        let counted = self.registrations.count(key, REGISTRATION_WINDOW).await?;
        if let Some(wait) = counted.over(self.policy.max_registrations_per_address) {
            return Err(AccountError::TooManyRegistrations(wait));
        }
        self.create(username, password, Some(self.policy.unused_account_ttl))
            .await?;
        self.metrics.registered();
        Ok(())
    }

    async fn create(
        &self,
        username: &Username,
        password: Password,
        unused_ttl: Option<Duration>,
    ) -> Result<(), AccountError> {
        let hash = password::hash(password).await?;
        let create = self.store.create(username, &hash, now_ms(), unused_ttl);
        match self.redis(RedisOperation::AccountCreate, create).await? {
            true => Ok(()),
            false => Err(AccountError::UsernameTaken),
        }
    }

    /// Checks the credentials within the attempt limits (a browser whose `device` cookie vouches
    /// for the name within its own) and signs `session` in with a new id; counts the attempt by
    /// its result.
    pub async fn sign_in(
        &self,
        session: &AppSession,
        username: &str,
        password: String,
        client: &ClientInfo,
        device: Option<&TrustedDevice>,
    ) -> Result<Username, AccountError> {
        let outcome = self
            .check_and_sign_in(session, username, password, client, device)
            .await;
        match &outcome {
            Ok(_) => self.metrics.login(LoginResult::Ok),
            Err(AccountError::InvalidCredentials) => self.metrics.login(LoginResult::Invalid),
            Err(AccountError::TooManyAttempts(_)) => self.metrics.login(LoginResult::Limited),
            // The store failed: no verdict on the credentials.
            Err(_) => {}
        }
        outcome
    }

    async fn check_and_sign_in(
        &self,
        session: &AppSession,
        username: &str,
        password: String,
        client: &ClientInfo,
        device: Option<&TrustedDevice>,
    ) -> Result<Username, AccountError> {
        // A name that is not even valid is just a wrong name: same answer, same cost.
        let name = Username::parse(username).ok();
        let (name, verified) = self
            .limited_verify(name.as_ref(), password, &client.address, device)
            .await?;
        session.login(&name, client).await?;
        // A password change that landed while this sign-in was hashing has already signed out
        // every other session; one checked against the old password must not outlive it. The
        // change writes the hash before reading the index, this reads the hash after writing its
        // entry: one of the two always sees the other.
        let now_stored = self.store.password_hash(&name);
        let now_stored = self.redis(RedisOperation::AccountRead, now_stored).await?;
        if now_stored.as_deref() != Some(verified.as_str()) {
            session.forget().await?;
            return Err(AccountError::InvalidCredentials);
        }
        Ok(name)
    }

    /// Replaces the password after checking the current one (within the same limits as sign-in:
    /// a stolen session must not be a free password oracle), renews this session's id, and signs
    /// out every other session of the user. Returns how many were signed out.
    pub async fn change_password(
        &self,
        session: &AppSession,
        user: &Username,
        current: String,
        new: Password,
        client: &ClientInfo,
        device: Option<&TrustedDevice>,
    ) -> Result<usize, AccountError> {
        self.limited_verify(Some(user), current, &client.address, device)
            .await?;
        let hash = password::hash(new).await?;
        let stored = self.store.set_password_hash(user, &hash);
        if !self
            .redis(RedisOperation::AccountSetPassword, stored)
            .await?
        {
            return Err(AccountError::InvalidCredentials);
        }
        // The new password is stored: from here on a failure must not read "nothing changed".
        let finish = async {
            session.renew_id().await?;
            session.record_password_entry().await?;
            session.revoke_others(user).await
        };
        finish
            .await
            .map_err(AccountError::PasswordChangedUnfinished)
    }

    /// Lets a sensitive change (revoking sessions) through when the password was entered in this
    /// session within the re-authentication window, or is given now (checked within the same
    /// limits as a sign-in).
    pub async fn reauthenticate(
        &self,
        session: &AppSession,
        user: &Username,
        password: Option<String>,
        client: &ClientInfo,
        device: Option<&TrustedDevice>,
    ) -> Result<(), AccountError> {
        if session
            .password_entered_within(self.policy.reauth_window)
            .await?
        {
            return Ok(());
        }
        let password = password
            .filter(|password| !password.is_empty())
            .ok_or(AccountError::ReauthRequired)?;
        self.limited_verify(Some(user), password, &client.address, device)
            .await?;
        Ok(session.record_password_entry().await?)
    }

    /// Creates the `DEMO_USERS` accounts that do not exist yet; they never expire.
    pub async fn create_demo_users(
        &self,
        users: &[(Username, SecretString)],
    ) -> Result<(), AccountError> {
        for (name, secret) in users {
            let password = Password::attempt(secret.expose_secret().to_string())
                .ok_or(AccountError::InvalidCredentials)?;
            match self.create(name, password, None).await {
                Ok(()) => tracing::info!(user = %name, "created demo account"),
                Err(AccountError::UsernameTaken) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// Verifies the password unless `user` or `address` (or the trusted `device`) is over its
    /// attempt limit: the user and the hash it matched.
    async fn limited_verify(
        &self,
        user: Option<&Username>,
        password: String,
        address: &str,
        device: Option<&TrustedDevice>,
    ) -> Result<(Username, String), AccountError> {
        // Too long to be anyone's password: refused without spending a hash on it.
        let password = Password::attempt(password).ok_or(AccountError::InvalidCredentials)?;
        let attempt = self.limiter.attempt(user, address, device);
        if let Some(wait) = self.redis(RedisOperation::LoginAttempt, attempt).await? {
            return Err(AccountError::TooManyAttempts(wait));
        }
        let stored = match user {
            Some(user) => {
                let read = self.store.password_hash(user);
                self.redis(RedisOperation::AccountRead, read).await?
            }
            None => None,
        };
        // An unknown user costs one hash all the same.
        let checked = stored
            .clone()
            .unwrap_or_else(|| self.decoy_hash.to_string());
        let matched = password::verify(password, checked).await?;
        let (Some(user), Some(hash), true) = (user, stored, matched) else {
            return Err(AccountError::InvalidCredentials);
        };
        let succeeded = self.limiter.succeeded(user, address, device);
        self.redis(RedisOperation::LoginSucceeded, succeeded)
            .await?;
        let used = self.store.mark_used(user);
        self.redis(RedisOperation::AccountMarkUsed, used).await?;
        Ok((user.clone(), hash))
    }

    /// One call on the accounts in Redis, through the breaker.
    async fn redis<T>(
        &self,
        operation: RedisOperation,
        call: impl std::future::Future<Output = Result<T, fred::error::Error>>,
    ) -> Result<T, fred::error::Error> {
        self.metrics.redis(operation, self.breaker.run(call)).await
    }
}

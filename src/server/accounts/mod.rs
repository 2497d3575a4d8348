//! Accounts and sign-in: the account store, Argon2id hashing and the brute-force limiter, behind
//! one service whose methods are whole operations (sign in = check + new session; password
//! change = check + new hash + new session id + the other sessions signed out).

mod limiter;
mod password;
mod store;

use std::{sync::Arc, time::Duration};

use fred::prelude::Pool;
use secrecy::{ExposeSecret, SecretString};

pub use limiter::LoginLimits;
pub use password::{PasswordError, ITERATIONS, MEMORY_KIB, PARALLELISM};

use self::{limiter::LoginLimiter, store::AccountStore};
use crate::{
    server::{
        observability::{LoginResult, Metrics},
        redis::KeySpace,
        sessions::{AppSession, ClientInfo, SessionError},
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
    #[error("the account store is unavailable: {}", .0.details())]
    Store(#[from] fred::error::Error),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Password(#[from] PasswordError),
}

#[derive(Clone)]
pub struct Accounts {
    store: AccountStore,
    limiter: LoginLimiter,
    /// Verified against when the user does not exist, so both failures take as long.
    decoy_hash: Arc<str>,
    metrics: Metrics,
}

impl Accounts {
    pub async fn new(
        pool: Pool,
        keys: KeySpace,
        limits: LoginLimits,
        metrics: Metrics,
    ) -> Result<Accounts, PasswordError> {
        Ok(Accounts {
            store: AccountStore::new(pool.clone(), keys.clone()),
            limiter: LoginLimiter::new(pool, keys, limits),
            decoy_hash: password::decoy_hash().await?.into(),
            metrics,
        })
    }

    /// Creates an account (counted in `sessionboard_registrations_total`).
    pub async fn register(
        &self,
        username: &Username,
        password: Password,
    ) -> Result<(), AccountError> {
        self.create(username, password).await?;
        self.metrics.registered();
        Ok(())
    }

    async fn create(&self, username: &Username, password: Password) -> Result<(), AccountError> {
        let hash = password::hash(password).await?;
        let create = self.store.create(username, &hash, now_ms());
        if self.metrics.redis("account_create", create).await? {
            Ok(())
        } else {
            Err(AccountError::UsernameTaken)
        }
    }

    /// Checks the credentials within the attempt limits and signs `session` in with a new id;
    /// counts the attempt by its result.
    pub async fn sign_in(
        &self,
        session: &AppSession,
        username: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<Username, AccountError> {
        let outcome = self
            .check_and_sign_in(session, username, password, client)
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

    /// A name that is not even valid is just a wrong name: same answer, same cost.
    async fn check_and_sign_in(
        &self,
        session: &AppSession,
        username: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<Username, AccountError> {
        // Too long to be anyone's password: refused without spending a hash on it.
        let password = Password::attempt(password).ok_or(AccountError::InvalidCredentials)?;
        let Ok(name) = Username::parse(username) else {
            let attempt = self.limiter.attempt(None, &client.address);
            if let Some(wait) = self.metrics.redis("login_attempt", attempt).await? {
                return Err(AccountError::TooManyAttempts(wait));
            }
            self.verify(None, password).await?;
            return Err(AccountError::InvalidCredentials);
        };
        let name = &name;
        self.limited_verify(name, password, &client.address).await?;
        session.login(name, client).await?;
        Ok(name.clone())
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
    ) -> Result<usize, AccountError> {
        let current = Password::attempt(current).ok_or(AccountError::InvalidCredentials)?;
        self.limited_verify(user, current, &client.address).await?;
        let hash = password::hash(new).await?;
        if !self.store.set_password_hash(user, &hash).await? {
            return Err(AccountError::InvalidCredentials);
        }
        session.renew_id().await?;
        Ok(session.revoke_others(user).await?)
    }

    /// Creates the `DEMO_USERS` accounts that do not exist yet.
    pub async fn seed(&self, users: &[(Username, SecretString)]) -> Result<(), AccountError> {
        for (name, secret) in users {
            let password = Password::attempt(secret.expose_secret().to_string())
                .ok_or(AccountError::InvalidCredentials)?;
            match self.create(name, password).await {
                Ok(()) => tracing::info!(user = %name, "created demo account"),
                Err(AccountError::UsernameTaken) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// Verifies the password unless `user` or `address` is over its attempt limit.
    async fn limited_verify(
        &self,
        user: &Username,
        password: Password,
        address: &str,
    ) -> Result<(), AccountError> {
        let attempt = self.limiter.attempt(Some(user), address);
        if let Some(wait) = self.metrics.redis("login_attempt", attempt).await? {
            return Err(AccountError::TooManyAttempts(wait));
        }
        if self.verify(Some(user), password).await? {
            let succeeded = self.limiter.succeeded(user, address);
            self.metrics.redis("login_succeeded", succeeded).await?;
            Ok(())
        } else {
            Err(AccountError::InvalidCredentials)
        }
    }

    /// Whether the password is the user's; an unknown user costs one hash all the same.
    async fn verify(
        &self,
        user: Option<&Username>,
        password: Password,
    ) -> Result<bool, AccountError> {
        let stored = match user {
            Some(user) => {
                let read = self.store.password_hash(user);
                self.metrics.redis("account_read", read).await?
            }
            None => None,
        };
        match stored {
            Some(hash) => Ok(password::verify(password, hash).await?),
            None => {
                password::verify(password, self.decoy_hash.to_string()).await?;
                Ok(false)
            }
        }
    }
}

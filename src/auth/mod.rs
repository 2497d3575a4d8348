//! Accounts and sign-in: credential rules (shared with the browser), and on the server the
//! account store, Argon2id hashing and the brute-force limiter.

pub mod credentials;

#[cfg(feature = "ssr")]
mod accounts;
#[cfg(feature = "ssr")]
mod limiter;
#[cfg(feature = "ssr")]
pub mod password;

#[cfg(feature = "ssr")]
pub use limiter::LoginLimits;
#[cfg(feature = "ssr")]
pub use server::{Auth, AuthError};

#[cfg(feature = "ssr")]
mod server {
    use std::{sync::Arc, time::Duration};

    use fred::prelude::Pool;

    use super::{
        accounts::AccountStore,
        limiter::{LoginLimiter, LoginLimits},
        password::{self, PasswordError},
    };
    use crate::{redis::KeySpace, sessions::now_ms};

    #[derive(Debug, thiserror::Error)]
    pub enum AuthError {
        #[error("that username is taken")]
        UsernameTaken,
        /// Unknown user and wrong password are one error, on purpose.
        #[error("wrong username or password")]
        InvalidCredentials,
        #[error("too many failed sign-ins; retry in {0:?}")]
        TooManyAttempts(Duration),
        #[error("the account store is unavailable: {0}")]
        Store(#[from] fred::error::Error),
        #[error(transparent)]
        Password(#[from] PasswordError),
    }

    #[derive(Clone)]
    pub struct Auth {
        accounts: AccountStore,
        limiter: LoginLimiter,
        /// Verified against when the user does not exist, so both failures take as long.
        decoy_hash: Arc<str>,
    }

    impl Auth {
        pub async fn new(
            pool: Pool,
            keys: KeySpace,
            limits: LoginLimits,
        ) -> Result<Auth, PasswordError> {
            Ok(Auth {
                accounts: AccountStore::new(pool.clone(), keys.clone()),
                limiter: LoginLimiter::new(pool, keys, limits),
                decoy_hash: password::decoy_hash().await?.into(),
            })
        }

        /// Creates an account; `username` is already normalized and the password checked.
        pub async fn register(&self, username: &str, password: String) -> Result<(), AuthError> {
            let hash = password::hash(password).await?;
            if self.accounts.create(username, &hash, now_ms()).await? {
                Ok(())
            } else {
                Err(AuthError::UsernameTaken)
            }
        }

        /// Checks a sign-in attempt from `address`, within the attempt limits.
        pub async fn authenticate(
            &self,
            username: &str,
            password: String,
            address: &str,
        ) -> Result<(), AuthError> {
            self.limited_verify(username, password, address).await
        }

        /// Verifies the password unless `username` or `address` is over its attempt limit.
        async fn limited_verify(
            &self,
            username: &str,
            password: String,
            address: &str,
        ) -> Result<(), AuthError> {
            if let Some(wait) = self.limiter.attempt(username, address).await? {
                return Err(AuthError::TooManyAttempts(wait));
            }
            if self.verify(username, password).await? {
                self.limiter.succeeded(username, address).await?;
                Ok(())
            } else {
                Err(AuthError::InvalidCredentials)
            }
        }

        /// Whether the password is the user's; an unknown user costs one hash all the same.
        pub async fn verify(&self, username: &str, password: String) -> Result<bool, AuthError> {
            match self.accounts.password_hash(username).await? {
                Some(hash) => Ok(password::verify(password, hash).await?),
                None => {
                    password::verify(password, self.decoy_hash.to_string()).await?;
                    Ok(false)
                }
            }
        }

        /// Replaces the password after checking the current one, within the same attempt limits
        /// as sign-in (a stolen session must not be a free password oracle).
        pub async fn change_password(
            &self,
            username: &str,
            current: String,
            new: String,
            address: &str,
        ) -> Result<(), AuthError> {
            self.limited_verify(username, current, address).await?;
            let hash = password::hash(new).await?;
            if self.accounts.set_password_hash(username, &hash).await? {
                Ok(())
            } else {
                Err(AuthError::InvalidCredentials)
            }
        }

        /// Creates the `DEMO_USERS` accounts that do not exist yet.
        pub async fn seed(
            &self,
            users: &[(String, secrecy::SecretString)],
        ) -> Result<(), AuthError> {
            use secrecy::ExposeSecret;
            for (name, password) in users {
                match self
                    .register(name, password.expose_secret().to_string())
                    .await
                {
                    Ok(()) => tracing::info!(user = %name, "created demo account"),
                    Err(AuthError::UsernameTaken) => {}
                    Err(err) => return Err(err),
                }
            }
            Ok(())
        }
    }
}

//! Brute-force limit on password checks, kept in Redis so every app instance shares it.
//!
//! Every attempt is counted, per username and per client address, *before* the password is
//! checked — so a burst of concurrent guesses cannot all slip past the limit while the first
//! hashes run — in a fixed window that starts with the first attempt. Past the limit, attempts
//! are refused without checking the password until the window ends. A successful check takes its
//! attempt back: it clears the username's count and uncounts itself from the address.

use std::time::Duration;

use fred::{
    prelude::{KeysInterface, Pool},
    types::scripts::Script,
};

use crate::{server::redis::KeySpace, shared::input::Username};

#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    pub max_failures_per_user: u32,
    pub max_failures_per_address: u32,
    pub window: Duration,
}

#[derive(Clone)]
pub struct LoginLimiter {
    pool: Pool,
    keys: KeySpace,
    limits: LoginLimits,
    count_attempt: Script,
    uncount_attempt: Script,
}

impl LoginLimiter {
    pub fn new(pool: Pool, keys: KeySpace, limits: LoginLimits) -> Self {
        LoginLimiter {
            pool,
            keys,
            limits,
            count_attempt: Script::from_lua(include_str!("scripts/count_attempt.lua")),
            uncount_attempt: Script::from_lua(include_str!("scripts/uncount_attempt.lua")),
        }
    }

    /// Counts an attempt for `user` (none when the name is not even valid) from `address`;
    /// `Some(wait)` when either is over its limit (the password must then not be checked).
    pub async fn attempt(
        &self,
        user: Option<&Username>,
        address: &str,
    ) -> Result<Option<Duration>, fred::error::Error> {
        let mut wait: Option<i64> = None;
        if let Some(user) = user {
            let (count, ttl) = self.count(self.keys.login_failures_for_user(user)).await?;
            if count > i64::from(self.limits.max_failures_per_user) {
                wait = Some(ttl);
            }
        }
        let (count, ttl) = self
            .count(self.keys.login_failures_for_address(address))
            .await?;
        if count > i64::from(self.limits.max_failures_per_address) {
            wait = Some(wait.unwrap_or(0).max(ttl));
        }
        Ok(wait.map(|ms| Duration::from_millis(ms.max(1000) as u64)))
    }

    /// A successful check: the user starts afresh and the address gets its attempt back.
    pub async fn succeeded(
        &self,
        user: &Username,
        address: &str,
    ) -> Result<(), fred::error::Error> {
        let _: i64 = self
            .pool
            .del(self.keys.login_failures_for_user(user))
            .await?;
        let _: i64 = self
            .uncount_attempt
            .evalsha_with_reload(
                self.pool.next(),
                self.keys.login_failures_for_address(address),
                Vec::<String>::new(),
            )
            .await?;
        Ok(())
    }

    async fn count(&self, key: String) -> Result<(i64, i64), fred::error::Error> {
        let window = (self.limits.window.as_millis() as u64).to_string();
        self.count_attempt
            .evalsha_with_reload(self.pool.next(), key, vec![window])
            .await
    }
}

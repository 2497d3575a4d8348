//! Brute-force limits on password checks, kept in Redis so every app instance shares them, and
//! shaped so that nobody can turn them against an account's owner.
//!
//! Every attempt is counted *before* the password is checked — so a burst of concurrent guesses
//! cannot all slip past a limit while the first hashes run — in fixed windows that start with the
//! first attempt, in this order:
//!
//! 1. per client address: an address over its limit is refused before it touches any counter of
//!    a name, so one client cannot lock or slow any number of accounts;
//! 2. per (name, address) pair: the hard lock. Guessing one name from one address stops for the
//!    rest of the window, while its owner, elsewhere, is not affected;
//! 3. per name, across addresses: past a higher number of attempts, the next ones are spaced by a
//!    wait that doubles up to a cap. Guessing from many addresses slows down; the owner waits at
//!    most the cap.
//!
//! A successful check takes its attempt back from the address and clears the name's counters.

use std::time::Duration;

use fred::{
    prelude::{KeysInterface, Pool},
    types::scripts::Script,
};

use crate::{
    server::redis::{KeySpace, WindowCounter},
    shared::{clock::now_ms, input::Username},
};

#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Attempts at one name from one address before that pair is locked for the window.
    pub max_failures_per_user: u32,
    pub max_failures_per_address: u32,
    /// Attempts at one name from all addresses before the next ones are spaced.
    pub slowdown_after_failures_per_user: u32,
    /// The longest wait between spaced attempts.
    pub slowdown_cap: Duration,
    pub window: Duration,
}

#[derive(Clone)]
pub struct LoginLimiter {
    pool: Pool,
    keys: KeySpace,
    limits: LoginLimits,
    counter: WindowCounter,
    slow_attempt: Script,
    uncount_attempt: Script,
}

impl LoginLimiter {
    pub fn new(pool: Pool, keys: KeySpace, limits: LoginLimits) -> Self {
        LoginLimiter {
            counter: WindowCounter::new(pool.clone()),
            pool,
            keys,
            limits,
            slow_attempt: Script::from_lua(include_str!("scripts/slow_attempt.lua")),
            uncount_attempt: Script::from_lua(include_str!("scripts/uncount_attempt.lua")),
        }
    }

    /// Counts an attempt for `user` (none when the name is not even valid) from `address`;
    /// `Some(wait)` when it must be refused (the password must then not be checked).
    pub async fn attempt(
        &self,
        user: Option<&Username>,
        address: &str,
    ) -> Result<Option<Duration>, fred::error::Error> {
        let window = self.limits.window;
        let from_address = self
            .counter
            .count(self.keys.login_failures_for_address(address), window)
            .await?;
        if let Some(wait) = from_address.over(self.limits.max_failures_per_address) {
            return Ok(Some(wait));
        }
        let Some(user) = user else {
            return Ok(None);
        };
        let pair = self
            .counter
            .count(self.keys.login_failures_for_pair(user, address), window)
            .await?;
        if let Some(wait) = pair.over(self.limits.max_failures_per_user) {
            return Ok(Some(wait));
        }
        let args = vec![
            (window.as_millis() as u64).max(1).to_string(),
            now_ms().to_string(),
            self.limits.slowdown_after_failures_per_user.to_string(),
            (self.limits.slowdown_cap.as_millis() as u64).to_string(),
        ];
        let wait_ms: i64 = self
            .slow_attempt
            .evalsha_with_reload(
                self.pool.next(),
                self.keys.login_slowdown_for_user(user),
                args,
            )
            .await?;
        Ok(
            (wait_ms > 0)
                .then(|| Duration::from_millis(wait_ms as u64).max(Duration::from_secs(1))),
        )
    }

    /// A successful check: the name starts afresh and the address gets its attempt back.
    pub async fn succeeded(
        &self,
        user: &Username,
        address: &str,
    ) -> Result<(), fred::error::Error> {
        let _: i64 = self
            .pool
            .del(vec![
                self.keys.login_failures_for_pair(user, address),
                self.keys.login_slowdown_for_user(user),
            ])
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
}

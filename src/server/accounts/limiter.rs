//! Brute-force limits on password checks, kept in Redis so every app instance shares them, and
//! shaped so that nobody can turn them against an account's owner.
//!
//! Only attempts that reach the password check are counted: an attempt a limit refuses costs
//! its sender a wait, never a step toward a lock. Each limit is checked and counted in one step
//! (a burst of concurrent guesses cannot all slip past a limit while the first hashes run), in
//! fixed windows that start with the first attempt, in this order:
//!
//! 1. per client address: an address over its limit is refused before it touches any counter of
//!    a name, so one client cannot lock or slow any number of accounts;
//! 2. per (name, address) pair: the hard lock. Guessing one name from one address stops for the
//!    rest of the window, while its owner, elsewhere, is not affected;
//! 3. per name, across addresses: past a higher number of attempts, the next ones are spaced by a
//!    wait that doubles up to a cap. Guessing from many addresses slows down; the owner waits at
//!    most the cap.
//!
//! An attempt refused at a later step is taken back from the earlier ones. A browser whose
//! device cookie vouches for the name skips all three: its attempts are counted under its token
//! alone (see `trusted_device`), so no one else's guessing can keep the owner out.
//!
//! A successful check takes its attempt back from the address and clears the name's counters.

use std::time::Duration;

use fred::{
    prelude::{KeysInterface, Pool},
    types::scripts::Script,
};

use super::trusted_device::TrustedDevice;
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
}

impl LoginLimiter {
    pub fn new(pool: Pool, keys: KeySpace, limits: LoginLimits) -> Self {
        LoginLimiter {
            counter: WindowCounter::new(pool.clone()),
            pool,
            keys,
            limits,
            slow_attempt: Script::from_lua(include_str!("scripts/slow_attempt.lua")),
        }
    }

    /// Admits an attempt for `user` (none when the name is not even valid) from `address`, or
    /// `Some(wait)` when it must be refused (the password must then not be checked). An admitted
    /// attempt is counted; a refused one is not.
    pub async fn attempt(
        &self,
        user: Option<&Username>,
        address: &str,
        device: Option<&TrustedDevice>,
    ) -> Result<Option<Duration>, fred::error::Error> {
        let limits = self.limits;
        if let (Some(user), Some(device)) = (user, device) {
            if device.vouches_for(user) {
                let key = self.keys.login_failures_for_device(device.token());
                let counted = self
                    .counter
                    .count_within(key, limits.max_failures_per_user, limits.window)
                    .await?;
                return Ok(counted.err());
            }
        }
        let address_key = self.keys.login_failures_for_address(address);
        let counted = self
            .counter
            .count_within(
                address_key.clone(),
                limits.max_failures_per_address,
                limits.window,
            )
            .await?;
        if let Err(wait) = counted {
            return Ok(Some(wait));
        }
        let Some(user) = user else {
            return Ok(None);
        };
        let refused = self.attempt_at_name(user, address).await?;
        if refused.is_some() {
            self.counter.uncount(address_key).await?;
        }
        Ok(refused)
    }

    /// Steps 2 and 3 for an attempt already counted on its address.
    async fn attempt_at_name(
        &self,
        user: &Username,
        address: &str,
    ) -> Result<Option<Duration>, fred::error::Error> {
        let window = self.limits.window;
        let pair_key = self.keys.login_failures_for_pair(user, address);
        let counted = self
            .counter
            .count_within(pair_key.clone(), self.limits.max_failures_per_user, window)
            .await?;
        if let Err(wait) = counted {
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
        if wait_ms <= 0 {
            return Ok(None);
        }
        self.counter.uncount(pair_key).await?;
        Ok(Some(
            Duration::from_millis(wait_ms as u64).max(Duration::from_secs(1)),
        ))
    }

    /// A successful check. Through a trusted browser only its token starts afresh: nothing was
    /// counted on the address or the name, so nothing is taken back there (and guessers at the
    /// name keep their slowdown). Otherwise the name starts afresh and the address gets its
    /// attempt back.
    pub async fn succeeded(
        &self,
        user: &Username,
        address: &str,
        device: Option<&TrustedDevice>,
    ) -> Result<(), fred::error::Error> {
        if let Some(device) = device.filter(|device| device.vouches_for(user)) {
            let key = self.keys.login_failures_for_device(device.token());
            let _: i64 = self.pool.del(key).await?;
            return Ok(());
        }
        let _: i64 = self
            .pool
            .del(vec![
                self.keys.login_failures_for_pair(user, address),
                self.keys.login_slowdown_for_user(user),
            ])
            .await?;
        self.counter
            .uncount(self.keys.login_failures_for_address(address))
            .await
    }
}

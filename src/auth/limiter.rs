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

use crate::redis::KeySpace;

/// Lua: count one attempt; the first one starts the window. ARGV[1] = window (ms).
/// Returns {count, remaining window in ms}.
const COUNT_ATTEMPT: &str = r#"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}
"#;

/// Lua: take one attempt back, only from a live window (a missing key must not come back
/// without a TTL).
const UNCOUNT_ATTEMPT: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('DECR', KEYS[1])
"#;

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
            count_attempt: Script::from_lua(COUNT_ATTEMPT),
            uncount_attempt: Script::from_lua(UNCOUNT_ATTEMPT),
        }
    }

    /// Counts an attempt for `user` from `address`; `Some(wait)` when either is over its limit
    /// (the password must then not be checked).
    pub async fn attempt(
        &self,
        user: &str,
        address: &str,
    ) -> Result<Option<Duration>, fred::error::Error> {
        let (user_count, user_ttl) = self.count(&self.keys.login_failures_for_user(user)).await?;
        let (address_count, address_ttl) = self
            .count(&self.keys.login_failures_for_address(address))
            .await?;
        let mut wait: Option<i64> = None;
        if user_count > i64::from(self.limits.max_failures_per_user) {
            wait = Some(user_ttl);
        }
        if address_count > i64::from(self.limits.max_failures_per_address) {
            wait = Some(wait.unwrap_or(0).max(address_ttl));
        }
        Ok(wait.map(|ms| Duration::from_millis(ms.max(1000) as u64)))
    }

    /// A successful check: the user starts afresh and the address gets its attempt back.
    pub async fn succeeded(&self, user: &str, address: &str) -> Result<(), fred::error::Error> {
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

    async fn count(&self, key: &str) -> Result<(i64, i64), fred::error::Error> {
        let window = (self.limits.window.as_millis() as u64).to_string();
        self.count_attempt
            .evalsha_with_reload(self.pool.next(), key.to_string(), vec![window])
            .await
    }
}

//! Brute-force limit on sign-ins, kept in Redis so every app instance shares it.
//!
//! Failures are counted per username and per client address in a fixed window that starts with
//! the first failure. At the limit further attempts are refused (without checking the password)
//! until the window ends. A successful sign-in clears the username's count.

use std::time::Duration;

use fred::{
    prelude::{KeysInterface, Pool},
    types::scripts::Script,
};

use crate::redis::KeySpace;

/// Lua: count one failure; the first one starts the window. ARGV[1] = window (ms).
const COUNT_FAILURE: &str = r#"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
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
    count_failure: Script,
}

impl LoginLimiter {
    pub fn new(pool: Pool, keys: KeySpace, limits: LoginLimits) -> Self {
        LoginLimiter {
            pool,
            keys,
            limits,
            count_failure: Script::from_lua(COUNT_FAILURE),
        }
    }

    /// `Some(wait)` when this user or address is over its limit.
    pub async fn blocked_for(
        &self,
        user: &str,
        address: &str,
    ) -> Result<Option<Duration>, fred::error::Error> {
        let user_key = self.keys.login_failures_for_user(user);
        let address_key = self.keys.login_failures_for_address(address);
        let pipeline = self.pool.next().pipeline();
        let _: () = pipeline.get(&user_key).await?;
        let _: () = pipeline.pttl(&user_key).await?;
        let _: () = pipeline.get(&address_key).await?;
        let _: () = pipeline.pttl(&address_key).await?;
        let (user_failures, user_ttl, address_failures, address_ttl): (
            Option<u32>,
            i64,
            Option<u32>,
            i64,
        ) = pipeline.all().await?;
        let mut wait: Option<i64> = None;
        if user_failures.unwrap_or(0) >= self.limits.max_failures_per_user {
            wait = Some(user_ttl);
        }
        if address_failures.unwrap_or(0) >= self.limits.max_failures_per_address {
            wait = Some(wait.unwrap_or(0).max(address_ttl));
        }
        Ok(wait.map(|ms| Duration::from_millis(ms.max(1000) as u64)))
    }

    pub async fn record_failure(
        &self,
        user: &str,
        address: &str,
    ) -> Result<(), fred::error::Error> {
        let window = (self.limits.window.as_millis() as u64).to_string();
        let client = self.pool.next();
        let _: i64 = self
            .count_failure
            .evalsha_with_reload(
                client,
                self.keys.login_failures_for_user(user),
                vec![window.clone()],
            )
            .await?;
        let _: i64 = self
            .count_failure
            .evalsha_with_reload(
                client,
                self.keys.login_failures_for_address(address),
                vec![window],
            )
            .await?;
        Ok(())
    }

    pub async fn clear_user(&self, user: &str) -> Result<(), fred::error::Error> {
        let _: i64 = self
            .pool
            .del(self.keys.login_failures_for_user(user))
            .await?;
        Ok(())
    }
}

//! Fixed-window counters in Redis, shared by every app instance: sign-in attempts, registrations
//! and new sessions per client address all count this way.

use std::time::Duration;

use fred::{prelude::Pool, types::scripts::Script};

/// Counts events under a key in a window that starts with the first event.
#[derive(Clone)]
pub struct WindowCounter {
    pool: Pool,
    script: Script,
    within_limit: Script,
    uncount: Script,
}

/// One counted event: how many the window holds now, and when it ends.
#[derive(Debug, Clone, Copy)]
pub struct Counted {
    pub count: i64,
    pub remaining: Duration,
}

impl Counted {
    /// The wait to tell a client that is over `limit`, or `None` while it is within it.
    pub fn over(self, limit: u32) -> Option<Duration> {
        (self.count > i64::from(limit)).then_some(self.remaining.max(Duration::from_secs(1)))
    }
}

impl WindowCounter {
    pub fn new(pool: Pool) -> Self {
        WindowCounter {
            pool,
            script: Script::from_lua(include_str!("scripts/count_in_window.lua")),
            within_limit: Script::from_lua(include_str!("scripts/count_within_limit.lua")),
            uncount: Script::from_lua(include_str!("scripts/uncount_in_window.lua")),
        }
    }

    /// Counts one event under `key`.
    pub async fn count(
        &self,
        key: String,
        window: Duration,
    ) -> Result<Counted, fred::error::Error> {
        let window = (window.as_millis() as u64).max(1).to_string();
        let (count, remaining): (i64, i64) = self
            .script
            .evalsha_with_reload(self.pool.next(), key, vec![window])
            .await?;
        Ok(Counted {
            count,
            remaining: Duration::from_millis(remaining.max(0) as u64),
        })
    }

    /// Counts one event under `key` unless the window already holds `limit`; `Err(wait)` (the
    /// rest of the window, at least a second) when it does, and then nothing was counted.
    pub async fn count_within(
        &self,
        key: String,
        limit: u32,
        window: Duration,
    ) -> Result<Result<(), Duration>, fred::error::Error> {
        let window = (window.as_millis() as u64).max(1).to_string();
        let (counted, remaining): (i64, i64) = self
            .within_limit
            .evalsha_with_reload(self.pool.next(), key, vec![window, limit.to_string()])
            .await?;
        let remaining = Duration::from_millis(remaining.max(0) as u64);
        Ok(match counted {
            1 => Ok(()),
            _ => Err(remaining.max(Duration::from_secs(1))),
        })
    }

    /// Takes back one event counted under `key` in a window still open.
    pub async fn uncount(&self, key: String) -> Result<(), fred::error::Error> {
        let _: i64 = self
            .uncount
            .evalsha_with_reload(self.pool.next(), key, Vec::<String>::new())
            .await?;
        Ok(())
    }
}

//! Fixed-window counters in Redis, shared by every app instance: sign-in attempts, registrations
//! and new sessions per client address all count this way.

use std::time::Duration;

use fred::{prelude::Pool, types::scripts::Script};

/// Counts events under a key in a window that starts with the first event.
#[derive(Clone)]
pub struct WindowCounter {
    pool: Pool,
    script: Script,
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
}

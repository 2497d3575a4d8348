//! [`BreakerSettings`]: when the breaker opens and how it probes.

use std::time::Duration;

/// How the breaker decides.
///
/// ```
/// use std::time::Duration;
/// use tower_sessions_fred_store::BreakerSettings;
///
/// let settings = BreakerSettings::default()
///     .command_timeout(Duration::from_millis(500))
///     .failures_to_open(5)
///     .probe_interval(Duration::from_millis(100));
/// # let _ = settings;
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct BreakerSettings {
    /// No guarded call waits longer than this.
    pub command_timeout: Duration,
    /// Consecutive timed-out (or cut-off) calls that open the breaker.
    pub failures_to_open: u32,
    /// While open on a connection that stays up (a slow Redis), how often one call probes.
    pub probe_interval: Duration,
}

impl BreakerSettings {
    /// No guarded call waits longer than `timeout` (default 1.5 s).
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// This many timed-out calls in a row open the breaker (default 3, at least 1).
    pub fn failures_to_open(mut self, failures: u32) -> Self {
        self.failures_to_open = failures.max(1);
        self
    }

    /// While open on a connection that stays up, one call probes this often (default 250 ms).
    pub fn probe_interval(mut self, interval: Duration) -> Self {
        self.probe_interval = interval;
        self
    }
}

impl Default for BreakerSettings {
    /// 1.5 s command timeout, open after 3 timed-out calls in a row, probe every 250 ms.
    fn default() -> Self {
        BreakerSettings {
            command_timeout: Duration::from_millis(1500),
            failures_to_open: 3,
            probe_interval: Duration::from_millis(250),
        }
    }
}

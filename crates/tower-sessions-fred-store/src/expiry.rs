//! When a session ends: an idle deadline that slides with activity, capped by an absolute one.
//! The Redis key's TTL is always `min(refreshed_at + idle, absolute_deadline)`.

use std::time::Duration;

use time::OffsetDateTime;

/// The timeouts the store enforces through key TTLs, and how eagerly activity moves them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExpiryPolicy {
    /// The idle timeout of a signed-in session.
    pub(crate) idle: Duration,
    /// The idle timeout of an anonymous session (never longer than `idle`): a visitor who never
    /// signs in is not kept for as long.
    pub(crate) anonymous_idle: Duration,
    /// How long a session lives at most, counted from its creation (or sign-in).
    pub(crate) absolute: Duration,
    /// The idle deadline is pushed only when it would move by more than this fraction of the idle
    /// timeout, so most read-only requests cost one Redis command and no write.
    pub(crate) refresh_fraction: f64,
}

impl Default for ExpiryPolicy {
    /// Signed-in sessions idle out after 7 days, anonymous ones after 1 day, every session ends
    /// 30 days after it began; the deadline moves when it would move by more than 1 % of the idle
    /// timeout.
    fn default() -> Self {
        ExpiryPolicy {
            idle: Duration::from_secs(7 * 86_400),
            anonymous_idle: Duration::from_secs(86_400),
            absolute: Duration::from_secs(30 * 86_400),
            refresh_fraction: 0.01,
        }
    }
}

impl ExpiryPolicy {
    /// The policy of one session: anonymous sessions get the shorter idle timeout.
    pub(crate) fn for_session(&self, signed_in: bool) -> ExpiryPolicy {
        ExpiryPolicy {
            idle: if signed_in {
                self.idle
            } else {
                self.anonymous_idle.min(self.idle)
            },
            ..*self
        }
    }

    /// The idle timeout in milliseconds.
    pub(crate) fn idle_ms(&self) -> i64 {
        self.idle.as_millis() as i64
    }

    /// The absolute timeout in milliseconds.
    pub(crate) fn absolute_ms(&self) -> i64 {
        self.absolute.as_millis() as i64
    }

    /// The moment a session ends: its idle deadline, capped by its absolute deadline. The one
    /// place this rule is written; the save script is handed its parts.
    pub(crate) fn deadline(&self, refreshed_at: i64, absolute_deadline: i64) -> i64 {
        refreshed_at
            .saturating_add(self.idle_ms())
            .min(absolute_deadline)
    }

    /// Whether activity at `now` should move the deadline of a session last refreshed at
    /// `refreshed_at` (always when `force`d, if it moves at all). A move onto the absolute
    /// deadline is always due, however small: skipping it would end an active session up to the
    /// threshold before its absolute limit.
    pub(crate) fn refresh_due(
        &self,
        refreshed_at: i64,
        absolute: i64,
        now: i64,
        force: bool,
    ) -> bool {
        let threshold = if force {
            0
        } else {
            (self.idle_ms() as f64 * self.refresh_fraction) as i64
        };
        let (moved_to, from) = (
            self.deadline(now, absolute),
            self.deadline(refreshed_at, absolute),
        );
        moved_to - from > threshold || (moved_to > from && moved_to == absolute)
    }
}

/// How long the cookie of a session with this deadline should live. Max-Age is whole seconds,
/// rounded down, which would end the cookie before the session; two extra seconds keep it until
/// Redis, the source of truth, has deleted the session, so the server can still tell the visitor
/// it has ended.
pub(crate) fn cookie_max_age(deadline_ms: i64, now_ms: i64) -> time::Duration {
    time::Duration::milliseconds((deadline_ms - now_ms + 2_000).max(0))
}

/// Milliseconds since the epoch of a date a handler set with `Expiry::AtDateTime`.
pub(crate) fn date_ms(date: OffsetDateTime) -> i64 {
    (date.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The date of a deadline in milliseconds since the epoch.
pub(crate) fn date_of(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: ExpiryPolicy = ExpiryPolicy {
        idle: Duration::from_secs(100),
        anonymous_idle: Duration::from_secs(10),
        absolute: Duration::from_secs(1000),
        refresh_fraction: 0.01,
    };

    #[test]
    fn the_deadline_is_the_idle_one_capped_by_the_absolute_one() {
        assert_eq!(POLICY.deadline(0, 1_000_000), 100_000);
        assert_eq!(POLICY.deadline(950_000, 1_000_000), 1_000_000);
    }

    #[test]
    fn anonymous_sessions_idle_out_sooner_but_never_later() {
        assert_eq!(POLICY.for_session(false).deadline(0, 1_000_000), 10_000);
        assert_eq!(POLICY.for_session(true).deadline(0, 1_000_000), 100_000);
        let long = ExpiryPolicy {
            anonymous_idle: Duration::from_secs(1000),
            ..POLICY
        };
        assert_eq!(long.for_session(false).idle, POLICY.idle);
    }

    #[test]
    fn refresh_is_due_past_the_fraction_or_when_forced() {
        assert!(!POLICY.refresh_due(0, 1_000_000, 1_000, false));
        assert!(POLICY.refresh_due(0, 1_000_000, 1_001, false));
        assert!(POLICY.refresh_due(0, 1_000_000, 1, true));
        assert!(
            !POLICY.refresh_due(0, 50_000, 10_000, true),
            "capped: nothing moves"
        );
    }

    #[test]
    fn an_active_session_always_reaches_its_absolute_deadline() {
        // Refreshed 4 ms short of the cap: the next read moves the deadline by less than the
        // threshold (1 s), but onto the cap, so it is still due.
        let absolute = 1_000_000;
        let refreshed = absolute - 100_000 - 4;
        assert!(POLICY.refresh_due(refreshed, absolute, refreshed + 16, false));
        assert!(!POLICY.refresh_due(absolute - 100_000, absolute, absolute - 99_000, false));
    }
}

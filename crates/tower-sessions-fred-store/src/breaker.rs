//! The circuit breaker in front of every session-store command.
//!
//! While Redis is known to be away — the pool lost its connection, or a run of commands timed out
//! — waiting the command timeout again for each request helps nobody: it only ties up the
//! connection and the client. So the breaker opens and refuses at once, sending no command; the
//! caller answers 503 `session_store_unavailable`. One command at a time is let through as a
//! probe when Redis may be back (the pool reconnected, or the probe interval passed while the
//! connection stayed up); its success closes the breaker.
//!
//! The breaker also logs the outage: one WARN when it opens and one INFO when it closes, with how
//! many calls were refused meanwhile. Per-request failures are left to debug level.

use std::{
    future::Future,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
    time::Instant,
};

use fred::{
    error::{Error, ErrorKind},
    prelude::{ClientLike, Pool},
};

use crate::{fault::Fault, BreakerSettings};

/// The breaker's state, for a readiness check or a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are refused at once.
    Open,
    /// Open, with a probe on its way.
    HalfOpen,
}

impl BreakerState {
    /// `closed`, `open` or `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
struct Outage {
    since: Instant,
    next_probe: Instant,
    probing: bool,
}

#[derive(Debug, Default)]
struct State {
    outage: Option<Outage>,
    consecutive_failures: u32,
}

struct Inner {
    settings: BreakerSettings,
    /// Where probes go; without it a probe only waits for the interval.
    pool: Option<Pool>,
    target: String,
    state: Mutex<State>,
    refused: AtomicU64,
    opened: AtomicU64,
}

/// A circuit breaker for Redis calls. Cloning it shares it (one `Arc`): give the session store
/// and the application's other Redis calls the same one, so they open and close together.
///
/// ```
/// use std::time::Duration;
/// use tower_sessions_fred_store::{Breaker, BreakerSettings, BreakerState};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let breaker = Breaker::new(BreakerSettings::default(), None, "Redis".into());
/// // Any fred call: `breaker.run(pool.get::<Option<String>, _>("key"))`.
/// let answer: Result<i64, fred::error::Error> = breaker.run(async { Ok(1) }).await;
/// assert_eq!(answer.unwrap(), 1);
/// assert_eq!(breaker.current(), BreakerState::Closed);
/// # }
/// ```
#[derive(Clone)]
pub struct Breaker {
    inner: Arc<Inner>,
}

/// The permission to send a call; a probe's is given back when the call ends or is dropped.
struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe {
            if let Some(outage) = self.breaker.state().outage.as_mut() {
                outage.probing = false;
            }
        }
    }
}

impl Breaker {
    /// `pool`, when given, is asked whether any connection is up before a probe is sent, so no
    /// request waits on a Redis the pool cannot reach.
    /// `target` names the Redis in the log lines of an outage.
    pub fn new(settings: BreakerSettings, pool: Option<Pool>, target: String) -> Breaker {
        Breaker {
            inner: Arc::new(Inner {
                settings,
                pool,
                target,
                state: Mutex::new(State::default()),
                refused: AtomicU64::new(0),
                opened: AtomicU64::new(0),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update is a few assignments; a panic cannot leave them half done.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether calls go through now.
    pub fn current(&self) -> BreakerState {
        match &self.state().outage {
            None => BreakerState::Closed,
            Some(outage) if outage.probing => BreakerState::HalfOpen,
            Some(_) => BreakerState::Open,
        }
    }

    /// How many times the breaker has opened since start (for tests and figures).
    pub fn times_opened(&self) -> u64 {
        self.inner.opened.load(Ordering::Relaxed)
    }

    /// How many calls were refused without a command since start.
    pub fn refused(&self) -> u64 {
        self.inner.refused.load(Ordering::Relaxed)
    }

    /// Runs `call` if the breaker lets it, within the command timeout; records how it went.
    /// A refused call fails with fred's `Canceled` error kind (nothing was sent); a call cut off
    /// by the timeout with `Timeout`. Only outages count against Redis: an error reply (a wrong
    /// type, a refused command) shows it is there.
    pub async fn run<T>(&self, call: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        self.run_as(call).await
    }

    /// [`Breaker::run`] for a call with an error type of the store's.
    pub(crate) async fn run_as<T, E, F>(&self, call: F) -> Result<T, E>
    where
        E: From<Error> + Fault,
        F: Future<Output = Result<T, E>>,
    {
        let permit = self.admit().map_err(E::from)?;
        let outcome = match tokio::time::timeout(self.inner.settings.command_timeout, call).await {
            Ok(outcome) => outcome,
            Err(_) => Err(E::from(Error::new(
                ErrorKind::Timeout,
                "the session store did not answer within the command timeout",
            ))),
        };
        match &outcome {
            Err(err) if err.is_outage() => self.failed(permit.probe),
            _ => self.succeeded(permit.probe),
        }
        outcome
    }

    fn admit(&self) -> Result<Permit<'_>, Error> {
        let mut state = self.state();
        if state.outage.is_none() {
            if self.reachable() {
                return Ok(Permit {
                    breaker: self,
                    probe: false,
                });
            }
            // The pool knows before fred's error event arrives: a command sent now would only
            // wait in fred's queue for the reconnection.
            self.open(state, "lost the connection");
            return Err(self.refuse());
        }
        let Some(outage) = state.outage.as_mut() else {
            return Err(self.refuse());
        };
        if !outage.probing && Instant::now() >= outage.next_probe && self.reachable() {
            outage.probing = true;
            return Ok(Permit {
                breaker: self,
                probe: true,
            });
        }
        drop(state);
        Err(self.refuse())
    }

    fn refuse(&self) -> Error {
        self.inner.refused.fetch_add(1, Ordering::Relaxed);
        tracing::debug!("session store call refused: the breaker is open");
        Error::new(
            ErrorKind::Canceled,
            "the session store is unavailable (breaker open)",
        )
    }

    /// Whether a command could be answered now: every pooled connection is up (the pool hands
    /// commands round, and one sent on a connection that is down waits for its reconnection).
    pub(crate) fn reachable(&self) -> bool {
        self.inner
            .pool
            .as_ref()
            .is_none_or(|pool| pool.clients().iter().all(|client| client.is_connected()))
    }

    fn succeeded(&self, probe: bool) {
        let mut state = self.state();
        state.consecutive_failures = 0;
        // A call sent before the breaker opened may still come back fine just after; only the
        // probe's answer says Redis is back.
        if state.outage.is_some() && !probe {
            return;
        }
        let Some(outage) = state.outage.take() else {
            return;
        };
        drop(state);
        let refused = self.inner.refused.swap(0, Ordering::Relaxed);
        tracing::info!(
            redis = %self.inner.target,
            unavailable_for = ?outage.since.elapsed(),
            refused,
            "the session store is back; {refused} requests were refused while it was away"
        );
    }

    fn failed(&self, probe: bool) {
        let mut state = self.state();
        state.consecutive_failures = state.consecutive_failures.saturating_add(1);
        let interval = self.inner.settings.probe_interval;
        if let Some(outage) = state.outage.as_mut() {
            if probe {
                outage.next_probe = Instant::now() + interval;
            }
            return;
        }
        if state.consecutive_failures >= self.inner.settings.failures_to_open {
            let failures = state.consecutive_failures;
            self.open(state, &format!("{failures} calls in a row timed out"));
        }
    }

    /// The pool lost a connection: open at once (the next probe waits for a reconnection).
    pub fn connection_lost(&self, cause: &str) {
        let state = self.state();
        if state.outage.is_none() {
            self.open(state, cause);
        }
    }

    /// The pool reconnected: let the next call probe at once.
    pub fn reconnected(&self) {
        if let Some(outage) = self.state().outage.as_mut() {
            outage.next_probe = Instant::now();
        }
    }

    fn open(&self, mut state: MutexGuard<'_, State>, cause: &str) {
        let now = Instant::now();
        state.outage = Some(Outage {
            since: now,
            next_probe: now + self.inner.settings.probe_interval,
            probing: false,
        });
        drop(state);
        self.inner.refused.store(0, Ordering::Relaxed);
        self.inner.opened.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            redis = %self.inner.target,
            %cause,
            "the session store is unavailable; session requests answer 503 at once until it is back"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn breaker(failures_to_open: u32) -> Breaker {
        let settings = BreakerSettings {
            command_timeout: Duration::from_millis(50),
            failures_to_open,
            probe_interval: Duration::from_millis(20),
        };
        Breaker::new(settings, None, "test".into())
    }

    async fn timed_out(breaker: &Breaker) -> Result<(), Error> {
        breaker
            .run(async { Err(Error::new(ErrorKind::Timeout, "slow")) })
            .await
    }

    #[tokio::test]
    async fn a_run_of_timeouts_opens_and_one_probe_closes() {
        let breaker = breaker(3);
        for _ in 0..3 {
            assert_eq!(
                timed_out(&breaker).await.unwrap_err().kind(),
                &ErrorKind::Timeout
            );
        }
        assert_eq!(breaker.current(), BreakerState::Open);
        let refused = breaker.run(async { Ok::<_, Error>(()) }).await;
        assert_eq!(refused.unwrap_err().kind(), &ErrorKind::Canceled);

        tokio::time::sleep(Duration::from_millis(25)).await;
        assert!(breaker.run(async { Ok::<_, Error>(()) }).await.is_ok());
        assert_eq!(breaker.current(), BreakerState::Closed);
        assert_eq!(breaker.times_opened(), 1);
    }

    #[tokio::test]
    async fn an_answered_error_is_not_an_outage() {
        let breaker = breaker(1);
        let answered = breaker
            .run(async { Err::<(), _>(Error::new(ErrorKind::InvalidArgument, "WRONGTYPE")) })
            .await;
        assert!(answered.is_err());
        assert_eq!(breaker.current(), BreakerState::Closed);
    }

    #[tokio::test]
    async fn only_one_probe_at_a_time_and_a_slow_call_is_cut_off() {
        let breaker = breaker(1);
        breaker.connection_lost("test");
        breaker.reconnected();
        let slow = breaker.run(async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, Error>(())
        });
        let other = async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            assert_eq!(breaker.current(), BreakerState::HalfOpen);
            breaker.run(async { Ok::<_, Error>(()) }).await
        };
        let started = Instant::now();
        let (slow, other) = tokio::join!(slow, other);
        assert!(started.elapsed() < Duration::from_millis(500));
        assert_eq!(slow.unwrap_err().kind(), &ErrorKind::Timeout);
        assert_eq!(other.unwrap_err().kind(), &ErrorKind::Canceled);
        assert_eq!(breaker.current(), BreakerState::Open);
    }
}

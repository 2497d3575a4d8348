//! The Redis connection pool (fred) and its health.
//!
//! One pool serves the session store, readiness checks and our own atomic scripts. Every command
//! has a timeout and the pool reconnects by itself with a growing backoff, so no request waits on
//! a Redis that is away.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use fred::{
    clients::SubscriberClient,
    prelude::{
        ClientLike, Config, EventInterface, HashesInterface, Pool, ReconnectPolicy, TcpConfig,
    },
    types::Builder,
};
use prometheus_client::metrics::counter::Counter;

use crate::server::config::{ConfigError, RedisSettings};

mod failover;
mod failure;
mod keys;
mod tls;
mod topology;
mod window;
pub use failure::safe_text;
// The breaker and the replica wait are the session store's; the pool's other users share them.
pub use keys::KeySpace;
pub use topology::{database, describe};
pub use tower_sessions_fred_store::{Breaker, BreakerSettings, BreakerState};
pub use window::{Counted, WindowCounter};

use failover::SentinelWatch;

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// A setting that cannot work, found only when the connection is built.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// fred could not build or start a client.
    #[error("Redis: {0}")]
    Failed(String),
    /// Waiting will not help: credentials, ACL permissions or certificates need fixing.
    #[error("Redis at {target} refused us ({cause}). {fix}")]
    Rejected {
        target: String,
        cause: String,
        fix: &'static str,
    },
    #[error("Redis at {target} did not answer within {waited:?} ({cause}). Start Redis (e.g. `redis-server --port {port}`), or point REDIS_URL / REDIS_HOST / REDIS_PORT at a running one; REDIS_STARTUP_WAIT_SECONDS sets how long to wait.")]
    Unreachable {
        target: String,
        port: u16,
        waited: Duration,
        cause: String,
    },
}

/// Reconnect delay: `min(attempt × 50 ms, 2 s)`, retrying forever — for the pool and for the
/// wait at start-up alike.
pub(crate) fn reconnect_policy() -> ReconnectPolicy {
    ReconnectPolicy::new_linear(0, 2_000, 50)
}

fn build_pool(settings: &RedisSettings) -> Result<Pool, RedisError> {
    builder(settings)?
        .build_pool(settings.pool_size)
        .map_err(|err| RedisError::Failed(failure::safe_text(&err)))
}

/// A client for pub/sub (keyspace notifications), connected like the pool: same server,
/// credentials, timeouts and reconnect policy. Not yet initialised.
pub fn subscriber(settings: &RedisSettings) -> Result<SubscriberClient, RedisError> {
    builder(settings)?
        .build_subscriber_client()
        .map_err(|err| RedisError::Failed(failure::safe_text(&err)))
}

fn builder(settings: &RedisSettings) -> Result<Builder, RedisError> {
    let config: Config = topology::fred_config(settings)?;
    let command_timeout = settings.command_timeout;
    let connect_timeout = settings.connect_timeout;
    let mut builder = Builder::from_config(config);
    builder
        .with_connection_config(|conn| {
            conn.connection_timeout = connect_timeout;
            conn.internal_command_timeout = command_timeout;
            // A command is tried once; the caller reports the failure instead of waiting.
            conn.max_command_attempts = 1;
            conn.tcp = TcpConfig {
                nodelay: Some(true),
                ..Default::default()
            };
        })
        .with_performance_config(|perf| {
            perf.default_command_timeout = command_timeout;
        })
        .set_policy(reconnect_policy());
    Ok(builder)
}

/// The connected pool, a flag the readiness check reads, and the breaker every session-store
/// call goes through.
#[derive(Clone)]
pub struct RedisPool {
    pub pool: Pool,
    connected: Arc<AtomicBool>,
    reconnects: Counter,
    sentinels: SentinelWatch,
    breaker: Breaker,
    /// The last readiness answer and when it was found (see [`RedisPool::readiness`]).
    readiness: Arc<tokio::sync::Mutex<Option<Readiness>>>,
}

/// When Redis last answered a readiness check, and how (the reason, safe to show, if not).
type Readiness = (Instant, Result<(), String>);

/// How long one readiness answer is shared.
const READINESS_FRESH: Duration = Duration::from_millis(100);

impl RedisPool {
    /// Connects, waiting up to `startup_wait` (retrying with the reconnect backoff) for Redis to
    /// come up. Zero means one attempt.
    pub async fn connect(settings: &RedisSettings) -> Result<RedisPool, RedisError> {
        let target = describe(settings);
        let started = Instant::now();
        let mut policy = reconnect_policy();
        loop {
            let pool = build_pool(settings)?;
            let budget = settings
                .startup_wait
                .saturating_sub(started.elapsed())
                .max(settings.connect_timeout);
            let outcome = tokio::time::timeout(budget, async {
                pool.init().await?;
                probe_key_prefix(&pool, &settings.key_prefix).await
            })
            .await;
            let cause = match outcome {
                Ok(Ok(())) => return Ok(RedisPool::ready(pool, settings, target)),
                Ok(Err(err)) => {
                    let _ = pool.quit().await;
                    // Wrong credentials, a missing ACL grant or an untrusted certificate will not
                    // get better by waiting.
                    if let Some(fix) = failure::fix(failure::classify(&err)) {
                        let cause = failure::safe_text(&err);
                        return Err(RedisError::Rejected { target, cause, fix });
                    }
                    failure::safe_text(&err)
                }
                Err(_) => {
                    let _ = pool.quit().await;
                    "connect timed out".to_string()
                }
            };
            if started.elapsed() >= settings.startup_wait {
                return Err(RedisError::Unreachable {
                    target,
                    port: topology::first_port(settings),
                    waited: started.elapsed(),
                    cause,
                });
            }
            if policy.attempts() == 0 {
                tracing::warn!(redis = %target, %cause, "Redis is not reachable yet; waiting up to {:?}", settings.startup_wait);
            }
            let remaining = settings.startup_wait.saturating_sub(started.elapsed());
            let delay = Duration::from_millis(policy.next_delay().unwrap_or(2_000));
            tokio::time::sleep(delay.min(remaining)).await;
        }
    }

    fn ready(pool: Pool, settings: &RedisSettings, target: String) -> RedisPool {
        let connected = Arc::new(AtomicBool::new(true));
        let breaker = Breaker::new(
            BreakerSettings::default()
                .command_timeout(settings.command_timeout)
                .failures_to_open(settings.breaker_failures)
                .probe_interval(settings.breaker_probe_interval),
            Some(pool.clone()),
            target.clone(),
        );
        let reconnects = Counter::default();
        watch_connection(
            &pool,
            connected.clone(),
            breaker.clone(),
            reconnects.clone(),
        );
        let sentinels = match topology::fred_config(settings) {
            Ok(config) => SentinelWatch::start(&config, &pool, settings.connect_timeout),
            Err(_) => SentinelWatch::default(),
        };
        tracing::info!(redis = %target, "connected to Redis");
        RedisPool {
            pool,
            connected,
            reconnects,
            sentinels,
            breaker,
            readiness: Default::default(),
        }
    }

    /// Waits (at most `limit`) while a sentinel failover is under way; `false` when it still is,
    /// and the request should be answered 503 rather than write to a master on its way out.
    pub async fn failover_settled(&self, limit: Duration) -> bool {
        self.sentinels.fence.pass(limit).await
    }

    /// How many of the pool's connections are up now (for logs and tests).
    pub fn connected_clients(&self) -> usize {
        self.pool
            .clients()
            .iter()
            .filter(|client| client.is_connected())
            .count()
    }

    /// The breaker in front of the session store's calls.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// True while at least the last event seen was a successful (re)connection.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Counts pooled connections re-established after a loss (one per connection, so an outage
    /// of the whole pool counts `REDIS_POOL_SIZE`).
    pub fn reconnects(&self) -> Counter {
        self.reconnects.clone()
    }

    /// Whether Redis answers, for `/readyz`: one check at a time, its answer shared for
    /// [`READINESS_FRESH`] — the probe is unauthenticated, and a flood of it must not become a
    /// flood of PINGs. While the breaker is closed the PING goes around it (a slow answer here
    /// does not count toward opening it); while it is open the PING goes through it, so it is
    /// refused at once unless a probe is due — then it is that probe, and an answer closes the
    /// breaker even if no session request arrives (a load balancer sends none to an instance
    /// that is not ready).
    pub async fn readiness(&self) -> Result<(), String> {
        let mut last = self.readiness.lock().await;
        if let Some((at, answer)) = last.as_ref() {
            if at.elapsed() < READINESS_FRESH {
                return answer.clone();
            }
        }
        let ping = self.pool.next().ping::<()>(None);
        let answer = match self.breaker.current() {
            BreakerState::Closed => ping.await,
            _ => self.breaker.run(ping).await,
        };
        let answer = answer.map_err(|err| failure::safe_text(&err));
        *last = Some((Instant::now(), answer.clone()));
        answer
    }

    pub async fn quit(&self) {
        self.sentinels.quit().await;
        let _ = self.pool.quit().await;
    }
}

/// One harmless read of a key under the prefix, so that an ACL key pattern that does not cover
/// `REDIS_KEY_PREFIX` stops the start instead of failing every request.
async fn probe_key_prefix(pool: &Pool, prefix: &str) -> Result<(), fred::error::Error> {
    let _: Option<String> = pool
        .next()
        .hget(format!("{prefix}start-up-probe"), "probe")
        .await?;
    Ok(())
}

/// Whether an error fred reported says Redis is away now. fred reports a loss once (naming the
/// server, before the connection's state changes) and its reconnection once, to two listeners,
/// so on a busy machine the loss can be handled after the reconnection that ended it; a loss
/// counts unless this connection is up and its reconnections handled have caught up with its
/// losses. fred also reports every failed attempt to reconnect (with no server): the loss was
/// reported before it, and one handled late, once other connections are back and the probe
/// closed the breaker, would reopen it on a Redis that answers. So one of those counts only
/// while no pooled connection is up.
fn is_current(report: Report) -> bool {
    match report.names_a_server {
        true => !(report.this_connected && report.reconnections >= report.losses),
        false => !report.any_connected,
    }
}

/// What an error report is judged by ([`is_current`]).
struct Report {
    names_a_server: bool,
    this_connected: bool,
    any_connected: bool,
    /// This connection's losses handled, this one included, and reconnections handled.
    losses: u64,
    reconnections: u64,
}

/// Tells the breaker the moment a connection is lost and the moment one is back, naming the
/// server; the breaker logs the outage once each way, never once per failed command.
fn watch_connection(
    pool: &Pool,
    connected: Arc<AtomicBool>,
    breaker: Breaker,
    reconnects: Counter,
) {
    for client in pool.clients() {
        let down = connected.clone();
        let down_breaker = breaker.clone();
        let pool = pool.clone();
        let this_client = client.clone();
        // This connection's losses and reconnections handled so far.
        let seen = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
        let reconnections_seen = seen.clone();
        client.on_error(move |(err, server)| {
            let names_a_server = server.is_some();
            let losses = match names_a_server {
                true => seen.0.fetch_add(1, Ordering::Relaxed) + 1,
                false => seen.0.load(Ordering::Relaxed),
            };
            let report = Report {
                names_a_server,
                this_connected: this_client.is_connected(),
                any_connected: pool.clients().iter().any(|client| client.is_connected()),
                losses,
                reconnections: seen.1.load(Ordering::Relaxed),
            };
            if is_current(report) {
                down.store(false, Ordering::Relaxed);
                let server =
                    server.map_or_else(|| "?".to_string(), |s| format!("{}:{}", s.host, s.port));
                down_breaker.connection_lost(&format!(
                    "lost the connection to {server}: {}",
                    failure::safe_text(&err)
                ));
            }
            async { Ok(()) }
        });
        let up = connected.clone();
        let up_breaker = breaker.clone();
        let reconnected = reconnects.clone();
        client.on_reconnect(move |server| {
            reconnections_seen.1.fetch_add(1, Ordering::Relaxed);
            reconnected.inc();
            up.store(true, Ordering::Relaxed);
            tracing::debug!(redis = %format!("{}:{}", server.host, server.port), "reconnected");
            up_breaker.reconnected();
            async { Ok(()) }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::{is_current, Report};

    fn report(
        names_a_server: bool,
        this_connected: bool,
        any: bool,
        losses: u64,
        back: u64,
    ) -> bool {
        is_current(Report {
            names_a_server,
            this_connected,
            any_connected: any,
            losses,
            reconnections: back,
        })
    }

    #[test]
    fn a_report_handled_after_redis_answered_again_is_history() {
        // A loss counts, whether or not fred has marked its connection down yet...
        assert!(report(true, false, false, 1, 0) && report(true, true, true, 1, 0));
        // ...unless its reconnection was handled first and the connection is up.
        assert!(!report(true, true, true, 1, 1));
        assert!(report(true, false, true, 2, 1));
        // A failed attempt to reconnect counts only while no pooled connection is up.
        assert!(report(false, false, false, 1, 0));
        assert!(!report(false, false, true, 1, 0));
    }
}

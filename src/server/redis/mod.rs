//! The Redis connection pool (fred) and its health.
//!
//! One pool serves the session store, readiness checks and our own atomic scripts. Every command
//! has a timeout and the pool reconnects by itself with the seed's backoff, so no request waits on
//! a Redis that is away.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use fred::{
    clients::SubscriberClient,
    prelude::{ClientLike, Config, EventInterface, Pool, ReconnectPolicy, TcpConfig},
    types::Builder,
};
use prometheus_client::metrics::counter::Counter;
use secrecy::ExposeSecret;

use crate::server::config::{RedisEndpoint, RedisSettings};

mod keys;
pub use keys::KeySpace;

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("the Redis settings are not usable: {0}")]
    Config(String),
    #[error("Redis at {target} refused the credentials ({cause}). Check REDIS_PASSWORD and REDIS_USERNAME, or the user:password in REDIS_URL.")]
    Rejected { target: String, cause: String },
    #[error("Redis at {target} did not answer within {waited:?} ({cause}). Start Redis (e.g. `redis-server --port {port}`), or point REDIS_URL / REDIS_HOST / REDIS_PORT at a running one; REDIS_STARTUP_WAIT_SECONDS sets how long to wait.")]
    Unreachable {
        target: String,
        port: u16,
        waited: Duration,
        cause: String,
    },
}

/// Reconnect delay per the seed: `min(attempt × 50 ms, 2 s)`, retrying forever — for the pool
/// (fred's policy) and for the wait at start-up alike.
const BACKOFF_STEP_MS: u32 = 50;
const BACKOFF_MAX_MS: u32 = 2_000;

fn reconnect_policy() -> ReconnectPolicy {
    ReconnectPolicy::new_linear(0, BACKOFF_MAX_MS, BACKOFF_STEP_MS)
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(u64::from(
        attempt.saturating_mul(BACKOFF_STEP_MS).min(BACKOFF_MAX_MS),
    ))
}

fn fred_config(endpoint: &RedisEndpoint) -> Result<Config, RedisError> {
    match endpoint {
        RedisEndpoint::Url(url) => Config::from_url(url.expose_secret())
            .map_err(|err| RedisError::Config(format!("REDIS_URL: {}", err.details()))),
        RedisEndpoint::Parts {
            host,
            port,
            username,
            password,
            db,
        } => Ok(Config {
            server: fred::types::config::ServerConfig::new_centralized(host.clone(), *port),
            username: username.clone(),
            password: password.as_ref().map(|p| p.expose_secret().to_string()),
            database: Some(*db),
            ..Config::default()
        }),
    }
}

/// A printable `host:port` of where we connect (never credentials).
pub fn describe(endpoint: &RedisEndpoint) -> (String, u16) {
    match endpoint {
        RedisEndpoint::Url(url) => match url::Url::parse(url.expose_secret()) {
            Ok(url) => {
                let port = url.port().unwrap_or(6379);
                (format!("{}:{}", url.host_str().unwrap_or("?"), port), port)
            }
            Err(_) => ("(REDIS_URL)".into(), 6379),
        },
        RedisEndpoint::Parts { host, port, .. } => (format!("{host}:{port}"), *port),
    }
}

fn build_pool(settings: &RedisSettings) -> Result<Pool, RedisError> {
    builder(settings)?
        .build_pool(settings.pool_size)
        .map_err(|err| RedisError::Config(err.details().to_string()))
}

/// A client for pub/sub (keyspace notifications), connected like the pool: same server,
/// credentials, timeouts and reconnect policy. Not yet initialised.
pub fn subscriber(settings: &RedisSettings) -> Result<SubscriberClient, RedisError> {
    builder(settings)?
        .build_subscriber_client()
        .map_err(|err| RedisError::Config(err.details().to_string()))
}

/// The database number the app uses (keyspace notifications are per database).
pub fn database(settings: &RedisSettings) -> Result<u8, RedisError> {
    Ok(fred_config(&settings.endpoint)?.database.unwrap_or(0))
}

fn builder(settings: &RedisSettings) -> Result<Builder, RedisError> {
    let config = fred_config(&settings.endpoint)?;
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

/// The connected pool plus a flag the readiness check and the logs share.
#[derive(Clone)]
pub struct RedisPool {
    pub pool: Pool,
    connected: Arc<AtomicBool>,
    reconnects: Counter,
}

impl RedisPool {
    /// Connects, waiting up to `startup_wait` (retrying with the reconnect backoff) for Redis to
    /// come up. Zero means one attempt.
    pub async fn connect(settings: &RedisSettings) -> Result<RedisPool, RedisError> {
        let (target, port) = describe(&settings.endpoint);
        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let pool = build_pool(settings)?;
            let budget = settings
                .startup_wait
                .saturating_sub(started.elapsed())
                .max(settings.connect_timeout);
            let outcome = tokio::time::timeout(budget, pool.init()).await;
            let cause = match outcome {
                Ok(Ok(_handle)) => {
                    let connected = Arc::new(AtomicBool::new(true));
                    let reconnects = Counter::default();
                    watch_connection(&pool, &connected, &reconnects, &target);
                    tracing::info!(redis = %target, "connected to Redis");
                    return Ok(RedisPool {
                        pool,
                        connected,
                        reconnects,
                    });
                }
                // Wrong credentials will not get better by waiting.
                Ok(Err(err)) if is_auth_error(&err) => {
                    let _ = pool.quit().await;
                    return Err(RedisError::Rejected {
                        target,
                        cause: err.details().to_string(),
                    });
                }
                Ok(Err(err)) => err.details().to_string(),
                Err(_) => "connect timed out".to_string(),
            };
            let _ = pool.quit().await;
            if started.elapsed() >= settings.startup_wait {
                return Err(RedisError::Unreachable {
                    target,
                    port,
                    waited: started.elapsed(),
                    cause,
                });
            }
            if attempt == 1 {
                tracing::warn!(redis = %target, %cause, "Redis is not reachable yet; waiting up to {:?}", settings.startup_wait);
            }
            let remaining = settings.startup_wait.saturating_sub(started.elapsed());
            tokio::time::sleep(backoff(attempt).min(remaining)).await;
        }
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

    /// One PING within the command timeout.
    pub async fn ping(&self) -> Result<(), String> {
        self.pool
            .next()
            .ping::<String>(None)
            .await
            .map(|_| ())
            .map_err(|err| err.details().to_string())
    }

    pub async fn quit(&self) {
        let _ = self.pool.quit().await;
    }
}

fn is_auth_error(err: &fred::error::Error) -> bool {
    let details = err.details();
    matches!(err.kind(), fred::error::ErrorKind::Auth)
        || details.starts_with("WRONGPASS")
        || details.starts_with("NOAUTH")
}

/// Logs the moment the connection is lost and the moment it is back — once each per outage, not
/// once per failed command, so an outage cannot flood the log. fred reports a lost connection as
/// soon as its socket closes, so `is_connected` (and the `redis_up` metric) turn false at once.
fn watch_connection(pool: &Pool, connected: &Arc<AtomicBool>, reconnects: &Counter, target: &str) {
    for client in pool.clients() {
        let down = connected.clone();
        let down_target = target.to_string();
        client.on_error(move |(err, _server)| {
            if down.swap(false, Ordering::Relaxed) {
                tracing::error!(redis = %down_target, error = %err.details(), "lost the connection to Redis; reconnecting (sessions answer 503 meanwhile)");
            }
            async { Ok(()) }
        });
        let up = connected.clone();
        let up_target = target.to_string();
        let reconnected = reconnects.clone();
        client.on_reconnect(move |_server| {
            reconnected.inc();
            if !up.swap(true, Ordering::Relaxed) {
                tracing::info!(redis = %up_target, "the connection to Redis is back");
            }
            async { Ok(()) }
        });
    }
}

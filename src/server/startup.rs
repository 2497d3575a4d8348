//! From settings to a serving process: `Application::build` connects Redis, prepares sessions
//! and accounts and binds the listener; `run_until_stopped` serves until Ctrl-C or SIGTERM.
//! Tests and the benchmark build the same `Application` on port 0, with the pages from
//! `sessionboard::pages()`.

use std::{future::Future, net::SocketAddr};

use fred::{clients::SubscriberClient, prelude::ClientLike};
use leptos::prelude::LeptosOptions;
use tokio::net::TcpListener;

use super::{
    accounts::{AccountError, AccountPolicy, Accounts, DeviceCookies, LoginLimits, PasswordError},
    config::{ConfigError, Settings},
    observability::Metrics,
    redis::{KeySpace, RedisError, RedisPool},
    router::{self, Pages},
    serve::{serve, Listeners},
    sessions::{self, expiry_events, LiveSessions},
    state::{AppState, Shared},
};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Redis(#[from] RedisError),
    #[error("could not prepare accounts: {0}")]
    Accounts(String),
    #[error("cannot listen on {addr}: {source} (set LEPTOS_SITE_ADDR or METRICS_ADDR)")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl From<PasswordError> for StartupError {
    fn from(err: PasswordError) -> Self {
        StartupError::Accounts(err.to_string())
    }
}

impl From<AccountError> for StartupError {
    fn from(err: AccountError) -> Self {
        StartupError::Accounts(err.to_string())
    }
}

pub struct Application {
    state: AppState,
    pages: Pages,
    listeners: Listeners,
    /// `METRICS_ADDR`'s listener, when set.
    metrics_listener: Option<(TcpListener, SocketAddr)>,
    expiry_events: Option<SubscriberClient>,
    /// Where the worker threads log, when not to the global subscriber.
    worker_log: Option<tracing::Dispatch>,
}

impl Application {
    /// Connects to Redis (waiting as configured), prepares sessions and accounts, creates the
    /// demo accounts, and binds `LEPTOS_SITE_ADDR`.
    pub async fn build(
        settings: Settings,
        mut leptos_options: LeptosOptions,
        pages: Pages,
    ) -> Result<Application, StartupError> {
        let site_addr = settings.server.site_addr;
        leptos_options.site_addr = site_addr;
        let metrics_addr = settings.server.metrics_addr;
        let workers = settings.server.workers;
        let state = connect(settings, leptos_options).await?;
        let listeners =
            Listeners::bind(site_addr, workers).map_err(|source| StartupError::Listen {
                addr: site_addr,
                source,
            })?;
        let metrics_listener = match metrics_addr {
            Some(metrics_addr) => Some(bind(metrics_addr).await?),
            None => None,
        };
        let expiry_events = if state.settings.session.expiry_events {
            let settings = &state.settings.redis;
            let (store, metrics) = (state.sessions.clone(), state.metrics.clone());
            Some(expiry_events::subscribe(settings, &state.redis.pool, store, metrics).await?)
        } else {
            None
        };
        Ok(Application {
            state,
            pages,
            listeners,
            metrics_listener,
            expiry_events,
            worker_log: None,
        })
    }

    /// The worker threads log to `dispatch` instead of the global subscriber: for a test that
    /// reads one app's log through a subscriber of its own thread. (Not for production: a
    /// thread's own subscriber takes tracing off its fast path at every call site.)
    pub fn log_workers_to(mut self, dispatch: tracing::Dispatch) -> Self {
        self.worker_log = Some(dispatch);
        self
    }

    /// Where it listens (the real port when the settings said 0).
    pub fn addr(&self) -> SocketAddr {
        self.listeners.addr()
    }

    /// Where `/metrics` is served when `METRICS_ADDR` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().map(|(_, addr)| *addr)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until Ctrl-C or SIGTERM; then drains (`SERVER_SHUTDOWN_DRAIN_MS`), in-flight
    /// requests finish, and the Redis pool closes.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` completes, then as [`Application::run_until_stopped`].
    pub async fn run_until(self, stop: impl Future<Output = ()>) -> std::io::Result<()> {
        let redis = self.state.redis.clone();
        if let Some((listener, addr)) = self.metrics_listener {
            let metrics = router::metrics_only(self.state.clone());
            tracing::info!("serving /metrics on http://{addr}");
            // Stops with the process; a scrape in flight at shutdown does not matter.
            tokio::spawn(async move { axum::serve(listener, metrics).await });
        }
        let server = &self.state.settings.server;
        let draining = self.state.draining.clone();
        let draining_for_serve = draining.clone();
        let drain_time = server.shutdown_drain;
        let stop = async move {
            stop.await;
            draining.start();
            if !drain_time.is_zero() {
                tracing::info!(
                    drain_ms = drain_time.as_millis() as u64,
                    "stopping: /readyz answers 503 and connections close after each response"
                );
                tokio::time::sleep(drain_time).await;
            }
        };
        let addr = self.listeners.addr();
        tracing::info!(workers = server.workers, "listening on http://{addr}");
        router::explain_metrics_placement(&self.state);
        // One session layer, so its limits hold over every worker.
        let sessions = sessions::session_layer(self.state.sessions.clone(), &self.state.settings);
        let (state, pages) = (self.state.clone(), self.pages);
        let make_app = move || router::app(state.for_worker(), pages, sessions.clone());
        let log = self.worker_log;
        serve(
            self.listeners,
            make_app,
            server,
            draining_for_serve,
            log,
            stop,
        )
        .await?;
        tracing::info!("stopped accepting requests; closing the Redis pool");
        if let Some(subscriber) = self.expiry_events {
            let _ = subscriber.quit().await;
        }
        redis.quit().await;
        Ok(())
    }
}

/// The shared state: the Redis pool, the session store and the accounts service.
async fn connect(
    settings: Settings,
    leptos_options: LeptosOptions,
) -> Result<AppState, StartupError> {
    let redis = RedisPool::connect(&settings.redis).await?;
    let metrics = match settings.server.metrics_enabled {
        true => Metrics::new(redis.reconnects()),
        false => Metrics::off(),
    };
    let keys = KeySpace::new(&settings.redis.key_prefix);
    let auth = &settings.auth;
    let policy = AccountPolicy {
        login: LoginLimits {
            max_failures_per_user: auth.max_failures_per_user,
            max_failures_per_address: auth.max_failures_per_address,
            slowdown_after_failures_per_user: auth.slowdown_after_failures_per_user,
            slowdown_cap: auth.slowdown_cap,
            window: auth.failure_window,
        },
        max_registrations_per_address: auth.max_registrations_per_address,
        unused_account_ttl: auth.unused_account_ttl,
        reauth_window: auth.reauth_window,
    };
    let accounts = Accounts::new(
        redis.pool.clone(),
        keys.clone(),
        policy,
        redis.breaker().clone(),
        metrics.clone(),
    )
    .await?;
    let live_sessions = LiveSessions::new(
        redis.pool.clone(),
        &keys,
        settings.session.absolute_timeout,
        &metrics,
    );
    let sessions = sessions::build_store(&settings, &redis, &metrics, &live_sessions);
    let accounts = accounts.with_replica_wait(sessions.clone());
    accounts
        .create_demo_users(&settings.auth.demo_users)
        .await?;
    sessions.start_near_cache().await.map_err(|err| {
        StartupError::Redis(RedisError::Config(ConfigError::Conflict(format!(
            "the session near cache (SESSION_NEAR_CACHE, on by default): {err}. Set \
             SESSION_NEAR_CACHE=false to run without it"
        ))))
    })?;
    let devices = DeviceCookies::beside_session_cookie(&settings.session);
    Ok(AppState::new(Shared {
        leptos_options,
        devices,
        settings,
        redis,
        sessions,
        live_sessions,
        accounts,
        metrics,
        draining: Default::default(),
    }))
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartupError> {
    let failed = |source| StartupError::Listen { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(failed)?;
    let bound = listener.local_addr().map_err(failed)?;
    Ok((listener, bound))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

//! All settings, read once at start-up into typed structs.
//!
//! Sources, strongest first: environment variables, the configuration file (`SESSIONBOARD_CONFIG`,
//! default `Leptos.toml`), built-in defaults. Every setting is declared once, in `declared.rs`;
//! `sources.rs` layers the sources with figment. Every invalid value stops the start with one
//! message that names the variable (or the file and key) to fix.

mod declared;
mod dev_secret;
mod env_only;
mod error;
mod sources;
mod topology;

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use secrecy::{ExposeSecret, SecretString};
use tower_sessions_fred_store::NearCacheSettings;

use crate::{
    server::{allowed_hosts::AllowedHosts, client_address::TrustedProxies},
    shared::input::Username,
};

use declared::Switch;
pub use dev_secret::load_or_create_dev_secret;
pub use error::{ConfigError, MIN_SECRET_LEN};
use sources::Sources;
pub use topology::{TlsSettings, Topology};

/// Where the app runs; decides the defaults that differ between a laptop and production.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub server: ServerSettings,
    pub redis: RedisSettings,
    pub session: SessionSettings,
    pub auth: AuthSettings,
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Attempts at one name from one address before that pair is locked for the window.
    pub max_failures_per_user: u32,
    pub max_failures_per_address: u32,
    pub failure_window: Duration,
    /// Attempts at one name from all addresses before the next ones are spaced (up to the cap).
    pub slowdown_after_failures_per_user: u32,
    pub slowdown_cap: Duration,
    /// Registrations from one address per hour.
    pub max_registrations_per_address: u32,
    /// An account that never signed in is deleted this long after it was created.
    pub unused_account_ttl: Duration,
    /// Revoking sessions needs the password unless it was entered this recently.
    pub reauth_window: Duration,
    /// `DEMO_USERS`: accounts created at start-up when missing (name, password).
    pub demo_users: Vec<(Username, SecretString)>,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub site_addr: SocketAddr,
    pub data_dir: PathBuf,
    /// `Strict-Transport-Security`, sent in production only.
    pub hsts_max_age: Duration,
    pub hsts_include_subdomains: bool,
    /// From the moment a connection is ready for a request until its headers are complete.
    pub header_read_timeout: Duration,
    /// An idle connection (no request in flight, no bytes) is closed after this.
    pub keep_alive_timeout: Duration,
    /// A request is answered 408 when it takes longer than this in all.
    pub request_timeout: Duration,
    /// After SIGTERM: how long `/readyz` answers 503 (and responses close their connections)
    /// before the listener closes.
    pub shutdown_drain: Duration,
    pub max_connections: usize,
    /// Connections one client address (an IPv6 /64) may hold; trusted proxies are exempt.
    pub max_connections_per_address: usize,
    /// Serve HTTP/2 over plain TCP (prior knowledge or `Upgrade: h2c`).
    pub h2c: bool,
    /// Threads serving connections, each with its own event loop and listening socket; at
    /// least 1 (`SERVER_WORKERS=0` resolves to one per CPU core).
    pub workers: usize,
    /// Worker `i` runs on CPU core `i` and serves the connections that core receives.
    pub pin_workers: bool,
    /// `TRUSTED_PROXIES`: peers whose forwarding header (`TRUSTED_PROXY_HEADER`) names the
    /// client.
    pub trusted_proxies: TrustedProxies,
    /// `ALLOWED_HOSTS`, or its default from the site address: requests for other hosts are
    /// refused.
    pub allowed_hosts: AllowedHosts,
    /// `METRICS_ADDR`: when set, `/metrics` is served there only (not on the site address).
    pub metrics_addr: Option<SocketAddr>,
    /// `METRICS_ENABLED=false`: no request metrics, no Redis timings, no `/metrics`.
    pub metrics_enabled: bool,
    pub log_format: LogFormat,
}

/// `LOG_FORMAT`: one JSON object per line for log collectors, or text for a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub endpoint: RedisEndpoint,
    pub pool_size: usize,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub startup_wait: Duration,
    pub key_prefix: String,
    pub tls: TlsSettings,
    /// Credentials for the sentinels themselves (`REDIS_SENTINEL_USERNAME` / `_PASSWORD`).
    pub sentinel_username: Option<String>,
    pub sentinel_password: Option<SecretString>,
    /// `REDIS_WAIT_REPLICAS`: replicas that must hold a sign-in before it is answered.
    pub wait_replicas: u32,
    pub breaker_failures: u32,
    pub breaker_probe_interval: Duration,
    pub max_waiting_requests: usize,
    /// Speak RESP3 (for the session near cache's client tracking).
    pub resp3: bool,
}

/// How to reach Redis: a URL (may hold a password, so it is a secret) or its parts.
#[derive(Debug, Clone)]
pub enum RedisEndpoint {
    Url(SecretString),
    Parts {
        host: String,
        port: u16,
        username: Option<String>,
        password: Option<SecretString>,
        db: u8,
    },
}

#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub idle_timeout: Duration,
    /// The idle timeout of a session nobody signed in to (never longer than `idle_timeout`).
    pub anonymous_idle_timeout: Duration,
    /// Sessions one address may create per minute.
    pub new_per_address_per_minute: u32,
    pub absolute_timeout: Duration,
    pub refresh_fraction: f64,
    pub cookie_name: String,
    pub cookie_secure: bool,
    pub cookie_same_site: SameSite,
    pub secret: SessionSecret,
    /// `SESSION_EXPIRY_EVENTS`: count expired sessions and prune their index entries from Redis
    /// keyspace notifications.
    pub expiry_events: bool,
    /// `SESSION_SECRET_PREVIOUS`: cookies signed with one of these are still accepted, and
    /// re-issued signed with `secret`.
    pub previous_secrets: Vec<SecretString>,
    /// `SESSION_NEAR_CACHE` with its bounds: sessions read kept in this process.
    pub near_cache: Option<NearCacheSettings>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    Strict,
}

/// The key that signs session cookies.
#[derive(Debug, Clone)]
pub enum SessionSecret {
    /// From `SESSION_SECRET`.
    Configured(SecretString),
    /// Development without `SESSION_SECRET`: kept in the data folder so that sessions survive
    /// restarts.
    Generated(SecretString),
}

impl SessionSecret {
    pub fn expose(&self) -> &str {
        match self {
            SessionSecret::Configured(secret) | SessionSecret::Generated(secret) => {
                secret.expose_secret()
            }
        }
    }
}

const CONFIG_FILE_VARIABLE: &str = "SESSIONBOARD_CONFIG";
const DEFAULT_CONFIG_FILE: &str = "Leptos.toml";

impl Settings {
    /// Reads the configuration file and the process environment, and creates the development
    /// secret when it is needed.
    pub fn load() -> Result<Settings, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let path = env
            .get(CONFIG_FILE_VARIABLE)
            .filter(|path| !path.is_empty())
            .map_or(DEFAULT_CONFIG_FILE, String::as_str);
        let text = match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => {
                return Err(ConfigError::File {
                    path: path.to_string(),
                    reason: err.to_string(),
                })
            }
        };
        let file = text.as_deref().map(|text| (path, text));
        Settings::parse(file, &env, load_or_create_dev_secret)
    }

    /// Builds settings from a configuration file (the path to name in errors, and its text) and
    /// an environment, without touching the process. `dev_secret` supplies the secret when none
    /// is configured in development.
    pub fn parse(
        file: Option<(&str, &str)>,
        env: &HashMap<String, String>,
        dev_secret: impl FnOnce(&Path) -> Result<SecretString, ConfigError>,
    ) -> Result<Settings, ConfigError> {
        let declared::Values {
            server,
            redis,
            session,
            auth,
        } = Sources::new(file, env)?.values()?;
        let production = server.environment == Environment::Production;
        let secret = match env_only::session_secret(env)? {
            Some(secret) => SessionSecret::Configured(secret),
            None if production => return Err(ConfigError::MissingSecret),
            None => SessionSecret::Generated(dev_secret(&server.data_dir)?),
        };
        let allowed_hosts = match server.allowed_hosts {
            Some(hosts) => hosts,
            None => AllowedHosts::default_for(server.site_addr, !production)
                .ok_or_else(|| no_host_names(server.site_addr))?,
        };
        Ok(Settings {
            environment: server.environment,
            server: ServerSettings {
                site_addr: server.site_addr,
                data_dir: server.data_dir,
                metrics_addr: server.metrics_addr.filter(|_| server.metrics_enabled),
                metrics_enabled: server.metrics_enabled,
                log_format: server.log_format.unwrap_or(if production {
                    LogFormat::Json
                } else {
                    LogFormat::Pretty
                }),
                hsts_max_age: Duration::from_secs(server.hsts_max_age_seconds),
                hsts_include_subdomains: server.hsts_include_subdomains,
                header_read_timeout: server.header_read_timeout_seconds,
                keep_alive_timeout: server.keep_alive_timeout_seconds,
                request_timeout: server.request_timeout_seconds,
                shutdown_drain: server.shutdown_drain_ms,
                max_connections: server.max_connections,
                max_connections_per_address: server.max_connections_per_address,
                h2c: server.h2c,
                workers: match server.workers {
                    0 => std::thread::available_parallelism().map_or(1, usize::from),
                    workers => workers,
                },
                pin_workers: server.pin_workers,
                trusted_proxies: server.trusted_proxies.reading(server.trusted_proxy_header),
                allowed_hosts,
            },
            // Client tracking needs RESP3; the pool speaks it only for the near cache.
            redis: RedisSettings {
                resp3: session.near_cache,
                ..RedisSettings::from_values(redis, env)?
            },
            session: SessionSettings::from_values(
                session,
                production,
                secret,
                env_only::previous_secrets(env)?,
            ),
            auth: AuthSettings {
                max_failures_per_user: auth.max_failures_per_user,
                max_failures_per_address: auth.max_failures_per_address,
                failure_window: auth.failure_window_seconds,
                slowdown_after_failures_per_user: auth.slowdown_after_failures_per_user,
                slowdown_cap: auth.slowdown_max_seconds,
                max_registrations_per_address: auth.max_registrations_per_address,
                unused_account_ttl: auth.unused_account_ttl_seconds,
                reauth_window: auth.reauth_window_seconds,
                demo_users: env_only::demo_users(env)?,
            },
        })
    }
}

/// Listening on every address, the site's name cannot be guessed; refusing every request but the
/// probes would look healthy while serving nobody.
fn no_host_names(site: SocketAddr) -> ConfigError {
    ConfigError::Conflict(format!(
        "ALLOWED_HOSTS is not set and LEPTOS_SITE_ADDR={site} names no host: production needs \
         the host names the site is reached by, like ALLOWED_HOSTS=example.com,www.example.com"
    ))
}

impl RedisSettings {
    fn from_values(
        redis: declared::redis::Values,
        env: &HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let tls = TlsSettings {
            enabled: redis.tls,
            ca_file: redis.tls_ca_file,
            client_cert_file: redis.tls_client_cert_file,
            client_key_file: redis.tls_client_key_file,
        };
        let endpoint = match redis.url {
            Some(url) => RedisEndpoint::Url(url),
            None => RedisEndpoint::Parts {
                host: redis.host,
                port: redis.port,
                username: redis.username,
                password: env_only::REDIS_PASSWORD.get(env),
                db: redis.db,
            },
        };
        let settings = RedisSettings {
            endpoint,
            pool_size: redis.pool_size,
            connect_timeout: redis.connect_timeout_ms,
            command_timeout: redis.command_timeout_ms,
            startup_wait: redis.startup_wait_seconds,
            key_prefix: redis.key_prefix,
            tls,
            sentinel_username: redis.sentinel_username,
            sentinel_password: env_only::REDIS_SENTINEL_PASSWORD.get(env),
            wait_replicas: redis.wait_replicas,
            breaker_failures: redis.breaker_timeouts,
            breaker_probe_interval: redis.breaker_probe_interval_ms,
            max_waiting_requests: redis.max_waiting_requests,
            resp3: false,
        };
        topology::check(&settings)?;
        Ok(settings)
    }
}

impl SessionSettings {
    fn from_values(
        session: declared::session::Values,
        production: bool,
        secret: SessionSecret,
        previous_secrets: Vec<SecretString>,
    ) -> Self {
        let cookie_secure = match session.cookie_secure {
            Switch::Auto => production,
            Switch::On => true,
            Switch::Off => false,
        };
        // A Secure cookie gets the `__Host-` prefix by default: the browser then refuses it
        // unless it is Secure, host-only and on path `/` (OWASP ASVS 3.4.4).
        let default_name = if cookie_secure {
            "__Host-sessionboard"
        } else {
            "sessionboard"
        };
        SessionSettings {
            idle_timeout: session.idle_timeout_seconds,
            anonymous_idle_timeout: session.anonymous_idle_timeout_seconds,
            new_per_address_per_minute: session.new_per_address_per_minute,
            absolute_timeout: session.absolute_timeout_seconds,
            refresh_fraction: session.refresh_fraction,
            cookie_name: session
                .cookie_name
                .unwrap_or_else(|| default_name.to_string()),
            cookie_secure,
            cookie_same_site: session.cookie_same_site,
            secret,
            expiry_events: session.expiry_events,
            previous_secrets,
            near_cache: session.near_cache.then_some(
                NearCacheSettings::default()
                    .max_entries(session.near_cache_max_entries)
                    .max_bytes(session.near_cache_max_bytes),
            ),
        }
    }
}

#[cfg(test)]
mod tests;

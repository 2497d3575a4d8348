//! The declaration of every setting read from the file or the environment: a field per setting
//! (its type, and the reader in `read.rs` that checks its range and words its error), and a row
//! in [`VARIABLES`] (its environment variable and default). What each one means is in
//! docs/configuration.md, whose rows `documented.rs` checks against these.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use secrecy::SecretString;
use serde::Deserialize;

use super::read;
use crate::{
    server::{
        allowed_hosts::AllowedHosts,
        client_address::{ForwardingHeader, TrustedProxies},
    },
    shared::input::Username,
};

/// Each setting's environment variable, its place in the file (`section.key`) and its default
/// as written in the file or the environment; "" for a setting that has none.
#[rustfmt::skip]
pub const VARIABLES: &[(&str, &str, &str)] = &[
    ("LEPTOS_ENV", "server.environment", "DEV"),
    ("LEPTOS_SITE_ADDR", "server.site_addr", "127.0.0.1:3000"),
    ("SESSIONBOARD_DATA_DIR", "server.data_dir", "data"),
    ("METRICS_ADDR", "server.metrics_addr", ""),
    ("METRICS_ENABLED", "server.metrics_enabled", "true"),
    ("LOG_FORMAT", "server.log_format", "auto"),
    ("HSTS_MAX_AGE_SECONDS", "server.hsts_max_age_seconds", "31536000"),
    ("HSTS_INCLUDE_SUBDOMAINS", "server.hsts_include_subdomains", "false"),
    ("SERVER_HEADER_READ_TIMEOUT_SECONDS", "server.header_read_timeout_seconds", "10"),
    ("SERVER_KEEP_ALIVE_TIMEOUT_SECONDS", "server.keep_alive_timeout_seconds", "5"),
    ("SERVER_REQUEST_TIMEOUT_SECONDS", "server.request_timeout_seconds", "30"),
    ("SERVER_SHUTDOWN_DRAIN_MS", "server.shutdown_drain_ms", "0"),
    ("SERVER_MAX_CONNECTIONS", "server.max_connections", "1024"),
    ("SERVER_MAX_CONNECTIONS_PER_ADDRESS", "server.max_connections_per_address", "64"),
    ("SERVER_H2C", "server.h2c", "true"),
    ("SERVER_WORKERS", "server.workers", "0"),
    ("TRUSTED_PROXIES", "server.trusted_proxies", ""),
    ("TRUSTED_PROXY_HEADER", "server.trusted_proxy_header", "x-forwarded-for"),
    ("ALLOWED_HOSTS", "server.allowed_hosts", ""),
    ("REDIS_URL", "redis.url", ""),
    ("REDIS_HOST", "redis.host", "127.0.0.1"),
    ("REDIS_PORT", "redis.port", "6379"),
    ("REDIS_USERNAME", "redis.username", ""),
    ("REDIS_POOL_SIZE", "redis.pool_size", "4"),
    ("REDIS_CONNECT_TIMEOUT_MS", "redis.connect_timeout_ms", "2000"),
    ("REDIS_COMMAND_TIMEOUT_MS", "redis.command_timeout_ms", "1500"),
    ("REDIS_STARTUP_WAIT_SECONDS", "redis.startup_wait_seconds", "30"),
    ("REDIS_KEY_PREFIX", "redis.key_prefix", "sessionboard:"),
    ("REDIS_TLS", "redis.tls", "false"),
    ("REDIS_TLS_CA_FILE", "redis.tls_ca_file", ""),
    ("REDIS_TLS_CLIENT_CERT_FILE", "redis.tls_client_cert_file", ""),
    ("REDIS_TLS_CLIENT_KEY_FILE", "redis.tls_client_key_file", ""),
    ("REDIS_WAIT_REPLICAS", "redis.wait_replicas", "0"),
    ("REDIS_BREAKER_TIMEOUTS", "redis.breaker_timeouts", "3"),
    ("REDIS_BREAKER_PROBE_INTERVAL_MS", "redis.breaker_probe_interval_ms", "250"),
    ("REDIS_MAX_WAITING_REQUESTS", "redis.max_waiting_requests", "256"),
    ("SESSION_TTL_SECONDS", "session.idle_timeout_seconds", "604800"),
    ("SESSION_ABSOLUTE_TIMEOUT_SECONDS", "session.absolute_timeout_seconds", "2592000"),
    ("SESSION_ANONYMOUS_TTL_SECONDS", "session.anonymous_idle_timeout_seconds", "86400"),
    ("SESSION_NEW_PER_ADDRESS_PER_MINUTE", "session.new_per_address_per_minute", "100"),
    ("SESSION_REFRESH_FRACTION", "session.refresh_fraction", "0.01"),
    ("SESSION_COOKIE_SECURE", "session.cookie_secure", "auto"),
    ("SESSION_COOKIE_SAME_SITE", "session.cookie_same_site", "lax"),
    ("SESSION_EXPIRY_EVENTS", "session.expiry_events", "false"),
    ("SESSION_NEAR_CACHE", "session.near_cache", "true"),
    ("LOGIN_MAX_FAILURES_PER_USER", "auth.max_failures_per_user", "5"),
    ("LOGIN_MAX_FAILURES_PER_ADDRESS", "auth.max_failures_per_address", "50"),
    ("LOGIN_FAILURE_WINDOW_SECONDS", "auth.failure_window_seconds", "300"),
    ("LOGIN_SLOWDOWN_AFTER_FAILURES_PER_USER", "auth.slowdown_after_failures_per_user", "20"),
    ("LOGIN_SLOWDOWN_MAX_SECONDS", "auth.slowdown_max_seconds", "60"),
    ("REGISTRATION_MAX_PER_ADDRESS_PER_HOUR", "auth.max_registrations_per_address", "10"),
    ("ACCOUNT_UNUSED_TTL_SECONDS", "auth.unused_account_ttl_seconds", "2592000"),
    ("REAUTH_WINDOW_SECONDS", "auth.reauth_window_seconds", "300"),
];

/// Where the app runs; decides the defaults that differ between a laptop and production.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    Strict,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    #[serde(deserialize_with = "read::environment")]
    pub environment: Environment,
    #[serde(deserialize_with = "read::address")]
    pub site_addr: SocketAddr,
    pub data_dir: PathBuf,
    #[serde(default, deserialize_with = "read::some_address")]
    pub metrics_addr: Option<SocketAddr>,
    #[serde(deserialize_with = "read::boolean")]
    pub metrics_enabled: bool,
    /// `None` is "auto": see [`ServerSettings::log_format`].
    #[serde(rename = "log_format", deserialize_with = "read::log_format")]
    chosen_log_format: Option<LogFormat>,
    #[serde(
        rename = "hsts_max_age_seconds",
        deserialize_with = "read::whole_seconds"
    )]
    pub hsts_max_age: Duration,
    #[serde(deserialize_with = "read::boolean")]
    pub hsts_include_subdomains: bool,
    #[serde(
        rename = "header_read_timeout_seconds",
        deserialize_with = "read::seconds"
    )]
    pub header_read_timeout: Duration,
    #[serde(
        rename = "keep_alive_timeout_seconds",
        deserialize_with = "read::seconds"
    )]
    pub keep_alive_timeout: Duration,
    #[serde(rename = "request_timeout_seconds", deserialize_with = "read::seconds")]
    pub request_timeout: Duration,
    #[serde(rename = "shutdown_drain_ms", deserialize_with = "read::drain")]
    pub shutdown_drain: Duration,
    #[serde(deserialize_with = "read::within::<_, _, 1, 100_000>")]
    pub max_connections: usize,
    #[serde(deserialize_with = "read::within::<_, _, 1, 100_000>")]
    pub max_connections_per_address: usize,
    #[serde(deserialize_with = "read::boolean")]
    pub h2c: bool,
    #[serde(deserialize_with = "read::within::<_, _, 0, 256>")]
    pub workers: usize,
    #[serde(default, deserialize_with = "read::trusted_proxies")]
    pub trusted_proxies: TrustedProxies,
    #[serde(deserialize_with = "read::forwarding_header")]
    pub trusted_proxy_header: ForwardingHeader,
    /// Requests naming another host are refused. Unset, the site address's own host (and in
    /// development the loopback names) are put in place of the empty default.
    #[serde(default, deserialize_with = "read::allowed_hosts")]
    pub allowed_hosts: AllowedHosts,
}

impl ServerSettings {
    /// JSON in production, for log collectors; text for a terminal otherwise.
    pub fn log_format(&self) -> LogFormat {
        match (self.chosen_log_format, self.environment) {
            (Some(chosen), _) => chosen,
            (None, Environment::Production) => LogFormat::Json,
            (None, Environment::Development) => LogFormat::Pretty,
        }
    }
}

/// Redis is reached by `url` when it is set (fred reads it, with its database, cluster nodes and
/// sentinel credentials), else by host, port, username and password.
#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    /// A secret: it may hold a password.
    #[serde(default, deserialize_with = "read::redis_url")]
    pub url: Option<SecretString>,
    pub host: String,
    #[serde(deserialize_with = "read::port")]
    pub port: u16,
    pub username: Option<String>,
    /// `REDIS_PASSWORD`, from the environment only.
    #[serde(skip)]
    pub password: Option<SecretString>,
    #[serde(deserialize_with = "read::within::<_, _, 1, 64>")]
    pub pool_size: usize,
    #[serde(rename = "connect_timeout_ms", deserialize_with = "read::milliseconds")]
    pub connect_timeout: Duration,
    #[serde(rename = "command_timeout_ms", deserialize_with = "read::milliseconds")]
    pub command_timeout: Duration,
    #[serde(
        rename = "startup_wait_seconds",
        deserialize_with = "read::whole_seconds"
    )]
    pub startup_wait: Duration,
    pub key_prefix: String,
    #[serde(deserialize_with = "read::boolean")]
    pub tls: bool,
    pub tls_ca_file: Option<PathBuf>,
    pub tls_client_cert_file: Option<PathBuf>,
    pub tls_client_key_file: Option<PathBuf>,
    #[serde(deserialize_with = "read::within::<_, _, 0, 16>")]
    pub wait_replicas: u32,
    #[serde(
        rename = "breaker_timeouts",
        deserialize_with = "read::within::<_, _, 1, 1000>"
    )]
    pub breaker_failures: u32,
    #[serde(
        rename = "breaker_probe_interval_ms",
        deserialize_with = "read::milliseconds"
    )]
    pub breaker_probe_interval: Duration,
    #[serde(deserialize_with = "read::within::<_, _, 1, 100_000>")]
    pub max_waiting_requests: usize,
    /// Speak RESP3: the session near cache's client tracking needs it.
    #[serde(skip)]
    pub resp3: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SessionSettings {
    #[serde(rename = "idle_timeout_seconds", deserialize_with = "read::seconds")]
    pub idle_timeout: Duration,
    #[serde(
        rename = "absolute_timeout_seconds",
        deserialize_with = "read::seconds"
    )]
    pub absolute_timeout: Duration,
    #[serde(
        rename = "anonymous_idle_timeout_seconds",
        deserialize_with = "read::seconds"
    )]
    pub anonymous_idle_timeout: Duration,
    #[serde(deserialize_with = "read::above_zero")]
    pub new_per_address_per_minute: u32,
    #[serde(deserialize_with = "read::fraction")]
    pub refresh_fraction: f64,
    /// `None` is "auto": Secure in production; resolved into `cookie_secure`.
    #[serde(rename = "cookie_secure", deserialize_with = "read::auto_switch")]
    pub(super) chosen_cookie_secure: Option<bool>,
    #[serde(skip)]
    pub cookie_secure: bool,
    #[serde(deserialize_with = "read::same_site")]
    pub cookie_same_site: SameSite,
    #[serde(deserialize_with = "read::boolean")]
    pub expiry_events: bool,
    #[serde(deserialize_with = "read::boolean")]
    pub near_cache: bool,
    /// `SESSION_SECRET`, or the development secret.
    #[serde(skip)]
    pub secret: SecretString,
    /// `SESSION_SECRET_PREVIOUS`: cookies signed with one are accepted and re-signed.
    #[serde(skip)]
    pub previous_secrets: Vec<SecretString>,
}

impl SessionSettings {
    /// A Secure cookie gets the `__Host-` prefix: the browser then refuses it unless it is
    /// Secure, host-only and on path `/` (OWASP ASVS 3.4.4).
    pub fn cookie_name(&self) -> &'static str {
        match self.cookie_secure {
            true => "__Host-sessionboard",
            false => "sessionboard",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    #[serde(deserialize_with = "read::above_zero")]
    pub max_failures_per_user: u32,
    #[serde(deserialize_with = "read::above_zero")]
    pub max_failures_per_address: u32,
    #[serde(rename = "failure_window_seconds", deserialize_with = "read::seconds")]
    pub failure_window: Duration,
    #[serde(deserialize_with = "read::above_zero")]
    pub slowdown_after_failures_per_user: u32,
    #[serde(rename = "slowdown_max_seconds", deserialize_with = "read::seconds")]
    pub slowdown_cap: Duration,
    #[serde(deserialize_with = "read::above_zero")]
    pub max_registrations_per_address: u32,
    #[serde(
        rename = "unused_account_ttl_seconds",
        deserialize_with = "read::seconds"
    )]
    pub unused_account_ttl: Duration,
    #[serde(rename = "reauth_window_seconds", deserialize_with = "read::seconds")]
    pub reauth_window: Duration,
    /// `DEMO_USERS`, from the environment only: accounts created at start-up when missing.
    #[serde(skip)]
    pub demo_users: Vec<(Username, SecretString)>,
}

//! The one declaration of every setting. Each entry gives, in one place, the key in the file, the
//! environment variable that overrides it, the built-in default, what a valid value looks like
//! and the rule that checks it, so that layering, type errors and range errors all describe a
//! setting from the same words.

use std::{
    marker::PhantomData, net::SocketAddr, ops::RangeInclusive, path::PathBuf, str::FromStr,
    time::Duration,
};

use secrecy::SecretString;

use crate::server::{
    allowed_hosts::AllowedHosts,
    client_address::{ForwardingHeader, TrustedProxies},
};
use serde::de::{self, Deserializer, Unexpected, Visitor};

use super::{topology, ConfigError, Environment, LogFormat, SameSite};

/// What an entry says about one setting read through figment.
pub struct Setting {
    /// `section.key`: the key in the file and the path figment reports in its errors.
    pub path: &'static str,
    pub env: &'static str,
    pub default: Option<&'static str>,
    pub expected: &'static str,
    /// How a value may appear in an error.
    pub show: fn(&str) -> String,
    /// Values for which this holds carry a password, which must not sit in a file that gets
    /// copied, backed up and committed.
    pub env_only_if: Option<fn(&str) -> bool>,
}

impl Setting {
    pub fn section_and_key(&self) -> (&'static str, &'static str) {
        self.path.split_once('.').unwrap_or(("", self.path))
    }
}

/// The pieces `declare!` builds for one setting, chosen by which parts of the entry are present.
macro_rules! part {
    (@setting $section:ident $key:ident, $env:literal, $expected:expr,
        [$($default:literal)?] [$($show:expr)?] [$($secret:expr)?]) => {
        Setting {
            path: concat!(stringify!($section), ".", stringify!($key)),
            env: $env,
            default: part!(@option $($default)?),
            expected: $expected,
            show: part!(@show $($show)?),
            env_only_if: part!(@option $($secret)?),
        }
    };
    (@option) => { None };
    (@option $value:expr) => { Some($value) };
    (@show) => { <str as ToString>::to_string };
    (@show $show:expr) => { $show };
    (@wrap [] $type:ty) => { Option<$type> };
    (@wrap [$default:literal] $type:ty) => { $type };
    (@out $raw:ty) => { $raw };
    (@out $raw:ty, $out:ty) => { $out };
    (@check $value:expr, [], [$($check:expr)?], $blame:ident, $setting:expr) => {
        $value
            .map(|Parsed(value)| part!(@checked value, [$($check)?], $blame, $setting))
            .transpose()
    };
    (@check $value:expr, [$default:literal], [$($check:expr)?], $blame:ident, $setting:expr) => {
        part!(@checked $value.0, [$($check)?], $blame, $setting)
    };
    (@checked $value:expr, [], $blame:ident, $setting:expr) => { Ok::<_, ConfigError>($value) };
    (@checked $value:expr, [$check:expr], $blame:ident, $setting:expr) => {
        ($check)($value).ok_or_else(|| $blame(&$setting))
    };
}

/// `declare!` turns the table below into `DECLARED` (read for the defaults, the environment
/// layer and error look-ups), one `Raw` struct per section that figment fills, and one `Values`
/// struct per section holding every value once checked. A setting without a default is optional.
macro_rules! declare {
    ($(
        [$section:ident]
        $(
            $key:ident: $raw:ty $(=> $out:ty)? $(= $default:literal)?, $env:literal, $expected:expr
            $(, check $check:expr)? $(, show $show:expr)? $(, env_only_if $secret:expr)?;
        )*
    )*) => {
        pub const DECLARED: &[Setting] = &[$($(
            part!(@setting $section $key, $env, $expected,
                [$($default)?] [$($show)?] [$($secret)?]),
        )*)*];

        $(pub mod $section {
            use super::*;

            #[derive(serde::Deserialize)]
            pub struct Raw {
                $( $key: part!(@wrap [$($default)?] Parsed<$raw>), )*
            }

            pub struct Values {
                $( pub $key: part!(@wrap [$($default)?] part!(@out $raw $(, $out)?)), )*
            }

            impl Raw {
                pub fn check(
                    self,
                    blame: &dyn Fn(&Setting) -> ConfigError,
                ) -> Result<Values, ConfigError> {
                    Ok(Values { $(
                        $key: part!(@check self.$key, [$($default)?], [$($check)?], blame,
                            part!(@setting $section $key, $env, $expected,
                                [$($default)?] [$($show)?] [$($secret)?]))?,
                    )* })
                }
            }
        })*

        #[derive(serde::Deserialize)]
        pub struct Raw {
            $( $section: $section::Raw, )*
        }

        pub struct Values {
            $( pub $section: $section::Values, )*
        }

        impl Raw {
            pub fn check(
                self,
                blame: &dyn Fn(&Setting) -> ConfigError,
            ) -> Result<Values, ConfigError> {
                Ok(Values { $( $section: self.$section.check(blame)?, )* })
            }
        }
    };
}

// key: type as written [=> type once checked] [= default], VARIABLE, expected[, check rule]
//   [, show how to print a value in an error][, env_only_if which values must not be in the file];
declare! {
    [server]
    environment: String => Environment = "development", "LEPTOS_ENV", "DEV or PROD",
        check environment;
    site_addr: SocketAddr = "127.0.0.1:3000", "LEPTOS_SITE_ADDR", "an address like 127.0.0.1:3000";
    data_dir: PathBuf = "data", "SESSIONBOARD_DATA_DIR", "a folder path";
    metrics_addr: SocketAddr, "METRICS_ADDR", "an address like 127.0.0.1:9100";
    metrics_enabled: bool = "true", "METRICS_ENABLED", "true or false";
    log_format: String => Option<LogFormat> = "auto", "LOG_FORMAT", "auto, json or pretty",
        check log_format;
    hsts_max_age_seconds: u64 = "31536000", "HSTS_MAX_AGE_SECONDS",
        "a whole number of seconds (0 = tell browsers to forget the policy)";
    hsts_include_subdomains: bool = "false", "HSTS_INCLUDE_SUBDOMAINS", "true or false";
    header_read_timeout_seconds: f64 => Duration = "10", "SERVER_HEADER_READ_TIMEOUT_SECONDS",
        SECONDS, check seconds;
    keep_alive_timeout_seconds: f64 => Duration = "5", "SERVER_KEEP_ALIVE_TIMEOUT_SECONDS",
        SECONDS, check seconds;
    request_timeout_seconds: f64 => Duration = "30", "SERVER_REQUEST_TIMEOUT_SECONDS", SECONDS,
        check seconds;
    shutdown_drain_ms: u64 => Duration = "0", "SERVER_SHUTDOWN_DRAIN_MS",
        "a whole number of milliseconds, at most 600000 (0: no drain)", check drain_milliseconds;
    trusted_proxies: String => TrustedProxies = "", "TRUSTED_PROXIES",
        "addresses or networks (CIDR) separated by commas, like 10.0.0.0/8, 192.168.1.7",
        check TrustedProxies::parse_owned;
    trusted_proxy_header: String => ForwardingHeader = "x-forwarded-for", "TRUSTED_PROXY_HEADER",
        "x-forwarded-for or forwarded", check ForwardingHeader::parse_owned;
    allowed_hosts: String => AllowedHosts, "ALLOWED_HOSTS",
        "host names separated by commas, like example.com, www.example.com (or * for any)",
        check AllowedHosts::parse_owned;
    max_connections: usize = "1024", "SERVER_MAX_CONNECTIONS", "a whole number from 1 to 100000",
        check within(1..=100_000);
    max_connections_per_address: usize = "64", "SERVER_MAX_CONNECTIONS_PER_ADDRESS",
        "a whole number from 1 to 100000", check within(1..=100_000);
    h2c: bool = "true", "SERVER_H2C", "true or false";
    workers: usize = "0", "SERVER_WORKERS",
        "a whole number from 0 to 256 (0: one per CPU core)", check within(0..=256);
    pin_workers: bool = "false", "SERVER_PIN_WORKERS", "true or false";

    [redis]
    url: String => SecretString, "REDIS_URL", REDIS_URL_FORMS,
        check topology::redis_url, show topology::redacted_url,
        env_only_if topology::has_password;
    host: String = "127.0.0.1", "REDIS_HOST", "a host name";
    port: u16 = "6379", "REDIS_PORT", "a TCP port (1-65535)", check above_zero;
    username: String, "REDIS_USERNAME", "a user name";
    db: u8 = "0", "REDIS_DB", "a database number (0-15)", check within(0..=15);
    pool_size: usize = "4", "REDIS_POOL_SIZE", "a whole number from 1 to 64", check within(1..=64);
    connect_timeout_ms: u64 => Duration = "2000", "REDIS_CONNECT_TIMEOUT_MS", MILLISECONDS,
        check milliseconds;
    command_timeout_ms: u64 => Duration = "1500", "REDIS_COMMAND_TIMEOUT_MS", MILLISECONDS,
        check milliseconds;
    startup_wait_seconds: u64 => Duration = "30", "REDIS_STARTUP_WAIT_SECONDS",
        "a whole number of seconds (0 = fail at once)", check any_seconds;
    key_prefix: String = "sessionboard:", "REDIS_KEY_PREFIX", "a key prefix";
    tls: String => bool = "false", "REDIS_TLS", "true or false", check on_off;
    tls_ca_file: PathBuf, "REDIS_TLS_CA_FILE", "a PEM file of CA certificates";
    tls_client_cert_file: PathBuf, "REDIS_TLS_CLIENT_CERT_FILE", "a PEM certificate (chain) file";
    tls_client_key_file: PathBuf, "REDIS_TLS_CLIENT_KEY_FILE", "a PEM private key file";
    sentinel_username: String, "REDIS_SENTINEL_USERNAME", "a user name";
    wait_replicas: u32 = "0", "REDIS_WAIT_REPLICAS", "a number of replicas from 0 to 16",
        check within(0..=16);
    breaker_timeouts: u32 = "3", "REDIS_BREAKER_TIMEOUTS", "a whole number from 1 to 1000",
        check within(1..=1000);
    breaker_probe_interval_ms: u64 => Duration = "250", "REDIS_BREAKER_PROBE_INTERVAL_MS",
        MILLISECONDS, check milliseconds;
    max_waiting_requests: usize = "256", "REDIS_MAX_WAITING_REQUESTS",
        "a whole number from 1 to 100000", check within(1..=100_000);

    [session]
    idle_timeout_seconds: f64 => Duration = "604800", "SESSION_TTL_SECONDS", SECONDS,
        check seconds;
    absolute_timeout_seconds: f64 => Duration = "2592000", "SESSION_ABSOLUTE_TIMEOUT_SECONDS",
        SECONDS, check seconds;
    anonymous_idle_timeout_seconds: f64 => Duration = "86400", "SESSION_ANONYMOUS_TTL_SECONDS",
        SECONDS, check seconds;
    new_per_address_per_minute: u32 = "100", "SESSION_NEW_PER_ADDRESS_PER_MINUTE",
        "a whole number above 0", check above_zero;
    refresh_fraction: f64 = "0.01", "SESSION_REFRESH_FRACTION", "a fraction from 0 to 0.5",
        check within(0.0..=0.5);
    cookie_name: String, "SESSION_COOKIE_NAME", "letters, digits, '_' or '-'", check cookie_name;
    cookie_secure: String => Switch = "auto", "SESSION_COOKIE_SECURE", "auto, true or false",
        check switch;
    cookie_same_site: String => SameSite = "lax", "SESSION_COOKIE_SAME_SITE", "lax or strict",
        check same_site;
    expiry_events: bool = "false", "SESSION_EXPIRY_EVENTS", "true or false";
    near_cache: bool = "false", "SESSION_NEAR_CACHE", "true or false";
    near_cache_max_entries: usize = "10000", "SESSION_NEAR_CACHE_MAX_ENTRIES",
        "a whole number from 1 to 10000000", check within(1..=10_000_000);
    near_cache_max_bytes: usize = "8388608", "SESSION_NEAR_CACHE_MAX_BYTES",
        "a number of bytes from 1024 to 4294967296", check within(1024..=4_294_967_296);

    [auth]
    max_failures_per_user: u32 = "5", "LOGIN_MAX_FAILURES_PER_USER", "a whole number above 0",
        check above_zero;
    max_failures_per_address: u32 = "50", "LOGIN_MAX_FAILURES_PER_ADDRESS",
        "a whole number above 0", check above_zero;
    failure_window_seconds: f64 => Duration = "300", "LOGIN_FAILURE_WINDOW_SECONDS", SECONDS,
        check seconds;
    slowdown_after_failures_per_user: u32 = "20", "LOGIN_SLOWDOWN_AFTER_FAILURES_PER_USER",
        "a whole number above 0", check above_zero;
    slowdown_max_seconds: f64 => Duration = "60", "LOGIN_SLOWDOWN_MAX_SECONDS", SECONDS,
        check seconds;
    max_registrations_per_address: u32 = "10", "REGISTRATION_MAX_PER_ADDRESS_PER_HOUR",
        "a whole number above 0", check above_zero;
    reauth_window_seconds: f64 => Duration = "300", "REAUTH_WINDOW_SECONDS", SECONDS,
        check seconds;
    unused_account_ttl_seconds: f64 => Duration = "2592000", "ACCOUNT_UNUSED_TTL_SECONDS",
        SECONDS, check seconds;
}

const REDIS_URL_FORMS: &str = "a URL like redis://host:6379/0, rediss://user:password@host:6380, \
redis-cluster://host:7000?node=host:7001 or redis-sentinel://host:26379?sentinelServiceName=NAME&node=host:26380";
const SECONDS: &str = "a number of seconds above 0, fractions allowed (at most ten years)";
const MILLISECONDS: &str = "a whole number of milliseconds above 0";

/// `SESSION_COOKIE_SECURE`: "auto" follows the environment, which is only known once all
/// settings are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    Auto,
    On,
    Off,
}

fn environment(name: String) -> Option<Environment> {
    match name.to_ascii_lowercase().as_str() {
        "dev" | "development" => Some(Environment::Development),
        "prod" | "production" => Some(Environment::Production),
        _ => None,
    }
}

fn switch(name: String) -> Option<Switch> {
    match name.to_ascii_lowercase().as_str() {
        "auto" => Some(Switch::Auto),
        "true" | "1" | "on" => Some(Switch::On),
        "false" | "0" | "off" => Some(Switch::Off),
        _ => None,
    }
}

/// `None` is "auto": pretty in development, JSON in production.
fn log_format(name: String) -> Option<Option<LogFormat>> {
    match name.to_ascii_lowercase().as_str() {
        "auto" => Some(None),
        "json" => Some(Some(LogFormat::Json)),
        "pretty" => Some(Some(LogFormat::Pretty)),
        _ => None,
    }
}

fn on_off(name: String) -> Option<bool> {
    match switch(name)? {
        Switch::On => Some(true),
        Switch::Off => Some(false),
        Switch::Auto => None,
    }
}

fn same_site(name: String) -> Option<SameSite> {
    match name.to_ascii_lowercase().as_str() {
        "lax" => Some(SameSite::Lax),
        "strict" => Some(SameSite::Strict),
        _ => None,
    }
}

fn above_zero<T: Default + PartialOrd>(value: T) -> Option<T> {
    (value > T::default()).then_some(value)
}

/// A count of time units above 0 and at most ten years' worth of seconds, whatever the unit.
fn within_ten_years(value: u64) -> Option<u64> {
    (value > 0 && value <= 10 * 365 * 24 * 3600).then_some(value)
}

/// Fractions let a test wait 200 ms instead of a whole second; the session deadlines are kept
/// in milliseconds (`PEXPIREAT`), so a fraction means what it says.
fn seconds(value: f64) -> Option<Duration> {
    let ten_years = (10 * 365 * 24 * 3600) as f64;
    (value > 0.0 && value <= ten_years).then(|| Duration::from_secs_f64(value))
}

fn milliseconds(value: u64) -> Option<Duration> {
    within_ten_years(value).map(Duration::from_millis)
}

/// Long enough for any load balancer's health checks to notice; a stop never waits longer.
fn drain_milliseconds(value: u64) -> Option<Duration> {
    (value <= 600_000).then_some(Duration::from_millis(value))
}

fn any_seconds(value: u64) -> Option<Duration> {
    Some(Duration::from_secs(value))
}

fn within<T: PartialOrd>(range: RangeInclusive<T>) -> impl Fn(T) -> Option<T> {
    move |value| range.contains(&value).then_some(value)
}

fn cookie_name(name: String) -> Option<String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    (!name.is_empty() && name.chars().all(allowed)).then_some(name)
}

/// A value read from its text with `FromStr`, whichever source it comes from: the environment
/// only has text, a file may quote a number, and figment's own guess would read `0.01` from the
/// environment as an `f32`, a slightly different number than the file's `0.01`.
pub struct Parsed<T>(pub T);

impl<'de, T: FromStr> serde::Deserialize<'de> for Parsed<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text<T>(PhantomData<T>);

        impl<T: FromStr> Visitor<'_> for Text<T> {
            type Value = Parsed<T>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a value")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Parsed<T>, E> {
                let parsed = text
                    .trim()
                    .parse()
                    .map_err(|_| E::invalid_value(Unexpected::Str(text), &self))?;
                Ok(Parsed(parsed))
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Parsed<T>, E> {
                self.visit_str(&value.to_string())
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Parsed<T>, E> {
                self.visit_str(&value.to_string())
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Parsed<T>, E> {
                self.visit_str(&value.to_string())
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Parsed<T>, E> {
                self.visit_str(&value.to_string())
            }
        }

        deserializer.deserialize_any(Text(PhantomData))
    }
}

//! The one declaration of every setting. Each entry gives, in one place, the key in the file, the
//! environment variable that overrides it, the built-in default, what a valid value looks like
//! and the rule that checks it, so that layering, type errors and range errors all describe a
//! setting from the same words.

use crate::shared::input::{Password, Username};
use std::{
    collections::HashMap, marker::PhantomData, net::SocketAddr, ops::RangeInclusive, path::PathBuf,
    str::FromStr, time::Duration,
};

use secrecy::{ExposeSecret, SecretString};
use serde::de::{self, Deserializer, Unexpected, Visitor};
use url::Url;

use super::{ConfigError, Environment, LogFormat, SameSite, MIN_SECRET_LEN};

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
    log_format: String => Option<LogFormat> = "auto", "LOG_FORMAT", "auto, json or pretty",
        check log_format;

    [redis]
    url: String => SecretString, "REDIS_URL",
        "a URL like redis://host:6379/0 or rediss://user:password@host:6380",
        check redis_url, show redacted_url, env_only_if has_password;
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

    [session]
    idle_timeout_seconds: u64 => Duration = "604800", "SESSION_TTL_SECONDS", SECONDS,
        check seconds;
    absolute_timeout_seconds: u64 => Duration = "2592000", "SESSION_ABSOLUTE_TIMEOUT_SECONDS",
        SECONDS, check seconds;
    refresh_fraction: f64 = "0.01", "SESSION_REFRESH_FRACTION", "a fraction from 0 to 0.5",
        check within(0.0..=0.5);
    cookie_name: String, "SESSION_COOKIE_NAME", "letters, digits, '_' or '-'", check cookie_name;
    cookie_secure: String => Switch = "auto", "SESSION_COOKIE_SECURE", "auto, true or false",
        check switch;
    cookie_same_site: String => SameSite = "lax", "SESSION_COOKIE_SAME_SITE", "lax or strict",
        check same_site;
    expiry_events: bool = "false", "SESSION_EXPIRY_EVENTS", "true or false";

    [auth]
    max_failures_per_user: u32 = "5", "LOGIN_MAX_FAILURES_PER_USER", "a whole number above 0",
        check above_zero;
    max_failures_per_address: u32 = "50", "LOGIN_MAX_FAILURES_PER_ADDRESS",
        "a whole number above 0", check above_zero;
    failure_window_seconds: u64 => Duration = "300", "LOGIN_FAILURE_WINDOW_SECONDS", SECONDS,
        check seconds;
}

const SECONDS: &str = "a whole number of seconds above 0 (at most ten years)";
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

fn seconds(value: u64) -> Option<Duration> {
    within_ten_years(value).map(Duration::from_secs)
}

fn milliseconds(value: u64) -> Option<Duration> {
    within_ten_years(value).map(Duration::from_millis)
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

fn redis_url(value: String) -> Option<SecretString> {
    let url = Url::parse(&value).ok()?;
    let usable = matches!(url.scheme(), "redis" | "rediss") && url.host_str().is_some();
    usable.then(|| SecretString::from(value))
}

fn has_password(value: &str) -> bool {
    Url::parse(value).is_ok_and(|url| url.password().is_some())
}

/// A URL with any password replaced, fit for an error message.
fn redacted_url(value: &str) -> String {
    match Url::parse(value) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) if value.contains('@') => "(hidden: it contains credentials)".to_string(),
        Err(_) => value.to_string(),
    }
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

/// A setting that holds secrets: it is read from the environment only and its value never
/// appears in an error.
pub struct EnvOnly {
    pub env: &'static str,
    pub expected: &'static str,
}

pub const SESSION_SECRET: EnvOnly = EnvOnly {
    env: "SESSION_SECRET",
    expected: "at least 32 characters",
};
pub const REDIS_PASSWORD: EnvOnly = EnvOnly {
    env: "REDIS_PASSWORD",
    expected: "a password",
};
pub const DEMO_USERS: EnvOnly = EnvOnly {
    env: "DEMO_USERS",
    expected: "name:password pairs separated by commas (names of 3-32 a-z 0-9 . _ -, passwords of 8-128 characters)",
};

impl EnvOnly {
    pub fn get(&self, env: &HashMap<String, String>) -> Option<SecretString> {
        let value = env.get(self.env).filter(|value| !value.is_empty())?;
        Some(SecretString::from(value.clone()))
    }

    fn invalid(&self, shown: String) -> ConfigError {
        ConfigError::Invalid {
            name: self.env.to_string(),
            value: shown,
            expected: self.expected,
        }
    }
}

pub fn session_secret(env: &HashMap<String, String>) -> Result<Option<SecretString>, ConfigError> {
    match SESSION_SECRET.get(env) {
        Some(secret) if secret.expose_secret().chars().count() < MIN_SECRET_LEN => {
            Err(SESSION_SECRET.invalid("(hidden)".into()))
        }
        secret => Ok(secret),
    }
}

/// `DEMO_USERS=alice:password1,bob:password2`. An error may name a user, never a password.
pub fn demo_users(
    env: &HashMap<String, String>,
) -> Result<Vec<(Username, SecretString)>, ConfigError> {
    let Some(list) = DEMO_USERS.get(env) else {
        return Ok(Vec::new());
    };
    if list.expose_secret().trim().is_empty() {
        return Ok(Vec::new());
    }
    list.expose_secret()
        .split(',')
        .map(|pair| {
            let (name, password) = pair
                .split_once(':')
                .ok_or_else(|| DEMO_USERS.invalid("(hidden)".into()))?;
            let name =
                Username::parse(name).map_err(|_| DEMO_USERS.invalid(format!("user {name:?}")))?;
            Password::new_checked(password.to_string())
                .map_err(|_| DEMO_USERS.invalid(format!("password of {:?}", name.as_str())))?;
            Ok((name, SecretString::from(password.to_string())))
        })
        .collect()
}

//! All settings, read once at start-up into typed structs.
//!
//! Sources, strongest first: environment variables, `Leptos.toml`, built-in defaults. Every
//! invalid value stops the start with one message that names the variable to fix.

use std::{collections::HashMap, net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::shared::input::{Password, Username};

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
    pub max_failures_per_user: u32,
    pub max_failures_per_address: u32,
    pub failure_window: Duration,
    /// `DEMO_USERS`: accounts created at start-up when missing (name, password).
    pub demo_users: Vec<(Username, SecretString)>,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub site_addr: SocketAddr,
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub endpoint: RedisEndpoint,
    pub pool_size: usize,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
    pub startup_wait: Duration,
    pub key_prefix: String,
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
    pub absolute_timeout: Duration,
    pub refresh_fraction: f64,
    pub cookie_name: String,
    pub cookie_secure: bool,
    pub cookie_same_site: SameSite,
    pub secret: SessionSecret,
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

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}={value:?} is not valid: expected {expected}")]
    Invalid {
        name: String,
        value: String,
        expected: &'static str,
    },
    #[error("SESSION_SECRET is not set: production (LEPTOS_ENV=PROD) needs a secret of at least {MIN_SECRET_LEN} characters to sign session cookies")]
    MissingSecret,
    #[error("could not read the configuration file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("could not keep the generated development secret in {path}: {reason}")]
    DevSecret { path: String, reason: String },
}

pub const MIN_SECRET_LEN: usize = 32;
const DEFAULT_CONFIG_FILE: &str = "Leptos.toml";
const DEV_SECRET_FILE: &str = "session_secret";

impl Settings {
    /// Reads `Leptos.toml` (or `SESSIONBOARD_CONFIG`) and the process environment, and creates the
    /// development secret when it is needed.
    pub fn load() -> Result<Settings, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let path = env
            .get("SESSIONBOARD_CONFIG")
            .cloned()
            .unwrap_or_else(|| DEFAULT_CONFIG_FILE.to_string());
        let file_text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(err) => {
                return Err(ConfigError::File {
                    path,
                    reason: err.to_string(),
                })
            }
        };
        Settings::parse(&file_text, &env, load_or_create_dev_secret)
    }

    /// Builds settings from a config file's text and an environment, without touching the
    /// process. `dev_secret` supplies the secret when none is configured in development.
    pub fn parse(
        file_text: &str,
        env: &HashMap<String, String>,
        dev_secret: impl FnOnce(&std::path::Path) -> Result<SecretString, ConfigError>,
    ) -> Result<Settings, ConfigError> {
        let file: toml::Table =
            file_text
                .parse()
                .map_err(|err: toml::de::Error| ConfigError::File {
                    path: DEFAULT_CONFIG_FILE.to_string(),
                    reason: err.message().to_string(),
                })?;
        let source = Source { file: &file, env };

        let environment = match source.raw("LEPTOS_ENV", "server", "environment") {
            None => Environment::Development,
            Some((name, value)) => match value.to_ascii_lowercase().as_str() {
                "dev" | "development" => Environment::Development,
                "prod" | "production" => Environment::Production,
                _ => return Err(invalid(name, value, "DEV or PROD")),
            },
        };

        let server = ServerSettings {
            site_addr: source.parse(
                "LEPTOS_SITE_ADDR",
                "server",
                "site_addr",
                "127.0.0.1:3000".parse().expect("valid literal"),
                "an address like 127.0.0.1:3000",
            )?,
            data_dir: source.parse(
                "SESSIONBOARD_DATA_DIR",
                "server",
                "data_dir",
                PathBuf::from("data"),
                "a folder path",
            )?,
        };

        let redis = RedisSettings {
            endpoint: redis_endpoint(&source)?,
            pool_size: positive(source.parse(
                "REDIS_POOL_SIZE",
                "redis",
                "pool_size",
                4usize,
                "a whole number from 1 to 64",
            )?)
            .filter(|size| *size <= 64)
            .ok_or_else(|| {
                source.invalid(
                    "REDIS_POOL_SIZE",
                    "redis",
                    "pool_size",
                    "a whole number from 1 to 64",
                )
            })?,
            connect_timeout: duration(
                &source,
                ("REDIS_CONNECT_TIMEOUT_MS", "redis", "connect_timeout_ms"),
                2000,
                Unit::Millis,
            )?,
            command_timeout: duration(
                &source,
                ("REDIS_COMMAND_TIMEOUT_MS", "redis", "command_timeout_ms"),
                1500,
                Unit::Millis,
            )?,
            startup_wait: Duration::from_secs(source.parse(
                "REDIS_STARTUP_WAIT_SECONDS",
                "redis",
                "startup_wait_seconds",
                30u64,
                "a whole number of seconds (0 = fail at once)",
            )?),
            key_prefix: source.parse(
                "REDIS_KEY_PREFIX",
                "redis",
                "key_prefix",
                "sessionboard:".to_string(),
                "a key prefix",
            )?,
        };

        let idle_timeout = duration(
            &source,
            ("SESSION_TTL_SECONDS", "session", "idle_timeout_seconds"),
            7 * 24 * 3600,
            Unit::Seconds,
        )?;
        let absolute_timeout = duration(
            &source,
            (
                "SESSION_ABSOLUTE_TIMEOUT_SECONDS",
                "session",
                "absolute_timeout_seconds",
            ),
            30 * 24 * 3600,
            Unit::Seconds,
        )?;
        let refresh_fraction: f64 = source.parse(
            "SESSION_REFRESH_FRACTION",
            "session",
            "refresh_fraction",
            0.01,
            "a fraction from 0 to 0.5",
        )?;
        if !(0.0..=0.5).contains(&refresh_fraction) {
            return Err(source.invalid(
                "SESSION_REFRESH_FRACTION",
                "session",
                "refresh_fraction",
                "a fraction from 0 to 0.5",
            ));
        }
        let cookie_secure = match source.raw("SESSION_COOKIE_SECURE", "session", "cookie_secure") {
            None => environment == Environment::Production,
            Some((name, value)) => match value.to_ascii_lowercase().as_str() {
                "auto" => environment == Environment::Production,
                "true" | "1" | "on" => true,
                "false" | "0" | "off" => false,
                _ => return Err(invalid(name, value, "auto, true or false")),
            },
        };
        let cookie_same_site =
            match source.raw("SESSION_COOKIE_SAME_SITE", "session", "cookie_same_site") {
                None => SameSite::Lax,
                Some((name, value)) => match value.to_ascii_lowercase().as_str() {
                    "lax" => SameSite::Lax,
                    "strict" => SameSite::Strict,
                    _ => return Err(invalid(name, value, "lax or strict")),
                },
            };
        // A Secure cookie gets the `__Host-` prefix by default: the browser then refuses it
        // unless it is Secure, host-only and on path `/` (OWASP ASVS 3.4.4).
        let default_cookie_name = if cookie_secure {
            "__Host-sessionboard"
        } else {
            "sessionboard"
        };
        let cookie_name: String = source.parse(
            "SESSION_COOKIE_NAME",
            "session",
            "cookie_name",
            default_cookie_name.to_string(),
            "a cookie name",
        )?;
        if cookie_name.is_empty()
            || !cookie_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(source.invalid(
                "SESSION_COOKIE_NAME",
                "session",
                "cookie_name",
                "letters, digits, '_' or '-'",
            ));
        }

        let secret = match env.get("SESSION_SECRET").filter(|s| !s.is_empty()) {
            Some(secret) if secret.chars().count() < MIN_SECRET_LEN => {
                return Err(invalid(
                    "SESSION_SECRET".into(),
                    "(hidden)".into(),
                    "at least 32 characters",
                ))
            }
            Some(secret) => SessionSecret::Configured(SecretString::from(secret.clone())),
            None if environment == Environment::Production => {
                return Err(ConfigError::MissingSecret)
            }
            None => SessionSecret::Generated(dev_secret(&server.data_dir)?),
        };

        let auth = AuthSettings {
            max_failures_per_user: at_least_one(
                &source,
                "LOGIN_MAX_FAILURES_PER_USER",
                "auth",
                "max_failures_per_user",
                5,
            )?,
            max_failures_per_address: at_least_one(
                &source,
                "LOGIN_MAX_FAILURES_PER_ADDRESS",
                "auth",
                "max_failures_per_address",
                50,
            )?,
            failure_window: duration(
                &source,
                (
                    "LOGIN_FAILURE_WINDOW_SECONDS",
                    "auth",
                    "failure_window_seconds",
                ),
                300,
                Unit::Seconds,
            )?,
            demo_users: demo_users(env)?,
        };

        Ok(Settings {
            environment,
            server,
            redis,
            auth,
            session: SessionSettings {
                idle_timeout,
                absolute_timeout,
                refresh_fraction,
                cookie_name,
                cookie_secure,
                cookie_same_site,
                secret,
            },
        })
    }
}

/// Reads the development secret from the data folder, creating it on first use.
pub fn load_or_create_dev_secret(data_dir: &std::path::Path) -> Result<SecretString, ConfigError> {
    let path = data_dir.join(DEV_SECRET_FILE);
    let fail = |err: std::io::Error| ConfigError::DevSecret {
        path: path.display().to_string(),
        reason: err.to_string(),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().len() >= MIN_SECRET_LEN => {
            return Ok(SecretString::from(text.trim().to_string()))
        }
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(fail(err)),
    }
    use rand::RngCore;
    let mut bytes = [0u8; 48];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::create_dir_all(data_dir).map_err(fail)?;
    std::fs::write(&path, &secret).map_err(fail)?;
    Ok(SecretString::from(secret))
}

fn at_least_one(
    source: &Source,
    env: &str,
    section: &str,
    key: &str,
    default: u32,
) -> Result<u32, ConfigError> {
    let value: u32 = source.parse(env, section, key, default, "a whole number above 0")?;
    if value == 0 {
        return Err(source.invalid(env, section, key, "a whole number above 0"));
    }
    Ok(value)
}

/// `DEMO_USERS=alice:password1,bob:password2`. Passwords never appear in an error.
fn demo_users(env: &HashMap<String, String>) -> Result<Vec<(Username, SecretString)>, ConfigError> {
    let Some(list) = env.get("DEMO_USERS").filter(|v| !v.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    let expected = "name:password pairs separated by commas (names of 3-32 a-z 0-9 . _ -, passwords of 8-128 characters)";
    list.split(',')
        .map(|pair| {
            let (name, password) = pair
                .split_once(':')
                .ok_or_else(|| invalid("DEMO_USERS".into(), "(hidden)".into(), expected))?;
            let name = Username::parse(name)
                .map_err(|_| invalid("DEMO_USERS".into(), format!("user {name:?}"), expected))?;
            Password::new_checked(password.to_string()).map_err(|_| {
                invalid(
                    "DEMO_USERS".into(),
                    format!("password of {name:?}"),
                    expected,
                )
            })?;
            Ok((name, SecretString::from(password.to_string())))
        })
        .collect()
}

fn redis_endpoint(source: &Source) -> Result<RedisEndpoint, ConfigError> {
    if let Some((name, value)) = source.raw("REDIS_URL", "redis", "url") {
        let parsed = Url::parse(&value).map_err(|_| {
            invalid(
                name.clone(),
                redacted_url(&value),
                "a URL like redis://host:6379/0 or rediss://user:password@host:6380",
            )
        })?;
        if !matches!(parsed.scheme(), "redis" | "rediss") || parsed.host_str().is_none() {
            return Err(invalid(
                name,
                redacted_url(&value),
                "a URL like redis://host:6379/0 or rediss://user:password@host:6380",
            ));
        }
        return Ok(RedisEndpoint::Url(SecretString::from(value)));
    }
    let port: u16 = source.parse("REDIS_PORT", "redis", "port", 6379, "a TCP port (1-65535)")?;
    if port == 0 {
        return Err(source.invalid("REDIS_PORT", "redis", "port", "a TCP port (1-65535)"));
    }
    let db: u8 = source.parse("REDIS_DB", "redis", "db", 0, "a database number (0-15)")?;
    if db > 15 {
        return Err(source.invalid("REDIS_DB", "redis", "db", "a database number (0-15)"));
    }
    Ok(RedisEndpoint::Parts {
        host: source.parse(
            "REDIS_HOST",
            "redis",
            "host",
            "127.0.0.1".to_string(),
            "a host name",
        )?,
        port,
        username: source
            .env
            .get("REDIS_USERNAME")
            .filter(|s| !s.is_empty())
            .cloned(),
        password: source
            .env
            .get("REDIS_PASSWORD")
            .filter(|s| !s.is_empty())
            .map(|s| SecretString::from(s.clone())),
        db,
    })
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

fn invalid(name: String, value: String, expected: &'static str) -> ConfigError {
    ConfigError::Invalid {
        name,
        value,
        expected,
    }
}

fn positive(value: usize) -> Option<usize> {
    (value > 0).then_some(value)
}

/// The unit a duration setting is written in.
#[derive(Clone, Copy)]
enum Unit {
    Millis,
    Seconds,
}

fn duration(
    source: &Source,
    names: (&str, &str, &str),
    default: u64,
    unit: Unit,
) -> Result<Duration, ConfigError> {
    Ok(match unit {
        Unit::Millis => Duration::from_millis(positive_duration(
            source,
            names,
            default,
            "a whole number of milliseconds above 0",
        )?),
        Unit::Seconds => Duration::from_secs(positive_duration(
            source,
            names,
            default,
            "a whole number of seconds above 0 (at most ten years)",
        )?),
    })
}

/// A count of time units above 0 and at most ten years' worth of seconds.
fn positive_duration(
    source: &Source,
    (env, section, key): (&str, &str, &str),
    default: u64,
    expected: &'static str,
) -> Result<u64, ConfigError> {
    let value: u64 = source.parse(env, section, key, default, expected)?;
    if value == 0 || value > 10 * 365 * 24 * 3600 {
        return Err(source.invalid(env, section, key, expected));
    }
    Ok(value)
}

/// One setting's sources: the environment first, then the file.
struct Source<'a> {
    file: &'a toml::Table,
    env: &'a HashMap<String, String>,
}

impl Source<'_> {
    /// The raw text of a setting and the name to blame when it is wrong.
    fn raw(&self, env: &str, section: &str, key: &str) -> Option<(String, String)> {
        if let Some(value) = self.env.get(env).filter(|v| !v.is_empty()) {
            return Some((env.to_string(), value.clone()));
        }
        let value = self.file.get(section)?.as_table()?.get(key)?;
        let text = match value {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Some((
            format!("{key} in [{section}] of Leptos.toml (or {env})"),
            text,
        ))
    }

    fn parse<T: FromStr>(
        &self,
        env: &str,
        section: &str,
        key: &str,
        default: T,
        expected: &'static str,
    ) -> Result<T, ConfigError> {
        match self.raw(env, section, key) {
            None => Ok(default),
            Some((name, value)) => value
                .trim()
                .parse()
                .map_err(|_| invalid(name, value, expected)),
        }
    }

    fn invalid(&self, env: &str, section: &str, key: &str, expected: &'static str) -> ConfigError {
        let (name, value) = self
            .raw(env, section, key)
            .unwrap_or_else(|| (env.to_string(), String::new()));
        invalid(name, value, expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::parse("", &env, |_| Ok(SecretString::from("x".repeat(40))))
    }

    #[test]
    fn defaults_follow_the_seed() {
        let settings = parse(&[]).unwrap();
        assert_eq!(settings.session.idle_timeout, Duration::from_secs(604800));
        assert_eq!(settings.environment, Environment::Development);
        assert!(!settings.session.cookie_secure);
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        for (name, value) in [
            ("REDIS_PORT", "abc"),
            ("SESSION_TTL_SECONDS", "0"),
            ("REDIS_POOL_SIZE", "0"),
            ("REDIS_URL", "http//nope"),
            ("LEPTOS_SITE_ADDR", "localhost"),
        ] {
            let err = parse(&[(name, value)]).unwrap_err().to_string();
            assert!(err.starts_with(name), "{name}: {err}");
        }
    }

    #[test]
    fn secrets_never_print() {
        let settings = parse(&[("REDIS_URL", "redis://u:hunter2hunter2@db:6379/0")]).unwrap();
        let printed = format!("{settings:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!printed.contains(&"x".repeat(40)), "{printed}");
        let err = parse(&[("REDIS_URL", "ftp://u:hunter2@db")])
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn production_refuses_to_start_without_a_secret() {
        let err = parse(&[("LEPTOS_ENV", "PROD")]).unwrap_err();
        assert!(matches!(err, ConfigError::MissingSecret));
        let settings =
            parse(&[("LEPTOS_ENV", "PROD"), ("SESSION_SECRET", &"s".repeat(32))]).unwrap();
        assert!(settings.session.cookie_secure);
    }
}

//! All settings, read once at start-up into typed structs.
//!
//! Sources, strongest first: environment variables, the configuration file (`SESSIONBOARD_CONFIG`,
//! default `Leptos.toml`), built-in defaults. Every setting is declared once, in `declared.rs`;
//! `sources.rs` layers the sources with figment. Every invalid value stops the start with one
//! message that names the variable (or the file and key) to fix.

mod declared;
mod sources;

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use secrecy::{ExposeSecret, SecretString};

use crate::shared::input::Username;

use declared::Switch;
pub use sources::load_or_create_dev_secret;
use sources::Sources;

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
    pub breaker_failures: u32,
    pub breaker_probe_interval: Duration,
    pub max_waiting_requests: usize,
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
        let secret = match declared::session_secret(env)? {
            Some(secret) => SessionSecret::Configured(secret),
            None if production => return Err(ConfigError::MissingSecret),
            None => SessionSecret::Generated(dev_secret(&server.data_dir)?),
        };
        Ok(Settings {
            environment: server.environment,
            server: ServerSettings {
                site_addr: server.site_addr,
                data_dir: server.data_dir,
            },
            redis: RedisSettings::from_values(redis, env),
            session: SessionSettings::from_values(session, production, secret),
            auth: AuthSettings {
                max_failures_per_user: auth.max_failures_per_user,
                max_failures_per_address: auth.max_failures_per_address,
                failure_window: auth.failure_window_seconds,
                demo_users: declared::demo_users(env)?,
            },
        })
    }
}

impl RedisSettings {
    fn from_values(redis: declared::redis::Values, env: &HashMap<String, String>) -> Self {
        let endpoint = match redis.url {
            Some(url) => RedisEndpoint::Url(url),
            None => RedisEndpoint::Parts {
                host: redis.host,
                port: redis.port,
                username: redis.username,
                password: declared::REDIS_PASSWORD.get(env),
                db: redis.db,
            },
        };
        RedisSettings {
            endpoint,
            pool_size: redis.pool_size,
            connect_timeout: redis.connect_timeout_ms,
            command_timeout: redis.command_timeout_ms,
            startup_wait: redis.startup_wait_seconds,
            key_prefix: redis.key_prefix,
            breaker_failures: redis.breaker_timeouts,
            breaker_probe_interval: redis.breaker_probe_interval_ms,
            max_waiting_requests: redis.max_waiting_requests,
        }
    }
}

impl SessionSettings {
    fn from_values(
        session: declared::session::Values,
        production: bool,
        secret: SessionSecret,
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
            absolute_timeout: session.absolute_timeout_seconds,
            refresh_fraction: session.refresh_fraction,
            cookie_name: session
                .cookie_name
                .unwrap_or_else(|| default_name.to_string()),
            cookie_secure,
            cookie_same_site: session.cookie_same_site,
            secret,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(
        file: Option<(&str, &str)>,
        env: &[(&str, &str)],
    ) -> Result<Settings, ConfigError> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let secret = |_: &Path| Ok(SecretString::from("x".repeat(40)));
        Settings::parse(file, &env.collect(), secret)
    }

    fn parse(env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        parse_with(None, env)
    }

    fn port(settings: &Settings) -> u16 {
        match settings.redis.endpoint {
            RedisEndpoint::Parts { port, .. } => port,
            RedisEndpoint::Url(_) => panic!("expected host and port"),
        }
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

    #[test]
    fn the_file_fills_in_what_the_environment_leaves_unset() {
        let file = "[redis]\nport = 6380\n[session]\nrefresh_fraction = \"0.25\"\n";
        let settings = parse_with(Some(("conf/app.toml", file)), &[("REDIS_PORT", "")]).unwrap();
        assert_eq!(port(&settings), 6380);
        assert_eq!(settings.session.refresh_fraction, 0.25);
        assert_eq!(settings.redis.pool_size, 4);
    }

    #[test]
    fn the_environment_beats_the_file() {
        let file = Some(("conf/app.toml", "[redis]\nport = 6380\n"));
        let settings = parse_with(file, &[("REDIS_PORT", "6381")]).unwrap();
        assert_eq!(port(&settings), 6381);
    }

    #[test]
    fn a_bad_file_value_names_the_file_and_the_key() {
        let name = "port in [redis] of /etc/sb/custom.toml (or REDIS_PORT)";
        for (text, value) in [("\"abc\"", "abc"), ("0", "0"), ("[1]", "(a list)")] {
            let file = format!("[redis]\nport = {text}");
            let err = parse_with(Some(("/etc/sb/custom.toml", &file)), &[]).unwrap_err();
            let expected = format!("{name}={value:?} is not valid: expected a TCP port (1-65535)");
            assert_eq!(err.to_string(), expected);
        }
    }

    #[test]
    fn a_toml_syntax_error_names_the_given_path() {
        let err = parse_with(Some(("conf/other.toml", "[redis\nport = 1")), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("could not read the configuration file conf/other.toml: "),
            "{err}"
        );
        assert!(!err.contains("Leptos.toml") && !err.contains('\n'), "{err}");
    }

    #[test]
    fn secrets_never_come_from_the_file() {
        let file = format!("[session]\nsecret = \"{}\"\n", "s".repeat(40));
        let err = parse_with(Some(("app.toml", &file)), &[("LEPTOS_ENV", "prod")]).unwrap_err();
        assert!(matches!(err, ConfigError::MissingSecret), "{err}");
        let file = "[redis]\nurl = \"redis://u:hunter2@db:6379/0\"\n";
        let err = parse_with(Some(("app.toml", file)), &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("url in [redis] of app.toml (or REDIS_URL)="),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn the_dev_secret_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("sessionboard-config-{}", std::process::id()));
        let path = dir.join(sources::DEV_SECRET_FILE);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&path, "too short").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

        let secret = load_or_create_dev_secret(&dir).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        let again = load_or_create_dev_secret(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        assert!(secret.expose_secret().len() >= MIN_SECRET_LEN);
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(secret.expose_secret(), again.expose_secret());
    }
}

//! All settings, read once at start-up into typed structs.
//!
//! Sources, strongest first: environment variables, the configuration file (`SESSIONBOARD_CONFIG`,
//! default `Leptos.toml`), built-in defaults. Each setting is declared once, in `declared.rs`;
//! `sources.rs` layers the sources with figment. Secrets come from the environment alone (never
//! through figment, whose layers include the file, which gets copied, backed up and committed)
//! and never print. Every invalid value stops the start with one message that names the variable
//! (or the file and key) to fix.

mod declared;
mod dev_secret;
mod read;
mod sources;
mod topology;

use std::{collections::HashMap, net::SocketAddr, path::Path};

use secrecy::SecretString;
use serde::Deserialize;

use crate::{
    server::allowed_hosts::AllowedHosts,
    shared::input::{Password, Username},
};

pub use declared::{
    AuthSettings, Environment, LogFormat, RedisSettings, SameSite, ServerSettings, SessionSettings,
};
pub use dev_secret::load_or_create_dev_secret;
use sources::Sources;

/// Why the settings cannot be used, naming the variable (or file and key) to fix: found while
/// reading them, or only on connecting Redis with them (a TLS file, a credential the handshake
/// cannot carry). Redis refusing what it was given is a `RedisError`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}={value:?} is not valid: expected {expected}")]
    Invalid {
        name: String,
        value: String,
        expected: String,
    },
    #[error("SESSION_SECRET is not set: production (LEPTOS_ENV=PROD) needs a secret of at least {MIN_SECRET_LEN} characters to sign session cookies")]
    MissingSecret,
    #[error("could not read the configuration file {path}: {reason}")]
    File { path: String, reason: String },
    /// Values that are each valid but do not fit together, or that Redis cannot work with; the
    /// text names the variables.
    #[error("{0}")]
    Conflict(String),
    #[error("could not keep the generated development secret in {path}: {reason}")]
    DevSecret { path: String, reason: String },
}

impl ConfigError {
    fn invalid(name: impl Into<String>, shown: impl Into<String>, expected: &str) -> Self {
        ConfigError::Invalid {
            name: name.into(),
            value: shown.into(),
            expected: expected.to_string(),
        }
    }
}

pub const MIN_SECRET_LEN: usize = 32;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub redis: RedisSettings,
    pub session: SessionSettings,
    pub auth: AuthSettings,
}

const CONFIG_FILE_VARIABLE: &str = "SESSIONBOARD_CONFIG";
const DEFAULT_CONFIG_FILE: &str = "Leptos.toml";

/// The settings read from the environment only; each is documented like the others.
#[cfg(test)]
const ENV_ONLY: [&str; 4] = [
    "SESSION_SECRET",
    "SESSION_SECRET_PREVIOUS",
    "REDIS_PASSWORD",
    "DEMO_USERS",
];

impl Settings {
    /// Reads the configuration file and the process environment, and creates the development
    /// secret when it is needed.
    pub fn load() -> Result<Settings, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let path = env_value(&env, CONFIG_FILE_VARIABLE).unwrap_or(DEFAULT_CONFIG_FILE);
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
        let mut settings = Sources::new(file, env)?.settings()?;
        let production = settings.server.environment == Environment::Production;
        let server = &mut settings.server;
        if !server.metrics_enabled {
            server.metrics_addr = None;
        }
        let proxies = std::mem::take(&mut server.trusted_proxies);
        server.trusted_proxies = proxies.reading(server.trusted_proxy_header);
        if server.allowed_hosts == AllowedHosts::default() {
            server.allowed_hosts = AllowedHosts::default_for(server.site_addr, !production)
                .ok_or_else(|| no_host_names(server.site_addr))?;
        }
        let session = &mut settings.session;
        session.cookie_secure = session.chosen_cookie_secure.unwrap_or(production);
        session.secret = match env_value(env, "SESSION_SECRET") {
            Some(text) => long_secret("SESSION_SECRET", text, "at least 32 characters")?,
            None if production => return Err(ConfigError::MissingSecret),
            None => dev_secret(&settings.server.data_dir)?,
        };
        // Secrets cookies may still be signed with after a rotation: `old1,old2`.
        let previous = env_value(env, "SESSION_SECRET_PREVIOUS").unwrap_or_default();
        let expected = "secrets of at least 32 characters, separated by commas";
        session.previous_secrets = (previous.split(',').map(str::trim))
            .filter(|text| !text.is_empty())
            .map(|text| long_secret("SESSION_SECRET_PREVIOUS", text, expected))
            .collect::<Result<_, _>>()?;
        settings.redis.password = env_value(env, "REDIS_PASSWORD").map(SecretString::from);
        // Client tracking needs RESP3; the pool speaks it only for the near cache.
        settings.redis.resp3 = session.near_cache;
        topology::check(&settings.redis)?;
        settings.auth.demo_users = demo_users(env)?;
        Ok(settings)
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

/// A variable's value; an empty one counts as unset, as for every other setting.
fn env_value<'a>(env: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    env.get(name)
        .map(String::as_str)
        .filter(|value| !value.is_empty())
}

fn long_secret(name: &str, text: &str, expected: &str) -> Result<SecretString, ConfigError> {
    match text.chars().count() < MIN_SECRET_LEN {
        true => Err(ConfigError::invalid(name, "(hidden)", expected)),
        false => Ok(SecretString::from(text)),
    }
}

/// `DEMO_USERS=alice:password1,bob:password2`. An error may name a user, never a password.
fn demo_users(env: &HashMap<String, String>) -> Result<Vec<(Username, SecretString)>, ConfigError> {
    let list = env_value(env, "DEMO_USERS").filter(|list| !list.trim().is_empty());
    let expected = "name:password pairs separated by commas (names of 3-32 a-z 0-9 . _ -, \
                    passwords of 8-128 characters)";
    let invalid = |shown: &str| ConfigError::invalid("DEMO_USERS", shown, expected);
    (list.into_iter().flat_map(|list| list.split(',')))
        .map(|pair| {
            let (name, password) = pair.split_once(':').ok_or_else(|| invalid("(hidden)"))?;
            let name = Username::parse(name).map_err(|_| invalid(&format!("user {name:?}")))?;
            Password::new_checked(password.to_string())
                .map_err(|_| invalid(&format!("password of {:?}", name.as_str())))?;
            Ok((name, SecretString::from(password)))
        })
        .collect()
}

#[cfg(test)]
mod documented;
#[cfg(test)]
mod tests;

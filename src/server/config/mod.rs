//! All settings, read once at start-up into typed structs.
//!
//! Sources, strongest first: environment variables, the configuration file (`SESSIONBOARD_CONFIG`,
//! default `Leptos.toml`), built-in defaults. Each setting is declared once, in `declared.rs`;
//! `sources.rs` layers the sources with figment; secrets come from the environment alone
//! (`env_only.rs`). Every invalid value stops the start with one message that names the
//! variable (or the file and key) to fix.

mod declared;
mod dev_secret;
mod env_only;
mod error;
mod read;
mod sources;
mod topology;

use std::{collections::HashMap, net::SocketAddr, path::Path};

use secrecy::SecretString;
use serde::Deserialize;

use crate::server::allowed_hosts::AllowedHosts;

pub use declared::{
    AuthSettings, Environment, LogFormat, RedisSettings, SameSite, ServerSettings, SessionSettings,
};
pub use dev_secret::load_or_create_dev_secret;
pub use error::{ConfigError, MIN_SECRET_LEN};
use sources::Sources;
pub use topology::Topology;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub redis: RedisSettings,
    pub session: SessionSettings,
    pub auth: AuthSettings,
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
        session.secret = match env_only::session_secret(env)? {
            Some(secret) => secret,
            None if production => return Err(ConfigError::MissingSecret),
            None => dev_secret(&settings.server.data_dir)?,
        };
        session.previous_secrets = env_only::previous_secrets(env)?;
        let redis = &mut settings.redis;
        redis.password = env_only::get(env, env_only::REDIS_PASSWORD);
        redis.sentinel_password = env_only::get(env, env_only::REDIS_SENTINEL_PASSWORD);
        // Client tracking needs RESP3; the pool speaks it only for the near cache.
        redis.resp3 = session.near_cache;
        topology::check(redis)?;
        settings.auth.demo_users = env_only::demo_users(env)?;
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

#[cfg(test)]
mod documented;
#[cfg(test)]
mod tests;

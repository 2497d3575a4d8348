//! From our settings to fred's `Config`. fred reads a URL itself (one server, a cluster or a
//! sentinel group, with its credentials, database and the sentinels' own `sentinelUsername` /
//! `sentinelPassword`); the host/port settings make a centralized one.

use fred::{
    prelude::{Config, ServerConfig},
    types::config::ClusterDiscoveryPolicy,
};
use secrecy::ExposeSecret;

use super::{failure, tls};
use crate::server::config::{ConfigError, RedisSettings};

/// Where Redis is and who we are to it, without TLS.
fn servers(settings: &RedisSettings) -> Result<Config, ConfigError> {
    let mut config = match &settings.url {
        Some(url) => Config::from_url(url.expose_secret()).map_err(|err| {
            ConfigError::Conflict(format!("REDIS_URL: {}", failure::safe_text(&err)))
        })?,
        None => Config {
            server: ServerConfig::new_centralized(settings.host.clone(), settings.port),
            username: settings.username.clone(),
            password: (settings.password.as_ref()).map(|p| p.expose_secret().to_string()),
            ..Config::default()
        },
    };
    // `SELECT 0` changes nothing and is one more command a minimal ACL user must be granted.
    if config.database == Some(0) {
        config.database = None;
    }
    Ok(config)
}

pub fn fred_config(settings: &RedisSettings) -> Result<Config, ConfigError> {
    let mut config = servers(settings)?;
    if let ServerConfig::Clustered { policy, .. } = &mut config.server {
        // Reconnecting tries the last known nodes too, not only the seed addresses, so a seed
        // node that is down does not keep the client from the rest of the cluster.
        *policy = ClusterDiscoveryPolicy::UseCache;
    }
    if let Some(tls) = tls::config(settings)? {
        config.tls = Some(tls);
    }
    if settings.resp3 {
        config.version = fred::types::RespVersion::RESP3;
        refuse_unsendable_credentials(&config)?;
    }
    Ok(config)
}

/// The database the app uses (keyspace notifications are per database).
pub fn database(settings: &RedisSettings) -> Result<u8, ConfigError> {
    Ok(servers(settings)?.database.unwrap_or(0))
}

/// fred 10.1 sends RESP3's `HELLO 3 AUTH <user> <password>` as one inline line (redis-protocol
/// 6 writes it so), which Redis splits at whitespace: a credential with a space, a tab or a line
/// break would be refused as a wrong password, or split into other words. Said plainly instead.
fn refuse_unsendable_credentials(config: &Config) -> Result<(), ConfigError> {
    let mut credentials = vec![
        ("user name", &config.username),
        ("password", &config.password),
    ];
    if let ServerConfig::Sentinel {
        username, password, ..
    } = &config.server
    {
        credentials.extend([
            ("sentinel user name", username),
            ("sentinel password", password),
        ]);
    }
    for (what, value) in credentials {
        if value
            .as_deref()
            .is_some_and(|v| v.contains(char::is_whitespace) || v.contains('"'))
        {
            return Err(ConfigError::Conflict(format!(
                "the Redis {what} contains whitespace or a quote, which the RESP3 handshake the \
                 session near cache needs cannot send (REDIS_USERNAME / REDIS_PASSWORD or \
                 REDIS_URL): choose one without, or set SESSION_NEAR_CACHE=false"
            )));
        }
    }
    Ok(())
}

/// Every address we were given, for logs and errors (never credentials).
pub fn describe(settings: &RedisSettings) -> String {
    let Ok(config) = servers(settings) else {
        return "(REDIS_URL)".to_string();
    };
    let hosts = config.server.hosts();
    let list: Vec<String> = hosts
        .iter()
        .map(|s| format!("{}:{}", s.host, s.port))
        .collect();
    let list = list.join(", ");
    match config.server {
        ServerConfig::Clustered { .. } => format!("cluster via {list}"),
        ServerConfig::Sentinel { .. } => format!("sentinels {list}"),
        _ => list,
    }
}

/// The port to suggest in "start Redis" hints.
pub fn first_port(settings: &RedisSettings) -> u16 {
    let config = servers(settings).ok();
    let first = config.and_then(|config| config.server.hosts().first().map(|s| s.port));
    first.unwrap_or(6379)
}

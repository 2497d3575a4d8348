//! From our settings to fred's `Config`: one server, a cluster or a sentinel group, with TLS and
//! credentials, and the per-topology client settings.

use fred::{
    prelude::{Config, ServerConfig},
    types::config::ClusterDiscoveryPolicy,
};
use secrecy::ExposeSecret;

use super::{failure, tls, RedisError};
use crate::server::config::{RedisSettings, Topology};

pub fn fred_config(settings: &RedisSettings) -> Result<Config, RedisError> {
    let mut config = match &settings.url {
        Some(url) => Config::from_url(url.expose_secret()).map_err(|err| {
            RedisError::Config(format!("REDIS_URL: {}", failure::safe_text(&err)))
        })?,
        None => Config {
            server: ServerConfig::new_centralized(settings.host.clone(), settings.port),
            username: settings.username.clone(),
            password: (settings.password.as_ref()).map(|p| p.expose_secret().to_string()),
            database: Some(settings.db),
            ..Config::default()
        },
    };
    if settings.resp3 {
        config.version = fred::types::RespVersion::RESP3;
    }
    // `SELECT 0` changes nothing and is one more command a minimal ACL user must be granted.
    if config.database == Some(0) {
        config.database = None;
    }
    if let ServerConfig::Sentinel {
        username, password, ..
    } = &mut config.server
    {
        if let Some(name) = &settings.sentinel_username {
            *username = Some(name.clone());
        }
        if let Some(secret) = &settings.sentinel_password {
            *password = Some(secret.expose_secret().to_string());
        }
    }
    if let ServerConfig::Clustered { policy, .. } = &mut config.server {
        // Reconnecting tries the last known nodes too, not only the seed addresses, so a seed
        // node that is down does not keep the client from the rest of the cluster.
        *policy = ClusterDiscoveryPolicy::UseCache;
    }
    if let Some(tls) = tls::config(settings)? {
        config.tls = Some(tls);
    }
    if settings.resp3 {
        refuse_unsendable_credentials(&config)?;
    }
    Ok(config)
}

/// fred 10.1 sends RESP3's `HELLO 3 AUTH <user> <password>` as one inline line (redis-protocol
/// 6 writes it so), which Redis splits at whitespace: a credential with a space, a tab or a line
/// break would be refused as a wrong password, or split into other words. Said plainly instead.
fn refuse_unsendable_credentials(config: &Config) -> Result<(), RedisError> {
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
            return Err(RedisError::Config(format!(
                "the Redis {what} contains whitespace or a quote, which the RESP3 handshake the \
                 session near cache needs cannot send (REDIS_USERNAME / REDIS_PASSWORD, their \
                 REDIS_SENTINEL_ twins, or REDIS_URL): choose one without, or set \
                 SESSION_NEAR_CACHE=false"
            )));
        }
    }
    Ok(())
}

/// Every address we were given, for logs and errors (never credentials).
pub fn describe(settings: &RedisSettings) -> String {
    let servers = match &settings.url {
        None => return format!("{}:{}", settings.host, settings.port),
        Some(_) => match fred_config(settings).map(|config| config.server) {
            Ok(ServerConfig::Centralized { server }) => vec![server],
            Ok(ServerConfig::Clustered { hosts, .. }) => hosts,
            Ok(ServerConfig::Sentinel { hosts, .. }) => hosts,
            _ => return "(REDIS_URL)".to_string(),
        },
    };
    let list: Vec<String> = servers
        .iter()
        .map(|s| format!("{}:{}", s.host, s.port))
        .collect();
    match settings.topology() {
        Topology::Single => list.join(", "),
        Topology::Cluster => format!("cluster via {}", list.join(", ")),
        Topology::Sentinel => format!("sentinels {}", list.join(", ")),
    }
}

/// The port to suggest in "start Redis" hints.
pub fn first_port(settings: &RedisSettings) -> u16 {
    match &settings.url {
        None => settings.port,
        Some(url) => url::Url::parse(url.expose_secret())
            .ok()
            .and_then(|url| url.port())
            .unwrap_or(6379),
    }
}

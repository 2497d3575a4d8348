//! Which Redis deployment the settings describe — one server, a cluster or a sentinel group —
//! and the checks that need more than one setting at a time.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::{ConfigError, RedisEndpoint, RedisSettings};

/// How the app reaches its Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    Single,
    Cluster,
    Sentinel,
}

impl Topology {
    pub fn of(endpoint: &RedisEndpoint) -> Topology {
        let RedisEndpoint::Url(url) = endpoint else {
            return Topology::Single;
        };
        let scheme = url.expose_secret().split(':').next().unwrap_or_default();
        if scheme.ends_with("-cluster") {
            Topology::Cluster
        } else if scheme.ends_with("-sentinel") {
            Topology::Sentinel
        } else {
            Topology::Single
        }
    }
}

/// TLS beyond what the URL scheme says: the host/port form's switch and the files for a private
/// CA and a client certificate.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// `REDIS_TLS`: for the host/port form; a URL says it with `rediss`.
    pub enabled: bool,
    pub ca_file: Option<PathBuf>,
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
}

impl RedisSettings {
    pub fn topology(&self) -> Topology {
        Topology::of(&self.endpoint)
    }

    /// True when the connection is encrypted: a `rediss` URL, or `REDIS_TLS` with host and port.
    pub fn uses_tls(&self) -> bool {
        match &self.endpoint {
            RedisEndpoint::Url(url) => url.expose_secret().starts_with("rediss"),
            RedisEndpoint::Parts { .. } => self.tls.enabled,
        }
    }
}

fn conflict(text: &str) -> ConfigError {
    ConfigError::Conflict(text.to_string())
}

/// Settings that are each valid but do not work together.
pub(super) fn check(settings: &RedisSettings) -> Result<(), ConfigError> {
    let url = match &settings.endpoint {
        RedisEndpoint::Url(url) => Url::parse(url.expose_secret()).ok(),
        RedisEndpoint::Parts { .. } => None,
    };
    if url.is_some() && settings.tls.enabled {
        return Err(conflict("REDIS_TLS is for REDIS_HOST/REDIS_PORT; with REDIS_URL say TLS in the scheme (rediss://, rediss-cluster://, rediss-sentinel://)"));
    }
    let database = url
        .as_ref()
        .map(|url| url.path().trim_matches('/').to_string());
    let database = database.filter(|db| !db.is_empty() && db != "0");
    if settings.topology() == Topology::Cluster && database.is_some() {
        return Err(conflict(
            "REDIS_URL: a Redis Cluster has only database 0; remove the /<database> from the URL",
        ));
    }
    if settings.topology() != Topology::Sentinel
        && (settings.sentinel_username.is_some() || settings.sentinel_password.is_some())
    {
        return Err(conflict("REDIS_SENTINEL_USERNAME / REDIS_SENTINEL_PASSWORD are set but REDIS_URL is not a redis-sentinel:// or rediss-sentinel:// URL"));
    }
    let tls = &settings.tls;
    let files = [
        ("REDIS_TLS_CA_FILE", &tls.ca_file),
        ("REDIS_TLS_CLIENT_CERT_FILE", &tls.client_cert_file),
        ("REDIS_TLS_CLIENT_KEY_FILE", &tls.client_key_file),
    ];
    if let Some((name, _)) = files.iter().find(|(_, file)| file.is_some()) {
        if !settings.uses_tls() {
            return Err(ConfigError::Conflict(format!("{name} is set but the connection to Redis is not TLS: set REDIS_TLS=true (with REDIS_HOST/REDIS_PORT) or use a rediss:// URL")));
        }
    }
    if tls.client_cert_file.is_some() != tls.client_key_file.is_some() {
        return Err(conflict("REDIS_TLS_CLIENT_CERT_FILE and REDIS_TLS_CLIENT_KEY_FILE go together: set both or neither"));
    }
    Ok(())
}

/// The schemes fred reads: plain or TLS, to one server, a cluster or a sentinel group.
pub const REDIS_SCHEMES: &[&str] = &[
    "redis",
    "rediss",
    "redis-cluster",
    "rediss-cluster",
    "redis-sentinel",
    "rediss-sentinel",
];

pub(super) fn redis_url(value: String) -> Option<SecretString> {
    let url = Url::parse(&value).ok()?;
    let usable = REDIS_SCHEMES.contains(&url.scheme()) && url.host_str().is_some();
    let sentinel = url.scheme().ends_with("-sentinel");
    let named = url
        .query_pairs()
        .any(|(key, value)| key == SENTINEL_SERVICE && !value.is_empty());
    (usable && named == sentinel).then(|| SecretString::from(value))
}

const SENTINEL_SERVICE: &str = "sentinelServiceName";
const SENTINEL_PASSWORD_QUERY: &str = "sentinelPassword";

pub(super) fn has_password(value: &str) -> bool {
    Url::parse(value).is_ok_and(|url| {
        url.password().is_some()
            || url
                .query_pairs()
                .any(|(key, _)| key == SENTINEL_PASSWORD_QUERY)
    })
}

/// A URL with any password replaced, fit for an error message.
pub(super) fn redacted_url(value: &str) -> String {
    match Url::parse(value) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(key, value)| match key == SENTINEL_PASSWORD_QUERY {
                    true => (key.into_owned(), "***".to_string()),
                    false => (key.into_owned(), value.into_owned()),
                })
                .collect();
            if !pairs.is_empty() {
                url.query_pairs_mut().clear().extend_pairs(pairs);
            }
            url.to_string()
        }
        Err(_) if value.contains('@') => "(hidden: it contains credentials)".to_string(),
        Err(_) => value.to_string(),
    }
}

//! The Redis settings that need more than one value at a time, and the URL forms fred reads.

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::{ConfigError, RedisSettings};

impl RedisSettings {
    /// True when the connection is encrypted: a `rediss` URL, or `REDIS_TLS` with host and port.
    pub fn uses_tls(&self) -> bool {
        match &self.url {
            Some(url) => url.expose_secret().starts_with("rediss"),
            None => self.tls,
        }
    }
}

fn conflict(text: &str) -> ConfigError {
    ConfigError::Conflict(text.to_string())
}

/// Settings that are each valid but do not work together.
pub(super) fn check(settings: &RedisSettings) -> Result<(), ConfigError> {
    let url = (settings.url.as_ref()).and_then(|url| Url::parse(url.expose_secret()).ok());
    if let Some(url) = url {
        if settings.tls {
            return Err(conflict("REDIS_TLS is for REDIS_HOST/REDIS_PORT; with REDIS_URL say TLS in the scheme (rediss://, rediss-cluster://, rediss-sentinel://)"));
        }
        let database = url.path().trim_matches('/');
        if url.scheme().ends_with("-cluster") && !matches!(database, "" | "0") {
            return Err(conflict(
                "REDIS_URL: a Redis Cluster has only database 0; remove the /<database> from the URL",
            ));
        }
    }
    let files = [
        ("REDIS_TLS_CA_FILE", &settings.tls_ca_file),
        ("REDIS_TLS_CLIENT_CERT_FILE", &settings.tls_client_cert_file),
        ("REDIS_TLS_CLIENT_KEY_FILE", &settings.tls_client_key_file),
    ];
    let named = files.iter().find(|(_, file)| file.is_some());
    if let Some((name, _)) = named.filter(|_| !settings.uses_tls()) {
        return Err(ConfigError::Conflict(format!("{name} is set but the connection to Redis is not TLS: set REDIS_TLS=true (with REDIS_HOST/REDIS_PORT) or use a rediss:// URL")));
    }
    if settings.tls_client_cert_file.is_some() != settings.tls_client_key_file.is_some() {
        return Err(conflict("REDIS_TLS_CLIENT_CERT_FILE and REDIS_TLS_CLIENT_KEY_FILE go together: set both or neither"));
    }
    Ok(())
}

pub const URL_FORMS: &str = "a URL like redis://host:6379/0, rediss://user:password@host:6380, \
redis-cluster://host:7000?node=host:7001 or redis-sentinel://host:26379?sentinelServiceName=NAME&node=host:26380";

const SENTINEL_SERVICE: &str = "sentinelServiceName";
const SENTINEL_PASSWORD_QUERY: &str = "sentinelPassword";

/// A URL fred reads: plain or TLS (`rediss`), to one server, a cluster or a sentinel group, which
/// a sentinel URL names.
pub(super) fn redis_url(value: &str) -> Option<SecretString> {
    let url = Url::parse(value).ok()?;
    let scheme = url.scheme();
    let kind = (scheme.strip_prefix("rediss")).or_else(|| scheme.strip_prefix("redis"));
    let usable = matches!(kind, Some("" | "-cluster" | "-sentinel")) && url.host_str().is_some();
    let named = url
        .query_pairs()
        .any(|(key, value)| key == SENTINEL_SERVICE && !value.is_empty());
    (usable && named == (kind == Some("-sentinel"))).then(|| SecretString::from(value))
}

pub(super) fn has_password(value: &str) -> bool {
    Url::parse(value).is_ok_and(|url| {
        url.password().is_some()
            || url
                .query_pairs()
                .any(|(key, _)| key == SENTINEL_PASSWORD_QUERY)
    })
}

/// Any value fit for an error message: a URL with its passwords replaced, anything else that
/// may hold credentials hidden.
pub(super) fn redacted(value: &str) -> String {
    if !value.contains('@') && !has_password(value) {
        return value.to_string();
    }
    let Ok(mut url) = Url::parse(value) else {
        return "(hidden: it contains credentials)".to_string();
    };
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

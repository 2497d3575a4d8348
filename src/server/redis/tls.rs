//! The TLS connector: the system's CAs, or a private CA from `REDIS_TLS_CA_FILE`, plus an
//! optional client certificate for servers started with `tls-auth-clients yes`.

use std::{path::Path, sync::Arc};

use fred::types::config::{TlsConfig, TlsConnector};
use rustls::{
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    ClientConfig, RootCertStore,
};

use crate::server::config::{ConfigError, RedisSettings};

fn unreadable(variable: &str, path: &Path, why: impl std::fmt::Display) -> ConfigError {
    ConfigError::Conflict(format!(
        "{variable}={:?} could not be read as PEM: {why}",
        path.display().to_string()
    ))
}

fn certificates(variable: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|err| unreadable(variable, path, err))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| unreadable(variable, path, err))?;
    if certs.is_empty() {
        return Err(unreadable(variable, path, "no CERTIFICATE block in it"));
    }
    Ok(certs)
}

/// The connector for a TLS connection; `None` leaves fred's choice from the URL scheme alone.
pub fn config(settings: &RedisSettings) -> Result<Option<TlsConfig>, ConfigError> {
    let custom = settings.tls_ca_file.is_some() || settings.tls_client_cert_file.is_some();
    if !settings.uses_tls() {
        return Ok(None);
    }
    if !custom {
        let connector = TlsConnector::default_rustls().map_err(|err| {
            ConfigError::Conflict(format!(
                "the system's CA certificates could not be read ({}); set REDIS_TLS_CA_FILE",
                err.details()
            ))
        })?;
        return Ok(Some(connector.into()));
    }
    let mut roots = RootCertStore::empty();
    match &settings.tls_ca_file {
        Some(path) => {
            for cert in certificates("REDIS_TLS_CA_FILE", path)? {
                roots
                    .add(cert)
                    .map_err(|err| unreadable("REDIS_TLS_CA_FILE", path, err))?;
            }
        }
        None => {
            let system = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(system.certs);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| ConfigError::Conflict(format!("TLS set-up failed: {err}")))?
        .with_root_certificates(roots);
    let client = match (
        &settings.tls_client_cert_file,
        &settings.tls_client_key_file,
    ) {
        (Some(cert), Some(key)) => {
            let chain = certificates("REDIS_TLS_CLIENT_CERT_FILE", cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|err| unreadable("REDIS_TLS_CLIENT_KEY_FILE", key, err))?;
            builder.with_client_auth_cert(chain, key).map_err(|err| {
                ConfigError::Conflict(format!("REDIS_TLS_CLIENT_CERT_FILE and REDIS_TLS_CLIENT_KEY_FILE do not make a usable pair: {err}"))
            })?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Some(TlsConnector::from(client).into()))
}

//! Which setting to fix when connecting fails. The error itself is logged only as the session
//! store's `StoreError` puts it: a reply's code and an explanation, never its arguments.

use fred::error::{Error, ErrorKind};
use tower_sessions_fred_store::StoreError;

/// A one-line description of `err` that never carries command arguments or reply values.
pub fn safe_text(err: &Error) -> String {
    StoreError::from(err.clone()).to_string()
}

/// Why a connection or a command failed, as far as fixing it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFailure {
    /// `WRONGPASS` / `NOAUTH`: the credentials are wrong.
    Credentials,
    /// `NOPERM`: the ACL user may not run a command or touch a key.
    Permission,
    /// The TLS handshake failed: unknown CA, bad or missing client certificate.
    Certificate,
    /// Anything else: the server is away, slow, failing over…
    Other,
}

pub fn classify(err: &Error) -> ConnectFailure {
    let details = err.details();
    let code = StoreError::from(err.clone())
        .reply_code()
        .unwrap_or_default()
        .to_string();
    let code = code.as_str();
    if matches!(err.kind(), ErrorKind::Auth) || matches!(code, "WRONGPASS" | "NOAUTH") {
        ConnectFailure::Credentials
    } else if code == "NOPERM" {
        ConnectFailure::Permission
    } else if matches!(err.kind(), ErrorKind::Tls) || is_tls_text(details) {
        ConnectFailure::Certificate
    } else {
        ConnectFailure::Other
    }
}

fn is_tls_text(details: &str) -> bool {
    let lower = details.to_ascii_lowercase();
    [
        "certificate",
        "unknownissuer",
        "tls",
        "handshake",
        "received fatal alert",
    ]
    .iter()
    .any(|word| lower.contains(word))
}

/// For a failure that waiting cannot cure, the settings to look at.
pub fn fix(failure: ConnectFailure) -> Option<&'static str> {
    match failure {
        ConnectFailure::Credentials => Some("Check REDIS_USERNAME and REDIS_PASSWORD, or the user:password in REDIS_URL (and the URL's sentinelUsername / sentinelPassword for the sentinels)."),
        ConnectFailure::Permission => Some("The ACL user lacks a command or a key: grant it as in docs/operations.md \"Redis topologies\" (ACL SETUSER … ~<REDIS_KEY_PREFIX>* …), or fix REDIS_KEY_PREFIX / REDIS_USERNAME."),
        ConnectFailure::Certificate => Some("Check REDIS_TLS_CA_FILE (the CA that signed the server's certificate), REDIS_TLS_CLIENT_CERT_FILE and REDIS_TLS_CLIENT_KEY_FILE (when the server requires a client certificate), and that the host name matches the certificate."),
        ConnectFailure::Other => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_permission_is_told_apart() {
        let err = Error::new(
            ErrorKind::Unknown,
            "NOPERM User app has no permissions to run the 'select' command",
        );
        assert_eq!(classify(&err), ConnectFailure::Permission);
    }

    #[test]
    fn credentials_and_certificates_are_told_apart() {
        let wrong = Error::new(ErrorKind::Auth, "WRONGPASS invalid username-password pair");
        assert_eq!(classify(&wrong), ConnectFailure::Credentials);
        let tls = Error::new(ErrorKind::IO, "invalid peer certificate: UnknownIssuer");
        assert_eq!(classify(&tls), ConnectFailure::Certificate);
        assert_eq!(safe_text(&tls), "invalid peer certificate: UnknownIssuer");
        let refused = Error::new(ErrorKind::IO, "Connection refused (os error 111)");
        assert_eq!(classify(&refused), ConnectFailure::Other);
    }
}

//! What a fred error means for us, in words safe to log.
//!
//! A server's reply can quote the command it refuses (`ERR unknown command 'x', with args
//! beginning with: …`), and fred's own text can carry a reply value, so neither is ever printed
//! as it is: server replies keep their error code and a known explanation, client-side errors
//! (I/O, TLS, timeouts) keep their text, which never holds command arguments.

use fred::error::{Error, ErrorKind};

/// Why a connection or a command failed, as far as fixing it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// `WRONGPASS` / `NOAUTH`: the credentials are wrong.
    Credentials,
    /// `NOPERM`: the ACL user may not run a command or touch a key.
    Permission,
    /// The TLS handshake failed: unknown CA, bad or missing client certificate.
    Certificate,
    /// Anything else: the server is away, slow, failing over…
    Other,
}

pub fn classify(err: &Error) -> Failure {
    let details = err.details();
    let code = reply_code(details);
    if matches!(err.kind(), ErrorKind::Auth) || matches!(code, "WRONGPASS" | "NOAUTH") {
        Failure::Credentials
    } else if code == "NOPERM" {
        Failure::Permission
    } else if matches!(err.kind(), ErrorKind::Tls) || is_tls_text(details) {
        Failure::Certificate
    } else {
        Failure::Other
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

/// The leading upper-case error code of a server reply (`NOPERM`, `MOVED`…), if any.
fn reply_code(details: &str) -> &str {
    let word = details.split_whitespace().next().unwrap_or_default();
    let is_code = word.len() >= 3
        && word
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if is_code {
        word
    } else {
        ""
    }
}

/// Words for a server reply code that explain it without quoting the reply.
fn explain(code: &str) -> &'static str {
    match code {
        "WRONGPASS" => "wrong user name or password",
        "NOAUTH" => "the server needs a password",
        "NOPERM" => "the ACL user may not run this command or use this key",
        "READONLY" => {
            "the server is a replica (a failover is under way or the address is not the master's)"
        }
        "MOVED" | "ASK" => "the key lives on another cluster node",
        "CLUSTERDOWN" => "the cluster cannot serve this slot (a master is down)",
        "MASTERDOWN" => "the link to the master is down",
        "LOADING" => "the server is loading its data",
        "BUSY" => "a script is running too long",
        "NOSCRIPT" => "the script is not cached",
        "OOM" => "the server is out of memory",
        "NOREPLICAS" => "not enough replicas are connected",
        "TRYAGAIN" => "a slot is being migrated",
        "CROSSSLOT" => "keys of one command live in different slots",
        "WRONGTYPE" => "the key holds another type",
        _ => "the server refused the command",
    }
}

/// A one-line description of `err` that never carries command arguments or reply values.
pub fn safe_text(err: &Error) -> String {
    let details = err.details();
    let code = reply_code(details);
    let client_side = matches!(
        err.kind(),
        ErrorKind::IO | ErrorKind::Timeout | ErrorKind::Canceled | ErrorKind::Tls
    );
    let text = if !code.is_empty() {
        format!("{code}: {}", explain(code))
    } else if client_side {
        details.lines().next().unwrap_or_default().to_string()
    } else {
        format!("{:?} error", err.kind())
    };
    text.chars().take(200).collect()
}

/// For a failure that waiting cannot cure, the settings to look at.
pub fn fix(failure: Failure) -> Option<&'static str> {
    match failure {
        Failure::Credentials => Some("Check REDIS_USERNAME and REDIS_PASSWORD, or the user:password in REDIS_URL (and REDIS_SENTINEL_USERNAME / REDIS_SENTINEL_PASSWORD for the sentinels)."),
        Failure::Permission => Some("The ACL user lacks a command or a key: grant it as in README \"Scaling out\" (ACL SETUSER … ~<REDIS_KEY_PREFIX>* …), or fix REDIS_KEY_PREFIX / REDIS_USERNAME."),
        Failure::Certificate => Some("Check REDIS_TLS_CA_FILE (the CA that signed the server's certificate), REDIS_TLS_CLIENT_CERT_FILE and REDIS_TLS_CLIENT_KEY_FILE (when the server requires a client certificate), and that the host name matches the certificate."),
        Failure::Other => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_replies_keep_their_code_and_lose_their_arguments() {
        let err = Error::new(
            ErrorKind::Unknown,
            "ERR unknown command 'x', with args beginning with: '$argon2id$v=19'",
        );
        let text = safe_text(&err);
        assert_eq!(text, "ERR: the server refused the command");
        let err = Error::new(
            ErrorKind::Unknown,
            "NOPERM User app has no permissions to run the 'select' command",
        );
        assert_eq!(classify(&err), Failure::Permission);
        assert!(!safe_text(&err).contains("select"));
    }

    #[test]
    fn credentials_and_certificates_are_told_apart() {
        let wrong = Error::new(ErrorKind::Auth, "WRONGPASS invalid username-password pair");
        assert_eq!(classify(&wrong), Failure::Credentials);
        let tls = Error::new(ErrorKind::IO, "invalid peer certificate: UnknownIssuer");
        assert_eq!(classify(&tls), Failure::Certificate);
        assert_eq!(safe_text(&tls), "invalid peer certificate: UnknownIssuer");
        let refused = Error::new(ErrorKind::IO, "Connection refused (os error 111)");
        assert_eq!(classify(&refused), Failure::Other);
    }
}

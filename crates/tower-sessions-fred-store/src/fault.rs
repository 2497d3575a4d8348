//! What a failed Redis call says: whether Redis is away ([`Fault::is_outage`]), and a description
//! of the error that is safe to log ([`safe_text`]).
//!
//! A server's reply can quote the command it refuses (`ERR unknown command 'x', with args
//! beginning with: …`), and fred's own text can carry a reply value, so neither is ever printed
//! as it is: server replies keep their error code and a known explanation, client-side errors
//! (I/O, TLS, timeouts) keep their text, which never holds command arguments.

use fred::error::{Error, ErrorKind};

/// What a failed call says about Redis: an outage, or an answer that happened to be an error.
pub(crate) trait Fault {
    /// Redis did not answer (timeout, connection lost), as opposed to answering an error.
    fn is_outage(&self) -> bool;
}

impl Fault for Error {
    /// Only a reply Redis sent about the command itself (wrong type, bad argument, a value that
    /// does not parse) shows Redis is there. Everything else counts against it — fred's own
    /// failures ("Too many failed write attempts", closed connections) included, and so are
    /// replies such as `LOADING` or `BUSY`, which mean it cannot serve yet.
    fn is_outage(&self) -> bool {
        !matches!(
            self.kind(),
            ErrorKind::InvalidArgument
                | ErrorKind::InvalidCommand
                | ErrorKind::Parse
                | ErrorKind::NotFound
        )
    }
}

/// A one-line description of `err` that never carries command arguments or reply values.
pub(crate) fn safe_text(err: &Error) -> String {
    let details = err.details();
    let code = reply_code(details);
    // `ErrorKind::Tls` exists only when fred is built with a TLS feature (the application
    // chooses), so it is recognised by name.
    let client_side = matches!(
        err.kind(),
        ErrorKind::IO | ErrorKind::Timeout | ErrorKind::Canceled
    ) || format!("{:?}", err.kind()) == "Tls";
    let text = if !code.is_empty() {
        format!("{code}: {}", explain(code))
    } else if client_side {
        details.lines().next().unwrap_or_default().to_string()
    } else {
        format!("{:?} error", err.kind())
    };
    text.chars().take(200).collect()
}

/// The leading upper-case error code of a server reply (`NOPERM`, `MOVED`…), if any.
pub(crate) fn reply_code(details: &str) -> &str {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_replies_keep_their_code_and_lose_their_arguments() {
        let err = Error::new(
            ErrorKind::Unknown,
            "ERR unknown command 'x', with args beginning with: '$argon2id$v=19'",
        );
        assert_eq!(safe_text(&err), "ERR: the server refused the command");
        let err = Error::new(
            ErrorKind::Unknown,
            "NOPERM User app has no permissions to run the 'select' command",
        );
        assert!(!safe_text(&err).contains("select"));
        assert_eq!(reply_code(err.details()), "NOPERM");
    }

    #[test]
    fn client_side_errors_keep_their_text_and_count_as_outages() {
        let refused = Error::new(ErrorKind::IO, "Connection refused (os error 111)");
        assert_eq!(safe_text(&refused), "Connection refused (os error 111)");
        assert!(refused.is_outage());
        assert!(!Error::new(ErrorKind::InvalidArgument, "WRONGTYPE").is_outage());
    }
}

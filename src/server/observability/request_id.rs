//! Request ids: `X-Request-Id` when the client (or a proxy in front) sent a usable one, else a
//! fresh UUID (tower-http's `SetRequestIdLayer`); echoed in the response and in every JSON error,
//! so a user can quote it and an operator can find the request's log line.

use axum::{
    body::Body,
    http::{HeaderMap, Request},
};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longer ids are replaced: they would bloat every log line.
const MAX_LEN: usize = 64;

/// Only characters that need no quoting in a log line, a header or a JSON string.
fn usable(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Middleware (`axum::middleware::map_request`), before `SetRequestIdLayer`: an unusable
/// incoming id is dropped, so the layer generates one instead of trusting it.
pub async fn drop_invalid_request_id(mut request: Request<Body>) -> Request<Body> {
    let keep = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .is_none_or(|value| value.to_str().is_ok_and(usable));
    if !keep {
        request.headers_mut().remove(REQUEST_ID_HEADER);
    }
    request
}

/// The request id of a request that passed the request-id layers.
pub fn request_id_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(REQUEST_ID_HEADER)?.to_str().ok()
}

#[cfg(test)]
mod tests {
    use super::usable;

    #[test]
    fn only_short_plain_ids_are_kept() {
        assert!(usable("3f1c-aa_9.x:1"));
        assert!(!usable(""));
        assert!(!usable(&"a".repeat(65)));
        assert!(!usable("a b"));
        assert!(!usable("a\"b"));
        assert!(!usable("ä"));
    }
}

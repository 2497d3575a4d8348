//! Request ids: `X-Request-Id` when the client (or a proxy in front) sent a usable one, else a
//! fresh random UUID (tower-http's `SetRequestIdLayer` with [`FastRequestId`]); echoed in the
//! response and in every JSON error, so a user can quote it and an operator can find the
//! request's log line. tower-http keeps whatever id came in: the check of it is ours.

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, Request},
};
use rand::Rng;
use tower_http::request_id::{MakeRequestId, RequestId};
use uuid::{Builder, Uuid};

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

/// Before `SetRequestIdLayer` (`ServiceBuilder::map_request`): an unusable incoming id is
/// dropped, so the layer generates one instead of trusting it.
pub fn drop_invalid_request_id(mut request: Request<Body>) -> Request<Body> {
    let keep = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .is_none_or(|value| value.to_str().is_ok_and(usable));
    if !keep {
        request.headers_mut().remove(REQUEST_ID_HEADER);
    }
    request
}

/// tower-http's `MakeRequestUuid` from the thread's RNG: a request id names a log line and
/// guards nothing, so it needs no system randomness.
#[derive(Clone, Copy, Debug, Default)]
pub struct FastRequestId;

impl MakeRequestId for FastRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let uuid = Builder::from_random_bytes(rand::thread_rng().gen()).into_uuid();
        let mut text = Uuid::encode_buffer();
        let text = uuid.hyphenated().encode_lower(&mut text);
        HeaderValue::from_str(text).ok().map(RequestId::new)
    }
}

/// The request id of a request that passed the request-id layers.
pub fn request_id_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(REQUEST_ID_HEADER)?.to_str().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_version_4_uuids() {
        let request = Request::new(());
        let id = FastRequestId.make_request_id(&request).expect("an id");
        let uuid = Uuid::parse_str(id.header_value().to_str().expect("text")).expect("a UUID");
        assert_eq!(uuid.get_version_num(), 4);
    }

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

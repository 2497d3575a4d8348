//! Request ids: `X-Request-Id` when the client (or a proxy in front) sent a usable one, else a
//! fresh random UUID (tower-http's `SetRequestIdLayer` with [`FastRequestId`]); echoed in the response and in every JSON error,
//! so a user can quote it and an operator can find the request's log line.

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, Request},
};
use rand::Rng;
use tower_http::request_id::{MakeRequestId, RequestId};

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

/// Makes a version-4 UUID from the thread's RNG: the same shape as tower-http's `MakeRequestUuid`
/// without a `getrandom` system call per request. A request id names a log line; it guards
/// nothing, so it needs no cryptographic randomness.
#[derive(Clone, Copy, Debug, Default)]
pub struct FastRequestId;

impl MakeRequestId for FastRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        HeaderValue::from_bytes(&uuid_v4(rand::thread_rng().gen()))
            .ok()
            .map(RequestId::new)
    }
}

fn uuid_v4(random: u128) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Version 4 in bits 76..80, variant 10 in bits 62..64.
    let version = (random & !(0xf_u128 << 76)) | (0x4_u128 << 76);
    let bits = (version & !(0x3_u128 << 62)) | (0x2_u128 << 62);
    let mut text = [b'-'; 36];
    let mut nibble = 32;
    for (at, slot) in text.iter_mut().enumerate() {
        if matches!(at, 8 | 13 | 18 | 23) {
            continue;
        }
        nibble -= 1;
        *slot = HEX[((bits >> (nibble * 4)) & 0xf) as usize];
    }
    text
}

/// The request id of a request that passed the request-id layers.
pub fn request_id_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(REQUEST_ID_HEADER)?.to_str().ok()
}

#[cfg(test)]
mod tests {
    use super::{usable, uuid_v4};

    #[test]
    fn generated_ids_are_version_4_uuids() {
        let id = uuid_v4(u128::MAX);
        assert_eq!(&id, b"ffffffff-ffff-4fff-bfff-ffffffffffff");
        let id = uuid_v4(0);
        assert_eq!(&id, b"00000000-0000-4000-8000-000000000000");
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

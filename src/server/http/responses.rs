//! The JSON answers of requests no server function takes (a body over the limit or not text, an
//! unknown `/api/…`, a method a route does not serve, a request cut by the timeout), each with a
//! stable code instead of a library's message.

use axum::{
    body::{Body, HttpBody as _},
    extract::Request,
    http::{
        header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE},
        HeaderMap, HeaderValue, StatusCode,
    },
    response::Response,
};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};

use crate::{
    server::{error::error_response, observability::request_id_of},
    shared::error::{ApiError, ErrorCode},
};

/// The largest request body the API reads; its forms hold a note of 200 characters at most.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `{code, message, request_id}` as `application/json`, its status following from the code, with
/// the request id `headers` carry.
pub fn json_error(code: ErrorCode, message: &str, headers: &HeaderMap) -> Response {
    error_response(ApiError::new(code, message), request_id_of(headers))
}

/// Reads the body of an `/api/…` call or a page up to [`MAX_BODY_BYTES`] before the server
/// function sees it: over the limit is a 413 (at once when its length says so), a body that
/// claims to be text but is not UTF-8 a 400.
// The refusal is the answer itself, no larger than the request it replaces.
#[allow(clippy::result_large_err)]
pub async fn checked_body(request: Request) -> Result<Request, Response> {
    if request.body().size_hint().lower() > MAX_BODY_BYTES as u64 {
        return Err(too_large(request.headers()));
    }
    if request.body().is_end_stream() {
        return Ok(request);
    }
    let (parts, body) = request.into_parts();
    let bytes = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.is::<LengthLimitError>() => return Err(too_large(&parts.headers)),
        Err(_) => {
            let message = "The request body could not be read.";
            return Err(json_error(ErrorCode::BadRequest, message, &parts.headers));
        }
    };
    if claims_text(&parts.headers) && std::str::from_utf8(&bytes).is_err() {
        let message = "The request body is not valid UTF-8.";
        return Err(json_error(ErrorCode::BadRequest, message, &parts.headers));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Sent before the body was read, so the connection cannot carry another request, and says so:
/// otherwise a client may send its next request before the close reaches it, and lose it.
fn too_large(headers: &HeaderMap) -> Response {
    let message = format!(
        "The request body is larger than {} KiB.",
        MAX_BODY_BYTES / 1024
    );
    let mut response = json_error(ErrorCode::PayloadTooLarge, &message, headers);
    let close = HeaderValue::from_static("close");
    response.headers_mut().insert(CONNECTION, close);
    response
}

/// Forms, JSON and text are decoded as UTF-8 by the server functions.
fn claims_text(headers: &HeaderMap) -> bool {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-www-form-urlencoded")
        .to_ascii_lowercase();
    [
        "application/x-www-form-urlencoded",
        "application/json",
        "text/",
    ]
    .iter()
    .any(|text| content_type.starts_with(text))
}

/// A method a route does not serve; the router adds the `Allow` header.
pub async fn method_not_allowed(headers: HeaderMap) -> Response {
    let message = "This address does not answer that method.";
    json_error(ErrorCode::MethodNotAllowed, message, &headers)
}

/// The request timeout's bodiless 408 as the JSON error, with the request id and the other
/// headers it carries (so this runs outside the request-id layers).
pub fn explain_timeout(response: Response) -> Response {
    if response.status() != StatusCode::REQUEST_TIMEOUT
        || response.headers().contains_key(CONTENT_TYPE)
    {
        return response;
    }
    let message = "The request took too long and was stopped. Please try again.";
    let mut json = json_error(ErrorCode::RequestTimeout, message, response.headers());
    for (name, value) in response.headers() {
        if name != CONTENT_LENGTH {
            json.headers_mut()
                .entry(name)
                .or_insert_with(|| value.clone());
        }
    }
    json
}

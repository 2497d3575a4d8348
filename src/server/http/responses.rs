//! How the app answers what never reaches a server function: errors as JSON with a stable code
//! (a body over the limit, a body that is not text, an unknown `/api/…`, a method a route does
//! not serve, a request cut by the timeout), and the headers that keep session data out of
//! caches and browsers on https.

use std::time::Duration;

use axum::{
    body::Body,
    body::HttpBody as _,
    extract::Request,
    http::{
        header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE},
        HeaderMap, HeaderValue, StatusCode,
    },
    response::Response,
};
use http_body_util::LengthLimitError;

use crate::{
    server::{error::error_response, observability::request_id_of},
    shared::error::{ApiError, ErrorCode},
};

/// The largest request body the API reads; its forms hold a note of 200 characters at most.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// An error answer: `{code, message, request_id}` as `application/json`, its status following
/// from the code ([`error_response`]).
pub fn json_error(code: ErrorCode, message: &str, request_id: Option<&str>) -> Response {
    error_response(ApiError::new(code, message), request_id)
}

/// The `Strict-Transport-Security` value production sends, or `None` outside production.
pub fn hsts_value(
    production: bool,
    max_age: Duration,
    include_subdomains: bool,
) -> Option<HeaderValue> {
    if !production {
        return None;
    }
    let mut value = format!("max-age={}", max_age.as_secs());
    if include_subdomains {
        value.push_str("; includeSubDomains");
    }
    HeaderValue::from_str(&value).ok()
}

/// For `/api/…` and pages: reads the body up to [`MAX_BODY_BYTES`] before the server function
/// sees it, so that a body over the limit is a 413 and a body that claims to be text but is not
/// UTF-8 a 400, each with a JSON error instead of a library's message. A request without a body
/// passes untouched.
// The refusal is the answer itself, no larger than the request it replaces.
#[allow(clippy::result_large_err)]
pub async fn checked_body(request: Request) -> Result<Request, Response> {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let refuse = |code, message: &str, request: &Request| {
        Err(json_error(code, message, request_id_of(request.headers())))
    };
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return refuse(ErrorCode::PayloadTooLarge, &too_large(), &request)
            .map_err(body_left_unread);
    }
    if declared == Some(0) || (declared.is_none() && request.body().is_end_stream()) {
        return Ok(request);
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES).await;
    let request = Request::from_parts(parts, Body::empty());
    let bytes = match bytes {
        Ok(bytes) => bytes,
        Err(err) if is_length_limit(&err) => {
            return refuse(ErrorCode::PayloadTooLarge, &too_large(), &request)
                .map_err(body_left_unread)
        }
        Err(_) => {
            return refuse(
                ErrorCode::BadRequest,
                "The request body could not be read.",
                &request,
            )
        }
    };
    if claims_text(request.headers()) && std::str::from_utf8(&bytes).is_err() {
        return refuse(
            ErrorCode::BadRequest,
            "The request body is not valid UTF-8.",
            &request,
        );
    }
    Ok(request.map(|_| Body::from(bytes)))
}

/// An answer sent before the request's body was read: the connection cannot carry another
/// request, and says so. Without `Connection: close` a client may send its next request on it
/// before the close reaches it, and lose that request.
fn body_left_unread(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

fn too_large() -> String {
    format!(
        "The request body is larger than {} KiB.",
        MAX_BODY_BYTES / 1024
    )
}

fn is_length_limit(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if current.is::<LengthLimitError>() {
            return true;
        }
        source = current.source();
    }
    false
}

/// Forms, JSON and text are decoded as UTF-8 by the server functions.
fn claims_text(headers: &axum::http::HeaderMap) -> bool {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-www-form-urlencoded")
        .to_ascii_lowercase();
    content_type.starts_with("application/x-www-form-urlencoded")
        || content_type.starts_with("application/json")
        || content_type.starts_with("text/")
}

/// The answer for a method a route does not serve; the router adds the `Allow` header.
pub async fn method_not_allowed(headers: HeaderMap) -> Response {
    json_error(
        ErrorCode::MethodNotAllowed,
        "This address does not answer that method.",
        request_id_of(&headers),
    )
}

/// Gives the request timeout's 408, which arrives without a body, the JSON error with the
/// request id the response carries (so it runs outside the request-id layers). Every other
/// response passes untouched.
pub fn explain_timeout(mut response: Response) -> Response {
    if response.status() != StatusCode::REQUEST_TIMEOUT
        || response.headers().contains_key(CONTENT_TYPE)
    {
        return response;
    }
    let message = "The request took too long and was stopped. Please try again.";
    let request_id = request_id_of(response.headers()).map(str::to_owned);
    let (parts, body) =
        json_error(ErrorCode::RequestTimeout, message, request_id.as_deref()).into_parts();
    let headers = response.headers_mut();
    headers.remove(CONTENT_LENGTH);
    if let Some(json) = parts.headers.get(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, json.clone());
    }
    *response.body_mut() = body;
    response
}

/// The answer for an `/api/…` path that names no server function.
pub fn unknown_api(request_id: Option<&str>) -> Response {
    json_error(
        ErrorCode::NotFound,
        "There is no such API endpoint.",
        request_id,
    )
}

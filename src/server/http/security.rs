//! Request and response hardening: cross-site refusal for state-changing requests, and the
//! security headers every response carries.

use axum::{
    body::Body,
    http::{
        header::{
            CONTENT_SECURITY_POLICY, HOST, ORIGIN, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
            X_FRAME_OPTIONS,
        },
        HeaderValue, Method, Request, StatusCode,
    },
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::{
    server::observability::request_id_of,
    shared::error::{ApiError, ErrorCode},
};

/// Refuses a state-changing request (anything but GET/HEAD/OPTIONS) that a browser says comes
/// from another site, so a form on another origin cannot sign anyone in or out. Browsers send
/// `Sec-Fetch-Site`; older ones at least `Origin`. Requests with neither (curl, scripts) carry no
/// victim's cookies and pass.
pub async fn refuse_cross_site(request: Request<Body>, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let cross_site = match fetch_site {
        Some(site) => !matches!(site, "same-origin" | "none"),
        None => match (headers.get(ORIGIN), headers.get(HOST)) {
            (Some(origin), Some(host)) => !origin_matches_host(origin, host),
            (Some(_), None) => true,
            (None, _) => false,
        },
    };
    if cross_site {
        tracing::warn!(path = %request.uri().path(), ?fetch_site, "refused a cross-site request");
        let error = ApiError::new(
            ErrorCode::CrossSiteRequest,
            "This request came from another site and was refused.",
        )
        .with_request_id(request_id_of(headers).map(str::to_string));
        return (StatusCode::FORBIDDEN, Json(error)).into_response();
    }
    next.run(request).await
}

/// `Origin: http://host:port` against `Host: host:port`.
fn origin_matches_host(origin: &HeaderValue, host: &HeaderValue) -> bool {
    let (Ok(origin), Ok(host)) = (origin.to_str(), host.to_str()) else {
        return false;
    };
    origin
        .split_once("://")
        .map(|(_, authority)| authority.eq_ignore_ascii_case(host))
        .unwrap_or(false)
}

/// The headers every response carries, as tower-http layers for `Router::layer`. Pages set their
/// own Content-Security-Policy (with the nonce of their inline scripts, see `ui::app::shell`);
/// everything else gets a policy that allows nothing.
pub fn security_headers() -> (
    SetResponseHeaderLayer<HeaderValue>,
    SetResponseHeaderLayer<HeaderValue>,
    SetResponseHeaderLayer<HeaderValue>,
    SetResponseHeaderLayer<HeaderValue>,
) {
    (
        SetResponseHeaderLayer::overriding(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        SetResponseHeaderLayer::overriding(X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        SetResponseHeaderLayer::overriding(
            REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ),
        SetResponseHeaderLayer::if_not_present(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        ),
    )
}

/// The policy of an HTML page: scripts only from this origin or with this response's nonce
/// (Leptos' hydration and streaming scripts carry it), wasm allowed, nothing framed.
pub fn page_policy(nonce: &str, development: bool) -> String {
    // In development cargo-leptos' live reload talks over a WebSocket on another port.
    let connect = if development {
        "'self' ws: wss:"
    } else {
        "'self'"
    };
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src {connect}; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    )
}

//! Cross-site refusal of state-changing requests, redirects kept on this site, and the policy
//! pages carry. No crate checks `Sec-Fetch-Site` with the `Origin`/`Referer` fallback old
//! browsers need, nor rewrites a redirect Leptos takes from a `Referer` another site may set.

use axum::{
    extract::Request,
    http::{
        header::{HOST, LOCATION, ORIGIN, REFERER},
        HeaderMap, HeaderValue, Method, StatusCode, Uri,
    },
    response::Response,
};
use url::Url;

use super::responses::json_error;
use crate::shared::error::ErrorCode;

/// The scheme browsers see this site on: https whenever the session cookie is Secure (it only
/// travels over https, even when a proxy in front speaks http to the app), else http.
#[derive(Debug, Clone, Copy)]
pub struct SiteScheme(pub &'static str);

impl SiteScheme {
    pub fn of(cookie_secure: bool) -> SiteScheme {
        SiteScheme(if cookie_secure { "https" } else { "http" })
    }
}

/// `Some(answer)` for a state-changing request (not GET/HEAD/OPTIONS) that a browser says comes
/// from another site, so a form elsewhere cannot sign anyone in or out. Browsers send
/// `Sec-Fetch-Site`; older ones at least `Origin`, which must match this site's scheme, host and
/// port. With neither, a same-origin `Referer` is needed: an old browser still sends it for a
/// same-origin form, a cross-site form can send only a foreign one or none. Scripts and curl
/// therefore send `Origin` (or `Sec-Fetch-Site: same-origin`) themselves.
pub fn cross_site_refusal(site: SiteScheme, request: &Request) -> Option<Response> {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return None;
    }
    let headers = request.headers();
    let fetch_site = header(headers, "sec-fetch-site");
    let cross_site = match fetch_site {
        Some(fetch_site) => !matches!(fetch_site, "same-origin" | "none"),
        None => {
            let claimed = header(headers, ORIGIN.as_str()).or(header(headers, REFERER.as_str()));
            let host = asked_host(request);
            (claimed.and_then(|url| on_site(url, host.as_ref(), site))).is_none()
        }
    };
    if !cross_site {
        return None;
    }
    // Counted in `requests_refused_total`; anyone can send these as fast as they like with a
    // path of up to 64 KiB, so the line is short and at DEBUG.
    let path = request.uri().path();
    tracing::debug!(
        path = &path[..path.floor_char_boundary(100)],
        fetch_site = fetch_site.map(|site| &site[..site.floor_char_boundary(20)]),
        "refused a cross-site request"
    );
    let message = "This request came from another site and was refused.";
    Some(json_error(ErrorCode::CrossSiteRequest, message, headers))
}

/// Rewrites the `Location` of a redirect that leaves this site to `/`: Leptos answers a form
/// posted without JavaScript by redirecting to its `Referer`, which another site may set. A 302
/// becomes a 303, so the form's page is fetched with a GET.
pub fn keep_redirect_on_site(
    site: SiteScheme,
    host: Option<&HeaderValue>,
    mut response: Response,
) -> Response {
    if !response.status().is_redirection() {
        return response;
    }
    if response.status() == StatusCode::FOUND {
        *response.status_mut() = StatusCode::SEE_OTHER;
    }
    let Some(location) = response.headers().get(LOCATION) else {
        return response;
    };
    // A location that is not plain visible ASCII goes home: a browser would read its other
    // bytes in ways no check here can predict.
    let target = match location.to_str() {
        Ok(location) if is_local_path(location) => return response,
        location => (location.ok().and_then(|url| on_site(url, host, site))).map_or_else(
            || "/".to_string(),
            |url| path_here(&url[url::Position::BeforePath..]),
        ),
    };
    if let Ok(value) = HeaderValue::from_str(&target) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The host (and port) the client addressed: `Host`, or the URI's authority under HTTP/2.
pub fn asked_host(request: &Request) -> Option<HeaderValue> {
    match request.headers().get(HOST) {
        Some(host) => Some(host.clone()),
        None => HeaderValue::from_str(request.uri().authority()?.as_str()).ok(),
    }
}

/// A path on this site: `/x`, but not `//host` or `/\host`, which browsers read as another host.
fn is_local_path(location: &str) -> bool {
    location.starts_with('/')
        && !location.starts_with("//")
        && !location.starts_with("/\\")
        && location.parse::<Uri>().is_ok()
}

/// A same-origin URL's path and query as a `Location` that stays here: the leading slashes of
/// `http://here//evil.example/x` become one, or a browser would go to another host.
fn path_here(path_and_query: &str) -> String {
    let path = format!("/{}", path_and_query.trim_start_matches(['/', '\\']));
    match is_local_path(&path) {
        true => path,
        false => "/".to_string(),
    }
}

/// `url` (an Origin or a Referer), parsed, when it has this site's scheme, host and port.
fn on_site(url: &str, host: Option<&HeaderValue>, site: SiteScheme) -> Option<Url> {
    let host = host?.to_str().ok()?;
    let ours = Url::parse(&format!("{}://{host}/", site.0)).ok()?;
    let url = Url::parse(url).ok()?;
    (url.origin() == ours.origin() && ours.username().is_empty()).then_some(url)
}

/// The policy of an HTML page: scripts only from this origin or with this response's nonce
/// (Leptos' hydration and streaming scripts carry it), wasm allowed, nothing framed. Every other
/// response gets one that allows nothing (`router.rs`).
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

//! Request and response hardening: cross-site refusal for state-changing requests, redirects
//! that stay on this site, and the security headers every response carries.

use axum::{
    body::Body,
    extract::Request,
    http::{
        header::{
            CONTENT_SECURITY_POLICY, HOST, LOCATION, ORIGIN, REFERER, REFERRER_POLICY,
            STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
        },
        uri::Authority,
        HeaderMap, HeaderValue, Method, Request as HttpRequest, StatusCode, Uri,
    },
    response::Response,
};
use url::Url;

use super::responses::json_error;
use crate::{server::observability::request_id_of, shared::error::ErrorCode};

/// The scheme this site is served on, as browsers see it: https whenever the session cookie is
/// Secure (a Secure cookie only travels over https, even when a proxy in front speaks http to
/// the app), else http.
#[derive(Debug, Clone, Copy)]
pub struct SiteScheme(pub &'static str);

impl SiteScheme {
    pub fn of(cookie_secure: bool) -> SiteScheme {
        SiteScheme(if cookie_secure { "https" } else { "http" })
    }
}

/// Refuses a state-changing request (anything but GET/HEAD/OPTIONS) that a browser says comes
/// from another site, so a form on another origin cannot sign anyone in or out. Browsers send
/// `Sec-Fetch-Site`; older ones at least `Origin`, which must match this site's scheme, host and
/// port. A request with neither must carry a same-origin `Referer`: a browser old enough to send
/// neither header still sends the Referer of a same-origin form, while a cross-site form can only
/// send a foreign one or none (`Referrer-Policy: no-referrer`). Scripts and curl therefore send
/// `Origin` (or `Sec-Fetch-Site: same-origin`) themselves.
///
/// `Some(answer)` when the request is refused.
pub fn cross_site_refusal(site: SiteScheme, request: &Request<Body>) -> Option<Response> {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return None;
    }
    let headers = request.headers();
    let host = AskedHost::of(request).text();
    let fetch_site = header(headers, "sec-fetch-site");
    let cross_site = match fetch_site {
        Some(fetch_site) => !matches!(fetch_site, "same-origin" | "none"),
        None => {
            let claimed = header(headers, ORIGIN.as_str()).or(header(headers, REFERER.as_str()));
            !same_origin(claimed, host.as_deref(), site)
        }
    };
    if !cross_site {
        return None;
    }
    // Counted in `requests_refused_total`; the line is for debugging one client. Anyone can
    // send these as fast as they like, with a path up to hyper's 64 KiB: logged in full at WARN,
    // every refusal wrote its path to the log.
    tracing::debug!(
        path = shortened(request.uri().path(), 100),
        fetch_site = fetch_site.map(|site| shortened(site, 20)),
        "refused a cross-site request"
    );
    Some(json_error(
        ErrorCode::CrossSiteRequest,
        "This request came from another site and was refused.",
        request_id_of(headers),
    ))
}

/// Rewrites the `Location` of a redirect that leaves this site to `/`. Leptos answers a form
/// posted without JavaScript by redirecting to its `Referer`, which another site may set.
pub fn keep_redirect_on_site(
    site: SiteScheme,
    host: &AskedHost,
    mut response: Response,
) -> Response {
    if !response.status().is_redirection() {
        return response;
    }
    // A form post is sent back to its page with a GET, whatever the status said.
    if response.status() == StatusCode::FOUND {
        *response.status_mut() = StatusCode::SEE_OTHER;
    }
    let host = host.text();
    let Some(location) = response.headers().get(LOCATION) else {
        return response;
    };
    // Checked as bytes: a location that is not plain visible ASCII is not followed anywhere
    // but home (a browser would read its other bytes in ways no check here can predict).
    let Ok(location) = location.to_str() else {
        response
            .headers_mut()
            .insert(LOCATION, HeaderValue::from_static("/"));
        return response;
    };
    if !is_local_path(location) {
        let target = match same_origin(Some(location), host.as_deref(), site) {
            true => Url::parse(location)
                .map(|url| path_here(&url[url::Position::BeforePath..]))
                .unwrap_or_else(|_| "/".to_string()),
            false => "/".to_string(),
        };
        if let Ok(value) = HeaderValue::from_str(&target) {
            response.headers_mut().insert(LOCATION, value);
        }
    }
    response
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The host (and port) the client addressed: `Host`, or the URI's authority under HTTP/2. Kept
/// as the request's own values until a redirect needs it as text: copying them is a reference
/// count, where reading them as text on every request would allocate.
pub struct AskedHost {
    header: Option<HeaderValue>,
    authority: Option<Authority>,
}

impl AskedHost {
    pub fn of<B>(request: &HttpRequest<B>) -> AskedHost {
        AskedHost {
            header: request.headers().get(HOST).cloned(),
            authority: request.uri().authority().cloned(),
        }
    }

    fn text(&self) -> Option<String> {
        self.header
            .as_ref()
            .and_then(|header| header.to_str().ok())
            .map(str::to_string)
            .or_else(|| self.authority.as_ref().map(Authority::to_string))
    }
}

/// A path on this site: `/x`, but not `//host` or `/\host`, which browsers read as another host.
fn is_local_path(location: &str) -> bool {
    location.starts_with('/')
        && !location.starts_with("//")
        && !location.starts_with("/\\")
        && location.parse::<Uri>().is_ok()
}

/// A same-origin URL's path and query as a `Location` that stays here: a path beginning with
/// `//` or `/\` (`http://here//evil.example/x`) would send a browser to another host, so the
/// leading slashes become one.
fn path_here(path_and_query: &str) -> String {
    let rest = path_and_query.trim_start_matches(['/', '\\']);
    let path = format!("/{rest}");
    match is_local_path(&path) {
        true => path,
        false => "/".to_string(),
    }
}

/// At most `max` bytes of `text`, cut on a character boundary.
fn shortened(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Whether `url` (an Origin or a Referer) has this site's scheme, host and port.
fn same_origin(url: Option<&str>, host: Option<&str>, site: SiteScheme) -> bool {
    let (Some(url), Some(host)) = (url, host) else {
        return false;
    };
    let (Ok(url), Ok(ours)) = (
        Url::parse(url),
        Url::parse(&format!("{}://{host}/", site.0)),
    ) else {
        return false;
    };
    url.scheme() == ours.scheme()
        && url.host() == ours.host()
        && url.port_or_known_default() == ours.port_or_known_default()
        && ours.username().is_empty()
}

/// The headers every response carries, and `Strict-Transport-Security` when given. Pages set
/// their own Content-Security-Policy (with the nonce of their inline scripts, see
/// `ui::app::shell`); everything else gets a policy that allows nothing.
#[derive(Clone)]
pub struct SecurityHeaders {
    hsts: Option<HeaderValue>,
}

impl SecurityHeaders {
    pub fn new(hsts: Option<HeaderValue>) -> Self {
        SecurityHeaders { hsts }
    }

    /// Sets them on `response`. One step for all of them: as a tower-http layer each, every
    /// response passed five more nested futures.
    pub fn apply<B>(&self, mut response: Response<B>) -> Response<B> {
        let headers = response.headers_mut();
        if !headers.contains_key(CONTENT_SECURITY_POLICY) {
            headers.insert(
                CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
            );
        }
        headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
        headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        if let Some(hsts) = &self.hsts {
            headers.insert(STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
        response
    }
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

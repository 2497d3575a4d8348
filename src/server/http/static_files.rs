//! How responses leave the server: compressed when the client accepts it, and the content-hashed
//! files in the pkg directory marked immutable so a repeat visit never fetches them again.

use axum::{
    extract::{Request, State},
    http::{header::CACHE_CONTROL, HeaderValue},
    middleware::Next,
    response::Response,
};
use tower_http::compression::CompressionLayer;
use url::Url;

use super::responses::json_error;
use crate::{server::observability::request_id_of, shared::error::ErrorCode};

/// Brotli or gzip, as the client asks. Files cargo-leptos precompressed (`--precompress`) are
/// served as they are: a response that already has a Content-Encoding passes through.
pub fn compression() -> CompressionLayer {
    CompressionLayer::new().br(true).gzip(true)
}

/// Where the content-hashed files live (`/pkg/`), when cargo-leptos hashed them (`hash-files`).
/// `None`: names do not change with the content, so nothing may be cached as immutable.
#[derive(Clone)]
pub struct HashedFiles {
    prefix: Option<String>,
}

impl HashedFiles {
    pub fn new(hash_files: bool, site_pkg_dir: &str) -> Self {
        let pkg = site_pkg_dir.trim_matches('/');
        HashedFiles {
            prefix: (hash_files && !pkg.is_empty()).then(|| format!("/{pkg}/")),
        }
    }

    fn covers(&self, path: &str) -> bool {
        self.prefix
            .as_deref()
            .is_some_and(|prefix| path.starts_with(prefix))
    }
}

/// Middleware for the static-file fallback: a successful answer for a hashed file may be kept
/// for a year without asking again. Pages and API responses never pass through here.
///
/// A path that URL parsers rewrite is not found: no file is named so, and Leptos, given the
/// fallback's not-found page to render, would resolve it to a page — `/favicon.svg/..` and
/// `/about\..` are the home page — rendered without the session it needs.
pub async fn cache_hashed_files(
    State(hashed): State<HashedFiles>,
    request: Request,
    next: Next,
) -> Response {
    if is_rewritten_by_url_parsers(request.uri().path()) {
        let request_id = request_id_of(request.headers());
        return json_error(ErrorCode::NotFound, "There is no such page.", request_id);
    }
    let hashed_path = hashed.covers(request.uri().path());
    let mut response = next.run(request).await;
    if hashed_path && response.status().is_success() {
        response.headers_mut().insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
    }
    response
}

/// Whether a URL parser (the WHATWG rules a browser and Leptos' router follow) reads `path` as
/// another path: `.` and `..` segments, also percent-encoded (`%2e`), backslashes (read as
/// slashes), characters it would encode.
fn is_rewritten_by_url_parsers(path: &str) -> bool {
    match Url::parse(&format!("http://site{path}")) {
        Ok(url) => url.path() != path,
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::{is_rewritten_by_url_parsers, HashedFiles};

    #[test]
    fn paths_that_parsers_resolve_to_another_are_found() {
        for path in [
            "/favicon.svg/..",
            "/./x",
            "/a/%2E%2e/b",
            "/%2e",
            "/x/../",
            "/favicon.svg\\..",
            "/about\\..",
            "/\\..",
            "/favicon.svg\\%2e%2e",
            "/a\\b",
        ] {
            assert!(is_rewritten_by_url_parsers(path), "{path}");
        }
        for path in [
            "/",
            "/favicon.svg",
            "/pkg/app.Ab.js",
            "/..a",
            "/a..",
            "/.well-known/x",
            "/%5C..",
            "/a%20b",
        ] {
            assert!(!is_rewritten_by_url_parsers(path), "{path}");
        }
    }

    #[test]
    fn only_files_under_the_pkg_dir_count_as_hashed() {
        let hashed = HashedFiles::new(true, "pkg");
        assert!(hashed.covers("/pkg/sessionboard.Xy12.wasm"));
        assert!(!hashed.covers("/favicon.svg"));
        assert!(!hashed.covers("/api/session"));
        assert!(!hashed.covers("/pkgs/x.js"));
    }

    #[test]
    fn nothing_counts_as_hashed_when_names_are_not_hashed() {
        assert!(!HashedFiles::new(false, "pkg").covers("/pkg/sessionboard.js"));
    }
}

//! Static files: the pkg directory through tower-http's `ServeDir`, its content-hashed files
//! (cargo-leptos `hash-files`) marked immutable so a repeat visit never fetches them again;
//! everything else through Leptos' file handler, which renders the not-found page.

use axum::{
    extract::{Request, State},
    handler::HandlerWithoutStateExt,
    http::{header::CACHE_CONTROL, HeaderMap, HeaderValue, Uri},
    response::{IntoResponse, Response},
    routing::get_service,
    Router,
};
use leptos::prelude::*;
use leptos_axum::{site_pkg_dir_service, site_pkg_dir_service_route_path};
use tower::ServiceBuilder;
use tower_http::set_header::SetResponseHeaderLayer;
use url::Url;

use super::responses::json_error;
use crate::{server::state::AppState, shared::error::ErrorCode};

/// `router` with the pkg route and the fallback for every other path.
pub fn serve(
    router: Router<AppState>,
    state: &AppState,
    shell: fn(LeptosOptions) -> AnyView,
) -> Router<AppState> {
    let options = &state.leptos_options;
    let immutable = |response: &Response| {
        let kept = HeaderValue::from_static("public, max-age=31536000, immutable");
        response.status().is_success().then_some(kept)
    };
    let pkg = ServiceBuilder::new()
        .option_layer(
            options
                .hash_files
                .then(|| SetResponseHeaderLayer::overriding(CACHE_CONTROL, immutable)),
        )
        .map_response(IntoResponse::into_response)
        .service(site_pkg_dir_service(options).not_found_service(no_such_file.into_service()));
    let router = match options.site_pkg_dir.trim_matches('/').is_empty() {
        true => router,
        false => router.route(&site_pkg_dir_service_route_path(options), get_service(pkg)),
    };
    let leptos = leptos_axum::file_and_error_handler::<AppState, _>(shell);
    router.fallback(move |uri: Uri, state: State<AppState>, request: Request| {
        // A path that URL parsers rewrite is not found: no file is named so, and Leptos, given
        // it to render the not-found page, would resolve it to a page (`/favicon.svg/..` and
        // `/about\..` are the home page) rendered without the session it needs.
        if !is_rewritten_by_url_parsers(uri.path()) {
            return leptos(uri, state, request);
        }
        let message = "There is no such page.";
        Box::pin(std::future::ready(json_error(
            ErrorCode::NotFound,
            message,
            request.headers(),
        )))
    })
}

async fn no_such_file(headers: HeaderMap) -> Response {
    json_error(ErrorCode::NotFound, "There is no such file.", &headers)
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
    use super::is_rewritten_by_url_parsers;

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
}

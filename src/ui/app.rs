//! The HTML shell and the router.

use leptos::prelude::*;

use crate::ui::home::HomePage;

/// The HTML around the app: rendered on the server only.
#[cfg(feature = "ssr")]
pub fn shell(options: LeptosOptions) -> impl IntoView {
    use leptos_meta::{provide_meta_context, Link, MetaTags, Title};

    set_page_policy();
    provide_meta_context();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                // In the head, which the browser does not hydrate: the body's first node must be
                // the browser's `App`.
                <Title text="sessionboard"/>
                <Link rel="icon" type_="image/svg+xml" href="/favicon.svg"/>
                <AutoReload options=options.clone()/>
                // With cargo-leptos `hash-files` both name the content-hashed files in hash.txt.
                <link rel="stylesheet" id="leptos" href=stylesheet_href(&options)/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The stylesheet's URL, with the content hash cargo-leptos put in its name when it hashes file
/// names. Worked out once: leptos_meta's `HashedStylesheet` reads hash.txt on every page, which
/// cost 6 % of a page's CPU.
#[cfg(feature = "ssr")]
fn stylesheet_href(options: &LeptosOptions) -> &'static str {
    static HREF: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HREF.get_or_init(|| {
        let name = &options.output_name;
        let file = match options.hash_files.then(|| css_hash(options)).flatten() {
            Some(hash) => format!("{name}.{hash}.css"),
            None => format!("{name}.css"),
        };
        format!("/{}/{file}", options.site_pkg_dir)
    })
}

/// The `css: <hash>` line of hash.txt, which cargo-leptos writes next to the server binary.
#[cfg(feature = "ssr")]
fn css_hash(options: &LeptosOptions) -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let hashes = std::fs::read_to_string(exe.parent()?.join(options.hash_file.as_ref())).ok()?;
    hashes.lines().find_map(|line| {
        let (file, hash) = line.trim().split_once(':')?;
        (file.trim() == "css").then(|| hash.trim().to_string())
    })
}

/// Sends this page's Content-Security-Policy, naming the nonce Leptos put on its inline scripts.
#[cfg(feature = "ssr")]
fn set_page_policy() {
    use axum::http::{header::CONTENT_SECURITY_POLICY, HeaderValue};
    use leptos::nonce::use_nonce;
    use leptos_axum::ResponseOptions;

    use crate::server::{config::Environment, http::security::page_policy, state::AppState};

    let (Some(nonce), Some(response)) = (use_nonce(), use_context::<ResponseOptions>()) else {
        return;
    };
    let development = use_context::<AppState>()
        .is_some_and(|state| state.settings.environment == Environment::Development);
    let policy = page_policy(&nonce.to_string(), development);
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.insert_header(CONTENT_SECURITY_POLICY, value);
    }
}

/// The pages. The server routes with leptos_router: its route list tells leptos_axum which paths
/// are pages and how each is rendered, and a path that is none of them gets the not-found page
/// (from the static-file fallback, with status 404).
#[cfg(feature = "ssr")]
#[component]
pub fn App() -> impl IntoView {
    use leptos_router::{
        components::{Route, Router, Routes},
        SsrMode, StaticSegment,
    };
    view! {
        <Router>
            <main>
                <Routes fallback=NotFound>
                    // Async: the page is sent once its data is ready, so it is complete without
                    // JavaScript (out-of-order streaming needs scripts to place late content).
                    <Route path=StaticSegment("") view=HomePage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

/// The pages, in the browser: it hydrates the page the server sent, so it picks the page by the
/// same rule from the path, without leptos_router. The router's code was about a sixth of the
/// wasm, and the browser has no use for it: no page links to another, and every form posts to a
/// server function. The markup is the same as the server's: the router adds none of its own.
/// A new route goes in both.
#[cfg(not(feature = "ssr"))]
#[component]
pub fn App() -> impl IntoView {
    let home = window().location().pathname().is_ok_and(|path| path == "/");
    view! {
        <main>
            {if home { HomePage().into_any() } else { NotFound().into_any() }}
        </main>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    view! { <p class="not-found">"Page not found."</p> }
}

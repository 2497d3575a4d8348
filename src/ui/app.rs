//! The HTML shell and the router.

use leptos::prelude::*;

use leptos_meta::{provide_meta_context, Meta};
use leptos_router::{
    components::{Route, Router, Routes},
    SsrMode, StaticSegment,
};

use crate::ui::{about::AboutPage, home::HomePage};

/// The HTML around the app: rendered on the server only.
#[cfg(feature = "ssr")]
pub fn shell(options: LeptosOptions) -> impl IntoView {
    use leptos_meta::{Link, MetaTags};

    set_page_policy();
    provide_meta_context();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <Link rel="icon" type_="image/svg+xml" href="/favicon.svg"/>
                <AutoReload options=options.clone()/>
                // With cargo-leptos `hash-files` both name the content-hashed files in hash.txt.
                <link rel="stylesheet" id="leptos" href=stylesheet_href(&options)/>
                <HydrationScripts options islands=true/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The stylesheet's URL, with the content hash cargo-leptos put in its name when it hashes file
/// names. Worked out once: leptos_meta's `HashedStylesheet` reads hash.txt on every page.
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
        .is_some_and(|state| state.settings.server.environment == Environment::Development);
    let policy = page_policy(&nonce.to_string(), development);
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.insert_header(CONTENT_SECURITY_POLICY, value);
    }
}

/// The pages, rendered on the server: a path that is none of them gets `NotFound` (404). In the
/// browser only the islands hydrate; the router and leptos_meta stay on the server. A page is one
/// `<Route>` here and one component (see `about.rs`).
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Meta name="description" content="A Leptos and Axum app whose sessions live in Redis: \
            see your session's data and deadlines live, count, keep a note, sign in and revoke \
            your other sessions."/>
        <Router>
            <main>
                <Routes fallback=NotFound>
                    // Async: the page is sent once its data is ready, so it is complete without
                    // JavaScript (out-of-order streaming needs scripts to place late content).
                    <Route path=StaticSegment("") view=HomePage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("about") view=AboutPage/>
                </Routes>
            </main>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    use leptos_meta::Title;
    use leptos_router::components::A;
    view! {
        <Title text="Page not found — sessionboard"/>
        <div class="page">
            <p class="not-found">"Page not found."</p>
            <p><A href="/">"Back to your session"</A></p>
        </div>
    }
}

//! sessionboard: a Leptos + Axum app whose sessions live in Redis.
//!
//! `shared` is built for the browser and the server, `ui` holds the pages (their server
//! functions' bodies are server-only), and `server` (the `ssr` feature) everything else. See
//! ARCHITECTURE.md for the request path and the invariants.

pub mod shared;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod server;

/// The pages the server serves: the crate root wires the UI into the server, so that neither
/// depends on the other both ways.
#[cfg(feature = "ssr")]
pub fn pages() -> server::router::Pages {
    use leptos::prelude::IntoAny;
    server::router::Pages {
        shell: |options| ui::app::shell(options).into_any(),
        app: || ui::app::App().into_any(),
    }
}

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Only the islands hydrate; the rest of the page stays as the server rendered it.
    leptos::mount::hydrate_islands();
    // Tests (and people) can tell that the page is interactive from here on.
    if let Some(body) = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.body())
    {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}

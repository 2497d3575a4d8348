//! sessionboard: a Leptos + Axum app whose sessions live in Redis.
//!
//! Shared by server and browser: `app` (the UI), `pages`, `error`, `session_view`, the credential
//! rules in `auth`.
//! Server only (`ssr`): `configuration`, `startup`, `redis`, `sessions`, the rest of `auth`,
//! `security`, `health`.

pub mod app;
pub mod auth;
pub mod error;
pub mod pages;
pub mod session_view;

#[cfg(feature = "ssr")]
pub mod configuration;
#[cfg(feature = "ssr")]
pub mod health;
#[cfg(feature = "ssr")]
pub mod redis;
#[cfg(feature = "ssr")]
pub mod security;
#[cfg(feature = "ssr")]
pub mod sessions;
#[cfg(feature = "ssr")]
pub mod startup;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
    // Tests (and people) can tell that the page is interactive from here on.
    if let Some(body) = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.body())
    {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}

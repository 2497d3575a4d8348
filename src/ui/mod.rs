//! The pages, each with the server functions it calls (Leptos' layout: a server function sits
//! beside the component that uses it; its body runs only on the server and calls one
//! server-side service).

pub mod about;
pub mod account;
pub mod app;
pub mod codec;
pub mod home;
pub mod session_panel;

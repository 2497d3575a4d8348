//! The session data a page may show: each key declared once, here, with the type of its value.
//! Every other key a handler stores (an OAuth state, a role, a CSRF token) stays on the server.
//!
//! Showing a new value of the session on the page is this declaration and the markup that reads
//! it (`view.get(SAVED)` gives a `Vec<String>`, say); see docs/development.md.

use std::marker::PhantomData;

/// A key of the session's data that leaves the server (in `/api/session` and the page), and the
/// type its value is read as.
pub struct PublicKey<T> {
    pub name: &'static str,
    value: PhantomData<fn() -> T>,
}

impl<T> PublicKey<T> {
    pub const fn new(name: &'static str) -> Self {
        PublicKey {
            name,
            value: PhantomData,
        }
    }
}

/// The note the visitor keeps (at most `input::NOTE_MAX_CHARS` characters).
pub const NOTE: PublicKey<String> = PublicKey::new("note");
/// The colour theme (`input::Theme`'s names); absent means "follow the system".
pub const THEME: PublicKey<String> = PublicKey::new("theme");

/// Every key above: the server sends these and no other.
pub const PUBLIC: &[&str] = &[NOTE.name, THEME.name];

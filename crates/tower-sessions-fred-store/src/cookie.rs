//! The session cookie of [`crate::SessionLayer`]: its name, attributes and signing keys.

use sha2::{Digest, Sha512};
use tower_sessions::cookie::{Cookie, Key, SameSite};

/// How the session cookie is named, protected and signed. It is always `HttpOnly`.
///
/// ```
/// use tower_sessions::cookie::{Key, SameSite};
/// use tower_sessions_fred_store::CookieSettings;
///
/// let cookie = CookieSettings::new(CookieSettings::key_from_secret(b"a long random secret"))
///     .with_name("myapp")
///     .with_same_site(SameSite::Strict)
///     .with_previous_keys(vec![CookieSettings::key_from_secret(b"last year's secret")]);
/// assert_eq!(cookie.name, "myapp");
/// assert!(cookie.secure);
/// ```
#[derive(Clone)]
pub struct CookieSettings {
    /// The cookie's name (default `id`).
    pub name: String,
    /// `Secure` (default `true`).
    pub secure: bool,
    /// `SameSite` (default `Lax`).
    pub same_site: SameSite,
    /// `Domain` (default none: the host that set it).
    pub domain: Option<String>,
    /// `Path` (default `/`).
    pub path: String,
    /// Signs new cookies; verified first.
    pub key: Key,
    /// Still accepted, and the cookie re-signed with `key`: rotating the key signs nobody out.
    pub previous_keys: Vec<Key>,
}

impl std::fmt::Debug for CookieSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieSettings")
            .field("name", &self.name)
            .field("secure", &self.secure)
            .field("same_site", &self.same_site)
            .field("domain", &self.domain)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl CookieSettings {
    /// A cookie named `id`, `Secure`, `SameSite=Lax`, `Path=/`, signed with `key`.
    pub fn new(key: Key) -> Self {
        CookieSettings {
            name: "id".into(),
            secure: true,
            same_site: SameSite::Lax,
            domain: None,
            path: "/".into(),
            key,
            previous_keys: Vec::new(),
        }
    }

    /// A signing key from a secret of any length (stretched with SHA-512 to the 64 bytes the
    /// cookie crate wants). Use a long random secret.
    pub fn key_from_secret(secret: &[u8]) -> Key {
        Key::from(Sha512::digest(secret).as_slice())
    }

    /// Names the cookie.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets `Secure` (turn it off only for plain-HTTP development).
    pub fn with_secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// Sets `SameSite`.
    pub fn with_same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// Sets `Domain`.
    pub fn with_domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Sets `Path`.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Keys whose signatures are still accepted.
    pub fn with_previous_keys(mut self, keys: Vec<Key>) -> Self {
        self.previous_keys = keys;
        self
    }

    /// A cookie of this name and these attributes holding `value` (unsigned).
    pub(crate) fn build(&self, value: String) -> Cookie<'static> {
        let mut cookie = Cookie::build((self.name.clone(), value))
            .http_only(true)
            .same_site(self.same_site)
            .secure(self.secure)
            .path(self.path.clone())
            .build();
        if let Some(domain) = &self.domain {
            cookie.set_domain(domain.clone());
        }
        cookie
    }
}

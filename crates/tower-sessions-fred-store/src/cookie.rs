//! The session cookie of [`crate::SessionLayer`]: its name, attributes and signing keys, and
//! reading it from a request and writing it to a response.

use std::borrow::Cow;

use http::{
    header::{COOKIE, SET_COOKIE},
    HeaderValue, Response,
};
use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha512};
use tower_sessions::{
    cookie::{Cookie, CookieJar, Key, SameSite},
    session::Id,
};

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
/// ```
#[derive(Clone)]
pub struct CookieSettings {
    /// The cookie's name (default `id`).
    pub(crate) name: String,
    /// `Secure` (default `true`).
    pub(crate) secure: bool,
    /// `SameSite` (default `Lax`).
    pub(crate) same_site: SameSite,
    /// `Domain` (default none: the host that set it).
    pub(crate) domain: Option<String>,
    /// `Path` (default `/`).
    pub(crate) path: String,
    /// Signs new cookies; verified first.
    pub(crate) key: Key,
    /// Still accepted, and the cookie re-signed with `key`: rotating the key signs nobody out.
    pub(crate) previous_keys: Vec<Key>,
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

/// The session id a request's cookie carried, if it was ours and intact.
pub(crate) struct Incoming {
    pub(crate) id: Option<Id>,
    pub(crate) cookie_present: bool,
    /// Signed with a previous key: re-issue it signed with the current one.
    pub(crate) resign: bool,
}

/// The session id the request's cookie carries, verified with the current or a previous key.
pub(crate) fn read_cookie(headers: &http::HeaderMap, settings: &CookieSettings) -> Incoming {
    let mut incoming = Incoming {
        id: None,
        cookie_present: false,
        resign: false,
    };
    // Every cookie of our name is tried: one planted beside ours (same name, other path or
    // domain) must not hide the one we signed.
    for value in cookie_values(headers, &settings.name) {
        incoming.cookie_present = true;
        let keys = std::iter::once(&settings.key).chain(&settings.previous_keys);
        for (position, key) in keys.enumerate() {
            let found = Cookie::new(settings.name.clone(), value.to_string());
            let verified = CookieJar::new().signed(key).verify(found);
            // A signed value that is not an id simply means "no session".
            if let Some(id) = verified.and_then(|cookie| cookie.value().parse::<Id>().ok()) {
                incoming.id = Some(id);
                incoming.resign = position > 0;
                return incoming;
            }
        }
    }
    incoming
}

/// The values of the cookies named `name` in the request's `Cookie` headers, percent-decoded
/// (they are written percent-encoded). Only the `name=value` pairs are split: parsing every
/// cookie with the `cookie` crate cost more than verifying our signature.
fn cookie_values<'a>(
    headers: &'a http::HeaderMap,
    name: &'a str,
) -> impl Iterator<Item = Cow<'a, str>> + 'a {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|header| header.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .filter(move |(found, _)| {
            percent_decode_str(found.trim()).decode_utf8().ok() == Some(name.into())
        })
        .filter_map(|(_, value)| percent_decode_str(value.trim()).decode_utf8().ok())
}

/// The cookie that carries `id`, signed with the current key.
pub(crate) fn session_cookie(
    settings: &CookieSettings,
    id: Id,
    max_age: Option<time::Duration>,
) -> Cookie<'static> {
    let mut cookie = settings.build(id.to_string());
    if let Some(max_age) = max_age {
        cookie.set_max_age(max_age);
    }
    let mut jar = CookieJar::new();
    jar.signed_mut(&settings.key).add(cookie);
    jar.get(&settings.name)
        .cloned()
        .unwrap_or_else(|| settings.build(String::new()))
}

/// The cookie that tells the browser to forget the session cookie.
pub(crate) fn removal_cookie(settings: &CookieSettings) -> Cookie<'static> {
    let mut cookie = settings.build(String::new());
    cookie.make_removal();
    cookie
}

pub(crate) fn append_cookie<R>(response: &mut Response<R>, cookie: Cookie<'static>) {
    if let Ok(value) = HeaderValue::from_str(&cookie.encoded().to_string()) {
        response.headers_mut().append(SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(headers: &[&str], name: &str) -> Vec<String> {
        let mut map = http::HeaderMap::new();
        for header in headers {
            map.append(COOKIE, HeaderValue::from_str(header).unwrap());
        }
        cookie_values(&map, name).map(Cow::into_owned).collect()
    }

    #[test]
    fn cookie_values_are_found_in_every_header_and_decoded() {
        assert_eq!(
            values(&["a=1; id=x%2By%3D", "id = z ;b=2"], "id"),
            ["x+y=", "z"]
        );
        // Names are compared decoded, as the `cookie` crate parses them.
        assert_eq!(values(&["%69d=v"], "id"), ["v"]);
    }

    #[test]
    fn other_cookies_and_malformed_pairs_are_skipped() {
        assert!(values(&["idx=1; xid=2; id; =3; ;"], "id").is_empty());
        assert!(
            values(&["id=%FF"], "id").is_empty(),
            "not UTF-8 once decoded"
        );
        assert_eq!(values(&["id="], "id"), [""]);
    }

    #[test]
    fn a_signed_cookie_written_encoded_is_read_back() {
        let key = tower_sessions::cookie::Key::generate();
        let id = Id::default();
        let settings = CookieSettings::new(key.clone());
        let cookie = session_cookie(&settings, id, None);
        let mut headers = http::HeaderMap::new();
        let header = format!("other=1; {}", cookie.encoded());
        headers.insert(COOKIE, HeaderValue::from_str(&header).unwrap());
        let incoming = read_cookie(&headers, &settings);
        assert_eq!(incoming.id, Some(id));
        assert!(incoming.cookie_present && !incoming.resign);
    }
}

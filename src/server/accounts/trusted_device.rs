//! Device cookies (OWASP's "slow down online guessing attacks with device cookies"): a browser
//! that has signed in to an account before carries a signed token naming that account, and its
//! sign-ins are limited per token instead of per name and address, so no one else's guessing
//! keeps the owner's own browser out (docs/security.md).

use axum::http::{header::COOKIE, HeaderMap, HeaderValue};
use rand::RngCore;
use tower_sessions::cookie::{Cookie, CookieJar, Key, SameSite};

use crate::{
    server::{config::SessionSettings, sessions},
    shared::input::Username,
};

/// How long a browser stays trusted after its last sign-in (browsers cap cookies at 400 days).
const TRUSTED_FOR: time::Duration = time::Duration::days(365);

/// A browser's claim to have signed in as `user`, proven by the cookie's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedDevice {
    user: Username,
    token: String,
}

impl TrustedDevice {
    /// Trusted for sign-ins to `user` only.
    pub fn vouches_for(&self, user: &Username) -> bool {
        &self.user == user
    }

    /// What its attempts are counted under.
    pub fn token(&self) -> &str {
        &self.token
    }
}

/// The device cookie's name and signing keys, as the session cookie has them.
#[derive(Clone)]
pub struct DeviceCookies {
    name: String,
    secure: bool,
    same_site: SameSite,
    key: Key,
    previous_keys: Vec<Key>,
}

impl DeviceCookies {
    /// Named after the session cookie (`<name>-device`), with its attributes and keys.
    pub fn beside_session_cookie(settings: &SessionSettings) -> DeviceCookies {
        let (key, previous_keys) = sessions::cookie_keys(settings);
        DeviceCookies {
            name: format!("{}-device", settings.cookie_name()),
            secure: settings.cookie_secure,
            same_site: sessions::same_site(settings),
            key,
            previous_keys,
        }
    }

    /// The device cookie among the request's that proves this browser signed in as `user`, if
    /// any. Every cookie of our name is tried: another validly signed one (another account's, or
    /// one planted beside ours) must not hide the one that vouches for this name. A cookie whose
    /// signature fails (tampered, or signed with a key no longer configured) is simply not
    /// trusted.
    pub fn read(&self, headers: &HeaderMap, user: &Username) -> Option<TrustedDevice> {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(Cookie::split_parse_encoded)
            .filter_map(Result::ok)
            .filter(|cookie| cookie.name() == self.name)
            .find_map(|cookie| {
                let cookie = cookie.into_owned();
                (std::iter::once(&self.key).chain(&self.previous_keys))
                    .find_map(|key| CookieJar::new().signed(key).verify(cookie.clone()))
                    .and_then(|verified| parse(verified.value()))
                    .filter(|device| device.vouches_for(user))
            })
    }

    /// A `Set-Cookie` value trusting this browser for `user` with a new token.
    pub fn issue(&self, user: &Username) -> Option<HeaderValue> {
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let value = format!("{}.{user}", hex::encode(bytes));
        let cookie = Cookie::build((self.name.clone(), value))
            .http_only(true)
            .secure(self.secure)
            .same_site(self.same_site)
            .path("/")
            .max_age(TRUSTED_FOR)
            .build();
        let mut jar = CookieJar::new();
        jar.signed_mut(&self.key).add(cookie);
        let signed = jar.get(&self.name)?;
        HeaderValue::from_str(&signed.encoded().to_string()).ok()
    }
}

/// `<32 hex digits>.<username>`; anything else is not a device token.
fn parse(value: &str) -> Option<TrustedDevice> {
    let (token, user) = value.split_once('.')?;
    let well_formed = token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit());
    let user = Username::parse(user).ok()?;
    well_formed.then(|| TrustedDevice {
        user,
        token: token.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies(key: &[u8]) -> DeviceCookies {
        DeviceCookies {
            name: "sessionboard-device".into(),
            secure: false,
            same_site: SameSite::Lax,
            key: Key::from(&[key, &[7u8; 64]].concat()[..64]),
            previous_keys: Vec::new(),
        }
    }

    /// The `Cookie` header a browser sends back for these `Set-Cookie`s, in this order.
    fn sent(set_cookies: &[&HeaderValue]) -> HeaderMap {
        let pairs: Vec<&str> = (set_cookies.iter())
            .map(|set| set.to_str().unwrap().split(';').next().unwrap())
            .collect();
        HeaderMap::from_iter([(COOKIE, HeaderValue::from_str(&pairs.join("; ")).unwrap())])
    }

    #[test]
    fn a_device_cookie_vouches_only_for_its_user_and_only_when_signed_by_us() {
        let ours = cookies(b"ours");
        let (olga, pia) = (
            Username::parse("olga").unwrap(),
            Username::parse("pia").unwrap(),
        );
        let issued = ours.issue(&olga).unwrap();
        let device = ours.read(&sent(&[&issued]), &olga).expect("trusted");
        assert!(device.vouches_for(&olga));
        assert_eq!(device.token().len(), 32);
        assert_eq!(ours.read(&sent(&[&issued]), &pia), None);
        assert_eq!(cookies(b"theirs").read(&sent(&[&issued]), &olga), None);
        let forged =
            HeaderValue::from_static("sessionboard-device=0123456789abcdef0123456789abcdef.olga");
        assert_eq!(ours.read(&sent(&[&forged]), &olga), None);
        // Each sign-in gets a new token.
        let again = ours.read(&sent(&[&ours.issue(&olga).unwrap()]), &olga);
        assert_ne!(again.unwrap().token(), device.token());
        // The cookie that vouches for the name is found beside another account's, in either order.
        let pias = ours.issue(&pia).unwrap();
        for both in [sent(&[&pias, &issued]), sent(&[&issued, &pias])] {
            assert_eq!(ours.read(&both, &olga), Some(device.clone()), "{both:?}");
            assert!(ours.read(&both, &pia).unwrap().vouches_for(&pia));
        }
    }
}

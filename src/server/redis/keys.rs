//! Every Redis key the app writes, in one place. The layout (with the default prefix):
//!
//! | key | type | TTL |
//! | --- | --- | --- |
//! | `sessionboard:session:{<id>}` | hash: one session (the session store's layout) | the session's deadline |
//! | `sessionboard:session-owner:{<id>}` | string: the signed-in user (only with `SESSION_EXPIRY_EVENTS`) | the absolute timeout + 1 min |
//! | `sessionboard:sessions:live` | sorted set: session handle → deadline (the live-session gauge) | none |
//! | `sessionboard:user:{<name>}:account` | hash: password hash, created_at | none |
//! | `sessionboard:user:{<name>}:sessions` | hash: handle → index entry (JSON) | the absolute timeout, renewed at each sign-in |
//! | `sessionboard:login-failures:user:{<name>}:ip:<addr>` | integer: attempts at a name from one address | the failure window |
//! | `sessionboard:login-slowdown:user:{<name>}` | hash: `n` attempts at a name from anywhere, `next` earliest next one (ms) | the failure window |
//! | `sessionboard:login-failures:ip:{<addr>}` | integer | the failure window |
//! | `sessionboard:registrations:ip:{<addr>}` | integer | an hour |
//! | `sessionboard:new-sessions:ip:{<addr>}` | integer | a minute |
//!
//! `<addr>` is a client address as the limits count it: IPv4 as is, IPv6 by its /64
//! (`2001:db8:1:2::/64`).
//!
//! The `{…}` parts are Redis Cluster hash tags: a user's account and session index share a slot.
//! Every script touches one key, so each runs on a cluster too.

use std::sync::Arc;

use crate::{server::client_address::limited_as, shared::input::Username};

/// The key prefix, shared (not copied) by everything that builds keys. The session store's own
/// keys (sessions, user indexes, owner keys) are built by the store's `SessionKeys` under the
/// same prefix.
#[derive(Debug, Clone)]
pub struct KeySpace {
    prefix: Arc<str>,
}

impl KeySpace {
    pub fn new(prefix: &str) -> Self {
        KeySpace {
            prefix: prefix.into(),
        }
    }

    pub fn live_sessions(&self) -> String {
        format!("{}sessions:live", self.prefix)
    }

    pub fn account(&self, user: &Username) -> String {
        format!("{}user:{{{user}}}:account", self.prefix)
    }

    /// Attempts at one name from one address: the hard lock.
    pub fn login_failures_for_pair(&self, user: &Username, address: &str) -> String {
        let address = limited_as(address);
        format!("{}login-failures:user:{{{user}}}:ip:{address}", self.prefix)
    }

    /// Attempts from one trusted browser (its device cookie's token), at the name it vouches for.
    pub fn login_failures_for_device(&self, token: &str) -> String {
        format!("{}login-failures:device:{{{token}}}", self.prefix)
    }

    /// Attempts at one name from every address: the slowdown.
    pub fn login_slowdown_for_user(&self, user: &Username) -> String {
        format!("{}login-slowdown:user:{{{user}}}", self.prefix)
    }

    /// Attempts at one name from the networks it signed in from before: the slowdown's lane that
    /// guessers elsewhere cannot take.
    pub fn login_slowdown_for_known_networks(&self, user: &Username) -> String {
        format!("{}login-slowdown:user:{{{user}}}:known", self.prefix)
    }

    /// The networks one name signed in from (a sorted set: network → when, in ms).
    pub fn sign_in_networks(&self, user: &Username) -> String {
        format!("{}sign-in-networks:user:{{{user}}}", self.prefix)
    }

    /// Successful sign-ins to one name in the current window.
    pub fn sign_ins_for_user(&self, user: &Username) -> String {
        format!("{}sign-ins:user:{{{user}}}", self.prefix)
    }

    pub fn registrations_for_address(&self, address: &str) -> String {
        let address = limited_as(address);
        format!("{}registrations:ip:{{{address}}}", self.prefix)
    }

    pub fn new_sessions_for_address(&self, address: &str) -> String {
        let address = limited_as(address);
        format!("{}new-sessions:ip:{{{address}}}", self.prefix)
    }

    pub fn login_failures_for_address(&self, address: &str) -> String {
        let address = limited_as(address);
        format!("{}login-failures:ip:{{{address}}}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_limited_by_their_64_and_ipv4_by_address() {
        let keys = KeySpace::new("p:");
        let name = Username::parse("alice").unwrap();
        let same_network = ["2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"];
        let per_address: [fn(&KeySpace, &str) -> String; 3] = [
            KeySpace::registrations_for_address,
            KeySpace::new_sessions_for_address,
            KeySpace::login_failures_for_address,
        ];
        for key in per_address {
            assert_eq!(key(&keys, same_network[0]), key(&keys, same_network[1]));
            assert_ne!(key(&keys, "2001:db8:1:2::1"), key(&keys, "2001:db8:1:3::1"));
            assert_ne!(key(&keys, "192.0.2.1"), key(&keys, "192.0.2.2"));
            assert_eq!(key(&keys, "::ffff:192.0.2.1"), key(&keys, "192.0.2.1"));
            assert_eq!(key(&keys, "unknown"), key(&keys, "unknown"));
        }
        let pair = |address| keys.login_failures_for_pair(&name, address);
        assert_eq!(pair(same_network[0]), pair(same_network[1]));
        assert_eq!(
            keys.login_failures_for_address("2001:db8:1:2::1"),
            "p:login-failures:ip:{2001:db8:1:2::/64}"
        );
        assert_eq!(
            keys.new_sessions_for_address("::ffff:192.0.2.1"),
            "p:new-sessions:ip:{192.0.2.1}"
        );
    }
}

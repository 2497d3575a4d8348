//! The host names this site answers to (`ALLOWED_HOSTS`). A request naming another host in its
//! `Host` (or HTTP/2 `:authority`) was not meant for this site — DNS rebinding, a cache keyed on
//! a forged host, links built from it — and is refused before routing, so before any session
//! work (`router.rs` checks through tower-http's `ValidateRequestHeaderLayer`). No crate offers
//! these semantics: ports, trailing dots, IPv6 forms, every named host checked.

use std::net::{IpAddr, SocketAddr};

use axum::http::{header::HOST, uri::Authority, Request};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedHosts {
    /// `*`: the check is left to something in front.
    Any,
    /// Host names without port, lower case, without a trailing dot or IPv6 brackets.
    Only(Vec<String>),
}

/// No host at all: what `ALLOWED_HOSTS` reads as until the settings put the site's own names in
/// its place (a list given is never empty), so a forgotten step refuses every host.
impl Default for AllowedHosts {
    fn default() -> Self {
        AllowedHosts::Only(Vec::new())
    }
}

impl AllowedHosts {
    /// `example.com, www.example.com`, or `*` for any.
    pub fn parse(list: &str) -> Option<AllowedHosts> {
        let names: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .collect();
        if names == ["*"] {
            return Some(AllowedHosts::Any);
        }
        let plain = |name: &&str| {
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
        };
        if names.is_empty() || !names.iter().all(plain) {
            return None;
        }
        Some(AllowedHosts::Only(
            names.into_iter().map(normalized).collect(),
        ))
    }

    /// Without `ALLOWED_HOSTS`: the site address's own host, and in development this machine's
    /// loopback names too (a browser on `localhost:3000` reaches a site on `127.0.0.1:3000`).
    /// `None` in production when the site listens on every address: no name to go by.
    pub fn default_for(site: SocketAddr, development: bool) -> Option<AllowedHosts> {
        let own = (!site.ip().is_unspecified()).then(|| site.ip().to_string());
        let loopback = ["localhost", "127.0.0.1", "::1"]
            .map(String::from)
            .into_iter();
        let loopback = loopback.filter(|name| development && own.as_ref() != Some(name));
        let names: Vec<String> = own.iter().cloned().chain(loopback).collect();
        (!names.is_empty()).then_some(AllowedHosts::Only(names))
    }

    /// Whether every host the request names is allowed: its `Host` header and the authority of
    /// its URI (HTTP/2's `:authority`, or an absolute-form request line), and at least one of
    /// them is there. Two `Host` lines, a user name (`user@host`) or a port no TCP connection
    /// can have are refused: a proxy or cache behind us may read another host from them.
    pub fn admit<B>(&self, request: &Request<B>) -> bool {
        let AllowedHosts::Only(names) = self else {
            return true;
        };
        let mut host_lines = request.headers().get_all(HOST).iter();
        let header = host_lines.next().map(|value| {
            let text = value.to_str().ok();
            text.and_then(|text| text.parse::<Authority>().ok())
        });
        if host_lines.next().is_some() {
            return false;
        }
        let authority = request.uri().authority().cloned().map(Some);
        let mut named = header.into_iter().chain(authority).peekable();
        named.peek().is_some()
            && named.all(|authority| {
                authority
                    .is_some_and(|a| is_host_and_port(&a) && names.contains(&normalized(a.host())))
            })
    }
}

/// A host with at most a port from 1 to 65535: no user name, no empty or impossible port.
fn is_host_and_port(authority: &Authority) -> bool {
    let text = authority.as_str();
    let after_address = text.rsplit_once(']').map_or(text, |(_, rest)| rest);
    let port = after_address.split_once(':').map(|(_, port)| port);
    !text.contains('@') && port.is_none_or(|port| port.parse::<u16>().is_ok_and(|port| port > 0))
}

/// `WWW.Example.com.` → `www.example.com`; `[::1]` → `::1`, written as Rust writes it.
fn normalized(host: &str) -> String {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(address) => address.to_string(),
        Err(_) => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(host: Option<&str>, uri: &str) -> Request<()> {
        let mut builder = Request::builder().uri(uri);
        if let Some(host) = host {
            builder = builder.header(HOST, host);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn two_host_lines_a_user_name_or_an_impossible_port_are_refused() {
        let hosts = AllowedHosts::parse("127.0.0.1, example.com").unwrap();
        let mut two = request(Some("127.0.0.1"), "/");
        two.headers_mut()
            .append(HOST, axum::http::HeaderValue::from_static("evil.example"));
        assert!(!hosts.admit(&two));
        let mut twice_ours = request(Some("127.0.0.1"), "/");
        twice_ours
            .headers_mut()
            .append(HOST, axum::http::HeaderValue::from_static("127.0.0.1"));
        assert!(!hosts.admit(&twice_ours));
        for host in [
            "evil@127.0.0.1",
            "127.0.0.1:99999",
            "127.0.0.1:0",
            "example.com:",
        ] {
            assert!(!hosts.admit(&request(Some(host), "/")), "{host}");
        }
        assert!(!hosts.admit(&request(None, "http://evil@example.com/")));
        for host in ["127.0.0.1:65535", "example.com:3000", "example.com"] {
            assert!(hosts.admit(&request(Some(host), "/")), "{host}");
        }
    }

    #[test]
    fn hosts_match_by_name_whatever_the_port_case_or_trailing_dot() {
        let hosts = AllowedHosts::parse("Example.com, [2001:db8::1]").unwrap();
        for host in [
            "example.com",
            "EXAMPLE.com:8443",
            "example.com.",
            "[2001:db8::1]:443",
        ] {
            assert!(hosts.admit(&request(Some(host), "/")), "{host}");
        }
        for host in ["evil.example", "sub.example.com", "example.com@evil", ""] {
            assert!(!hosts.admit(&request(Some(host), "/")), "{host}");
        }
        assert!(!hosts.admit(&request(None, "/")), "no host at all");
        let h2 = request(None, "https://example.com/x");
        assert!(hosts.admit(&h2), "HTTP/2 :authority");
        let mixed = request(Some("example.com"), "https://evil.example/x");
        assert!(!hosts.admit(&mixed), "every named host must be allowed");
        assert!(AllowedHosts::parse("*").unwrap().admit(&request(None, "/")));
        assert!(AllowedHosts::parse("a b").is_none());
        assert!(AllowedHosts::parse(" , ").is_none());
    }

    #[test]
    fn the_default_is_the_site_address_and_loopback_names_in_development() {
        let site: SocketAddr = "192.0.2.7:3000".parse().unwrap();
        let production = AllowedHosts::default_for(site, false).unwrap();
        assert!(production.admit(&request(Some("192.0.2.7:3000"), "/")));
        assert!(!production.admit(&request(Some("localhost:3000"), "/")));
        let development = AllowedHosts::default_for(site, true).unwrap();
        assert!(development.admit(&request(Some("localhost:3000"), "/")));
        assert!(development.admit(&request(Some("[::1]:3000"), "/")));
        let everywhere: SocketAddr = "0.0.0.0:3000".parse().unwrap();
        assert_eq!(AllowedHosts::default_for(everywhere, false), None);
        assert!(AllowedHosts::default_for(everywhere, true).is_some());
    }
}

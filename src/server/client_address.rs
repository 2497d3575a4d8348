//! Which address a request comes from. Behind a reverse proxy the TCP peer is the proxy; only
//! when that peer is one of the configured trusted proxies (`TRUSTED_PROXIES`) are the
//! `Forwarded` / `X-Forwarded-For` headers read, from the right: each trusted proxy appends the
//! address it received from, so the rightmost address that is not a trusted proxy is the client.
//! Addresses further left were written by the client itself and are never believed. Without
//! trusted proxies those headers are ignored.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::ConnectInfo,
    http::{header::FORWARDED, Extensions, HeaderMap},
};
use ipnet::IpNet;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// `10.0.0.0/8, 192.168.1.7` (a bare address is a network of one); empty for none.
    pub fn parse(list: &str) -> Option<TrustedProxies> {
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .ok()
                    .or_else(|| item.parse::<IpAddr>().ok().map(IpNet::from))
            })
            .collect::<Option<Vec<_>>>()
            .map(TrustedProxies)
    }

    pub fn parse_owned(list: String) -> Option<TrustedProxies> {
        TrustedProxies::parse(&list)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client's address: the peer, or behind trusted proxies the rightmost forwarded address
    /// that is not one of them. "unknown" when the server was not told the peer.
    pub fn client_address(&self, extensions: &Extensions, headers: &HeaderMap) -> String {
        let peer = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        match peer {
            Some(peer) => self.resolve(peer, headers).to_string(),
            None => "unknown".to_string(),
        }
    }

    fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer;
        if !self.trusts(peer) {
            return client;
        }
        for hop in forwarded_hops(headers).into_iter().rev() {
            // A hop that is not an address (`unknown`, an obfuscated name): the last trusted
            // proxy is as far as the chain can be believed.
            let Some(hop) = hop else { return client };
            client = hop;
            if !self.trusts(hop) {
                return hop;
            }
        }
        client
    }
}

/// The forwarded-for addresses, left to right: from `Forwarded` when present, else from
/// `X-Forwarded-For`.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|item| item.trim().to_string())
            .collect()
    };
    let forwarded = values(FORWARDED.as_str());
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.trim().split_once('='))
                    .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, value)| parse_node(value.trim().trim_matches('"')))
            })
            .collect();
    }
    values("x-forwarded-for")
        .iter()
        .map(|item| parse_node(item))
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:8080`, `[2001:db8::1]`, `[2001:db8::1]:8080` or `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(address) = node.parse::<IpAddr>() {
        return Some(address);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    node.parse::<SocketAddr>().ok().map(|socket| socket.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(trusted: &str, peer: &str, headers: &[(&str, &str)]) -> String {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let proxies = TrustedProxies::parse(trusted).unwrap();
        proxies.resolve(peer.parse().unwrap(), &map).to_string()
    }

    #[test]
    fn forwarded_headers_count_only_behind_a_trusted_proxy() {
        let xff = [("x-forwarded-for", "203.0.113.9")];
        assert_eq!(resolve("", "10.0.0.1", &xff), "10.0.0.1");
        assert_eq!(resolve("10.0.0.0/8", "10.0.0.1", &xff), "203.0.113.9");
        assert_eq!(resolve("10.0.0.0/8", "192.0.2.5", &xff), "192.0.2.5");
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let spoofed = [("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.2")];
        assert_eq!(resolve("10.0.0.0/8", "10.0.0.1", &spoofed), "203.0.113.9");
        let forwarded = [(
            "forwarded",
            "for=1.1.1.1, for=\"[2001:db8::7]:4711\";proto=https, for=10.0.0.2",
        )];
        assert_eq!(resolve("10.0.0.0/8", "10.0.0.1", &forwarded), "2001:db8::7");
        let unknown = [("x-forwarded-for", "203.0.113.9, unknown, 10.0.0.2")];
        assert_eq!(resolve("10.0.0.0/8", "10.0.0.1", &unknown), "10.0.0.2");
        assert!(TrustedProxies::parse("10.0.0.0/33").is_none());
        assert_eq!(
            TrustedProxies::parse(" ").unwrap(),
            TrustedProxies::default()
        );
    }
}

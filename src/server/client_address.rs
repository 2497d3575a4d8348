//! Which address a request comes from. Behind a reverse proxy the TCP peer is the proxy; only
//! when that peer is one of the configured trusted proxies (`TRUSTED_PROXIES`) is the one
//! forwarding header they write (`TRUSTED_PROXY_HEADER`: `X-Forwarded-For` or `Forwarded`) read,
//! from the right: each trusted proxy appends the address it received from, so the rightmost
//! address that is not a trusted proxy is the client. Addresses further left were written by the
//! client itself and are never believed, and neither is the other header: a proxy that appends to
//! one passes the client's own copy of the other through untouched. Without trusted proxies both
//! headers are ignored.

use std::{
    borrow::Cow,
    net::{IpAddr, Ipv6Addr, SocketAddr},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use axum::{
    extract::ConnectInfo,
    http::{header::FORWARDED, Extensions, HeaderMap},
};
use ipnet::IpNet;

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The header the trusted proxies name the client in (`TRUSTED_PROXY_HEADER`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardingHeader {
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=…`.
    Forwarded,
}

impl ForwardingHeader {
    pub fn parse(name: &str) -> Option<ForwardingHeader> {
        match name.trim().to_ascii_lowercase().as_str() {
            X_FORWARDED_FOR => Some(ForwardingHeader::XForwardedFor),
            "forwarded" => Some(ForwardingHeader::Forwarded),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ForwardingHeader,
    /// Shared by the clones of one configuration, so a misconfigured deployment is reported
    /// once, not on every request.
    reported_untrusted: Arc<AtomicBool>,
}

impl PartialEq for TrustedProxies {
    fn eq(&self, other: &Self) -> bool {
        self.nets == other.nets && self.header == other.header
    }
}

impl Eq for TrustedProxies {}

impl TrustedProxies {
    /// `10.0.0.0/8, 192.168.1.7` (a bare address is a network of one); empty for none.
    pub fn parse(list: &str) -> Option<TrustedProxies> {
        let nets = list
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .ok()
                    .or_else(|| item.parse::<IpAddr>().ok().map(IpNet::from))
            })
            .collect::<Option<Vec<_>>>()?;
        Some(TrustedProxies {
            nets,
            ..TrustedProxies::default()
        })
    }

    /// These proxies, naming the client in `header` only.
    pub fn reading(self, header: ForwardingHeader) -> TrustedProxies {
        TrustedProxies { header, ..self }
    }

    /// An IPv4 proxy seen on a dual-stack listener (as `::ffff:a.b.c.d`) is still that proxy.
    pub fn trusts(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.nets.iter().any(|net| net.contains(&address))
    }

    /// The client's address: the peer, or behind trusted proxies the rightmost forwarded address
    /// that is not one of them. "unknown" when the server was not told the peer.
    pub fn client_address(&self, extensions: &Extensions, headers: &HeaderMap) -> String {
        address_text(self.client_ip(extensions, headers))
    }

    /// [`Self::client_address`] before it is text; `None` when the server was not told the peer.
    pub fn client_ip(&self, extensions: &Extensions, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
        Some(self.resolve(peer, headers))
    }

    fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer;
        if !self.trusts(peer) {
            self.report_untrusted(peer, headers);
            return client;
        }
        for hop in forwarded_hops(headers, self.header).into_iter().rev() {
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

    /// Forwarding headers from a peer that is not trusted are ignored: right for a client that
    /// sends its own, but when a proxy in front is missing from `TRUSTED_PROXIES` every client
    /// shares the proxy's address, and each per-address limit becomes one limit for everyone.
    fn report_untrusted(&self, peer: IpAddr, headers: &HeaderMap) {
        let forwarded = headers.contains_key(X_FORWARDED_FOR) || headers.contains_key(FORWARDED);
        if forwarded
            && !self.reported_untrusted.load(Ordering::Relaxed)
            && !self.reported_untrusted.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                %peer,
                "a request carried X-Forwarded-For or Forwarded from a peer that is not in \
                 TRUSTED_PROXIES: the header is ignored, so if a proxy sent it, every client \
                 behind it shares its address; set TRUSTED_PROXIES to the proxy (reported once)"
            );
        }
    }
}

/// What a per-address limit counts `address` under: an IPv4 address as it is (also written as
/// IPv4-mapped IPv6), an IPv6 address by its /64, since one host commonly holds a whole /64 and
/// could otherwise take a fresh limit with every address of it. Anything else unchanged.
pub fn limited_as(address: &str) -> Cow<'_, str> {
    match address.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) | Err(_) => Cow::Borrowed(address),
        Ok(ip) => match network_of(ip) {
            IpAddr::V4(v4) => Cow::Owned(v4.to_string()),
            IpAddr::V6(network) => Cow::Owned(format!("{network}/64")),
        },
    }
}

/// The same as [`limited_as`], as an address: IPv4 (and IPv4-mapped IPv6) as is, other IPv6
/// the first address of its /64.
pub fn network_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

/// The forwarded-for addresses in `header`, left to right.
fn forwarded_hops(headers: &HeaderMap, header: ForwardingHeader) -> Vec<Option<IpAddr>> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|item| item.trim().to_string())
            .collect()
    };
    match header {
        ForwardingHeader::Forwarded => values(FORWARDED.as_str())
            .iter()
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.trim().split_once('='))
                    .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, value)| parse_node(value.trim().trim_matches('"')))
            })
            .collect(),
        ForwardingHeader::XForwardedFor => values(X_FORWARDED_FOR)
            .iter()
            .map(|item| parse_node(item))
            .collect(),
    }
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

/// A client address as [`TrustedProxies::client_address`] writes it.
pub fn address_text(client: Option<IpAddr>) -> String {
    match client {
        Some(client) => client.to_string(),
        None => "unknown".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(trusted: &str, peer: &str, headers: &[(&str, &str)]) -> String {
        resolve_from(ForwardingHeader::default(), trusted, peer, headers)
    }

    fn resolve_from(
        header: ForwardingHeader,
        trusted: &str,
        peer: &str,
        headers: &[(&str, &str)],
    ) -> String {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let proxies = TrustedProxies::parse(trusted).unwrap().reading(header);
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
    fn only_the_configured_header_names_the_client() {
        let both = [
            ("forwarded", "for=198.51.100.66"),
            ("x-forwarded-for", "203.0.113.9"),
        ];
        assert_eq!(resolve("10.0.0.0/8", "10.0.0.1", &both), "203.0.113.9");
        let only_forwarded = [("forwarded", "for=198.51.100.66")];
        assert_eq!(
            resolve("10.0.0.0/8", "10.0.0.1", &only_forwarded),
            "10.0.0.1"
        );
        let standard = ForwardingHeader::Forwarded;
        let seen = resolve_from(standard, "10.0.0.0/8", "10.0.0.1", &both);
        assert_eq!(seen, "198.51.100.66");
        let only_xff = [("x-forwarded-for", "203.0.113.9")];
        let seen = resolve_from(standard, "10.0.0.0/8", "10.0.0.1", &only_xff);
        assert_eq!(seen, "10.0.0.1");
        let parse = ForwardingHeader::parse;
        assert_eq!(
            parse("X-Forwarded-For"),
            Some(ForwardingHeader::XForwardedFor)
        );
        assert_eq!(parse("forwarded"), Some(ForwardingHeader::Forwarded));
        assert_eq!(parse("x-real-ip"), None);
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let spoofed = [("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.2")];
        assert_eq!(resolve("10.0.0.0/8", "10.0.0.1", &spoofed), "203.0.113.9");
        let forwarded = [(
            "forwarded",
            "for=1.1.1.1, for=\"[2001:db8::7]:4711\";proto=https, for=10.0.0.2",
        )];
        let seen = resolve_from(
            ForwardingHeader::Forwarded,
            "10.0.0.0/8",
            "10.0.0.1",
            &forwarded,
        );
        assert_eq!(seen, "2001:db8::7");
        let unknown = [("x-forwarded-for", "203.0.113.9, unknown, 10.0.0.2")];
        assert_eq!(resolve("10.0.0.0/8", "10.0.0.1", &unknown), "10.0.0.2");
        assert!(TrustedProxies::parse("10.0.0.0/33").is_none());
        assert_eq!(
            TrustedProxies::parse(" ").unwrap(),
            TrustedProxies::default()
        );
    }
}

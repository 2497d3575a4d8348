//! Which address a request comes from. Behind a reverse proxy the TCP peer is the proxy; only
//! when that peer is one of the configured trusted proxies (`TRUSTED_PROXIES`) is the one
//! forwarding header they write (`TRUSTED_PROXY_HEADER`: `X-Forwarded-For` or `Forwarded`) read,
//! from the right: each trusted proxy appends the address it received from, so the rightmost
//! address that is not a trusted proxy is the client. Addresses further left were written by the
//! client itself and are never believed, and neither is the other header: a proxy that appends to
//! one passes the client's own copy of the other through untouched. Without trusted proxies both
//! headers are ignored.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use axum::{
    extract::ConnectInfo,
    http::{header::FORWARDED, Extensions, HeaderMap},
};
use ipnet::{IpNet, Ipv6Net};

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
        [ForwardingHeader::XForwardedFor, ForwardingHeader::Forwarded]
            .into_iter()
            .find(|header| name.trim().eq_ignore_ascii_case(header.name()))
    }

    fn name(self) -> &'static str {
        match self {
            ForwardingHeader::XForwardedFor => X_FORWARDED_FOR,
            ForwardingHeader::Forwarded => FORWARDED.as_str(),
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
    /// that is not one of them; `None` when the server was not told the peer.
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
        for hop in forwarded_hops(headers, self.header).rev() {
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
pub fn limited_as(address: &str) -> String {
    match address.parse().map(network_of) {
        Ok(IpAddr::V6(network)) => format!("{network}/64"),
        Ok(v4) => v4.to_string(),
        Err(_) => address.to_string(),
    }
}

/// The same as [`limited_as`], as an address: the first address of an IPv6 /64.
pub fn network_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Net::new_assert(v6, 64).network()),
        v4 => v4,
    }
}

/// The forwarded-for addresses in `header`, left to right.
fn forwarded_hops(
    headers: &HeaderMap,
    header: ForwardingHeader,
) -> impl DoubleEndedIterator<Item = Option<IpAddr>> + '_ {
    let items = (headers.get_all(header.name()).iter())
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    items.map(move |item| match header {
        ForwardingHeader::XForwardedFor => parse_node(item.trim()),
        ForwardingHeader::Forwarded => item
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
            .and_then(|(_, value)| parse_node(value.trim().trim_matches('"'))),
    })
}

/// `192.0.2.1`, `192.0.2.1:8080`, `[2001:db8::1]`, `[2001:db8::1]:8080` or `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let bare = || node.trim_start_matches('[').trim_end_matches(']').parse();
    (node.parse::<SocketAddr>().map(|socket| socket.ip()))
        .or_else(|_| bare())
        .ok()
}

/// A client address as text: "unknown" when the server was not told the peer.
pub fn address_text(client: Option<IpAddr>) -> String {
    client.map_or_else(|| "unknown".to_string(), |client| client.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_is_the_rightmost_hop_no_trusted_proxy_wrote_in_the_configured_header() {
        use ForwardingHeader::{Forwarded as Fwd, XForwardedFor as Xff};
        let xff = ("x-forwarded-for", "203.0.113.9");
        let fwd = ("forwarded", "for=198.51.100.66");
        let spoofed = ("x-forwarded-for", "1.1.1.1, 203.0.113.9, 10.0.0.2");
        let chain = (
            "forwarded",
            "for=1.1.1.1, for=\"[2001:db8::7]:4711\";proto=https, for=10.0.0.2",
        );
        let unknown = ("x-forwarded-for", "203.0.113.9, unknown, 10.0.0.2");
        let (net, proxy) = ("10.0.0.0/8", "10.0.0.1");
        let cases: [(_, _, _, &[_], _); 10] = [
            // Forwarding headers count only behind a trusted proxy.
            (Xff, "", proxy, &[xff], proxy),
            (Xff, net, proxy, &[xff], "203.0.113.9"),
            (Xff, net, "192.0.2.5", &[xff], "192.0.2.5"),
            // Only the configured header names the client.
            (Xff, net, proxy, &[fwd, xff], "203.0.113.9"),
            (Xff, net, proxy, &[fwd], proxy),
            (Fwd, net, proxy, &[fwd, xff], "198.51.100.66"),
            (Fwd, net, proxy, &[xff], proxy),
            // The rightmost untrusted hop; a hop that is no address ends the chain.
            (Xff, net, proxy, &[spoofed], "203.0.113.9"),
            (Fwd, net, proxy, &[chain], "2001:db8::7"),
            (Xff, net, proxy, &[unknown], "10.0.0.2"),
        ];
        for (header, trusted, peer, sent, client) in cases {
            let headers = HeaderMap::from_iter(sent.iter().map(|(name, value)| {
                let name = axum::http::HeaderName::from_static(name);
                (name, value.parse().unwrap())
            }));
            let proxies = TrustedProxies::parse(trusted).unwrap().reading(header);
            let seen = proxies.resolve(peer.parse().unwrap(), &headers);
            assert_eq!(seen.to_string(), client, "{header:?} {trusted} {sent:?}");
        }
        let parse = ForwardingHeader::parse;
        assert_eq!(parse("X-Forwarded-For"), Some(Xff));
        assert_eq!(parse("forwarded"), Some(Fwd));
        assert_eq!(parse("x-real-ip"), None);
        assert!(TrustedProxies::parse("10.0.0.0/33").is_none());
        assert_eq!(
            TrustedProxies::parse(" ").unwrap(),
            TrustedProxies::default()
        );
    }
}

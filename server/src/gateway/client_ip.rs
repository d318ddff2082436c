//! The client's address: the socket peer, or what a trusted proxy says it forwarded.

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;

/// Walks `X-Forwarded-For` from the right (the hop nearest us), skipping trusted proxies;
/// the first untrusted address is the client. Headers from untrusted peers are ignored,
/// so an allowlist cannot be spoofed.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    forwarded.iter().rev().find(|hop| !is_trusted(hop)).or(forwarded.first()).copied().unwrap_or(peer)
}

/// IPv4-mapped IPv6 peers (`::ffff:a.b.c.d`) are matched as the IPv4 address they are.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", xff.parse().unwrap());
        headers
    }

    #[test]
    fn believes_forwarded_addresses_only_from_trusted_peers() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let spoofed = headers("1.2.3.4");
        assert_eq!(
            resolve("203.0.113.9".parse().unwrap(), &spoofed, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let chain = headers("1.2.3.4, 198.51.100.7, 10.0.0.2");
        assert_eq!(resolve("10.0.0.1".parse().unwrap(), &chain, &trusted), "198.51.100.7".parse::<IpAddr>().unwrap());
        assert_eq!(
            resolve("10.0.0.1".parse().unwrap(), &HeaderMap::new(), &trusted),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
    }
}

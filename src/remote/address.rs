//! Which resolved addresses a fetch may connect to.
//!
//! The allow-list holds a URL to the origins an operator named, but a name
//! is only as good as its DNS: a subdomain under a wildcard rule can be
//! taken over, or made to answer 127.0.0.1 or 169.254.169.254 (the cloud
//! metadata service) a second after it answered a public address (DNS
//! rebinding). So after resolving, the fetch refuses every address that is
//! not on the public internet, unless the URL matched a rule that names its
//! host exactly: an operator who writes `http://127.0.0.1:8123` or
//! `https://cdn.internal.example` has chosen that host, wherever it lives.
//! The fetch then connects to the address that was checked, never resolving
//! the name a second time. Nothing here does I/O.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `address` is outside the public internet: loopback, private
/// (RFC 1918, IPv6 unique-local), link-local, unspecified, multicast,
/// carrier-grade NAT, broadcast and reserved ranges, and the IPv6 forms
/// that carry one of those IPv4 addresses.
pub(crate) fn is_internal(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(address: Ipv4Addr) -> bool {
    let [first, second, ..] = address.octets();
    address.is_loopback()
        || address.is_private()
        || address.is_link_local()
        || address.is_multicast()
        || address.is_broadcast()
        // 0.0.0.0/8, "this network": Linux connects 0.0.0.0 to loopback.
        || first == 0
        // 100.64.0.0/10, carrier-grade NAT: a provider's internal network.
        || (first == 100 && (64..128).contains(&second))
        // 240.0.0.0/4, reserved.
        || first >= 240
}

fn is_internal_v6(address: Ipv6Addr) -> bool {
    let segments = address.segments();
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (the deprecated compatible
    // form, which also covers :: and ::1) reach the IPv4 address inside.
    if let Some(v4) = address.to_ipv4() {
        return is_internal_v4(v4);
    }
    // 64:ff9b::/96, NAT64: the gateway connects to the IPv4 address inside.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b] = segments[6].to_be_bytes();
        let [c, d] = segments[7].to_be_bytes();
        return is_internal_v4(Ipv4Addr::new(a, b, c, d));
    }
    address.is_multicast()
        // fc00::/7, unique-local.
        || (segments[0] & 0xfe00) == 0xfc00
        // fe80::/10, link-local, and fec0::/10, the retired site-local.
        || (segments[0] & 0xffc0) == 0xfe80
        || (segments[0] & 0xffc0) == 0xfec0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_outside_the_public_internet_are_internal() {
        let internal = [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
        ];
        let public = [
            "8.8.8.8",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "100.63.255.255",
            "169.255.0.1",
            "2606:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ];
        for text in internal {
            let address: IpAddr = text.parse().expect(text);
            assert!(is_internal(address), "{text} is internal");
        }
        for text in public {
            let address: IpAddr = text.parse().expect(text);
            assert!(!is_internal(address), "{text} is public");
        }
    }
}

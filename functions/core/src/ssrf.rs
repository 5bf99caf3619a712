//! The SSRF policy: which IP addresses hookline may deliver webhooks to.
//!
//! A tenant chooses the target URL, so without this policy hookline would POST wherever a
//! tenant's DNS points it: the cloud metadata service, the VPC, loopback. The policy is a pure
//! function over addresses; the HTTP client applies it to every resolved address at connection
//! time (so DNS rebinding cannot slip past a check made when the subscription was saved).
//!
//! IPv6 forms that carry an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo)
//! are judged by the IPv4 address they reach, so `::ffff:127.0.0.1` is as loopback as
//! `127.0.0.1`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix_len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix_len)
}

const fn v6(segments: [u16; 8], prefix_len: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), prefix_len)
}

const PRIVATE: &str = "private (RFC 1918)";
const CLOUD_METADATA: &str = "cloud metadata";

/// IPv4 ranges that are not public, most specific first (the first match names the range).
/// From the IANA IPv4 Special-Purpose Address Registry, keeping only the blocks that are not
/// globally reachable.
const FORBIDDEN_V4: &[(Ipv4Net, &str)] = &[
    // Instance metadata (AWS, GCP, Azure, …), ECS task credentials, EKS pod identity: the
    // reason SSRF matters on a cloud host, so they get their own name in error messages.
    (v4(169, 254, 169, 254, 32), CLOUD_METADATA),
    (v4(169, 254, 170, 2, 32), CLOUD_METADATA),
    (v4(169, 254, 170, 23, 32), CLOUD_METADATA),
    (v4(0, 0, 0, 0, 32), "unspecified"),
    (v4(0, 0, 0, 0, 8), "this network"),
    (v4(10, 0, 0, 0, 8), PRIVATE),
    (v4(100, 64, 0, 0, 10), "carrier-grade NAT"),
    (v4(127, 0, 0, 0, 8), "loopback"),
    (v4(169, 254, 0, 0, 16), "link-local"),
    (v4(172, 16, 0, 0, 12), PRIVATE),
    (v4(192, 0, 0, 0, 24), "IETF protocol assignments"),
    (v4(192, 0, 2, 0, 24), "documentation"),
    (v4(192, 88, 99, 0, 24), "6to4 relay anycast"),
    (v4(192, 168, 0, 0, 16), PRIVATE),
    (v4(198, 18, 0, 0, 15), "benchmarking"),
    (v4(198, 51, 100, 0, 24), "documentation"),
    (v4(203, 0, 113, 0, 24), "documentation"),
    (v4(224, 0, 0, 0, 4), "multicast"),
    (v4(255, 255, 255, 255, 32), "broadcast"),
    (v4(240, 0, 0, 0, 4), "reserved"),
];

/// IPv6 ranges that are not public and carry no IPv4 address, most specific first.
const FORBIDDEN_V6: &[(Ipv6Net, &str)] = &[
    // AWS instance metadata and EKS pod identity over IPv6; inside fc00::/7 but worth naming.
    (v6([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254], 128), CLOUD_METADATA),
    (v6([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23], 128), CLOUD_METADATA),
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "unspecified"),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback"),
    (v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), "discard-only"),
    (v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), "documentation"),
    (v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), "documentation"),
    // Teredo (2001::/32) is handled before this table; the rest of 2001::/23 holds protocol
    // anycast addresses and ORCHID identifiers, none of them a webhook receiver.
    (v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), "IETF protocol assignments"),
    (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), "IPv6 unique local"),
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local"),
    (v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), "IPv6 site-local"),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast"),
];

/// All IPv6 global unicast space is allocated from 2000::/3; everything else is reserved by the
/// IETF and reaches nothing public.
const GLOBAL_UNICAST_V6: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);

const NAT64_WELL_KNOWN: Ipv6Net = v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96);
const NAT64_LOCAL_USE: Ipv6Net = v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48);
const SIX_TO_FOUR: Ipv6Net = v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16);
const TEREDO: Ipv6Net = v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32);
/// `::a.b.c.d` (deprecated IPv4-compatible) and `::ffff:a.b.c.d` (IPv4-mapped).
const IPV4_COMPATIBLE: Ipv6Net = v6([0, 0, 0, 0, 0, 0, 0, 0], 96);
const IPV4_MAPPED: Ipv6Net = v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96);
/// `::ffff:0:a.b.c.d`, SIIT's IPv4-translated form (RFC 2765).
const IPV4_TRANSLATED: Ipv6Net = v6([0, 0, 0, 0, 0xffff, 0, 0, 0], 96);

/// `None` if `ip` is a public address; otherwise a short name of the range that makes it
/// forbidden, for error messages.
pub fn forbidden_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => forbidden_v4(ip),
        IpAddr::V6(ip) => forbidden_v6(ip),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    FORBIDDEN_V4.iter().find(|(net, _)| net.contains(&ip)).map(|(_, name)| *name)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // :: and ::1 sit inside ::/96 but are IPv6's own unspecified and loopback addresses.
    if ip == Ipv6Addr::UNSPECIFIED {
        return Some("unspecified");
    }
    if ip == Ipv6Addr::LOCALHOST {
        return Some("loopback");
    }
    let bits = ip.to_bits();
    let low32 = Ipv4Addr::from_bits(bits as u32);
    // Forms whose last 32 bits are the IPv4 address traffic ends up at. For the local-use
    // NAT64 prefix we assume the /96 layout, the one DNS64 resolvers (AWS included) synthesise.
    if [IPV4_MAPPED, IPV4_COMPATIBLE, IPV4_TRANSLATED, NAT64_WELL_KNOWN, NAT64_LOCAL_USE]
        .iter()
        .any(|net| net.contains(&ip))
    {
        return forbidden_v4(low32);
    }
    if SIX_TO_FOUR.contains(&ip) {
        // 2002:AABB:CCDD::/48 routes to the 6to4 relay at AA.BB.CC.DD.
        return forbidden_v4(Ipv4Addr::from_bits((bits >> 80) as u32));
    }
    if TEREDO.contains(&ip) {
        // 2001:0:SSSS:SSSS:flags:port:CCCC:CCCC carries the Teredo server and, bit-inverted,
        // the client address; a tunnel to either being private is a way into the network.
        let server = Ipv4Addr::from_bits((bits >> 64) as u32);
        let client = Ipv4Addr::from_bits(!(bits as u32));
        return forbidden_v4(client).or_else(|| forbidden_v4(server));
    }
    if let Some((_, name)) = FORBIDDEN_V6.iter().find(|(net, _)| net.contains(&ip)) {
        return Some(name);
    }
    if !GLOBAL_UNICAST_V6.contains(&ip) {
        return Some("reserved");
    }
    None
}

/// Where a subscription's target may point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TargetPolicy {
    /// Lets every address through. Only for local mode, where receivers listen on loopback;
    /// never set in a deployed stack.
    pub allow_private: bool,
}

impl TargetPolicy {
    /// `Ok` if a webhook may be delivered to `ip` under this policy.
    pub fn check(&self, ip: IpAddr) -> Result<(), BlockedAddress> {
        if self.allow_private {
            return Ok(());
        }
        match forbidden_range(ip) {
            None => Ok(()),
            Some(range) => Err(BlockedAddress { ip, range }),
        }
    }
}

/// A target address refused by the SSRF policy.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("{ip} is a {range} address; webhooks are only delivered to public addresses")]
pub struct BlockedAddress {
    pub ip: IpAddr,
    /// The name of the forbidden range, as [`forbidden_range`] gives it.
    pub range: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test addresses are valid")
    }

    #[test]
    fn hostile_addresses_are_refused_with_their_range() {
        let cases = [
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "this network"),
            ("10.0.0.1", PRIVATE),
            ("10.255.255.255", PRIVATE),
            ("100.64.0.1", "carrier-grade NAT"),
            ("100.127.255.254", "carrier-grade NAT"),
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("169.254.169.254", CLOUD_METADATA),
            ("169.254.170.2", CLOUD_METADATA),
            ("169.254.1.1", "link-local"),
            ("172.16.0.1", PRIVATE),
            ("172.31.255.255", PRIVATE),
            ("192.0.0.8", "IETF protocol assignments"),
            ("192.0.2.1", "documentation"),
            ("192.88.99.1", "6to4 relay anycast"),
            ("192.168.1.1", PRIVATE),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.254", "reserved"),
            ("255.255.255.255", "broadcast"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("fc00::1", "IPv6 unique local"),
            ("fd12:3456:789a::1", "IPv6 unique local"),
            ("fd00:ec2::254", CLOUD_METADATA),
            ("fe80::1", "link-local"),
            ("febf:ffff::1", "link-local"),
            ("fec0::1", "IPv6 site-local"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("100::1", "discard-only"),
            ("2001:2::1", "IETF protocol assignments"),
            ("2001:10::1", "IETF protocol assignments"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", PRIVATE),
            ("::ffff:169.254.169.254", CLOUD_METADATA),
            ("::127.0.0.1", "loopback"),
            ("::192.168.0.1", PRIVATE),
            ("::ffff:0:127.0.0.1", "loopback"),
            ("64:ff9b::a00:1", PRIVATE),
            ("64:ff9b::127.0.0.1", "loopback"),
            ("64:ff9b::169.254.169.254", CLOUD_METADATA),
            ("64:ff9b:1::c0a8:1", PRIVATE),
            ("2002:7f00:1::", "loopback"),
            ("2002:a9fe:a9fe::1", CLOUD_METADATA),
            ("2002:c0a8:101::", PRIVATE),
            // Teredo with a loopback client (127.0.0.1 inverted is 80ff:fffe).
            ("2001:0:808:808::80ff:fffe", "loopback"),
            // Teredo with a private server.
            ("2001:0:a00:1::f7f7:f7f7", PRIVATE),
            ("64:ff9b:0:1::1", "reserved"),
            ("4000::1", "reserved"),
            ("5f00::1", "reserved"),
        ];
        assert!(cases.len() >= 30);
        for (text, range) in cases {
            assert_eq!(forbidden_range(ip(text)), Some(range), "{text}");
            assert_eq!(TargetPolicy::default().check(ip(text)), Err(BlockedAddress { ip: ip(text), range }), "{text}");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for text in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4001:81b::200e",
            "::ffff:8.8.8.8",
            "::8.8.8.8",
            "64:ff9b::808:808",
            "64:ff9b:1::808:808",
            "2002:808:808::1",
            // Teredo: public server 8.8.8.8, public client 1.1.1.1 (inverted fefe:fefe).
            "2001:0:808:808::fefe:fefe",
        ] {
            assert_eq!(forbidden_range(ip(text)), None, "{text}");
            assert_eq!(TargetPolicy::default().check(ip(text)), Ok(()), "{text}");
        }
    }

    #[test]
    fn allow_private_lets_everything_through() {
        let local = TargetPolicy { allow_private: true };
        for text in ["127.0.0.1", "::1", "10.1.2.3", "169.254.169.254", "0.0.0.0", "ff02::1"] {
            assert_eq!(local.check(ip(text)), Ok(()), "{text}");
        }
    }

    #[test]
    fn the_error_names_address_and_range() {
        let err = TargetPolicy::default().check(ip("169.254.169.254")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "169.254.169.254 is a cloud metadata address; webhooks are only delivered to public addresses"
        );
    }

    fn in_v4(net: &str) -> impl Strategy<Value = Ipv4Addr> {
        let net: Ipv4Net = net.parse().expect("valid network");
        let host_bits = 32 - u32::from(net.prefix_len());
        let base = net.network().to_bits();
        (0..(1u64 << host_bits)).prop_map(move |host| Ipv4Addr::from_bits(base | host as u32))
    }

    fn in_v6(net: &str) -> impl Strategy<Value = Ipv6Addr> {
        let net: Ipv6Net = net.parse().expect("valid network");
        let host_mask = u128::MAX >> net.prefix_len();
        let base = net.network().to_bits();
        any::<u128>().prop_map(move |host| Ipv6Addr::from_bits(base | (host & host_mask)))
    }

    proptest! {
        #[test]
        fn private_ipv4_ranges_are_refused(
            ip in prop_oneof![
                in_v4("10.0.0.0/8"),
                in_v4("127.0.0.0/8"),
                in_v4("192.168.0.0/16"),
                in_v4("172.16.0.0/12"),
                in_v4("100.64.0.0/10"),
                in_v4("169.254.0.0/16"),
            ]
        ) {
            prop_assert!(TargetPolicy::default().check(IpAddr::V4(ip)).is_err(), "{}", ip);
        }

        #[test]
        fn private_ipv6_ranges_are_refused(
            ip in prop_oneof![in_v6("fc00::/7"), in_v6("fe80::/10")]
        ) {
            prop_assert!(TargetPolicy::default().check(IpAddr::V6(ip)).is_err(), "{}", ip);
        }

        #[test]
        fn ipv4_mapped_form_gets_the_same_verdict(bits in any::<u32>()) {
            let v4 = Ipv4Addr::from_bits(bits);
            prop_assert_eq!(
                forbidden_range(IpAddr::V6(v4.to_ipv6_mapped())),
                forbidden_range(IpAddr::V4(v4))
            );
        }

        #[test]
        fn nat64_form_gets_the_same_verdict(bits in any::<u32>()) {
            let v4 = Ipv4Addr::from_bits(bits);
            let nat64 = Ipv6Addr::from_bits(NAT64_WELL_KNOWN.network().to_bits() | u128::from(bits));
            prop_assert_eq!(
                forbidden_range(IpAddr::V6(nat64)),
                forbidden_range(IpAddr::V4(v4))
            );
        }
    }
}

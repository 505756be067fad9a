//! The SSRF guard: which addresses a webhook may reach. Checked on the URL when a subscription
//! is made and again on the resolved addresses at every delivery (DNS rebinding), through a
//! resolver that drops forbidden addresses before a connection is attempted.
//!
//! The refusal list is the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and
//! its updates), plus every IPv6 address outside global unicast (2000::/3), plus the IPv6
//! prefixes that carry an IPv4 address to wherever it points: NAT64 (64:ff9b::/96,
//! 64:ff9b:1::/48), 6to4 (2002::/16), Teredo (2001::/32) and IPv4-compatible addresses
//! (::/96). Those are refused whole, whatever IPv4 address they embed; only IPv4-mapped
//! addresses (::ffff:0:0/96), which a dual-stack socket uses for plain IPv4, are judged by the
//! IPv4 address they carry.
//!
//! Redirects: the delivery client in [`crate::webhooks`] is built with
//! `reqwest::redirect::Policy::none()`, so a redirect is never followed (a 3xx is recorded as
//! the attempt's answer) and no request ever reaches an address that was not checked here.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// The refusal message of the contract.
pub const REJECTED: &str = "URL rejected: private or loopback address";

/// Which networks are allowed besides the public Internet.
#[derive(Debug, Clone, Copy)]
pub struct AddressPolicy {
    pub allow_loopback: bool,
    pub allow_private: bool,
}

/// What an address is, for [`AddressPolicy`]: loopback and private networks are allowed only
/// when the operator opts in; forbidden ones never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Public,
    Loopback,
    Private,
    Forbidden,
}

/// IPv4 networks that are not the public Internet: (network, prefix length, class). The IANA
/// IPv4 Special-Purpose Address Registry; no two entries overlap.
const V4_RANGES: &[(Ipv4Addr, u8, Class)] = &[
    // "This network" (RFC 791), including 0.0.0.0.
    (Ipv4Addr::new(0, 0, 0, 0), 8, Class::Forbidden),
    // Private-use (RFC 1918).
    (Ipv4Addr::new(10, 0, 0, 0), 8, Class::Private),
    // Shared address space, carrier-grade NAT (RFC 6598).
    (Ipv4Addr::new(100, 64, 0, 0), 10, Class::Private),
    // Loopback (RFC 1122).
    (Ipv4Addr::new(127, 0, 0, 0), 8, Class::Loopback),
    // Link-local (RFC 3927), where cloud metadata services live.
    (Ipv4Addr::new(169, 254, 0, 0), 16, Class::Private),
    // Private-use (RFC 1918).
    (Ipv4Addr::new(172, 16, 0, 0), 12, Class::Private),
    // IETF protocol assignments (RFC 6890): IPv4 service continuity 192.0.0.0/29, DS-Lite,
    // PCP anycast .9, TURN anycast .10, NAT64/DNS64 discovery .170/31, …
    (Ipv4Addr::new(192, 0, 0, 0), 24, Class::Forbidden),
    // Documentation TEST-NET-1 (RFC 5737).
    (Ipv4Addr::new(192, 0, 2, 0), 24, Class::Forbidden),
    // AS112-v4 (RFC 7535).
    (Ipv4Addr::new(192, 31, 196, 0), 24, Class::Forbidden),
    // AMT (RFC 7450).
    (Ipv4Addr::new(192, 52, 193, 0), 24, Class::Forbidden),
    // 6to4 relay anycast (RFC 3068, deprecated by RFC 7526) and 6a44 relay anycast (RFC 6751).
    (Ipv4Addr::new(192, 88, 99, 0), 24, Class::Forbidden),
    // Private-use (RFC 1918).
    (Ipv4Addr::new(192, 168, 0, 0), 16, Class::Private),
    // Direct delegation AS112 service (RFC 7534).
    (Ipv4Addr::new(192, 175, 48, 0), 24, Class::Forbidden),
    // Benchmarking (RFC 2544).
    (Ipv4Addr::new(198, 18, 0, 0), 15, Class::Forbidden),
    // Documentation TEST-NET-2 and TEST-NET-3 (RFC 5737).
    (Ipv4Addr::new(198, 51, 100, 0), 24, Class::Forbidden),
    (Ipv4Addr::new(203, 0, 113, 0), 24, Class::Forbidden),
    // Multicast (RFC 5771).
    (Ipv4Addr::new(224, 0, 0, 0), 4, Class::Forbidden),
    // Reserved (RFC 1112), including the limited broadcast 255.255.255.255 (RFC 919).
    (Ipv4Addr::new(240, 0, 0, 0), 4, Class::Forbidden),
];

/// IPv6 networks that are not the public Internet, checked in order (the first match wins).
/// The IANA IPv6 Special-Purpose Address Registry, plus the unique-local, link-local,
/// site-local and multicast blocks. IPv4-mapped addresses (::ffff:0:0/96) are judged by their
/// IPv4 address before this table is read; whatever is left outside 2000::/3 is refused after.
const V6_RANGES: &[(Ipv6Addr, u8, Class)] = &[
    // Loopback (RFC 4291).
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1), 128, Class::Loopback),
    // IPv4-compatible addresses (RFC 4291, deprecated), including the unspecified address ::.
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 96, Class::Forbidden),
    // NAT64 well-known prefix (RFC 6052): any IPv4 address, from the translator's side.
    (
        Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0),
        96,
        Class::Forbidden,
    ),
    // NAT64 local-use prefix (RFC 8215).
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        Class::Forbidden,
    ),
    // Discard-only (RFC 6666).
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        Class::Forbidden,
    ),
    // Dummy IPv6 prefix (RFC 9780).
    (
        Ipv6Addr::new(0x100, 0, 0, 1, 0, 0, 0, 0),
        64,
        Class::Forbidden,
    ),
    // IETF protocol assignments (RFC 2928): Teredo 2001::/32 (RFC 4380), PCP/TURN anycast,
    // benchmarking 2001:2::/48, AMT 2001:3::/32, AS112 2001:4:112::/48, ORCHID 2001:10::/28,
    // ORCHIDv2 2001:20::/28, drone remote ID 2001:30::/28, …
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        23,
        Class::Forbidden,
    ),
    // Documentation (RFC 3849).
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        Class::Forbidden,
    ),
    // 6to4 (RFC 3056): an IPv4 address in bits 16..48, reached through any relay.
    (
        Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0),
        16,
        Class::Forbidden,
    ),
    // Direct delegation AS112 service (RFC 7534).
    (
        Ipv6Addr::new(0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0),
        48,
        Class::Forbidden,
    ),
    // Documentation (RFC 9637).
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        Class::Forbidden,
    ),
    // Segment routing (SRv6) SIDs (RFC 9602).
    (
        Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0),
        16,
        Class::Forbidden,
    ),
    // Unique local (RFC 4193).
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        Class::Private,
    ),
    // Link-local unicast (RFC 4291).
    (
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        10,
        Class::Private,
    ),
    // Site-local unicast (RFC 3879, deprecated).
    (
        Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
        10,
        Class::Forbidden,
    ),
    // Multicast (RFC 4291).
    (
        Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
        8,
        Class::Forbidden,
    ),
];

/// IPv6 global unicast (RFC 4291): the only block IANA allocates to the Internet.
const V6_GLOBAL_UNICAST: (Ipv6Addr, u8) = (Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3);

/// The netmask of a prefix length (0..=32).
fn mask_v4(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

/// The netmask of a prefix length (0..=128).
fn mask_v6(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

fn in_v4(ip: Ipv4Addr, network: Ipv4Addr, len: u8) -> bool {
    u32::from(ip) & mask_v4(len) == u32::from(network)
}

fn in_v6(ip: Ipv6Addr, network: Ipv6Addr, len: u8) -> bool {
    u128::from(ip) & mask_v6(len) == u128::from(network)
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    V4_RANGES
        .iter()
        .find(|(network, len, _)| in_v4(ip, *network, *len))
        .map_or(Class::Public, |(_, _, class)| *class)
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    if let Some((_, _, class)) = V6_RANGES
        .iter()
        .find(|(network, len, _)| in_v6(ip, *network, *len))
    {
        return *class;
    }
    let (global, len) = V6_GLOBAL_UNICAST;
    if in_v6(ip, global, len) {
        Class::Public
    } else {
        Class::Forbidden
    }
}

fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

impl AddressPolicy {
    pub fn allows(&self, ip: IpAddr) -> bool {
        match classify(ip) {
            Class::Public => true,
            Class::Loopback => self.allow_loopback,
            Class::Private => self.allow_private,
            Class::Forbidden => false,
        }
    }
}

/// Why a URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlProblem {
    #[error("the URL is not valid: {0}")]
    Invalid(String),
    #[error("only http and https URLs are allowed")]
    Scheme,
    #[error("{REJECTED}")]
    Rejected,
    #[error("the host name does not resolve: {0}")]
    Unresolvable(String),
}

/// Checks a URL: http(s), and every address its host stands for is allowed. The `url` crate
/// parses hosts the WHATWG way, so every spelling of an IP address reaches the classifier as
/// that address: `0x7f.1`, `2130706433` and `0177.0.0.1` are 127.0.0.1, `[::ffff:169.254.169.254]`
/// is an IPv4-mapped 169.254.169.254. A name (`localhost`, `169.254.169.254.nip.io`) is
/// resolved and every address it resolves to must be allowed. Deliveries call this again
/// before each attempt, which is what checks an IP-literal host then (the client resolves
/// names only; literals never reach [`GuardedResolver`]).
pub async fn check_url(text: &str, policy: AddressPolicy) -> Result<url::Url, UrlProblem> {
    let url = url::Url::parse(text.trim()).map_err(|e| UrlProblem::Invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlProblem::Scheme);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlProblem::Invalid(
            "credentials in the URL are not allowed".into(),
        ));
    }
    match url.host() {
        None => Err(UrlProblem::Invalid("the URL has no host".into())),
        Some(url::Host::Ipv4(ip)) => policy
            .allows(IpAddr::V4(ip))
            .then_some(url.clone())
            .ok_or(UrlProblem::Rejected),
        Some(url::Host::Ipv6(ip)) => policy
            .allows(IpAddr::V6(ip))
            .then_some(url.clone())
            .ok_or(UrlProblem::Rejected),
        Some(url::Host::Domain(domain)) => {
            let port = url.port_or_known_default().unwrap_or(443);
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((domain, port))
                .await
                .map_err(|e| UrlProblem::Unresolvable(e.to_string()))?
                .collect();
            if addrs.is_empty() {
                return Err(UrlProblem::Unresolvable(domain.to_string()));
            }
            if addrs.iter().all(|a| policy.allows(a.ip())) {
                Ok(url.clone())
            } else {
                Err(UrlProblem::Rejected)
            }
        }
    }
}

/// A DNS resolver for the delivery client that keeps only allowed addresses: every address a
/// name resolves to, IPv4 or IPv6, goes through [`AddressPolicy::allows`] at connect time, so a
/// name that changed its answer since [`check_url`] (DNS rebinding) still cannot reach a
/// refused address.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    pub policy: AddressPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| policy.allows(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(Box::new(std::io::Error::other(REJECTED))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

pub fn resolver(policy: AddressPolicy) -> Arc<GuardedResolver> {
    Arc::new(GuardedResolver { policy })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (address, class) for every range of both registries, with the edges where they matter.
    /// These addresses are only classified, never connected to.
    const TABLE: &[(&str, Class)] = &[
        // IPv4: 0.0.0.0/8.
        ("0.0.0.0", Class::Forbidden),
        ("0.255.255.255", Class::Forbidden),
        ("1.0.0.0", Class::Public),
        // 10/8.
        ("9.255.255.255", Class::Public),
        ("10.0.0.0", Class::Private),
        ("10.255.255.255", Class::Private),
        ("11.0.0.0", Class::Public),
        // 100.64/10.
        ("100.63.255.255", Class::Public),
        ("100.64.0.0", Class::Private),
        ("100.127.255.255", Class::Private),
        ("100.128.0.0", Class::Public),
        // 127/8.
        ("126.255.255.255", Class::Public),
        ("127.0.0.1", Class::Loopback),
        ("127.255.255.255", Class::Loopback),
        ("128.0.0.0", Class::Public),
        // 169.254/16.
        ("169.253.255.255", Class::Public),
        ("169.254.169.254", Class::Private),
        ("169.255.0.0", Class::Public),
        // 172.16/12.
        ("172.15.255.255", Class::Public),
        ("172.16.0.0", Class::Private),
        ("172.31.255.255", Class::Private),
        ("172.32.0.0", Class::Public),
        // 192.0.0.0/24 and its entries.
        ("191.255.255.255", Class::Public),
        ("192.0.0.0", Class::Forbidden),
        ("192.0.0.7", Class::Forbidden),
        ("192.0.0.8", Class::Forbidden),
        ("192.0.0.9", Class::Forbidden),
        ("192.0.0.10", Class::Forbidden),
        ("192.0.0.170", Class::Forbidden),
        ("192.0.0.171", Class::Forbidden),
        ("192.0.0.255", Class::Forbidden),
        ("192.0.1.0", Class::Public),
        // 192.0.2/24.
        ("192.0.2.0", Class::Forbidden),
        ("192.0.2.255", Class::Forbidden),
        ("192.0.3.0", Class::Public),
        // 192.31.196/24, 192.52.193/24, 192.88.99/24.
        ("192.31.195.255", Class::Public),
        ("192.31.196.1", Class::Forbidden),
        ("192.31.197.0", Class::Public),
        ("192.52.193.1", Class::Forbidden),
        ("192.88.99.1", Class::Forbidden),
        ("192.88.99.2", Class::Forbidden),
        ("192.88.100.0", Class::Public),
        // 192.168/16.
        ("192.167.255.255", Class::Public),
        ("192.168.0.0", Class::Private),
        ("192.168.255.255", Class::Private),
        ("192.169.0.0", Class::Public),
        // 192.175.48/24.
        ("192.175.48.6", Class::Forbidden),
        ("192.175.49.0", Class::Public),
        // 198.18/15.
        ("198.17.255.255", Class::Public),
        ("198.18.0.0", Class::Forbidden),
        ("198.19.255.255", Class::Forbidden),
        ("198.20.0.0", Class::Public),
        // 198.51.100/24 and 203.0.113/24.
        ("198.51.100.1", Class::Forbidden),
        ("198.51.101.0", Class::Public),
        ("203.0.112.255", Class::Public),
        ("203.0.113.1", Class::Forbidden),
        ("203.0.114.0", Class::Public),
        // 224/4 and 240/4, broadcast.
        ("223.255.255.255", Class::Public),
        ("224.0.0.0", Class::Forbidden),
        ("239.255.255.255", Class::Forbidden),
        ("240.0.0.0", Class::Forbidden),
        ("255.255.255.255", Class::Forbidden),
        // IPv4 public sanity.
        ("8.8.8.8", Class::Public),
        ("93.184.216.34", Class::Public),
        // IPv6: loopback, unspecified, IPv4-compatible ::/96.
        ("::1", Class::Loopback),
        ("::", Class::Forbidden),
        ("::2", Class::Forbidden),
        ("::7f00:1", Class::Forbidden),
        ("::a9fe:a9fe", Class::Forbidden),
        ("::808:808", Class::Forbidden),
        // IPv4-mapped ::ffff:0:0/96: the IPv4 class.
        ("::ffff:127.0.0.1", Class::Loopback),
        ("::ffff:169.254.169.254", Class::Private),
        ("::ffff:a00:1", Class::Private),
        ("::ffff:0.0.0.0", Class::Forbidden),
        ("::ffff:192.0.0.170", Class::Forbidden),
        ("::ffff:8.8.8.8", Class::Public),
        // NAT64 64:ff9b::/96 and 64:ff9b:1::/48, whatever they embed.
        ("64:ff9b::a9fe:a9fe", Class::Forbidden),
        ("64:ff9b::a00:1", Class::Forbidden),
        ("64:ff9b::7f00:1", Class::Forbidden),
        ("64:ff9b::808:808", Class::Forbidden),
        ("64:ff9b:1::a9fe:a9fe", Class::Forbidden),
        ("64:ff9b:1:ffff:ffff:ffff:ffff:ffff", Class::Forbidden),
        // 100::/64 discard and 100:0:0:1::/64 dummy.
        ("100::", Class::Forbidden),
        ("100::1", Class::Forbidden),
        ("100:0:0:1::1", Class::Forbidden),
        // 2001::/23, Teredo 2001::/32 and the assignments inside.
        ("2001::", Class::Forbidden),
        ("2001:0:4136:e378:8000:63bf:5601:5601", Class::Forbidden),
        ("2001:1::1", Class::Forbidden),
        ("2001:2::1", Class::Forbidden),
        ("2001:3::1", Class::Forbidden),
        ("2001:4:112::1", Class::Forbidden),
        ("2001:10::1", Class::Forbidden),
        ("2001:20::1", Class::Forbidden),
        ("2001:30::1", Class::Forbidden),
        ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", Class::Forbidden),
        ("2001:200::", Class::Public),
        ("2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Class::Public),
        // 2001:db8::/32.
        ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", Class::Public),
        ("2001:db8::1", Class::Forbidden),
        ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", Class::Forbidden),
        ("2001:db9::", Class::Public),
        // 6to4 2002::/16.
        ("2002::", Class::Forbidden),
        ("2002:a9fe:a9fe::1", Class::Forbidden),
        ("2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Class::Forbidden),
        ("2003::", Class::Public),
        // AS112-v6 2620:4f:8000::/48.
        ("2620:4f:7fff:ffff:ffff:ffff:ffff:ffff", Class::Public),
        ("2620:4f:8000::1", Class::Forbidden),
        ("2620:4f:8001::", Class::Public),
        // Documentation 3fff::/20.
        ("3ffe:ffff::1", Class::Public),
        ("3fff::1", Class::Forbidden),
        ("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", Class::Forbidden),
        ("3fff:1000::", Class::Public),
        // SRv6 SIDs 5f00::/16, and the rest outside 2000::/3.
        ("5f00::1", Class::Forbidden),
        ("4000::1", Class::Forbidden),
        ("1fff:ffff::1", Class::Forbidden),
        // Unique local fc00::/7, link-local fe80::/10, site-local fec0::/10, multicast ff00::/8.
        ("fbff:ffff::1", Class::Forbidden),
        ("fc00::", Class::Private),
        ("fd00::1", Class::Private),
        ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Class::Private),
        ("fe80::1", Class::Private),
        ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Class::Private),
        ("fec0::1", Class::Forbidden),
        ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Class::Forbidden),
        ("ff00::", Class::Forbidden),
        ("ff02::1", Class::Forbidden),
        // IPv6 public sanity.
        ("2606:4700::1111", Class::Public),
        ("2a00:1450:4007:80f::200e", Class::Public),
    ];

    #[test]
    fn every_special_purpose_range_is_classified() {
        for (text, expected) in TABLE {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(classify(ip), *expected, "{text}");
        }
    }

    #[test]
    fn the_ranges_are_canonical() {
        // A network with bits set past its prefix would never match: a typo in the table.
        for (network, len, _) in V4_RANGES {
            assert_eq!(u32::from(*network) & !mask_v4(*len), 0, "{network}/{len}");
        }
        for (network, len, _) in V6_RANGES {
            assert_eq!(u128::from(*network) & !mask_v6(*len), 0, "{network}/{len}");
        }
        let (global, len) = V6_GLOBAL_UNICAST;
        assert_eq!(u128::from(global) & !mask_v6(len), 0);
    }

    #[test]
    fn classification() {
        let strict = AddressPolicy {
            allow_loopback: false,
            allow_private: false,
        };
        for refused in [
            "127.0.0.1",
            "::1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "100.64.0.1",
            "224.0.0.1",
        ] {
            assert!(!strict.allows(refused.parse().unwrap()), "{refused}");
        }
        for allowed in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(strict.allows(allowed.parse().unwrap()), "{allowed}");
        }
        let loopback = AddressPolicy {
            allow_loopback: true,
            allow_private: false,
        };
        assert!(loopback.allows("127.0.0.1".parse().unwrap()));
        assert!(loopback.allows("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!loopback.allows("10.0.0.1".parse().unwrap()));
        assert!(
            !loopback.allows("0.0.0.0".parse().unwrap()),
            "unspecified is never allowed"
        );
        assert!(
            !loopback.allows("::7f00:1".parse().unwrap()),
            "IPv4-compatible addresses are never allowed"
        );
    }

    #[test]
    fn forbidden_ranges_stay_refused_with_everything_opted_in() {
        let open = AddressPolicy {
            allow_loopback: true,
            allow_private: true,
        };
        assert!(open.allows("127.0.0.1".parse().unwrap()));
        assert!(open.allows("169.254.169.254".parse().unwrap()));
        assert!(open.allows("fd00::1".parse().unwrap()));
        for refused in [
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "64:ff9b:1::a00:1",
            "::a9fe:a9fe",
            "::7f00:1",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378:8000:63bf:5601:5601",
            "fec0::1",
            "192.0.0.170",
            "100::1",
            "ff02::1",
            "255.255.255.255",
        ] {
            assert!(!open.allows(refused.parse().unwrap()), "{refused}");
        }
    }

    #[tokio::test]
    async fn every_spelling_of_an_address_is_checked() {
        let strict = AddressPolicy {
            allow_loopback: false,
            allow_private: false,
        };
        // IP literals only: no name is looked up.
        for url in [
            "http://0x7f.1/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://0xa9fea9fe/",
            "http://[::ffff:169.254.169.254]/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://[64:ff9b::169.254.169.254]/",
            "http://[::127.0.0.1]/",
            "http://[0:0:0:0:0:ffff:7f00:1]/",
            "http://[fe80::1%25eth0]/",
        ] {
            let result = check_url(url, strict).await;
            assert!(
                matches!(
                    result,
                    Err(UrlProblem::Rejected) | Err(UrlProblem::Invalid(_))
                ),
                "{url}: {result:?}"
            );
        }
        for url in [
            "http://0x7f.1/",
            "http://2130706433/",
            "http://[::ffff:169.254.169.254]/",
            "http://[64:ff9b::169.254.169.254]/",
        ] {
            assert_eq!(
                check_url(url, strict).await,
                Err(UrlProblem::Rejected),
                "{url}"
            );
        }
        assert!(check_url("http://8.8.8.8/hook", strict).await.is_ok());
    }
}

//! The SSRF guard: which addresses a webhook may reach. Checked on the URL when a subscription
//! is made and again on the resolved addresses at every delivery (DNS rebinding), through a
//! resolver that drops forbidden addresses before a connection is attempted.

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Public,
    Loopback,
    Private,
    Forbidden,
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Class::Loopback
    } else if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || a == 0 {
        Class::Forbidden
    } else if ip.is_private() || ip.is_link_local() || (a == 100 && (64..128).contains(&b)) {
        Class::Private
    } else if ip.is_documentation()
        || a >= 240
        || (a == 192 && b == 0)
        || (a == 198 && (18..20).contains(&b))
    {
        Class::Forbidden
    } else {
        Class::Public
    }
}

fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return classify_v4(v4);
            }
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Class::Loopback
            } else if v6.is_unspecified() || v6.is_multicast() {
                Class::Forbidden
            } else if (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80 {
                Class::Private
            } else if v6 == Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0)
                || first == 0x2001 && v6.segments()[1] == 0x0db8
            {
                Class::Forbidden
            } else {
                Class::Public
            }
        }
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

/// Checks a URL: http(s), and every address its host stands for is allowed.
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

/// A DNS resolver for the delivery client that keeps only allowed addresses.
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
        assert!(!loopback.allows("10.0.0.1".parse().unwrap()));
        assert!(
            !loopback.allows("0.0.0.0".parse().unwrap()),
            "unspecified is never allowed"
        );
    }
}

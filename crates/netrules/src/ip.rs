//! IP address and CIDR parsing the way kube-proxy does it: Go's "sloppy" parser (leading zeros
//! in IPv4 octets are accepted and read as decimal) and Go's canonical printing.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP family, as in `v1.IPFamily`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum IpFamily {
    /// `IPv4`
    #[default]
    V4,
    /// `IPv6`
    V6,
}

impl IpFamily {
    /// The family of an address (IPv4-mapped IPv6 addresses count as IPv4, as in Go).
    pub fn of(ip: &IpAddr) -> IpFamily {
        match ip {
            IpAddr::V4(_) => IpFamily::V4,
            IpAddr::V6(_) => IpFamily::V6,
        }
    }
    /// The Kubernetes spelling: `IPv4` / `IPv6`.
    pub fn as_k8s(&self) -> &'static str {
        match self {
            IpFamily::V4 => "IPv4",
            IpFamily::V6 => "IPv6",
        }
    }
    /// Parses `IPv4`/`IPv6` (also `4`, `6`, `ipv4`, `ipv6`).
    pub fn parse(s: &str) -> Option<IpFamily> {
        match s.to_ascii_lowercase().as_str() {
            "ipv4" | "4" | "v4" => Some(IpFamily::V4),
            "ipv6" | "6" | "v6" => Some(IpFamily::V6),
            _ => None,
        }
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_k8s())
    }
}

/// Go `dtoi`: leading decimal digits of `s`, how many chars were used.
fn dtoi(s: &[u8]) -> Option<(u32, usize)> {
    let mut n: u32 = 0;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        n = n * 10 + u32::from(s[i] - b'0');
        if n >= 0xFF_FFFF {
            return None;
        }
        i += 1;
    }
    if i == 0 {
        None
    } else {
        Some((n, i))
    }
}

fn parse_v4_sloppy(s: &str) -> Option<Ipv4Addr> {
    let mut b = s.as_bytes();
    let mut p = [0u8; 4];
    for (i, slot) in p.iter_mut().enumerate() {
        if b.is_empty() {
            return None;
        }
        if i > 0 {
            if b[0] != b'.' {
                return None;
            }
            b = &b[1..];
        }
        let (n, c) = dtoi(b)?;
        if n > 0xFF {
            return None;
        }
        b = &b[c..];
        *slot = n as u8;
    }
    if !b.is_empty() {
        return None;
    }
    Some(Ipv4Addr::from(p))
}

/// Parses an IP like Go's `netutils.ParseIPSloppy`: IPv4 octets may carry leading zeros (read
/// as decimal), IPv6 may embed such an IPv4 tail. IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is
/// returned as IPv4, which is how Go classifies and prints it.
pub fn parse_ip_sloppy(s: &str) -> Option<IpAddr> {
    if s.is_empty() {
        return None;
    }
    if s.contains(':') {
        // Let std do the IPv6 work; rewrite a sloppy embedded IPv4 tail first.
        let ip6 = match s.parse::<Ipv6Addr>() {
            Ok(ip) => ip,
            Err(_) => {
                let (head, tail) = s.rsplit_once(':')?;
                if !tail.contains('.') {
                    return None;
                }
                let v4 = parse_v4_sloppy(tail)?;
                format!("{head}:{v4}").parse::<Ipv6Addr>().ok()?
            }
        };
        if let Some(v4) = ip6.to_ipv4_mapped() {
            return Some(IpAddr::V4(v4));
        }
        return Some(IpAddr::V6(ip6));
    }
    parse_v4_sloppy(s).map(IpAddr::V4)
}

/// An IP network (address masked to the prefix), printed canonically as Go's `IPNet.String()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    /// The network address (host bits cleared).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// Builds a CIDR, masking the host bits.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Cidr> {
        let max = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        if prefix > max {
            return None;
        }
        let addr = match addr {
            IpAddr::V4(a) => {
                let m = if prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - prefix)
                };
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
            }
            IpAddr::V6(a) => {
                let m = if prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - prefix)
                };
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
            }
        };
        Some(Cidr { addr, prefix })
    }

    /// A host route (/32 or /128).
    pub fn host(addr: IpAddr) -> Cidr {
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        Cidr { addr, prefix }
    }

    /// The family of the network.
    pub fn family(&self) -> IpFamily {
        IpFamily::of(&self.addr)
    }

    /// Whether `ip` is inside the network (never across families).
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let m = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                u32::from(*a) & m == u32::from(n)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let m = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                u128::from(*a) & m == u128::from(n)
            }
            _ => false,
        }
    }

    /// Whether this is `0.0.0.0/0` or `::/0`.
    pub fn is_zero(&self) -> bool {
        self.prefix == 0
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Parses a CIDR like Go's `netutils.ParseCIDRSloppy` (leading zeros allowed in the address and
/// the prefix length) and masks it to its network.
pub fn parse_cidr_sloppy(s: &str) -> Option<Cidr> {
    let (a, p) = s.split_once('/')?;
    let addr = if a.contains(':') {
        // A mapped address keeps its IPv6 prefix length semantics in Go; keep it simple and
        // treat `::ffff:a.b.c.d/len` as IPv6.
        IpAddr::V6(a.parse::<Ipv6Addr>().ok()?)
    } else {
        IpAddr::V4(parse_v4_sloppy(a)?)
    };
    if p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let prefix: u8 = p.parse().ok()?;
    Cidr::new(addr, prefix)
}

/// Formats `ip:port` as Go's `net.JoinHostPort` does (`[v6]:port`).
pub fn join_host_port(ip: &IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sloppy_ipv4() {
        assert_eq!(
            parse_ip_sloppy("010.020.000.001").unwrap().to_string(),
            "10.20.0.1"
        );
        assert_eq!(
            parse_ip_sloppy("172.30.0.041").unwrap().to_string(),
            "172.30.0.41"
        );
        assert_eq!(
            parse_ip_sloppy("192.168.099.022").unwrap().to_string(),
            "192.168.99.22"
        );
        assert!(parse_ip_sloppy("256.1.1.1").is_none());
        assert!(parse_ip_sloppy("1.2.3").is_none());
        assert!(parse_ip_sloppy("1.2.3.4 ").is_none());
        assert!(parse_ip_sloppy("None").is_none());
    }

    #[test]
    fn ipv6_canonical() {
        assert_eq!(
            parse_ip_sloppy("FD00:AB34:0:0::20").unwrap().to_string(),
            "fd00:ab34::20"
        );
        assert_eq!(
            parse_ip_sloppy("::ffff:1.2.3.4").unwrap().to_string(),
            "1.2.3.4"
        );
        assert_eq!(parse_ip_sloppy("ff06::c1").unwrap().to_string(), "ff06::c1");
    }

    #[test]
    fn cidrs() {
        assert_eq!(
            parse_cidr_sloppy("203.0.113.000/025").unwrap().to_string(),
            "203.0.113.0/25"
        );
        assert_eq!(
            parse_cidr_sloppy("1.2.3.4/16").unwrap().to_string(),
            "1.2.0.0/16"
        );
        assert_eq!(
            parse_cidr_sloppy("fd00:10::1/64").unwrap().to_string(),
            "fd00:10::/64"
        );
        assert!(parse_cidr_sloppy("1.2.3.4").is_none());
        assert!(parse_cidr_sloppy("1.2.3.4/33").is_none());
        let c = parse_cidr_sloppy("10.0.0.0/8").unwrap();
        assert!(c.contains(&"10.1.2.3".parse().unwrap()));
        assert!(!c.contains(&"11.1.2.3".parse().unwrap()));
    }
}

//! Socket addresses as PF_KEY carries them, in both dialects.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use zerocopy::{FromBytes, IntoBytes};

use super::error::Rule;
use crate::wire::numbers::AF_INET;
use crate::wire::{Dialect, SockaddrIn, SockaddrIn6};

/// An IPv4 or IPv6 socket address inside a PF_KEY extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "family")]
pub enum SockAddr {
    /// `sockaddr_in`.
    #[serde(rename = "inet")]
    V4 {
        /// `sin_addr`.
        addr: Ipv4Addr,
        /// `sin_port` (host order here; network order on the wire).
        #[serde(default)]
        port: u16,
        /// `sin_zero` (should be zero; kept so that every message round-trips).
        #[serde(default, skip_serializing_if = "is_zero8")]
        zero: [u8; 8],
    },
    /// `sockaddr_in6`.
    #[serde(rename = "inet6")]
    V6 {
        /// `sin6_addr`.
        addr: Ipv6Addr,
        /// `sin6_port` (host order here).
        #[serde(default)]
        port: u16,
        /// `sin6_flowinfo` (host order here).
        #[serde(default)]
        flowinfo: u32,
        /// `sin6_scope_id`.
        #[serde(default)]
        scope_id: u32,
    },
}

fn is_zero8(z: &[u8; 8]) -> bool {
    *z == [0; 8]
}

impl SockAddr {
    /// A socket address for `ip` with port 0.
    pub fn new(ip: IpAddr) -> Self {
        Self::with_port(ip, 0)
    }

    /// A socket address for `ip` and `port`.
    pub fn with_port(ip: IpAddr, port: u16) -> Self {
        match ip {
            IpAddr::V4(addr) => SockAddr::V4 { addr, port, zero: [0; 8] },
            IpAddr::V6(addr) => SockAddr::V6 { addr, port, flowinfo: 0, scope_id: 0 },
        }
    }

    /// The IP address.
    pub fn ip(&self) -> IpAddr {
        match *self {
            SockAddr::V4 { addr, .. } => IpAddr::V4(addr),
            SockAddr::V6 { addr, .. } => IpAddr::V6(addr),
        }
    }

    /// The port (host order).
    pub fn port(&self) -> u16 {
        match *self {
            SockAddr::V4 { port, .. } | SockAddr::V6 { port, .. } => port,
        }
    }

    /// This address with `port` 0 and the other sockaddr fields cleared.
    pub fn without_port(&self) -> Self {
        Self::new(self.ip())
    }

    /// The family number in `dialect`.
    #[inline]
    pub fn family(&self, dialect: Dialect) -> u16 {
        match self {
            SockAddr::V4 { .. } => AF_INET,
            SockAddr::V6 { .. } => dialect.af_inet6(),
        }
    }

    /// Whether this is an IPv6 address.
    pub fn is_v6(&self) -> bool {
        matches!(self, SockAddr::V6 { .. })
    }

    /// The longest prefix for this family (32 or 128).
    #[inline]
    pub fn max_prefixlen(&self) -> u8 {
        if self.is_v6() { 128 } else { 32 }
    }

    /// The size of this sockaddr on the wire (16 or 28).
    pub fn wire_len(&self) -> usize {
        if self.is_v6() { 28 } else { 16 }
    }

    /// Reads the family field at the start of `b` in `dialect` (`None` if `b` is too short).
    #[inline]
    pub fn peek_family(b: &[u8], dialect: Dialect) -> Option<u16> {
        match dialect {
            Dialect::Linux => b.get(..2).map(|f| u16::from_ne_bytes([f[0], f[1]])),
            Dialect::FreeBsd => b.get(1).map(|&f| f as u16),
        }
    }

    /// Wire size of a sockaddr of `family` in `dialect`, or the error for an unknown family.
    #[inline]
    pub(crate) fn len_for_family(family: u16, dialect: Dialect) -> Result<usize, Rule> {
        if family == AF_INET {
            Ok(16)
        } else if family == dialect.af_inet6() {
            Ok(28)
        } else {
            Err(Rule::BadFamily(family))
        }
    }

    /// Parses one sockaddr from the start of `b`; returns it and its wire size.
    #[inline]
    pub fn parse(b: &[u8], dialect: Dialect) -> Result<(SockAddr, usize), Rule> {
        let (_, len) = super::validate::sockaddr(b, dialect)?;
        // Validated, so `decode` succeeds; the error is unreachable.
        Self::decode(b, dialect).ok_or(Rule::Truncated { need: len, have: b.len() })
    }

    /// Decodes the sockaddr at the start of `b` without checking its rules (`sa_len`); `None`
    /// where no sockaddr of a known family fits, which cannot happen for validated bytes.
    #[inline]
    pub(crate) fn decode(b: &[u8], dialect: Dialect) -> Option<(SockAddr, usize)> {
        let len = Self::len_for_family(Self::peek_family(b, dialect)?, dialect).ok()?;
        let sa = if len == 16 {
            let (s, _) = SockaddrIn::read_from_prefix(b).ok()?;
            SockAddr::V4 { addr: Ipv4Addr::from(s.addr), port: s.port.get(), zero: s.zero }
        } else {
            let (s, _) = SockaddrIn6::read_from_prefix(b).ok()?;
            SockAddr::V6 {
                addr: Ipv6Addr::from(s.addr),
                port: s.port.get(),
                flowinfo: s.flowinfo.get(),
                scope_id: s.scope_id.get(),
            }
        };
        Some((sa, len))
    }

    fn family_bytes(&self, dialect: Dialect) -> [u8; 2] {
        let fam = self.family(dialect);
        match dialect {
            Dialect::Linux => fam.to_ne_bytes(),
            Dialect::FreeBsd => [self.wire_len() as u8, fam as u8],
        }
    }

    /// Appends this sockaddr to `out` in `dialect`.
    pub fn emit(&self, out: &mut Vec<u8>, dialect: Dialect) {
        match *self {
            SockAddr::V4 { addr, port, zero } => {
                let s = SockaddrIn { family: self.family_bytes(dialect), port: port.into(), addr: addr.octets(), zero };
                out.extend_from_slice(s.as_bytes());
            }
            SockAddr::V6 { addr, port, flowinfo, scope_id } => {
                let s = SockaddrIn6 {
                    family: self.family_bytes(dialect),
                    port: port.into(),
                    flowinfo: flowinfo.into(),
                    addr: addr.octets(),
                    scope_id: scope_id.into(),
                };
                out.extend_from_slice(s.as_bytes());
            }
        }
    }
}

impl core::fmt::Display for SockAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match (self.ip(), self.port()) {
            (ip, 0) => write!(f, "{ip}"),
            (IpAddr::V4(a), p) => write!(f, "{a}[{p}]"),
            (IpAddr::V6(a), p) => write!(f, "{a}[{p}]"),
        }
    }
}

impl From<IpAddr> for SockAddr {
    fn from(ip: IpAddr) -> Self {
        SockAddr::new(ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_and_v6_round_trip_in_both_dialects() {
        let v4 = SockAddr::with_port("192.0.2.1".parse().unwrap(), 4500);
        let v6 = SockAddr::with_port("2001:db8::1".parse().unwrap(), 500);
        for d in [Dialect::Linux, Dialect::FreeBsd] {
            for sa in [v4, v6] {
                let mut b = Vec::new();
                sa.emit(&mut b, d);
                assert_eq!(b.len(), sa.wire_len());
                assert_eq!(SockAddr::parse(&b, d).unwrap(), (sa, b.len()));
            }
        }
    }

    #[test]
    fn linux_v4_layout_is_family_port_addr() {
        let sa = SockAddr::with_port("10.1.2.3".parse().unwrap(), 0x1194);
        let mut b = Vec::new();
        sa.emit(&mut b, Dialect::Linux);
        assert_eq!(&b[..8], &[2, 0, 0x11, 0x94, 10, 1, 2, 3]);
        let mut f = Vec::new();
        sa.emit(&mut f, Dialect::FreeBsd);
        assert_eq!(&f[..2], &[16, 2]);
    }

    #[test]
    fn bad_family_and_bad_sa_len_are_typed_errors() {
        let mut b = vec![0u8; 16];
        b[0] = 7;
        assert_eq!(SockAddr::parse(&b, Dialect::Linux), Err(Rule::BadFamily(7)));
        let mut f = vec![0u8; 16];
        f[0] = 15;
        f[1] = 2;
        assert_eq!(SockAddr::parse(&f, Dialect::FreeBsd), Err(Rule::SockaddrLen { sa_len: 15, expected: 16 }));
        let v6 = [10u8, 0, 0, 0];
        assert_eq!(SockAddr::parse(&v6, Dialect::Linux), Err(Rule::Truncated { need: 28, have: 4 }));
    }
}

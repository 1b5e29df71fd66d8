//! Fixed PF_KEY v2 layouts as `zerocopy` structs, and the protocol's numbers.
//!
//! This is the *view* layer: byte-exact, packed (`Unaligned`) structs that can be read from any
//! offset of a received buffer without copying, plus the named constants of RFC 2367, the
//! Linux/KAME headers (`pfkeyv2.h`, `ipsec.h`) and FreeBSD's `pfkeyv2.h`. Multi-byte fields are in
//! host byte order except where RFC 2367 says network order (`sadb_sa_spi`,
//! `sadb_x_nat_t_port_port`, sockaddr ports and addresses). The typed representation lives in
//! [`crate::message`].

pub mod address;
pub mod base;
pub mod key;
pub mod numbers;
pub mod policy;
pub mod proposal;
pub mod sa;
pub mod xext;

pub use address::*;
pub use base::*;
pub use key::*;
pub use policy::*;
pub use proposal::*;
pub use sa::*;
pub use xext::*;

/// Size of one PF_KEY length unit (RFC 2367 §2.1: lengths count 64-bit words).
pub const WORD: usize = 8;

/// Rounds `n` up to the next multiple of 8 (`PFKEY_ALIGN8`).
#[inline]
pub const fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// Which operating system's flavour of PF_KEY a message is encoded in.
///
/// The two dialects differ in the sockaddr layout (FreeBSD has a leading `sa_len` byte and
/// `AF_INET6` = 28), in `sadb_x_ipsecrequest` (Linux 16 bytes with a 32-bit reqid, FreeBSD 8
/// bytes with a 16-bit reqid) and in the numbering of extension types 23–26. The mobility
/// extensions `SADB_X_EXT_NEW_ADDRESS_SRC/DST` use FreeBSD's numbers 27/28 in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// Linux `net/key/af_key.c` (and KAME's numbering of extensions 23–26).
    #[default]
    Linux,
    /// FreeBSD `sys/netipsec/key.c`.
    #[serde(rename = "freebsd")]
    FreeBsd,
}

impl Dialect {
    /// `AF_INET6` as this dialect's sockaddr carries it.
    #[inline]
    pub const fn af_inet6(self) -> u16 {
        match self {
            Dialect::Linux => numbers::AF_INET6_LINUX,
            Dialect::FreeBsd => numbers::AF_INET6_FREEBSD,
        }
    }

    /// Size of the fixed part of `sadb_x_ipsecrequest` in this dialect.
    #[inline]
    pub const fn ipsecrequest_len(self) -> usize {
        match self {
            Dialect::Linux => core::mem::size_of::<SadbXIpsecrequest>(),
            Dialect::FreeBsd => core::mem::size_of::<SadbXIpsecrequestFreeBsd>(),
        }
    }
}

impl core::fmt::Display for Dialect {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Dialect::Linux => "linux",
            Dialect::FreeBsd => "freebsd",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    #[test]
    fn struct_sizes_match_rfc2367_and_linux_headers() {
        assert_eq!(size_of::<SadbMsg>(), 16);
        assert_eq!(size_of::<SadbExt>(), 4);
        assert_eq!(size_of::<SadbSa>(), 16);
        assert_eq!(size_of::<SadbLifetime>(), 32);
        assert_eq!(size_of::<SadbAddress>(), 8);
        assert_eq!(size_of::<SadbKey>(), 8);
        assert_eq!(size_of::<SadbIdent>(), 16);
        assert_eq!(size_of::<SadbSens>(), 16);
        assert_eq!(size_of::<SadbProp>(), 8);
        assert_eq!(size_of::<SadbComb>(), 72);
        assert_eq!(size_of::<SadbSupported>(), 8);
        assert_eq!(size_of::<SadbAlg>(), 8);
        assert_eq!(size_of::<SadbSpirange>(), 16);
        assert_eq!(size_of::<SadbXKmprivate>(), 8);
        assert_eq!(size_of::<SadbXSa2>(), 16);
        assert_eq!(size_of::<SadbXPolicy>(), 16);
        assert_eq!(size_of::<SadbXIpsecrequest>(), 16);
        assert_eq!(size_of::<SadbXIpsecrequestFreeBsd>(), 8);
        assert_eq!(size_of::<SadbXNatTType>(), 8);
        assert_eq!(size_of::<SadbXNatTPort>(), 8);
        assert_eq!(size_of::<SadbXSecCtx>(), 8);
        assert_eq!(size_of::<SadbXKmaddress>(), 8);
        assert_eq!(size_of::<SadbXFilter>(), 40);
        assert_eq!(size_of::<SadbXNatTFrag>(), 8);
        assert_eq!(size_of::<SadbXSaReplay>(), 8);
        assert_eq!(size_of::<SockaddrIn>(), 16);
        assert_eq!(size_of::<SockaddrIn6>(), 28);
    }

    #[test]
    fn align8_matches_pfkey_align8() {
        for x in 1..200usize {
            assert_eq!(align8(x), 1 + ((x - 1) | 7));
        }
        assert_eq!(align8(0), 0);
    }
}

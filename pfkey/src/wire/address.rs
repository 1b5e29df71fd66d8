//! `sadb_address`, `sadb_x_kmaddress`, `sadb_x_filter` and the sockaddrs they carry.

use zerocopy::byteorder::native_endian::{U16, U32};
use zerocopy::byteorder::network_endian;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// `struct sadb_address` (8 bytes, RFC 2367 §2.3.3); a sockaddr follows, padded to 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbAddress {
    /// `sadb_address_len` in 64-bit words, sockaddr included.
    pub len: U16,
    /// `sadb_address_exttype`.
    pub exttype: U16,
    /// `sadb_address_proto`: upper-layer protocol (`IPSEC_ULPROTO_ANY` = 255).
    pub proto: u8,
    /// `sadb_address_prefixlen`.
    pub prefixlen: u8,
    /// `sadb_address_reserved`.
    pub reserved: U16,
}

/// `struct sadb_x_kmaddress` (8 bytes, Linux ext 25); local then remote sockaddr follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbXKmaddress {
    /// `sadb_x_kmaddress_len` in 64-bit words.
    pub len: U16,
    /// `sadb_x_kmaddress_exttype` (`SADB_X_EXT_KMADDRESS`).
    pub exttype: U16,
    /// `sadb_x_kmaddress_reserved`.
    pub reserved: U32,
}

/// `struct sadb_x_filter` (40 bytes, Linux ext 26): a dump filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbXFilter {
    /// `sadb_x_filter_len` in 64-bit words.
    pub len: U16,
    /// `sadb_x_filter_exttype` (`SADB_X_EXT_FILTER`).
    pub exttype: U16,
    /// `sadb_x_filter_saddr` (an `xfrm_address_t`, network order).
    pub saddr: [u8; 16],
    /// `sadb_x_filter_daddr`.
    pub daddr: [u8; 16],
    /// `sadb_x_filter_family`.
    pub family: U16,
    /// `sadb_x_filter_splen`.
    pub splen: u8,
    /// `sadb_x_filter_dplen`.
    pub dplen: u8,
}

/// Linux `struct sockaddr_in` (16 bytes; FreeBSD's has `sa_len` in place of the family's first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SockaddrIn {
    /// Linux: `sin_family` (host order). FreeBSD: `sin_len` then `sin_family`, one byte each.
    pub family: [u8; 2],
    /// `sin_port`, network order.
    pub port: network_endian::U16,
    /// `sin_addr`, network order.
    pub addr: [u8; 4],
    /// `sin_zero`.
    pub zero: [u8; 8],
}

/// `struct sockaddr_in6` (28 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SockaddrIn6 {
    /// Linux: `sin6_family` (host order). FreeBSD: `sin6_len` then `sin6_family`.
    pub family: [u8; 2],
    /// `sin6_port`, network order.
    pub port: network_endian::U16,
    /// `sin6_flowinfo`, network order.
    pub flowinfo: network_endian::U32,
    /// `sin6_addr`.
    pub addr: [u8; 16],
    /// `sin6_scope_id` (host order).
    pub scope_id: U32,
}

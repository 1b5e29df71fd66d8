//! The smaller KAME/Linux/FreeBSD `SADB_X_EXT_*` headers: kmprivate, NAT-T, security context,
//! FreeBSD's NAT-T fragment size and replay window size.

use zerocopy::byteorder::native_endian::{U16, U32};
use zerocopy::byteorder::network_endian;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// `struct sadb_x_kmprivate` (8 bytes); opaque key-manager data may follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbXKmprivate {
    /// `sadb_x_kmprivate_len` in 64-bit words.
    pub len: U16,
    /// `sadb_x_kmprivate_exttype`.
    pub exttype: U16,
    /// `sadb_x_kmprivate_reserved`.
    pub reserved: U32,
}

/// `struct sadb_x_nat_t_type` (8 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbXNatTType {
    /// `sadb_x_nat_t_type_len` in 64-bit words.
    pub len: U16,
    /// `sadb_x_nat_t_type_exttype`.
    pub exttype: U16,
    /// `sadb_x_nat_t_type_type` (`UDP_ENCAP_ESPINUDP_NON_IKE` 1, `UDP_ENCAP_ESPINUDP` 2).
    pub nat_t_type: u8,
    /// `sadb_x_nat_t_type_reserved`.
    pub reserved: [u8; 3],
}

/// `struct sadb_x_nat_t_port` (8 bytes); the port is in network byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbXNatTPort {
    /// `sadb_x_nat_t_port_len` in 64-bit words.
    pub len: U16,
    /// `sadb_x_nat_t_port_exttype` (SPORT or DPORT).
    pub exttype: U16,
    /// `sadb_x_nat_t_port_port`, network order.
    pub port: network_endian::U16,
    /// `sadb_x_nat_t_port_reserved`.
    pub reserved: U16,
}

/// `struct sadb_x_sec_ctx` (8 bytes); the context string follows, padded to 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbXSecCtx {
    /// `sadb_x_sec_len` in 64-bit words.
    pub len: U16,
    /// `sadb_x_sec_exttype`.
    pub exttype: U16,
    /// `sadb_x_ctx_alg` (SELinux = 1).
    pub alg: u8,
    /// `sadb_x_ctx_doi`.
    pub doi: u8,
    /// `sadb_x_ctx_len`: context length in bytes.
    pub ctx_len: U16,
}

/// FreeBSD `struct sadb_x_nat_t_frag` (8 bytes, ext 25 on FreeBSD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbXNatTFrag {
    /// `sadb_x_nat_t_frag_len` in 64-bit words.
    pub len: U16,
    /// `sadb_x_nat_t_frag_exttype`.
    pub exttype: U16,
    /// `sadb_x_nat_t_frag_fraglen`.
    pub fraglen: U16,
    /// `sadb_x_nat_t_frag_reserved`.
    pub reserved: U16,
}

/// FreeBSD `struct sadb_x_sa_replay` (8 bytes, ext 26 on FreeBSD): a replay window in packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbXSaReplay {
    /// `sadb_x_sa_replay_len` in 64-bit words.
    pub len: U16,
    /// `sadb_x_sa_replay_exttype`.
    pub exttype: U16,
    /// `sadb_x_sa_replay_replay`: window size in packets.
    pub replay: U32,
}

//! `sadb_sa`, `sadb_x_sa2` and `sadb_lifetime`.

use zerocopy::byteorder::native_endian::{U16, U32, U64};
use zerocopy::byteorder::network_endian;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// `struct sadb_sa` (16 bytes, RFC 2367 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbSa {
    /// `sadb_sa_len` in 64-bit words.
    pub len: U16,
    /// `sadb_sa_exttype` (`SADB_EXT_SA`).
    pub exttype: U16,
    /// `sadb_sa_spi`, in network byte order.
    pub spi: network_endian::U32,
    /// `sadb_sa_replay`: replay window size in packets.
    pub replay: u8,
    /// `sadb_sa_state` (`SADB_SASTATE_*`).
    pub state: u8,
    /// `sadb_sa_auth` (`SADB_AALG_*`).
    pub auth: u8,
    /// `sadb_sa_encrypt` (`SADB_EALG_*`).
    pub encrypt: u8,
    /// `sadb_sa_flags` (`SADB_SAFLAGS_*`).
    pub flags: U32,
}

/// `struct sadb_x_sa2` (16 bytes, KAME): mode, sequence and reqid of an SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbXSa2 {
    /// `sadb_x_sa2_len` in 64-bit words.
    pub len: U16,
    /// `sadb_x_sa2_exttype` (`SADB_X_EXT_SA2`).
    pub exttype: U16,
    /// `sadb_x_sa2_mode` (`IPSEC_MODE_*`).
    pub mode: u8,
    /// `sadb_x_sa2_reserved1`.
    pub reserved1: u8,
    /// `sadb_x_sa2_reserved2`.
    pub reserved2: U16,
    /// `sadb_x_sa2_sequence`.
    pub sequence: U32,
    /// `sadb_x_sa2_reqid`.
    pub reqid: U32,
}

/// `struct sadb_lifetime` (32 bytes, RFC 2367 §2.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbLifetime {
    /// `sadb_lifetime_len` in 64-bit words.
    pub len: U16,
    /// `sadb_lifetime_exttype` (CURRENT, HARD or SOFT).
    pub exttype: U16,
    /// `sadb_lifetime_allocations`.
    pub allocations: U32,
    /// `sadb_lifetime_bytes`.
    pub bytes: U64,
    /// `sadb_lifetime_addtime`.
    pub addtime: U64,
    /// `sadb_lifetime_usetime`.
    pub usetime: U64,
}

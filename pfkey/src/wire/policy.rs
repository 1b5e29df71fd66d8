//! `sadb_x_policy` and `sadb_x_ipsecrequest` (Linux and FreeBSD layouts).

use zerocopy::byteorder::native_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// `struct sadb_x_policy` (16 bytes, KAME); `sadb_x_ipsecrequest`s follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbXPolicy {
    /// `sadb_x_policy_len` in 64-bit words, requests included.
    pub len: U16,
    /// `sadb_x_policy_exttype` (`SADB_X_EXT_POLICY`).
    pub exttype: U16,
    /// `sadb_x_policy_type` (`IPSEC_POLICY_*`).
    pub policy_type: U16,
    /// `sadb_x_policy_dir` (`IPSEC_DIR_*`).
    pub dir: u8,
    /// Linux `sadb_x_policy_reserved`; FreeBSD `sadb_x_policy_scope`.
    pub reserved: u8,
    /// `sadb_x_policy_id`.
    pub id: U32,
    /// `sadb_x_policy_priority` (FreeBSD: or the interface index for ifnet scope).
    pub priority: U32,
}

/// Linux `struct sadb_x_ipsecrequest` (16 bytes). `len` counts **bytes**, not words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbXIpsecrequest {
    /// `sadb_x_ipsecrequest_len` in bytes, addresses included.
    pub len: U16,
    /// `sadb_x_ipsecrequest_proto` (`IPPROTO_ESP`, `IPPROTO_AH`, `IPPROTO_COMP`).
    pub proto: U16,
    /// `sadb_x_ipsecrequest_mode` (`IPSEC_MODE_*`).
    pub mode: u8,
    /// `sadb_x_ipsecrequest_level` (`IPSEC_LEVEL_*`).
    pub level: u8,
    /// `sadb_x_ipsecrequest_reserved1`.
    pub reserved1: U16,
    /// `sadb_x_ipsecrequest_reqid`.
    pub reqid: U32,
    /// `sadb_x_ipsecrequest_reserved2`.
    pub reserved2: U32,
}

/// FreeBSD `struct sadb_x_ipsecrequest` (8 bytes) with a 16-bit reqid. `len` counts bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbXIpsecrequestFreeBsd {
    /// `sadb_x_ipsecrequest_len` in bytes, addresses included.
    pub len: U16,
    /// `sadb_x_ipsecrequest_proto`.
    pub proto: U16,
    /// `sadb_x_ipsecrequest_mode`.
    pub mode: u8,
    /// `sadb_x_ipsecrequest_level`.
    pub level: u8,
    /// `sadb_x_ipsecrequest_reqid` (16 bits on FreeBSD).
    pub reqid: U16,
}

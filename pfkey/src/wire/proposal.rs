//! `sadb_prop`/`sadb_comb`, `sadb_supported`/`sadb_alg`, `sadb_spirange`.

use zerocopy::byteorder::native_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// `struct sadb_prop` (8 bytes, RFC 2367 §2.3.7); `sadb_comb`s follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbProp {
    /// `sadb_prop_len` in 64-bit words.
    pub len: U16,
    /// `sadb_prop_exttype`.
    pub exttype: U16,
    /// `sadb_prop_replay`.
    pub replay: u8,
    /// `sadb_prop_reserved`.
    pub reserved: [u8; 3],
}

/// `struct sadb_comb` (72 bytes): one algorithm combination of a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbComb {
    /// `sadb_comb_auth`.
    pub auth: u8,
    /// `sadb_comb_encrypt`.
    pub encrypt: u8,
    /// `sadb_comb_flags`.
    pub flags: U16,
    /// `sadb_comb_auth_minbits`.
    pub auth_minbits: U16,
    /// `sadb_comb_auth_maxbits`.
    pub auth_maxbits: U16,
    /// `sadb_comb_encrypt_minbits`.
    pub encrypt_minbits: U16,
    /// `sadb_comb_encrypt_maxbits`.
    pub encrypt_maxbits: U16,
    /// `sadb_comb_reserved`.
    pub reserved: U32,
    /// `sadb_comb_soft_allocations`.
    pub soft_allocations: U32,
    /// `sadb_comb_hard_allocations`.
    pub hard_allocations: U32,
    /// `sadb_comb_soft_bytes`.
    pub soft_bytes: U64,
    /// `sadb_comb_hard_bytes`.
    pub hard_bytes: U64,
    /// `sadb_comb_soft_addtime`.
    pub soft_addtime: U64,
    /// `sadb_comb_hard_addtime`.
    pub hard_addtime: U64,
    /// `sadb_comb_soft_usetime`.
    pub soft_usetime: U64,
    /// `sadb_comb_hard_usetime`.
    pub hard_usetime: U64,
}

/// `struct sadb_supported` (8 bytes, RFC 2367 §2.3.8); `sadb_alg`s follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbSupported {
    /// `sadb_supported_len` in 64-bit words.
    pub len: U16,
    /// `sadb_supported_exttype` (AUTH or ENCRYPT).
    pub exttype: U16,
    /// `sadb_supported_reserved`.
    pub reserved: U32,
}

/// `struct sadb_alg` (8 bytes): one supported algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbAlg {
    /// `sadb_alg_id`.
    pub id: u8,
    /// `sadb_alg_ivlen`.
    pub ivlen: u8,
    /// `sadb_alg_minbits`.
    pub minbits: U16,
    /// `sadb_alg_maxbits`.
    pub maxbits: U16,
    /// `sadb_alg_reserved`.
    pub reserved: U16,
}

/// `struct sadb_spirange` (16 bytes, RFC 2367 §2.3.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbSpirange {
    /// `sadb_spirange_len` in 64-bit words.
    pub len: U16,
    /// `sadb_spirange_exttype`.
    pub exttype: U16,
    /// `sadb_spirange_min` (host order).
    pub min: U32,
    /// `sadb_spirange_max` (host order).
    pub max: U32,
    /// `sadb_spirange_reserved`.
    pub reserved: U32,
}

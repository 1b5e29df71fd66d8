//! `sadb_key`, `sadb_ident`, `sadb_sens`.

use zerocopy::byteorder::native_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// `struct sadb_key` (8 bytes, RFC 2367 §2.3.4); key bits follow, padded to 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbKey {
    /// `sadb_key_len` in 64-bit words.
    pub len: U16,
    /// `sadb_key_exttype` (AUTH or ENCRYPT).
    pub exttype: U16,
    /// `sadb_key_bits`: key length in bits.
    pub bits: U16,
    /// `sadb_key_reserved`.
    pub reserved: U16,
}

/// `struct sadb_ident` (16 bytes, RFC 2367 §2.3.5); a NUL-terminated string may follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbIdent {
    /// `sadb_ident_len` in 64-bit words.
    pub len: U16,
    /// `sadb_ident_exttype` (SRC or DST).
    pub exttype: U16,
    /// `sadb_ident_type` (`SADB_IDENTTYPE_*`).
    pub ident_type: U16,
    /// `sadb_ident_reserved`.
    pub reserved: U16,
    /// `sadb_ident_id`.
    pub id: U64,
}

/// `struct sadb_sens` (16 bytes, RFC 2367 §2.3.6); two bitmaps of 64-bit words follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbSens {
    /// `sadb_sens_len` in 64-bit words.
    pub len: U16,
    /// `sadb_sens_exttype`.
    pub exttype: U16,
    /// `sadb_sens_dpd`.
    pub dpd: U32,
    /// `sadb_sens_sens_level`.
    pub sens_level: u8,
    /// `sadb_sens_sens_len`: sensitivity bitmap length in 64-bit words.
    pub sens_len: u8,
    /// `sadb_sens_integ_level`.
    pub integ_level: u8,
    /// `sadb_sens_integ_len`: integrity bitmap length in 64-bit words.
    pub integ_len: u8,
    /// `sadb_sens_reserved`.
    pub reserved: U32,
}

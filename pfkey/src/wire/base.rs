//! `sadb_msg` and `sadb_ext`: the base header of every message and of every extension.

use zerocopy::byteorder::native_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// `struct sadb_msg` (16 bytes): the base header of every PF_KEY message (RFC 2367 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbMsg {
    /// `sadb_msg_version`: must be `PF_KEY_V2` (2).
    pub version: u8,
    /// `sadb_msg_type`: the message type (`SADB_*`).
    pub msg_type: u8,
    /// `sadb_msg_errno`: zero in requests, an errno in error replies.
    pub errno: u8,
    /// `sadb_msg_satype`: the SA type (`SADB_SATYPE_*`).
    pub satype: u8,
    /// `sadb_msg_len`: the whole message length in 64-bit words.
    pub len: U16,
    /// `sadb_msg_reserved`: must be zero (Linux rejects anything else with `EINVAL`).
    pub reserved: U16,
    /// `sadb_msg_seq`: set by the originator, echoed in replies.
    pub seq: U32,
    /// `sadb_msg_pid`: the originator's process id (0 for the kernel).
    pub pid: U32,
}

/// `struct sadb_ext` (4 bytes): the generic header that starts every extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SadbExt {
    /// `sadb_ext_len`: the whole extension length in 64-bit words.
    pub len: U16,
    /// `sadb_ext_type`: the extension type (`SADB_EXT_*` / `SADB_X_EXT_*`).
    pub ext_type: U16,
}

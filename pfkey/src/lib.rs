//! PF_KEY v2 (RFC 2367) for Rust, with the Linux/KAME and FreeBSD extensions and the mobility
//! extensions IKEv2 MOBIKE (RFC 4555) needs: `SADB_X_MIGRATE` with `SADB_X_EXT_KMADDRESS`, the
//! per-SA address update (`SADB_UPDATE` + `SADB_X_EXT_NEW_ADDRESS_SRC/DST`), NAT-T inside both,
//! and BEET mode.
//!
//! Layers:
//! - [`wire`]: `zerocopy` layouts and the protocol's numbers;
//! - [`message`]: the typed message (parse, validate, emit; builders), no I/O;
//! - [`socket`]: a `PF_KEY` socket with request/reply correlation and dump iteration;
//! - [`kernel`]: the [`kernel::Kernel`] trait with the `AfKey` backend (a real PF_KEY socket),
//!   the `XfrmKernel` backend (the same operations over XFRM netlink, for kernels without
//!   PF_KEY) and the `Model` backend (an in-memory SAD/SPD with Linux semantics).
#![deny(missing_docs)]

pub mod kernel;
pub mod message;
pub mod render;
pub mod socket;
pub mod wire;

pub use message::{Extension, Message, ParseError, SockAddr};
pub use wire::Dialect;

/// The README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

//! `ikev2d`: a reference IKEv2 daemon (RFC 7296).
//!
//! Built in layers, each testable alone:
//! - [`codec`]: the IKEv2 header and payloads, in the same two layers as `pfkey` (a zero-copy
//!   wire layer of fixed headers, and a message layer of typed payloads with typed errors);
//! - [`crypto`]: PRFs and prf+, key derivation (RFC 7296 §2.13–2.18), the SK payload's ciphers,
//!   Diffie-Hellman groups 14, 19 and 31, and PSK authentication;
//! - [`config`]: connections and daemon settings from TOML;
//! - [`engine`]: the protocol without I/O: datagrams, timers, kernel events and commands in,
//!   datagrams, timers, kernel operations and events out;
//! - [`sim`]: two engines on a simulated network and clock, each with an in-memory kernel;
//! - [`daemon`]: the engine on real UDP sockets, timers and a kernel backend, with a control
//!   socket (`ikev2d run`, `ikev2d ctl`).
#![warn(missing_docs)]

pub mod codec;
pub mod config;
pub mod crypto;
pub mod daemon;
pub mod engine;
pub mod sim;

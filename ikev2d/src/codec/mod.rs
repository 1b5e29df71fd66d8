//! The IKEv2 codec (RFC 7296 §3, RFC 4555 §4).
//!
//! - [`wire`]: the fixed headers as `zerocopy` big-endian structs;
//! - [`numbers`]: the protocol's numbers as enums that keep unknown values, and the transform IDs.

pub mod numbers;
pub mod wire;

pub use numbers::{AuthMethod, ExchangeType, Flags, IdType, NotifyType, PayloadType, ProtocolId, TransformType};

//! The IKEv2 codec (RFC 7296 §3, RFC 4555 §4).
//!
//! Two layers, as in the `pfkey` crate:
//! - [`wire`]: the fixed headers as `zerocopy` big-endian structs (IKE header, generic payload
//!   header, proposal and transform substructures, attributes, and the fixed parts of the KE,
//!   ID, AUTH, Notify, Delete and TS payloads and of a traffic selector);
//! - [`message`]: [`Message`] and [`Payload`], typed, with [`Message::decode`] /
//!   [`Message::encode`] for a datagram and [`decode_payloads`] / [`encode_payloads`] for the
//!   bare chain inside an SK payload. Every rule a decoder enforces is one [`DecodeError`]
//!   variant that says where (byte offset, payload type) and what.
//!
//! [`numbers`] holds the protocol's numbers as enums that keep unknown values, and the
//! transform IDs. Decoding never panics; encoding is canonical (see [`message`] for the exact
//! round-trip guarantee and the reserved bits it normalizes).
//!
//! ```
//! use ikev2d::codec::*;
//!
//! let msg = Message {
//!     header: Header {
//!         spi_i: 0x0102_0304_0506_0708,
//!         spi_r: 0,
//!         exchange: ExchangeType::IkeSaInit,
//!         flags: Flags::INITIATOR,
//!         message_id: 0,
//!     },
//!     payloads: vec![Payload::Nonce(vec![7; 32])],
//! };
//! let bytes = msg.encode();
//! assert_eq!(bytes.len(), Message::header_len() + 4 + 32);
//! assert_eq!(Message::decode(&bytes), Ok(msg));
//! ```

pub mod error;
pub mod message;
pub mod numbers;
pub mod wire;

pub use error::DecodeError;
pub use message::{
    Header, Identification, Message, Notify, Payload, Proposal, TrafficSelector, Transform, decode_payloads,
    encode_payloads,
};
pub use numbers::{AuthMethod, ExchangeType, Flags, IdType, NotifyType, PayloadType, ProtocolId, TransformType};

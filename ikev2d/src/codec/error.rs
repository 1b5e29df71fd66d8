//! Typed decode errors: which rule a message broke, and where.
//!
//! Offsets count bytes from the start of the input: the datagram for
//! [`Message::decode`](super::Message::decode) (so the first payload is at 28), the chain for
//! [`decode_payloads`](super::decode_payloads). An offset names the start of the structure that
//! broke the rule (payload, proposal, transform, attribute or traffic selector).

use super::numbers::{PayloadType, ProtocolId};

/// A datagram or payload chain that breaks an RFC 7296 encoding rule.
///
/// Every variant is one rule. Most of them are `INVALID_SYNTAX` for the engine; the exceptions
/// are [`DecodeError::InvalidMajorVersion`] (`INVALID_MAJOR_VERSION`) and
/// [`DecodeError::UnsupportedCriticalPayload`] (`UNSUPPORTED_CRITICAL_PAYLOAD`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The datagram is shorter than the 28-byte IKE header.
    #[error("datagram is {len} bytes, shorter than the 28-byte IKE header")]
    HeaderTooShort {
        /// The datagram's length.
        len: usize,
    },
    /// The major version is not 2 (the minor version is ignored).
    #[error("IKE major version is {major} (minor {minor}); only 2 is supported")]
    InvalidMajorVersion {
        /// The major version received.
        major: u8,
        /// The minor version received.
        minor: u8,
    },
    /// The header's Length field disagrees with the datagram's length.
    #[error("IKE header length is {declared} but the datagram is {actual} bytes")]
    LengthMismatch {
        /// The Length field.
        declared: u32,
        /// The datagram's length.
        actual: usize,
    },
    /// A payload announced by the previous Next Payload field has no room for its 4-byte
    /// generic header.
    #[error("byte {offset}: {payload} payload header needs 4 bytes, {remaining} remain")]
    PayloadHeaderTruncated {
        /// Where the payload should start.
        offset: usize,
        /// The payload type announced.
        payload: PayloadType,
        /// The bytes left.
        remaining: usize,
    },
    /// A Payload Length below the generic header's 4 bytes.
    #[error("byte {offset}: {payload} payload length {length} is shorter than its 4-byte generic header")]
    PayloadLengthTooSmall {
        /// The payload's offset.
        offset: usize,
        /// Its type.
        payload: PayloadType,
        /// Its Payload Length field.
        length: u16,
    },
    /// A Payload Length that runs past the end of the input.
    #[error("byte {offset}: {payload} payload length {length} runs past the {remaining} bytes left")]
    PayloadPastEnd {
        /// The payload's offset.
        offset: usize,
        /// Its type.
        payload: PayloadType,
        /// Its Payload Length field.
        length: u16,
        /// The bytes left from the payload's start.
        remaining: usize,
    },
    /// A payload body too short for its type's fixed part (for Notify: fixed part plus SPI).
    #[error("byte {offset}: {payload} payload body is {have} bytes, its fixed part needs {need}")]
    BodyTooShort {
        /// The payload's offset.
        offset: usize,
        /// Its type.
        payload: PayloadType,
        /// Bytes the fixed part needs.
        need: usize,
        /// Bytes the body has.
        have: usize,
    },
    /// A payload of an unknown type with the critical bit set (RFC 7296 §2.5): the engine
    /// answers `UNSUPPORTED_CRITICAL_PAYLOAD` with `kind` as data.
    #[error("payload type {kind} is not supported and marked critical")]
    UnsupportedCriticalPayload {
        /// The payload type.
        kind: u8,
    },
    /// Bytes left after the payload whose Next Payload is 0.
    #[error("byte {offset}: {count} bytes follow the end of the payload chain")]
    TrailingBytes {
        /// Where the extra bytes start.
        offset: usize,
        /// How many there are.
        count: usize,
    },
    /// Bytes left after an SK payload, which must be the last one (RFC 7296 §3.14).
    #[error("byte {offset}: SK payload is not the last payload ({count} bytes follow it)")]
    SkNotLast {
        /// The SK payload's offset.
        offset: usize,
        /// The bytes after it.
        count: usize,
    },
    /// Nonce data outside 16..=256 bytes (RFC 7296 §3.9).
    #[error("byte {offset}: nonce is {len} bytes, outside 16..=256")]
    NonceLength {
        /// The payload's offset.
        offset: usize,
        /// The nonce data's length.
        len: usize,
    },
    /// A KE payload without key exchange data.
    #[error("byte {offset}: KE payload has no key exchange data")]
    KeEmpty {
        /// The payload's offset.
        offset: usize,
    },
    /// Fewer bytes left in the SA payload than a proposal header's 8.
    #[error("byte {offset}: proposal header needs 8 bytes, {remaining} remain in the SA payload")]
    ProposalTruncated {
        /// The proposal's offset.
        offset: usize,
        /// The bytes left in the SA payload.
        remaining: usize,
    },
    /// A Proposal Length too short for its header and SPI.
    #[error("byte {offset}: proposal length {length} cannot hold its 8-byte header and SPI ({need} bytes)")]
    ProposalTooShort {
        /// The proposal's offset.
        offset: usize,
        /// Its Proposal Length field.
        length: u16,
        /// Header plus SPI size.
        need: usize,
    },
    /// A Proposal Length that runs past the end of the SA payload.
    #[error("byte {offset}: proposal length {length} runs past the {remaining} bytes left in the SA payload")]
    ProposalPastEnd {
        /// The proposal's offset.
        offset: usize,
        /// Its Proposal Length field.
        length: u16,
        /// The bytes left in the SA payload.
        remaining: usize,
    },
    /// A proposal's Last Substruc that disagrees with its position (0 for the last, 2 before
    /// another proposal).
    #[error("byte {offset}: proposal Last Substruc is {value}, its position needs {expected}")]
    ProposalLastSubstruc {
        /// The proposal's offset.
        offset: usize,
        /// The value received.
        value: u8,
        /// The value its position needs.
        expected: u8,
    },
    /// A proposal whose Num Transforms disagrees with the transforms it holds.
    #[error("byte {offset}: proposal declares {declared} transforms but holds {found}")]
    ProposalTransformCount {
        /// The proposal's offset.
        offset: usize,
        /// Its Num Transforms field.
        declared: u8,
        /// The transforms found.
        found: usize,
    },
    /// Fewer bytes left in the proposal than a transform header's 8.
    #[error("byte {offset}: transform header needs 8 bytes, {remaining} remain in the proposal")]
    TransformTruncated {
        /// The transform's offset.
        offset: usize,
        /// The bytes left in the proposal.
        remaining: usize,
    },
    /// A Transform Length below the transform header's 8 bytes.
    #[error("byte {offset}: transform length {length} is shorter than its 8-byte header")]
    TransformTooShort {
        /// The transform's offset.
        offset: usize,
        /// Its Transform Length field.
        length: u16,
    },
    /// A Transform Length that runs past the end of its proposal.
    #[error("byte {offset}: transform length {length} runs past the {remaining} bytes left in the proposal")]
    TransformPastEnd {
        /// The transform's offset.
        offset: usize,
        /// Its Transform Length field.
        length: u16,
        /// The bytes left in the proposal.
        remaining: usize,
    },
    /// A transform's Last Substruc that disagrees with its position (0 for the last, 3 before
    /// another transform).
    #[error("byte {offset}: transform Last Substruc is {value}, its position needs {expected}")]
    TransformLastSubstruc {
        /// The transform's offset.
        offset: usize,
        /// The value received.
        value: u8,
        /// The value its position needs.
        expected: u8,
    },
    /// A transform attribute that runs past the end of its transform.
    #[error("byte {offset}: attribute needs {need} bytes, {have} remain in the transform")]
    AttributeTruncated {
        /// The attribute's offset.
        offset: usize,
        /// Bytes the attribute needs.
        need: usize,
        /// Bytes left in the transform.
        have: usize,
    },
    /// A Key Length attribute in TLV format (RFC 7296 §3.3.5: it is TV only).
    #[error("byte {offset}: attribute type {attr_type} must be in TV format, got TLV")]
    AttributeFormat {
        /// The attribute's offset.
        offset: usize,
        /// The attribute type.
        attr_type: u16,
    },
    /// An attribute type other than Key Length (14). RFC 7296 §3.3.6 has a transform with an
    /// attribute the receiver does not understand rejected; this codec rejects the message.
    #[error("byte {offset}: unknown transform attribute type {attr_type}")]
    UnknownAttribute {
        /// The attribute's offset.
        offset: usize,
        /// The attribute type.
        attr_type: u16,
    },
    /// The same attribute twice in one transform.
    #[error("byte {offset}: attribute type {attr_type} repeated in one transform")]
    DuplicateAttribute {
        /// The second attribute's offset.
        offset: usize,
        /// The attribute type.
        attr_type: u16,
    },
    /// A Delete whose SPI Size does not fit its protocol: IKE 0, AH and ESP 4; for another
    /// protocol, 0 when no SPI is listed.
    #[error("byte {offset}: Delete for {protocol} has SPI size {spi_size}")]
    DeleteSpiSize {
        /// The payload's offset.
        offset: usize,
        /// The protocol ID.
        protocol: ProtocolId,
        /// The SPI Size field.
        spi_size: u8,
    },
    /// A Delete that lists SPIs of size 0 (an IKE SA delete lists none).
    #[error("byte {offset}: Delete lists {count} SPIs of size 0")]
    DeleteEmptySpis {
        /// The payload's offset.
        offset: usize,
        /// The Num of SPIs field.
        count: u16,
    },
    /// A Delete whose body is not exactly Num of SPIs × SPI Size bytes after its fixed part.
    #[error("byte {offset}: Delete of {num_spis} SPIs of {spi_size} bytes has {have} bytes of SPIs")]
    DeleteLength {
        /// The payload's offset.
        offset: usize,
        /// The Num of SPIs field.
        num_spis: u16,
        /// The SPI Size field.
        spi_size: u8,
        /// The bytes after the fixed part.
        have: usize,
    },
    /// A traffic selector that runs past the end of its payload.
    #[error("byte {offset}: {payload} traffic selector needs {need} bytes, {have} remain")]
    TsTruncated {
        /// The selector's offset.
        offset: usize,
        /// TSi or TSr.
        payload: PayloadType,
        /// Bytes the selector needs.
        need: usize,
        /// Bytes left in the payload.
        have: usize,
    },
    /// A TS type other than 7 (IPv4 range) and 8 (IPv6 range).
    #[error("byte {offset}: {payload} traffic selector type {ts_type} is not supported")]
    UnknownTsType {
        /// The selector's offset.
        offset: usize,
        /// TSi or TSr.
        payload: PayloadType,
        /// The TS type.
        ts_type: u8,
    },
    /// A Selector Length that is not its type's (16 for type 7, 40 for type 8).
    #[error("byte {offset}: {payload} traffic selector of type {ts_type} has length {length}")]
    TsLength {
        /// The selector's offset.
        offset: usize,
        /// TSi or TSr.
        payload: PayloadType,
        /// The TS type.
        ts_type: u8,
        /// The Selector Length field.
        length: u16,
    },
    /// A TS payload whose Number of TSs disagrees with the selectors it holds.
    #[error("byte {offset}: {payload} declares {declared} traffic selectors but holds {found}")]
    TsCount {
        /// The payload's offset.
        offset: usize,
        /// TSi or TSr.
        payload: PayloadType,
        /// The Number of TSs field.
        declared: u8,
        /// The selectors found.
        found: usize,
    },
}

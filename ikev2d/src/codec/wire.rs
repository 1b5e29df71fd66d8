//! Fixed IKEv2 layouts as `zerocopy` structs (RFC 7296 §3).
//!
//! This is the *view* layer: byte-exact, packed (`Unaligned`) structs that can be read from any
//! offset of a received datagram without copying. Every multi-byte field is in network byte
//! order. Variable parts (SPIs, attributes, addresses, data) follow each header and are handled
//! by [`super::message`], which also turns the numbers into the enums of [`super::numbers`].

use zerocopy::byteorder::big_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Size of the IKE header.
pub const IKE_HEADER_LEN: usize = 28;
/// Size of the generic payload header.
pub const GENERIC_HEADER_LEN: usize = 4;
/// The version octet IKEv2 sends: major 2, minor 0.
pub const IKE_VERSION: u8 = 0x20;
/// The critical bit in the generic payload header's second octet.
pub const CRITICAL: u8 = 0x80;
/// Last Substruc value of the last proposal or transform.
pub const LAST_SUBSTRUC_LAST: u8 = 0;
/// Last Substruc value of a proposal that more proposals follow.
pub const LAST_SUBSTRUC_MORE_PROPOSALS: u8 = 2;
/// Last Substruc value of a transform that more transforms follow.
pub const LAST_SUBSTRUC_MORE_TRANSFORMS: u8 = 3;
/// The Attribute Format bit: set for TV (2-byte value in the header), clear for TLV.
pub const ATTR_FORMAT_TV: u16 = 0x8000;
/// TS type `TS_IPV4_ADDR_RANGE`.
pub const TS_IPV4_ADDR_RANGE: u8 = 7;
/// TS type `TS_IPV6_ADDR_RANGE`.
pub const TS_IPV6_ADDR_RANGE: u8 = 8;
/// Selector Length of a `TS_IPV4_ADDR_RANGE` selector.
pub const TS_IPV4_LEN: usize = 16;
/// Selector Length of a `TS_IPV6_ADDR_RANGE` selector.
pub const TS_IPV6_LEN: usize = 40;

/// The IKE header (28 bytes, RFC 7296 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct IkeHeader {
    /// IKE SA Initiator's SPI.
    pub spi_i: U64,
    /// IKE SA Responder's SPI (0 in the first message).
    pub spi_r: U64,
    /// Type of the first payload.
    pub next_payload: u8,
    /// Major version (high nibble) and minor version (low nibble).
    pub version: u8,
    /// Exchange type.
    pub exchange_type: u8,
    /// Flags: `I` 0x08, `V` 0x10, `R` 0x20; the other bits are reserved.
    pub flags: u8,
    /// Message ID.
    pub message_id: U32,
    /// Length of the whole message, header included.
    pub length: U32,
}

/// The generic payload header (4 bytes, RFC 7296 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct GenericPayloadHeader {
    /// Type of the next payload (for SK: of the first inner payload).
    pub next_payload: u8,
    /// The critical bit (0x80) and 7 reserved bits.
    pub critical: u8,
    /// Length of this payload, header included.
    pub length: U16,
}

/// The proposal substructure header (8 bytes, RFC 7296 §3.3.1); the SPI and the transforms
/// follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct ProposalHeader {
    /// 0 for the last proposal, 2 otherwise.
    pub last_substruc: u8,
    /// Reserved.
    pub reserved: u8,
    /// Length of this proposal, its SPI and transforms included.
    pub length: U16,
    /// Proposal number (1 for the first, +1 for each next one).
    pub number: u8,
    /// Security protocol identifier.
    pub protocol_id: u8,
    /// Length of the SPI that follows.
    pub spi_size: u8,
    /// Number of transforms.
    pub num_transforms: u8,
}

/// The transform substructure header (8 bytes, RFC 7296 §3.3.2); attributes follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct TransformHeader {
    /// 0 for the last transform of its proposal, 3 otherwise.
    pub last_substruc: u8,
    /// Reserved.
    pub reserved: u8,
    /// Length of this transform, its attributes included.
    pub length: U16,
    /// Transform type.
    pub transform_type: u8,
    /// Reserved.
    pub reserved2: u8,
    /// Transform ID.
    pub transform_id: U16,
}

/// The first 4 bytes of a transform attribute (RFC 7296 §3.3.5). In TV format (`AF` set)
/// `length_or_value` is the value; in TLV format it is the length of the value that follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct AttributeHeader {
    /// `AF` (0x8000) and the attribute type (15 bits).
    pub format_type: U16,
    /// TV: the value; TLV: the value's length.
    pub length_or_value: U16,
}

/// The Key Exchange payload's fixed part (RFC 7296 §3.4); the key exchange data follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct KeHeader {
    /// Diffie-Hellman group number.
    pub group: U16,
    /// Reserved.
    pub reserved: U16,
}

/// The Identification payload's fixed part (RFC 7296 §3.5); the identification data follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct IdHeader {
    /// ID type.
    pub id_type: u8,
    /// Reserved.
    pub reserved: [u8; 3],
}

/// The Authentication payload's fixed part (RFC 7296 §3.8); the authentication data follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct AuthHeader {
    /// Authentication method.
    pub method: u8,
    /// Reserved.
    pub reserved: [u8; 3],
}

/// The Notify payload's fixed part (RFC 7296 §3.10); the SPI and the notification data follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct NotifyHeader {
    /// Protocol ID of the SA concerned (0 when none).
    pub protocol_id: u8,
    /// Length of the SPI that follows.
    pub spi_size: u8,
    /// Notify message type.
    pub notify_type: U16,
}

/// The Delete payload's fixed part (RFC 7296 §3.11); `num_spis` SPIs of `spi_size` bytes follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct DeleteHeader {
    /// Protocol ID of the SAs deleted.
    pub protocol_id: u8,
    /// SPI size: 0 for IKE, 4 for AH and ESP.
    pub spi_size: u8,
    /// Number of SPIs.
    pub num_spis: U16,
}

/// The Traffic Selector payload's fixed part (RFC 7296 §3.13); the selectors follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct TsPayloadHeader {
    /// Number of traffic selectors.
    pub count: u8,
    /// Reserved.
    pub reserved: [u8; 3],
}

/// One traffic selector's fixed part (RFC 7296 §3.13.1); the start and end addresses follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct TrafficSelectorHeader {
    /// TS type: 7 IPv4 range, 8 IPv6 range.
    pub ts_type: u8,
    /// IP protocol ID (0 = any).
    pub ip_protocol: u8,
    /// Length of this selector, header included (16 or 40).
    pub length: U16,
    /// Start port (0 with end port 65535 = any).
    pub start_port: U16,
    /// End port.
    pub end_port: U16,
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    #[test]
    fn struct_sizes_match_rfc7296() {
        assert_eq!(size_of::<IkeHeader>(), IKE_HEADER_LEN);
        assert_eq!(size_of::<GenericPayloadHeader>(), GENERIC_HEADER_LEN);
        assert_eq!(size_of::<ProposalHeader>(), 8);
        assert_eq!(size_of::<TransformHeader>(), 8);
        assert_eq!(size_of::<AttributeHeader>(), 4);
        assert_eq!(size_of::<KeHeader>(), 4);
        assert_eq!(size_of::<IdHeader>(), 4);
        assert_eq!(size_of::<AuthHeader>(), 4);
        assert_eq!(size_of::<NotifyHeader>(), 4);
        assert_eq!(size_of::<DeleteHeader>(), 4);
        assert_eq!(size_of::<TsPayloadHeader>(), 4);
        assert_eq!(size_of::<TrafficSelectorHeader>(), 8);
    }

    #[test]
    fn header_fields_are_big_endian() {
        let mut b = [0u8; IKE_HEADER_LEN];
        b[..8].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        b[24..].copy_from_slice(&[0, 0, 1, 0]);
        let h = IkeHeader::ref_from_bytes(&b[..]).unwrap();
        assert_eq!(h.spi_i.get(), 0x0102_0304_0506_0708);
        assert_eq!(h.length.get(), 256);
    }
}

//! The typed message layer: [`Message`], [`Payload`] and their parts, with decode and encode.
//!
//! Decoding checks every length and count against the bytes present and allocates only copies
//! of parts of its input, so it never panics and never allocates more than a small multiple of
//! the input's size. Encoding computes every length, count, Next Payload and Last Substruc
//! field.
//!
//! # Canonical form
//!
//! `Message::decode(&m.encode()) == Ok(m)` for every message `m` that decoding could have
//! produced, and `Message::decode(x)?.encode() == x` for every byte string `x` that decodes,
//! except where decoding ignores bits that encoding zeroes:
//! - the minor version nibble of the IKE header (encoded as 0: version 2.0);
//! - the five reserved bits of the header's Flags octet;
//! - the critical bit of payload types this codec knows (RFC 7296 §2.5: a receiver that
//!   understands the type ignores it) and the 7 reserved bits next to the critical bit;
//! - the RESERVED fields of the proposal, transform, KE, ID, AUTH and TS payload headers.
//!
//! Values that decoding never produces do not round-trip: [`Payload::Unknown`] with the
//! critical bit set or with a `kind` that names a known type (or 0), an SK payload that is not
//! the last, a nonce outside 16..=256 bytes, an empty KE, a Delete whose SPI sizes disagree
//! with its protocol, a [`TrafficSelector`] whose two addresses differ in family. These encode
//! as given (or as documented on the type) and then fail to decode or decode differently.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Serialize, Serializer};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::error::DecodeError;
use super::numbers::{
    ATTR_KEY_LENGTH, AuthMethod, ExchangeType, Flags, IdType, NotifyType, PayloadType, ProtocolId, TransformType,
};
use super::wire::{
    ATTR_FORMAT_TV, AttributeHeader, AuthHeader, CRITICAL, DeleteHeader, GENERIC_HEADER_LEN, GenericPayloadHeader,
    IKE_HEADER_LEN, IKE_VERSION, IdHeader, IkeHeader, KeHeader, LAST_SUBSTRUC_LAST, LAST_SUBSTRUC_MORE_PROPOSALS,
    LAST_SUBSTRUC_MORE_TRANSFORMS, NotifyHeader, ProposalHeader, TS_IPV4_ADDR_RANGE, TS_IPV4_LEN, TS_IPV6_ADDR_RANGE,
    TS_IPV6_LEN, TrafficSelectorHeader, TransformHeader, TsPayloadHeader,
};

/// The smallest nonce (RFC 7296 §3.9).
pub const NONCE_MIN: usize = 16;
/// The largest nonce (RFC 7296 §3.9).
pub const NONCE_MAX: usize = 256;

/// The IKE header fields (RFC 7296 §3.1) without the ones encoding computes (Next Payload,
/// Length) or fixes (version 2.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Header {
    /// IKE SA Initiator's SPI.
    #[serde(serialize_with = "ser_spi")]
    pub spi_i: u64,
    /// IKE SA Responder's SPI (0 in an IKE_SA_INIT request).
    #[serde(serialize_with = "ser_spi")]
    pub spi_r: u64,
    /// Exchange type.
    pub exchange: ExchangeType,
    /// Flags (`I`, `V`, `R`).
    pub flags: Flags,
    /// Message ID.
    pub message_id: u32,
}

/// An IKEv2 message: the header and the payload chain in wire order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// The header.
    pub header: Header,
    /// The payloads, in wire order. An [`Payload::Sk`] must be the last.
    pub payloads: Vec<Payload>,
}

/// One payload (RFC 7296 §3.2–3.16), without its generic header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    /// Security Association: the proposals (RFC 7296 §3.3).
    Sa(Vec<Proposal>),
    /// Key Exchange (RFC 7296 §3.4).
    Ke {
        /// Diffie-Hellman group number.
        group: u16,
        /// Key exchange data (never empty).
        #[serde(serialize_with = "ser_hex")]
        data: Vec<u8>,
    },
    /// Nonce data, 16..=256 bytes (RFC 7296 §3.9).
    Nonce(#[serde(serialize_with = "ser_hex")] Vec<u8>),
    /// Identification of the initiator (RFC 7296 §3.5).
    IdI(Identification),
    /// Identification of the responder (RFC 7296 §3.5).
    IdR(Identification),
    /// Authentication (RFC 7296 §3.8).
    Auth {
        /// Authentication method.
        method: AuthMethod,
        /// Authentication data.
        #[serde(serialize_with = "ser_hex")]
        data: Vec<u8>,
    },
    /// Notify (RFC 7296 §3.10).
    Notify(Notify),
    /// Delete (RFC 7296 §3.11).
    Delete {
        /// Protocol of the SAs deleted.
        protocol: ProtocolId,
        /// Their SPIs: none for IKE (the SA is the one of the header), 4 bytes each for AH
        /// and ESP; all of one length.
        #[serde(serialize_with = "ser_hex_list")]
        spis: Vec<Vec<u8>>,
    },
    /// Vendor ID (RFC 7296 §3.12).
    VendorId(#[serde(serialize_with = "ser_hex")] Vec<u8>),
    /// Traffic selectors of the initiator (RFC 7296 §3.13).
    TsI(Vec<TrafficSelector>),
    /// Traffic selectors of the responder (RFC 7296 §3.13).
    TsR(Vec<TrafficSelector>),
    /// Encrypted and Authenticated (RFC 7296 §3.14), opaque here; always the last payload.
    Sk {
        /// Type of the first payload inside (the SK payload's Next Payload field).
        first_inner: PayloadType,
        /// IV, ciphertext (with padding and pad length) and ICV.
        #[serde(serialize_with = "ser_hex")]
        body: Vec<u8>,
    },
    /// Certificate (RFC 7296 §3.6).
    Cert {
        /// Certificate encoding.
        encoding: u8,
        /// Certificate data.
        #[serde(serialize_with = "ser_hex")]
        data: Vec<u8>,
    },
    /// Certificate Request (RFC 7296 §3.7).
    CertReq {
        /// Certificate encoding.
        encoding: u8,
        /// Certification authority data.
        #[serde(serialize_with = "ser_hex")]
        data: Vec<u8>,
    },
    /// Configuration (RFC 7296 §3.15), body kept opaque (CFG type, reserved, attributes).
    Cp(#[serde(serialize_with = "ser_hex")] Vec<u8>),
    /// Extensible Authentication (RFC 7296 §3.16), body kept opaque.
    Eap(#[serde(serialize_with = "ser_hex")] Vec<u8>),
    /// A payload of a type this codec does not know. Decoding keeps non-critical ones
    /// (`critical` is then false) and rejects critical ones with
    /// [`DecodeError::UnsupportedCriticalPayload`].
    Unknown {
        /// The payload type (not one of [`PayloadType`]'s named values, and not 0).
        kind: u8,
        /// The critical bit to send.
        critical: bool,
        /// The body after the generic header.
        #[serde(serialize_with = "ser_hex")]
        body: Vec<u8>,
    },
}

/// A proposal substructure of an SA payload (RFC 7296 §3.3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proposal {
    /// Proposal number (the first is 1).
    pub number: u8,
    /// Security protocol.
    pub protocol: ProtocolId,
    /// SPI: empty in IKE_SA_INIT, 8 bytes when rekeying an IKE SA, 4 for AH and ESP.
    #[serde(serialize_with = "ser_hex")]
    pub spi: Vec<u8>,
    /// Transforms, in wire order.
    pub transforms: Vec<Transform>,
}

/// A transform substructure (RFC 7296 §3.3.2).
///
/// The only attribute RFC 7296 defines is Key Length (14, TV format). Decoding rejects any
/// other attribute with [`DecodeError::UnknownAttribute`] (RFC 7296 §3.3.6 has a transform with
/// an attribute the receiver does not understand rejected; this codec rejects the message), a
/// TLV-format Key Length with [`DecodeError::AttributeFormat`] and a repeated one with
/// [`DecodeError::DuplicateAttribute`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Transform {
    /// Transform type.
    pub kind: TransformType,
    /// Transform ID (see the constants of [`super::numbers`]).
    pub id: u16,
    /// The Key Length attribute, in bits (AES: 128, 192 or 256).
    pub key_length: Option<u16>,
}

/// The content of an IDi or IDr payload (RFC 7296 §3.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Identification {
    /// ID type.
    pub kind: IdType,
    /// Identification data (an address, a name, a DN, an opaque key ID…).
    #[serde(serialize_with = "ser_hex")]
    pub data: Vec<u8>,
}

impl Identification {
    /// The payload body after the generic header: ID Type, three zero bytes, data. This is
    /// `RestOfInitIDPayload`/`RestOfRespIDPayload`, which AUTH hashes (RFC 7296 §2.15).
    pub fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.data.len());
        out.extend_from_slice(IdHeader { id_type: self.kind.value(), reserved: [0; 3] }.as_bytes());
        out.extend_from_slice(&self.data);
        out
    }
}

/// A Notify payload (RFC 7296 §3.10).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Notify {
    /// Protocol of the SA concerned; [`ProtocolId::NONE`] (`Unknown(0)`) when the SPI is empty.
    pub protocol: ProtocolId,
    /// SPI of the SA concerned (empty for most notifies).
    #[serde(serialize_with = "ser_hex")]
    pub spi: Vec<u8>,
    /// Notify message type.
    pub kind: NotifyType,
    /// Notification data.
    #[serde(serialize_with = "ser_hex")]
    pub data: Vec<u8>,
}

/// A traffic selector (RFC 7296 §3.13.1): `TS_IPV4_ADDR_RANGE` (7) or `TS_IPV6_ADDR_RANGE` (8),
/// chosen by the family of the addresses.
///
/// `start` and `end` must be of one family. Encoding writes a selector of `start`'s family and
/// converts an `end` of the other family (an IPv4 address to its IPv4-mapped IPv6 address, an
/// IPv6 address to its IPv4-mapped part or 0.0.0.0 without one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct TrafficSelector {
    /// IP protocol (0 = any).
    pub ip_protocol: u8,
    /// First port of the range (0 with `end_port` 65535 = any).
    pub start_port: u16,
    /// Last port of the range.
    pub end_port: u16,
    /// First address of the range.
    pub start: IpAddr,
    /// Last address of the range.
    pub end: IpAddr,
}

impl Payload {
    /// The payload type this payload is sent as (for [`Payload::Unknown`], its `kind`).
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::Sa,
            Payload::Ke { .. } => PayloadType::Ke,
            Payload::Nonce(_) => PayloadType::Nonce,
            Payload::IdI(_) => PayloadType::IdI,
            Payload::IdR(_) => PayloadType::IdR,
            Payload::Auth { .. } => PayloadType::Auth,
            Payload::Notify(_) => PayloadType::Notify,
            Payload::Delete { .. } => PayloadType::Delete,
            Payload::VendorId(_) => PayloadType::VendorId,
            Payload::TsI(_) => PayloadType::TsI,
            Payload::TsR(_) => PayloadType::TsR,
            Payload::Sk { .. } => PayloadType::Sk,
            Payload::Cert { .. } => PayloadType::Cert,
            Payload::CertReq { .. } => PayloadType::CertReq,
            Payload::Cp(_) => PayloadType::Cp,
            Payload::Eap(_) => PayloadType::Eap,
            Payload::Unknown { kind, .. } => PayloadType::from(*kind),
        }
    }
}

impl Message {
    /// Size of the IKE header (28).
    pub const fn header_len() -> usize {
        IKE_HEADER_LEN
    }

    /// Decodes a whole datagram (without the non-ESP marker of port 4500).
    ///
    /// Checks the header (size, major version 2, Length = datagram size), then the payload
    /// chain: every payload's length, every fixed part, and that nothing follows the last
    /// payload. Offsets in errors count from the start of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        let Ok((h, rest)) = IkeHeader::ref_from_prefix(bytes) else {
            return Err(DecodeError::HeaderTooShort { len: bytes.len() });
        };
        let (major, minor) = (h.version >> 4, h.version & 0x0f);
        if major != IKE_VERSION >> 4 {
            return Err(DecodeError::InvalidMajorVersion { major, minor });
        }
        if usize::try_from(h.length.get()).ok() != Some(bytes.len()) {
            return Err(DecodeError::LengthMismatch { declared: h.length.get(), actual: bytes.len() });
        }
        let header = Header {
            spi_i: h.spi_i.get(),
            spi_r: h.spi_r.get(),
            exchange: h.exchange_type.into(),
            flags: Flags::from_bits_truncate(h.flags),
            message_id: h.message_id.get(),
        };
        let payloads = decode_chain(h.next_payload.into(), rest, IKE_HEADER_LEN)?;
        Ok(Message { header, payloads })
    }

    /// Encodes the message: version 2.0, Next Payload fields, lengths and counts computed.
    ///
    /// # Panics
    ///
    /// If a field cannot hold what it must count: a payload, proposal or transform longer than
    /// 65535 bytes, an SPI longer than 255 bytes, more than 255 transforms in a proposal or
    /// traffic selectors in a payload, more than 65535 SPIs in a Delete, or Delete SPIs of
    /// different lengths.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(IKE_HEADER_LEN + 64 * self.payloads.len());
        out.extend_from_slice(&[0; IKE_HEADER_LEN]);
        let first = encode_chain(&self.payloads, &mut out);
        let length = u32::try_from(out.len()).expect("an IKE message longer than 4 GiB");
        let h = IkeHeader {
            spi_i: self.header.spi_i.into(),
            spi_r: self.header.spi_r.into(),
            next_payload: first.value(),
            version: IKE_VERSION,
            exchange_type: self.header.exchange.value(),
            flags: self.header.flags.bits(),
            message_id: self.header.message_id.into(),
            length: length.into(),
        };
        out[..IKE_HEADER_LEN].copy_from_slice(h.as_bytes());
        out
    }
}

/// Decodes a bare payload chain whose first payload is of type `first` (the decrypted content
/// of an SK payload). Offsets in errors count from the start of `bytes`.
///
/// An SK payload inside is accepted like at the top level (as the last payload); RFC 7296
/// §3.14 forbids nesting, which the caller checks.
pub fn decode_payloads(first: PayloadType, bytes: &[u8]) -> Result<Vec<Payload>, DecodeError> {
    decode_chain(first, bytes, 0)
}

/// Encodes a bare payload chain: the type of the first payload ([`PayloadType::None`] when
/// there is none) and the chain's bytes.
///
/// # Panics
///
/// As [`Message::encode`].
pub fn encode_payloads(payloads: &[Payload]) -> (PayloadType, Vec<u8>) {
    let mut out = Vec::new();
    let first = encode_chain(payloads, &mut out);
    (first, out)
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// Where a payload is, for its errors.
#[derive(Clone, Copy)]
struct At {
    offset: usize,
    payload: PayloadType,
}

impl At {
    /// Reads the fixed part `T` at the start of `body`.
    fn fixed<T: FromBytes + KnownLayout + Immutable>(self, body: &[u8]) -> Result<(&T, &[u8]), DecodeError> {
        T::ref_from_prefix(body).map_err(|_| self.too_short(size_of::<T>(), body.len()))
    }

    fn too_short(self, need: usize, have: usize) -> DecodeError {
        DecodeError::BodyTooShort { offset: self.offset, payload: self.payload, need, have }
    }
}

fn decode_chain(first: PayloadType, bytes: &[u8], base: usize) -> Result<Vec<Payload>, DecodeError> {
    let mut payloads = Vec::new();
    let mut next = first;
    let mut pos = 0;
    while next != PayloadType::None {
        let offset = base + pos;
        let rest = &bytes[pos..];
        let Ok((h, _)) = GenericPayloadHeader::ref_from_prefix(rest) else {
            return Err(DecodeError::PayloadHeaderTruncated { offset, payload: next, remaining: rest.len() });
        };
        let length = h.length.get();
        let len = usize::from(length);
        if len < GENERIC_HEADER_LEN {
            return Err(DecodeError::PayloadLengthTooSmall { offset, payload: next, length });
        }
        if len > rest.len() {
            return Err(DecodeError::PayloadPastEnd { offset, payload: next, length, remaining: rest.len() });
        }
        let body = &rest[GENERIC_HEADER_LEN..len];
        let following = PayloadType::from(h.next_payload);
        if next == PayloadType::Sk {
            if len != rest.len() {
                return Err(DecodeError::SkNotLast { offset, count: rest.len() - len });
            }
            payloads.push(Payload::Sk { first_inner: following, body: body.to_vec() });
            return Ok(payloads);
        }
        let critical = h.critical & CRITICAL != 0;
        payloads.push(decode_body(At { offset, payload: next }, critical, body)?);
        next = following;
        pos += len;
    }
    if pos != bytes.len() {
        return Err(DecodeError::TrailingBytes { offset: base + pos, count: bytes.len() - pos });
    }
    Ok(payloads)
}

/// Decodes the body of a payload other than SK.
fn decode_body(at: At, critical: bool, body: &[u8]) -> Result<Payload, DecodeError> {
    let base = at.offset + GENERIC_HEADER_LEN;
    Ok(match at.payload {
        PayloadType::Sa => Payload::Sa(decode_proposals(body, base)?),
        PayloadType::Ke => {
            let (h, data) = at.fixed::<KeHeader>(body)?;
            if data.is_empty() {
                return Err(DecodeError::KeEmpty { offset: at.offset });
            }
            Payload::Ke { group: h.group.get(), data: data.to_vec() }
        }
        PayloadType::IdI | PayloadType::IdR => {
            let (h, data) = at.fixed::<IdHeader>(body)?;
            let id = Identification { kind: h.id_type.into(), data: data.to_vec() };
            if at.payload == PayloadType::IdI { Payload::IdI(id) } else { Payload::IdR(id) }
        }
        PayloadType::Cert | PayloadType::CertReq => {
            let Some((&encoding, data)) = body.split_first() else {
                return Err(at.too_short(1, 0));
            };
            let data = data.to_vec();
            if at.payload == PayloadType::Cert {
                Payload::Cert { encoding, data }
            } else {
                Payload::CertReq { encoding, data }
            }
        }
        PayloadType::Auth => {
            let (h, data) = at.fixed::<AuthHeader>(body)?;
            Payload::Auth { method: h.method.into(), data: data.to_vec() }
        }
        PayloadType::Nonce => {
            if !(NONCE_MIN..=NONCE_MAX).contains(&body.len()) {
                return Err(DecodeError::NonceLength { offset: at.offset, len: body.len() });
            }
            Payload::Nonce(body.to_vec())
        }
        PayloadType::Notify => {
            let (h, rest) = at.fixed::<NotifyHeader>(body)?;
            let spi_size = usize::from(h.spi_size);
            if rest.len() < spi_size {
                return Err(at.too_short(size_of::<NotifyHeader>() + spi_size, body.len()));
            }
            let (spi, data) = rest.split_at(spi_size);
            Payload::Notify(Notify {
                protocol: h.protocol_id.into(),
                spi: spi.to_vec(),
                kind: h.notify_type.get().into(),
                data: data.to_vec(),
            })
        }
        PayloadType::Delete => decode_delete(at, body)?,
        PayloadType::VendorId => Payload::VendorId(body.to_vec()),
        PayloadType::TsI => Payload::TsI(decode_selectors(at, body)?),
        PayloadType::TsR => Payload::TsR(decode_selectors(at, body)?),
        PayloadType::Cp => Payload::Cp(body.to_vec()),
        PayloadType::Eap => Payload::Eap(body.to_vec()),
        // SK is decoded by the chain (it ends it); None never gets here (it ends the loop).
        PayloadType::Sk | PayloadType::None | PayloadType::Unknown(_) => {
            let kind = at.payload.value();
            if critical {
                return Err(DecodeError::UnsupportedCriticalPayload { kind });
            }
            Payload::Unknown { kind, critical: false, body: body.to_vec() }
        }
    })
}

fn decode_proposals(body: &[u8], base: usize) -> Result<Vec<Proposal>, DecodeError> {
    let mut proposals = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let offset = base + pos;
        let rest = &body[pos..];
        let Ok((h, _)) = ProposalHeader::ref_from_prefix(rest) else {
            return Err(DecodeError::ProposalTruncated { offset, remaining: rest.len() });
        };
        let length = h.length.get();
        let len = usize::from(length);
        if len > rest.len() {
            return Err(DecodeError::ProposalPastEnd { offset, length, remaining: rest.len() });
        }
        let need = size_of::<ProposalHeader>() + usize::from(h.spi_size);
        if len < need {
            return Err(DecodeError::ProposalTooShort { offset, length, need });
        }
        let expected = if len == rest.len() { LAST_SUBSTRUC_LAST } else { LAST_SUBSTRUC_MORE_PROPOSALS };
        if h.last_substruc != expected {
            return Err(DecodeError::ProposalLastSubstruc { offset, value: h.last_substruc, expected });
        }
        let transforms = decode_transforms(&rest[need..len], offset + need)?;
        if transforms.len() != usize::from(h.num_transforms) {
            return Err(DecodeError::ProposalTransformCount {
                offset,
                declared: h.num_transforms,
                found: transforms.len(),
            });
        }
        proposals.push(Proposal {
            number: h.number,
            protocol: h.protocol_id.into(),
            spi: rest[size_of::<ProposalHeader>()..need].to_vec(),
            transforms,
        });
        pos += len;
    }
    Ok(proposals)
}

fn decode_transforms(bytes: &[u8], base: usize) -> Result<Vec<Transform>, DecodeError> {
    let mut transforms = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let offset = base + pos;
        let rest = &bytes[pos..];
        let Ok((h, _)) = TransformHeader::ref_from_prefix(rest) else {
            return Err(DecodeError::TransformTruncated { offset, remaining: rest.len() });
        };
        let length = h.length.get();
        let len = usize::from(length);
        if len < size_of::<TransformHeader>() {
            return Err(DecodeError::TransformTooShort { offset, length });
        }
        if len > rest.len() {
            return Err(DecodeError::TransformPastEnd { offset, length, remaining: rest.len() });
        }
        let expected = if len == rest.len() { LAST_SUBSTRUC_LAST } else { LAST_SUBSTRUC_MORE_TRANSFORMS };
        if h.last_substruc != expected {
            return Err(DecodeError::TransformLastSubstruc { offset, value: h.last_substruc, expected });
        }
        let attrs_at = size_of::<TransformHeader>();
        let key_length = decode_attributes(&rest[attrs_at..len], offset + attrs_at)?;
        transforms.push(Transform { kind: h.transform_type.into(), id: h.transform_id.get(), key_length });
        pos += len;
    }
    Ok(transforms)
}

/// Decodes a transform's attributes: the Key Length, if present.
fn decode_attributes(bytes: &[u8], base: usize) -> Result<Option<u16>, DecodeError> {
    let mut key_length = None;
    let mut pos = 0;
    while pos < bytes.len() {
        let offset = base + pos;
        let rest = &bytes[pos..];
        let Ok((h, _)) = AttributeHeader::ref_from_prefix(rest) else {
            return Err(DecodeError::AttributeTruncated {
                offset,
                need: size_of::<AttributeHeader>(),
                have: rest.len(),
            });
        };
        let format_type = h.format_type.get();
        let tv = format_type & ATTR_FORMAT_TV != 0;
        let attr_type = format_type & !ATTR_FORMAT_TV;
        let len = size_of::<AttributeHeader>() + if tv { 0 } else { usize::from(h.length_or_value.get()) };
        if len > rest.len() {
            return Err(DecodeError::AttributeTruncated { offset, need: len, have: rest.len() });
        }
        if attr_type != ATTR_KEY_LENGTH {
            return Err(DecodeError::UnknownAttribute { offset, attr_type });
        }
        if !tv {
            return Err(DecodeError::AttributeFormat { offset, attr_type });
        }
        if key_length.is_some() {
            return Err(DecodeError::DuplicateAttribute { offset, attr_type });
        }
        key_length = Some(h.length_or_value.get());
        pos += len;
    }
    Ok(key_length)
}

fn decode_delete(at: At, body: &[u8]) -> Result<Payload, DecodeError> {
    let (h, rest) = at.fixed::<DeleteHeader>(body)?;
    let protocol = ProtocolId::from(h.protocol_id);
    let num_spis = h.num_spis.get();
    let size_ok = match protocol {
        ProtocolId::Ike => h.spi_size == 0,
        ProtocolId::Ah | ProtocolId::Esp => h.spi_size == 4,
        // Encoding derives the SPI size from the SPIs, so without SPIs it can only say 0.
        ProtocolId::Unknown(_) => num_spis > 0 || h.spi_size == 0,
    };
    if !size_ok {
        return Err(DecodeError::DeleteSpiSize { offset: at.offset, protocol, spi_size: h.spi_size });
    }
    if h.spi_size == 0 && num_spis > 0 {
        return Err(DecodeError::DeleteEmptySpis { offset: at.offset, count: num_spis });
    }
    if rest.len() != usize::from(num_spis) * usize::from(h.spi_size) {
        return Err(DecodeError::DeleteLength { offset: at.offset, num_spis, spi_size: h.spi_size, have: rest.len() });
    }
    let spis =
        if h.spi_size == 0 { Vec::new() } else { rest.chunks(usize::from(h.spi_size)).map(<[u8]>::to_vec).collect() };
    Ok(Payload::Delete { protocol, spis })
}

fn decode_selectors(at: At, body: &[u8]) -> Result<Vec<TrafficSelector>, DecodeError> {
    let (h, bytes) = at.fixed::<TsPayloadHeader>(body)?;
    let base = at.offset + GENERIC_HEADER_LEN + size_of::<TsPayloadHeader>();
    let mut selectors = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let offset = base + pos;
        let rest = &bytes[pos..];
        let truncated = |need| DecodeError::TsTruncated { offset, payload: at.payload, need, have: rest.len() };
        let Ok((ts, addrs)) = TrafficSelectorHeader::ref_from_prefix(rest) else {
            return Err(truncated(size_of::<TrafficSelectorHeader>()));
        };
        let expected = match ts.ts_type {
            TS_IPV4_ADDR_RANGE => TS_IPV4_LEN,
            TS_IPV6_ADDR_RANGE => TS_IPV6_LEN,
            ts_type => return Err(DecodeError::UnknownTsType { offset, payload: at.payload, ts_type }),
        };
        let length = ts.length.get();
        if usize::from(length) != expected {
            return Err(DecodeError::TsLength { offset, payload: at.payload, ts_type: ts.ts_type, length });
        }
        if expected > rest.len() {
            return Err(truncated(expected));
        }
        let (start, end) = if ts.ts_type == TS_IPV4_ADDR_RANGE {
            (IpAddr::from(array::<4>(addrs)), IpAddr::from(array::<4>(&addrs[4..])))
        } else {
            (IpAddr::from(array::<16>(addrs)), IpAddr::from(array::<16>(&addrs[16..])))
        };
        selectors.push(TrafficSelector {
            ip_protocol: ts.ip_protocol,
            start_port: ts.start_port.get(),
            end_port: ts.end_port.get(),
            start,
            end,
        });
        pos += expected;
    }
    if selectors.len() != usize::from(h.count) {
        return Err(DecodeError::TsCount {
            offset: at.offset,
            payload: at.payload,
            declared: h.count,
            found: selectors.len(),
        });
    }
    Ok(selectors)
}

/// The first `N` bytes of `b` (the caller checked there are `N`).
fn array<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.iter_mut().zip(b).for_each(|(d, s)| *d = *s);
    a
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// Converts a length or count into its field, or panics naming it (see [`Message::encode`]).
fn field<T: TryFrom<usize>>(n: usize, what: &str) -> T {
    T::try_from(n).unwrap_or_else(|_| panic!("{what} ({n}) does not fit its field"))
}

/// Appends the chain; returns the type of its first payload.
fn encode_chain(payloads: &[Payload], out: &mut Vec<u8>) -> PayloadType {
    for (i, p) in payloads.iter().enumerate() {
        let next = match p {
            Payload::Sk { first_inner, .. } => *first_inner,
            _ => payloads.get(i + 1).map_or(PayloadType::None, Payload::payload_type),
        };
        let critical = if matches!(p, Payload::Unknown { critical: true, .. }) { CRITICAL } else { 0 };
        let start = out.len();
        out.extend_from_slice(
            GenericPayloadHeader { next_payload: next.value(), critical, length: 0.into() }.as_bytes(),
        );
        encode_body(p, out);
        let length: u16 = field(out.len() - start, "payload length");
        out[start + 2..start + 4].copy_from_slice(&length.to_be_bytes());
    }
    payloads.first().map_or(PayloadType::None, Payload::payload_type)
}

fn encode_body(p: &Payload, out: &mut Vec<u8>) {
    match p {
        Payload::Sa(proposals) => {
            for (i, prop) in proposals.iter().enumerate() {
                let last = i + 1 == proposals.len();
                encode_proposal(prop, last, out);
            }
        }
        Payload::Ke { group, data } => {
            out.extend_from_slice(KeHeader { group: (*group).into(), reserved: 0.into() }.as_bytes());
            out.extend_from_slice(data);
        }
        Payload::IdI(id) | Payload::IdR(id) => out.extend_from_slice(&id.body()),
        Payload::Auth { method, data } => {
            out.extend_from_slice(AuthHeader { method: method.value(), reserved: [0; 3] }.as_bytes());
            out.extend_from_slice(data);
        }
        Payload::Notify(n) => {
            let h = NotifyHeader {
                protocol_id: n.protocol.value(),
                spi_size: field(n.spi.len(), "notify SPI size"),
                notify_type: n.kind.value().into(),
            };
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(&n.spi);
            out.extend_from_slice(&n.data);
        }
        Payload::Delete { protocol, spis } => {
            let default = match protocol {
                ProtocolId::Ah | ProtocolId::Esp => 4,
                ProtocolId::Ike | ProtocolId::Unknown(_) => 0,
            };
            let size = spis.first().map_or(default, Vec::len);
            assert!(spis.iter().all(|s| s.len() == size), "Delete SPIs of different lengths");
            let h = DeleteHeader {
                protocol_id: protocol.value(),
                spi_size: field(size, "Delete SPI size"),
                num_spis: field::<u16>(spis.len(), "Delete SPI count").into(),
            };
            out.extend_from_slice(h.as_bytes());
            spis.iter().for_each(|s| out.extend_from_slice(s));
        }
        Payload::TsI(selectors) | Payload::TsR(selectors) => {
            let h = TsPayloadHeader { count: field(selectors.len(), "traffic selector count"), reserved: [0; 3] };
            out.extend_from_slice(h.as_bytes());
            selectors.iter().for_each(|ts| encode_selector(ts, out));
        }
        Payload::Cert { encoding, data } | Payload::CertReq { encoding, data } => {
            out.push(*encoding);
            out.extend_from_slice(data);
        }
        Payload::Nonce(b)
        | Payload::VendorId(b)
        | Payload::Cp(b)
        | Payload::Eap(b)
        | Payload::Sk { body: b, .. }
        | Payload::Unknown { body: b, .. } => out.extend_from_slice(b),
    }
}

/// Length of a transform without attributes.
const TRANSFORM_BARE: u16 = 8;
/// Length of a transform with a Key Length attribute.
const TRANSFORM_WITH_KEY_LENGTH: u16 = 12;

fn encode_proposal(p: &Proposal, last: bool, out: &mut Vec<u8>) {
    let start = out.len();
    let h = ProposalHeader {
        last_substruc: if last { LAST_SUBSTRUC_LAST } else { LAST_SUBSTRUC_MORE_PROPOSALS },
        reserved: 0,
        length: 0.into(),
        number: p.number,
        protocol_id: p.protocol.value(),
        spi_size: field(p.spi.len(), "proposal SPI size"),
        num_transforms: field(p.transforms.len(), "transform count"),
    };
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(&p.spi);
    for (i, t) in p.transforms.iter().enumerate() {
        let h = TransformHeader {
            last_substruc: if i + 1 == p.transforms.len() { LAST_SUBSTRUC_LAST } else { LAST_SUBSTRUC_MORE_TRANSFORMS },
            reserved: 0,
            length: if t.key_length.is_some() { TRANSFORM_WITH_KEY_LENGTH } else { TRANSFORM_BARE }.into(),
            transform_type: t.kind.value(),
            reserved2: 0,
            transform_id: t.id.into(),
        };
        out.extend_from_slice(h.as_bytes());
        if let Some(bits) = t.key_length {
            let a = AttributeHeader {
                format_type: (ATTR_FORMAT_TV | ATTR_KEY_LENGTH).into(),
                length_or_value: bits.into(),
            };
            out.extend_from_slice(a.as_bytes());
        }
    }
    let length: u16 = field(out.len() - start, "proposal length");
    out[start + 2..start + 4].copy_from_slice(&length.to_be_bytes());
}

fn encode_selector(ts: &TrafficSelector, out: &mut Vec<u8>) {
    let (ts_type, length) = match ts.start {
        IpAddr::V4(_) => (TS_IPV4_ADDR_RANGE, TS_IPV4_LEN as u16),
        IpAddr::V6(_) => (TS_IPV6_ADDR_RANGE, TS_IPV6_LEN as u16),
    };
    let h = TrafficSelectorHeader {
        ts_type,
        ip_protocol: ts.ip_protocol,
        length: length.into(),
        start_port: ts.start_port.into(),
        end_port: ts.end_port.into(),
    };
    out.extend_from_slice(h.as_bytes());
    match (ts.start, ts.end) {
        (IpAddr::V4(s), end) => {
            let e = match end {
                IpAddr::V4(e) => e,
                IpAddr::V6(e) => e.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
            };
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&e.octets());
        }
        (IpAddr::V6(s), end) => {
            let e: Ipv6Addr = match end {
                IpAddr::V6(e) => e,
                IpAddr::V4(e) => e.to_ipv6_mapped(),
            };
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&e.octets());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JSON

fn ser_spi<S: Serializer>(spi: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{spi:016x}"))
}

fn ser_hex<S: Serializer, B: AsRef<[u8]>>(b: &B, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&pfkey::message::hex::encode(b.as_ref()))
}

fn ser_hex_list<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|b| pfkey::message::hex::encode(b)))
}

//! The typed message layer (no I/O): [`Message`] with parse, validate and emit, in both dialects.
//!
//! Parsing validates a whole message by the Linux parser rules (`pfkey_get_base_msg`,
//! `parse_exthdrs`, `verify_address_len`, `verify_key_len`, `verify_sec_ctx_len`,
//! `parse_ipsecrequests`, and `pfkey_migrate`'s pair checks; plus FreeBSD's `maxsize` for
//! fixed-size extensions, so that every valid message re-emits byte-exactly) and returns a
//! [`Message`] that borrows the buffer: it allocates nothing. Extensions are decoded when iterated. Unknown
//! extension types are kept and emitted again unchanged (RFC 2367 §2.3).
//!
//! ```
//! use pfkey::message::{Message, Extension};
//! use pfkey::wire::{Dialect, numbers::{MessageType, SaType}};
//!
//! let msg = Message::new(MessageType::Flush, SaType::Esp).with_seq(7);
//! let bytes = msg.to_bytes(Dialect::Linux).unwrap();
//! assert_eq!(bytes.len(), 16);
//! let back = Message::parse(&bytes, Dialect::Linux).unwrap();
//! assert_eq!(back, msg);
//! ```

pub mod build;
pub mod error;
pub mod ext;
pub mod hex;
pub mod list;
pub mod sockaddr;
mod validate;

use serde::{Deserialize, Serialize};
use zerocopy::{FromBytes, IntoBytes};

pub use build::*;
pub use error::{EmitError, ParseError, Rule};
pub use ext::*;
pub use list::{Item, List, ListIter};
pub use sockaddr::SockAddr;

use crate::wire::numbers::{ExtKind, MessageType, PF_KEY_V2, SaType, errno_name};
use crate::wire::{Dialect, SadbMsg};

/// The base header fields (`sadb_msg` without its length, which emit computes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// `sadb_msg_version` (2).
    pub version: u8,
    /// `sadb_msg_type`.
    pub msg_type: MessageType,
    /// `sadb_msg_errno`.
    pub errno: u8,
    /// `sadb_msg_satype`.
    pub satype: SaType,
    /// `sadb_msg_reserved`.
    pub reserved: u16,
    /// `sadb_msg_seq`.
    pub seq: u32,
    /// `sadb_msg_pid`.
    pub pid: u32,
}

/// The extensions of a message, in wire order.
#[derive(Debug, Clone)]
pub enum Extensions<'a> {
    /// Validated bytes of a received message (everything after the base header).
    Wire {
        /// The extension bytes.
        bytes: &'a [u8],
        /// Their dialect.
        dialect: Dialect,
    },
    /// Extensions built in memory.
    Owned(Vec<Extension<'a>>),
}

impl Default for Extensions<'_> {
    fn default() -> Self {
        Extensions::Owned(Vec::new())
    }
}

/// Iterator over [`Extensions`].
pub enum ExtIter<'l, 'a> {
    /// Decoding wire bytes.
    Wire {
        /// Bytes not yet decoded.
        bytes: &'a [u8],
        /// Their dialect.
        dialect: Dialect,
    },
    /// Cloning owned extensions.
    Owned(core::slice::Iter<'l, Extension<'a>>),
}

impl<'a> Iterator for ExtIter<'_, 'a> {
    type Item = Extension<'a>;

    fn next(&mut self) -> Option<Extension<'a>> {
        match self {
            ExtIter::Owned(it) => it.next().cloned(),
            ExtIter::Wire { bytes, dialect } => {
                let len = bytes.get(..2).map(|l| u16::from_ne_bytes([l[0], l[1]]) as usize * 8)?;
                if len == 0 || len > bytes.len() {
                    *bytes = &[];
                    return None;
                }
                let (ext, rest) = bytes.split_at(len);
                *bytes = rest;
                Extension::parse(ext, *dialect).ok()
            }
        }
    }
}

impl<'a> Extensions<'a> {
    /// Iterates over the extensions in wire order.
    pub fn iter(&self) -> ExtIter<'_, 'a> {
        match self {
            Extensions::Wire { bytes, dialect } => ExtIter::Wire { bytes, dialect: *dialect },
            Extensions::Owned(v) => ExtIter::Owned(v.iter()),
        }
    }

    /// The number of extensions.
    pub fn len(&self) -> usize {
        match self {
            Extensions::Owned(v) => v.len(),
            Extensions::Wire { .. } => self.iter().count(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        match self {
            Extensions::Owned(v) => v.is_empty(),
            Extensions::Wire { bytes, .. } => bytes.is_empty(),
        }
    }

    /// The extensions as an owned vector (for editing).
    pub fn to_vec(&self) -> Vec<Extension<'a>> {
        self.iter().collect()
    }
}

impl PartialEq for Extensions<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Extensions<'_> {}

/// A PF_KEY v2 message: base header plus extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// The base header.
    pub header: Header,
    /// The extensions in wire order.
    pub extensions: Extensions<'a>,
}

impl Message<'static> {
    /// An empty request of `msg_type` for `satype` (seq 0, pid 0, no extensions).
    pub fn new(msg_type: MessageType, satype: SaType) -> Self {
        Message {
            header: Header { version: PF_KEY_V2, msg_type, errno: 0, satype, reserved: 0, seq: 0, pid: 0 },
            extensions: Extensions::Owned(Vec::new()),
        }
    }
}

/// Bit index of a known extension kind, for duplicate detection.
fn kind_bit(kind: ExtKind) -> u64 {
    1u64 << (kind as u32)
}

impl<'a> Message<'a> {
    /// Parses and validates one message that fills `bytes` exactly. Allocates nothing.
    ///
    /// This accepts what a kernel sends: Linux writes a policy's reference count into
    /// `sadb_msg_reserved` of its SPD messages. Use [`Message::parse_request`] for messages a
    /// kernel receives, where that field must be zero.
    pub fn parse(bytes: &'a [u8], dialect: Dialect) -> Result<Message<'a>, ParseError> {
        let err = |offset, ext, rule| Err(ParseError::new(offset, ext, rule, dialect));
        let Ok((h, _)) = SadbMsg::read_from_prefix(bytes) else {
            return err(0, None, Rule::Truncated { need: 16, have: bytes.len() });
        };
        if h.version != PF_KEY_V2 {
            return err(0, None, Rule::BadVersion(h.version));
        }
        if h.msg_type == 0 || h.msg_type > MessageType::MAX {
            return err(1, None, Rule::BadMessageType(h.msg_type));
        }
        let words = h.len.get();
        if (words as usize) * 8 != bytes.len() || words < 2 {
            return err(4, None, Rule::LengthMismatch { declared_words: words, actual_bytes: bytes.len() });
        }
        let msg_type = MessageType::from(h.msg_type);
        let body = &bytes[16..];
        let mut seen = 0u64;
        let mut at = 0usize;
        let mut src_family: Option<u16> = None;
        let mut dst: Option<(usize, u16)> = None;
        // The policy's offset and bytes, for MIGRATE's pair check (which reads only the request
        // headers).
        let mut policy: Option<(usize, &'a [u8])> = None;
        while at < body.len() {
            let off = 16 + at;
            let rest = &body[at..];
            // `rest` is at least 8 bytes: the message and every extension are whole words.
            let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize * 8;
            let ty = u16::from_ne_bytes([rest[2], rest[3]]);
            if len == 0 {
                return err(off, Some(ty), Rule::ExtZeroLength);
            }
            if len > rest.len() {
                return err(off, Some(ty), Rule::ExtPastEnd { len, remaining: rest.len() });
            }
            if ty == 0 {
                return err(off, Some(ty), Rule::ExtTypeZero);
            }
            let ext_bytes = &rest[..len];
            if let Some(kind) = ExtKind::from_number(ty, dialect) {
                if seen & kind_bit(kind) != 0 {
                    return err(off, Some(ty), Rule::DuplicateExt);
                }
                seen |= kind_bit(kind);
                // Validation only: the message keeps the bytes and decodes when iterated.
                let family = match validate::extension(ext_bytes, kind, dialect) {
                    Ok(f) => f,
                    Err((o, r)) => return err(off + o, Some(ty), r),
                };
                match kind {
                    ExtKind::AddressSrc => src_family = Some(family),
                    ExtKind::AddressDst => dst = Some((off, family)),
                    ExtKind::Policy => policy = Some((off, ext_bytes)),
                    _ => {}
                }
            }
            at += len;
        }
        if let (Some(src), Some((dst_off, dst))) = (src_family, dst)
            && src != dst
        {
            return err(dst_off, ExtKind::AddressDst.number(dialect), Rule::SrcDstFamilyMismatch { src, dst });
        }
        if msg_type == MessageType::XMigrate
            && let Some((off, p)) = policy
        {
            // A validated policy is at least its 16-byte header, then whole requests.
            check_pairs(RequestHeaders { bytes: &p[16..], dialect })
                .map_err(|r| ParseError::new(off, ExtKind::Policy.number(dialect), r, dialect))?;
        }
        Ok(Message {
            header: Header {
                version: h.version,
                msg_type,
                errno: h.errno,
                satype: h.satype.into(),
                reserved: h.reserved.get(),
                seq: h.seq.get(),
                pid: h.pid.get(),
            },
            extensions: Extensions::Wire { bytes: body, dialect },
        })
    }

    /// Parses a message sent *to* a kernel: [`Message::parse`] plus `pfkey_get_base_msg`'s rule
    /// that `sadb_msg_reserved` is zero.
    pub fn parse_request(bytes: &'a [u8], dialect: Dialect) -> Result<Message<'a>, ParseError> {
        let m = Message::parse(bytes, dialect)?;
        if m.header.reserved != 0 {
            return Err(ParseError::new(6, None, Rule::ReservedNonZero(m.header.reserved), dialect));
        }
        Ok(m)
    }

    /// Appends this message to `out` in `dialect`.
    pub fn emit_into(&self, out: &mut Vec<u8>, dialect: Dialect) -> Result<(), EmitError> {
        let start = out.len();
        let h = &self.header;
        let hdr = SadbMsg {
            version: h.version,
            msg_type: h.msg_type.into(),
            errno: h.errno,
            satype: h.satype.into(),
            len: 0.into(),
            reserved: h.reserved.into(),
            seq: h.seq.into(),
            pid: h.pid.into(),
        };
        out.extend_from_slice(hdr.as_bytes());
        match &self.extensions {
            Extensions::Wire { bytes, dialect: d } if *d == dialect => out.extend_from_slice(bytes),
            Extensions::Owned(v) => {
                for e in v {
                    e.emit(out, dialect)?;
                }
            }
            wire @ Extensions::Wire { .. } => {
                for e in wire.iter() {
                    e.emit(out, dialect)?;
                }
            }
        }
        let len = out.len() - start;
        let words = u16::try_from(len / 8).map_err(|_| EmitError::TooLong { what: "message", len })?;
        out[start + 4..start + 6].copy_from_slice(&words.to_ne_bytes());
        Ok(())
    }

    /// This message's bytes in `dialect`.
    pub fn to_bytes(&self, dialect: Dialect) -> Result<Vec<u8>, EmitError> {
        let mut out = Vec::with_capacity(self.wire_len_hint());
        self.emit_into(&mut out, dialect)?;
        Ok(out)
    }

    fn wire_len_hint(&self) -> usize {
        match &self.extensions {
            Extensions::Wire { bytes, .. } => 16 + bytes.len(),
            Extensions::Owned(v) => 16 + v.len() * 40,
        }
    }

    /// A copy that owns all its bytes.
    pub fn into_owned(self) -> Message<'static> {
        Message {
            header: self.header,
            extensions: Extensions::Owned(self.extensions.iter().map(Extension::into_owned).collect()),
        }
    }

    /// The message type.
    pub fn msg_type(&self) -> MessageType {
        self.header.msg_type
    }

    /// The errno of an error reply (0 when none).
    pub fn errno(&self) -> u8 {
        self.header.errno
    }

    /// The first extension of `kind`.
    pub fn get(&self, kind: ExtKind) -> Option<Extension<'a>> {
        self.extensions.iter().find(|e| e.kind() == Some(kind))
    }

    /// Whether the message carries an extension of `kind`.
    pub fn has(&self, kind: ExtKind) -> bool {
        self.get(kind).is_some()
    }

    /// `SADB_EXT_SA`.
    pub fn sa(&self) -> Option<Sa> {
        match self.get(ExtKind::Sa)? {
            Extension::Sa(s) => Some(s),
            _ => None,
        }
    }

    /// `SADB_X_EXT_SA2`.
    pub fn sa2(&self) -> Option<Sa2> {
        match self.get(ExtKind::Sa2)? {
            Extension::Sa2(s) => Some(s),
            _ => None,
        }
    }

    /// The address extension of `kind` (SRC, DST, PROXY, NEW_ADDRESS_*, NAT_T_OA*).
    pub fn address(&self, kind: ExtKind) -> Option<Address<'a>> {
        self.get(kind)?.as_address().cloned()
    }

    /// A lifetime extension of `kind` (CURRENT, HARD or SOFT).
    pub fn lifetime(&self, kind: ExtKind) -> Option<Lifetime> {
        match self.get(kind)? {
            Extension::LifetimeCurrent(l) | Extension::LifetimeHard(l) | Extension::LifetimeSoft(l) => Some(l),
            _ => None,
        }
    }

    /// A key extension of `kind` (AUTH or ENCRYPT).
    pub fn key(&self, kind: ExtKind) -> Option<Key<'a>> {
        match self.get(kind)? {
            Extension::KeyAuth(k) | Extension::KeyEncrypt(k) => Some(k),
            _ => None,
        }
    }

    /// `SADB_X_EXT_POLICY`.
    pub fn policy(&self) -> Option<Policy<'a>> {
        match self.get(ExtKind::Policy)? {
            Extension::Policy(p) => Some(p),
            _ => None,
        }
    }

    /// `SADB_X_EXT_KMADDRESS`.
    pub fn kmaddress(&self) -> Option<KmAddress<'a>> {
        match self.get(ExtKind::KmAddress)? {
            Extension::KmAddress(k) => Some(k),
            _ => None,
        }
    }

    /// `SADB_EXT_SPIRANGE`.
    pub fn spirange(&self) -> Option<SpiRange> {
        match self.get(ExtKind::SpiRange)? {
            Extension::SpiRange(r) => Some(r),
            _ => None,
        }
    }

    /// `SADB_X_EXT_NAT_T_TYPE`.
    pub fn nat_t_type(&self) -> Option<NatTTypeExt> {
        match self.get(ExtKind::NatTType)? {
            Extension::NatTType(t) => Some(t),
            _ => None,
        }
    }

    /// `SADB_X_EXT_NAT_T_SPORT` or `_DPORT`.
    pub fn nat_t_port(&self, kind: ExtKind) -> Option<NatTPort> {
        match self.get(kind)? {
            Extension::NatTSport(p) | Extension::NatTDport(p) => Some(p),
            _ => None,
        }
    }

    /// `SADB_EXT_SUPPORTED_AUTH` or `_ENCRYPT`.
    pub fn supported(&self, kind: ExtKind) -> Option<Supported<'a>> {
        match self.get(kind)? {
            Extension::SupportedAuth(s) | Extension::SupportedEncrypt(s) => Some(s),
            _ => None,
        }
    }

    /// `SADB_EXT_PROPOSAL`.
    pub fn proposal(&self) -> Option<Proposal<'a>> {
        match self.get(ExtKind::Proposal)? {
            Extension::Proposal(p) => Some(p),
            _ => None,
        }
    }
}

impl Message<'static> {
    /// Sets `sadb_msg_seq`.
    pub fn with_seq(mut self, seq: u32) -> Self {
        self.header.seq = seq;
        self
    }

    /// Sets `sadb_msg_pid`.
    pub fn with_pid(mut self, pid: u32) -> Self {
        self.header.pid = pid;
        self
    }

    /// Sets `sadb_msg_errno`.
    pub fn with_errno(mut self, errno: u8) -> Self {
        self.header.errno = errno;
        self
    }

    /// Appends an extension.
    pub fn with(mut self, ext: Extension<'static>) -> Self {
        self.push(ext);
        self
    }

    /// Appends an extension (turning wire extensions into owned ones first).
    pub fn push(&mut self, ext: Extension<'static>) {
        if let Extensions::Wire { .. } = self.extensions {
            self.extensions = Extensions::Owned(self.extensions.to_vec());
        }
        if let Extensions::Owned(v) = &mut self.extensions {
            v.push(ext);
        }
    }
}

/// The `pfkey_migrate` pair rules: an even number (2..=12) of requests, each pair with equal
/// proto, mode and reqid.
pub fn check_migrate_pairs(p: &Policy<'_>) -> Result<(), Rule> {
    match &p.requests {
        // Validated wire bytes: read only the request headers, without decoding the endpoints.
        List::Wire { bytes, dialect } => check_pairs(RequestHeaders { bytes, dialect: *dialect }),
        List::Owned(v) => check_pairs(v.iter().map(|r| (r.proto, u8::from(r.mode), r.reqid))),
    }
}

/// `(proto, mode, reqid)` of each request in validated policy bytes.
struct RequestHeaders<'a> {
    bytes: &'a [u8],
    dialect: Dialect,
}

impl Iterator for RequestHeaders<'_> {
    type Item = (u16, u8, u32);

    fn next(&mut self) -> Option<Self::Item> {
        let (len, fields) = match self.dialect {
            Dialect::Linux => {
                let (r, _) = crate::wire::SadbXIpsecrequest::read_from_prefix(self.bytes).ok()?;
                (r.len.get(), (r.proto.get(), r.mode, r.reqid.get()))
            }
            Dialect::FreeBsd => {
                let (r, _) = crate::wire::SadbXIpsecrequestFreeBsd::read_from_prefix(self.bytes).ok()?;
                (r.len.get(), (r.proto.get(), r.mode, u32::from(r.reqid.get())))
            }
        };
        self.bytes = self.bytes.get(len as usize..).filter(|_| len > 0)?;
        Some(fields)
    }
}

fn check_pairs(mut it: impl Iterator<Item = (u16, u8, u32)>) -> Result<(), Rule> {
    let mut n = 0usize;
    while let Some(old) = it.next() {
        let Some(new) = it.next() else {
            return Err(Rule::MigrateOddRequests(n * 2 + 1));
        };
        let field = if old.0 != new.0 {
            Some("proto")
        } else if old.1 != new.1 {
            Some("mode")
        } else if old.2 != new.2 {
            Some("reqid")
        } else {
            None
        };
        if let Some(field) = field {
            return Err(Rule::MigratePairMismatch { pair: n, field });
        }
        n += 1;
    }
    match n {
        0 => Err(Rule::MigrateNoPairs),
        n if n > crate::wire::numbers::XFRM_MAX_DEPTH => Err(Rule::MigrateTooManyPairs(n)),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// JSON: flat header fields, errno as number and name, extensions by C name.

#[derive(Serialize, Deserialize)]
struct MessageJson<'a> {
    #[serde(default = "v2")]
    version: u8,
    #[serde(rename = "type")]
    msg_type: MessageType,
    #[serde(default)]
    errno: u8,
    #[serde(default, skip_deserializing)]
    errno_name: Option<&'static str>,
    satype: SaType,
    #[serde(default, skip_deserializing)]
    len: Option<u16>,
    #[serde(default)]
    reserved: u16,
    #[serde(default)]
    seq: u32,
    #[serde(default)]
    pid: u32,
    #[serde(default)]
    extensions: Vec<Extension<'a>>,
}

fn v2() -> u8 {
    PF_KEY_V2
}

impl Serialize for Message<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let h = &self.header;
        let mut st = s.serialize_struct("Message", 10)?;
        st.serialize_field("version", &h.version)?;
        st.serialize_field("type", &h.msg_type)?;
        st.serialize_field("errno", &h.errno)?;
        st.serialize_field("errno_name", &errno_name(h.errno))?;
        st.serialize_field("satype", &h.satype)?;
        st.serialize_field("reserved", &h.reserved)?;
        st.serialize_field("seq", &h.seq)?;
        st.serialize_field("pid", &h.pid)?;
        st.serialize_field("extensions", &ExtSeq(&self.extensions))?;
        st.end()
    }
}

struct ExtSeq<'l, 'a>(&'l Extensions<'a>);

impl Serialize for ExtSeq<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter())
    }
}

impl<'de> Deserialize<'de> for Message<'static> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let j = MessageJson::deserialize(d)?;
        let _ = (j.errno_name, j.len);
        Ok(Message {
            header: Header {
                version: j.version,
                msg_type: j.msg_type,
                errno: j.errno,
                satype: j.satype,
                reserved: j.reserved,
                seq: j.seq,
                pid: j.pid,
            },
            extensions: Extensions::Owned(j.extensions.into_iter().map(Extension::into_owned).collect()),
        })
    }
}

/// Splits a stream of concatenated messages (as read from a capture or a dump file) into
/// message-sized slices using each base header's length, without validating them.
pub fn split_stream(mut bytes: &[u8]) -> impl Iterator<Item = Result<&[u8], ParseError>> {
    let mut offset = 0usize;
    core::iter::from_fn(move || {
        if bytes.is_empty() {
            return None;
        }
        if bytes.len() < 16 {
            let e = ParseError::new(offset, None, Rule::Truncated { need: 16, have: bytes.len() }, Dialect::Linux);
            bytes = &[];
            return Some(Err(e));
        }
        let words = u16::from_ne_bytes([bytes[4], bytes[5]]) as usize;
        let len = words * 8;
        if len < 16 || len > bytes.len() {
            let e = ParseError::new(
                offset + 4,
                None,
                Rule::LengthMismatch { declared_words: words as u16, actual_bytes: bytes.len() },
                Dialect::Linux,
            );
            bytes = &[];
            return Some(Err(e));
        }
        let (m, rest) = bytes.split_at(len);
        bytes = rest;
        offset += len;
        Some(Ok(m))
    })
}

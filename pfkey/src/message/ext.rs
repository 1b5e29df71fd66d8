//! The typed extensions (the `Repr` layer): one type per extension layout, with parse and emit.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use zerocopy::{FromBytes, IntoBytes};

use super::error::EmitError;
use super::hex;
use super::list::{Item, List};
use super::sockaddr::SockAddr;
use super::validate::{self, ExtResult};
use crate::wire::numbers::*;
use crate::wire::*;

/// Byte content that borrows from a received buffer or owns its bytes.
pub type Bytes<'a> = Cow<'a, [u8]>;

/// `SADB_EXT_SA`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sa {
    /// SPI (host order here; network order on the wire).
    pub spi: u32,
    /// Replay window size in packets.
    pub replay: u8,
    /// SA state.
    pub state: SaState,
    /// Authentication algorithm.
    pub auth: AuthAlg,
    /// Encryption algorithm.
    pub encrypt: EncryptAlg,
    /// `SADB_SAFLAGS_*`.
    pub flags: u32,
}

/// `SADB_EXT_LIFETIME_CURRENT`, `_HARD`, `_SOFT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Lifetime {
    /// Allocations (CURRENT: count; HARD/SOFT: limit).
    pub allocations: u32,
    /// Bytes.
    pub bytes: u64,
    /// Seconds since creation (limit) or the creation time (CURRENT).
    pub addtime: u64,
    /// Seconds since first use (limit) or the first-use time (CURRENT).
    pub usetime: u64,
}

/// A `sadb_address` extension (SRC, DST, PROXY, NAT_T_OA/OAI/OAR, NEW_ADDRESS_SRC/DST).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address<'a> {
    /// Upper-layer protocol (`IPSEC_ULPROTO_ANY` = 255).
    pub proto: u8,
    /// Prefix length.
    pub prefixlen: u8,
    /// `sadb_address_reserved`.
    #[serde(default)]
    pub reserved: u16,
    /// The address.
    pub addr: SockAddr,
    /// Bytes after the sockaddr when they are not plain zero padding.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex::opt")]
    pub trailing: Option<Bytes<'a>>,
}

impl Address<'_> {
    /// A full-length host address (`/32` or `/128`) with protocol `any`.
    pub fn host(addr: SockAddr) -> Address<'static> {
        Address { proto: IPSEC_ULPROTO_ANY, prefixlen: addr.max_prefixlen(), reserved: 0, addr, trailing: None }
    }

    /// A prefix with protocol `proto`.
    pub fn prefix(addr: SockAddr, prefixlen: u8, proto: u8) -> Address<'static> {
        Address { proto, prefixlen, reserved: 0, addr, trailing: None }
    }
}

/// `SADB_EXT_KEY_AUTH` / `SADB_EXT_KEY_ENCRYPT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key<'a> {
    /// Key length in bits.
    pub bits: u16,
    /// `sadb_key_reserved`.
    #[serde(default)]
    pub reserved: u16,
    /// The key bytes (`ceil(bits / 8)` of them).
    #[serde(with = "hex::cow")]
    pub key: Bytes<'a>,
    /// Bytes after the key when they are not plain zero padding.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex::opt")]
    pub trailing: Option<Bytes<'a>>,
}

impl Key<'_> {
    /// A key of `bytes.len() * 8` bits.
    pub fn new(bytes: &[u8]) -> Key<'static> {
        Key { bits: (bytes.len() * 8) as u16, reserved: 0, key: Cow::Owned(bytes.to_vec()), trailing: None }
    }
}

/// `SADB_EXT_IDENTITY_SRC` / `_DST`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ident<'a> {
    /// Identity type.
    pub ident_type: IdentType,
    /// `sadb_ident_reserved`.
    #[serde(default)]
    pub reserved: u16,
    /// `sadb_ident_id`.
    #[serde(default)]
    pub id: u64,
    /// The identity string, without its NUL terminator.
    #[serde(with = "hex::cow")]
    pub string: Bytes<'a>,
    /// Bytes after the string when they are not its NUL terminator plus zero padding
    /// (an empty value means the string has no terminator).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex::opt")]
    pub trailing: Option<Bytes<'a>>,
}

/// `SADB_EXT_SENSITIVITY`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sens<'a> {
    /// Data protection domain.
    pub dpd: u32,
    /// Sensitivity level.
    pub sens_level: u8,
    /// Integrity level.
    pub integ_level: u8,
    /// `sadb_sens_reserved`.
    #[serde(default)]
    pub reserved: u32,
    /// Sensitivity bitmap (a multiple of 8 bytes).
    #[serde(with = "hex::cow")]
    pub sens_bitmap: Bytes<'a>,
    /// Integrity bitmap (a multiple of 8 bytes).
    #[serde(with = "hex::cow")]
    pub integ_bitmap: Bytes<'a>,
    /// Bytes after the bitmaps.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex::opt")]
    pub trailing: Option<Bytes<'a>>,
}

/// One `sadb_comb` of a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Comb {
    pub auth: AuthAlgOrNone,
    pub encrypt: EncryptAlgOrNone,
    pub flags: u16,
    pub auth_minbits: u16,
    pub auth_maxbits: u16,
    pub encrypt_minbits: u16,
    pub encrypt_maxbits: u16,
    #[serde(default)]
    pub reserved: u32,
    pub soft_allocations: u32,
    pub hard_allocations: u32,
    pub soft_bytes: u64,
    pub hard_bytes: u64,
    pub soft_addtime: u64,
    pub hard_addtime: u64,
    pub soft_usetime: u64,
    pub hard_usetime: u64,
}

/// An authentication algorithm that defaults to `SADB_AALG_NONE`.
pub type AuthAlgOrNone = DefaultNone<AuthAlg>;
/// An encryption algorithm that defaults to `SADB_EALG_NONE`.
pub type EncryptAlgOrNone = DefaultNone<EncryptAlg>;

/// A numbered enum whose default is the value 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DefaultNone<T>(pub T);

impl<T: From<u8>> Default for DefaultNone<T> {
    fn default() -> Self {
        DefaultNone(T::from(0))
    }
}

/// `SADB_EXT_PROPOSAL`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal<'a> {
    /// Replay window size.
    pub replay: u8,
    /// `sadb_prop_reserved`.
    #[serde(default)]
    pub reserved: [u8; 3],
    /// The combinations, most preferred first.
    pub combs: List<'a, Comb>,
    /// Bytes after the last whole `sadb_comb`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex::opt")]
    pub trailing: Option<Bytes<'a>>,
}

/// One `sadb_alg` of a SUPPORTED list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alg {
    /// Algorithm id (`SADB_AALG_*` or `SADB_EALG_*` by the extension).
    pub id: u8,
    /// IV length.
    pub ivlen: u8,
    /// Minimum key bits.
    pub minbits: u16,
    /// Maximum key bits.
    pub maxbits: u16,
    /// `sadb_alg_reserved`.
    #[serde(default)]
    pub reserved: u16,
}

/// `SADB_EXT_SUPPORTED_AUTH` / `_ENCRYPT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Supported<'a> {
    /// `sadb_supported_reserved`.
    #[serde(default)]
    pub reserved: u32,
    /// The algorithms.
    pub algs: List<'a, Alg>,
}

/// `SADB_EXT_SPIRANGE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpiRange {
    /// Lowest SPI.
    pub min: u32,
    /// Highest SPI.
    pub max: u32,
    /// `sadb_spirange_reserved`.
    #[serde(default)]
    pub reserved: u32,
}

/// `SADB_X_EXT_KMPRIVATE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KmPrivate<'a> {
    /// `sadb_x_kmprivate_reserved`.
    #[serde(default)]
    pub reserved: u32,
    /// Opaque data after the header.
    #[serde(with = "hex::cow")]
    pub data: Bytes<'a>,
}

/// `SADB_X_EXT_SA2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sa2 {
    /// Mode.
    pub mode: Mode,
    /// `sadb_x_sa2_reserved1`.
    #[serde(default)]
    pub reserved1: u8,
    /// `sadb_x_sa2_reserved2`.
    #[serde(default)]
    pub reserved2: u16,
    /// `sadb_x_sa2_sequence`.
    #[serde(default)]
    pub sequence: u32,
    /// Request id binding the SA to policy templates.
    pub reqid: u32,
}

/// The outer endpoints of a tunnel or BEET ipsecrequest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Endpoints {
    /// Tunnel source.
    pub src: SockAddr,
    /// Tunnel destination.
    pub dst: SockAddr,
}

/// One `sadb_x_ipsecrequest` of a policy (a template).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpsecRequest<'a> {
    /// IP protocol (`IPPROTO_ESP` 50, `IPPROTO_AH` 51, `IPPROTO_COMP` 108).
    pub proto: u16,
    /// Mode.
    pub mode: Mode,
    /// Level.
    pub level: Level,
    /// Request id (16 bits in the FreeBSD dialect).
    pub reqid: u32,
    /// Linux `sadb_x_ipsecrequest_reserved1`.
    #[serde(default)]
    pub reserved1: u16,
    /// Linux `sadb_x_ipsecrequest_reserved2`.
    #[serde(default)]
    pub reserved2: u32,
    /// Tunnel endpoints (tunnel and BEET mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Endpoints>,
    /// Bytes after the endpoints when they are not plain zero padding.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex::opt")]
    pub trailing: Option<Bytes<'a>>,
}

/// `SADB_X_EXT_POLICY`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy<'a> {
    /// Policy type.
    pub policy_type: PolicyType,
    /// Direction.
    pub dir: PolicyDir,
    /// Linux `sadb_x_policy_reserved`, FreeBSD `sadb_x_policy_scope`.
    #[serde(default)]
    pub reserved: u8,
    /// Policy id (kernel-assigned index).
    #[serde(default)]
    pub id: u32,
    /// Priority.
    #[serde(default)]
    pub priority: u32,
    /// The templates, outermost last.
    #[serde(default)]
    pub requests: List<'a, IpsecRequest<'a>>,
}

/// `SADB_X_EXT_NAT_T_TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatTTypeExt {
    /// Encapsulation type.
    pub nat_t_type: NatTType,
    /// `sadb_x_nat_t_type_reserved`.
    #[serde(default)]
    pub reserved: [u8; 3],
}

/// `SADB_X_EXT_NAT_T_SPORT` / `_DPORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatTPort {
    /// The UDP port (host order here).
    pub port: u16,
    /// `sadb_x_nat_t_port_reserved`.
    #[serde(default)]
    pub reserved: u16,
}

/// `SADB_X_EXT_SEC_CTX`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecCtx<'a> {
    /// Context algorithm (SELinux = 1).
    pub alg: u8,
    /// Context DOI.
    pub doi: u8,
    /// The context string (`sadb_x_ctx_len` bytes).
    #[serde(with = "hex::cow")]
    pub ctx: Bytes<'a>,
    /// Bytes after the context when they are not plain zero padding.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex::opt")]
    pub trailing: Option<Bytes<'a>>,
}

/// `SADB_X_EXT_KMADDRESS`: the addresses the key manager (IKE) uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KmAddress<'a> {
    /// `sadb_x_kmaddress_reserved`.
    #[serde(default)]
    pub reserved: u32,
    /// This host's IKE address.
    pub local: SockAddr,
    /// The peer's IKE address.
    pub remote: SockAddr,
    /// Bytes after the pair when they are not plain zero padding.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "hex::opt")]
    pub trailing: Option<Bytes<'a>>,
}

/// `SADB_X_EXT_FILTER` (Linux dump filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Source address bytes (`xfrm_address_t`).
    #[serde(with = "hex::array")]
    pub saddr: [u8; 16],
    /// Destination address bytes.
    #[serde(with = "hex::array")]
    pub daddr: [u8; 16],
    /// Address family.
    pub family: u16,
    /// Source prefix length.
    pub splen: u8,
    /// Destination prefix length.
    pub dplen: u8,
}

/// FreeBSD `SADB_X_EXT_NAT_T_FRAG`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatTFrag {
    /// Fragment length.
    pub fraglen: u16,
    /// Reserved.
    #[serde(default)]
    pub reserved: u16,
}

/// FreeBSD `SADB_X_EXT_SA_REPLAY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaReplay {
    /// Replay window in packets.
    pub replay: u32,
}

/// An extension of a type this crate (or this dialect) does not know, kept as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnknownExt<'a> {
    /// `sadb_ext_type`.
    pub ext_type: u16,
    /// The bytes after the 4-byte `sadb_ext` header.
    #[serde(with = "hex::cow")]
    pub data: Bytes<'a>,
}

/// One PF_KEY extension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[allow(missing_docs)]
pub enum Extension<'a> {
    #[serde(rename = "SADB_EXT_SA")]
    Sa(Sa),
    #[serde(rename = "SADB_EXT_LIFETIME_CURRENT")]
    LifetimeCurrent(Lifetime),
    #[serde(rename = "SADB_EXT_LIFETIME_HARD")]
    LifetimeHard(Lifetime),
    #[serde(rename = "SADB_EXT_LIFETIME_SOFT")]
    LifetimeSoft(Lifetime),
    #[serde(rename = "SADB_EXT_ADDRESS_SRC")]
    AddressSrc(Address<'a>),
    #[serde(rename = "SADB_EXT_ADDRESS_DST")]
    AddressDst(Address<'a>),
    #[serde(rename = "SADB_EXT_ADDRESS_PROXY")]
    AddressProxy(Address<'a>),
    #[serde(rename = "SADB_EXT_KEY_AUTH")]
    KeyAuth(Key<'a>),
    #[serde(rename = "SADB_EXT_KEY_ENCRYPT")]
    KeyEncrypt(Key<'a>),
    #[serde(rename = "SADB_EXT_IDENTITY_SRC")]
    IdentitySrc(Ident<'a>),
    #[serde(rename = "SADB_EXT_IDENTITY_DST")]
    IdentityDst(Ident<'a>),
    #[serde(rename = "SADB_EXT_SENSITIVITY")]
    Sensitivity(Sens<'a>),
    #[serde(rename = "SADB_EXT_PROPOSAL")]
    Proposal(Proposal<'a>),
    #[serde(rename = "SADB_EXT_SUPPORTED_AUTH")]
    SupportedAuth(Supported<'a>),
    #[serde(rename = "SADB_EXT_SUPPORTED_ENCRYPT")]
    SupportedEncrypt(Supported<'a>),
    #[serde(rename = "SADB_EXT_SPIRANGE")]
    SpiRange(SpiRange),
    #[serde(rename = "SADB_X_EXT_KMPRIVATE")]
    KmPrivate(KmPrivate<'a>),
    #[serde(rename = "SADB_X_EXT_POLICY")]
    Policy(Policy<'a>),
    #[serde(rename = "SADB_X_EXT_SA2")]
    Sa2(Sa2),
    #[serde(rename = "SADB_X_EXT_NAT_T_TYPE")]
    NatTType(NatTTypeExt),
    #[serde(rename = "SADB_X_EXT_NAT_T_SPORT")]
    NatTSport(NatTPort),
    #[serde(rename = "SADB_X_EXT_NAT_T_DPORT")]
    NatTDport(NatTPort),
    #[serde(rename = "SADB_X_EXT_NAT_T_OA")]
    NatTOa(Address<'a>),
    #[serde(rename = "SADB_X_EXT_SEC_CTX")]
    SecCtx(SecCtx<'a>),
    #[serde(rename = "SADB_X_EXT_KMADDRESS")]
    KmAddress(KmAddress<'a>),
    #[serde(rename = "SADB_X_EXT_FILTER")]
    Filter(Filter),
    #[serde(rename = "SADB_X_EXT_NAT_T_OAI")]
    NatTOai(Address<'a>),
    #[serde(rename = "SADB_X_EXT_NAT_T_OAR")]
    NatTOar(Address<'a>),
    #[serde(rename = "SADB_X_EXT_NAT_T_FRAG")]
    NatTFrag(NatTFrag),
    #[serde(rename = "SADB_X_EXT_SA_REPLAY")]
    SaReplay(SaReplay),
    #[serde(rename = "SADB_X_EXT_NEW_ADDRESS_SRC")]
    NewAddressSrc(Address<'a>),
    #[serde(rename = "SADB_X_EXT_NEW_ADDRESS_DST")]
    NewAddressDst(Address<'a>),
    /// The inner destination of a BEET SA (Linux 32).
    #[serde(rename = "SADB_X_EXT_INNER_ADDRESS_DST")]
    InnerAddressDst(Address<'a>),
    /// An extension type without a name here.
    #[serde(rename = "UNKNOWN")]
    Unknown(UnknownExt<'a>),
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the parsers and emitters.

/// Splits `ext[content_end..]` into "canonical" (`None`: the zero padding an emitter would write)
/// or verbatim bytes; `None` outside if `content_end` is past the end.
fn tail_of(ext: &[u8], content_end: usize) -> Option<Option<Bytes<'_>>> {
    let t = ext.get(content_end..)?;
    Some(if align8(content_end) == ext.len() && t.iter().all(|&b| b == 0) { None } else { Some(Cow::Borrowed(t)) })
}

/// Writes `tail` (or the canonical zero padding when `None`) and pads to 8 bytes from `start`.
fn put_tail(out: &mut Vec<u8>, start: usize, tail: &Option<Bytes<'_>>) {
    if let Some(t) = tail {
        out.extend_from_slice(t);
    }
    pad8(out, start);
}

/// Pads `out` with zeros so that `out.len() - start` is a multiple of 8.
pub(crate) fn pad8(out: &mut Vec<u8>, start: usize) {
    let len = out.len() - start;
    out.resize(start + align8(len), 0);
}

// The decoders below trust their input: [`Extension::parse`] runs them only on bytes that
// [`validate::extension`] accepted, and list items only ever hold such bytes. They check no rule;
// where a structure cannot be read (which validation rules out) they return `None`.

/// The fixed header `T` at the start of `b`.
fn read<T: FromBytes>(b: &[u8]) -> Option<T> {
    T::read_from_prefix(b).ok().map(|(t, _)| t)
}

/// The sockaddr pair at `at`; returns both and where they end.
fn decode_pair(b: &[u8], at: usize, dialect: Dialect) -> Option<(SockAddr, SockAddr, usize)> {
    let (a, la) = SockAddr::decode(b.get(at..)?, dialect)?;
    let (z, lz) = SockAddr::decode(b.get(at + la..)?, dialect)?;
    Some((a, z, at + la + lz))
}

impl<'a> Address<'a> {
    fn decode(ext: &'a [u8], dialect: Dialect) -> Option<Self> {
        let h: SadbAddress = read(ext)?;
        let (addr, used) = SockAddr::decode(ext.get(8..)?, dialect)?;
        Some(Address {
            proto: h.proto,
            prefixlen: h.prefixlen,
            reserved: h.reserved.get(),
            addr,
            trailing: tail_of(ext, 8 + used)?,
        })
    }

    fn emit(&self, out: &mut Vec<u8>, start: usize, ty: u16, dialect: Dialect) {
        let h = SadbAddress {
            len: 0.into(),
            exttype: ty.into(),
            proto: self.proto,
            prefixlen: self.prefixlen,
            reserved: self.reserved.into(),
        };
        out.extend_from_slice(h.as_bytes());
        self.addr.emit(out, dialect);
        put_tail(out, start, &self.trailing);
    }
}

impl<'a> Key<'a> {
    fn decode(ext: &'a [u8]) -> Option<Self> {
        let h: SadbKey = read(ext)?;
        let bits = h.bits.get();
        let end = 8 + (bits as usize).div_ceil(8);
        Some(Key {
            bits,
            reserved: h.reserved.get(),
            key: Cow::Borrowed(ext.get(8..end)?),
            trailing: tail_of(ext, end)?,
        })
    }
}

impl<'a> Ident<'a> {
    fn decode(ext: &'a [u8]) -> Option<Self> {
        let h: SadbIdent = read(ext)?;
        let body = ext.get(16..)?;
        let (string, trailing) = match body.iter().position(|&c| c == 0) {
            Some(nul) => {
                let end = 16 + nul + 1;
                let canonical = align8(end) == ext.len() && ext[end..].iter().all(|&b| b == 0);
                (&body[..nul], if canonical { None } else { Some(Cow::Borrowed(&ext[16 + nul..])) })
            }
            // No terminator at all (or no string): an empty tail says "write none".
            None => (body, Some(Cow::Borrowed(&body[body.len()..]))),
        };
        Some(Ident {
            ident_type: h.ident_type.get().into(),
            reserved: h.reserved.get(),
            id: h.id.get(),
            string: Cow::Borrowed(string),
            trailing,
        })
    }

    fn emit(&self, out: &mut Vec<u8>, start: usize, ty: u16) {
        let h = SadbIdent {
            len: 0.into(),
            exttype: ty.into(),
            ident_type: u16::from(self.ident_type).into(),
            reserved: self.reserved.into(),
            id: self.id.into(),
        };
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(&self.string);
        match &self.trailing {
            Some(t) => out.extend_from_slice(t),
            None => out.push(0),
        }
        pad8(out, start);
    }
}

impl<'a> Sens<'a> {
    fn decode(ext: &'a [u8]) -> Option<Self> {
        let h: SadbSens = read(ext)?;
        let s = 16 + h.sens_len as usize * 8;
        let i = s + h.integ_len as usize * 8;
        Some(Sens {
            dpd: h.dpd.get(),
            sens_level: h.sens_level,
            integ_level: h.integ_level,
            reserved: h.reserved.get(),
            sens_bitmap: Cow::Borrowed(ext.get(16..s)?),
            integ_bitmap: Cow::Borrowed(ext.get(s..i)?),
            trailing: tail_of(ext, i)?,
        })
    }
}

impl<'a> IpsecRequest<'a> {
    /// Decodes the request at the start of `b` (validated policy bytes); returns it and its
    /// length.
    fn decode(b: &'a [u8], dialect: Dialect) -> Option<(Self, usize)> {
        let hdr = dialect.ipsecrequest_len();
        let (len, proto, mode, level, reqid, r1, r2) = match dialect {
            Dialect::Linux => {
                let r: SadbXIpsecrequest = read(b)?;
                (r.len.get(), r.proto.get(), r.mode, r.level, r.reqid.get(), r.reserved1.get(), r.reserved2.get())
            }
            Dialect::FreeBsd => {
                let r: SadbXIpsecrequestFreeBsd = read(b)?;
                (r.len.get(), r.proto.get(), r.mode, r.level, r.reqid.get() as u32, 0, 0)
            }
        };
        let rq = b.get(..len as usize)?;
        let (endpoints, trailing) = if rq.len() == hdr {
            (None, None)
        } else {
            let (src, dst, end) = decode_pair(rq, hdr, dialect)?;
            (Some(Endpoints { src, dst }), tail_of(rq, end)?)
        };
        let req = IpsecRequest {
            proto,
            mode: mode.into(),
            level: level.into(),
            reqid,
            reserved1: r1,
            reserved2: r2,
            endpoints,
            trailing,
        };
        Some((req, len as usize))
    }
}

impl<'a> Item<'a> for IpsecRequest<'a> {
    fn read(b: &'a [u8], dialect: Dialect) -> Option<(Self, usize)> {
        Self::decode(b, dialect)
    }

    fn write(&self, out: &mut Vec<u8>, dialect: Dialect) -> Result<(), EmitError> {
        let start = out.len();
        match dialect {
            Dialect::Linux => {
                let r = SadbXIpsecrequest {
                    len: 0.into(),
                    proto: self.proto.into(),
                    mode: self.mode.into(),
                    level: self.level.into(),
                    reserved1: self.reserved1.into(),
                    reqid: self.reqid.into(),
                    reserved2: self.reserved2.into(),
                };
                out.extend_from_slice(r.as_bytes());
            }
            Dialect::FreeBsd => {
                let reqid = u16::try_from(self.reqid)
                    .map_err(|_| EmitError::NotRepresentable { what: "a reqid above 65535", dialect })?;
                if self.reserved1 != 0 || self.reserved2 != 0 {
                    return Err(EmitError::NotRepresentable { what: "ipsecrequest reserved fields", dialect });
                }
                let r = SadbXIpsecrequestFreeBsd {
                    len: 0.into(),
                    proto: self.proto.into(),
                    mode: self.mode.into(),
                    level: self.level.into(),
                    reqid: reqid.into(),
                };
                out.extend_from_slice(r.as_bytes());
            }
        }
        if let Some(ep) = &self.endpoints {
            ep.src.emit(out, dialect);
            ep.dst.emit(out, dialect);
        }
        match &self.trailing {
            // Verbatim, not padded: `sadb_x_ipsecrequest_len` counts bytes and a received
            // request need not end on an 8-byte boundary (only the policy extension does).
            Some(t) => out.extend_from_slice(t),
            None => pad8(out, start),
        }
        let len = u16::try_from(out.len() - start)
            .map_err(|_| EmitError::TooLong { what: "ipsecrequest", len: out.len() - start })?;
        out[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        Ok(())
    }
}

impl<'a> Item<'a> for Comb {
    fn read(b: &'a [u8], _: Dialect) -> Option<(Self, usize)> {
        let (c, _) = SadbComb::read_from_prefix(b).ok()?;
        Some((
            Comb {
                auth: DefaultNone(c.auth.into()),
                encrypt: DefaultNone(c.encrypt.into()),
                flags: c.flags.get(),
                auth_minbits: c.auth_minbits.get(),
                auth_maxbits: c.auth_maxbits.get(),
                encrypt_minbits: c.encrypt_minbits.get(),
                encrypt_maxbits: c.encrypt_maxbits.get(),
                reserved: c.reserved.get(),
                soft_allocations: c.soft_allocations.get(),
                hard_allocations: c.hard_allocations.get(),
                soft_bytes: c.soft_bytes.get(),
                hard_bytes: c.hard_bytes.get(),
                soft_addtime: c.soft_addtime.get(),
                hard_addtime: c.hard_addtime.get(),
                soft_usetime: c.soft_usetime.get(),
                hard_usetime: c.hard_usetime.get(),
            },
            72,
        ))
    }

    fn write(&self, out: &mut Vec<u8>, _: Dialect) -> Result<(), EmitError> {
        let c = SadbComb {
            auth: self.auth.0.into(),
            encrypt: self.encrypt.0.into(),
            flags: self.flags.into(),
            auth_minbits: self.auth_minbits.into(),
            auth_maxbits: self.auth_maxbits.into(),
            encrypt_minbits: self.encrypt_minbits.into(),
            encrypt_maxbits: self.encrypt_maxbits.into(),
            reserved: self.reserved.into(),
            soft_allocations: self.soft_allocations.into(),
            hard_allocations: self.hard_allocations.into(),
            soft_bytes: self.soft_bytes.into(),
            hard_bytes: self.hard_bytes.into(),
            soft_addtime: self.soft_addtime.into(),
            hard_addtime: self.hard_addtime.into(),
            soft_usetime: self.soft_usetime.into(),
            hard_usetime: self.hard_usetime.into(),
        };
        out.extend_from_slice(c.as_bytes());
        Ok(())
    }
}

impl<'a> Item<'a> for Alg {
    fn read(b: &'a [u8], _: Dialect) -> Option<(Self, usize)> {
        let (a, _) = SadbAlg::read_from_prefix(b).ok()?;
        Some((
            Alg {
                id: a.id,
                ivlen: a.ivlen,
                minbits: a.minbits.get(),
                maxbits: a.maxbits.get(),
                reserved: a.reserved.get(),
            },
            8,
        ))
    }

    fn write(&self, out: &mut Vec<u8>, _: Dialect) -> Result<(), EmitError> {
        let a = SadbAlg {
            id: self.id,
            ivlen: self.ivlen,
            minbits: self.minbits.into(),
            maxbits: self.maxbits.into(),
            reserved: self.reserved.into(),
        };
        out.extend_from_slice(a.as_bytes());
        Ok(())
    }
}

impl<'a> Policy<'a> {
    fn decode(ext: &'a [u8], dialect: Dialect) -> Option<Self> {
        let h: SadbXPolicy = read(ext)?;
        Some(Policy {
            policy_type: h.policy_type.get().into(),
            dir: h.dir.into(),
            reserved: h.reserved,
            id: h.id.get(),
            priority: h.priority.get(),
            requests: List::wire(ext.get(16..)?, dialect),
        })
    }
}

impl<'a> KmAddress<'a> {
    fn decode(ext: &'a [u8], dialect: Dialect) -> Option<Self> {
        let h: SadbXKmaddress = read(ext)?;
        let (local, remote, end) = decode_pair(ext, 8, dialect)?;
        Some(KmAddress { reserved: h.reserved.get(), local, remote, trailing: tail_of(ext, end)? })
    }
}

impl<'a> SecCtx<'a> {
    fn decode(ext: &'a [u8]) -> Option<Self> {
        let h: SadbXSecCtx = read(ext)?;
        let end = 8 + h.ctx_len.get() as usize;
        Some(SecCtx { alg: h.alg, doi: h.doi, ctx: Cow::Borrowed(ext.get(8..end)?), trailing: tail_of(ext, end)? })
    }
}

impl<'a> Extension<'a> {
    /// Which extension this is (`None` for [`Extension::Unknown`]).
    pub fn kind(&self) -> Option<ExtKind> {
        use Extension as E;
        Some(match self {
            E::Sa(_) => ExtKind::Sa,
            E::LifetimeCurrent(_) => ExtKind::LifetimeCurrent,
            E::LifetimeHard(_) => ExtKind::LifetimeHard,
            E::LifetimeSoft(_) => ExtKind::LifetimeSoft,
            E::AddressSrc(_) => ExtKind::AddressSrc,
            E::AddressDst(_) => ExtKind::AddressDst,
            E::AddressProxy(_) => ExtKind::AddressProxy,
            E::KeyAuth(_) => ExtKind::KeyAuth,
            E::KeyEncrypt(_) => ExtKind::KeyEncrypt,
            E::IdentitySrc(_) => ExtKind::IdentitySrc,
            E::IdentityDst(_) => ExtKind::IdentityDst,
            E::Sensitivity(_) => ExtKind::Sensitivity,
            E::Proposal(_) => ExtKind::Proposal,
            E::SupportedAuth(_) => ExtKind::SupportedAuth,
            E::SupportedEncrypt(_) => ExtKind::SupportedEncrypt,
            E::SpiRange(_) => ExtKind::SpiRange,
            E::KmPrivate(_) => ExtKind::KmPrivate,
            E::Policy(_) => ExtKind::Policy,
            E::Sa2(_) => ExtKind::Sa2,
            E::NatTType(_) => ExtKind::NatTType,
            E::NatTSport(_) => ExtKind::NatTSport,
            E::NatTDport(_) => ExtKind::NatTDport,
            E::NatTOa(_) => ExtKind::NatTOa,
            E::SecCtx(_) => ExtKind::SecCtx,
            E::KmAddress(_) => ExtKind::KmAddress,
            E::Filter(_) => ExtKind::Filter,
            E::NatTOai(_) => ExtKind::NatTOai,
            E::NatTOar(_) => ExtKind::NatTOar,
            E::NatTFrag(_) => ExtKind::NatTFrag,
            E::SaReplay(_) => ExtKind::SaReplay,
            E::NewAddressSrc(_) => ExtKind::NewAddressSrc,
            E::NewAddressDst(_) => ExtKind::NewAddressDst,
            E::InnerAddressDst(_) => ExtKind::InnerAddressDst,
            E::Unknown(_) => return None,
        })
    }

    /// The extension type number in `dialect`.
    pub fn ext_type(&self, dialect: Dialect) -> Result<u16, EmitError> {
        match self {
            Extension::Unknown(u) => Ok(u.ext_type),
            other => {
                let kind = other.kind().expect("known extensions have a kind");
                kind.number(dialect).ok_or(EmitError::NotInDialect { kind, dialect })
            }
        }
    }

    /// The C name of this extension's type (`UNKNOWN` for unknown types).
    pub fn name(&self) -> &'static str {
        self.kind().map_or("UNKNOWN", ExtKind::name)
    }

    /// The address carried, if this is a `sadb_address` extension.
    pub fn as_address(&self) -> Option<&Address<'a>> {
        use Extension as E;
        match self {
            E::AddressSrc(a)
            | E::AddressDst(a)
            | E::AddressProxy(a)
            | E::NatTOa(a)
            | E::NatTOai(a)
            | E::NatTOar(a)
            | E::NewAddressSrc(a)
            | E::NewAddressDst(a)
            | E::InnerAddressDst(a) => Some(a),
            _ => None,
        }
    }

    /// Parses one whole extension (`ext` is exactly `sadb_ext_len * 8` bytes, at least 8).
    ///
    /// Returns a rule broken with its offset relative to the start of the extension. The rules
    /// are those of [`validate::extension`]; this then decodes the validated bytes.
    pub(crate) fn parse(ext: &'a [u8], dialect: Dialect) -> ExtResult<Self> {
        let ty = validate::ext_type(ext)?;
        let unknown = || Extension::Unknown(UnknownExt { ext_type: ty, data: Cow::Borrowed(&ext[4..]) });
        let Some(kind) = ExtKind::from_number(ty, dialect) else {
            return Ok(unknown());
        };
        validate::extension(ext, kind, dialect)?;
        // Decoding validated bytes cannot fail; if it did, the bytes are kept as they are (and
        // re-emit unchanged) rather than dropped.
        Ok(Self::decode(ext, kind, dialect).unwrap_or_else(unknown))
    }

    /// Decodes the validated bytes of one extension of `kind` (see [`Extension::parse`]).
    fn decode(ext: &'a [u8], kind: ExtKind, dialect: Dialect) -> Option<Self> {
        use Extension as E;
        let lifetime = |ext: &[u8]| -> Option<Lifetime> {
            let l: SadbLifetime = read(ext)?;
            Some(Lifetime {
                allocations: l.allocations.get(),
                bytes: l.bytes.get(),
                addtime: l.addtime.get(),
                usetime: l.usetime.get(),
            })
        };
        let port = |ext: &[u8]| -> Option<NatTPort> {
            let p: SadbXNatTPort = read(ext)?;
            Some(NatTPort { port: p.port.get(), reserved: p.reserved.get() })
        };
        let supported = |ext: &'a [u8]| -> Option<Supported<'a>> {
            let s: SadbSupported = read(ext)?;
            Some(Supported { reserved: s.reserved.get(), algs: List::wire(ext.get(8..)?, dialect) })
        };
        Some(match kind {
            ExtKind::Sa => {
                let s: SadbSa = read(ext)?;
                E::Sa(Sa {
                    spi: s.spi.get(),
                    replay: s.replay,
                    state: s.state.into(),
                    auth: s.auth.into(),
                    encrypt: s.encrypt.into(),
                    flags: s.flags.get(),
                })
            }
            ExtKind::LifetimeCurrent => E::LifetimeCurrent(lifetime(ext)?),
            ExtKind::LifetimeHard => E::LifetimeHard(lifetime(ext)?),
            ExtKind::LifetimeSoft => E::LifetimeSoft(lifetime(ext)?),
            ExtKind::AddressSrc => E::AddressSrc(Address::decode(ext, dialect)?),
            ExtKind::AddressDst => E::AddressDst(Address::decode(ext, dialect)?),
            ExtKind::AddressProxy => E::AddressProxy(Address::decode(ext, dialect)?),
            ExtKind::NatTOa => E::NatTOa(Address::decode(ext, dialect)?),
            ExtKind::NatTOai => E::NatTOai(Address::decode(ext, dialect)?),
            ExtKind::NatTOar => E::NatTOar(Address::decode(ext, dialect)?),
            ExtKind::NewAddressSrc => E::NewAddressSrc(Address::decode(ext, dialect)?),
            ExtKind::NewAddressDst => E::NewAddressDst(Address::decode(ext, dialect)?),
            ExtKind::InnerAddressDst => E::InnerAddressDst(Address::decode(ext, dialect)?),
            ExtKind::KeyAuth => E::KeyAuth(Key::decode(ext)?),
            ExtKind::KeyEncrypt => E::KeyEncrypt(Key::decode(ext)?),
            ExtKind::IdentitySrc => E::IdentitySrc(Ident::decode(ext)?),
            ExtKind::IdentityDst => E::IdentityDst(Ident::decode(ext)?),
            ExtKind::Sensitivity => E::Sensitivity(Sens::decode(ext)?),
            ExtKind::Proposal => {
                let p: SadbProp = read(ext)?;
                let end = 8 + ext.len().saturating_sub(8) / 72 * 72;
                E::Proposal(Proposal {
                    replay: p.replay,
                    reserved: p.reserved,
                    combs: List::wire(ext.get(8..end)?, dialect),
                    trailing: tail_of(ext, end)?,
                })
            }
            ExtKind::SupportedAuth => E::SupportedAuth(supported(ext)?),
            ExtKind::SupportedEncrypt => E::SupportedEncrypt(supported(ext)?),
            ExtKind::SpiRange => {
                let s: SadbSpirange = read(ext)?;
                E::SpiRange(SpiRange { min: s.min.get(), max: s.max.get(), reserved: s.reserved.get() })
            }
            ExtKind::KmPrivate => {
                let k: SadbXKmprivate = read(ext)?;
                E::KmPrivate(KmPrivate { reserved: k.reserved.get(), data: Cow::Borrowed(ext.get(8..)?) })
            }
            ExtKind::Policy => E::Policy(Policy::decode(ext, dialect)?),
            ExtKind::Sa2 => {
                let s: SadbXSa2 = read(ext)?;
                E::Sa2(Sa2 {
                    mode: s.mode.into(),
                    reserved1: s.reserved1,
                    reserved2: s.reserved2.get(),
                    sequence: s.sequence.get(),
                    reqid: s.reqid.get(),
                })
            }
            ExtKind::NatTType => {
                let t: SadbXNatTType = read(ext)?;
                E::NatTType(NatTTypeExt { nat_t_type: t.nat_t_type.into(), reserved: t.reserved })
            }
            ExtKind::NatTSport => E::NatTSport(port(ext)?),
            ExtKind::NatTDport => E::NatTDport(port(ext)?),
            ExtKind::SecCtx => E::SecCtx(SecCtx::decode(ext)?),
            ExtKind::KmAddress => E::KmAddress(KmAddress::decode(ext, dialect)?),
            ExtKind::Filter => {
                let f: SadbXFilter = read(ext)?;
                E::Filter(Filter {
                    saddr: f.saddr,
                    daddr: f.daddr,
                    family: f.family.get(),
                    splen: f.splen,
                    dplen: f.dplen,
                })
            }
            ExtKind::NatTFrag => {
                let f: SadbXNatTFrag = read(ext)?;
                E::NatTFrag(NatTFrag { fraglen: f.fraglen.get(), reserved: f.reserved.get() })
            }
            ExtKind::SaReplay => {
                let r: SadbXSaReplay = read(ext)?;
                E::SaReplay(SaReplay { replay: r.replay.get() })
            }
        })
    }

    /// Appends this extension to `out` in `dialect`, padded to 8 bytes, with its length set.
    pub fn emit(&self, out: &mut Vec<u8>, dialect: Dialect) -> Result<(), EmitError> {
        use Extension as E;
        let start = out.len();
        let ty = self.ext_type(dialect)?;
        let hdr = |out: &mut Vec<u8>| out.extend_from_slice(SadbExt { len: 0.into(), ext_type: ty.into() }.as_bytes());
        let lifetime = |out: &mut Vec<u8>, l: &Lifetime| {
            let s = SadbLifetime {
                len: 0.into(),
                exttype: ty.into(),
                allocations: l.allocations.into(),
                bytes: l.bytes.into(),
                addtime: l.addtime.into(),
                usetime: l.usetime.into(),
            };
            out.extend_from_slice(s.as_bytes());
        };
        let port = |out: &mut Vec<u8>, p: &NatTPort| {
            let s =
                SadbXNatTPort { len: 0.into(), exttype: ty.into(), port: p.port.into(), reserved: p.reserved.into() };
            out.extend_from_slice(s.as_bytes());
        };
        match self {
            E::Sa(s) => {
                let w = SadbSa {
                    len: 0.into(),
                    exttype: ty.into(),
                    spi: s.spi.into(),
                    replay: s.replay,
                    state: s.state.into(),
                    auth: s.auth.into(),
                    encrypt: s.encrypt.into(),
                    flags: s.flags.into(),
                };
                out.extend_from_slice(w.as_bytes());
            }
            E::LifetimeCurrent(l) | E::LifetimeHard(l) | E::LifetimeSoft(l) => lifetime(out, l),
            E::AddressSrc(a)
            | E::AddressDst(a)
            | E::AddressProxy(a)
            | E::NatTOa(a)
            | E::NatTOai(a)
            | E::NatTOar(a)
            | E::NewAddressSrc(a)
            | E::NewAddressDst(a)
            | E::InnerAddressDst(a) => a.emit(out, start, ty, dialect),
            E::KeyAuth(k) | E::KeyEncrypt(k) => {
                let w = SadbKey { len: 0.into(), exttype: ty.into(), bits: k.bits.into(), reserved: k.reserved.into() };
                out.extend_from_slice(w.as_bytes());
                out.extend_from_slice(&k.key);
                put_tail(out, start, &k.trailing);
            }
            E::IdentitySrc(i) | E::IdentityDst(i) => i.emit(out, start, ty),
            E::Sensitivity(s) => {
                if s.sens_bitmap.len() % 8 != 0
                    || s.integ_bitmap.len() % 8 != 0
                    || s.sens_bitmap.len() / 8 > 255
                    || s.integ_bitmap.len() / 8 > 255
                {
                    return Err(EmitError::Inconsistent {
                        what: "sensitivity bitmap",
                        detail: "bitmaps must be whole 64-bit words, at most 255 each".into(),
                    });
                }
                let w = SadbSens {
                    len: 0.into(),
                    exttype: ty.into(),
                    dpd: s.dpd.into(),
                    sens_level: s.sens_level,
                    sens_len: (s.sens_bitmap.len() / 8) as u8,
                    integ_level: s.integ_level,
                    integ_len: (s.integ_bitmap.len() / 8) as u8,
                    reserved: s.reserved.into(),
                };
                out.extend_from_slice(w.as_bytes());
                out.extend_from_slice(&s.sens_bitmap);
                out.extend_from_slice(&s.integ_bitmap);
                put_tail(out, start, &s.trailing);
            }
            E::Proposal(p) => {
                out.extend_from_slice(
                    SadbProp { len: 0.into(), exttype: ty.into(), replay: p.replay, reserved: p.reserved }.as_bytes(),
                );
                p.combs.write_all(out, dialect)?;
                put_tail(out, start, &p.trailing);
            }
            E::SupportedAuth(s) | E::SupportedEncrypt(s) => {
                out.extend_from_slice(
                    SadbSupported { len: 0.into(), exttype: ty.into(), reserved: s.reserved.into() }.as_bytes(),
                );
                s.algs.write_all(out, dialect)?;
            }
            E::SpiRange(r) => {
                out.extend_from_slice(
                    SadbSpirange {
                        len: 0.into(),
                        exttype: ty.into(),
                        min: r.min.into(),
                        max: r.max.into(),
                        reserved: r.reserved.into(),
                    }
                    .as_bytes(),
                );
            }
            E::KmPrivate(k) => {
                out.extend_from_slice(
                    SadbXKmprivate { len: 0.into(), exttype: ty.into(), reserved: k.reserved.into() }.as_bytes(),
                );
                out.extend_from_slice(&k.data);
            }
            E::Policy(p) => {
                let w = SadbXPolicy {
                    len: 0.into(),
                    exttype: ty.into(),
                    policy_type: u16::from(p.policy_type).into(),
                    dir: p.dir.into(),
                    reserved: p.reserved,
                    id: p.id.into(),
                    priority: p.priority.into(),
                };
                out.extend_from_slice(w.as_bytes());
                p.requests.write_all(out, dialect)?;
            }
            E::Sa2(s) => {
                let w = SadbXSa2 {
                    len: 0.into(),
                    exttype: ty.into(),
                    mode: s.mode.into(),
                    reserved1: s.reserved1,
                    reserved2: s.reserved2.into(),
                    sequence: s.sequence.into(),
                    reqid: s.reqid.into(),
                };
                out.extend_from_slice(w.as_bytes());
            }
            E::NatTType(t) => {
                out.extend_from_slice(
                    SadbXNatTType {
                        len: 0.into(),
                        exttype: ty.into(),
                        nat_t_type: t.nat_t_type.into(),
                        reserved: t.reserved,
                    }
                    .as_bytes(),
                );
            }
            E::NatTSport(p) | E::NatTDport(p) => port(out, p),
            E::SecCtx(c) => {
                let ctx_len = u16::try_from(c.ctx.len())
                    .map_err(|_| EmitError::TooLong { what: "security context", len: c.ctx.len() })?;
                out.extend_from_slice(
                    SadbXSecCtx { len: 0.into(), exttype: ty.into(), alg: c.alg, doi: c.doi, ctx_len: ctx_len.into() }
                        .as_bytes(),
                );
                out.extend_from_slice(&c.ctx);
                put_tail(out, start, &c.trailing);
            }
            E::KmAddress(k) => {
                out.extend_from_slice(
                    SadbXKmaddress { len: 0.into(), exttype: ty.into(), reserved: k.reserved.into() }.as_bytes(),
                );
                k.local.emit(out, dialect);
                k.remote.emit(out, dialect);
                put_tail(out, start, &k.trailing);
            }
            E::Filter(f) => {
                out.extend_from_slice(
                    SadbXFilter {
                        len: 0.into(),
                        exttype: ty.into(),
                        saddr: f.saddr,
                        daddr: f.daddr,
                        family: f.family.into(),
                        splen: f.splen,
                        dplen: f.dplen,
                    }
                    .as_bytes(),
                );
            }
            E::NatTFrag(f) => {
                out.extend_from_slice(
                    SadbXNatTFrag {
                        len: 0.into(),
                        exttype: ty.into(),
                        fraglen: f.fraglen.into(),
                        reserved: f.reserved.into(),
                    }
                    .as_bytes(),
                );
            }
            E::SaReplay(r) => {
                out.extend_from_slice(
                    SadbXSaReplay { len: 0.into(), exttype: ty.into(), replay: r.replay.into() }.as_bytes(),
                );
            }
            E::Unknown(u) => {
                hdr(out);
                out.extend_from_slice(&u.data);
            }
        }
        pad8(out, start);
        let words = (out.len() - start) / 8;
        let words =
            u16::try_from(words).map_err(|_| EmitError::TooLong { what: self.name(), len: out.len() - start })?;
        out[start..start + 2].copy_from_slice(&words.to_ne_bytes());
        Ok(())
    }

    /// This extension with every borrowed byte copied, so it outlives the input buffer.
    pub fn into_owned(self) -> Extension<'static> {
        use Extension as E;
        fn b(c: Bytes<'_>) -> Bytes<'static> {
            Cow::Owned(c.into_owned())
        }
        fn o(c: Option<Bytes<'_>>) -> Option<Bytes<'static>> {
            c.map(b)
        }
        fn a(x: Address<'_>) -> Address<'static> {
            Address {
                proto: x.proto,
                prefixlen: x.prefixlen,
                reserved: x.reserved,
                addr: x.addr,
                trailing: o(x.trailing),
            }
        }
        fn k(x: Key<'_>) -> Key<'static> {
            Key { bits: x.bits, reserved: x.reserved, key: b(x.key), trailing: o(x.trailing) }
        }
        fn i(x: Ident<'_>) -> Ident<'static> {
            Ident {
                ident_type: x.ident_type,
                reserved: x.reserved,
                id: x.id,
                string: b(x.string),
                trailing: o(x.trailing),
            }
        }
        fn s(x: Supported<'_>) -> Supported<'static> {
            Supported { reserved: x.reserved, algs: x.algs.into_owned_with(|a| a) }
        }
        match self {
            E::Sa(x) => E::Sa(x),
            E::LifetimeCurrent(x) => E::LifetimeCurrent(x),
            E::LifetimeHard(x) => E::LifetimeHard(x),
            E::LifetimeSoft(x) => E::LifetimeSoft(x),
            E::AddressSrc(x) => E::AddressSrc(a(x)),
            E::AddressDst(x) => E::AddressDst(a(x)),
            E::AddressProxy(x) => E::AddressProxy(a(x)),
            E::KeyAuth(x) => E::KeyAuth(k(x)),
            E::KeyEncrypt(x) => E::KeyEncrypt(k(x)),
            E::IdentitySrc(x) => E::IdentitySrc(i(x)),
            E::IdentityDst(x) => E::IdentityDst(i(x)),
            E::Sensitivity(x) => E::Sensitivity(Sens {
                dpd: x.dpd,
                sens_level: x.sens_level,
                integ_level: x.integ_level,
                reserved: x.reserved,
                sens_bitmap: b(x.sens_bitmap),
                integ_bitmap: b(x.integ_bitmap),
                trailing: o(x.trailing),
            }),
            E::Proposal(x) => E::Proposal(Proposal {
                replay: x.replay,
                reserved: x.reserved,
                combs: x.combs.into_owned_with(|c| c),
                trailing: o(x.trailing),
            }),
            E::SupportedAuth(x) => E::SupportedAuth(s(x)),
            E::SupportedEncrypt(x) => E::SupportedEncrypt(s(x)),
            E::SpiRange(x) => E::SpiRange(x),
            E::KmPrivate(x) => E::KmPrivate(KmPrivate { reserved: x.reserved, data: b(x.data) }),
            E::Policy(x) => E::Policy(Policy {
                policy_type: x.policy_type,
                dir: x.dir,
                reserved: x.reserved,
                id: x.id,
                priority: x.priority,
                requests: x.requests.into_owned_with(|r| IpsecRequest {
                    proto: r.proto,
                    mode: r.mode,
                    level: r.level,
                    reqid: r.reqid,
                    reserved1: r.reserved1,
                    reserved2: r.reserved2,
                    endpoints: r.endpoints,
                    trailing: o(r.trailing),
                }),
            }),
            E::Sa2(x) => E::Sa2(x),
            E::NatTType(x) => E::NatTType(x),
            E::NatTSport(x) => E::NatTSport(x),
            E::NatTDport(x) => E::NatTDport(x),
            E::NatTOa(x) => E::NatTOa(a(x)),
            E::SecCtx(x) => E::SecCtx(SecCtx { alg: x.alg, doi: x.doi, ctx: b(x.ctx), trailing: o(x.trailing) }),
            E::KmAddress(x) => E::KmAddress(KmAddress {
                reserved: x.reserved,
                local: x.local,
                remote: x.remote,
                trailing: o(x.trailing),
            }),
            E::Filter(x) => E::Filter(x),
            E::NatTOai(x) => E::NatTOai(a(x)),
            E::NatTOar(x) => E::NatTOar(a(x)),
            E::NatTFrag(x) => E::NatTFrag(x),
            E::SaReplay(x) => E::SaReplay(x),
            E::NewAddressSrc(x) => E::NewAddressSrc(a(x)),
            E::NewAddressDst(x) => E::NewAddressDst(a(x)),
            E::InnerAddressDst(x) => E::InnerAddressDst(a(x)),
            E::Unknown(x) => E::Unknown(UnknownExt { ext_type: x.ext_type, data: b(x.data) }),
        }
    }
}

//! SADB <-> XFRM: the crate's PF_KEY-shaped values ([`SaSpec`], [`PolicySpec`], [`Migrate`]) as
//! XFRM structures and attributes, and back, with the conversions `net/key/af_key.c` applies
//! (so both backends store and report the same thing):
//!
//! - SA type <-> IPsec protocol; `IPSEC_MODE_*` <-> `XFRM_MODE_*`; `IPSEC_DIR_*` - 1 =
//!   `XFRM_POLICY_*`; `IPSEC_ULPROTO_ANY` (255) is stored as protocol 0 and reported back as 255;
//! - lifetimes: a PF_KEY limit of 0 is "none", which XFRM spells `XFRM_INF` (`_KEY2X`/`_X2KEY`);
//! - templates keep their reqid only at level `unique` and are `optional` at level `use`, and
//!   read back as `use`/`unique`/`require` from those two facts;
//! - SADB algorithm numbers <-> Crypto API names ([`AUTH_ALGS`], [`ENCRYPT_ALGS`],
//!   [`AEAD_ALGS`], [`COMP_ALGS`]), authentication with the RFC truncation (`hmac(sha256)`: 128
//!   bits), GCM/CCM/GMAC as `XFRMA_ALG_AEAD` with their ICV length.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use zerocopy::IntoBytes;

use super::wire::*;
use crate::kernel::{KernelError, SaEntry};
use crate::message::{
    AlgKey, BeetInner, Endpoints, Lifetime, Migrate, MigrateBundle, NatT, PolicySpec, SaSpec, Selector, SockAddr,
    Template,
};
use crate::wire::numbers::*;

/// `IPSEC_PROTO_ANY`: every IPsec protocol (SA dumps and flushes).
pub const IPSEC_PROTO_ANY_U8: u8 = 255;
/// `AF_INET6` on Linux.
const AF_INET6: u16 = AF_INET6_LINUX;

/// One algorithm: its SADB number, Crypto API name and truncation/ICV length in bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlgName {
    /// `SADB_*ALG_*` number.
    pub id: u8,
    /// Crypto API name (`net/xfrm/xfrm_algo.c`).
    pub name: &'static str,
    /// Truncation (authentication) or ICV (AEAD) length in bits; 0 otherwise.
    pub bits: u32,
}

const fn a(id: u8, name: &'static str, bits: u32) -> AlgName {
    AlgName { id, name, bits }
}

/// Authentication algorithms (`XFRMA_ALG_AUTH_TRUNC`), with RFC 4868's truncation. `af_key`
/// truncates `hmac(sha256)` to 96 bits instead (its `xfrm_algo.c` table), which RFC 4868 peers
/// reject; see `spec/xfrm-vs-pfkey.md`.
pub const AUTH_ALGS: &[AlgName] = &[
    a(251, "digest_null", 0),
    a(2, "hmac(md5)", 96),
    a(3, "hmac(sha1)", 96),
    a(5, "hmac(sha256)", 128),
    a(6, "hmac(sha384)", 192),
    a(7, "hmac(sha512)", 256),
    a(8, "hmac(rmd160)", 96),
    a(9, "xcbc(aes)", 96),
    a(10, "hmac(sm3)", 256),
];

/// Encryption algorithms (`XFRMA_ALG_CRYPT`).
pub const ENCRYPT_ALGS: &[AlgName] = &[
    a(11, "ecb(cipher_null)", 0),
    a(2, "cbc(des)", 0),
    a(3, "cbc(des3_ede)", 0),
    a(6, "cbc(cast5)", 0),
    a(7, "cbc(blowfish)", 0),
    a(12, "cbc(aes)", 0),
    a(252, "cbc(serpent)", 0),
    a(22, "cbc(camellia)", 0),
    a(253, "cbc(twofish)", 0),
    a(13, "rfc3686(ctr(aes))", 0),
    a(24, "cbc(sm4)", 0),
];

/// AEAD algorithms (`XFRMA_ALG_AEAD`) with their ICV length. Stock `af_key` has none of these
/// (it answers `ENOSYS`); XFRM has them all.
pub const AEAD_ALGS: &[AlgName] = &[
    a(18, "rfc4106(gcm(aes))", 64),
    a(19, "rfc4106(gcm(aes))", 96),
    a(20, "rfc4106(gcm(aes))", 128),
    a(14, "rfc4309(ccm(aes))", 64),
    a(15, "rfc4309(ccm(aes))", 96),
    a(16, "rfc4309(ccm(aes))", 128),
    a(23, "rfc4543(gcm(aes))", 128),
];

/// Compression algorithms (`XFRMA_ALG_COMP`, IPCOMP SAs: `sadb_sa_encrypt` is the CPI
/// algorithm).
pub const COMP_ALGS: &[AlgName] = &[a(2, "deflate", 0), a(3, "lzs", 0), a(4, "lzjh", 0)];

fn by_id(list: &'static [AlgName], id: u8) -> Option<&'static AlgName> {
    list.iter().find(|a| a.id == id)
}

fn by_name(list: &'static [AlgName], name: &str, bits: Option<u32>) -> Option<&'static AlgName> {
    list.iter().find(|a| a.name == name && bits.is_none_or(|b| b == a.bits))
}

/// The errno `af_key` gives for an algorithm it does not know.
fn no_alg(op: &'static str) -> KernelError {
    KernelError::Errno { op, errno: libc::ENOSYS }
}

fn einval(op: &'static str) -> KernelError {
    KernelError::Errno { op, errno: libc::EINVAL }
}

/// The IPsec protocol of an SA type (`Unspec`: `IPSEC_PROTO_ANY`).
pub fn proto_of(satype: SaType, op: &'static str) -> Result<u8, KernelError> {
    match satype {
        SaType::Unspec => Ok(IPSEC_PROTO_ANY_U8),
        t => t.proto().and_then(|p| u8::try_from(p).ok()).ok_or_else(|| einval(op)),
    }
}

/// The SA type of an IPsec protocol.
pub fn satype_of(proto: u8) -> Result<SaType, XfrmParseError> {
    SaType::from_proto(u16::from(proto))
        .ok_or(XfrmParseError::Unsupported { what: "IPsec protocol", value: proto.into() })
}

/// An address as `xfrm_address_t` and its family.
pub fn xaddr(ip: IpAddr) -> (XfrmAddress, u16) {
    let mut out = [0u8; 16];
    match ip {
        IpAddr::V4(v4) => {
            out[..4].copy_from_slice(&v4.octets());
            (out, AF_INET)
        }
        IpAddr::V6(v6) => (v6.octets(), AF_INET6),
    }
}

/// The address in an `xfrm_address_t` of `family`.
pub fn ip_of(a: &XfrmAddress, family: u16) -> Result<IpAddr, XfrmParseError> {
    match family {
        AF_INET => Ok(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))),
        AF_INET6 => Ok(IpAddr::V6(Ipv6Addr::from(*a))),
        f => Err(XfrmParseError::Unsupported { what: "address family", value: f.into() }),
    }
}

fn sockaddr(a: &XfrmAddress, family: u16) -> Result<SockAddr, XfrmParseError> {
    ip_of(a, family).map(SockAddr::new)
}

/// `IPSEC_MODE_*` -> `XFRM_MODE_*` (`pfkey_mode_to_xfrm`: ANY is transport).
pub fn mode_to_xfrm(m: Mode) -> Option<u8> {
    match m {
        Mode::Any | Mode::Transport => Some(XFRM_MODE_TRANSPORT),
        Mode::Tunnel => Some(XFRM_MODE_TUNNEL),
        Mode::Beet => Some(XFRM_MODE_BEET),
        Mode::Iptfs => Some(XFRM_MODE_IPTFS),
        _ => None,
    }
}

/// `XFRM_MODE_*` -> `IPSEC_MODE_*` (`pfkey_mode_from_xfrm`).
pub fn mode_from_xfrm(m: u8) -> Result<Mode, XfrmParseError> {
    match m {
        XFRM_MODE_TRANSPORT => Ok(Mode::Transport),
        XFRM_MODE_TUNNEL => Ok(Mode::Tunnel),
        XFRM_MODE_BEET => Ok(Mode::Beet),
        XFRM_MODE_IPTFS => Ok(Mode::Iptfs),
        m => Err(XfrmParseError::Unsupported { what: "XFRM mode", value: m.into() }),
    }
}

/// `IPSEC_DIR_INBOUND/OUTBOUND/FWD` -> `XFRM_POLICY_IN/OUT/FWD`; any other is `EINVAL`, as
/// `af_key` answers it.
pub fn dir_to_xfrm(d: PolicyDir, op: &'static str) -> Result<u8, KernelError> {
    match d {
        PolicyDir::Inbound => Ok(XFRM_POLICY_IN),
        PolicyDir::Outbound => Ok(XFRM_POLICY_OUT),
        PolicyDir::Fwd => Ok(XFRM_POLICY_FWD),
        _ => Err(einval(op)),
    }
}

/// The direction of a policy by id, as `af_key`'s `pfkey_spdget` (SPDGET, SPDDELETE2) takes it:
/// from the id's low three bits (`xfrm_policy_id2dir`), whatever direction the request names;
/// a direction beyond `XFRM_POLICY_FWD` is `EINVAL`. XFRM netlink instead checks the request's
/// direction against the id (`ENOENT` on a mismatch), so the shim sends the id's own.
pub fn dir_of_policy_id(id: u32, op: &'static str) -> Result<u8, KernelError> {
    match (id & 7) as u8 {
        d @ (XFRM_POLICY_IN | XFRM_POLICY_OUT | XFRM_POLICY_FWD) => Ok(d),
        _ => Err(einval(op)),
    }
}

/// `XFRM_POLICY_*` -> `IPSEC_DIR_*`.
pub fn dir_from_xfrm(d: u8) -> PolicyDir {
    PolicyDir::from(d.saturating_add(1))
}

/// A PF_KEY selector as `struct xfrm_selector` (`af_key`'s `pfkey_spdadd`: ports with a full
/// mask when set, protocol 255 stored as 0).
pub fn selector_to_xfrm(s: &Selector) -> XfrmSelector {
    let (saddr, family) = xaddr(s.src.ip());
    let (daddr, _) = xaddr(s.dst.ip());
    let mask = |p: u16| if p != 0 { 0xffff } else { 0 };
    XfrmSelector {
        daddr,
        saddr,
        dport: s.dst.port().into(),
        dport_mask: mask(s.dst.port()).into(),
        sport: s.src.port().into(),
        sport_mask: mask(s.src.port()).into(),
        family,
        prefixlen_d: s.dst_prefixlen,
        prefixlen_s: s.src_prefixlen,
        proto: if s.proto == IPSEC_ULPROTO_ANY { 0 } else { s.proto },
        ..Default::default()
    }
}

/// `struct xfrm_selector` as a PF_KEY selector. `any_proto` is what protocol 0 reads as: 255
/// in SPD dumps (`pfkey_proto_from_xfrm`), 0 in MIGRATE broadcasts (which copy it raw).
pub fn selector_from_xfrm(s: &XfrmSelector, any_proto: u8) -> Result<Selector, XfrmParseError> {
    Ok(Selector {
        src: SockAddr::with_port(ip_of(&s.saddr, s.family)?, s.sport.get()),
        src_prefixlen: s.prefixlen_s,
        dst: SockAddr::with_port(ip_of(&s.daddr, s.family)?, s.dport.get()),
        dst_prefixlen: s.prefixlen_d,
        proto: if s.proto == 0 { any_proto } else { s.proto },
    })
}

fn key2x(v: u64) -> u64 {
    if v == 0 { XFRM_INF } else { v }
}

fn x2key(v: u64) -> u64 {
    if v == XFRM_INF { 0 } else { v }
}

fn lifetime_cfg(hard: Option<Lifetime>, soft: Option<Lifetime>) -> XfrmLifetimeCfg {
    let mut l = XfrmLifetimeCfg::infinite();
    if let Some(h) = hard {
        l.hard_packet_limit = key2x(h.allocations.into());
        l.hard_byte_limit = key2x(h.bytes);
        l.hard_add_expires_seconds = h.addtime;
        l.hard_use_expires_seconds = h.usetime;
    }
    if let Some(s) = soft {
        l.soft_packet_limit = key2x(s.allocations.into());
        l.soft_byte_limit = key2x(s.bytes);
        l.soft_add_expires_seconds = s.addtime;
        l.soft_use_expires_seconds = s.usetime;
    }
    l
}

fn limits(packets: u64, bytes: u64, add: u64, used: u64) -> Lifetime {
    Lifetime {
        allocations: u32::try_from(x2key(packets)).unwrap_or(u32::MAX),
        bytes: x2key(bytes),
        addtime: add,
        usetime: used,
    }
}

/// The current-lifetime counters as `SADB_EXT_LIFETIME_CURRENT`.
pub fn current(c: &XfrmLifetimeCur) -> Lifetime {
    Lifetime {
        allocations: u32::try_from(c.packets).unwrap_or(u32::MAX),
        bytes: c.bytes,
        addtime: c.add_time,
        usetime: c.use_time,
    }
}

const SA_FLAG_MAP: [(u32, u8); 3] = [
    (SADB_SAFLAGS_NOECN, XFRM_STATE_NOECN),
    (SADB_SAFLAGS_DECAP_DSCP, XFRM_STATE_DECAP_DSCP),
    (SADB_SAFLAGS_NOPMTUDISC, XFRM_STATE_NOPMTUDISC),
];

/// The most packets `af_key` lets a (non-ESN) replay window hold.
const MAX_REPLAY: u8 = 32;

/// The selector of an SA whose outer family is `family`: that family alone, or a BEET SA's inner
/// hosts (`SaSpec::inner`, which `af_key` takes from `SADB_EXT_ADDRESS_PROXY` and
/// `SADB_X_EXT_INNER_ADDRESS_DST`). `None` where `af_key` with the series answers `EINVAL`: an
/// inner destination outside BEET mode, or inner hosts of two families.
fn sa_selector(sa: &SaSpec, family: u16) -> Option<XfrmSelector> {
    let Some(inner) = &sa.inner else {
        return Some(XfrmSelector { family, ..Default::default() });
    };
    let (saddr, sfamily) = xaddr(inner.src.ip());
    let mut sel = XfrmSelector { family: sfamily, saddr, prefixlen_s: inner.src.max_prefixlen(), ..Default::default() };
    if let Some(d) = inner.dst {
        let (daddr, dfamily) = xaddr(d.ip());
        if sa.mode != Mode::Beet || dfamily != sfamily || d.ip().is_unspecified() {
            return None;
        }
        sel.daddr = daddr;
        sel.prefixlen_d = d.max_prefixlen();
    }
    Some(sel)
}

/// The inner hosts of a BEET SA read from its selector (see [`sa_selector`]).
fn inner_of(mode: Mode, sel: &XfrmSelector) -> Result<Option<BeetInner>, XfrmParseError> {
    if mode != Mode::Beet || sel.family == 0 {
        return Ok(None);
    }
    let src = sockaddr(&sel.saddr, sel.family)?;
    if src.ip().is_unspecified() {
        return Ok(None);
    }
    let dst = sockaddr(&sel.daddr, sel.family)?;
    Ok(Some(BeetInner { src, dst: (!dst.ip().is_unspecified()).then_some(dst) }))
}

/// An SA as `struct xfrm_usersa_info` plus its attributes (algorithms, NAT-T), for
/// `XFRM_MSG_NEWSA`/`UPDSA`.
pub fn sa_request(sa: &SaSpec, msg_type: u16, op: &'static str) -> Result<NlRequest, KernelError> {
    let proto = proto_of(sa.satype, op)?;
    if sa.satype == SaType::Unspec {
        return Err(einval(op));
    }
    let (saddr, family) = xaddr(sa.src.ip());
    let (daddr, dfamily) = xaddr(sa.dst.ip());
    if family != dfamily {
        return Err(einval(op));
    }
    // pfkey_add: a hard lifetime without a soft one, or the reverse, is EINVAL (RFC 2367
    // §2.3.4 has them travel together); XFRM would take either alone.
    if sa.hard.is_some() != sa.soft.is_some() {
        return Err(einval(op));
    }
    let mut flags = 0;
    for (s, x) in SA_FLAG_MAP {
        if sa.flags & s != 0 {
            flags |= x;
        }
    }
    let info = XfrmUsersaInfo {
        sel: sa_selector(sa, family).ok_or_else(|| einval(op))?,
        id: XfrmId { daddr, spi: sa.spi.into(), proto, pad: [0; 3] },
        saddr,
        lft: lifetime_cfg(sa.hard, sa.soft),
        reqid: sa.reqid,
        family,
        mode: mode_to_xfrm(sa.mode).ok_or_else(|| einval(op))?,
        replay_window: sa.replay.min(MAX_REPLAY),
        flags,
        ..Default::default()
    };
    let mut req = NlRequest::new(msg_type, NLM_F_ACK, &info);
    if let Some(auth) = &sa.auth {
        let alg = by_id(AUTH_ALGS, auth.alg.into()).ok_or_else(|| no_alg(op))?;
        let head =
            XfrmAlgoTrunc { alg_name: alg_name(alg.name), alg_key_len: key_bits(&auth.key), trunc_len: alg.bits };
        req.attr(attr::ALG_AUTH_TRUNC, &[head.as_bytes(), &auth.key]);
    }
    if let Some(enc) = &sa.encrypt {
        let id: u8 = enc.alg.into();
        if sa.satype == SaType::XIpcomp {
            let alg = by_id(COMP_ALGS, id).ok_or_else(|| no_alg(op))?;
            let head = XfrmAlgo { alg_name: alg_name(alg.name), alg_key_len: 0 };
            req.attr(attr::ALG_COMP, &[head.as_bytes()]);
        } else if let Some(alg) = by_id(AEAD_ALGS, id) {
            let head =
                XfrmAlgoTrunc { alg_name: alg_name(alg.name), alg_key_len: key_bits(&enc.key), trunc_len: alg.bits };
            req.attr(attr::ALG_AEAD, &[head.as_bytes(), &enc.key]);
        } else {
            let alg = by_id(ENCRYPT_ALGS, id).ok_or_else(|| no_alg(op))?;
            let head = XfrmAlgo { alg_name: alg_name(alg.name), alg_key_len: key_bits(&enc.key) };
            req.attr(attr::ALG_CRYPT, &[head.as_bytes(), &enc.key]);
        }
    }
    if let Some(n) = sa.natt.filter(|n| n.nat_t_type != NatTType::None) {
        req.attr(attr::ENCAP, &[encap(&n).as_bytes()]);
    }
    if sa.flags & SADB_SAFLAGS_MOVABLE != 0 {
        // No bit of the u8 `flags` is free: the movable flag is an extra flag.
        req.attr(attr::SA_EXTRA_FLAGS, &[XFRM_SA_XFLAG_MOVABLE.as_bytes()]);
    }
    Ok(req)
}

fn key_bits(key: &[u8]) -> u32 {
    u32::try_from(key.len() * 8).unwrap_or(u32::MAX)
}

/// NAT-T as `struct xfrm_encap_tmpl` (no original address).
pub fn encap(n: &NatT) -> XfrmEncapTmpl {
    XfrmEncapTmpl {
        encap_type: u8::from(n.nat_t_type).into(),
        sport: n.sport.into(),
        dport: n.dport.into(),
        ..Default::default()
    }
}

/// `struct xfrm_encap_tmpl` as NAT-T.
pub fn natt_of(e: &XfrmEncapTmpl) -> NatT {
    NatT {
        nat_t_type: NatTType::from(u8::try_from(e.encap_type).unwrap_or(u8::MAX)),
        sport: e.sport.get(),
        dport: e.dport.get(),
    }
}

fn alg_key<A: From<u8>>(list: &'static [AlgName], v: &[u8], trunc: bool) -> Result<AlgKey<A>, XfrmParseError> {
    let (name, bits, key_bits, key) = if trunc {
        let h: XfrmAlgoTrunc = read(v, "xfrm_algo_auth")?;
        (h.alg_name, Some(h.trunc_len), h.alg_key_len, &v[size_of::<XfrmAlgoTrunc>()..])
    } else {
        let h: XfrmAlgo = read(v, "xfrm_algo")?;
        (h.alg_name, None, h.alg_key_len, &v[size_of::<XfrmAlgo>()..])
    };
    let need = (key_bits as usize).div_ceil(8);
    let key = key.get(..need).ok_or(XfrmParseError::Short { what: "algorithm key", have: key.len(), need })?;
    let name = alg_name_str(&name);
    // The truncation of an authentication algorithm is the SA's, not the algorithm's: look it
    // up by name alone.
    let bits = if std::ptr::eq(list, AUTH_ALGS) { None } else { bits };
    let alg = by_name(list, name, bits).ok_or(XfrmParseError::Unsupported { what: "algorithm name", value: 0 })?;
    Ok(AlgKey { alg: A::from(alg.id), key: Cow::Owned(key.to_vec()) })
}

/// An SA from `struct xfrm_usersa_info` and its attributes (GETSA reply, dump entry, NEWSA
/// notification), reported as `af_key` reports it (hard and soft lifetimes always present,
/// zero for "none"; state `larval` for an SA without algorithms, `mature` otherwise).
pub fn sa_from_xfrm(info: &XfrmUsersaInfo, attrs: Attrs<'_>) -> Result<SaEntry, XfrmParseError> {
    let satype = satype_of(info.id.proto)?;
    let mode = mode_from_xfrm(info.mode)?;
    let mut spec = SaSpec {
        inner: inner_of(mode, &info.sel)?,
        satype,
        spi: info.id.spi.get(),
        src: sockaddr(&info.saddr, info.family)?,
        dst: sockaddr(&info.id.daddr, info.family)?,
        mode,
        reqid: info.reqid,
        replay: info.replay_window,
        flags: SA_FLAG_MAP.iter().filter(|(_, x)| info.flags & x != 0).fold(0, |f, (s, _)| f | s),
        state: SaState::Larval,
        auth: None,
        encrypt: None,
        hard: Some(limits(
            info.lft.hard_packet_limit,
            info.lft.hard_byte_limit,
            info.lft.hard_add_expires_seconds,
            info.lft.hard_use_expires_seconds,
        )),
        soft: Some(limits(
            info.lft.soft_packet_limit,
            info.lft.soft_byte_limit,
            info.lft.soft_add_expires_seconds,
            info.lft.soft_use_expires_seconds,
        )),
        natt: None,
    };
    for a in attrs {
        let (t, v) = a?;
        match t {
            attr::ALG_AUTH_TRUNC => spec.auth = Some(alg_key(AUTH_ALGS, v, true)?),
            attr::ALG_AUTH if spec.auth.is_none() => spec.auth = Some(alg_key(AUTH_ALGS, v, false)?),
            attr::ALG_CRYPT => spec.encrypt = Some(alg_key(ENCRYPT_ALGS, v, false)?),
            attr::ALG_AEAD => spec.encrypt = Some(alg_key(AEAD_ALGS, v, true)?),
            attr::ALG_COMP => {
                let h: XfrmAlgo = read(v, "xfrm_algo")?;
                let alg = by_name(COMP_ALGS, alg_name_str(&h.alg_name), None)
                    .ok_or(XfrmParseError::Unsupported { what: "compression algorithm", value: 0 })?;
                spec.encrypt = Some(AlgKey { alg: EncryptAlg::from(alg.id), key: Cow::Owned(Vec::new()) });
            }
            attr::ENCAP => spec.natt = Some(natt_of(&read(v, "xfrm_encap_tmpl")?)),
            attr::SA_EXTRA_FLAGS => {
                let x: u32 = read(v, "XFRMA_SA_EXTRA_FLAGS")?;
                if x & XFRM_SA_XFLAG_MOVABLE != 0 {
                    spec.flags |= SADB_SAFLAGS_MOVABLE;
                }
            }
            _ => {}
        }
    }
    if spec.auth.is_some() || spec.encrypt.is_some() {
        spec.state = SaState::Mature;
    }
    Ok(SaEntry { spec, current: Some(current(&info.curlft)) })
}

/// A policy as `struct xfrm_userpolicy_info` plus its `XFRMA_TMPL`, for
/// `XFRM_MSG_NEWPOLICY`/`UPDPOLICY` (`af_key`'s `pfkey_spdadd` rules: `discard` blocks, `none`
/// and `ipsec` allow, anything else is `EINVAL`).
pub fn policy_request(p: &PolicySpec, msg_type: u16, op: &'static str) -> Result<NlRequest, KernelError> {
    let action = match p.policy_type {
        PolicyType::Discard => XFRM_POLICY_BLOCK,
        PolicyType::None | PolicyType::Ipsec => XFRM_POLICY_ALLOW,
        _ => return Err(einval(op)),
    };
    let sel = selector_to_xfrm(&p.selector);
    let info = XfrmUserpolicyInfo {
        sel,
        lft: XfrmLifetimeCfg::infinite(),
        priority: p.priority,
        dir: dir_to_xfrm(p.dir, op)?,
        action,
        ..Default::default()
    };
    let mut req = NlRequest::new(msg_type, NLM_F_ACK, &info);
    if p.policy_type == PolicyType::Ipsec && !p.templates.is_empty() {
        if p.templates.len() > XFRM_MAX_DEPTH {
            return Err(KernelError::Errno { op, errno: libc::ELOOP });
        }
        let tmpls: Vec<XfrmUserTmpl> =
            p.templates.iter().map(|t| template_to_xfrm(t, sel.family, op)).collect::<Result<_, _>>()?;
        req.attr(attr::TMPL, &[tmpls.as_bytes()]);
    }
    Ok(req)
}

fn template_to_xfrm(t: &Template, sel_family: u16, op: &'static str) -> Result<XfrmUserTmpl, KernelError> {
    if t.mode == Mode::Any {
        return Err(einval(op));
    }
    let mode = mode_to_xfrm(t.mode).ok_or_else(|| einval(op))?;
    let proto = u8::try_from(t.proto).map_err(|_| einval(op))?;
    let (saddr, daddr, family) = match (t.mode, t.endpoints) {
        (Mode::Tunnel | Mode::Beet, Some(e)) => {
            let (s, f) = xaddr(e.src.ip());
            (s, xaddr(e.dst.ip()).0, f)
        }
        (Mode::Tunnel, None) => return Err(einval(op)),
        _ => ([0; 16], [0; 16], sel_family),
    };
    let reqid = if t.level == Level::Unique && t.reqid <= IPSEC_MANUAL_REQID_MAX { t.reqid } else { 0 };
    Ok(XfrmUserTmpl {
        id: XfrmId { daddr, spi: 0.into(), proto, pad: [0; 3] },
        family,
        saddr,
        reqid,
        mode,
        optional: u8::from(t.level == Level::Use),
        aalgos: u32::MAX,
        ealgos: u32::MAX,
        calgos: u32::MAX,
        ..Default::default()
    })
}

fn template_from_xfrm(t: &XfrmUserTmpl) -> Result<Template, XfrmParseError> {
    let mode = mode_from_xfrm(t.mode)?;
    let endpoints = match mode {
        Mode::Tunnel | Mode::Beet => {
            Some(Endpoints { src: sockaddr(&t.saddr, t.family)?, dst: sockaddr(&t.id.daddr, t.family)? })
        }
        _ => None,
    };
    let level = if t.optional != 0 {
        Level::Use
    } else if t.reqid != 0 {
        Level::Unique
    } else {
        Level::Require
    };
    Ok(Template { proto: t.id.proto.into(), mode, level, reqid: t.reqid, endpoints })
}

/// A policy from `struct xfrm_userpolicy_info` and its attributes.
pub fn policy_from_xfrm(info: &XfrmUserpolicyInfo, attrs: Attrs<'_>) -> Result<PolicySpec, XfrmParseError> {
    let mut templates = Vec::new();
    for a in attrs {
        let (t, v) = a?;
        if t == attr::TMPL {
            for chunk in v.chunks(size_of::<XfrmUserTmpl>()) {
                templates.push(template_from_xfrm(&read(chunk, "xfrm_user_tmpl")?)?);
            }
        }
    }
    let policy_type = match (info.action, templates.is_empty()) {
        (XFRM_POLICY_ALLOW, true) => PolicyType::None,
        (XFRM_POLICY_ALLOW, false) => PolicyType::Ipsec,
        _ => PolicyType::Discard,
    };
    Ok(PolicySpec {
        selector: selector_from_xfrm(&info.sel, IPSEC_ULPROTO_ANY)?,
        dir: dir_from_xfrm(info.dir),
        policy_type,
        priority: info.priority,
        id: info.index,
        templates,
    })
}

/// `struct xfrm_userpolicy_id` naming a policy by selector (index 0) or by index.
pub fn policy_id(sel: Option<&Selector>, index: u32, dir: u8) -> XfrmUserpolicyId {
    XfrmUserpolicyId { sel: sel.map(selector_to_xfrm).unwrap_or_default(), index, dir, pad: [0; 3] }
}

fn migrate_entry(b: &MigrateBundle, op: &'static str) -> Result<XfrmUserMigrate, KernelError> {
    let (old_saddr, old_family) = xaddr(b.old.src.ip());
    let (new_saddr, new_family) = xaddr(b.new.src.ip());
    Ok(XfrmUserMigrate {
        old_daddr: xaddr(b.old.dst.ip()).0,
        old_saddr,
        new_daddr: xaddr(b.new.dst.ip()).0,
        new_saddr,
        proto: u8::try_from(b.proto).map_err(|_| einval(op))?,
        mode: mode_to_xfrm(b.mode).ok_or_else(|| einval(op))?,
        reserved: 0,
        reqid: b.reqid,
        old_family,
        new_family,
    })
}

/// `XFRM_MSG_MIGRATE` for a PF_KEY MIGRATE: `xfrm_userpolicy_id` (selector, direction), one
/// `XFRMA_MIGRATE` with every bundle, `XFRMA_KMADDRESS`, and `XFRMA_ENCAP` for NAT-T. The
/// selector is encoded as for SPDADD (protocol 255 as 0), as `af_key`'s `pfkey_migrate` does,
/// so it finds the policy the same way (`xfrm_migrate_selector_match`).
pub fn migrate_request(m: &Migrate, op: &'static str) -> Result<NlRequest, KernelError> {
    migrate_request_raw(&selector_to_xfrm(&m.selector), dir_to_xfrm(m.dir, op)?, m, op)
}

/// [`migrate_request`] with the selector already in XFRM form (exactly as the kernel stores the
/// policy, for the narrowed per-SA move).
pub fn migrate_request_raw(
    sel: &XfrmSelector,
    dir: u8,
    m: &Migrate,
    op: &'static str,
) -> Result<NlRequest, KernelError> {
    if m.bundles.is_empty() || m.bundles.len() > XFRM_MAX_DEPTH {
        return Err(einval(op));
    }
    let id = XfrmUserpolicyId { sel: *sel, index: 0, dir, pad: [0; 3] };
    let mut req = NlRequest::new(msg::MIGRATE, NLM_F_ACK, &id);
    let entries: Vec<XfrmUserMigrate> = m.bundles.iter().map(|b| migrate_entry(b, op)).collect::<Result<_, _>>()?;
    req.attr(attr::MIGRATE, &[entries.as_bytes()]);
    if let Some((local, remote)) = m.kmaddress {
        let (l, family) = xaddr(local.ip());
        let k = XfrmUserKmaddress { local: l, remote: xaddr(remote.ip()).0, reserved: 0, family, pad: [0; 2] };
        req.attr(attr::KMADDRESS, &[k.as_bytes()]);
    }
    if let Some(n) = m.natt.filter(|n| n.nat_t_type != NatTType::None) {
        req.attr(attr::ENCAP, &[encap(&n).as_bytes()]);
    }
    Ok(req)
}

/// A MIGRATE from an `XFRM_MSG_MIGRATE` (request or the `XFRMNLGRP_MIGRATE` broadcast, which
/// carries one `XFRMA_MIGRATE` per bundle), as `af_key`'s `pfkey_send_migrate` reports it:
/// selector protocol as stored, level `unique` when the bundle has a reqid.
pub fn migrate_from_xfrm(payload: &[u8]) -> Result<Migrate, XfrmParseError> {
    let id: XfrmUserpolicyId = read(payload, "xfrm_userpolicy_id")?;
    let mut bundles = Vec::new();
    let mut kmaddress = None;
    let mut natt = None;
    for a in Attrs::after::<XfrmUserpolicyId>(payload) {
        let (t, v) = a?;
        match t {
            attr::MIGRATE => {
                for chunk in v.chunks(size_of::<XfrmUserMigrate>()) {
                    let um: XfrmUserMigrate = read(chunk, "xfrm_user_migrate")?;
                    let ep = |s, d, f| -> Result<Endpoints, XfrmParseError> {
                        Ok(Endpoints { src: sockaddr(s, f)?, dst: sockaddr(d, f)? })
                    };
                    bundles.push(MigrateBundle::new(
                        um.proto.into(),
                        mode_from_xfrm(um.mode)?,
                        um.reqid,
                        ep(&um.old_saddr, &um.old_daddr, um.old_family)?,
                        ep(&um.new_saddr, &um.new_daddr, um.new_family)?,
                    ));
                }
            }
            attr::KMADDRESS => {
                let k: XfrmUserKmaddress = read(v, "xfrm_user_kmaddress")?;
                kmaddress = Some((sockaddr(&k.local, k.family)?, sockaddr(&k.remote, k.family)?));
            }
            attr::ENCAP => natt = Some(natt_of(&read(v, "xfrm_encap_tmpl")?)),
            _ => {}
        }
    }
    let mut selector = selector_from_xfrm(&id.sel, 0)?;
    selector.proto = id.sel.proto;
    Ok(Migrate { selector, dir: dir_from_xfrm(id.dir), kmaddress, bundles, natt })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_movable_flag_is_an_extra_flag_both_ways() {
        let mut sa = SaSpec::esp_tunnel_gcm(0x1000, ip("192.0.2.1"), ip("198.51.100.1"), 7, &[0; 20]).movable();
        let mut req = sa_request(&sa, msg::NEWSA, "t").unwrap();
        let p = payload(&mut req);
        let info: XfrmUsersaInfo = read(&p, "info").unwrap();
        assert_eq!(info.flags, 0, "no bit of the u8 flags");
        let attrs = Attrs::after::<XfrmUsersaInfo>(&p);
        let x: u32 = read(attrs.find(attr::SA_EXTRA_FLAGS).unwrap().unwrap(), "xflags").unwrap();
        assert_eq!(x, XFRM_SA_XFLAG_MOVABLE);
        assert_eq!(sa_from_xfrm(&info, attrs).unwrap().spec.flags, SADB_SAFLAGS_MOVABLE);

        sa.flags = 0;
        let mut req = sa_request(&sa, msg::NEWSA, "t").unwrap();
        let p = payload(&mut req);
        assert!(Attrs::after::<XfrmUsersaInfo>(&p).find(attr::SA_EXTRA_FLAGS).unwrap().is_none());
    }

    fn ip(s: &str) -> SockAddr {
        SockAddr::new(s.parse().unwrap())
    }

    fn payload(req: &mut NlRequest) -> Vec<u8> {
        req.finish(1, 2)[16..].to_vec()
    }

    #[test]
    fn a_hard_lifetime_without_a_soft_one_is_einval_as_af_key_answers() {
        let life = Lifetime { allocations: 0, bytes: 1 << 20, addtime: 600, usetime: 0 };
        let mut sa = SaSpec::esp_tunnel_gcm(0x1000, ip("192.0.2.1"), ip("198.51.100.1"), 7, &[0; 20]);
        sa.hard = Some(life);
        let err = sa_request(&sa, msg::NEWSA, "t").map(drop).unwrap_err();
        assert_eq!(err.errno(), Some(libc::EINVAL));
        sa.hard = None;
        sa.soft = Some(life);
        assert_eq!(sa_request(&sa, msg::NEWSA, "t").map(drop).unwrap_err().errno(), Some(libc::EINVAL));
        sa.hard = Some(life);
        assert!(sa_request(&sa, msg::NEWSA, "t").is_ok());
    }

    #[test]
    fn a_policy_id_names_its_own_direction() {
        assert_eq!(dir_of_policy_id(0x11, "t").unwrap(), XFRM_POLICY_OUT);
        assert_eq!(dir_of_policy_id(0x18, "t").unwrap(), XFRM_POLICY_IN);
        assert_eq!(dir_of_policy_id(0x1a, "t").unwrap(), XFRM_POLICY_FWD);
        assert_eq!(dir_of_policy_id(0x13, "t").unwrap_err().errno(), Some(libc::EINVAL));
    }

    #[test]
    fn esp_sa_round_trips_with_cbc_aes_and_hmac_sha256_truncated_to_128() {
        let mut sa = SaSpec::esp_tunnel_gcm(0x1000, ip("192.0.2.1"), ip("198.51.100.1"), 7, &[0; 20]);
        sa.encrypt = Some(AlgKey::new(EncryptAlg::AesCbc, &[1; 16]));
        sa.auth = Some(AlgKey::new(AuthAlg::Sha2_256Hmac, &[2; 32]));
        sa.natt = Some(NatT::esp_in_udp(4500, 4501));
        let mut req = sa_request(&sa, msg::NEWSA, "t").unwrap();
        let p = payload(&mut req);
        let info: XfrmUsersaInfo = read(&p, "info").unwrap();
        let attrs = Attrs::after::<XfrmUsersaInfo>(&p);
        let auth = attrs.find(attr::ALG_AUTH_TRUNC).unwrap().unwrap();
        let h: XfrmAlgoTrunc = read(auth, "auth").unwrap();
        assert_eq!((alg_name_str(&h.alg_name), h.alg_key_len, h.trunc_len), ("hmac(sha256)", 256, 128));
        let enc: XfrmAlgo = read(attrs.find(attr::ALG_CRYPT).unwrap().unwrap(), "enc").unwrap();
        assert_eq!((alg_name_str(&enc.alg_name), enc.alg_key_len), ("cbc(aes)", 128));
        assert_eq!(info.lft.hard_byte_limit, XFRM_INF);
        let back = sa_from_xfrm(&info, attrs).unwrap().spec;
        assert_eq!(back.hard, Some(Lifetime::default()));
        assert_eq!(SaSpec { hard: None, soft: None, replay: 32, ..back }, sa);
    }

    #[test]
    fn a_beet_sas_inner_hosts_are_its_selector_both_ways() {
        let mut sa = SaSpec::esp_tunnel_gcm(0x1000, ip("192.0.2.1"), ip("198.51.100.1"), 7, &[0; 20]);
        sa.mode = Mode::Beet;
        sa.inner = Some(BeetInner::new(ip("2001:db8:a::1"), ip("2001:db8:b::1")));
        let mut req = sa_request(&sa, msg::NEWSA, "t").unwrap();
        let p = payload(&mut req);
        let info: XfrmUsersaInfo = read(&p, "info").unwrap();
        assert_eq!((info.sel.family, info.sel.prefixlen_s, info.sel.prefixlen_d), (10, 128, 128));
        assert_eq!((info.family, info.mode), (2, XFRM_MODE_BEET));
        let back = sa_from_xfrm(&info, Attrs::after::<XfrmUsersaInfo>(&p)).unwrap().spec;
        assert_eq!(back.inner, sa.inner);
        // As af_key with the series: an inner destination outside BEET mode, or of another
        // family than the inner source, is EINVAL.
        sa.mode = Mode::Tunnel;
        assert!(matches!(sa_request(&sa, msg::NEWSA, "t"), Err(KernelError::Errno { errno: libc::EINVAL, .. })));
        sa.mode = Mode::Beet;
        sa.inner = Some(BeetInner::new(ip("10.1.0.1"), ip("2001:db8:b::1")));
        assert!(matches!(sa_request(&sa, msg::NEWSA, "t"), Err(KernelError::Errno { errno: libc::EINVAL, .. })));
    }

    #[test]
    fn gcm_is_an_aead_with_its_icv_length() {
        let sa = SaSpec::esp_tunnel_gcm(1, ip("192.0.2.1"), ip("198.51.100.1"), 7, &[3; 20]);
        let mut req = sa_request(&sa, msg::NEWSA, "t").unwrap();
        let p = payload(&mut req);
        let aead = Attrs::after::<XfrmUsersaInfo>(&p).find(attr::ALG_AEAD).unwrap().unwrap();
        let h: XfrmAlgoTrunc = read(aead, "aead").unwrap();
        assert_eq!((alg_name_str(&h.alg_name), h.alg_key_len, h.trunc_len), ("rfc4106(gcm(aes))", 160, 128));
    }

    #[test]
    fn unknown_algorithm_is_enosys_as_af_key_answers() {
        let mut sa = SaSpec::esp_tunnel_gcm(1, ip("192.0.2.1"), ip("198.51.100.1"), 7, &[3; 20]);
        sa.encrypt = Some(AlgKey::new(EncryptAlg::from(99), &[0; 16]));
        assert_eq!(sa_request(&sa, msg::NEWSA, "t").unwrap_err().errno(), Some(libc::ENOSYS));
    }

    #[test]
    fn policy_round_trips_with_pfkey_levels() {
        let sel = Selector::new(ip("10.1.0.0"), 16, ip("10.2.0.0"), 16);
        let p = PolicySpec::esp_tunnel(sel, PolicyDir::Outbound, ip("192.0.2.1"), ip("198.51.100.1"), 5);
        let mut req = policy_request(&p, msg::NEWPOLICY, "t").unwrap();
        let b = payload(&mut req);
        let info: XfrmUserpolicyInfo = read(&b, "info").unwrap();
        assert_eq!((info.dir, info.action, info.sel.proto), (XFRM_POLICY_OUT, XFRM_POLICY_ALLOW, 0));
        let back = policy_from_xfrm(&info, Attrs::after::<XfrmUserpolicyInfo>(&b)).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn migrate_round_trips_with_kmaddress_and_encap() {
        let e = |s, d| Endpoints { src: ip(s), dst: ip(d) };
        let m = Migrate {
            selector: Selector { proto: 0, ..Selector::new(ip("10.1.0.0"), 16, ip("10.2.0.0"), 16) },
            dir: PolicyDir::Outbound,
            kmaddress: Some((ip("203.0.113.7"), ip("198.51.100.1"))),
            bundles: vec![MigrateBundle::new(
                IPPROTO_ESP,
                Mode::Tunnel,
                1,
                e("192.0.2.10", "198.51.100.1"),
                e("203.0.113.7", "198.51.100.1"),
            )],
            natt: Some(NatT::esp_in_udp(4500, 4500)),
        };
        let mut req = migrate_request(&m, "t").unwrap();
        assert_eq!(migrate_from_xfrm(&payload(&mut req)).unwrap(), m);
    }

    #[test]
    fn malformed_sa_is_a_typed_error() {
        let info = XfrmUsersaInfo { family: 99, id: XfrmId { proto: 50, ..Default::default() }, ..Default::default() };
        assert!(matches!(sa_from_xfrm(&info, Attrs::new(&[])), Err(XfrmParseError::Unsupported { .. })));
        let bad_key = [0u8; 70];
        let info =
            XfrmUsersaInfo { family: AF_INET, id: XfrmId { proto: 50, ..Default::default() }, ..Default::default() };
        let mut attrs = NlRequest::empty(0, 0);
        let mut h = XfrmAlgo { alg_name: alg_name("cbc(aes)"), alg_key_len: 0 };
        h.alg_key_len = 4096;
        attrs.attr(attr::ALG_CRYPT, &[h.as_bytes(), &bad_key[..2]]);
        let b = attrs.finish(0, 0)[16..].to_vec();
        assert!(matches!(sa_from_xfrm(&info, Attrs::new(&b)), Err(XfrmParseError::Short { .. })));
    }
}

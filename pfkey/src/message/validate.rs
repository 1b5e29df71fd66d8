//! The parser rules of one extension, in one place: checked on the bytes, without building the
//! typed value.
//!
//! [`Message::parse`](super::Message::parse) runs only these checks (it keeps the validated bytes
//! and decodes each extension when it is iterated); [`Extension::parse`] runs them and then decodes
//! the validated bytes with decoders that check nothing, as [`SockAddr::parse`] does for one
//! sockaddr. Every error carries the broken rule and its offset within the extension.
//!
//! [`Extension::parse`]: super::Extension::parse

use zerocopy::FromBytes;

use super::error::Rule;
use super::sockaddr::SockAddr;
use crate::wire::numbers::{ExtKind, SEC_CTX_MAX};
use crate::wire::{Dialect, SadbAddress, SadbExt, SadbKey, SadbSens, SadbXSecCtx, align8};

/// A rule broken at a byte offset relative to the start of the extension.
pub(crate) type ExtResult<T> = Result<T, (usize, Rule)>;

/// The `sadb_ext_type` of an extension (`ext` holds at least its 4-byte `sadb_ext` header).
#[inline]
pub(crate) fn ext_type(ext: &[u8]) -> ExtResult<u16> {
    header::<SadbExt>(ext).map(|h| h.ext_type.get())
}

/// Validates one whole extension of the known `kind` (`ext` is exactly `sadb_ext_len * 8`
/// bytes, at least 8): the rules [`super::Extension::parse`] and [`super::Message::parse`] apply.
///
/// Returns the sockaddr family of an address extension (SRC, DST, PROXY, NAT_T_OA*,
/// NEW_ADDRESS_*) and 0 for every other kind; an error carries its offset relative to the start
/// of the extension.
#[inline]
pub(crate) fn extension(ext: &[u8], kind: ExtKind, dialect: Dialect) -> ExtResult<u16> {
    let len = ext.len();
    let min = kind.min_len();
    if len < min {
        return Err((0, Rule::ExtTooShort { len, min }));
    }
    if let Some(max) = kind.max_len()
        && len > max
    {
        return Err((0, Rule::ExtTooLong { len, max }));
    }
    // From here `ext` holds the kind's whole fixed header (its size is `min_len`), so every
    // header read below succeeds.
    match kind {
        ExtKind::AddressSrc
        | ExtKind::AddressDst
        | ExtKind::AddressProxy
        | ExtKind::NatTOa
        | ExtKind::NatTOai
        | ExtKind::NatTOar
        | ExtKind::NewAddressSrc
        | ExtKind::NewAddressDst
        | ExtKind::InnerAddressDst => address(ext, dialect),
        ExtKind::KeyAuth | ExtKind::KeyEncrypt => key(ext).map(|()| 0),
        ExtKind::Sensitivity => sens(ext).map(|()| 0),
        ExtKind::Policy => policy(ext, dialect).map(|()| 0),
        ExtKind::SecCtx => sec_ctx(ext).map(|()| 0),
        ExtKind::KmAddress => pair(ext, 8, dialect).map(|_| 0),
        // Fixed-size kinds (length checked above), and kinds whose header is all there is to
        // check (identities, proposals, supported lists, KMPRIVATE).
        ExtKind::Sa
        | ExtKind::LifetimeCurrent
        | ExtKind::LifetimeHard
        | ExtKind::LifetimeSoft
        | ExtKind::IdentitySrc
        | ExtKind::IdentityDst
        | ExtKind::Proposal
        | ExtKind::SupportedAuth
        | ExtKind::SupportedEncrypt
        | ExtKind::SpiRange
        | ExtKind::KmPrivate
        | ExtKind::Sa2
        | ExtKind::NatTType
        | ExtKind::NatTSport
        | ExtKind::NatTDport
        | ExtKind::Filter
        | ExtKind::NatTFrag
        | ExtKind::SaReplay => Ok(0),
    }
}

/// Reads the fixed header `T` at the start of `b`.
#[inline(always)]
fn header<T: FromBytes>(b: &[u8]) -> ExtResult<T> {
    T::read_from_prefix(b).map(|(t, _)| t).map_err(|_| (0, Rule::Truncated { need: size_of::<T>(), have: b.len() }))
}

/// The rules of one sockaddr at the start of `b` (what [`SockAddr::parse`] checks before it
/// decodes): returns its family and wire size.
#[inline(always)]
pub(crate) fn sockaddr(b: &[u8], dialect: Dialect) -> Result<(u16, usize), Rule> {
    let family = SockAddr::peek_family(b, dialect).ok_or(Rule::Truncated { need: 2, have: b.len() })?;
    let len = SockAddr::len_for_family(family, dialect)?;
    if b.len() < len {
        return Err(Rule::Truncated { need: len, have: b.len() });
    }
    if dialect == Dialect::FreeBsd && b[0] as usize != len {
        return Err(Rule::SockaddrLen { sa_len: b[0], expected: len as u8 });
    }
    Ok((family, len))
}

/// [`sockaddr`] at `at` of `b`, the error at `at`.
#[inline(always)]
fn sockaddr_at(b: &[u8], at: usize, dialect: Dialect) -> ExtResult<(u16, usize)> {
    sockaddr(b.get(at..).unwrap_or(&[]), dialect).map_err(|r| (at, r))
}

/// `parse_sockaddr_pair`: two same-family sockaddrs at `at`; returns where they end.
#[inline(always)]
fn pair(b: &[u8], at: usize, dialect: Dialect) -> ExtResult<usize> {
    let (fa, la) = sockaddr_at(b, at, dialect)?;
    let (fz, lz) = sockaddr_at(b, at + la, dialect)?;
    if fa != fz {
        return Err((at + la, Rule::PairFamilyMismatch(fa, fz)));
    }
    Ok(at + la + lz)
}

/// `verify_address_len` plus the prefix limit; returns the family.
#[inline(always)]
fn address(ext: &[u8], dialect: Dialect) -> ExtResult<u16> {
    let h: SadbAddress = header(ext)?;
    let family =
        SockAddr::peek_family(&ext[8..], dialect).ok_or((8, Rule::Truncated { need: 2, have: ext.len() - 8 }))?;
    let sa_len = SockAddr::len_for_family(family, dialect).map_err(|r| (8, r))?;
    let expected_words = (align8(8 + sa_len) / 8) as u16;
    let len_words = (ext.len() / 8) as u16;
    if len_words != expected_words {
        return Err((0, Rule::AddressLength { family, len_words, expected_words }));
    }
    let (family, used) = sockaddr_at(ext, 8, dialect)?;
    let max = if used == 28 { 128 } else { 32 };
    if h.prefixlen > max {
        return Err((5, Rule::PrefixTooLong { prefixlen: h.prefixlen, max }));
    }
    Ok(family)
}

/// `verify_key_len`.
#[inline(always)]
fn key(ext: &[u8]) -> ExtResult<()> {
    let h: SadbKey = header(ext)?;
    let bits = h.bits.get();
    if 8 + (bits as usize).div_ceil(8) > ext.len() {
        return Err((4, Rule::KeyTooShort { bits, len_bytes: ext.len() }));
    }
    Ok(())
}

/// The sensitivity bitmaps fit.
#[inline(always)]
fn sens(ext: &[u8]) -> ExtResult<()> {
    let h: SadbSens = header(ext)?;
    if 16 + h.sens_len as usize * 8 + h.integ_len as usize * 8 > ext.len() {
        return Err((9, Rule::SensLength { sens_len: h.sens_len, integ_len: h.integ_len, len_bytes: ext.len() }));
    }
    Ok(())
}

/// `verify_sec_ctx_len`.
#[inline(always)]
fn sec_ctx(ext: &[u8]) -> ExtResult<()> {
    let h: SadbXSecCtx = header(ext)?;
    let ctx_len = h.ctx_len.get();
    if ctx_len as usize > SEC_CTX_MAX {
        return Err((6, Rule::SecCtxTooLong(ctx_len)));
    }
    let expected_words = ((8 + ctx_len as usize).div_ceil(8)) as u16;
    let len_words = (ext.len() / 8) as u16;
    if len_words != expected_words {
        return Err((0, Rule::SecCtxLength { ctx_len, len_words, expected_words }));
    }
    Ok(())
}

/// `parse_ipsecrequests`: the requests after the 16-byte policy header tile the rest exactly.
#[inline]
fn policy(ext: &[u8], dialect: Dialect) -> ExtResult<()> {
    let hdr = dialect.ipsecrequest_len();
    let region = &ext[16..];
    let mut at = 0;
    while at < region.len() {
        let rest = &region[at..];
        if rest.len() < hdr {
            // Too short for another request: leftover bytes.
            if rest.len() >= 2 {
                let len = u16::from_ne_bytes([rest[0], rest[1]]);
                if (len as usize) < hdr {
                    return Err((16 + at, Rule::RequestTooShort { len, min: hdr }));
                }
            }
            return Err((16 + at, Rule::PolicyTrailing(rest.len())));
        }
        at += request(rest, hdr, dialect).map_err(|(o, r)| (16 + at + o, r))?;
    }
    Ok(())
}

/// One request at the start of `b` (at least `hdr` bytes); returns its length.
#[inline(always)]
fn request(b: &[u8], hdr: usize, dialect: Dialect) -> ExtResult<usize> {
    // `sadb_x_ipsecrequest_len` (bytes) leads both dialects' layouts.
    let len = u16::from_ne_bytes([b[0], b[1]]);
    if (len as usize) < hdr {
        return Err((0, Rule::RequestTooShort { len, min: hdr }));
    }
    if len as usize > b.len() {
        return Err((0, Rule::RequestPastEnd { len, remaining: b.len() }));
    }
    let rq = &b[..len as usize];
    if rq.len() != hdr {
        pair(rq, hdr, dialect).map_err(|(o, r)| match r {
            Rule::Truncated { .. } => (o, Rule::RequestAddresses(rq.len() - hdr)),
            other => (o, other),
        })?;
    }
    Ok(len as usize)
}

#[cfg(test)]
mod tests {
    //! The validator and the decoders behind it, per extension and per message, over mutated
    //! valid inputs: what is accepted decodes to typed values (of the right kind, in full) that
    //! re-emit to the same bytes, and what is rejected is rejected with the same rule and offset
    //! by `Extension::parse` and `Message::parse`. Each test also checks that the inputs reached
    //! every rule the validator implements, so a weak generator cannot pass vacuously.

    use std::borrow::Cow;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    use super::super::*;
    use super::{ExtResult, extension};
    use crate::wire::numbers::*;

    const DIALECTS: [Dialect; 2] = [Dialect::Linux, Dialect::FreeBsd];

    fn sa(v6: bool, n: u8) -> SockAddr {
        if v6 {
            SockAddr::V6 {
                addr: [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n].into(),
                port: 500,
                flowinfo: 7,
                scope_id: 3,
            }
        } else {
            SockAddr::V4 { addr: [192, 0, 2, n].into(), port: 4500, zero: [0; 8] }
        }
    }

    fn request(mode: Mode, reqid: u32, ep: Option<(SockAddr, SockAddr)>) -> IpsecRequest<'static> {
        IpsecRequest {
            proto: IPPROTO_ESP,
            mode,
            level: Level::Unique,
            reqid,
            reserved1: 0,
            reserved2: 0,
            endpoints: ep.map(|(src, dst)| Endpoints { src, dst }),
            trailing: None,
        }
    }

    /// One extension of every kind numbered in `d` (addresses of one family), each valid.
    fn every_extension(d: Dialect, v6: bool) -> Vec<Extension<'static>> {
        use Extension as E;
        let addr = |n, plen| Address::prefix(sa(v6, n), plen, 6);
        let life = Lifetime { allocations: 1, bytes: 2, addtime: 3, usetime: 4 };
        let key =
            |n: usize| Key { bits: n as u16 * 8 - 3, reserved: 0, key: Cow::Owned(vec![0xa5; n]), trailing: None };
        let ident = Ident {
            ident_type: IdentType::Fqdn,
            reserved: 0,
            id: 9,
            string: Cow::Borrowed(b"vpn.example"),
            trailing: None,
        };
        let all: Vec<Extension<'static>> = vec![
            E::Sa(Sa {
                spi: 0x1234,
                replay: 32,
                state: SaState::from(1),
                auth: AuthAlg::from(2),
                encrypt: EncryptAlg::from(12),
                flags: 0,
            }),
            E::LifetimeCurrent(life),
            E::LifetimeHard(life),
            E::LifetimeSoft(life),
            E::AddressSrc(addr(1, if v6 { 64 } else { 24 })),
            E::AddressDst(addr(2, if v6 { 128 } else { 32 })),
            E::AddressProxy(addr(3, 0)),
            E::KeyAuth(key(20)),
            E::KeyEncrypt(key(1)),
            E::IdentitySrc(ident.clone()),
            E::IdentityDst(Ident { string: Cow::Borrowed(b""), ..ident }),
            E::Sensitivity(Sens {
                dpd: 1,
                sens_level: 2,
                integ_level: 3,
                reserved: 0,
                sens_bitmap: Cow::Owned(vec![1; 8]),
                integ_bitmap: Cow::Owned(vec![2; 16]),
                trailing: None,
            }),
            E::Proposal(Proposal {
                replay: 4,
                reserved: [0; 3],
                combs: vec![Comb::default(), Comb { flags: 1, ..Comb::default() }].into(),
                trailing: None,
            }),
            E::SupportedAuth(Supported {
                reserved: 0,
                algs: vec![Alg { id: 2, ivlen: 0, minbits: 160, maxbits: 160, reserved: 0 }].into(),
            }),
            E::SupportedEncrypt(Supported { reserved: 0, algs: Vec::new().into() }),
            E::SpiRange(SpiRange { min: 0x100, max: 0x200, reserved: 0 }),
            E::KmPrivate(KmPrivate { reserved: 0, data: Cow::Owned(vec![5; 16]) }),
            E::Policy(Policy {
                policy_type: PolicyType::Ipsec,
                dir: PolicyDir::Outbound,
                reserved: 0,
                id: 0,
                priority: 0,
                requests: vec![
                    request(Mode::Tunnel, 1, Some((sa(v6, 1), sa(v6, 2)))),
                    request(Mode::Tunnel, 1, Some((sa(v6, 3), sa(v6, 2)))),
                    request(Mode::Transport, 2, None),
                    request(Mode::Transport, 2, None),
                ]
                .into(),
            }),
            E::Sa2(Sa2 { mode: Mode::Tunnel, reserved1: 0, reserved2: 0, sequence: 0, reqid: 1 }),
            E::NatTType(NatTTypeExt { nat_t_type: NatTType::EspInUdp, reserved: [0; 3] }),
            E::NatTSport(NatTPort { port: 4500, reserved: 0 }),
            E::NatTDport(NatTPort { port: 4500, reserved: 0 }),
            E::NatTOa(addr(4, 0)),
            E::NatTOai(addr(5, 0)),
            E::NatTOar(addr(6, 0)),
            E::SecCtx(SecCtx { alg: 1, doi: 1, ctx: Cow::Borrowed(b"system_u:object_r:x_t:s0"), trailing: None }),
            E::KmAddress(KmAddress { reserved: 0, local: sa(v6, 7), remote: sa(v6, 8), trailing: None }),
            E::Filter(Filter { saddr: [1; 16], daddr: [2; 16], family: 2, splen: 8, dplen: 8 }),
            E::NatTFrag(NatTFrag { fraglen: 1400, reserved: 0 }),
            E::SaReplay(SaReplay { replay: 64 }),
            E::NewAddressSrc(addr(9, 0)),
            E::NewAddressDst(addr(10, 0)),
            E::Unknown(UnknownExt { ext_type: 200, data: Cow::Owned(vec![0; 4]) }),
        ];
        all.into_iter().filter(|e| e.ext_type(d).is_ok()).collect()
    }

    impl Policy<'static> {
        fn default_for_tests() -> Self {
            Policy {
                policy_type: PolicyType::Ipsec,
                dir: PolicyDir::Outbound,
                reserved: 0,
                id: 0,
                priority: 0,
                requests: Vec::new().into(),
            }
        }
    }

    /// Extension bytes that break a rule edits rarely reach: pairs of mixed families, and a
    /// policy with bytes after its last request (an edit of one byte can make each valid).
    fn near_misses(d: Dialect) -> Vec<Vec<u8>> {
        let (v4, v6) = (sa(false, 1), sa(true, 2));
        let policy = |requests: Vec<IpsecRequest<'static>>| {
            Extension::Policy(Policy { requests: requests.into(), ..Policy::default_for_tests() })
        };
        let emit = |e: Extension<'static>| {
            let mut b = Vec::new();
            e.emit(&mut b, d).ok().map(|()| b)
        };
        let mut out: Vec<Vec<u8>> = [
            Extension::KmAddress(KmAddress { reserved: 0, local: v4, remote: v6, trailing: None }),
            Extension::KmAddress(KmAddress { reserved: 0, local: v6, remote: v4, trailing: None }),
            policy(vec![request(Mode::Tunnel, 1, Some((v4, v6))), request(Mode::Tunnel, 1, Some((v4, v4)))]),
            policy(vec![request(Mode::Tunnel, 1, Some((v6, v6))), request(Mode::Tunnel, 1, Some((v6, v4)))]),
        ]
        .into_iter()
        .filter_map(emit)
        .collect();
        // A request of 4 extra bytes, then 4 bytes of padding that start like a request.
        let odd = IpsecRequest { trailing: Some(Cow::Owned(vec![0; 4])), ..request(Mode::Tunnel, 1, Some((v4, v4))) };
        let mut b = emit(policy(vec![odd])).unwrap();
        let n = b.len();
        b[n - 4..n - 2].copy_from_slice(&(d.ipsecrequest_len() as u16).to_ne_bytes());
        out.push(b);
        out
    }

    /// Messages in `d`: one with every extension, one for each extension alone, MIGRATEs of one
    /// and two pairs, and near misses (mixed-family pairs, SRC/DST families, request counts).
    fn seed_messages(d: Dialect) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for ext in near_misses(d) {
            let mut m = Message::new(MessageType::XMigrate, SaType::Esp)
                .with(Extension::AddressSrc(Address::host(sa(false, 100))))
                .with(Extension::AddressDst(Address::host(sa(false, 101))))
                .to_bytes(d)
                .unwrap();
            m.extend_from_slice(&ext);
            let words = (m.len() / 8) as u16;
            m[4..6].copy_from_slice(&words.to_ne_bytes());
            out.push(m);
        }
        // MIGRATE policies with no, an odd number of and too many requests.
        for n in [0, 3, 14] {
            let reqs: Vec<_> = (0..n).map(|_| request(Mode::Tunnel, 1, Some((sa(false, 1), sa(false, 2))))).collect();
            let p = Policy { requests: reqs.into(), ..Policy::default_for_tests() };
            let m = Message::new(MessageType::XMigrate, SaType::Esp).with(Extension::Policy(p));
            out.push(m.to_bytes(d).unwrap());
        }
        // SRC and DST of different families.
        let m = Message::new(MessageType::Add, SaType::Esp)
            .with(Extension::AddressSrc(Address::host(sa(false, 1))))
            .with(Extension::AddressDst(Address::host(sa(true, 2))));
        out.push(m.to_bytes(d).unwrap());
        for v6 in [false, true] {
            let mut all = Message::new(MessageType::Add, SaType::Esp);
            for e in every_extension(d, v6) {
                // Alone too, so that edits land on each extension often.
                out.push(Message::new(MessageType::Add, SaType::Esp).with(e.clone()).to_bytes(d).unwrap());
                all.push(e);
            }
            out.push(all.to_bytes(d).unwrap());
            for pairs in [1, 2] {
                let sel = Selector::new(sa(v6, 100), 24, sa(v6, 101), 24);
                let bundles = (0..pairs)
                    .map(|i| {
                        let old = Endpoints { src: sa(v6, 1), dst: sa(v6, 2) };
                        let new = Endpoints { src: sa(v6, 3), dst: sa(v6, 2) };
                        MigrateBundle::new(IPPROTO_ESP, Mode::Tunnel, i + 1, old, new)
                    })
                    .collect();
                let m = Migrate {
                    selector: sel,
                    dir: PolicyDir::Outbound,
                    kmaddress: (d == Dialect::Linux).then(|| (sa(v6, 3), sa(v6, 2))),
                    bundles,
                    natt: Some(NatT::esp_in_udp(4500, 4500)),
                };
                out.push(m.message().with_seq(1).to_bytes(d).unwrap());
            }
        }
        out
    }

    /// One edit of a byte buffer. Values lean towards the numbers the rules compare against
    /// (families, `sa_len`s, request and extension lengths, prefix limits).
    #[derive(Debug, Clone)]
    enum Edit {
        Byte(usize, u8),
        U16(usize, u16),
        /// Cut to a whole number of words (at least `min_words`), fixing the length field.
        Cut(usize),
        /// Append zero words, fixing the length field.
        Grow(u8),
    }

    fn interesting_u8() -> impl Strategy<Value = u8> {
        prop_oneof![
            4 => prop::sample::select(vec![0u8, 1, 2, 3, 8, 10, 16, 24, 28, 32, 33, 64, 128, 129, 255]),
            1 => any::<u8>(),
        ]
    }

    fn interesting_u16() -> impl Strategy<Value = u16> {
        prop_oneof![
            4 => prop::sample::select(vec![0u16, 1, 2, 3, 4, 7, 8, 10, 16, 24, 28, 40, 44, 48, 64, 72, 100, 4096, 4097]),
            1 => 0u16..=200,
            1 => any::<u16>(),
        ]
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            4 => (any::<usize>(), interesting_u8()).prop_map(|(i, v)| Edit::Byte(i, v)),
            4 => (any::<usize>(), interesting_u16()).prop_map(|(i, v)| Edit::U16(i, v)),
            1 => any::<usize>().prop_map(Edit::Cut),
            1 => (1u8..=4).prop_map(Edit::Grow),
        ]
    }

    /// Applies `e` to `b`, whose word-length field (in words, at `len_at`) covers all of it.
    fn apply(b: &mut Vec<u8>, e: &Edit, len_at: usize, min_words: usize) {
        let fix = |b: &mut Vec<u8>| {
            let w = (b.len() / 8) as u16;
            b[len_at..len_at + 2].copy_from_slice(&w.to_ne_bytes());
        };
        match *e {
            Edit::Byte(i, v) => {
                let n = b.len();
                b[i % n] = v;
            }
            // Mostly at offsets that hold 16-bit fields in both dialects' layouts.
            Edit::U16(i, v) => {
                let at = i % (b.len() - 1);
                let at = if i >> 63 == 0 { at & !1 } else { at };
                b[at..at + 2].copy_from_slice(&v.to_ne_bytes());
            }
            Edit::Cut(n) if b.len() / 8 > min_words => {
                b.truncate((min_words + n % (b.len() / 8 - min_words)) * 8);
                fix(b);
            }
            Edit::Grow(w) => {
                b.resize(b.len() + w as usize * 8, 0);
                fix(b);
            }
            Edit::Cut(_) => {}
        }
    }

    /// The variant name of a rule (`Truncated`, `AddressLength`, ...).
    fn variant(r: &Rule) -> String {
        let s = format!("{r:?}");
        s.split(|c: char| !c.is_alphanumeric()).next().unwrap_or_default().to_string()
    }

    fn runner(cases: u32) -> TestRunner {
        TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() })
    }

    /// Rules the validator reports itself (not the message-level framing rules).
    const EXTENSION_RULES: [&str; 15] = [
        "ExtTooShort",
        "ExtTooLong",
        "Truncated",
        "BadFamily",
        "SockaddrLen",
        "AddressLength",
        "PrefixTooLong",
        "KeyTooShort",
        "SensLength",
        "SecCtxTooLong",
        "SecCtxLength",
        "RequestTooShort",
        "RequestPastEnd",
        "RequestAddresses",
        "PolicyTrailing",
    ];

    /// `Extension::parse` on `b`, an extension of `kind`, against the validator: the same verdict;
    /// when accepted, a value of `kind` (not the `Unknown` fallback of a failed decode) with the
    /// family the validator reports, whose lists decode in full and which re-emits to `b` (with
    /// its length field set to the true length).
    fn check_extension(b: &[u8], kind: ExtKind, d: Dialect) -> Result<ExtResult<u16>, String> {
        let verdict = extension(b, kind, d);
        // The length field frames the extension in a message; re-emit writes the true one.
        let mut want = b.to_vec();
        want[..2].copy_from_slice(&((b.len() / 8) as u16).to_ne_bytes());
        match (&verdict, Extension::parse(b, d)) {
            (Err(v), Err(p)) if *v == p => {}
            (Ok(family), Ok(e)) => {
                if e.kind() != Some(kind) {
                    return Err(format!("{kind:?} decoded as {e:?}"));
                }
                let f = e.as_address().map_or(0, |a| a.addr.family(d));
                if f != *family {
                    return Err(format!("validator family {family}, decoded {f}"));
                }
                // `into_owned` decodes every list item (requests, combs, algorithms).
                let mut out = Vec::new();
                e.into_owned().emit(&mut out, d).map_err(|e| format!("re-emit: {e:?}"))?;
                if out != want {
                    return Err(format!("re-emits as {out:02x?}"));
                }
            }
            (v, p) => return Err(format!("validator {v:?}, Extension::parse {p:?}")),
        }
        Ok(verdict)
    }

    /// Per extension, over mutated valid extensions: see [`check_extension`].
    #[test]
    fn extension_parse_is_validator_plus_lossless_decode() {
        let seen = RefCell::new(BTreeMap::<String, usize>::new());
        let accepted = RefCell::new(0usize);
        for d in DIALECTS {
            let seeds: Vec<Vec<u8>> = [false, true]
                .into_iter()
                .flat_map(|v6| every_extension(d, v6))
                .filter(|e| e.kind().is_some())
                .map(|e| {
                    let mut b = Vec::new();
                    e.emit(&mut b, d).unwrap();
                    b
                })
                .chain(near_misses(d))
                .collect();
            let mut r = runner(20_000);
            let strategy = (0..seeds.len(), vec(edit(), 0..4), any::<u16>());
            r.run(&strategy, |(i, edits, ty_edit)| {
                let mut b = seeds[i].clone();
                for e in &edits {
                    apply(&mut b, e, 0, 1);
                }
                // Now and then, reinterpret the bytes as another kind.
                if ty_edit % 8 == 0 {
                    b[2..4].copy_from_slice(&(1 + ty_edit % 29).to_ne_bytes());
                }
                let ty = u16::from_ne_bytes([b[2], b[3]]);
                let Some(kind) = ExtKind::from_number(ty, d) else { return Ok(()) };
                let verdict = check_extension(&b, kind, d)
                    .map_err(|e| TestCaseError::fail(format!("{kind:?} in {d}: {e}: {b:02x?}")))?;
                match verdict {
                    Ok(_) => *accepted.borrow_mut() += 1,
                    Err((_, r)) => {
                        *seen.borrow_mut().entry(variant(&r)).or_default() += 1;
                    }
                }
                Ok(())
            })
            .unwrap();
        }
        let seen = seen.into_inner();
        for rule in EXTENSION_RULES.iter().chain(&["PairFamilyMismatch"]) {
            assert!(seen.contains_key(*rule), "no input broke {rule}; seen: {seen:?}");
        }
        assert!(accepted.into_inner() > 5_000, "too few mutated extensions stayed valid");
    }

    /// Checks a result of `Message::parse` on `b`: an accepted message iterates to one typed
    /// extension per wire extension, of the kind its type names, re-emits from those values to
    /// `b`, and its typed values pass the message-level checks; a rejection by an extension rule
    /// is the one `Extension::parse` reports for that extension.
    fn check_message(b: &[u8], d: Dialect, parsed: &Result<Message<'_>, ParseError>) -> Result<(), String> {
        let starts = || {
            let mut at = 16;
            core::iter::from_fn(move || {
                let len = u16::from_ne_bytes([*b.get(at)?, *b.get(at + 1)?]) as usize * 8;
                let ext = (len > 0).then(|| b.get(at..at + len)).flatten()?;
                at += len;
                Some((at - len, ext))
            })
        };
        match parsed {
            Ok(m) => {
                let exts: Vec<_> = starts().collect();
                let decoded = m.extensions.to_vec();
                if decoded.len() != exts.len() || exts.iter().map(|(_, e)| e.len()).sum::<usize>() != b.len() - 16 {
                    return Err(format!("{} extensions decoded of {}", decoded.len(), exts.len()));
                }
                for (e, (_, w)) in decoded.iter().zip(&exts) {
                    let ty = u16::from_ne_bytes([w[2], w[3]]);
                    if e.kind() != ExtKind::from_number(ty, d) {
                        return Err(format!("type {ty} decoded as {e:?}"));
                    }
                }
                let owned = m.clone().into_owned();
                if owned.to_bytes(d).ok().as_deref() != Some(b) {
                    return Err("the decoded message re-emits to other bytes".into());
                }
                if let (Some(s), Some(t)) = (owned.address(ExtKind::AddressSrc), owned.address(ExtKind::AddressDst))
                    && s.addr.family(d) != t.addr.family(d)
                {
                    return Err("decoded SRC and DST families differ".into());
                }
                // An owned policy: the pair check on typed requests, not on the request headers.
                if owned.msg_type() == MessageType::XMigrate
                    && let Some(p) = owned.policy()
                    && let Err(r) = check_migrate_pairs(&p)
                {
                    return Err(format!("decoded MIGRATE policy breaks {r:?}"));
                }
            }
            Err(e)
                if EXTENSION_RULES.contains(&variant(&e.rule).as_str()) || variant(&e.rule) == "PairFamilyMismatch" =>
            {
                // Message::parse stops at the first extension that breaks a rule.
                let Some((start, ext, Err(got))) =
                    starts().map(|(at, w)| (at, w, Extension::parse(w, d))).find(|(_, _, p)| p.is_err())
                else {
                    return Err(format!("Extension::parse accepts every extension, Message::parse: {e:?}"));
                };
                let ty = u16::from_ne_bytes([ext[2], ext[3]]);
                if e.ext != Some(ty) || (start + got.0, &got.1) != (e.offset, &e.rule) {
                    return Err(format!("Extension::parse of type {ty} at {start}: {got:?}, Message::parse: {e:?}"));
                }
            }
            Err(_) => {}
        }
        Ok(())
    }
    /// Per message, over mutated valid messages: see [`check_message`].
    #[test]
    fn message_parse_decodes_what_it_accepts() {
        let seen = RefCell::new(BTreeMap::<String, usize>::new());
        let accepted = RefCell::new(0usize);
        for d in DIALECTS {
            let seeds = seed_messages(d);
            let mut r = runner(20_000);
            let strategy = (0..seeds.len(), vec(edit(), 1..4));
            r.run(&strategy, |(i, edits)| {
                let mut b = seeds[i].clone();
                for e in &edits {
                    apply(&mut b, e, 4, 2);
                }
                for pd in DIALECTS {
                    let parsed = Message::parse(&b, pd);
                    check_message(&b, pd, &parsed)
                        .map_err(|e| TestCaseError::fail(format!("in {pd}: {e}: {b:02x?}")))?;
                    match parsed {
                        Ok(_) => *accepted.borrow_mut() += 1,
                        Err(e) => {
                            *seen.borrow_mut().entry(variant(&e.rule)).or_default() += 1;
                        }
                    }
                }
                Ok(())
            })
            .unwrap();
        }
        let seen = seen.into_inner();
        let message_rules = [
            "PairFamilyMismatch",
            "DuplicateExt",
            "SrcDstFamilyMismatch",
            "MigrateOddRequests",
            "MigratePairMismatch",
            "MigrateNoPairs",
            "MigrateTooManyPairs",
            "ExtPastEnd",
            "ExtZeroLength",
        ];
        for rule in EXTENSION_RULES.iter().chain(&message_rules) {
            assert!(seen.contains_key(*rule), "no input broke {rule}; seen: {seen:?}");
        }
        assert!(accepted.into_inner() > 5_000, "too few mutated messages stayed valid");
    }

    /// Every one-byte edit of every extension, in both dialects: see [`check_extension`].
    #[test]
    fn extension_parse_on_every_byte_edit() {
        for d in DIALECTS {
            for v6 in [false, true] {
                for e in every_extension(d, v6) {
                    if e.kind().is_none() {
                        continue;
                    }
                    let mut good = Vec::new();
                    e.emit(&mut good, d).unwrap();
                    // Every byte of every extension set to every value.
                    for at in 0..good.len() {
                        for v in 0..=255u8 {
                            let mut b = good.clone();
                            b[at] = v;
                            // The caller names the kind the header's type field gives.
                            let Some(kind) = ExtKind::from_number(u16::from_ne_bytes([b[2], b[3]]), d) else {
                                continue;
                            };
                            if let Err(e) = check_extension(&b, kind, d) {
                                panic!("{kind:?} in {d}, byte {at} = {v}: {e}: {b:02x?}");
                            }
                        }
                    }
                }
            }
        }
    }
}

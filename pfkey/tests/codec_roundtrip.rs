//! Round-trip properties of the message layer, in both dialects.
//!
//! - Canonical messages (every `trailing` is `None`) of every message type (1–24) with every
//!   extension type of the dialect plus unknown types: `parse(emit(m)) == m`, the parsed message
//!   re-emits the same bytes (both straight from the wire view and after `into_owned`), parsing
//!   gives `trailing: None` everywhere, and the JSON form reads back to the same message.
//! - Mutated messages (byte flips, truncations, length fix-ups): parsing never panics; it either
//!   fails with a typed error whose offset lies inside the input, or succeeds and the owned copy
//!   re-emits the mutated bytes exactly.

use std::borrow::Cow;
use std::cell::Cell;

use pfkey::message::*;
use pfkey::wire::Dialect;
use pfkey::wire::numbers::*;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::subsequence;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

const DIALECTS: [Dialect; 2] = [Dialect::Linux, Dialect::FreeBsd];

// ---------------------------------------------------------------------------------------------
// Strategies

fn sockaddr(v6: bool) -> BoxedStrategy<SockAddr> {
    if v6 {
        (any::<[u8; 16]>(), any::<u16>(), any::<u32>(), any::<u32>())
            .prop_map(|(a, port, flowinfo, scope_id)| SockAddr::V6 { addr: a.into(), port, flowinfo, scope_id })
            .boxed()
    } else {
        (any::<[u8; 4]>(), any::<u16>(), prop_oneof![3 => Just([0u8; 8]), 1 => any::<[u8; 8]>()])
            .prop_map(|(a, port, zero)| SockAddr::V4 { addr: a.into(), port, zero })
            .boxed()
    }
}

/// Two addresses of one family (KMADDRESS, ipsecrequest endpoints).
fn pair() -> BoxedStrategy<(SockAddr, SockAddr)> {
    any::<bool>().prop_flat_map(|v6| (sockaddr(v6), sockaddr(v6))).boxed()
}

fn address(v6: bool) -> BoxedStrategy<Address<'static>> {
    let max: u8 = if v6 { 128 } else { 32 };
    (any::<u8>(), 0..=max, any::<u16>(), sockaddr(v6))
        .prop_map(|(proto, prefixlen, reserved, addr)| Address { proto, prefixlen, reserved, addr, trailing: None })
        .boxed()
}

fn lifetime() -> BoxedStrategy<Lifetime> {
    (any::<u32>(), any::<u64>(), any::<u64>(), any::<u64>())
        .prop_map(|(allocations, bytes, addtime, usetime)| Lifetime { allocations, bytes, addtime, usetime })
        .boxed()
}

fn bytes(max_words: usize) -> BoxedStrategy<Vec<u8>> {
    (0..=max_words).prop_flat_map(|w| vec(any::<u8>(), w * 8)).boxed()
}

fn key() -> BoxedStrategy<Key<'static>> {
    (0usize..=64)
        .prop_flat_map(|n| {
            // Any bit count whose byte count is exactly n.
            let bits = if n == 0 { 0u16..=0 } else { (n as u16 * 8 - 7)..=(n as u16 * 8) };
            (vec(any::<u8>(), n), bits, any::<u16>())
        })
        .prop_map(|(k, bits, reserved)| Key { bits, reserved, key: Cow::Owned(k), trailing: None })
        .boxed()
}

fn ident() -> BoxedStrategy<Ident<'static>> {
    (any::<u16>(), any::<u16>(), any::<u64>(), vec(1u8..=255, 0..40))
        .prop_map(|(t, reserved, id, s)| Ident {
            ident_type: IdentType::from(t),
            reserved,
            id,
            string: Cow::Owned(s),
            trailing: None,
        })
        .boxed()
}

fn sens() -> BoxedStrategy<Sens<'static>> {
    (any::<u32>(), any::<u8>(), any::<u8>(), any::<u32>(), bytes(4), bytes(4))
        .prop_map(|(dpd, sens_level, integ_level, reserved, s, i)| Sens {
            dpd,
            sens_level,
            integ_level,
            reserved,
            sens_bitmap: Cow::Owned(s),
            integ_bitmap: Cow::Owned(i),
            trailing: None,
        })
        .boxed()
}

fn comb() -> BoxedStrategy<Comb> {
    (
        (any::<u8>(), any::<u8>(), any::<u16>(), any::<u16>(), any::<u16>(), any::<u16>(), any::<u16>(), any::<u32>()),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
        ),
    )
        .prop_map(|((a, e, flags, amin, amax, emin, emax, reserved), (sa, ha, sb, hb, sad, had, su, hu))| Comb {
            auth: DefaultNone(AuthAlg::from(a)),
            encrypt: DefaultNone(EncryptAlg::from(e)),
            flags,
            auth_minbits: amin,
            auth_maxbits: amax,
            encrypt_minbits: emin,
            encrypt_maxbits: emax,
            reserved,
            soft_allocations: sa,
            hard_allocations: ha,
            soft_bytes: sb,
            hard_bytes: hb,
            soft_addtime: sad,
            hard_addtime: had,
            soft_usetime: su,
            hard_usetime: hu,
        })
        .boxed()
}

fn supported() -> BoxedStrategy<Supported<'static>> {
    let alg = (any::<u8>(), any::<u8>(), any::<u16>(), any::<u16>(), any::<u16>())
        .prop_map(|(id, ivlen, minbits, maxbits, reserved)| Alg { id, ivlen, minbits, maxbits, reserved });
    (any::<u32>(), vec(alg, 0..6)).prop_map(|(reserved, algs)| Supported { reserved, algs: algs.into() }).boxed()
}

fn mode() -> BoxedStrategy<Mode> {
    prop_oneof![
        3 => Just(Mode::Transport),
        3 => Just(Mode::Tunnel),
        3 => Just(Mode::Beet),
        1 => Just(Mode::Any),
        1 => any::<u8>().prop_map(Mode::from),
    ]
    .boxed()
}

fn reqid(d: Dialect) -> BoxedStrategy<u32> {
    match d {
        Dialect::Linux => any::<u32>().boxed(),
        Dialect::FreeBsd => (0u32..=65535).boxed(),
    }
}

fn reserved12(d: Dialect) -> BoxedStrategy<(u16, u32)> {
    match d {
        Dialect::Linux => (any::<u16>(), any::<u32>()).boxed(),
        Dialect::FreeBsd => Just((0, 0)).boxed(),
    }
}

/// One request: tunnel and BEET requests carry endpoints, transport ones none (and, rarely,
/// the other way round: the parser does not tie endpoints to the mode).
fn request(d: Dialect) -> BoxedStrategy<IpsecRequest<'static>> {
    (any::<u16>(), mode(), any::<u8>(), reqid(d), reserved12(d), pair(), 0..10u8)
        .prop_map(|(proto, mode, level, reqid, (r1, r2), (src, dst), odd)| {
            let endpoints = (mode.has_endpoints() != (odd == 0)).then_some(Endpoints { src, dst });
            IpsecRequest {
                proto,
                mode,
                level: Level::from(level),
                reqid,
                reserved1: r1,
                reserved2: r2,
                endpoints,
                trailing: None,
            }
        })
        .boxed()
}

/// 1..=6 old/new pairs that satisfy `pfkey_migrate`: equal proto, mode and reqid per pair; the
/// families of the old and new endpoints may differ (a v4 → v6 move).
fn migrate_requests(d: Dialect) -> BoxedStrategy<Vec<IpsecRequest<'static>>> {
    let one_pair = (any::<u16>(), mode(), any::<u8>(), any::<u8>(), reqid(d), pair(), pair()).prop_map(
        |(proto, mode, l1, l2, reqid, (os, od), (ns, nd))| {
            let r = |level: u8, src, dst| IpsecRequest {
                proto,
                mode,
                level: Level::from(level),
                reqid,
                reserved1: 0,
                reserved2: 0,
                endpoints: Some(Endpoints { src, dst }),
                trailing: None,
            };
            [r(l1, os, od), r(l2, ns, nd)]
        },
    );
    vec(one_pair, 1..=6).prop_map(|v| v.into_iter().flatten().collect()).boxed()
}

fn policy(d: Dialect, migrate: bool) -> BoxedStrategy<Policy<'static>> {
    let requests = if migrate { migrate_requests(d) } else { vec(request(d), 0..4).boxed() };
    (any::<u16>(), any::<u8>(), any::<u8>(), any::<u32>(), any::<u32>(), requests)
        .prop_map(|(t, dir, reserved, id, priority, requests)| Policy {
            policy_type: PolicyType::from(t),
            dir: PolicyDir::from(dir),
            reserved,
            id,
            priority,
            requests: requests.into(),
        })
        .boxed()
}

fn port() -> BoxedStrategy<NatTPort> {
    (any::<u16>(), any::<u16>()).prop_map(|(port, reserved)| NatTPort { port, reserved }).boxed()
}

fn unknown() -> BoxedStrategy<Extension<'static>> {
    // 32 is SADB_X_EXT_INNER_ADDRESS_DST on Linux.
    (29u16..=u16::MAX, 0usize..4)
        .prop_filter("a known type", |(t, _)| *t != 32)
        .prop_flat_map(|(t, w)| (Just(t), vec(any::<u8>(), 4 + 8 * w)))
        .prop_map(|(ext_type, data)| Extension::Unknown(UnknownExt { ext_type, data: Cow::Owned(data) }))
        .boxed()
}

/// A canonical extension of `kind`; `v6` is the family of ADDRESS_SRC/DST.
fn extension(kind: ExtKind, d: Dialect, v6: bool, migrate: bool) -> BoxedStrategy<Extension<'static>> {
    use Extension as E;
    let any_address = || any::<bool>().prop_flat_map(address).boxed();
    match kind {
        ExtKind::Sa => (any::<u32>(), any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>(), any::<u32>())
            .prop_map(|(spi, replay, st, a, e, flags)| {
                E::Sa(Sa {
                    spi,
                    replay,
                    state: SaState::from(st),
                    auth: AuthAlg::from(a),
                    encrypt: EncryptAlg::from(e),
                    flags,
                })
            })
            .boxed(),
        ExtKind::LifetimeCurrent => lifetime().prop_map(E::LifetimeCurrent).boxed(),
        ExtKind::LifetimeHard => lifetime().prop_map(E::LifetimeHard).boxed(),
        ExtKind::LifetimeSoft => lifetime().prop_map(E::LifetimeSoft).boxed(),
        ExtKind::AddressSrc => address(v6).prop_map(E::AddressSrc).boxed(),
        ExtKind::AddressDst => address(v6).prop_map(E::AddressDst).boxed(),
        ExtKind::AddressProxy => any_address().prop_map(E::AddressProxy).boxed(),
        ExtKind::NatTOa => any_address().prop_map(E::NatTOa).boxed(),
        ExtKind::NatTOai => any_address().prop_map(E::NatTOai).boxed(),
        ExtKind::NatTOar => any_address().prop_map(E::NatTOar).boxed(),
        ExtKind::NewAddressSrc => any_address().prop_map(E::NewAddressSrc).boxed(),
        ExtKind::NewAddressDst => any_address().prop_map(E::NewAddressDst).boxed(),
        ExtKind::InnerAddressDst => any_address().prop_map(E::InnerAddressDst).boxed(),
        ExtKind::KeyAuth => key().prop_map(E::KeyAuth).boxed(),
        ExtKind::KeyEncrypt => key().prop_map(E::KeyEncrypt).boxed(),
        ExtKind::IdentitySrc => ident().prop_map(E::IdentitySrc).boxed(),
        ExtKind::IdentityDst => ident().prop_map(E::IdentityDst).boxed(),
        ExtKind::Sensitivity => sens().prop_map(E::Sensitivity).boxed(),
        ExtKind::Proposal => (any::<u8>(), any::<[u8; 3]>(), vec(comb(), 0..3))
            .prop_map(|(replay, reserved, combs)| {
                E::Proposal(Proposal { replay, reserved, combs: combs.into(), trailing: None })
            })
            .boxed(),
        ExtKind::SupportedAuth => supported().prop_map(E::SupportedAuth).boxed(),
        ExtKind::SupportedEncrypt => supported().prop_map(E::SupportedEncrypt).boxed(),
        ExtKind::SpiRange => (any::<u32>(), any::<u32>(), any::<u32>())
            .prop_map(|(min, max, reserved)| E::SpiRange(SpiRange { min, max, reserved }))
            .boxed(),
        ExtKind::KmPrivate => (any::<u32>(), bytes(4))
            .prop_map(|(reserved, data)| E::KmPrivate(KmPrivate { reserved, data: Cow::Owned(data) }))
            .boxed(),
        ExtKind::Policy => policy(d, migrate).prop_map(E::Policy).boxed(),
        ExtKind::Sa2 => (any::<u8>(), any::<u8>(), any::<u16>(), any::<u32>(), any::<u32>())
            .prop_map(|(m, reserved1, reserved2, sequence, reqid)| {
                E::Sa2(Sa2 { mode: Mode::from(m), reserved1, reserved2, sequence, reqid })
            })
            .boxed(),
        ExtKind::NatTType => (any::<u8>(), any::<[u8; 3]>())
            .prop_map(|(t, reserved)| E::NatTType(NatTTypeExt { nat_t_type: NatTType::from(t), reserved }))
            .boxed(),
        ExtKind::NatTSport => port().prop_map(E::NatTSport).boxed(),
        ExtKind::NatTDport => port().prop_map(E::NatTDport).boxed(),
        ExtKind::SecCtx => (any::<u8>(), any::<u8>(), vec(any::<u8>(), 0..100))
            .prop_map(|(alg, doi, ctx)| E::SecCtx(SecCtx { alg, doi, ctx: Cow::Owned(ctx), trailing: None }))
            .boxed(),
        ExtKind::KmAddress => (any::<u32>(), pair())
            .prop_map(|(reserved, (local, remote))| E::KmAddress(KmAddress { reserved, local, remote, trailing: None }))
            .boxed(),
        ExtKind::Filter => (any::<[u8; 16]>(), any::<[u8; 16]>(), any::<u16>(), any::<u8>(), any::<u8>())
            .prop_map(|(saddr, daddr, family, splen, dplen)| E::Filter(Filter { saddr, daddr, family, splen, dplen }))
            .boxed(),
        ExtKind::NatTFrag => (any::<u16>(), any::<u16>())
            .prop_map(|(fraglen, reserved)| E::NatTFrag(NatTFrag { fraglen, reserved }))
            .boxed(),
        ExtKind::SaReplay => any::<u32>().prop_map(|replay| E::SaReplay(SaReplay { replay })).boxed(),
    }
}

/// The extension kinds that have a number in `d`.
fn kinds(d: Dialect) -> Vec<ExtKind> {
    ExtKind::ALL.iter().copied().filter(|k| k.number(d).is_some()).collect()
}

fn build(
    msg_type: u8,
    (errno, satype, seq, pid): (u8, u8, u32, u32),
    exts: Vec<Extension<'static>>,
) -> Message<'static> {
    let mut m = Message::new(MessageType::from(msg_type), SaType::from(satype)).with_seq(seq).with_pid(pid);
    m = m.with_errno(errno);
    for e in exts {
        m.push(e);
    }
    m
}

/// A canonical message of `msg_type` in `d` carrying `ks` (in random order) and `n_unknown`
/// extensions of unknown types.
fn message_with(msg_type: u8, d: Dialect, ks: Vec<ExtKind>, n_unknown: usize) -> BoxedStrategy<Message<'static>> {
    (any::<bool>(), any::<(u8, u8, u32, u32)>())
        .prop_flat_map(move |(v6, hdr)| {
            let exts: Vec<_> = ks
                .iter()
                .map(|&k| extension(k, d, v6, msg_type == MessageType::XMigrate.value()))
                .chain((0..n_unknown).map(|_| unknown()))
                .collect();
            (Just(hdr), exts.prop_shuffle())
        })
        .prop_map(move |(hdr, exts)| build(msg_type, hdr, exts))
        .boxed()
}

/// A canonical message of any type with a random subset of the dialect's extensions.
fn message(d: Dialect) -> BoxedStrategy<Message<'static>> {
    let ks = kinds(d);
    let n = ks.len();
    (1u8..=24, subsequence(ks, 0..=n), 0usize..3)
        .prop_flat_map(move |(t, ks, n_unknown)| message_with(t, d, ks, n_unknown))
        .boxed()
}

// ---------------------------------------------------------------------------------------------
// Checks

/// Whether every `trailing` of `e` (and of its requests) is `None`.
fn canonical(e: &Extension<'_>) -> bool {
    use Extension as E;
    if let Some(a) = e.as_address() {
        return a.trailing.is_none();
    }
    match e {
        E::KeyAuth(k) | E::KeyEncrypt(k) => k.trailing.is_none(),
        E::IdentitySrc(i) | E::IdentityDst(i) => i.trailing.is_none(),
        E::Sensitivity(s) => s.trailing.is_none(),
        E::Proposal(p) => p.trailing.is_none(),
        E::SecCtx(c) => c.trailing.is_none(),
        E::KmAddress(k) => k.trailing.is_none(),
        E::Policy(p) => p.requests.iter().all(|r| r.trailing.is_none()),
        _ => true,
    }
}

fn words_of(b: &[u8]) -> u16 {
    u16::from_ne_bytes([b[4], b[5]])
}

/// All round-trip properties of one canonical message in one dialect.
fn check_canonical(m: &Message<'static>, d: Dialect) -> Vec<u8> {
    let bytes = m.to_bytes(d).unwrap_or_else(|e| panic!("emit in {d}: {e}\n{m:?}"));
    assert_eq!(bytes.len() % 8, 0);
    assert_eq!(words_of(&bytes) as usize * 8, bytes.len(), "sadb_msg_len counts the whole message");
    let p = Message::parse(&bytes, d).unwrap_or_else(|e| panic!("parse in {d}: {e}\n{m:?}"));
    assert_eq!(&p, m, "parse(emit(m)) == m in {d}");
    assert_eq!(p.extensions.len(), m.extensions.len());
    assert_eq!(p.to_bytes(d).unwrap(), bytes, "emit(parse(b)) == b (wire view) in {d}");
    let owned = p.clone().into_owned();
    assert!(matches!(owned.extensions, Extensions::Owned(_)));
    assert_eq!(owned.to_bytes(d).unwrap(), bytes, "emit(parse(b)) == b (owned copy) in {d}");
    for e in p.extensions.iter() {
        assert!(canonical(&e), "canonical input parsed with a trailing field: {e:?}");
    }
    let json = serde_json::to_string(&p).unwrap();
    let back: Message<'static> = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(&back, m, "JSON round trip");
    bytes
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() })
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(Config { cases: 512, failure_persistence: None, ..Config::default() })]

    #[test]
    fn linux_canonical_messages_round_trip(m in message(Dialect::Linux)) {
        check_canonical(&m, Dialect::Linux);
    }

    #[test]
    fn freebsd_canonical_messages_round_trip(m in message(Dialect::FreeBsd)) {
        check_canonical(&m, Dialect::FreeBsd);
    }

    #[test]
    fn migrate_messages_round_trip_and_read_back(m in message_with(24, Dialect::Linux, vec![
        ExtKind::KmAddress, ExtKind::AddressSrc, ExtKind::AddressDst, ExtKind::Policy,
    ], 0)) {
        let b = check_canonical(&m, Dialect::Linux);
        let p = Message::parse(&b, Dialect::Linux).unwrap();
        let mig = Migrate::from_message(&p).unwrap();
        let pol = m.policy().unwrap();
        prop_assert_eq!(mig.bundles.len() * 2, pol.requests.len());
        prop_assert_eq!(mig.dir, pol.dir);
        let k = m.kmaddress().unwrap();
        prop_assert_eq!(mig.kmaddress, Some((k.local, k.remote)));
    }
}

/// Every message type 1–24 with one instance of every extension type of the dialect (and three
/// unknown types), IPv4 and IPv6 SRC/DST, in both dialects: deterministic, so every
/// (type, extension) combination is covered on every run.
#[test]
fn every_message_type_with_every_extension_round_trips() {
    let mut runner = TestRunner::deterministic();
    let mut covered = 0;
    for d in DIALECTS {
        let ks = kinds(d);
        // Linux also has 32 (SADB_X_EXT_INNER_ADDRESS_DST).
        let n = if d == Dialect::Linux { 29 } else { 28 };
        assert_eq!(ks.len(), n, "{d} numbers 1..=28 (and 32 on Linux)");
        for t in 1u8..=24 {
            for _ in 0..4 {
                let m = message_with(t, d, ks.clone(), 3).new_tree(&mut runner).unwrap().current();
                assert_eq!(m.extensions.len(), n + 3);
                let b = check_canonical(&m, d);
                let p = Message::parse(&b, d).unwrap();
                for k in &ks {
                    assert!(p.has(*k), "{k} missing from type {t} in {d}");
                }
                covered += 1;
            }
        }
    }
    assert_eq!(covered, 2 * 24 * 4);
}

/// Canonical FreeBSD encodings differ from Linux ones exactly where the dialects differ:
/// sockaddrs start with `sa_len`, ipsecrequests are 8 bytes shorter.
#[test]
fn dialects_encode_sockaddrs_and_requests_differently() {
    let m = PolicySpec::esp_tunnel(
        Selector::new(SockAddr::new("10.0.0.0".parse().unwrap()), 8, SockAddr::new("10.1.0.0".parse().unwrap()), 16),
        PolicyDir::Outbound,
        SockAddr::new("192.0.2.1".parse().unwrap()),
        SockAddr::new("192.0.2.2".parse().unwrap()),
        7,
    )
    .message(MessageType::XSpdAdd);
    let l = check_canonical(&m, Dialect::Linux);
    let f = check_canonical(&m, Dialect::FreeBsd);
    assert_eq!(l.len(), 16 + 24 + 24 + 16 + 48);
    assert_eq!(f.len(), 16 + 24 + 24 + 16 + 40);
    assert_eq!(&l[16 + 8..16 + 10], &[2, 0], "Linux sin_family");
    assert_eq!(&f[16 + 8..16 + 10], &[16, 2], "FreeBSD sin_len, sin_family");
    // The Linux bytes are not a FreeBSD message (family byte 0) and vice versa.
    assert_eq!(Message::parse(&l, Dialect::FreeBsd).unwrap_err().rule, Rule::BadFamily(0));
    assert_eq!(Message::parse(&f, Dialect::Linux).unwrap_err().rule, Rule::BadFamily(0x0210));
}

// ---------------------------------------------------------------------------------------------
// Mutation

#[derive(Debug, Clone)]
enum Mutation {
    /// XOR the byte at (index mod len) with a non-zero value.
    Flip(usize, u8),
    /// Cut the message to (n mod (len + 1)) bytes.
    Truncate(usize),
    /// Cut to a multiple of 8 (at least 16) and fix `sadb_msg_len`, to get past the header check.
    TruncateFixLen(usize),
    /// Overwrite a 16-bit word at an even offset (length and type fields live there).
    SetU16(usize, u16),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        6 => (any::<usize>(), 1u8..=255).prop_map(|(i, v)| Mutation::Flip(i, v)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        2 => any::<usize>().prop_map(Mutation::TruncateFixLen),
        3 => (any::<usize>(), prop_oneof![0u16..=80, any::<u16>()]).prop_map(|(i, v)| Mutation::SetU16(i, v)),
    ]
}

fn apply(b: &mut Vec<u8>, m: &Mutation) {
    match *m {
        Mutation::Flip(i, v) if !b.is_empty() => {
            let n = b.len();
            b[i % n] ^= v;
        }
        Mutation::Truncate(n) => b.truncate(n % (b.len() + 1)),
        Mutation::TruncateFixLen(n) if b.len() >= 16 => {
            let words = 2 + n % (b.len() / 8 - 1);
            b.truncate(words * 8);
            b[4..6].copy_from_slice(&(words as u16).to_ne_bytes());
        }
        Mutation::SetU16(i, v) if b.len() >= 2 => {
            let at = (i % (b.len() / 2)) * 2;
            b[at..at + 2].copy_from_slice(&v.to_ne_bytes());
        }
        _ => {}
    }
}

/// What a parse of arbitrary bytes must satisfy: no panic; an error is typed and points inside
/// the input; a success re-emits exactly the input (also after `into_owned`), iterates, and
/// renders to JSON that reads back to the same message.
fn check_any(b: &[u8], d: Dialect) -> bool {
    match Message::parse(b, d) {
        Ok(p) => {
            assert_eq!(p.to_bytes(d).unwrap(), b);
            let owned = p.clone().into_owned();
            assert_eq!(owned.to_bytes(d).unwrap(), b, "owned re-emit of a valid message in {d}: {p:?}");
            assert_eq!(owned, p);
            let n = p.extensions.iter().count();
            assert_eq!(n, p.extensions.len());
            let json = serde_json::to_string(&p).unwrap();
            let back: Message<'static> = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
            assert_eq!(back, p, "JSON round trip of {json}");
            if p.msg_type() == MessageType::XMigrate && p.has(ExtKind::Policy) && p.has(ExtKind::AddressSrc) {
                let _ = Migrate::from_message(&p);
            }
            true
        }
        Err(e) => {
            assert!(e.offset <= b.len(), "{e} points past a {}-byte input", b.len());
            assert!(e.errno() == libc::EINVAL || e.errno() == libc::EMSGSIZE, "{e}");
            assert!(e.to_string().starts_with(&format!("byte {}", e.offset)), "{e}");
            false
        }
    }
}

/// Random flips, truncations and length rewrites of valid messages never panic, and whatever
/// still parses re-emits byte-exactly (non-canonical padding included).
#[test]
fn mutated_messages_never_panic_and_valid_ones_round_trip() {
    for d in DIALECTS {
        let ok = Cell::new(0usize);
        let err = Cell::new(0usize);
        let mut r = runner(3000);
        let strategy = (message(d), vec(mutation(), 1..4));
        r.run(&strategy, |(m, muts)| {
            let mut b = m.to_bytes(d).unwrap();
            for mu in &muts {
                apply(&mut b, mu);
            }
            for pd in DIALECTS {
                if check_any(&b, pd) {
                    ok.set(ok.get() + 1);
                } else {
                    err.set(err.get() + 1);
                }
            }
            Ok(())
        })
        .unwrap();
        // Both outcomes must be exercised, or the property says nothing.
        assert!(ok.get() > 300, "{d}: only {} mutated messages parsed", ok.get());
        assert!(err.get() > 300, "{d}: only {} mutated messages were rejected", err.get());
    }
}

/// Non-canonical bytes in every padding position of a MIGRATE survive parse → owned → emit.
#[test]
fn nonzero_padding_is_kept_and_re_emitted() {
    let sa = |s: &str| SockAddr::new(s.parse().unwrap());
    let m = Migrate {
        selector: Selector::new(sa("2001:db8:1::"), 48, sa("2001:db8:2::"), 48),
        dir: PolicyDir::Outbound,
        kmaddress: Some((sa("2001:db8::1"), sa("2001:db8::2"))),
        bundles: vec![MigrateBundle::new(
            IPPROTO_ESP,
            Mode::Tunnel,
            9,
            Endpoints { src: sa("2001:db8::1"), dst: sa("2001:db8::2") },
            Endpoints { src: sa("2001:db8::3"), dst: sa("2001:db8::2") },
        )],
        natt: None,
    }
    .message();
    let mut b = m.to_bytes(Dialect::Linux).unwrap();
    // SRC and DST: 8 + 28 = 36 bytes of content, 4 bytes of padding each.
    let src = 16 + 64;
    let dst = src + 40;
    b[src + 36] = 0xaa;
    b[dst + 39] = 0x55;
    let p = Message::parse(&b, Dialect::Linux).unwrap();
    assert_eq!(p.address(ExtKind::AddressSrc).unwrap().trailing.as_deref(), Some(&[0xaa, 0, 0, 0][..]));
    assert_eq!(p.address(ExtKind::AddressDst).unwrap().trailing.as_deref(), Some(&[0, 0, 0, 0x55][..]));
    assert_ne!(p, m, "non-canonical padding is content");
    assert_eq!(p.into_owned().to_bytes(Dialect::Linux).unwrap(), b);
}

/// `sadb_x_ipsecrequest_len` counts bytes and need not be a multiple of 8 (Linux's
/// `parse_ipsecrequests` only needs the requests to fit the policy): two 52-byte tunnel requests
/// (48 bytes of header and endpoints plus 4 extra bytes each) fill a 104-byte policy body.
#[test]
fn requests_of_unaligned_byte_length_re_emit_exactly() {
    let sin = |a: [u8; 4]| {
        let mut s = vec![2, 0, 0, 0];
        s.extend_from_slice(&a);
        s.extend_from_slice(&[0; 8]);
        s
    };
    let mut policy = vec![0, 0, 18, 0, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    for (i, extra) in [[0xde, 0xad, 0xbe, 0xef], [0, 0, 0, 0]].iter().enumerate() {
        let mut rq = vec![52, 0, 50, 0, 2, 3, 0, 0, 1 + i as u8, 0, 0, 0, 0, 0, 0, 0];
        rq.extend(sin([192, 0, 2, 1]));
        rq.extend(sin([198, 51, 100, 1]));
        rq.extend_from_slice(extra);
        policy.extend(rq);
    }
    assert_eq!(policy.len(), 16 + 104);
    policy[0] = (policy.len() / 8) as u8;
    let mut b = vec![2, 14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    b.extend(policy);
    b[4] = (b.len() / 8) as u8;

    let p = Message::parse(&b, Dialect::Linux).unwrap();
    let reqs = p.policy().unwrap().requests.to_vec();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].reqid, 1);
    assert_eq!(reqs[0].trailing.as_deref(), Some(&[0xde, 0xad, 0xbe, 0xef][..]));
    assert_eq!(reqs[1].trailing.as_deref(), Some(&[0, 0, 0, 0][..]), "4 zero bytes are not the canonical padding");
    assert_eq!(reqs[1].endpoints.unwrap().dst, SockAddr::new("198.51.100.1".parse().unwrap()));
    let owned = p.into_owned();
    assert_eq!(owned.to_bytes(Dialect::Linux).unwrap(), b);
}

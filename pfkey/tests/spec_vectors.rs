//! The test vectors of `spec/draft-pfkey-mobility.md` (Section 16), read from the draft itself.
//!
//! Every fenced block with the info string `hex vector=<name> dialect=<linux|freebsd>` is a
//! vector. Each is checked in both directions: its bytes decode to the typed values the draft
//! describes (asserted field by field), and the crate's builders (`UpdateAddresses`, `Migrate`
//! with `natt`, `NatT`, error headers) produce exactly its bytes. Where the in-memory kernel model
//! already implements the draft's behaviour for a vector (the address update, its errors, ENODATA
//! for encapsulation on AH), the model is driven with the vector's bytes and must answer with the
//! draft's reply bytes. Every Linux-dialect request vector is fed to the model configured as the
//! patched kernel (`ModelConfig::patched()`) in the setup the draft's prose describes, and the
//! model must answer with the reply, broadcast or error reply the draft states.
//!
//! Host-order fields in the draft are little-endian.
#![cfg(target_endian = "little")]

use std::collections::BTreeMap;
use std::time::Duration;

use pfkey::kernel::model::{ModelConfig, ModelKernel, ModelSa, ModelSocket};
use pfkey::kernel::{Channel, KernelError};
use pfkey::message::*;
use pfkey::wire::Dialect;
use pfkey::wire::numbers::*;

const DRAFT: &str = include_str!("../../spec/draft-pfkey-mobility.md");
const PID: u32 = 4242;

// ---------------------------------------------------------------------------------------------
// Reading the vectors out of the draft

/// Every vector of the draft by name: its dialect and bytes.
fn vectors() -> BTreeMap<String, (Dialect, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut lines = DRAFT.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(info) = line.trim().strip_prefix("```hex") else { continue };
        let mut name = None;
        let mut dialect = None;
        for word in info.split_whitespace() {
            match word.split_once('=') {
                Some(("vector", v)) => name = Some(v.to_string()),
                Some(("dialect", "linux")) => dialect = Some(Dialect::Linux),
                Some(("dialect", "freebsd")) => dialect = Some(Dialect::FreeBsd),
                _ => panic!("draft line {}: unknown word {word:?} in a vector's info string", n + 1),
            }
        }
        let name = name.unwrap_or_else(|| panic!("draft line {}: hex block without vector=", n + 1));
        let dialect = dialect.unwrap_or_else(|| panic!("draft line {}: vector {name} without dialect=", n + 1));
        let mut digits = String::new();
        loop {
            let (_, l) = lines.next().unwrap_or_else(|| panic!("vector {name}: unterminated block"));
            if l.trim_start().starts_with("```") {
                break;
            }
            digits.extend(l.split(';').next().unwrap().chars().filter(|c| !c.is_whitespace()));
        }
        assert!(digits.len().is_multiple_of(2), "vector {name}: odd number of hex digits");
        let bytes = (0..digits.len())
            .step_by(2)
            .map(|i| {
                u8::from_str_radix(&digits[i..i + 2], 16)
                    .unwrap_or_else(|_| panic!("vector {name}: not hex: {:?}", &digits[i..i + 2]))
            })
            .collect();
        assert!(out.insert(name.clone(), (dialect, bytes)).is_none(), "vector {name} appears twice");
    }
    out
}

/// One vector's bytes; it must have `dialect`.
#[track_caller]
fn vector(name: &str, dialect: Dialect) -> Vec<u8> {
    let (d, bytes) = vectors().remove(name).unwrap_or_else(|| panic!("the draft has no vector {name}"));
    assert_eq!(d, dialect, "vector {name}'s dialect");
    bytes
}

/// The vectors this file checks; the draft must have exactly these.
const CHECKED: &[&str] = &[
    "update-dst-v4",
    "update-both-v6",
    "update-family-v4-to-v6",
    "update-natt-on",
    "update-natt-off",
    "update-dst-v4-freebsd",
    "update-both-v6-freebsd",
    "migrate-natt-on-v4",
    "migrate-natt-off-v4",
    "migrate-broadcast-natt-on-v4",
    "migrate-broadcast-v4",
    "migrate-reply-v4",
    "update-unspecified-dst",
    "error-einval-update",
    "error-esrch-update",
    "error-eexist-update",
    "migrate-ah-natt-on",
    "error-enodata-migrate",
    "migrate-natt-type-without-ports",
    "error-einval-migrate",
    "update-natt-type1",
    "error-einval-update-natt-type1",
    "add-beet-inner-v4",
    "add-inner-tunnel",
    "error-einval-add-inner",
];

// ---------------------------------------------------------------------------------------------
// Helpers

fn sa(s: &str) -> SockAddr {
    SockAddr::new(s.parse().unwrap())
}

/// The builder's message emits exactly `bytes`, the bytes parse back to the same message, and a
/// parsed-then-owned copy re-emits them too.
#[track_caller]
fn builds_exactly(built: &Message<'_>, bytes: &[u8], d: Dialect) {
    let emitted = built.to_bytes(d).unwrap();
    assert_eq!(emitted, bytes, "builder output differs from the draft's vector");
    let parsed = Message::parse_request(bytes, d).unwrap();
    assert_eq!(&parsed, built);
    assert_eq!(parsed.into_owned().to_bytes(d).unwrap(), bytes);
}

/// The base header fields and the declared length.
#[track_caller]
fn header(m: &Message<'_>, bytes: &[u8], t: MessageType, satype: SaType, errno: u8, seq: u32, pid: u32) {
    assert_eq!(m.header.version, PF_KEY_V2);
    assert_eq!(m.msg_type(), t);
    assert_eq!(m.header.satype, satype);
    assert_eq!(m.errno(), errno);
    assert_eq!(m.header.reserved, 0);
    assert_eq!((m.header.seq, m.header.pid), (seq, pid));
    assert_eq!(u16::from_le_bytes([bytes[4], bytes[5]]) as usize * 8, bytes.len(), "sadb_msg_len");
}

/// A host address extension as the draft's requests carry it: proto any, full prefix, port 0.
#[track_caller]
fn host_address(m: &Message<'_>, kind: ExtKind, addr: &str) {
    let a = m.address(kind).unwrap_or_else(|| panic!("{kind} missing"));
    assert_eq!(a.addr, sa(addr), "{kind}");
    assert_eq!(a.addr.port(), 0, "{kind} port");
    assert_eq!((a.proto, a.prefixlen, a.reserved), (IPSEC_ULPROTO_ANY, a.addr.max_prefixlen(), 0), "{kind}");
}

/// `SADB_EXT_SA` as the draft's requests carry it: only the SPI matters, state MATURE.
#[track_caller]
fn sa_ext(m: &Message<'_>, spi: u32) {
    let s = m.sa().unwrap();
    assert_eq!(s.spi, spi);
    assert_eq!(s.state, SaState::Mature);
    assert_eq!((s.replay, s.auth, s.encrypt, s.flags), (0, AuthAlg::None, EncryptAlg::None, 0));
}

#[track_caller]
fn sa2_ext(m: &Message<'_>, mode: Mode, reqid: u32) {
    let s = m.sa2().unwrap();
    assert_eq!((s.mode, s.reqid, s.sequence), (mode, reqid, 0));
}

/// The NAT-T extensions: type, and both ports when given.
#[track_caller]
fn natt_ext(m: &Message<'_>, t: NatTType, ports: Option<(u16, u16)>) {
    assert_eq!(m.nat_t_type().unwrap().nat_t_type, t);
    let sport = m.nat_t_port(ExtKind::NatTSport).map(|p| p.port);
    let dport = m.nat_t_port(ExtKind::NatTDport).map(|p| p.port);
    assert_eq!(sport.zip(dport), ports);
}

fn kinds(m: &Message<'_>) -> Vec<ExtKind> {
    m.extensions.iter().map(|e| e.kind().expect("a known extension")).collect()
}

fn no_keys(m: &Message<'_>) {
    assert!(!m.has(ExtKind::KeyAuth) && !m.has(ExtKind::KeyEncrypt), "an address update carries no key");
}

fn update(spi: u32, src: &str, dst: &str, reqid: u32) -> UpdateAddresses {
    UpdateAddresses {
        satype: SaType::Esp,
        spi,
        src: sa(src),
        dst: sa(dst),
        mode: Mode::Tunnel,
        reqid,
        new_src: None,
        new_dst: None,
        natt: None,
    }
}

fn migrate(
    old: (&str, &str),
    new: (&str, &str),
    proto: u16,
    reqid: u32,
    km_local: &str,
    natt: Option<NatT>,
) -> Migrate {
    Migrate {
        selector: Selector::new(sa("10.1.0.0"), 16, sa("10.2.0.0"), 16),
        dir: PolicyDir::Outbound,
        kmaddress: Some((sa(km_local), sa("198.51.100.1"))),
        bundles: vec![MigrateBundle::new(
            proto,
            Mode::Tunnel,
            reqid,
            Endpoints { src: sa(old.0), dst: sa(old.1) },
            Endpoints { src: sa(new.0), dst: sa(new.1) },
        )],
        natt,
    }
}

/// An error reply: the request's header with the errno, no extensions.
#[track_caller]
fn error_reply(name: &str, t: MessageType, satype: SaType, errno: i32, seq: u32) {
    let bytes = vector(name, Dialect::Linux);
    assert_eq!(bytes.len(), 16);
    let m = Message::parse(&bytes, Dialect::Linux).unwrap();
    header(&m, &bytes, t, satype, errno as u8, seq, PID);
    assert!(m.extensions.is_empty());
    let built = Message::new(t, satype).with_seq(seq).with_pid(PID).with_errno(errno as u8);
    builds_exactly(&built, &bytes, Dialect::Linux);
}

// ---------------------------------------------------------------------------------------------
// The model, where it implements the draft already

fn patched() -> (ModelKernel, ModelSocket) {
    let k = ModelKernel::with_config(ModelConfig::patched());
    let s = k.socket();
    (k, s)
}

fn recv(s: &mut ModelSocket) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    s.recv(&mut buf, Some(Duration::ZERO)).unwrap().then_some(buf)
}

fn drain(s: &mut ModelSocket) {
    while recv(s).is_some() {}
}

fn add_ok(s: &mut ModelSocket, spec: &SaSpec) {
    let pid = s.pid();
    s.send(&add(spec).with_seq(1).with_pid(pid).to_bytes(Dialect::Linux).unwrap()).unwrap();
    let r = recv(s).expect("an ADD reply");
    assert_eq!(Message::parse(&r, Dialect::Linux).unwrap().errno(), 0, "ADD of {spec:?}");
    drain(s);
}

/// Sends `bytes` (a vector, with its own seq and pid) and returns the first answer.
fn ask(s: &mut ModelSocket, bytes: &[u8]) -> Result<Vec<u8>, KernelError> {
    s.send(bytes)?;
    Ok(recv(s).expect("an answer"))
}

fn with_seq(mut bytes: Vec<u8>, seq: u32) -> Vec<u8> {
    bytes[8..12].copy_from_slice(&seq.to_le_bytes());
    bytes
}

fn esp(spi: u32, src: &str, dst: &str, reqid: u32) -> SaSpec {
    SaSpec::esp_tunnel_gcm(spi, sa(src), sa(dst), reqid, &[0x11; 20])
}

fn find(k: &ModelKernel, spi: u32, dst: &str) -> Option<ModelSa> {
    k.sad().into_iter().find(|x| x.spi == spi && x.dst == sa(dst))
}

/// Runs an address update vector against the patched model: the SA `spec` (with some traffic on
/// it) moves, every listener gets the request back byte for byte, and everything but the
/// addresses and the encapsulation is preserved.
fn model_moves(name: &str, spec: SaSpec, new: (&str, &str), natt: Option<NatT>) {
    let bytes = vector(name, Dialect::Linux);
    let (k, mut s) = patched();
    let mut other = k.socket();
    add_ok(&mut s, &spec);
    drain(&mut other);
    k.traffic(spec.dst, spec.spi, spec.satype, 5, 500).unwrap();
    let before = find(&k, spec.spi, &spec.dst.to_string()).unwrap();
    assert_eq!(ask(&mut s, &bytes).unwrap(), bytes, "{name}: the reply is the request");
    assert_eq!(recv(&mut other).unwrap(), bytes, "{name}: every listener gets the reply");
    assert_eq!(k.sad().len(), 1, "{name}: one SA before, one after");
    let after = find(&k, spec.spi, new.1).unwrap_or_else(|| panic!("{name}: no SA at the new destination"));
    let mut expected = before.clone();
    expected.src = sa(new.0);
    expected.dst = sa(new.1);
    expected.natt = natt;
    expected.order = after.order;
    assert_eq!(after, expected, "{name}: SPI, keys, counters, replay state and lifetimes are preserved");
    assert_eq!((after.current.allocations, after.replay.oseq), (5, 5));
}

// ---------------------------------------------------------------------------------------------
// The vector set

#[test]
fn the_draft_has_exactly_the_checked_vectors() {
    let names: Vec<String> = vectors().into_keys().collect();
    let mut checked: Vec<String> = CHECKED.iter().map(|s| s.to_string()).collect();
    checked.sort();
    assert_eq!(names, checked);
}

#[test]
fn every_vector_parses_and_reemits_byte_for_byte() {
    for (name, (d, bytes)) in vectors() {
        let m = Message::parse_request(&bytes, d).unwrap_or_else(|e| panic!("vector {name}: {e}"));
        assert_eq!(u16::from_le_bytes([bytes[4], bytes[5]]) as usize * 8, bytes.len(), "{name}: sadb_msg_len");
        assert_eq!(m.clone().into_owned().to_bytes(d).unwrap(), bytes, "{name}: re-emit");
        for e in m.extensions.iter() {
            assert!(e.kind().is_some(), "{name}: every extension is known in its dialect");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 16.1 - 16.6: the address update

#[test]
fn update_new_address_dst_only_ipv4() {
    let bytes = vector("update-dst-v4", Dialect::Linux);
    assert_eq!(bytes.len(), 120);
    let m = Message::parse(&bytes, Dialect::Linux).unwrap();
    header(&m, &bytes, MessageType::Update, SaType::Esp, 0, 7, PID);
    use ExtKind as K;
    assert_eq!(kinds(&m), [K::Sa, K::Sa2, K::AddressSrc, K::AddressDst, K::NewAddressDst]);
    sa_ext(&m, 0xc0de_0001);
    sa2_ext(&m, Mode::Tunnel, 1);
    host_address(&m, K::AddressSrc, "192.0.2.10");
    host_address(&m, K::AddressDst, "198.51.100.1");
    host_address(&m, K::NewAddressDst, "203.0.113.1");
    assert_eq!(ExtKind::NewAddressDst.number(Dialect::Linux), Some(28));
    assert_eq!(u16::from_le_bytes([bytes[98], bytes[99]]), 28, "NEW_ADDRESS_DST at offset 96");
    no_keys(&m);
    let u =
        UpdateAddresses { new_dst: Some(sa("203.0.113.1")), ..update(0xc0de_0001, "192.0.2.10", "198.51.100.1", 1) };
    assert_eq!(UpdateAddresses::from_message(&m), Some(u.clone()));
    builds_exactly(&u.message().with_seq(7).with_pid(PID), &bytes, Dialect::Linux);
}

#[test]
fn update_both_addresses_ipv6() {
    let bytes = vector("update-both-v6", Dialect::Linux);
    assert_eq!(bytes.len(), 208);
    let m = Message::parse(&bytes, Dialect::Linux).unwrap();
    header(&m, &bytes, MessageType::Update, SaType::Esp, 0, 8, PID);
    use ExtKind as K;
    assert_eq!(kinds(&m), [K::Sa, K::Sa2, K::AddressSrc, K::AddressDst, K::NewAddressSrc, K::NewAddressDst]);
    sa_ext(&m, 0xc0de_0002);
    sa2_ext(&m, Mode::Tunnel, 2);
    host_address(&m, K::AddressSrc, "2001:db8:1::10");
    host_address(&m, K::AddressDst, "2001:db8:2::1");
    host_address(&m, K::NewAddressSrc, "2001:db8:3::10");
    host_address(&m, K::NewAddressDst, "2001:db8:4::1");
    no_keys(&m);
    let u = UpdateAddresses {
        new_src: Some(sa("2001:db8:3::10")),
        new_dst: Some(sa("2001:db8:4::1")),
        ..update(0xc0de_0002, "2001:db8:1::10", "2001:db8:2::1", 2)
    };
    assert_eq!(UpdateAddresses::from_message(&m), Some(u.clone()));
    builds_exactly(&u.message().with_seq(8).with_pid(PID), &bytes, Dialect::Linux);
}

#[test]
fn update_family_change_ipv4_to_ipv6() {
    let bytes = vector("update-family-v4-to-v6", Dialect::Linux);
    assert_eq!(bytes.len(), 176);
    let m = Message::parse(&bytes, Dialect::Linux).unwrap();
    header(&m, &bytes, MessageType::Update, SaType::Esp, 0, 9, PID);
    sa_ext(&m, 0xc0de_0003);
    sa2_ext(&m, Mode::Tunnel, 3);
    host_address(&m, ExtKind::AddressSrc, "192.0.2.10");
    host_address(&m, ExtKind::AddressDst, "198.51.100.1");
    host_address(&m, ExtKind::NewAddressSrc, "2001:db8:3::10");
    host_address(&m, ExtKind::NewAddressDst, "2001:db8:2::1");
    let u = UpdateAddresses::from_message(&m).unwrap();
    assert!(!u.src.is_v6() && !u.dst.is_v6(), "old pair IPv4");
    assert!(u.new_src.unwrap().is_v6() && u.new_dst.unwrap().is_v6(), "new pair IPv6");
    let built = UpdateAddresses {
        new_src: Some(sa("2001:db8:3::10")),
        new_dst: Some(sa("2001:db8:2::1")),
        ..update(0xc0de_0003, "192.0.2.10", "198.51.100.1", 3)
    };
    assert_eq!(u, built);
    builds_exactly(&built.message().with_seq(9).with_pid(PID), &bytes, Dialect::Linux);
}

#[test]
fn update_with_natt_on() {
    let bytes = vector("update-natt-on", Dialect::Linux);
    assert_eq!(bytes.len(), 144);
    let m = Message::parse(&bytes, Dialect::Linux).unwrap();
    header(&m, &bytes, MessageType::Update, SaType::Esp, 0, 10, PID);
    use ExtKind as K;
    assert_eq!(
        kinds(&m),
        [K::Sa, K::Sa2, K::AddressSrc, K::AddressDst, K::NewAddressSrc, K::NatTType, K::NatTSport, K::NatTDport]
    );
    sa_ext(&m, 0xc0de_0004);
    host_address(&m, K::NewAddressSrc, "203.0.113.7");
    assert!(!m.has(K::NewAddressDst));
    natt_ext(&m, NatTType::EspInUdp, Some((4500, 4500)));
    assert_eq!(&bytes[140..142], &[0x11, 0x94], "the destination port is in network order");
    let u = UpdateAddresses {
        new_src: Some(sa("203.0.113.7")),
        natt: Some(NatT::esp_in_udp(4500, 4500)),
        ..update(0xc0de_0004, "192.0.2.10", "198.51.100.1", 4)
    };
    assert_eq!(UpdateAddresses::from_message(&m), Some(u.clone()));
    builds_exactly(&u.message().with_seq(10).with_pid(PID), &bytes, Dialect::Linux);
}

#[test]
fn encapsulation_only_update_natt_off() {
    let bytes = vector("update-natt-off", Dialect::Linux);
    assert_eq!(bytes.len(), 120);
    let m = Message::parse(&bytes, Dialect::Linux).unwrap();
    header(&m, &bytes, MessageType::Update, SaType::Esp, 0, 11, PID);
    sa_ext(&m, 0xc0de_0004);
    host_address(&m, ExtKind::AddressSrc, "203.0.113.7");
    host_address(&m, ExtKind::AddressDst, "198.51.100.1");
    assert!(!m.has(ExtKind::NewAddressSrc) && !m.has(ExtKind::NewAddressDst));
    no_keys(&m);
    natt_ext(&m, NatTType::None, Some((0, 0)));
    assert_eq!(NatT::from_message(&m), Some(NatT { nat_t_type: NatTType::None, sport: 0, dport: 0 }));
    // No new address: not an address move for the typed reader, but the builder composes it.
    assert_eq!(UpdateAddresses::from_message(&m), None);
    let u = UpdateAddresses {
        natt: Some(NatT { nat_t_type: NatTType::None, sport: 0, dport: 0 }),
        ..update(0xc0de_0004, "203.0.113.7", "198.51.100.1", 4)
    };
    builds_exactly(&u.message().with_seq(11).with_pid(PID), &bytes, Dialect::Linux);
}

#[test]
fn freebsd_dialect_update_differs_only_in_the_sockaddr_headers() {
    let bsd = vector("update-dst-v4-freebsd", Dialect::FreeBsd);
    let linux = vector("update-dst-v4", Dialect::Linux);
    assert_eq!(bsd.len(), linux.len());
    let differing: Vec<usize> = (0..bsd.len()).filter(|&i| bsd[i] != linux[i]).collect();
    // The first two bytes of each of the three sockaddrs (at 56, 80, 104): `02 00` (Linux u16
    // AF_INET) against `10 02` (FreeBSD sa_len 16, AF_INET 2).
    assert_eq!(differing, [56, 57, 80, 81, 104, 105]);
    for at in [56, 80, 104] {
        assert_eq!((bsd[at], bsd[at + 1]), (16, 2));
        assert_eq!((linux[at], linux[at + 1]), (2, 0));
    }
    let m = Message::parse(&bsd, Dialect::FreeBsd).unwrap();
    header(&m, &bsd, MessageType::Update, SaType::Esp, 0, 7, PID);
    sa_ext(&m, 0xc0de_0001);
    host_address(&m, ExtKind::NewAddressDst, "203.0.113.1");
    assert_eq!(ExtKind::NewAddressDst.number(Dialect::FreeBsd), Some(28));
    let u =
        UpdateAddresses { new_dst: Some(sa("203.0.113.1")), ..update(0xc0de_0001, "192.0.2.10", "198.51.100.1", 1) };
    assert_eq!(UpdateAddresses::from_message(&m), Some(u.clone()));
    builds_exactly(&u.message().with_seq(7).with_pid(PID), &bsd, Dialect::FreeBsd);
    // The same typed message, emitted in the other dialect, gives the Linux vector.
    assert_eq!(m.into_owned().to_bytes(Dialect::Linux).unwrap(), linux);
}

#[test]
fn freebsd_dialect_update_ipv6() {
    let bytes = vector("update-both-v6-freebsd", Dialect::FreeBsd);
    assert_eq!(bytes.len(), 208);
    let m = Message::parse(&bytes, Dialect::FreeBsd).unwrap();
    header(&m, &bytes, MessageType::Update, SaType::Esp, 0, 8, PID);
    for at in [56, 96, 136, 176] {
        assert_eq!((bytes[at], bytes[at + 1]), (28, AF_INET6_FREEBSD as u8), "sa_len 28, AF_INET6 28");
    }
    host_address(&m, ExtKind::NewAddressSrc, "2001:db8:3::10");
    host_address(&m, ExtKind::NewAddressDst, "2001:db8:4::1");
    let u = UpdateAddresses {
        new_src: Some(sa("2001:db8:3::10")),
        new_dst: Some(sa("2001:db8:4::1")),
        ..update(0xc0de_0002, "2001:db8:1::10", "2001:db8:2::1", 2)
    };
    assert_eq!(UpdateAddresses::from_message(&m), Some(u.clone()));
    builds_exactly(&u.message().with_seq(8).with_pid(PID), &bytes, Dialect::FreeBsd);
    assert_eq!(m.into_owned().to_bytes(Dialect::Linux).unwrap(), vector("update-both-v6", Dialect::Linux));
}

// ---------------------------------------------------------------------------------------------
// 16.7 - 16.9: MIGRATE with NAT-T, its broadcast and its reply

#[track_caller]
fn check_migrate(m: &Message<'_>, expected: &Migrate) {
    use ExtKind as K;
    let mut want = vec![K::KmAddress, K::AddressSrc, K::AddressDst, K::Policy];
    if expected.natt.is_some() {
        want.extend([K::NatTType, K::NatTSport, K::NatTDport]);
    }
    assert_eq!(kinds(m), want);
    let p = m.policy().unwrap();
    assert_eq!((p.policy_type, p.dir, p.id, p.priority), (PolicyType::Ipsec, PolicyDir::Outbound, 0, 0));
    let r = p.requests.to_vec();
    assert_eq!(r.len(), 2, "one bundle: old and new request");
    for q in &r {
        assert_eq!((q.proto, q.mode, q.level), (expected.bundles[0].proto, Mode::Tunnel, Level::Unique));
        assert_eq!(q.reqid, expected.bundles[0].reqid);
    }
    assert_eq!(r[0].endpoints, Some(expected.bundles[0].old));
    assert_eq!(r[1].endpoints, Some(expected.bundles[0].new));
    assert_eq!(&Migrate::from_message(m).unwrap(), expected);
}

#[test]
fn migrate_with_natt_on() {
    let bytes = vector("migrate-natt-on-v4", Dialect::Linux);
    assert_eq!(bytes.len(), 240);
    let m = Message::parse(&bytes, Dialect::Linux).unwrap();
    header(&m, &bytes, MessageType::XMigrate, SaType::Esp, 0, 12, PID);
    natt_ext(&m, NatTType::EspInUdp, Some((4500, 4500)));
    let k = m.kmaddress().unwrap();
    assert_eq!((k.local, k.remote, k.reserved), (sa("203.0.113.7"), sa("198.51.100.1"), 0));
    let sel = Selector::from_message(&m).unwrap();
    assert_eq!((sel.src, sel.src_prefixlen, sel.dst, sel.dst_prefixlen), (sa("10.1.0.0"), 16, sa("10.2.0.0"), 16));
    assert_eq!(sel.proto, IPSEC_ULPROTO_ANY);
    let mig = migrate(
        ("192.0.2.10", "198.51.100.1"),
        ("203.0.113.7", "198.51.100.1"),
        IPPROTO_ESP,
        1,
        "203.0.113.7",
        Some(NatT::esp_in_udp(4500, 4500)),
    );
    check_migrate(&m, &mig);
    builds_exactly(&mig.message().with_seq(12).with_pid(PID), &bytes, Dialect::Linux);
}

#[test]
fn migrate_with_natt_off() {
    let bytes = vector("migrate-natt-off-v4", Dialect::Linux);
    assert_eq!(bytes.len(), 240);
    let m = Message::parse(&bytes, Dialect::Linux).unwrap();
    header(&m, &bytes, MessageType::XMigrate, SaType::Esp, 0, 13, PID);
    natt_ext(&m, NatTType::None, Some((0, 0)));
    let mig = migrate(
        ("203.0.113.7", "198.51.100.1"),
        ("192.0.2.10", "198.51.100.1"),
        IPPROTO_ESP,
        1,
        "192.0.2.10",
        Some(NatT { nat_t_type: NatTType::None, sport: 0, dport: 0 }),
    );
    check_migrate(&m, &mig);
    builds_exactly(&mig.message().with_seq(13).with_pid(PID), &bytes, Dialect::Linux);
}

#[test]
fn migrate_broadcast_is_stock_linux_seq_0_pid_0_without_natt() {
    let bytes = vector("migrate-broadcast-v4", Dialect::Linux);
    assert_eq!(bytes.len(), 216);
    let m = Message::parse(&bytes, Dialect::Linux).unwrap();
    header(&m, &bytes, MessageType::XMigrate, SaType::Esp, 0, 0, 0);
    assert!(!m.has(ExtKind::NatTType) && !m.has(ExtKind::NatTSport) && !m.has(ExtKind::NatTDport));
    // pfkey_send_migrate writes the selector's xfrm protocol: 0 for "any".
    assert_eq!(m.address(ExtKind::AddressSrc).unwrap().proto, 0);
    assert_eq!(m.address(ExtKind::AddressDst).unwrap().proto, 0);
    let mut mig =
        migrate(("192.0.2.10", "198.51.100.1"), ("203.0.113.7", "198.51.100.1"), IPPROTO_ESP, 1, "203.0.113.7", None);
    mig.selector.proto = 0;
    check_migrate(&m, &mig);
    builds_exactly(&mig.message(), &bytes, Dialect::Linux);
}

#[test]
fn migrate_broadcast_with_natt_ends_with_the_natt_extensions() {
    let bytes = vector("migrate-broadcast-natt-on-v4", Dialect::Linux);
    assert_eq!(bytes.len(), 240);
    let m = Message::parse(&bytes, Dialect::Linux).unwrap();
    header(&m, &bytes, MessageType::XMigrate, SaType::Esp, 0, 0, 0);
    natt_ext(&m, NatTType::EspInUdp, Some((4500, 4500)));
    assert_eq!(m.address(ExtKind::AddressSrc).unwrap().proto, 0);
    let mut mig = migrate(
        ("192.0.2.10", "198.51.100.1"),
        ("203.0.113.7", "198.51.100.1"),
        IPPROTO_ESP,
        1,
        "203.0.113.7",
        Some(NatT::esp_in_udp(4500, 4500)),
    );
    mig.selector.proto = 0;
    check_migrate(&m, &mig);
    builds_exactly(&mig.message(), &bytes, Dialect::Linux);
    // Without its last 24 bytes (and with sadb_msg_len 27) it is the stock broadcast.
    let mut stock = bytes[..216].to_vec();
    stock[4..6].copy_from_slice(&27u16.to_le_bytes());
    assert_eq!(stock, vector("migrate-broadcast-v4", Dialect::Linux));
    // Its NAT-T extensions are the request's, byte for byte.
    assert_eq!(bytes[216..], vector("migrate-natt-on-v4", Dialect::Linux)[216..]);
}

#[test]
fn migrate_reply_is_the_request_with_its_seq_and_pid() {
    let reply = vector("migrate-reply-v4", Dialect::Linux);
    let request = vector("migrate-natt-on-v4", Dialect::Linux);
    assert_eq!(reply, request, "the reply is the request back, byte for byte");
    let m = Message::parse(&reply, Dialect::Linux).unwrap();
    header(&m, &reply, MessageType::XMigrate, SaType::Esp, 0, 12, PID);
    assert_ne!((m.header.seq, m.header.pid), (0, 0), "told apart from the broadcast by seq and pid");
    natt_ext(&m, NatTType::EspInUdp, Some((4500, 4500)));
    let mig = migrate(
        ("192.0.2.10", "198.51.100.1"),
        ("203.0.113.7", "198.51.100.1"),
        IPPROTO_ESP,
        1,
        "203.0.113.7",
        Some(NatT::esp_in_udp(4500, 4500)),
    );
    builds_exactly(&mig.message().with_seq(12).with_pid(PID).with_errno(0), &reply, Dialect::Linux);
    // Everything but the header's seq/pid, the selector's protocol and the NAT-T extensions is the
    // broadcast's content.
    let broadcast = vector("migrate-broadcast-v4", Dialect::Linux);
    let b = Message::parse(&broadcast, Dialect::Linux).unwrap();
    let (rb, bb) = (Migrate::from_message(&m).unwrap(), Migrate::from_message(&b).unwrap());
    assert_eq!((rb.bundles, rb.kmaddress, rb.dir), (bb.bundles, bb.kmaddress, bb.dir));
}

// ---------------------------------------------------------------------------------------------
// 16.10: requests that fail and their error replies

#[test]
fn einval_update_unspecified_new_destination() {
    let bytes = vector("update-unspecified-dst", Dialect::Linux);
    let m = Message::parse(&bytes, Dialect::Linux).unwrap();
    header(&m, &bytes, MessageType::Update, SaType::Esp, 0, 14, PID);
    let new_dst = m.address(ExtKind::NewAddressDst).unwrap().addr;
    assert!(new_dst.ip().is_unspecified());
    let u = UpdateAddresses { new_dst: Some(sa("0.0.0.0")), ..update(0xc0de_0001, "192.0.2.10", "198.51.100.1", 1) };
    builds_exactly(&u.message().with_seq(14).with_pid(PID), &bytes, Dialect::Linux);
    error_reply("error-einval-update", MessageType::Update, SaType::Esp, libc::EINVAL, 14);
}

#[test]
fn esrch_and_eexist_update_replies() {
    error_reply("error-esrch-update", MessageType::Update, SaType::Esp, libc::ESRCH, 15);
    error_reply("error-eexist-update", MessageType::Update, SaType::Esp, libc::EEXIST, 16);
    assert_eq!((libc::ESRCH, libc::EEXIST, libc::EINVAL, libc::ENODATA), (3, 17, 22, 61), "Linux errno values");
}

#[test]
fn einval_update_natt_type1() {
    let bytes = vector("update-natt-type1", Dialect::Linux);
    assert_eq!(bytes.len(), 144);
    let m = Message::parse(&bytes, Dialect::Linux).unwrap();
    header(&m, &bytes, MessageType::Update, SaType::Esp, 0, 19, PID);
    natt_ext(&m, NatTType::EspInUdpNonIke, Some((4500, 4500)));
    no_keys(&m);
    let u = UpdateAddresses {
        new_src: Some(sa("203.0.113.7")),
        natt: Some(NatT { nat_t_type: NatTType::EspInUdpNonIke, sport: 4500, dport: 4500 }),
        ..update(0xc0de_0004, "192.0.2.10", "198.51.100.1", 4)
    };
    builds_exactly(&u.message().with_seq(19).with_pid(PID), &bytes, Dialect::Linux);
    // It is the request of 16.4 but for the type byte and the seq.
    let on = vector("update-natt-on", Dialect::Linux);
    let differing: Vec<usize> = (0..on.len()).filter(|&i| on[i] != bytes[i]).collect();
    assert_eq!(differing, [8, 124]);
    error_reply("error-einval-update-natt-type1", MessageType::Update, SaType::Esp, libc::EINVAL, 19);
}

#[test]
fn enodata_migrate_encapsulation_on_ah() {
    let bytes = vector("migrate-ah-natt-on", Dialect::Linux);
    assert_eq!(bytes.len(), 240);
    let m = Message::parse(&bytes, Dialect::Linux).unwrap();
    header(&m, &bytes, MessageType::XMigrate, SaType::Ah, 0, 17, PID);
    let mig = migrate(
        ("192.0.2.10", "198.51.100.1"),
        ("203.0.113.7", "198.51.100.1"),
        IPPROTO_AH,
        5,
        "203.0.113.7",
        Some(NatT::esp_in_udp(4500, 4500)),
    );
    check_migrate(&m, &mig);
    builds_exactly(&mig.message().with_seq(17).with_pid(PID), &bytes, Dialect::Linux);
    error_reply("error-enodata-migrate", MessageType::XMigrate, SaType::Ah, libc::ENODATA, 17);
}

#[test]
fn einval_migrate_natt_type_without_ports() {
    let bytes = vector("migrate-natt-type-without-ports", Dialect::Linux);
    assert_eq!(bytes.len(), 224);
    let m = Message::parse(&bytes, Dialect::Linux).unwrap();
    header(&m, &bytes, MessageType::XMigrate, SaType::Esp, 0, 18, PID);
    assert_eq!(m.nat_t_type().unwrap().nat_t_type, NatTType::EspInUdp);
    assert!(m.nat_t_port(ExtKind::NatTSport).is_none() && m.nat_t_port(ExtKind::NatTDport).is_none());
    let mig =
        migrate(("192.0.2.10", "198.51.100.1"), ("203.0.113.7", "198.51.100.1"), IPPROTO_ESP, 1, "203.0.113.7", None);
    let built = mig
        .message()
        .with(Extension::NatTType(NatTTypeExt { nat_t_type: NatTType::EspInUdp, reserved: [0; 3] }))
        .with_seq(18)
        .with_pid(PID);
    builds_exactly(&built, &bytes, Dialect::Linux);
    error_reply("error-einval-migrate", MessageType::XMigrate, SaType::Esp, libc::EINVAL, 18);
}

// ---------------------------------------------------------------------------------------------
// The model answers the vectors as the draft says (where it implements the draft)

#[test]
fn model_moves_sas_as_the_update_vectors_say() {
    model_moves(
        "update-dst-v4",
        esp(0xc0de_0001, "192.0.2.10", "198.51.100.1", 1),
        ("192.0.2.10", "203.0.113.1"),
        None,
    );
    model_moves(
        "update-both-v6",
        esp(0xc0de_0002, "2001:db8:1::10", "2001:db8:2::1", 2),
        ("2001:db8:3::10", "2001:db8:4::1"),
        None,
    );
    model_moves(
        "update-family-v4-to-v6",
        esp(0xc0de_0003, "192.0.2.10", "198.51.100.1", 3),
        ("2001:db8:3::10", "2001:db8:2::1"),
        None,
    );
    model_moves(
        "update-natt-on",
        esp(0xc0de_0004, "192.0.2.10", "198.51.100.1", 4),
        ("203.0.113.7", "198.51.100.1"),
        Some(NatT::esp_in_udp(4500, 4500)),
    );
    let behind_nat =
        SaSpec { natt: Some(NatT::esp_in_udp(4500, 4500)), ..esp(0xc0de_0004, "203.0.113.7", "198.51.100.1", 4) };
    model_moves("update-natt-off", behind_nat, ("203.0.113.7", "198.51.100.1"), None);
}

#[test]
fn model_answers_the_update_error_vectors() {
    let spec = esp(0xc0de_0001, "192.0.2.10", "198.51.100.1", 1);
    // EINVAL: unspecified new destination; nothing changes.
    let (k, mut s) = patched();
    add_ok(&mut s, &spec);
    let before = k.sad();
    let einval = vector("error-einval-update", Dialect::Linux);
    assert_eq!(ask(&mut s, &vector("update-unspecified-dst", Dialect::Linux)).unwrap(), einval);
    assert_eq!(k.sad(), before);
    // ESRCH: the same move a second time.
    let request = vector("update-dst-v4", Dialect::Linux);
    assert_eq!(ask(&mut s, &request).unwrap(), request);
    drain(&mut s);
    let after = k.sad();
    assert_eq!(ask(&mut s, &with_seq(request.clone(), 15)).unwrap(), vector("error-esrch-update", Dialect::Linux));
    assert_eq!(k.sad(), after);
    // EEXIST: the new destination's (SPI, protocol) is taken.
    let (k, mut s) = patched();
    add_ok(&mut s, &spec);
    add_ok(&mut s, &esp(0xc0de_0001, "192.0.2.99", "203.0.113.1", 9));
    let before = k.sad();
    assert_eq!(ask(&mut s, &with_seq(request, 16)).unwrap(), vector("error-eexist-update", Dialect::Linux));
    assert_eq!(k.sad(), before);
}

#[test]
fn model_answers_enodata_for_encapsulation_on_an_ah_sa() {
    let (k, mut s) = patched();
    let ah = SaSpec {
        satype: SaType::Ah,
        auth: Some(AlgKey::new(AuthAlg::Sha2_256Hmac, &[0x33; 32])),
        encrypt: None,
        ..esp(0x5000, "192.0.2.10", "198.51.100.1", 5)
    };
    add_ok(&mut s, &ah);
    let mut pol = PolicySpec::esp_tunnel(
        Selector::new(sa("10.1.0.0"), 16, sa("10.2.0.0"), 16),
        PolicyDir::Outbound,
        sa("192.0.2.10"),
        sa("198.51.100.1"),
        5,
    );
    pol.templates[0].proto = IPPROTO_AH;
    let pid = s.pid();
    s.send(&spdadd(&pol).with_seq(2).with_pid(pid).to_bytes(Dialect::Linux).unwrap()).unwrap();
    assert_eq!(Message::parse(&recv(&mut s).unwrap(), Dialect::Linux).unwrap().errno(), 0);
    drain(&mut s);
    let (sad, spd) = (k.sad(), k.spd());
    let reply = ask(&mut s, &vector("migrate-ah-natt-on", Dialect::Linux)).unwrap();
    assert_eq!(reply, vector("error-enodata-migrate", Dialect::Linux));
    assert_eq!((k.sad(), k.spd()), (sad, spd), "a failed MIGRATE changes nothing");
    assert!(recv(&mut s).is_none(), "no broadcast after a failure");
}

/// The outbound policy 10.1.0.0/16 -> 10.2.0.0/16 of the MIGRATE vectors, tunnel 192.0.2.10 ->
/// 198.51.100.1, reqid 1.
fn migrate_policy(s: &mut ModelSocket) {
    let pol = PolicySpec::esp_tunnel(
        Selector::new(sa("10.1.0.0"), 16, sa("10.2.0.0"), 16),
        PolicyDir::Outbound,
        sa("192.0.2.10"),
        sa("198.51.100.1"),
        1,
    );
    let pid = s.pid();
    s.send(&spdadd(&pol).with_seq(2).with_pid(pid).to_bytes(Dialect::Linux).unwrap()).unwrap();
    assert_eq!(Message::parse(&recv(s).unwrap(), Dialect::Linux).unwrap().errno(), 0);
    drain(s);
}

/// Sends a MIGRATE vector; the requester must get `broadcast` and then its request back, another
/// listener `broadcast` alone.
#[track_caller]
fn model_migrates(s: &mut ModelSocket, other: &mut ModelSocket, request: &[u8], broadcast: &[u8]) {
    s.send(request).unwrap();
    assert_eq!(recv(s).expect("the broadcast"), broadcast, "the broadcast comes first");
    assert_eq!(recv(s).expect("the reply"), request, "then the reply: the request back");
    assert!(recv(s).is_none(), "nothing else for the requester");
    assert_eq!(recv(other).expect("the broadcast"), broadcast, "every listener gets the broadcast");
    assert!(recv(other).is_none(), "the reply goes to the requester alone");
}

#[test]
fn model_answers_the_migrate_vectors() {
    let (k, mut s) = patched();
    let mut other = k.socket();
    add_ok(&mut s, &esp(0xc0de_0005, "192.0.2.10", "198.51.100.1", 1));
    migrate_policy(&mut s);
    drain(&mut other);
    // 16.7: NAT-T on; the broadcast of 16.9 (ending with NAT-T), then the reply of 16.9.
    let on = vector("migrate-natt-on-v4", Dialect::Linux);
    let reply = vector("migrate-reply-v4", Dialect::Linux);
    assert_eq!(on, reply);
    model_migrates(&mut s, &mut other, &on, &vector("migrate-broadcast-natt-on-v4", Dialect::Linux));
    let x = find(&k, 0xc0de_0005, "198.51.100.1").unwrap();
    assert_eq!((x.src, x.natt), (sa("203.0.113.7"), Some(NatT::esp_in_udp(4500, 4500))));
    // 16.8: NAT-T off; the broadcast ends with type 0 and ports 0.
    let off = vector("migrate-natt-off-v4", Dialect::Linux);
    let mut mig = Migrate::from_message(&Message::parse(&off, Dialect::Linux).unwrap()).unwrap();
    mig.selector.proto = 0;
    let off_broadcast = mig.message().to_bytes(Dialect::Linux).unwrap();
    assert_eq!(off_broadcast[off_broadcast.len() - 24..], off[off.len() - 24..], "type 0, ports 0 at the end");
    model_migrates(&mut s, &mut other, &off, &off_broadcast);
    let x = find(&k, 0xc0de_0005, "198.51.100.1").unwrap();
    assert_eq!((x.src, x.natt), (sa("192.0.2.10"), None));
    // 16.7 without its NAT-T extensions: the stock broadcast of 16.9, byte for byte.
    let mut plain = on[..216].to_vec();
    plain[4..6].copy_from_slice(&27u16.to_le_bytes());
    model_migrates(&mut s, &mut other, &plain, &vector("migrate-broadcast-v4", Dialect::Linux));
    let x = find(&k, 0xc0de_0005, "198.51.100.1").unwrap();
    assert_eq!((x.src, x.natt), (sa("203.0.113.7"), None), "no NAT-T: the encapsulation is kept (none)");
}

#[test]
fn model_refuses_inconsistent_natt_before_any_lookup() {
    // 16.10, NAT-T type 1 in the address update: EINVAL with or without the SA.
    let request = vector("update-natt-type1", Dialect::Linux);
    let einval = vector("error-einval-update-natt-type1", Dialect::Linux);
    let (k, mut s) = patched();
    assert_eq!(ask(&mut s, &request).unwrap(), einval, "no SA: still EINVAL, not ESRCH");
    add_ok(&mut s, &esp(0xc0de_0004, "192.0.2.10", "198.51.100.1", 4));
    let before = k.sad();
    assert_eq!(ask(&mut s, &request).unwrap(), einval);
    assert_eq!(k.sad(), before);
    // 16.10, a NAT-T type without ports in MIGRATE: EINVAL with or without the policy.
    let request = vector("migrate-natt-type-without-ports", Dialect::Linux);
    let einval = vector("error-einval-migrate", Dialect::Linux);
    let (k, mut s) = patched();
    assert_eq!(ask(&mut s, &request).unwrap(), einval, "no policy: still EINVAL, not ENOENT");
    add_ok(&mut s, &esp(0xc0de_0005, "192.0.2.10", "198.51.100.1", 1));
    migrate_policy(&mut s);
    let (sad, spd) = (k.sad(), k.spd());
    assert_eq!(ask(&mut s, &request).unwrap(), einval);
    assert_eq!((k.sad(), k.spd()), (sad, spd));
    assert!(recv(&mut s).is_none(), "no broadcast after a failure");
}

/// The errno difference the capability probe of Section 11.3 relies on, on the model: the
/// patched model answers ESRCH / EINVAL, the stock one EINVAL / ENOENT.
#[test]
fn model_shows_the_probe_difference_with_the_vectors() {
    let errno = |config: ModelConfig, bytes: &[u8]| {
        let k = ModelKernel::with_config(config);
        let mut s = k.socket();
        Message::parse(&ask(&mut s, bytes).unwrap(), Dialect::Linux).unwrap().errno() as i32
    };
    let update = vector("update-dst-v4", Dialect::Linux);
    let migrate = vector("migrate-natt-type-without-ports", Dialect::Linux);
    assert_eq!(errno(ModelConfig::patched(), &update), libc::ESRCH);
    assert_eq!(errno(ModelConfig::stock_linux(), &update), libc::EINVAL);
    assert_eq!(errno(ModelConfig::patched(), &migrate), libc::EINVAL);
    assert_eq!(errno(ModelConfig::stock_linux(), &migrate), libc::ENOENT);
}

/// Section 4.1 step 7: only a present new address is checked for being unspecified; an omitted
/// one is the SA's own (here an SA added with the wildcard source 0.0.0.0), and the move of 16.1
/// succeeds.
#[test]
fn model_checks_only_present_new_addresses_for_unspecified() {
    let (k, mut s) = patched();
    add_ok(&mut s, &esp(0xc0de_0001, "0.0.0.0", "198.51.100.1", 1));
    let mut request = vector("update-dst-v4", Dialect::Linux);
    // The old source of the request: 0.0.0.0 instead of 192.0.2.10 (sockaddr_in at 56, address at 60).
    request[60..64].copy_from_slice(&[0, 0, 0, 0]);
    assert_eq!(ask(&mut s, &request).unwrap(), request, "the reply is the request");
    assert!(find(&k, 0xc0de_0001, "203.0.113.1").is_some_and(|x| x.src == sa("0.0.0.0")));
}

// ---------------------------------------------------------------------------------------------
// Section 16.11: a BEET SA with its inner destination (SADB_X_EXT_INNER_ADDRESS_DST, 32)

/// The SA of 16.11 in `mode`.
fn beet_spec(mode: Mode) -> SaSpec {
    SaSpec {
        mode,
        reqid: 5,
        auth: None,
        encrypt: Some(AlgKey::new(EncryptAlg::AesCbc, &(0u8..16).collect::<Vec<_>>())),
        inner: Some(BeetInner::new(sa("10.1.0.1"), sa("10.2.0.1"))),
        ..SaSpec::esp_tunnel_gcm(0xc0de_0005, sa("192.0.2.10"), sa("198.51.100.1"), 5, &[])
    }
}

#[test]
fn beet_add_with_the_inner_destination() {
    let bytes = vector("add-beet-inner-v4", Dialect::Linux);
    assert_eq!(bytes.len(), 168);
    assert_eq!(ExtKind::InnerAddressDst.number(Dialect::Linux), Some(32));
    assert_eq!(ExtKind::InnerAddressDst.number(Dialect::FreeBsd), None, "FreeBSD has no BEET");
    assert_eq!(ExtKind::from_number(32, Dialect::FreeBsd), None);
    let m = Message::parse(&bytes, Dialect::Linux).unwrap();
    header(&m, &bytes, MessageType::Add, SaType::Esp, 0, 17, PID);
    let s = m.sa().unwrap();
    assert_eq!((s.spi, s.replay, s.state, s.encrypt), (0xc0de_0005, 32, SaState::Mature, EncryptAlg::AesCbc));
    sa2_ext(&m, Mode::Beet, 5);
    host_address(&m, ExtKind::AddressSrc, "192.0.2.10");
    host_address(&m, ExtKind::AddressDst, "198.51.100.1");
    host_address(&m, ExtKind::AddressProxy, "10.1.0.1");
    host_address(&m, ExtKind::InnerAddressDst, "10.2.0.1");
    assert_eq!(&bytes[120..124], &[3, 0, 32, 0], "sadb_address_len 3, exttype 32");
    use ExtKind as K;
    let order = [K::Sa, K::Sa2, K::AddressSrc, K::AddressDst, K::AddressProxy, K::InnerAddressDst, K::KeyEncrypt];
    assert_eq!(kinds(&m), order);
    assert_eq!(SaSpec::from_message(&m).unwrap().inner, Some(BeetInner::new(sa("10.1.0.1"), sa("10.2.0.1"))));
    builds_exactly(&add(&beet_spec(Mode::Beet)).with_seq(17).with_pid(PID), &bytes, Dialect::Linux);
    // In tunnel mode: only the mode byte and the seq differ.
    let tunnel = vector("add-inner-tunnel", Dialect::Linux);
    builds_exactly(&add(&beet_spec(Mode::Tunnel)).with_seq(18).with_pid(PID), &tunnel, Dialect::Linux);
    let differ: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] != tunnel[i]).collect();
    assert_eq!(differ, [8, 36], "seq and sadb_x_sa2_mode");
    error_reply("error-einval-add-inner", MessageType::Add, SaType::Esp, libc::EINVAL, 18);
}

#[test]
fn model_keeps_the_inner_destination_and_refuses_it_outside_beet_mode() {
    // Patched: the BEET SA is added with both inner hosts, which GET reports.
    let (k, mut s) = patched();
    let reply = Message::parse(&ask(&mut s, &vector("add-beet-inner-v4", Dialect::Linux)).unwrap(), Dialect::Linux)
        .unwrap()
        .into_owned();
    assert_eq!(reply.errno(), 0);
    host_address(&reply, ExtKind::InnerAddressDst, "10.2.0.1");
    drain(&mut s);
    let sa_now = find(&k, 0xc0de_0005, "198.51.100.1").unwrap();
    assert_eq!(sa_now.inner, Some(BeetInner::new(sa("10.1.0.1"), sa("10.2.0.1"))));
    // EINVAL in tunnel mode, and nothing changes.
    let (k, mut s) = patched();
    assert_eq!(
        ask(&mut s, &vector("add-inner-tunnel", Dialect::Linux)).unwrap(),
        vector("error-einval-add-inner", Dialect::Linux)
    );
    assert!(k.sad().is_empty());
    // Stock: the extension is above SADB_EXT_MAX and ignored; the tunnel-mode SA is added.
    let k = ModelKernel::with_config(ModelConfig::stock_linux());
    let mut s = k.socket();
    let reply = ask(&mut s, &vector("add-inner-tunnel", Dialect::Linux)).unwrap();
    let reply = Message::parse(&reply, Dialect::Linux).unwrap();
    assert_eq!((reply.errno(), reply.has(ExtKind::InnerAddressDst)), (0, false));
    assert_eq!(k.sad()[0].inner, None);
}

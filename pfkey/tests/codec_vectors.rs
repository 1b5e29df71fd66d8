//! Reference vectors written by hand from the layout tables of `pfkey-wire.md` (§1.4, §2.2, §8),
//! not from this crate's emitter: each vector is parsed and its values checked, then the same
//! message is built with the builders and must emit exactly these bytes.
//!
//! Host byte order fields are written little-endian (x86_64, aarch64).
#![cfg(target_endian = "little")]

use pfkey::message::*;
use pfkey::wire::Dialect;
use pfkey::wire::numbers::*;

/// Bytes from lines of hex; `;` starts a comment.
fn hex(lines: &[&str]) -> Vec<u8> {
    let digits: String = lines
        .iter()
        .map(|l| l.split(';').next().unwrap())
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    assert_eq!(digits.len() % 2, 0, "odd number of hex digits");
    (0..digits.len()).step_by(2).map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap()).collect()
}

fn sa(s: &str) -> SockAddr {
    SockAddr::new(s.parse().unwrap())
}

/// parse → owned → emit and builder → emit both give exactly `bytes`.
#[track_caller]
fn emits_exactly(built: &Message<'_>, bytes: &[u8], d: Dialect) {
    assert_eq!(built.to_bytes(d).unwrap(), bytes, "builder output differs from the reference vector");
    let parsed = Message::parse(bytes, d).unwrap();
    assert_eq!(&parsed, built);
    assert_eq!(parsed.into_owned().to_bytes(d).unwrap(), bytes);
}

fn migrate_message(v6: bool) -> Message<'static> {
    let (a, b, c, d, n1, n2) = if v6 {
        (
            sa("2001:db8:1::1"),
            sa("2001:db8:2::1"),
            sa("2001:db8:3::1"),
            sa("2001:db8:2::1"),
            sa("fd00:1::"),
            sa("fd00:2::"),
        )
    } else {
        (sa("192.0.2.1"), sa("198.51.100.1"), sa("203.0.113.1"), sa("198.51.100.1"), sa("10.1.0.0"), sa("10.2.0.0"))
    };
    let plen = if v6 { 64 } else { 16 };
    Migrate {
        selector: Selector::new(n1, plen, n2, plen),
        dir: PolicyDir::Outbound,
        kmaddress: Some((c, d)),
        bundles: vec![MigrateBundle::new(
            IPPROTO_ESP,
            Mode::Tunnel,
            1,
            Endpoints { src: a, dst: b },
            Endpoints { src: c, dst: d },
        )],
        natt: None,
    }
    .message()
    .with_seq(1)
    .with_pid(42)
}

/// §8: SADB_X_MIGRATE, one ESP tunnel pair, KMADDRESS, IPv4: 216 bytes, sadb_msg_len 27,
/// ipsecrequest_len 48 (bytes).
#[test]
fn migrate_ipv4_one_pair_with_kmaddress() {
    let bytes = hex(&[
        "02 18 00 03 1b 00 0000 01000000 2a000000 ; sadb_msg: v2, X_MIGRATE(24), errno 0, ESP(3), len 27, seq 1, pid 42",
        "0500 1900 00000000                       ; sadb_x_kmaddress: len 5, KMADDRESS(25), reserved",
        "0200 0000 cb007101 0000000000000000      ;   local  203.0.113.1",
        "0200 0000 c6336401 0000000000000000      ;   remote 198.51.100.1",
        "0300 0500 ff 10 0000                     ; sadb_address: len 3, SRC(5), proto any, /16",
        "0200 0000 0a010000 0000000000000000      ;   10.1.0.0",
        "0300 0600 ff 10 0000                     ; sadb_address: len 3, DST(6), proto any, /16",
        "0200 0000 0a020000 0000000000000000      ;   10.2.0.0",
        "0e00 1200 0200 02 00 00000000 00000000   ; sadb_x_policy: len 14, POLICY(18), IPSEC, OUTBOUND, id 0, prio 0",
        "3000 3200 02 03 0000 01000000 00000000   ; ipsecrequest: len 48 bytes, ESP(50), TUNNEL, UNIQUE, reqid 1",
        "0200 0000 c0000201 0000000000000000      ;   old src 192.0.2.1",
        "0200 0000 c6336401 0000000000000000      ;   old dst 198.51.100.1",
        "3000 3200 02 03 0000 01000000 00000000   ; ipsecrequest: len 48, ESP, TUNNEL, UNIQUE, reqid 1",
        "0200 0000 cb007101 0000000000000000      ;   new src 203.0.113.1",
        "0200 0000 c6336401 0000000000000000      ;   new dst 198.51.100.1",
    ]);
    assert_eq!(bytes.len(), 216);
    let m = Message::parse(&bytes, Dialect::Linux).unwrap();
    assert_eq!(m.header.msg_type, MessageType::XMigrate);
    assert_eq!(m.header.satype, SaType::Esp);
    assert_eq!((m.header.seq, m.header.pid), (1, 42));
    assert_eq!(m.extensions.len(), 4);
    let k = m.kmaddress().unwrap();
    assert_eq!((k.local, k.remote), (sa("203.0.113.1"), sa("198.51.100.1")));
    let src = m.address(ExtKind::AddressSrc).unwrap();
    assert_eq!((src.addr, src.prefixlen, src.proto), (sa("10.1.0.0"), 16, 255));
    let p = m.policy().unwrap();
    assert_eq!((p.policy_type, p.dir), (PolicyType::Ipsec, PolicyDir::Outbound));
    let r = p.requests.to_vec();
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].proto, r[0].mode, r[0].level, r[0].reqid), (IPPROTO_ESP, Mode::Tunnel, Level::Unique, 1));
    assert_eq!(r[0].endpoints, Some(Endpoints { src: sa("192.0.2.1"), dst: sa("198.51.100.1") }));
    assert_eq!(r[1].endpoints, Some(Endpoints { src: sa("203.0.113.1"), dst: sa("198.51.100.1") }));
    let mig = Migrate::from_message(&m).unwrap();
    assert_eq!(mig.bundles.len(), 1);
    assert_eq!(mig.bundles[0].new.src, sa("203.0.113.1"));
    emits_exactly(&migrate_message(false), &bytes, Dialect::Linux);
    assert!(
        matches!(
            m.to_bytes(Dialect::FreeBsd),
            Err(EmitError::NotInDialect { kind: ExtKind::KmAddress, dialect: Dialect::FreeBsd })
        ),
        "KMADDRESS has no FreeBSD number"
    );
}

/// §8, IPv6: 320 bytes, sadb_msg_len 40, KMADDRESS 64 bytes, SRC/DST 40, ipsecrequest_len 72.
#[test]
fn migrate_ipv6_one_pair_with_kmaddress() {
    let bytes = hex(&[
        "02 18 00 03 2800 0000 01000000 2a000000  ; sadb_msg: X_MIGRATE, ESP, len 40, seq 1, pid 42",
        "0800 1900 00000000                       ; sadb_x_kmaddress: len 8 (64 bytes)",
        "0a00 0000 00000000 20010db8000300000000000000000001 00000000 ; local 2001:db8:3::1",
        "0a00 0000 00000000 20010db8000200000000000000000001 00000000 ; remote 2001:db8:2::1",
        "0500 0500 ff 40 0000                     ; SRC: len 5 (8 + 28 + 4 padding), /64",
        "0a00 0000 00000000 fd000001000000000000000000000000 00000000 ; fd00:1::",
        "00000000                                 ;   padding",
        "0500 0600 ff 40 0000                     ; DST: len 5, /64",
        "0a00 0000 00000000 fd000002000000000000000000000000 00000000 ; fd00:2::",
        "00000000                                 ;   padding",
        "1400 1200 0200 02 00 00000000 00000000   ; sadb_x_policy: len 20 (160 bytes), IPSEC, OUTBOUND",
        "4800 3200 02 03 0000 01000000 00000000   ; ipsecrequest: len 72 bytes, ESP, TUNNEL, UNIQUE, reqid 1",
        "0a00 0000 00000000 20010db8000100000000000000000001 00000000 ; old src 2001:db8:1::1",
        "0a00 0000 00000000 20010db8000200000000000000000001 00000000 ; old dst 2001:db8:2::1",
        "4800 3200 02 03 0000 01000000 00000000   ; ipsecrequest: len 72",
        "0a00 0000 00000000 20010db8000300000000000000000001 00000000 ; new src 2001:db8:3::1",
        "0a00 0000 00000000 20010db8000200000000000000000001 00000000 ; new dst 2001:db8:2::1",
    ]);
    assert_eq!(bytes.len(), 320);
    let m = Message::parse(&bytes, Dialect::Linux).unwrap();
    let src = m.address(ExtKind::AddressSrc).unwrap();
    assert_eq!((src.addr, src.prefixlen, src.trailing), (sa("fd00:1::"), 64, None));
    let r = m.policy().unwrap().requests.to_vec();
    assert_eq!(r[0].endpoints.unwrap().src, sa("2001:db8:1::1"));
    assert_eq!(r[1].endpoints.unwrap().src, sa("2001:db8:3::1"));
    assert_eq!(m.kmaddress().unwrap().remote, sa("2001:db8:2::1"));
    emits_exactly(&migrate_message(true), &bytes, Dialect::Linux);
}

fn update_addresses() -> Message<'static> {
    UpdateAddresses {
        satype: SaType::Esp,
        spi: 0x1234_5678,
        src: sa("192.0.2.1"),
        dst: sa("198.51.100.1"),
        mode: Mode::Tunnel,
        reqid: 7,
        new_src: Some(sa("203.0.113.5")),
        new_dst: Some(sa("198.51.100.9")),
        natt: Some(NatT::esp_in_udp(4500, 4500)),
    }
    .message()
    .with_seq(5)
    .with_pid(1234)
}

/// FreeBSD per-SA address update (r312682): SADB_UPDATE with NEW_ADDRESS_SRC/DST (27/28),
/// BSD sockaddrs (`sin_len` 16, `sin_family` 2) and NAT-T ports in network order.
#[test]
fn freebsd_update_with_new_addresses() {
    let bytes = hex(&[
        "02 02 00 03 1500 0000 05000000 d2040000  ; sadb_msg: UPDATE(2), ESP, len 21, seq 5, pid 1234",
        "0200 0100 12345678 00 01 00 00 00000000  ; sadb_sa: SPI 0x12345678 (network order), MATURE",
        "0200 1300 02 00 0000 00000000 07000000   ; sadb_x_sa2: TUNNEL, sequence 0, reqid 7",
        "0300 0500 ff 20 0000                     ; SRC /32",
        "10 02 0000 c0000201 0000000000000000     ;   sin_len 16, AF_INET, 192.0.2.1",
        "0300 0600 ff 20 0000                     ; DST /32",
        "10 02 0000 c6336401 0000000000000000     ;   198.51.100.1",
        "0300 1b00 ff 20 0000                     ; NEW_ADDRESS_SRC(27) /32",
        "10 02 0000 cb007105 0000000000000000     ;   203.0.113.5",
        "0300 1c00 ff 20 0000                     ; NEW_ADDRESS_DST(28) /32",
        "10 02 0000 c6336409 0000000000000000     ;   198.51.100.9",
        "0100 1400 02 000000                      ; NAT_T_TYPE(20): ESPINUDP",
        "0100 1500 1194 0000                      ; NAT_T_SPORT(21): 4500",
        "0100 1600 1194 0000                      ; NAT_T_DPORT(22): 4500",
    ]);
    assert_eq!(bytes.len(), 168);
    let m = Message::parse(&bytes, Dialect::FreeBsd).unwrap();
    assert_eq!(m.sa().unwrap().spi, 0x1234_5678);
    assert_eq!(m.sa().unwrap().state, SaState::Mature);
    assert_eq!(m.sa2().unwrap().reqid, 7);
    let u = UpdateAddresses::from_message(&m).unwrap();
    assert_eq!((u.new_src, u.new_dst), (Some(sa("203.0.113.5")), Some(sa("198.51.100.9"))));
    assert_eq!(u.natt, Some(NatT { nat_t_type: NatTType::EspInUdp, sport: 4500, dport: 4500 }));
    emits_exactly(&update_addresses(), &bytes, Dialect::FreeBsd);

    // The Linux encoding differs exactly in the four sockaddrs' first two bytes (02 00).
    let linux = update_addresses().to_bytes(Dialect::Linux).unwrap();
    let diff: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] != linux[i]).collect();
    let fam = |ext_at: usize| [ext_at + 8, ext_at + 9];
    let expected: Vec<usize> = [48, 72, 96, 120].into_iter().flat_map(fam).collect();
    assert_eq!(diff, expected);
    assert_eq!(&linux[56..58], &[2, 0]);
}

fn add_message() -> Message<'static> {
    add(&SaSpec {
        inner: None,
        satype: SaType::Esp,
        spi: 0xc0ff_ee01,
        src: sa("192.0.2.1"),
        dst: sa("198.51.100.1"),
        mode: Mode::Tunnel,
        reqid: 1,
        replay: 32,
        flags: 0,
        state: SaState::Mature,
        auth: Some(AlgKey::new(AuthAlg::Sha2_256Hmac, &[0x11; 32])),
        encrypt: Some(AlgKey::new(EncryptAlg::AesCbc, &[0x22; 16])),
        hard: Some(Lifetime { addtime: 3600, ..Lifetime::default() }),
        soft: Some(Lifetime { addtime: 3000, ..Lifetime::default() }),
        natt: None,
    })
    .with_seq(2)
    .with_pid(42)
}

/// SADB_ADD of an ESP tunnel SA with HMAC-SHA-256 and AES-CBC keys and add-time lifetimes.
#[test]
fn linux_add_with_keys_and_lifetimes() {
    let k11 = "11".repeat(32);
    let k22 = "22".repeat(16);
    let bytes = hex(&[
        "02 03 00 03 1c00 0000 02000000 2a000000  ; sadb_msg: ADD(3), ESP, len 28, seq 2, pid 42",
        "0200 0100 c0ffee01 20 01 05 0c 00000000  ; sadb_sa: SPI, replay 32, MATURE, SHA2_256(5), AESCBC(12)",
        "0200 1300 02 00 0000 00000000 01000000   ; sadb_x_sa2: TUNNEL, reqid 1",
        "0400 0300 00000000 0000000000000000      ; LIFETIME_HARD: allocations 0, bytes 0",
        "100e000000000000 0000000000000000        ;   addtime 3600, usetime 0",
        "0400 0400 00000000 0000000000000000      ; LIFETIME_SOFT",
        "b80b000000000000 0000000000000000        ;   addtime 3000",
        "0300 0500 ff 20 0000 0200 0000 c0000201 0000000000000000 ; SRC 192.0.2.1/32",
        "0300 0600 ff 20 0000 0200 0000 c6336401 0000000000000000 ; DST 198.51.100.1/32",
        "0500 0800 0001 0000                      ; KEY_AUTH: len 5, 256 bits",
        &k11,
        "0300 0900 8000 0000                      ; KEY_ENCRYPT: len 3, 128 bits",
        &k22,
    ]);
    assert_eq!(bytes.len(), 224);
    let m = Message::parse(&bytes, Dialect::Linux).unwrap();
    let spec = SaSpec::from_message(&m).unwrap();
    assert_eq!(spec.spi, 0xc0ff_ee01);
    assert_eq!(spec.auth.as_ref().unwrap().alg, AuthAlg::Sha2_256Hmac);
    assert_eq!(&spec.auth.as_ref().unwrap().key[..], &[0x11; 32]);
    assert_eq!(&spec.encrypt.as_ref().unwrap().key[..], &[0x22; 16]);
    assert_eq!(spec.hard.unwrap().addtime, 3600);
    assert_eq!(spec.soft.unwrap().addtime, 3000);
    assert_eq!(m.key(ExtKind::KeyAuth).unwrap().bits, 256);
    emits_exactly(&add_message(), &bytes, Dialect::Linux);
}

/// An error reply: only the base header, errno set, len 2 (RFC 2367 §1.6 / Linux pfkey_error).
#[test]
fn error_reply_is_a_bare_header() {
    let bytes = hex(&["02 03 11 03 0200 0000 09000000 4d000000 ; ADD(3), errno EEXIST(17), ESP, len 2, seq 9, pid 77"]);
    let m = Message::parse(&bytes, Dialect::Linux).unwrap();
    assert_eq!(m.errno(), 17);
    assert_eq!(m.msg_type(), MessageType::Add);
    assert!(m.extensions.is_empty());
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["errno_name"], "EEXIST");
    assert_eq!(json["type"], "SADB_ADD");
    let built = Message::new(MessageType::Add, SaType::Esp).with_errno(17).with_seq(9).with_pid(77);
    for d in [Dialect::Linux, Dialect::FreeBsd] {
        emits_exactly(&built, &bytes, d);
    }
}

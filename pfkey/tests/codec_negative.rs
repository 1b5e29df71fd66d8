//! One test per parser rule: a hand-built message that breaks exactly that rule, the exact typed
//! error (rule, byte offset, extension type, dialect), and where it matters the valid message
//! one step away, so no test can pass by rejecting everything.
//!
//! Messages are built from the layout tables in `pfkey-wire.md` (host byte order; these tests
//! assume a little-endian host, as the Linux reference layouts do).
#![cfg(target_endian = "little")]

use pfkey::message::{Message, ParseError, Rule};
use pfkey::wire::Dialect;

const L: Dialect = Dialect::Linux;
const F: Dialect = Dialect::FreeBsd;

// Message types and extension types used below.
const SADB_ADD: u8 = 3;
const SADB_FLUSH: u8 = 9;
const SADB_X_SPDADD: u8 = 14;
const SADB_X_MIGRATE: u8 = 24;
const SA: u16 = 1;
const SRC: u16 = 5;
const DST: u16 = 6;
const KEY_ENCRYPT: u16 = 9;
const SENSITIVITY: u16 = 12;
const POLICY: u16 = 18;
const SEC_CTX: u16 = 24;
const KMADDRESS: u16 = 25;

// ---------------------------------------------------------------------------------------------
// Builders

/// `sadb_msg` of type `t`, satype ESP, seq 1, pid 42; the length is set by [`msg`].
fn base(t: u8) -> Vec<u8> {
    vec![2, t, 0, 3, 0, 0, 0, 0, 1, 0, 0, 0, 42, 0, 0, 0]
}

fn set_len(b: &mut [u8]) {
    let words = (b.len() / 8) as u16;
    b[4..6].copy_from_slice(&words.to_le_bytes());
}

/// A message of type `t` with `exts`, its `sadb_msg_len` set from its size.
fn msg(t: u8, exts: &[Vec<u8>]) -> Vec<u8> {
    let mut b = base(t);
    for e in exts {
        b.extend_from_slice(e);
    }
    set_len(&mut b);
    b
}

/// An extension of type `ty`: `sadb_ext` + `body`, zero-padded to 8, `sadb_ext_len` set.
fn ext(ty: u16, body: &[u8]) -> Vec<u8> {
    let mut e = vec![0, 0];
    e.extend_from_slice(&ty.to_le_bytes());
    e.extend_from_slice(body);
    while e.len() % 8 != 0 {
        e.push(0);
    }
    let words = (e.len() / 8) as u16;
    e[0..2].copy_from_slice(&words.to_le_bytes());
    e
}

/// Overwrites `sadb_ext_len` of the extension starting at `at` of a message.
fn set_ext_words(b: &mut [u8], at: usize, words: u16) {
    b[at..at + 2].copy_from_slice(&words.to_le_bytes());
}

/// Linux `sockaddr_in` (16 bytes).
fn sin(a: [u8; 4]) -> Vec<u8> {
    let mut s = vec![2, 0, 0, 0];
    s.extend_from_slice(&a);
    s.extend_from_slice(&[0; 8]);
    s
}

/// FreeBSD `sockaddr_in`: `sin_len` 16, `sin_family` 2.
fn bsd_sin(a: [u8; 4]) -> Vec<u8> {
    let mut s = sin(a);
    s[0] = 16;
    s[1] = 2;
    s
}

/// Linux `sockaddr_in6` (28 bytes) for 2001:db8::`last`.
fn sin6(last: u8) -> Vec<u8> {
    let mut s = vec![10, 0, 0, 0, 0, 0, 0, 0, 0x20, 0x01, 0x0d, 0xb8];
    s.extend_from_slice(&[0; 11]);
    s.push(last);
    s.extend_from_slice(&[0; 4]);
    assert_eq!(s.len(), 28);
    s
}

/// An address extension (proto any, `prefixlen`, `sockaddr`), padded.
fn addr(ty: u16, prefixlen: u8, sockaddr: &[u8]) -> Vec<u8> {
    let mut body = vec![255, prefixlen, 0, 0];
    body.extend_from_slice(sockaddr);
    ext(ty, &body)
}

/// `sadb_sa`: SPI 0x12345678, MATURE.
fn sa() -> Vec<u8> {
    ext(SA, &[0x12, 0x34, 0x56, 0x78, 0, 1, 0, 0, 0, 0, 0, 0])
}

/// A Linux `sadb_x_ipsecrequest` with byte length `len` (ESP unless `proto` says otherwise).
fn rq(len: u16, proto: u16, mode: u8, reqid: u32, endpoints: &[&[u8]]) -> Vec<u8> {
    let level = if reqid != 0 { 3 } else { 2 };
    let mut r = Vec::new();
    r.extend_from_slice(&len.to_le_bytes());
    r.extend_from_slice(&proto.to_le_bytes());
    r.extend_from_slice(&[mode, level, 0, 0]);
    r.extend_from_slice(&reqid.to_le_bytes());
    r.extend_from_slice(&[0; 4]);
    for e in endpoints {
        r.extend_from_slice(e);
    }
    r
}

/// A v4 ESP tunnel request (48 bytes) with `reqid` and `mode`.
fn tunnel(proto: u16, mode: u8, reqid: u32, src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    rq(48, proto, mode, reqid, &[&sin(src), &sin(dst)])
}

/// `sadb_x_policy` (IPSEC, `dir`) followed by `requests`.
fn policy(dir: u8, requests: &[Vec<u8>]) -> Vec<u8> {
    let mut body = vec![2, 0, dir, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    for r in requests {
        body.extend_from_slice(r);
    }
    ext(POLICY, &body)
}

/// One valid MIGRATE pair (ESP tunnel, reqid 1): 192.0.2.1→198.51.100.1 moves to 203.0.113.1.
fn pair() -> [Vec<u8>; 2] {
    [tunnel(50, 2, 1, [192, 0, 2, 1], [198, 51, 100, 1]), tunnel(50, 2, 1, [203, 0, 113, 1], [198, 51, 100, 1])]
}

/// SADB_X_MIGRATE with selector 10.1/16 → 10.2/16 and `requests`; the policy starts at byte 64.
fn migrate(requests: &[Vec<u8>]) -> Vec<u8> {
    msg(SADB_X_MIGRATE, &[addr(SRC, 16, &sin([10, 1, 0, 0])), addr(DST, 16, &sin([10, 2, 0, 0])), policy(2, requests)])
}
const MIGRATE_POLICY_AT: usize = 16 + 24 + 24;

fn err(offset: usize, ext: Option<u16>, rule: Rule, dialect: Dialect) -> ParseError {
    ParseError { offset, ext, rule, dialect }
}

/// Parses `b` in `d`, expecting failure with `expected`; checks the Linux errno on the way.
#[track_caller]
fn rejects(b: &[u8], d: Dialect, expected: ParseError) {
    let got = Message::parse(b, d).expect_err("the message breaks a rule");
    assert_eq!(got, expected);
    let header_size_fault =
        expected.ext.is_none() && matches!(expected.rule, Rule::Truncated { .. } | Rule::LengthMismatch { .. });
    assert_eq!(got.errno(), if header_size_fault { libc::EMSGSIZE } else { libc::EINVAL }, "{got}");
}

#[track_caller]
fn accepts(b: &[u8], d: Dialect) -> Message<'_> {
    Message::parse(b, d).unwrap_or_else(|e| panic!("valid message rejected: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Base header

#[test]
fn shorter_than_the_base_header_is_emsgsize() {
    let b = msg(SADB_FLUSH, &[]);
    for n in [0, 1, 8, 15] {
        rejects(&b[..n], L, err(0, None, Rule::Truncated { need: 16, have: n }, L));
    }
    assert_eq!(accepts(&b, L).header.seq, 1);
}

#[test]
fn buffer_longer_than_sadb_msg_len_is_emsgsize() {
    let mut b = msg(SADB_FLUSH, &[]);
    b.extend_from_slice(&[0; 8]);
    rejects(&b, L, err(4, None, Rule::LengthMismatch { declared_words: 2, actual_bytes: 24 }, L));
    // A byte that is not even a whole word (Linux's integer division would let it pass).
    let mut c = msg(SADB_FLUSH, &[]);
    c.push(0);
    rejects(&c, F, err(4, None, Rule::LengthMismatch { declared_words: 2, actual_bytes: 17 }, F));
}

#[test]
fn sadb_msg_len_past_the_end_is_emsgsize() {
    let mut b = msg(SADB_FLUSH, &[]);
    b[4] = 3;
    rejects(&b, L, err(4, None, Rule::LengthMismatch { declared_words: 3, actual_bytes: 16 }, L));
}

#[test]
fn version_other_than_2_is_einval() {
    let mut b = msg(SADB_FLUSH, &[]);
    b[0] = 1;
    rejects(&b, L, err(0, None, Rule::BadVersion(1), L));
}

#[test]
fn nonzero_sadb_msg_reserved_is_einval_in_a_request() {
    let mut b = msg(SADB_FLUSH, &[]);
    b[6] = 1;
    let got = Message::parse_request(&b, L).expect_err("requests need reserved 0");
    assert_eq!(got, err(6, None, Rule::ReservedNonZero(1), L));
    assert_eq!(got.errno(), libc::EINVAL);
}

#[test]
fn kernel_messages_may_carry_a_refcount_in_sadb_msg_reserved() {
    // Linux's pfkey_xfrm_policy2msg writes the policy's refcount into sadb_msg_reserved.
    let mut b = msg(SADB_FLUSH, &[]);
    b[6] = 3;
    let m = accepts(&b, L);
    assert_eq!(m.header.reserved, 3);
    assert_eq!(m.to_bytes(L).unwrap(), b);
}

#[test]
fn message_type_0_is_einval() {
    let mut b = msg(SADB_FLUSH, &[]);
    b[1] = 0;
    rejects(&b, L, err(1, None, Rule::BadMessageType(0), L));
}

#[test]
fn message_type_25_is_einval() {
    let mut b = msg(SADB_FLUSH, &[]);
    b[1] = 25;
    rejects(&b, F, err(1, None, Rule::BadMessageType(25), F));
    b[1] = 24;
    assert_eq!(accepts(&b, F).msg_type(), pfkey::wire::numbers::MessageType::XMigrate);
}

// ---------------------------------------------------------------------------------------------
// Extension framing

#[test]
fn extension_running_past_the_message_is_einval() {
    let mut b = msg(SADB_ADD, &[sa()]);
    set_ext_words(&mut b, 16, 3);
    rejects(&b, L, err(16, Some(SA), Rule::ExtPastEnd { len: 24, remaining: 16 }, L));
}

#[test]
fn zero_length_extension_is_einval() {
    let mut b = msg(SADB_ADD, &[sa()]);
    set_ext_words(&mut b, 16, 0);
    rejects(&b, L, err(16, Some(SA), Rule::ExtZeroLength, L));
}

#[test]
fn extension_type_0_is_einval() {
    let b = msg(SADB_ADD, &[sa(), ext(0, &[0; 4])]);
    rejects(&b, L, err(32, Some(0), Rule::ExtTypeZero, L));
}

#[test]
fn duplicate_extension_is_einval_but_unknown_types_may_repeat() {
    let b = msg(SADB_ADD, &[sa(), sa()]);
    rejects(&b, L, err(32, Some(SA), Rule::DuplicateExt, L));
    let unknown = ext(200, &[7; 4]);
    let ok = msg(SADB_ADD, &[sa(), unknown.clone(), unknown]);
    assert_eq!(accepts(&ok, L).extensions.len(), 3);
}

#[test]
fn extension_shorter_than_its_struct_is_einval() {
    let b = msg(SADB_ADD, &[ext(SA, &[0; 4])]);
    rejects(&b, L, err(16, Some(SA), Rule::ExtTooShort { len: 8, min: 16 }, L));
}

#[test]
fn fixed_size_extension_longer_than_its_struct_is_einval() {
    let b = msg(SADB_ADD, &[ext(SA, &[0; 20])]);
    rejects(&b, L, err(16, Some(SA), Rule::ExtTooLong { len: 24, max: 16 }, L));
    // FreeBSD NAT_T_FRAG (25) is 8 bytes.
    let f = msg(SADB_ADD, &[ext(25, &[0; 12])]);
    rejects(&f, F, err(16, Some(25), Rule::ExtTooLong { len: 16, max: 8 }, F));
}

// ---------------------------------------------------------------------------------------------
// Addresses

#[test]
fn address_family_other_than_inet_or_inet6_is_einval() {
    let mut s = sin([192, 0, 2, 1]);
    s[0] = 7;
    let b = msg(SADB_ADD, &[addr(SRC, 32, &s)]);
    rejects(&b, L, err(24, Some(SRC), Rule::BadFamily(7), L));
    // FreeBSD's AF_INET6 (28) is not Linux's (10).
    let mut f = sin6(1);
    f[0] = 28;
    rejects(&msg(SADB_ADD, &[addr(SRC, 128, &f)]), L, err(24, Some(SRC), Rule::BadFamily(28), L));
}

#[test]
fn address_extension_length_must_be_exact() {
    // v4 in 4 words instead of 3.
    let mut body = vec![255, 32, 0, 0];
    body.extend(sin([192, 0, 2, 1]));
    body.extend([0; 8]);
    let b = msg(SADB_ADD, &[ext(SRC, &body)]);
    rejects(&b, L, err(16, Some(SRC), Rule::AddressLength { family: 2, len_words: 4, expected_words: 3 }, L));
    // v6 cut to 4 words instead of 5.
    let mut v6 = vec![255, 128, 0, 0];
    v6.extend(&sin6(1)[..24]);
    let c = msg(SADB_ADD, &[ext(DST, &v6)]);
    rejects(&c, L, err(16, Some(DST), Rule::AddressLength { family: 10, len_words: 4, expected_words: 5 }, L));
    // An address extension with no sockaddr at all.
    let d = msg(SADB_ADD, &[ext(SRC, &[255, 0, 0, 0])]);
    rejects(&d, L, err(24, Some(SRC), Rule::Truncated { need: 2, have: 0 }, L));
}

#[test]
fn prefix_33_on_ipv4_is_einval() {
    rejects(
        &msg(SADB_ADD, &[addr(SRC, 33, &sin([10, 0, 0, 0]))]),
        L,
        err(21, Some(SRC), Rule::PrefixTooLong { prefixlen: 33, max: 32 }, L),
    );
    assert_eq!(accepts(&msg(SADB_ADD, &[addr(SRC, 32, &sin([10, 0, 0, 0]))]), L).extensions.len(), 1);
}

#[test]
fn prefix_129_on_ipv6_is_einval() {
    rejects(
        &msg(SADB_ADD, &[addr(DST, 129, &sin6(1))]),
        L,
        err(21, Some(DST), Rule::PrefixTooLong { prefixlen: 129, max: 128 }, L),
    );
    assert_eq!(accepts(&msg(SADB_ADD, &[addr(DST, 128, &sin6(1))]), L).extensions.len(), 1);
}

#[test]
fn src_and_dst_of_different_families_are_einval() {
    let b = msg(SADB_ADD, &[sa(), addr(SRC, 32, &sin([192, 0, 2, 1])), addr(DST, 128, &sin6(2))]);
    rejects(&b, L, err(56, Some(DST), Rule::SrcDstFamilyMismatch { src: 2, dst: 10 }, L));
}

#[test]
fn freebsd_sa_len_must_match_the_family() {
    let mut s = bsd_sin([192, 0, 2, 1]);
    assert_eq!(accepts(&msg(SADB_ADD, &[addr(SRC, 32, &s)]), F).extensions.len(), 1);
    s[0] = 15;
    rejects(
        &msg(SADB_ADD, &[addr(SRC, 32, &s)]),
        F,
        err(24, Some(SRC), Rule::SockaddrLen { sa_len: 15, expected: 16 }, F),
    );
}

#[test]
fn kmaddress_pair_of_different_families_is_einval() {
    let mut body = vec![0; 4];
    body.extend(sin([192, 0, 2, 1]));
    body.extend(sin6(2));
    let b = msg(SADB_X_MIGRATE, &[ext(KMADDRESS, &body)]);
    rejects(&b, L, err(16 + 8 + 16, Some(KMADDRESS), Rule::PairFamilyMismatch(2, 10), L));
    // A KMADDRESS too short for its second sockaddr is EINVAL too (parse_sockaddr_pair).
    let mut short = vec![0; 4];
    short.extend(sin([192, 0, 2, 1]));
    let c = msg(SADB_X_MIGRATE, &[ext(KMADDRESS, &short)]);
    rejects(&c, L, err(16 + 8 + 16, Some(KMADDRESS), Rule::Truncated { need: 2, have: 0 }, L));
}

// ---------------------------------------------------------------------------------------------
// Keys, security context, sensitivity

#[test]
fn key_shorter_than_its_bit_count_is_einval() {
    let key = |bits: u16| {
        let mut body = bits.to_le_bytes().to_vec();
        body.extend([0, 0]);
        body.extend([0xab; 8]);
        msg(SADB_ADD, &[ext(KEY_ENCRYPT, &body)])
    };
    rejects(&key(65), L, err(20, Some(KEY_ENCRYPT), Rule::KeyTooShort { bits: 65, len_bytes: 16 }, L));
    let ok = key(64);
    let m = accepts(&ok, L);
    let k = m.key(pfkey::wire::numbers::ExtKind::KeyEncrypt).unwrap();
    assert_eq!((k.bits, k.key.len()), (64, 8));
}

#[test]
fn sec_ctx_longer_than_a_page_is_einval() {
    let mut body = vec![1, 1];
    body.extend(4097u16.to_le_bytes());
    rejects(&msg(SADB_ADD, &[ext(SEC_CTX, &body)]), L, err(22, Some(SEC_CTX), Rule::SecCtxTooLong(4097), L));
}

#[test]
fn sec_ctx_length_must_be_exactly_header_plus_context() {
    let ctx = |ctx_len: u16, ctx: &[u8]| {
        let mut body = vec![1, 1];
        body.extend(ctx_len.to_le_bytes());
        body.extend(ctx);
        msg(SADB_ADD, &[ext(SEC_CTX, &body)])
    };
    // 10 context bytes need 3 words; the extension has 2.
    rejects(
        &ctx(10, b"system_u"),
        L,
        err(16, Some(SEC_CTX), Rule::SecCtxLength { ctx_len: 10, len_words: 2, expected_words: 3 }, L),
    );
    // 4 context bytes need 2 words; the extension has 3.
    rejects(
        &ctx(4, b"abcd\0\0\0\0\0\0\0\0"),
        L,
        err(16, Some(SEC_CTX), Rule::SecCtxLength { ctx_len: 4, len_words: 3, expected_words: 2 }, L),
    );
    let ok = ctx(8, b"system_u");
    assert_eq!(accepts(&ok, L).extensions.len(), 1);
}

#[test]
fn sensitivity_bitmaps_overflowing_the_extension_are_einval() {
    // sens_len 2 + integ_len 1 words need 16 + 24 bytes; the extension has 24.
    let b = msg(SADB_ADD, &[ext(SENSITIVITY, &[0, 0, 0, 0, 1, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])]);
    rejects(&b, L, err(25, Some(SENSITIVITY), Rule::SensLength { sens_len: 2, integ_len: 1, len_bytes: 24 }, L));
}

// ---------------------------------------------------------------------------------------------
// Policies and ipsecrequests

#[test]
fn ipsecrequest_len_in_words_instead_of_bytes_is_einval() {
    let mut r = tunnel(50, 2, 1, [192, 0, 2, 1], [198, 51, 100, 1]);
    r[0] = 6; // 48 bytes written as 6 words
    let b = msg(SADB_X_SPDADD, &[policy(2, &[r])]);
    rejects(&b, L, err(32, Some(POLICY), Rule::RequestTooShort { len: 6, min: 16 }, L));
}

#[test]
fn request_running_past_the_policy_is_einval() {
    let mut r = tunnel(50, 2, 1, [192, 0, 2, 1], [198, 51, 100, 1]);
    r[0] = 56;
    let b = msg(SADB_X_SPDADD, &[policy(2, &[r])]);
    rejects(&b, L, err(32, Some(POLICY), Rule::RequestPastEnd { len: 56, remaining: 48 }, L));
}

#[test]
fn bytes_after_the_last_request_are_einval() {
    let r = tunnel(50, 2, 1, [192, 0, 2, 1], [198, 51, 100, 1]);
    // 8 bytes that claim a 16-byte request: too short to be one.
    let mut tail = 16u16.to_le_bytes().to_vec();
    tail.extend([0; 6]);
    let b = msg(SADB_X_SPDADD, &[policy(2, &[r.clone(), tail])]);
    rejects(&b, L, err(32 + 48, Some(POLICY), Rule::PolicyTrailing(8), L));
    // 8 zero bytes read as a request of length 0.
    let c = msg(SADB_X_SPDADD, &[policy(2, &[r, vec![0; 8]])]);
    rejects(&c, L, err(32 + 48, Some(POLICY), Rule::RequestTooShort { len: 0, min: 16 }, L));
}

#[test]
fn request_body_that_is_not_a_sockaddr_pair_is_einval() {
    let r = rq(24, 50, 2, 1, &[&[2, 0, 0, 0, 10, 0, 0, 1]]);
    let b = msg(SADB_X_SPDADD, &[policy(2, &[r])]);
    rejects(&b, L, err(32 + 16, Some(POLICY), Rule::RequestAddresses(8), L));
}

// ---------------------------------------------------------------------------------------------
// MIGRATE (pfkey_migrate / ipsecrequests_to_migrate)

#[test]
fn migrate_with_one_pair_is_valid() {
    let [a, b] = pair();
    let m = migrate(&[a, b]);
    assert_eq!(m.len(), 16 + 24 + 24 + 16 + 96);
    let p = accepts(&m, L);
    assert_eq!(p.policy().unwrap().requests.len(), 2);
}

#[test]
fn migrate_with_an_odd_number_of_requests_is_einval() {
    let [a, b] = pair();
    let c = a.clone();
    rejects(&migrate(&[a, b, c]), L, err(MIGRATE_POLICY_AT, Some(POLICY), Rule::MigrateOddRequests(3), L));
}

#[test]
fn migrate_pair_with_different_proto_is_einval() {
    let [a, _] = pair();
    let b = tunnel(51, 2, 1, [203, 0, 113, 1], [198, 51, 100, 1]);
    rejects(
        &migrate(&[a, b]),
        L,
        err(MIGRATE_POLICY_AT, Some(POLICY), Rule::MigratePairMismatch { pair: 0, field: "proto" }, L),
    );
}

#[test]
fn migrate_pair_with_different_mode_is_einval() {
    let [a, _] = pair();
    let b = tunnel(50, 3, 1, [203, 0, 113, 1], [198, 51, 100, 1]);
    rejects(
        &migrate(&[a, b]),
        L,
        err(MIGRATE_POLICY_AT, Some(POLICY), Rule::MigratePairMismatch { pair: 0, field: "mode" }, L),
    );
}

#[test]
fn migrate_pair_with_different_reqid_is_einval() {
    // The first pair is fine; the second differs in reqid.
    let [a, b] = pair();
    let c = tunnel(50, 2, 7, [192, 0, 2, 1], [198, 51, 100, 1]);
    let d = tunnel(50, 2, 8, [203, 0, 113, 1], [198, 51, 100, 1]);
    rejects(
        &migrate(&[a, b, c, d]),
        L,
        err(MIGRATE_POLICY_AT, Some(POLICY), Rule::MigratePairMismatch { pair: 1, field: "reqid" }, L),
    );
}

#[test]
fn migrate_without_pairs_is_einval() {
    rejects(&migrate(&[]), L, err(MIGRATE_POLICY_AT, Some(POLICY), Rule::MigrateNoPairs, L));
}

#[test]
fn migrate_with_7_pairs_is_einval_and_6_are_fine() {
    let six: Vec<Vec<u8>> = (0..6).flat_map(|_| pair()).collect();
    assert_eq!(accepts(&migrate(&six), L).policy().unwrap().requests.len(), 12);
    let seven: Vec<Vec<u8>> = (0..7).flat_map(|_| pair()).collect();
    rejects(&migrate(&seven), L, err(MIGRATE_POLICY_AT, Some(POLICY), Rule::MigrateTooManyPairs(7), L));
}

#[test]
fn pair_rules_apply_only_to_migrate() {
    let [a, _] = pair();
    let b = msg(SADB_X_SPDADD, &[policy(2, std::slice::from_ref(&a))]);
    assert_eq!(accepts(&b, L).policy().unwrap().requests.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Error text and errno

#[test]
fn display_names_offset_extension_and_rule() {
    let e = Message::parse(&msg(SADB_ADD, &[addr(SRC, 33, &sin([10, 0, 0, 0]))]), L).unwrap_err();
    assert_eq!(e.to_string(), "byte 21 (SADB_EXT_ADDRESS_SRC [5]): prefix length 33 exceeds 32");

    let [a, _] = pair();
    let b = tunnel(50, 3, 1, [203, 0, 113, 1], [198, 51, 100, 1]);
    let e = Message::parse(&migrate(&[a, b]), L).unwrap_err();
    assert_eq!(
        e.to_string(),
        "byte 64 (SADB_X_EXT_POLICY [18]): SADB_X_MIGRATE pair 0: old and new request differ in mode"
    );

    let e = Message::parse(&msg(SADB_ADD, &[sa(), ext(0, &[0; 4])]), L).unwrap_err();
    assert_eq!(e.to_string(), "byte 32 (extension type 0): sadb_ext_type is 0 (SADB_EXT_RESERVED)");

    let mut h = msg(SADB_FLUSH, &[]);
    h[0] = 3;
    let e = Message::parse(&h, L).unwrap_err();
    assert_eq!(e.to_string(), "byte 0: sadb_msg_version is 3, not PF_KEY_V2 (2)");

    let e = Message::parse(&h[..10], L).unwrap_err();
    assert_eq!(e.to_string(), "byte 0: truncated: 16 bytes needed, 10 present");
}

/// Extension types 23–26 have different names in the two dialects; the error names the one of
/// the dialect the message was parsed in.
#[test]
fn display_uses_the_dialects_extension_names() {
    let b = msg(SADB_ADD, &[ext(25, &[0; 12])]);
    let f = Message::parse(&b, F).unwrap_err();
    assert_eq!(
        f.to_string(),
        "byte 16 (SADB_X_EXT_NAT_T_FRAG [25]): extension is 16 bytes, longer than its fixed 8-byte layout"
    );
    let l = Message::parse(&b, L).unwrap_err();
    assert_eq!(l.ext, Some(25));
    assert!(l.to_string().starts_with("byte 24 (SADB_X_EXT_KMADDRESS [25]): "), "{l}");
}

#[test]
fn errno_is_emsgsize_for_size_faults_and_einval_otherwise() {
    let flush = msg(SADB_FLUSH, &[]);
    assert_eq!(Message::parse(&flush[..12], L).unwrap_err().errno(), libc::EMSGSIZE);
    let mut long = flush.clone();
    long.extend([0; 8]);
    assert_eq!(Message::parse(&long, L).unwrap_err().errno(), libc::EMSGSIZE);
    let mut v = flush.clone();
    v[0] = 1;
    assert_eq!(Message::parse(&v, L).unwrap_err().errno(), libc::EINVAL);
    // A structure truncated inside an extension is EINVAL, as in parse_exthdrs.
    let d = msg(SADB_ADD, &[ext(SRC, &[255, 0, 0, 0])]);
    let e = Message::parse(&d, L).unwrap_err();
    assert_eq!(e.rule, Rule::Truncated { need: 2, have: 0 });
    assert_eq!(e.errno(), libc::EINVAL);
    assert_eq!((libc::EMSGSIZE, libc::EINVAL), (90, 22));
}

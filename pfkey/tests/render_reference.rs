//! The reference messages the render snapshots and the CLI tests share, built with the message
//! builders (or, for kernel-originated messages, extension by extension as `af_key.c` composes
//! them). `render_snapshots.rs` and `cli_decode_encode.rs` include this file with `#[path]`;
//! compiled on its own it holds no tests.
#![allow(dead_code)]

use std::borrow::Cow;

use pfkey::message::*;
use pfkey::wire::Dialect;
use pfkey::wire::numbers::*;

/// The pid of the key manager in the requests and replies.
pub const PID: u32 = 4242;
/// The SPI of the reference SA.
pub const SPI: u32 = 0xc001_0001;

/// One reference message.
pub struct Reference {
    /// A short name (snapshot names use it).
    pub name: &'static str,
    /// The message.
    pub msg: Message<'static>,
}

impl Reference {
    /// Whether the message can be encoded in `d` (KMADDRESS has no FreeBSD number).
    pub fn encodes_in(&self, d: Dialect) -> bool {
        self.msg.to_bytes(d).is_ok()
    }

    /// The wire bytes in `d`.
    pub fn bytes(&self, d: Dialect) -> Vec<u8> {
        self.msg.to_bytes(d).unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }
}

pub fn ip(s: &str) -> SockAddr {
    SockAddr::new(s.parse().unwrap())
}

/// The tunnel endpoints: local (before and after the move) and remote.
pub fn local_old() -> SockAddr {
    ip("192.0.2.1")
}
pub fn local_new() -> SockAddr {
    ip("203.0.113.7")
}
pub fn remote() -> SockAddr {
    ip("198.51.100.1")
}

/// AES-GCM-128 key plus 4-byte salt.
pub fn gcm_key() -> Vec<u8> {
    (1..=20).collect()
}

/// The reference ESP tunnel SA: AES-GCM-16, NAT-T 4500->4500, hard/soft lifetimes.
pub fn esp_sa() -> SaSpec {
    let mut sa = SaSpec::esp_tunnel_gcm(SPI, local_old(), remote(), 1, &gcm_key());
    sa.natt = Some(NatT::esp_in_udp(4500, 4500));
    sa.hard = Some(Lifetime { allocations: 0, bytes: 0, addtime: 3600, usetime: 0 });
    sa.soft = Some(Lifetime { allocations: 0, bytes: 0, addtime: 3000, usetime: 0 });
    sa
}

pub fn tunnel_policy_v4() -> PolicySpec {
    let sel = Selector::new(ip("10.1.0.0"), 16, ip("10.2.0.0"), 16);
    let mut p = PolicySpec::esp_tunnel(sel, PolicyDir::Outbound, local_old(), remote(), 1);
    p.priority = 2000;
    p
}

pub fn beet_policy_v6() -> PolicySpec {
    PolicySpec {
        selector: Selector {
            src: ip("2001:20::1"),
            src_prefixlen: 128,
            dst: ip("2001:20::2"),
            dst_prefixlen: 128,
            proto: IPSEC_ULPROTO_ANY,
        },
        dir: PolicyDir::Inbound,
        policy_type: PolicyType::Ipsec,
        priority: 0,
        id: 0,
        templates: vec![Template {
            proto: IPPROTO_ESP,
            mode: Mode::Beet,
            level: Level::Require,
            reqid: 0,
            endpoints: Some(Endpoints { src: ip("2001:db8:b::1"), dst: ip("2001:db8:a::1") }),
        }],
    }
}

fn without_keys(m: Message<'static>) -> Message<'static> {
    let exts =
        m.extensions.to_vec().into_iter().filter(|e| !matches!(e, Extension::KeyAuth(_) | Extension::KeyEncrypt(_)));
    Message { header: m.header, extensions: Extensions::Owned(exts.map(Extension::into_owned).collect()) }
}

fn alg(id: u8, ivlen: u8, minbits: u16, maxbits: u16) -> Alg {
    Alg { id, ivlen, minbits, maxbits, reserved: 0 }
}

fn getspi_msg() -> Message<'static> {
    build::getspi(SaType::Esp, local_old(), remote(), (0x100, 0x0fff_ffff), Mode::Tunnel, 1).with_seq(1).with_pid(PID)
}

fn add_msg() -> Message<'static> {
    build::add(&esp_sa()).with_seq(2).with_pid(PID)
}

fn update_addresses_v4() -> Message<'static> {
    UpdateAddresses {
        satype: SaType::Esp,
        spi: SPI,
        src: local_old(),
        dst: remote(),
        mode: Mode::Tunnel,
        reqid: 1,
        new_src: Some(local_new()),
        new_dst: None,
        natt: Some(NatT::esp_in_udp(4500, 4500)),
    }
    .message()
    .with_seq(3)
    .with_pid(PID)
}

fn update_addresses_v6() -> Message<'static> {
    UpdateAddresses {
        satype: SaType::Esp,
        spi: 0x0000_2a2a,
        src: ip("2001:db8:a::1"),
        dst: ip("2001:db8:b::1"),
        mode: Mode::Tunnel,
        reqid: 7,
        new_src: Some(ip("2001:db8:c::1")),
        new_dst: Some(ip("2001:db8:d::1")),
        natt: None,
    }
    .message()
    .with_seq(9)
    .with_pid(PID)
}

fn register_reply() -> Message<'static> {
    let auth = vec![
        alg(AuthAlg::Md5Hmac.value(), 0, 128, 128),
        alg(AuthAlg::Sha1Hmac.value(), 0, 160, 160),
        alg(AuthAlg::Sha2_256Hmac.value(), 0, 256, 256),
        alg(AuthAlg::Sha2_512Hmac.value(), 0, 512, 512),
        alg(AuthAlg::Null.value(), 0, 0, 0),
    ];
    let enc = vec![
        alg(EncryptAlg::TripleDesCbc.value(), 8, 192, 192),
        alg(EncryptAlg::AesCbc.value(), 16, 128, 256),
        alg(EncryptAlg::AesCtr.value(), 8, 160, 288),
        alg(EncryptAlg::AesGcmIcv16.value(), 8, 160, 288),
        alg(EncryptAlg::Null.value(), 0, 0, 0),
    ];
    Message::new(MessageType::Register, SaType::Esp)
        .with_seq(5)
        .with_pid(PID)
        .with(Extension::SupportedAuth(Supported { reserved: 0, algs: auth.into() }))
        .with(Extension::SupportedEncrypt(Supported { reserved: 0, algs: enc.into() }))
}

fn acquire() -> Message<'static> {
    let cbc = Comb {
        auth: DefaultNone(AuthAlg::Sha2_256Hmac),
        encrypt: DefaultNone(EncryptAlg::AesCbc),
        auth_minbits: 256,
        auth_maxbits: 256,
        encrypt_minbits: 128,
        encrypt_maxbits: 256,
        soft_addtime: 2700,
        hard_addtime: 3600,
        soft_usetime: 2700,
        hard_usetime: 3600,
        ..Comb::default()
    };
    let gcm = Comb {
        encrypt: DefaultNone(EncryptAlg::AesGcmIcv16),
        encrypt_minbits: 160,
        encrypt_maxbits: 288,
        soft_bytes: 1 << 30,
        hard_bytes: 1 << 31,
        ..Comb::default()
    };
    Message::new(MessageType::Acquire, SaType::Esp)
        .with_seq(77)
        .with(Extension::AddressSrc(Address::prefix(local_old(), 32, 0)))
        .with(Extension::AddressDst(Address::prefix(remote(), 32, 0)))
        .with(Extension::Policy(Policy {
            policy_type: PolicyType::Ipsec,
            dir: PolicyDir::Outbound,
            reserved: 0,
            id: 0x209,
            priority: 0,
            requests: List::default(),
        }))
        .with(Extension::Proposal(Proposal {
            replay: 32,
            reserved: [0; 3],
            combs: vec![cbc, gcm].into(),
            trailing: None,
        }))
}

fn expire_hard() -> Message<'static> {
    Message::new(MessageType::Expire, SaType::Esp)
        .with(Extension::Sa(Sa {
            spi: SPI,
            replay: 32,
            state: SaState::Dead,
            auth: AuthAlg::None,
            encrypt: EncryptAlg::AesGcmIcv16,
            flags: 0,
        }))
        .with(Extension::LifetimeCurrent(Lifetime {
            allocations: 0,
            bytes: 123_456_789,
            addtime: 1_700_000_000,
            usetime: 1_700_000_010,
        }))
        .with(Extension::LifetimeHard(Lifetime { allocations: 0, bytes: 0, addtime: 3600, usetime: 0 }))
        .with(Extension::AddressSrc(Address::host(local_old())))
        .with(Extension::AddressDst(Address::host(remote())))
}

fn spddump_entry() -> Message<'static> {
    let sel = Selector::new(ip("10.2.0.0"), 16, ip("10.1.0.0"), 16);
    let mut p = PolicySpec::esp_tunnel(sel, PolicyDir::Fwd, remote(), local_old(), 1);
    p.id = 530;
    p.templates[0].level = Level::Require;
    let mut m = Message::new(MessageType::XSpdDump, SaType::Unspec)
        .with_pid(PID)
        .with(Extension::LifetimeHard(Lifetime::default()))
        .with(Extension::LifetimeSoft(Lifetime::default()))
        .with(Extension::LifetimeCurrent(Lifetime { allocations: 0, bytes: 0, addtime: 1_700_000_000, usetime: 0 }));
    for e in build::spdadd(&p).extensions.iter() {
        m.push(e.into_owned());
    }
    m
}

fn migrate_v4_kmaddress() -> Message<'static> {
    Migrate {
        selector: Selector::new(ip("10.1.0.0"), 16, ip("10.2.0.0"), 16),
        dir: PolicyDir::Outbound,
        kmaddress: Some((local_new(), remote())),
        bundles: vec![MigrateBundle::new(
            IPPROTO_ESP,
            Mode::Tunnel,
            1,
            Endpoints { src: local_old(), dst: remote() },
            Endpoints { src: local_new(), dst: remote() },
        )],
        natt: None,
    }
    .message()
    .with_seq(7)
    .with_pid(PID)
}

/// The kernel's broadcast after an IPv6 move of two bundles (seq 0, pid 0).
fn migrate_v6() -> Message<'static> {
    let (old_l, new_l, peer) = (ip("2001:db8:a::1"), ip("2001:db8:c::1"), ip("2001:db8:b::1"));
    Migrate {
        selector: Selector::new(ip("fd00:2::"), 64, ip("fd00:1::"), 64),
        dir: PolicyDir::Inbound,
        kmaddress: Some((new_l, peer)),
        bundles: vec![
            MigrateBundle::new(
                IPPROTO_ESP,
                Mode::Tunnel,
                5,
                Endpoints { src: peer, dst: old_l },
                Endpoints { src: peer, dst: new_l },
            ),
            MigrateBundle::new(
                IPPROTO_AH,
                Mode::Tunnel,
                0,
                Endpoints { src: peer, dst: old_l },
                Endpoints { src: peer, dst: new_l },
            ),
        ],
        natt: None,
    }
    .message()
}

fn migrate_natt() -> Message<'static> {
    Migrate {
        selector: Selector::new(ip("10.1.0.0"), 16, ip("10.2.0.0"), 16),
        dir: PolicyDir::Outbound,
        kmaddress: None,
        bundles: vec![MigrateBundle::new(
            IPPROTO_ESP,
            Mode::Tunnel,
            1,
            Endpoints { src: local_old(), dst: remote() },
            Endpoints { src: local_new(), dst: remote() },
        )],
        natt: Some(NatT::esp_in_udp(4500, 4501)),
    }
    .message()
    .with_seq(8)
    .with_pid(PID)
}

/// `pfkey_send_new_mapping`: old peer address/port in SRC/SPORT, new in DST/DPORT.
fn nat_t_new_mapping() -> Message<'static> {
    Message::new(MessageType::XNatTNewMapping, SaType::Esp)
        .with_seq(78)
        .with(Extension::Sa(Sa {
            spi: SPI,
            replay: 0,
            state: SaState::Larval,
            auth: AuthAlg::None,
            encrypt: EncryptAlg::None,
            flags: 0,
        }))
        .with(Extension::AddressSrc(Address::prefix(remote(), 32, 0)))
        .with(Extension::NatTSport(NatTPort { port: 4500, reserved: 0 }))
        .with(Extension::AddressDst(Address::prefix(ip("198.51.100.77"), 32, 0)))
        .with(Extension::NatTDport(NatTPort { port: 62001, reserved: 0 }))
}

fn unknown_extension() -> Message<'static> {
    Message::new(MessageType::Flush, SaType::Esp).with_seq(10).with_pid(PID).with(Extension::Unknown(UnknownExt {
        ext_type: 99,
        data: Cow::Owned(vec![0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8]),
    }))
}

/// A DELETE whose IPv6 destination carries non-zero bytes in its padding (kept as `trailing`).
fn delete_v6_dirty_padding() -> Message<'static> {
    let mut dst = Address::host(ip("2001:db8:b::1"));
    dst.trailing = Some(Cow::Owned(vec![0, 0, 0, 0xff]));
    Message::new(MessageType::Delete, SaType::Esp)
        .with_seq(11)
        .with_pid(PID)
        .with(Extension::Sa(Sa {
            spi: 0x2a2a,
            replay: 0,
            state: SaState::Mature,
            auth: AuthAlg::None,
            encrypt: EncryptAlg::None,
            flags: 0,
        }))
        .with(Extension::AddressSrc(Address::host(ip("2001:db8:a::1"))))
        .with(Extension::AddressDst(dst))
}

/// A GET reply carrying every remaining Linux extension once (keys, identities, sensitivity,
/// KMPRIVATE, PROXY, NAT_T_OA, SEC_CTX), so that each renders and round-trips.
fn get_reply_linux_extensions() -> Message<'static> {
    let key = |n: u8, len: u8| Key::new(&(n..n + len).collect::<Vec<u8>>());
    let ident = |t, s: &str| Ident {
        ident_type: t,
        reserved: 0,
        id: 0,
        string: Cow::Owned(s.as_bytes().to_vec()),
        trailing: None,
    };
    Message::new(MessageType::Get, SaType::Esp)
        .with_seq(13)
        .with_pid(PID)
        .with(Extension::Sa(Sa {
            spi: 0x0000_1001,
            replay: 64,
            state: SaState::Mature,
            auth: AuthAlg::Sha2_256Hmac,
            encrypt: EncryptAlg::AesCbc,
            flags: SADB_SAFLAGS_PFS | SADB_SAFLAGS_NOECN,
        }))
        .with(Extension::LifetimeCurrent(Lifetime { allocations: 3, bytes: 4096, addtime: 1_700_000_000, usetime: 0 }))
        .with(Extension::LifetimeHard(Lifetime { allocations: 0, bytes: 1 << 32, addtime: 86400, usetime: 0 }))
        .with(Extension::LifetimeSoft(Lifetime { allocations: 0, bytes: 3 << 30, addtime: 80000, usetime: 0 }))
        .with(Extension::AddressSrc(Address::host(local_old())))
        .with(Extension::AddressDst(Address::host(remote())))
        .with(Extension::AddressProxy(Address::prefix(SockAddr::with_port("10.9.0.0".parse().unwrap(), 443), 24, 6)))
        .with(Extension::KeyAuth(key(0x40, 32)))
        .with(Extension::KeyEncrypt(key(0x80, 16)))
        .with(Extension::IdentitySrc(ident(IdentType::Fqdn, "vpn.example.org")))
        .with(Extension::IdentityDst(ident(IdentType::UserFqdn, "alice@example.org")))
        .with(Extension::Sensitivity(Sens {
            dpd: 1,
            sens_level: 2,
            integ_level: 3,
            reserved: 0,
            sens_bitmap: Cow::Owned(vec![0x80, 0, 0, 0, 0, 0, 0, 1]),
            integ_bitmap: Cow::Owned(vec![0xff; 8]),
            trailing: None,
        }))
        .with(Extension::KmPrivate(KmPrivate { reserved: 0, data: Cow::Owned(b"racoon\0\0".to_vec()) }))
        .with(Extension::Sa2(Sa2 { mode: Mode::Transport, reserved1: 0, reserved2: 0, sequence: 99, reqid: 16385 }))
        .with(Extension::NatTType(NatTTypeExt { nat_t_type: NatTType::EspInUdp, reserved: [0; 3] }))
        .with(Extension::NatTSport(NatTPort { port: 4500, reserved: 0 }))
        .with(Extension::NatTDport(NatTPort { port: 4500, reserved: 0 }))
        .with(Extension::NatTOa(Address::host(ip("10.0.0.5"))))
        .with(Extension::SecCtx(SecCtx {
            alg: 1,
            doi: 1,
            ctx: Cow::Owned(b"system_u:object_r:ipsec_spd_t:s0".to_vec()),
            trailing: None,
        }))
}

/// A Linux SADB_DUMP request with the SADB_X_EXT_FILTER of `pfkey_dump` (10.1/16 -> 10.2/16).
fn dump_with_filter() -> Message<'static> {
    let mut saddr = [0u8; 16];
    saddr[..4].copy_from_slice(&[10, 1, 0, 0]);
    let mut daddr = [0u8; 16];
    daddr[..4].copy_from_slice(&[10, 2, 0, 0]);
    build::dump(SaType::Esp).with_seq(14).with_pid(PID).with(Extension::Filter(Filter {
        saddr,
        daddr,
        family: AF_INET,
        splen: 16,
        dplen: 16,
    }))
}

/// A FreeBSD GET reply with FreeBSD's own extensions 23-26 (NAT_T_OAI/OAR, NAT_T_FRAG,
/// SA_REPLAY).
fn freebsd_get_reply_natt() -> Message<'static> {
    Message::new(MessageType::Get, SaType::Esp)
        .with_seq(15)
        .with_pid(PID)
        .with(Extension::Sa(Sa {
            spi: SPI,
            replay: 0,
            state: SaState::Mature,
            auth: AuthAlg::None,
            encrypt: EncryptAlg::AesGcmIcv16,
            flags: 0,
        }))
        .with(Extension::Sa2(Sa2 { mode: Mode::Tunnel, reserved1: 0, reserved2: 0, sequence: 0, reqid: 1 }))
        .with(Extension::AddressSrc(Address::host(local_old())))
        .with(Extension::AddressDst(Address::host(remote())))
        .with(Extension::NatTType(NatTTypeExt { nat_t_type: NatTType::EspInUdp, reserved: [0; 3] }))
        .with(Extension::NatTSport(NatTPort { port: 4500, reserved: 0 }))
        .with(Extension::NatTDport(NatTPort { port: 4500, reserved: 0 }))
        .with(Extension::NatTOai(Address::host(ip("10.0.0.5"))))
        .with(Extension::NatTOar(Address::host(ip("198.51.100.1"))))
        .with(Extension::NatTFrag(NatTFrag { fraglen: 1400, reserved: 0 }))
        .with(Extension::SaReplay(SaReplay { replay: 2048 }))
}

/// Every reference message, in a fixed order.
pub fn all() -> Vec<Reference> {
    let r = |name, msg| Reference { name, msg };
    vec![
        r("getspi", getspi_msg()),
        r("add_esp_tunnel_gcm_natt", add_msg()),
        r("add_reply", without_keys(add_msg())),
        r("update_new_addresses_v4", update_addresses_v4()),
        r("update_new_addresses_v6", update_addresses_v6()),
        r("delete", build::delete(SaType::Esp, SPI, local_old(), remote()).with_seq(4).with_pid(PID)),
        r("error_reply_esrch", Message::new(MessageType::Delete, SaType::Esp).with_errno(3).with_seq(4).with_pid(PID)),
        r("register_reply", register_reply()),
        r("acquire", acquire()),
        r("expire_hard", expire_hard()),
        r("spdadd_tunnel_v4", build::spdadd(&tunnel_policy_v4()).with_seq(6).with_pid(PID)),
        r("spdadd_beet_v6", build::spdadd(&beet_policy_v6()).with_seq(12).with_pid(PID)),
        r("spddump_entry", spddump_entry()),
        r("migrate_v4_kmaddress", migrate_v4_kmaddress()),
        r("migrate_v6_broadcast", migrate_v6()),
        r("migrate_natt", migrate_natt()),
        r("nat_t_new_mapping", nat_t_new_mapping()),
        r("unknown_extension", unknown_extension()),
        r("delete_v6_dirty_padding", delete_v6_dirty_padding()),
        r("get_reply_linux_extensions", get_reply_linux_extensions()),
        r("dump_with_filter", dump_with_filter()),
        r("freebsd_get_reply_natt", freebsd_get_reply_natt()),
    ]
}

/// The reference message called `name`.
pub fn get(name: &str) -> Reference {
    all().into_iter().find(|r| r.name == name).unwrap_or_else(|| panic!("no reference message {name}"))
}

/// The reference messages that the FreeBSD dialect cannot carry (KMADDRESS, SEC_CTX, NAT_T_OA,
/// FILTER have no FreeBSD numbers).
pub const LINUX_ONLY: [&str; 4] =
    ["migrate_v4_kmaddress", "migrate_v6_broadcast", "get_reply_linux_extensions", "dump_with_filter"];

/// The reference messages that the Linux dialect cannot carry (FreeBSD's extensions 23-26).
pub const FREEBSD_ONLY: [&str; 1] = ["freebsd_get_reply_natt"];

/// The dialect a reference message is shown in: Linux, unless only FreeBSD can carry it.
pub fn home_dialect(r: &Reference) -> Dialect {
    if r.encodes_in(Dialect::Linux) { Dialect::Linux } else { Dialect::FreeBsd }
}

/// The reference DELETE with its SA extension one word longer than `sadb_sa` (`sadb_ext_len` 3,
/// the extra word `ab` bytes). Linux accepts it (`parse_exthdrs` checks only the minimum length);
/// the typed `Sa` has no field for the extra word (a message-layer limitation).
pub fn delete_with_oversize_sa() -> Vec<u8> {
    let d = get("delete").bytes(Dialect::Linux);
    let mut b = d[..16].to_vec();
    b.extend_from_slice(&[3, 0, 1, 0]);
    b.extend_from_slice(&d[20..32]);
    b.extend_from_slice(&[0xab; 8]);
    b.extend_from_slice(&d[32..]);
    b[4] = (b.len() / 8) as u8;
    b
}

//! Writes the seed corpus for the `parse` target: messages built with the `pfkey` builders, in
//! both dialects, to the directory given as the first argument.

use std::path::PathBuf;

use pfkey::message::*;
use pfkey::wire::Dialect;
use pfkey::wire::numbers::*;

fn sa(s: &str) -> SockAddr {
    SockAddr::new(s.parse().unwrap())
}

fn migrate(v6: bool, pairs: usize, natt: bool) -> Message<'static> {
    let (a, b, c, n1, n2, plen) = if v6 {
        (sa("2001:db8:1::1"), sa("2001:db8:2::1"), sa("2001:db8:3::1"), sa("fd00:1::"), sa("fd00:2::"), 64)
    } else {
        (sa("192.0.2.1"), sa("198.51.100.1"), sa("203.0.113.1"), sa("10.1.0.0"), sa("10.2.0.0"), 16)
    };
    Migrate {
        selector: Selector::new(n1, plen, n2, plen),
        dir: PolicyDir::Outbound,
        kmaddress: Some((c, b)),
        bundles: (0..pairs)
            .map(|i| {
                let mode = if i % 2 == 0 { Mode::Tunnel } else { Mode::Beet };
                MigrateBundle::new(
                    IPPROTO_ESP,
                    mode,
                    i as u32 + 1,
                    Endpoints { src: a, dst: b },
                    Endpoints { src: c, dst: b },
                )
            })
            .collect(),
        natt: natt.then(|| NatT::esp_in_udp(4500, 4500)),
    }
    .message()
    .with_seq(1)
    .with_pid(42)
}

fn spec(v6: bool) -> SaSpec {
    let (s, d) = if v6 { (sa("2001:db8::1"), sa("2001:db8::2")) } else { (sa("192.0.2.1"), sa("198.51.100.1")) };
    SaSpec {
        auth: Some(AlgKey::new(AuthAlg::Sha2_256Hmac, &[0x11; 32])),
        hard: Some(Lifetime { addtime: 3600, ..Lifetime::default() }),
        soft: Some(Lifetime { addtime: 3000, ..Lifetime::default() }),
        natt: Some(NatT::esp_in_udp(4500, 4500)),
        ..SaSpec::esp_tunnel_gcm(0x1000, s, d, 1, &[0x22; 20])
    }
}

fn messages() -> Vec<(&'static str, Message<'static>, bool)> {
    let sel = Selector::new(sa("10.0.0.0"), 8, sa("10.1.0.0"), 16);
    let pol = PolicySpec::esp_tunnel(sel, PolicyDir::Outbound, sa("192.0.2.1"), sa("198.51.100.1"), 7);
    let upd = UpdateAddresses {
        satype: SaType::Esp,
        spi: 0x1234_5678,
        src: sa("192.0.2.1"),
        dst: sa("198.51.100.1"),
        mode: Mode::Tunnel,
        reqid: 7,
        new_src: Some(sa("203.0.113.5")),
        new_dst: Some(sa("198.51.100.9")),
        natt: Some(NatT::esp_in_udp(4500, 4500)),
    };
    let acquire = Message::new(MessageType::Acquire, SaType::Esp)
        .with(Extension::AddressSrc(Address::host(sa("192.0.2.1"))))
        .with(Extension::AddressDst(Address::host(sa("198.51.100.1"))))
        .with(Extension::IdentitySrc(Ident {
            ident_type: IdentType::Fqdn,
            reserved: 0,
            id: 0,
            string: b"moon.example"[..].into(),
            trailing: None,
        }))
        .with(Extension::Proposal(Proposal {
            replay: 32,
            reserved: [0; 3],
            combs: vec![Comb { auth_minbits: 256, auth_maxbits: 256, ..Comb::default() }].into(),
            trailing: None,
        }))
        .with(Extension::SecCtx(SecCtx { alg: 1, doi: 1, ctx: b"system_u:object_r"[..].into(), trailing: None }));
    let register_reply = Message::new(MessageType::Register, SaType::Esp)
        .with(Extension::SupportedAuth(Supported {
            reserved: 0,
            algs: vec![Alg { id: 5, ivlen: 0, minbits: 256, maxbits: 256, reserved: 0 }].into(),
        }))
        .with(Extension::SupportedEncrypt(Supported {
            reserved: 0,
            algs: vec![Alg { id: 12, ivlen: 16, minbits: 128, maxbits: 256, reserved: 0 }].into(),
        }));
    vec![
        ("migrate-v4", migrate(false, 1, false), true),
        ("migrate-v6", migrate(true, 1, false), true),
        ("migrate-v4-3pairs-natt", migrate(false, 3, true), true),
        ("add-v4", add(&spec(false)), false),
        ("add-v6", add(&spec(true)), false),
        ("update-addresses", upd.message(), false),
        ("getspi", getspi(SaType::Esp, sa("192.0.2.1"), sa("198.51.100.1"), (0x100, 0xfff), Mode::Tunnel, 3), false),
        ("delete", delete(SaType::Esp, 0x1000, sa("192.0.2.1"), sa("198.51.100.1")), false),
        ("spdadd", spdadd(&pol), false),
        ("spddelete2", spddelete2(9, PolicyDir::Inbound), false),
        ("flush", flush(SaType::Unspec), false),
        ("error-reply", Message::new(MessageType::Add, SaType::Esp).with_errno(17), false),
        ("acquire", acquire, true),
        ("register-reply", register_reply, false),
    ]
}

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "corpus/parse".into()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut n = 0;
    let mut dump = Vec::new();
    for (name, m, linux_only) in messages() {
        for d in [Dialect::Linux, Dialect::FreeBsd] {
            if linux_only && d == Dialect::FreeBsd {
                continue;
            }
            let b = m.to_bytes(d).unwrap_or_else(|e| panic!("{name} in {d}: {e}"));
            Message::parse(&b, d).unwrap_or_else(|e| panic!("{name} in {d}: {e}"));
            if d == Dialect::Linux {
                dump.extend_from_slice(&b);
            }
            std::fs::write(dir.join(format!("{name}-{d}")), &b).unwrap();
            n += 1;
        }
    }
    std::fs::write(dir.join("stream-linux"), &dump).unwrap();
    println!("wrote {} seeds to {}", n + 1, dir.display());
}

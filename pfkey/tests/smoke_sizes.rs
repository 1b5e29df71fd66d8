//! Sizes of the reference MIGRATE messages (pfkey-wire.md §8) and a first round trip.

use pfkey::message::*;
use pfkey::wire::Dialect;
use pfkey::wire::numbers::*;

fn sa(s: &str) -> SockAddr {
    SockAddr::new(s.parse().unwrap())
}

fn migrate(v6: bool) -> Migrate {
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
}

#[test]
fn migrate_v4_is_216_bytes_and_v6_is_320() {
    for (v6, bytes, words, rq) in [(false, 216usize, 27u16, 48u16), (true, 320, 40, 72)] {
        let m = migrate(v6).message().with_seq(1).with_pid(42);
        let b = m.to_bytes(Dialect::Linux).unwrap();
        assert_eq!(b.len(), bytes);
        assert_eq!(u16::from_ne_bytes([b[4], b[5]]), words);
        let p = Message::parse(&b, Dialect::Linux).unwrap();
        assert_eq!(p, m);
        let pol = p.policy().unwrap();
        let first = pol.requests.iter().next().unwrap();
        assert_eq!(first.reqid, 1);
        // ipsecrequest_len is in bytes
        let pol_off = b.len() - (16 + 2 * rq as usize);
        assert_eq!(u16::from_ne_bytes([b[pol_off + 16], b[pol_off + 17]]), rq);
        assert_eq!(Migrate::from_message(&p).unwrap(), migrate(v6));
        assert_eq!(p.to_bytes(Dialect::Linux).unwrap(), b);
        let fb = p.to_bytes(Dialect::FreeBsd);
        assert!(matches!(fb, Err(EmitError::NotInDialect { .. })), "KMADDRESS has no FreeBSD number");
    }
}

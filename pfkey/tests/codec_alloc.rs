//! Parsing allocates nothing: parse + validate + iterate every extension (and every request of
//! a policy) of MIGRATE v4/v6, an SA dump message and an ACQUIRE, counted by a global allocator
//! that counts per thread (so the test harness's other threads do not disturb the count).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

use pfkey::message::*;
use pfkey::wire::Dialect;
use pfkey::wire::numbers::*;

mod fixtures;
use fixtures::sa;

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCS.with(Cell::get);
    f();
    ALLOCS.with(Cell::get) - before
}

fn migrate(v6: bool) -> Vec<u8> {
    fixtures::migrate(v6).to_bytes(Dialect::Linux).unwrap()
}

fn dump_message() -> Vec<u8> {
    let mut spec = SaSpec::esp_tunnel_gcm(0x1000, sa("192.0.2.1"), sa("198.51.100.1"), 1, &[0x22; 20]);
    spec.hard = Some(Lifetime { addtime: 3600, ..Lifetime::default() });
    spec.natt = Some(NatT::esp_in_udp(4500, 4500));
    let mut m = add(&spec);
    m.header.msg_type = MessageType::Dump;
    m.push(Extension::LifetimeCurrent(Lifetime { bytes: 1 << 20, addtime: 1_700_000_000, ..Lifetime::default() }));
    m.to_bytes(Dialect::Linux).unwrap()
}

fn acquire() -> Vec<u8> {
    Message::new(MessageType::Acquire, SaType::Esp)
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
            combs: vec![Comb::default(), Comb::default()].into(),
            trailing: None,
        }))
        .to_bytes(Dialect::Linux)
        .unwrap()
}

/// Parses, walks every extension and nested list, reads the composite views; returns how many
/// items it saw, so the work cannot be optimised away and the test can check it did it.
fn parse_and_walk(b: &[u8]) -> usize {
    let m = Message::parse(black_box(b), Dialect::Linux).unwrap();
    let mut seen = 0;
    for e in m.extensions.iter() {
        seen += 1;
        match &e {
            Extension::Policy(p) => {
                for r in p.requests.iter() {
                    black_box(&r);
                    seen += 1;
                }
            }
            Extension::Proposal(p) => seen += p.combs.iter().count(),
            Extension::KeyEncrypt(k) => seen += k.key.len(),
            _ => {}
        }
        black_box(&e);
    }
    black_box(m.policy());
    black_box(m.address(ExtKind::AddressDst));
    seen
}

#[test]
fn parse_validate_and_iterate_allocate_nothing() {
    let cases = [
        ("migrate v4", migrate(false), 6),
        ("migrate v6", migrate(true), 6),
        ("dump", dump_message(), 30),
        ("acquire", acquire(), 6),
    ];
    for (name, bytes, items) in &cases {
        // Warm up once (lazy statics, if any, are not per-parse costs).
        assert_eq!(parse_and_walk(bytes), *items, "{name}: items walked");
        let mut walked = 0;
        let n = allocations(|| {
            for _ in 0..100 {
                walked += parse_and_walk(bytes);
            }
        });
        assert_eq!(walked, 100 * items);
        assert_eq!(n, 0, "{name}: {n} allocations in 100 parses");
    }
    // The counter works: emitting does allocate.
    let n = allocations(|| {
        black_box(Message::parse(&cases[0].1, Dialect::Linux).unwrap().to_bytes(Dialect::Linux).unwrap());
    });
    assert!(n >= 1, "the counting allocator saw {n} allocations for an emit");
}

#[test]
fn rejecting_a_message_allocates_nothing() {
    let mut b = migrate(false);
    b[16 + 40 + 24 + 5] = 33; // DST prefix length 33
    let n = allocations(|| {
        let e = Message::parse(black_box(&b), Dialect::Linux).unwrap_err();
        assert_eq!(e.rule, Rule::PrefixTooLong { prefixlen: 33, max: 32 });
    });
    assert_eq!(n, 0);
}

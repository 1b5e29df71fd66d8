//! Codec benchmarks: parse + validate and emit of a one-pair SADB_X_MIGRATE (IPv4, IPv6) and of
//! a 100-message SADB_DUMP stream, with baselines over the same bytes measured in the same run
//! (`memcpy` into a preallocated buffer, and a byte sum) so results can be stated as ratios.
//!
//! Before the timings, a counting global allocator reports the heap allocations per parse.
//!
//! `cargo bench -p pfkey --bench codec` (all), or e.g. `... -- migrate_v4` for one group.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{Criterion, Throughput};
use pfkey::message::*;
use pfkey::wire::Dialect;
use pfkey::wire::numbers::*;

#[path = "../tests/fixtures/mod.rs"]
mod fixtures;
use fixtures::{migrate, sa};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// 100 SADB_DUMP replies (ESP tunnel SAs with a key, lifetimes, SA2, NAT-T on every other one);
/// the last has seq 0 as Linux ends a dump.
fn dump_stream() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..100u32 {
        let v = (i % 250) as u8 + 1;
        let mut spec =
            SaSpec::esp_tunnel_gcm(0x1000 + i, sa(&format!("192.0.2.{v}")), sa("198.51.100.1"), i + 1, &[v; 20]);
        spec.hard = Some(Lifetime { addtime: 3600, ..Lifetime::default() });
        spec.soft = Some(Lifetime { addtime: 3000, ..Lifetime::default() });
        if i % 2 == 0 {
            spec.natt = Some(NatT::esp_in_udp(4500, 4500));
        }
        let mut m = add(&spec).with_seq(if i == 99 { 0 } else { 1000 + i });
        m.header.msg_type = MessageType::Dump;
        m.push(Extension::LifetimeCurrent(Lifetime { bytes: u64::from(i) << 10, ..Lifetime::default() }));
        m.emit_into(&mut out, Dialect::Linux).unwrap();
    }
    out
}

fn parse_stream(stream: &[u8]) -> usize {
    let mut n = 0;
    for m in split_stream(stream) {
        let m = Message::parse(m.unwrap(), Dialect::Linux).unwrap();
        black_box(&m);
        n += 1;
    }
    n
}

fn byte_sum(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |s, &x| s.wrapping_add(u64::from(x)))
}

/// Heap allocations per call of `f`, averaged over 1000 calls.
fn allocs_per_call(mut f: impl FnMut()) -> f64 {
    f();
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..1000 {
        f();
    }
    (ALLOCS.load(Ordering::Relaxed) - before) as f64 / 1000.0
}

fn report_allocations(v4: &[u8], v6: &[u8], stream: &[u8]) {
    let parse = |b: &[u8]| {
        let m = Message::parse(black_box(b), Dialect::Linux).unwrap();
        for e in m.extensions.iter() {
            black_box(e);
        }
    };
    println!("heap allocations per call (counting global allocator, 1000 calls):");
    println!("  migrate_v4 parse+validate+iterate: {}", allocs_per_call(|| parse(v4)));
    println!("  migrate_v6 parse+validate+iterate: {}", allocs_per_call(|| parse(v6)));
    println!(
        "  dump_100 split+parse (per message): {}",
        allocs_per_call(|| assert_eq!(parse_stream(stream), 100)) / 100.0
    );
    let owned = migrate(false);
    let mut buf = Vec::with_capacity(4096);
    println!(
        "  migrate_v4 emit_into (owned, preallocated buffer): {}",
        allocs_per_call(|| {
            buf.clear();
            owned.emit_into(&mut buf, Dialect::Linux).unwrap();
        })
    );
    println!("  migrate_v4 to_bytes (owned): {}", allocs_per_call(|| drop(black_box(owned.to_bytes(Dialect::Linux)))));
}

fn message_benches(c: &mut Criterion, name: &str, msg: &Message<'static>) {
    let bytes = msg.to_bytes(Dialect::Linux).unwrap();
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse", |b| b.iter(|| Message::parse(black_box(&bytes), Dialect::Linux).unwrap()));
    g.bench_function("parse_iterate", |b| {
        b.iter(|| {
            let m = Message::parse(black_box(&bytes), Dialect::Linux).unwrap();
            for e in m.extensions.iter() {
                black_box(e);
            }
        })
    });
    let mut buf = Vec::with_capacity(4096);
    g.bench_function("emit_owned", |b| {
        b.iter(|| {
            buf.clear();
            black_box(msg).emit_into(&mut buf, Dialect::Linux).unwrap();
            black_box(&buf);
        })
    });
    let parsed = Message::parse(&bytes, Dialect::Linux).unwrap();
    g.bench_function("emit_parsed", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&parsed).emit_into(&mut buf, Dialect::Linux).unwrap();
            black_box(&buf);
        })
    });
    g.bench_function("baseline_memcpy", |b| {
        b.iter(|| {
            buf.clear();
            buf.extend_from_slice(black_box(&bytes));
            black_box(&buf);
        })
    });
    g.bench_function("baseline_bytesum", |b| b.iter(|| byte_sum(black_box(&bytes))));
    g.finish();
}

fn main() {
    let v4 = migrate(false);
    let v6 = migrate(true);
    let stream = dump_stream();
    let (v4b, v6b) = (v4.to_bytes(Dialect::Linux).unwrap(), v6.to_bytes(Dialect::Linux).unwrap());
    assert_eq!((v4b.len(), v6b.len()), (216, 320));
    report_allocations(&v4b, &v6b, &stream);
    println!("dump stream: 100 messages, {} bytes", stream.len());

    let mut c = Criterion::default().configure_from_args();
    message_benches(&mut c, "migrate_v4", &v4);
    message_benches(&mut c, "migrate_v6", &v6);

    let mut g = c.benchmark_group("dump_100");
    g.throughput(Throughput::Elements(100));
    g.bench_function("split_parse", |b| b.iter(|| parse_stream(black_box(&stream))));
    let owned: Vec<Message<'static>> =
        split_stream(&stream).map(|m| Message::parse(m.unwrap(), Dialect::Linux).unwrap().into_owned()).collect();
    let mut buf = Vec::with_capacity(stream.len());
    g.bench_function("emit_owned", |b| {
        b.iter(|| {
            buf.clear();
            for m in &owned {
                m.emit_into(&mut buf, Dialect::Linux).unwrap();
            }
            black_box(&buf);
        })
    });
    g.bench_function("baseline_memcpy", |b| {
        b.iter(|| {
            buf.clear();
            buf.extend_from_slice(black_box(&stream));
            black_box(&buf);
        })
    });
    g.bench_function("baseline_bytesum", |b| b.iter(|| byte_sum(black_box(&stream))));
    g.finish();
    c.final_summary();
}

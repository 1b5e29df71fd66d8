//! Two engines against the simulated network and clock: establishment with every proposal,
//! INVALID_KE_PAYLOAD, cookies, NAT-T, loss/duplication/reordering, rekeys, deletes, liveness,
//! retransmission backoff and bad input. Every SA the engines install lands in an in-memory
//! kernel per side, which the tests read back.

use std::net::{IpAddr, SocketAddr};

use ikev2d::codec::{ExchangeType, Message};
use ikev2d::config::Config;
use ikev2d::engine::{Command, EngineConfig, Event};
use ikev2d::sim::{Nat, NetParams, Sim};
use pfkey::kernel::model::ModelSa;
use pfkey::wire::numbers::PolicyDir;

const A: &str = "192.0.2.1";
const B: &str = "198.51.100.1";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A connection from `local` to `remote` with these proposals; `extra` is appended verbatim.
#[allow(clippy::too_many_arguments)]
fn conn(name: &str, local: &str, remote: &str, ike: &str, esp: &str, lts: &str, rts: &str, extra: &str) -> String {
    format!(
        "[[connection]]\nname = \"{name}\"\nlocal = \"{local}\"\nremote = \"{remote}\"\n\
         local_id = \"fqdn:{local}.example\"\nremote_id = \"fqdn:{}.example\"\npsk = \"correct horse battery\"\n\
         ike = [{ike}]\nesp = [{esp}]\nlocal_ts = [\"{lts}\"]\nremote_ts = [\"{rts}\"]\n{extra}\n",
        if remote == "%any" { B_PEER } else { remote }
    )
}

/// The identity a responder to %any expects.
const B_PEER: &str = A;

fn parse(s: &str) -> Vec<ikev2d::config::Connection> {
    Config::parse(s).unwrap().connections
}

fn cfg() -> EngineConfig {
    EngineConfig { retransmit_ms: 500, retransmit_tries: 6, ..EngineConfig::default() }
}

/// The usual pair: A initiates to B, 10.1/24 behind A, 10.2/24 behind B.
fn pair(ike: &str, esp: &str, seed: u64) -> Sim {
    let a = parse(&conn("ab", A, B, ike, esp, "10.1.0.0/24", "10.2.0.0/24", "start = true"));
    let b = parse(&conn("ba", B, A, ike, esp, "10.2.0.0/24", "10.1.0.0/24", ""));
    Sim::new((ip(A), a), (ip(B), b), cfg(), seed)
}

fn up(sim: &Sim, i: usize) -> usize {
    sim.count(i, |e| matches!(e, Event::IkeUp { .. }))
}

fn sas(sim: &Sim, i: usize) -> Vec<ModelSa> {
    sim.peers[i].kernel.sad()
}

/// Every SA one side sends with is the SA the other receives with: same SPI, addresses and key.
fn assert_sas_pair_up(sim: &Sim) {
    let (a, b) = (sas(sim, 0), sas(sim, 1));
    assert!(!a.is_empty() && a.len() == b.len(), "A {} SAs, B {}", a.len(), b.len());
    for x in &a {
        let y = b.iter().find(|y| y.spi == x.spi).unwrap_or_else(|| panic!("SA {:#x} only on A", x.spi));
        assert_eq!((x.src.ip(), x.dst.ip()), (y.src.ip(), y.dst.ip()), "SA {:#x}", x.spi);
        assert_eq!(x.encrypt, y.encrypt, "SA {:#x}: keys", x.spi);
        assert_eq!(x.auth, y.auth, "SA {:#x}: integrity keys", x.spi);
        assert_eq!(x.natt.is_some(), y.natt.is_some(), "SA {:#x}: UDP encapsulation on one side only", x.spi);
    }
    assert!(
        sim.peers.iter().all(|p| p.kernel_errors.is_empty()),
        "{:?}",
        sim.peers.iter().map(|p| &p.kernel_errors).collect::<Vec<_>>()
    );
}

fn child_spis(sim: &Sim, i: usize) -> Vec<u32> {
    sim.peers[i].engine.status().iter().flat_map(|s| s.children.iter().map(|c| c.spi_in)).collect()
}

#[test]
fn a_tunnel_comes_up_with_each_proposal() {
    for (n, (ike, esp)) in [
        ("\"aes256gcm16-prfsha256-ecp256\"", "\"aes256gcm16\""),
        ("\"aes128gcm16-prfsha384-curve25519\"", "\"aes128gcm16\""),
        ("\"aes128-sha256-prfsha256-modp2048\"", "\"aes128-sha256\""),
        ("\"aes256-sha256-prfsha512-ecp256\"", "\"aes256-sha256\""),
        ("\"aes128-sha1-prfsha256-modp2048\"", "\"aes128-sha1\""),
    ]
    .into_iter()
    .enumerate()
    {
        let mut sim = pair(ike, esp, n as u64);
        sim.start();
        sim.run_for(200);
        assert_eq!((up(&sim, 0), up(&sim, 1)), (1, 1), "{ike}");
        let when = sim.peers[0].events.iter().find(|(_, e)| matches!(e, Event::IkeUp { .. })).unwrap().0;
        assert_eq!(when, 20, "{ike}: two round trips of 2 x 5 ms");
        assert_eq!(sim.peers[0].engine.status()[0].setup_ms, Some(20), "{ike}");
        assert_eq!(sim.peers[1].engine.status()[0].setup_ms, Some(10), "{ike}: the responder counts from IKE_SA_INIT");
        assert_eq!(sas(&sim, 0).len(), 2, "{ike}");
        assert_sas_pair_up(&sim);
        for i in 0..2 {
            let spd = sim.peers[i].kernel.spd();
            assert_eq!(spd.len(), 3, "{ike}: out, in, fwd");
            assert!(spd.iter().any(|p| p.dir == PolicyDir::Fwd));
        }
        assert_eq!(sim.peers[0].engine.stats().dropped + sim.peers[1].engine.stats().dropped, 0);
    }
}

#[test]
fn the_responder_picks_its_preference_and_asks_for_another_group() {
    // A prefers Curve25519; B only takes ECP-256: INVALID_KE_PAYLOAD, then A retries.
    let a = parse(&conn(
        "ab",
        A,
        B,
        "\"aes256gcm16-prfsha256-curve25519\", \"aes256gcm16-prfsha256-ecp256\"",
        "\"aes256gcm16\"",
        "10.1.0.0/24",
        "10.2.0.0/24",
        "start = true",
    ));
    let b = parse(&conn(
        "ba",
        B,
        A,
        "\"aes256gcm16-prfsha256-ecp256\"",
        "\"aes256gcm16\"",
        "10.2.0.0/24",
        "10.1.0.0/24",
        "",
    ));
    let mut sim = Sim::new((ip(A), a), (ip(B), b), cfg(), 7);
    sim.start();
    sim.run_for(500);
    assert_eq!((up(&sim, 0), up(&sim, 1)), (1, 1));
    let st = &sim.peers[0].engine.status()[0];
    assert_eq!(st.proposal.as_deref(), Some("aes256gcm16-prfsha256-ecp256"));
    let inits =
        sim.peers[0].sent.iter().filter(|s| Message::decode(&s.3).unwrap().header.exchange == ExchangeType::IkeSaInit);
    assert_eq!(inits.count(), 2, "the first IKE_SA_INIT and the retry");
}

#[test]
fn no_common_proposal_brings_nothing_up() {
    let a = parse(&conn(
        "ab",
        A,
        B,
        "\"aes256gcm16-prfsha256-ecp256\"",
        "\"aes256gcm16\"",
        "10.1.0.0/24",
        "10.2.0.0/24",
        "start = true",
    ));
    let b = parse(&conn(
        "ba",
        B,
        A,
        "\"aes128-sha256-prfsha256-modp2048\"",
        "\"aes256gcm16\"",
        "10.2.0.0/24",
        "10.1.0.0/24",
        "",
    ));
    let mut sim = Sim::new((ip(A), a), (ip(B), b), cfg(), 8);
    sim.start();
    sim.run_for(60_000);
    assert_eq!((up(&sim, 0), up(&sim, 1)), (0, 0));
    assert!(sim.peers[0].engine.status().is_empty(), "the initiator gave up");
    assert!(sas(&sim, 0).is_empty() && sas(&sim, 1).is_empty());
}

#[test]
fn narrowing_gives_the_initiator_the_overlap() {
    // A asks for 10.0.0.0/8 behind B; B allows only 10.2.0.0/24.
    let a = parse(&conn(
        "ab",
        A,
        B,
        "\"aes256gcm16-prfsha256-ecp256\"",
        "\"aes256gcm16\"",
        "10.1.0.0/24",
        "10.0.0.0/8",
        "start = true",
    ));
    let b = parse(&conn(
        "ba",
        B,
        A,
        "\"aes256gcm16-prfsha256-ecp256\"",
        "\"aes256gcm16\"",
        "10.2.0.0/24",
        "10.1.0.0/16",
        "",
    ));
    let mut sim = Sim::new((ip(A), a), (ip(B), b), cfg(), 9);
    sim.start();
    sim.run_for(500);
    assert_eq!((up(&sim, 0), up(&sim, 1)), (1, 1));
    let c = &sim.peers[0].engine.status()[0].children[0];
    assert_eq!((c.ts_remote[0].start, c.ts_remote[0].end), (ip("10.2.0.0"), ip("10.2.0.255")));
    assert_eq!((c.ts_local[0].start, c.ts_local[0].end), (ip("10.1.0.0"), ip("10.1.0.255")));
    let out = sim.peers[0].kernel.spd().into_iter().find(|p| p.dir == PolicyDir::Outbound).unwrap();
    assert_eq!(out.selector.dst_prefixlen, 24);

    // Nothing in common: the IKE SA is up, without a Child SA.
    let a = parse(&conn(
        "ab",
        A,
        B,
        "\"aes256gcm16-prfsha256-ecp256\"",
        "\"aes256gcm16\"",
        "10.1.0.0/24",
        "10.9.0.0/16",
        "start = true",
    ));
    let b = parse(&conn(
        "ba",
        B,
        A,
        "\"aes256gcm16-prfsha256-ecp256\"",
        "\"aes256gcm16\"",
        "10.2.0.0/24",
        "10.1.0.0/16",
        "",
    ));
    let mut sim = Sim::new((ip(A), a), (ip(B), b), cfg(), 10);
    sim.start();
    sim.run_for(500);
    assert_eq!((up(&sim, 0), up(&sim, 1)), (1, 1));
    assert!(sas(&sim, 0).is_empty() && sas(&sim, 1).is_empty());
}

#[test]
fn a_wrong_psk_is_refused_and_installs_nothing() {
    let a = parse(&conn(
        "ab",
        A,
        B,
        "\"aes256gcm16-prfsha256-ecp256\"",
        "\"aes256gcm16\"",
        "10.1.0.0/24",
        "10.2.0.0/24",
        "start = true",
    ));
    let b = parse(
        &conn("ba", B, A, "\"aes256gcm16-prfsha256-ecp256\"", "\"aes256gcm16\"", "10.2.0.0/24", "10.1.0.0/24", "")
            .replace("correct horse battery", "wrong horse battery"),
    );
    let mut sim = Sim::new((ip(A), a), (ip(B), b), cfg(), 11);
    sim.start();
    sim.run_for(10_000);
    assert_eq!((up(&sim, 0), up(&sim, 1)), (0, 0));
    assert!(sim.peers.iter().all(|p| p.engine.status().is_empty()));
    assert!(sas(&sim, 0).is_empty() && sas(&sim, 1).is_empty());
}

#[test]
fn loss_duplication_and_reordering_are_survived() {
    for seed in 0..20 {
        let mut sim = pair("\"aes256gcm16-prfsha256-ecp256\"", "\"aes256gcm16\"", 100 + seed);
        sim.net = NetParams { latency_ms: 10, jitter_ms: 30, loss: 0.3, duplicate: 0.3 };
        sim.start();
        sim.run_for(30_000);
        assert_eq!((up(&sim, 0), up(&sim, 1)), (1, 1), "seed {seed}");
        sim.command(0, Command::RekeyChild("ab".into()));
        sim.run_for(30_000);
        assert_eq!(child_spis(&sim, 0).len(), 1, "seed {seed}: the old Child SA is gone");
        assert_sas_pair_up(&sim);
        assert_eq!(sas(&sim, 0).len(), 2, "seed {seed}");
    }
}

#[test]
fn lost_packets_are_retransmitted_and_duplicates_answered_from_the_cache() {
    let mut seen_retransmit = false;
    let mut seen_resent = false;
    for seed in 0..10 {
        // 40 % loss each way: an exchange gets through 36 % of the time, so the initiator is
        // given 12 retransmissions (it gives up on 0.5 % of exchanges).
        let a = parse(&conn(
            "ab",
            A,
            B,
            "\"aes256gcm16-prfsha256-ecp256\"",
            "\"aes256gcm16\"",
            "10.1.0.0/24",
            "10.2.0.0/24",
            "start = true",
        ));
        let b = parse(&conn(
            "ba",
            B,
            A,
            "\"aes256gcm16-prfsha256-ecp256\"",
            "\"aes256gcm16\"",
            "10.2.0.0/24",
            "10.1.0.0/24",
            "",
        ));
        let mut sim = Sim::new((ip(A), a), (ip(B), b), EngineConfig { retransmit_tries: 12, ..cfg() }, 300 + seed);
        sim.net = NetParams { latency_ms: 10, jitter_ms: 0, loss: 0.4, duplicate: 0.5 };
        sim.start();
        sim.run_for(300_000);
        assert_eq!((up(&sim, 0), up(&sim, 1)), (1, 1), "seed {seed}");
        seen_retransmit |= sim.peers[0].engine.stats().retransmitted > 0;
        seen_resent |= sim.peers[1].engine.stats().responses_resent > 0;
    }
    assert!(seen_retransmit && seen_resent);
}

#[test]
fn retransmissions_back_off_exponentially_then_give_up() {
    let mut sim = pair("\"aes256gcm16-prfsha256-ecp256\"", "\"aes256gcm16\"", 12);
    sim.net.loss = 1.0;
    sim.start();
    sim.run_for(120_000);
    let times: Vec<u64> = sim.peers[0].sent.iter().map(|s| s.0).collect();
    // 500 ms, then 1.8 times longer each time (in whole ms): 0, 500, 1400, 3020, 5936, 11184, 20631.
    assert_eq!(times, [0, 500, 1400, 3020, 5936, 11184, 20631]);
    assert!(sim.peers[0].engine.status().is_empty(), "given up after 6 retransmissions");
    assert!(sim.peers[0].sent.windows(2).all(|w| w[0].3 == w[1].3), "retransmissions are bitwise identical");
}

#[test]
fn a_child_sa_rekey_replaces_the_sas_and_keeps_the_policies() {
    for esp in ["\"aes256gcm16\"", "\"aes128-sha256-ecp256\""] {
        let mut sim = pair("\"aes256gcm16-prfsha256-ecp256\"", esp, 13);
        sim.start();
        sim.run_for(100);
        let before = child_spis(&sim, 0);
        let spd_before: Vec<_> =
            sim.peers[0].kernel.spd().into_iter().map(|p| (p.selector, p.dir, p.templates)).collect();
        sim.command(0, Command::RekeyChild("ab".into()));
        sim.run_for(100);
        let after = child_spis(&sim, 0);
        assert_eq!(after.len(), 1, "{esp}");
        assert_ne!(after, before, "{esp}");
        assert_eq!(sas(&sim, 0).len(), 2, "{esp}: the old SAs are deleted");
        assert!(sas(&sim, 0).iter().all(|s| !before.contains(&s.spi)), "{esp}");
        assert_sas_pair_up(&sim);
        let spd_after: Vec<_> =
            sim.peers[0].kernel.spd().into_iter().map(|p| (p.selector, p.dir, p.templates)).collect();
        assert_eq!(spd_after, spd_before, "{esp}: the policies stay");
        assert!(sim.saw(1, |e| matches!(e, Event::ChildUp { replaces: Some(_), .. })));
    }
}

/// RFC 7296 §2.8.1: both ends rekey the same Child SA at once. Each end answers the other's
/// request and completes its own, so two new Child SAs exist for a moment; the one whose exchange
/// used the lowest of the four nonces is deleted by the end that created it, the old one by the
/// other end. Whichever end wins (the seeds give both), one Child SA is left, its SAs pair up,
/// the policies are untouched, and a later rekey and the final delete still work.
#[test]
fn simultaneous_child_sa_rekeys_leave_one_child_sa() {
    let mut winners = std::collections::BTreeSet::new();
    for seed in 0..12 {
        for esp in ["\"aes256gcm16\"", "\"aes128-sha256-ecp256\""] {
            let mut sim = pair("\"aes256gcm16-prfsha256-ecp256\"", esp, 100 + seed);
            sim.start();
            sim.run_for(100);
            let before = child_spis(&sim, 0);
            let spd = |sim: &Sim, i: usize| -> Vec<_> {
                sim.peers[i].kernel.spd().into_iter().map(|p| (p.selector, p.dir, p.templates)).collect()
            };
            let spd_before = (spd(&sim, 0), spd(&sim, 1));
            sim.command(0, Command::RekeyChild("ab".into()));
            sim.command(1, Command::RekeyChild("ba".into()));
            sim.run_for(200);
            let (a, b) = (child_spis(&sim, 0), child_spis(&sim, 1));
            assert_eq!((a.len(), b.len()), (1, 1), "seed {seed} {esp}: one Child SA left on each side");
            assert_ne!(a, before, "seed {seed} {esp}");
            assert_eq!((sas(&sim, 0).len(), sas(&sim, 1).len()), (2, 2), "seed {seed} {esp}");
            assert_sas_pair_up(&sim);
            assert_eq!((spd(&sim, 0), spd(&sim, 1)), spd_before, "seed {seed} {esp}: the policies stay");
            for i in 0..2 {
                let downs = sim.count(i, |e| matches!(e, Event::ChildDown { .. }));
                assert_eq!(downs, 2, "seed {seed} {esp} peer {i}: the old and the redundant Child SA");
            }
            // The surviving Child SA was created by the exchange whose initiator's inbound SPI
            // it carries on that side: note who won.
            let up0: Vec<u32> = sim.peers[0]
                .events
                .iter()
                .filter_map(|(_, e)| match e {
                    Event::ChildUp { spi_in, replaces: Some(_), .. } => Some(*spi_in),
                    _ => None,
                })
                .collect();
            assert_eq!(up0.len(), 2, "seed {seed} {esp}: both exchanges created a Child SA");
            winners.insert(if a[0] == up0[0] { "peer 1's exchange" } else { "peer 0's exchange" });
            // Still sound: a plain rekey, then the delete takes everything, policies included.
            sim.command(0, Command::RekeyChild("ab".into()));
            sim.run_for(100);
            assert_eq!((child_spis(&sim, 0).len(), sas(&sim, 0).len()), (1, 2), "seed {seed} {esp}");
            assert_sas_pair_up(&sim);
            sim.command(0, Command::Terminate("ab".into()));
            sim.run_for(100);
            for i in 0..2 {
                assert!(sas(&sim, i).is_empty() && sim.peers[i].kernel.spd().is_empty(), "seed {seed} {esp} peer {i}");
            }
        }
    }
    assert_eq!(winners.len(), 2, "both ends' exchanges win for some seed: {winners:?}");
}

/// RFC 7296 §2.8.2: both ends rekey the IKE SA at once, with and without reordering on the
/// network. One new IKE SA must be left on each side, the same one, holding the Child SA; the
/// Child SA's kernel SAs are untouched; and the new IKE SA works (a Child SA rekey, a delete).
#[test]
fn simultaneous_ike_sa_rekeys_leave_one_ike_sa_with_the_child_sas() {
    let mut winners = std::collections::BTreeSet::new();
    for seed in 0..16 {
        for jitter in [0, 4] {
            let mut sim = pair("\"aes256gcm16-prfsha256-ecp256\"", "\"aes256gcm16\"", 200 + seed);
            sim.start();
            sim.run_for(100);
            let child_before = child_spis(&sim, 0);
            let first = sim.peers[0].engine.status()[0].spi_i.clone();
            sim.net.jitter_ms = jitter;
            sim.command(0, Command::RekeyIke("ab".into()));
            sim.command(1, Command::RekeyIke("ba".into()));
            sim.run_for(300);
            sim.net.jitter_ms = 0;
            let live = |i: usize| -> Vec<(String, String, usize)> {
                sim.peers[i]
                    .engine
                    .status()
                    .into_iter()
                    .filter(|s| s.established)
                    .map(|s| (s.spi_i, s.spi_r, s.children.len()))
                    .collect()
            };
            let (a, b) = (live(0), live(1));
            let what = format!("seed {seed} jitter {jitter}");
            assert_eq!(a.len(), 1, "{what}: one IKE SA on A: {a:?}");
            assert_eq!(a, b, "{what}: the same IKE SA on both sides");
            assert_eq!(a[0].2, 1, "{what}: it holds the Child SA");
            assert_ne!(a[0].0, first, "{what}: it is a new one");
            assert_eq!(
                sim.peers[0].engine.status().len() + sim.peers[1].engine.status().len(),
                2,
                "{what}: the old and the redundant IKE SAs are gone"
            );
            assert_eq!(child_spis(&sim, 0), child_before, "{what}: the Child SA is kept");
            assert_sas_pair_up(&sim);
            // Who created the surviving IKE SA: its SPIi is the rekey initiator's.
            let initiated_by_a = sim.peers[0].engine.status()[0].initiator;
            winners.insert(initiated_by_a);
            sim.command(0, Command::RekeyChild("ab".into()));
            sim.run_for(100);
            assert_ne!(child_spis(&sim, 0), child_before, "{what}: a Child SA rekey on the new IKE SA");
            assert_sas_pair_up(&sim);
            sim.command(1, Command::Terminate("ba".into()));
            sim.run_for(100);
            for i in 0..2 {
                assert!(sim.peers[i].engine.status().is_empty(), "{what} peer {i}");
                assert!(sas(&sim, i).is_empty() && sim.peers[i].kernel.spd().is_empty(), "{what} peer {i}");
            }
        }
    }
    assert_eq!(winners.len(), 2, "either end's exchange wins for some seed");
}

#[test]
fn rekeys_happen_on_their_timers_with_the_initiator_first() {
    let extra = "start = true\nrekey_child_s = 60\nrekey_ike_s = 200\ndpd_s = 0";
    let a = parse(&conn(
        "ab",
        A,
        B,
        "\"aes256gcm16-prfsha256-ecp256\"",
        "\"aes256gcm16\"",
        "10.1.0.0/24",
        "10.2.0.0/24",
        extra,
    ));
    let b = parse(&conn(
        "ba",
        B,
        A,
        "\"aes256gcm16-prfsha256-ecp256\"",
        "\"aes256gcm16\"",
        "10.2.0.0/24",
        "10.1.0.0/24",
        "rekey_child_s = 60\nrekey_ike_s = 200\ndpd_s = 0",
    ));
    let mut sim = Sim::new((ip(A), a), (ip(B), b), cfg(), 14);
    sim.start();
    sim.run_for(250_000);
    let rekeys_a = sim.count(0, |e| matches!(e, Event::ChildUp { replaces: Some(_), .. }));
    let rekeys_b = sim.count(1, |e| matches!(e, Event::ChildUp { replaces: Some(_), .. }));
    assert_eq!((rekeys_a, rekeys_b), (4, 4), "one Child SA rekey a minute, by A");
    assert_eq!(sim.count(0, |e| matches!(e, Event::IkeRekeyed { .. })), 1);
    assert_eq!(sim.count(1, |e| matches!(e, Event::IkeRekeyed { .. })), 1);
    assert_eq!(sim.peers[0].engine.status().len(), 1, "the old IKE SA is deleted");
    assert_eq!(sim.peers[1].engine.status().len(), 1);
    assert_sas_pair_up(&sim);
}

#[test]
fn an_ike_sa_rekey_moves_the_child_sas_and_the_new_sa_works() {
    let mut sim = pair("\"aes256gcm16-prfsha256-ecp256\"", "\"aes256gcm16\"", 15);
    sim.start();
    sim.run_for(100);
    let old = sim.peers[0].engine.status()[0].clone();
    sim.command(0, Command::RekeyIke("ab".into()));
    sim.run_for(100);
    for i in 0..2 {
        let st = sim.peers[i].engine.status();
        assert_eq!(st.len(), 1, "peer {i}: the old IKE SA is deleted");
        assert_ne!(st[0].spi_i, old.spi_i);
        assert_eq!(st[0].children.len(), 1, "peer {i}: the Child SA moved");
    }
    assert_eq!(child_spis(&sim, 0), old.children.iter().map(|c| c.spi_in).collect::<Vec<_>>());
    // The new IKE SA carries a Child SA rekey and a liveness check.
    sim.command(0, Command::RekeyChild("ab".into()));
    sim.command(1, Command::Dpd("ba".into()));
    sim.run_for(200);
    assert_eq!(sim.count(0, |e| matches!(e, Event::ChildUp { replaces: Some(_), .. })), 1);
    assert_sas_pair_up(&sim);
    assert_eq!(sim.peers[0].engine.stats().dropped + sim.peers[1].engine.stats().dropped, 0);
}

#[test]
fn terminate_deletes_everything_on_both_sides() {
    let mut sim = pair("\"aes256gcm16-prfsha256-ecp256\"", "\"aes256gcm16\"", 16);
    sim.start();
    sim.run_for(100);
    sim.command(0, Command::Terminate("ab".into()));
    sim.run_for(100);
    for i in 0..2 {
        assert!(sim.peers[i].engine.status().is_empty(), "peer {i}");
        assert!(sas(&sim, i).is_empty(), "peer {i}");
        assert!(sim.peers[i].kernel.spd().is_empty(), "peer {i}");
        assert!(sim.saw(i, |e| matches!(e, Event::IkeDown { .. })));
    }
}

#[test]
fn a_dead_peer_is_found_by_the_liveness_check() {
    let a = parse(&conn(
        "ab",
        A,
        B,
        "\"aes256gcm16-prfsha256-ecp256\"",
        "\"aes256gcm16\"",
        "10.1.0.0/24",
        "10.2.0.0/24",
        "start = true\ndpd_s = 10",
    ));
    let b = parse(&conn(
        "ba",
        B,
        A,
        "\"aes256gcm16-prfsha256-ecp256\"",
        "\"aes256gcm16\"",
        "10.2.0.0/24",
        "10.1.0.0/24",
        "dpd_s = 10",
    ));
    let mut sim = Sim::new((ip(A), a), (ip(B), b), cfg(), 17);
    sim.start();
    sim.run_for(60_000);
    assert_eq!(up(&sim, 0), 1);
    assert!(sim.peers[0].engine.status()[0].next_message_id > 2, "liveness checks were sent and answered");
    sim.net.loss = 1.0;
    sim.run_for(120_000);
    for i in 0..2 {
        assert!(sim.peers[i].engine.status().is_empty(), "peer {i}");
        assert!(sas(&sim, i).is_empty(), "peer {i}");
    }
}

#[test]
fn cookies_are_asked_for_and_answered() {
    let a = parse(&conn(
        "ab",
        A,
        B,
        "\"aes256gcm16-prfsha256-ecp256\"",
        "\"aes256gcm16\"",
        "10.1.0.0/24",
        "10.2.0.0/24",
        "start = true",
    ));
    let b = parse(&conn(
        "ba",
        B,
        A,
        "\"aes256gcm16-prfsha256-ecp256\"",
        "\"aes256gcm16\"",
        "10.2.0.0/24",
        "10.1.0.0/24",
        "",
    ));
    let mut sim = Sim::new((ip(A), a), (ip(B), b), EngineConfig { cookie_threshold: 0, ..cfg() }, 18);
    sim.start();
    sim.run_for(200);
    assert_eq!((up(&sim, 0), up(&sim, 1)), (1, 1));
    assert_eq!(sim.peers[1].engine.stats().cookies_sent, 1);
    assert_sas_pair_up(&sim);
}

#[test]
fn a_flood_of_init_requests_gets_cookies_not_state() {
    let mut sim = pair("\"aes256gcm16-prfsha256-ecp256\"", "\"aes256gcm16\"", 19);
    sim.peers[1].engine = ikev2d::engine::Engine::new(
        EngineConfig { cookie_threshold: 4, ..cfg() },
        sim.peers[1].engine.connections().to_vec(),
        Box::new(ikev2d::crypto::TestRandom::new(5)),
    );
    // Forged IKE_SA_INITs from A's address (an attacker spoofing it), each with its own SPIi.
    let a = parse(&conn(
        "ab",
        A,
        B,
        "\"aes256gcm16-prfsha256-ecp256\"",
        "\"aes256gcm16\"",
        "10.1.0.0/24",
        "10.2.0.0/24",
        "",
    ));
    for k in 0..50u64 {
        let mut fake = Sim::new((ip(A), a.clone()), (ip(B), Vec::new()), cfg(), 1000 + k);
        fake.command(0, Command::Initiate("ab".into()));
        let (_, l, r, d) = fake.peers[0].sent[0].clone();
        sim.inject(1, l, r, d);
    }
    let st = sim.peers[1].engine.status();
    assert_eq!(st.len(), 4, "half-open SAs stop at the threshold");
    assert_eq!(sim.peers[1].engine.stats().cookies_sent, 46);
    // The real initiator still gets through, with a cookie.
    sim.start();
    sim.run_for(200);
    assert_eq!((up(&sim, 0), up(&sim, 1)), (1, 1));
}

#[test]
fn behind_a_nat_both_float_and_encapsulate() {
    // B cannot know the NAT's address: it accepts any peer that authenticates as A.
    let a = parse(&conn(
        "ab",
        A,
        B,
        "\"aes256gcm16-prfsha256-ecp256\"",
        "\"aes256gcm16\"",
        "10.1.0.0/24",
        "10.2.0.0/24",
        "start = true",
    ));
    let b = parse(&conn(
        "ba",
        B,
        "%any",
        "\"aes256gcm16-prfsha256-ecp256\"",
        "\"aes256gcm16\"",
        "10.2.0.0/24",
        "10.1.0.0/24",
        "",
    ));
    let mut sim = Sim::new((ip(A), a), (ip(B), b), cfg(), 20);
    sim.nat = Some(Nat { public: ip("203.0.113.9"), port_offset: 10_000 });
    sim.start();
    sim.run_for(200);
    assert_eq!((up(&sim, 0), up(&sim, 1)), (1, 1));
    let a = &sim.peers[0].engine.status()[0];
    let b = &sim.peers[1].engine.status()[0];
    assert!(a.nat && b.nat);
    assert_eq!((a.local.port(), a.remote.port()), (4500, 4500), "A floated");
    assert_eq!(b.remote, "203.0.113.9:14500".parse::<SocketAddr>().unwrap(), "B answers the NAT's mapping");
    for s in sas(&sim, 0).iter().chain(sas(&sim, 1).iter()) {
        assert!(s.natt.is_some(), "SA {:#x} is UDP-encapsulated", s.spi);
    }
    let a_out = sas(&sim, 0).into_iter().find(|s| s.src.ip() == ip(A)).unwrap();
    assert_eq!((a_out.natt.unwrap().sport, a_out.natt.unwrap().dport), (4500, 4500));
    let b_out = sas(&sim, 1).into_iter().find(|s| s.src.ip() == ip(B)).unwrap();
    assert_eq!((b_out.natt.unwrap().sport, b_out.natt.unwrap().dport), (4500, 14500));
    // Rekeys keep the encapsulation.
    sim.command(0, Command::RekeyChild("ab".into()));
    sim.run_for(200);
    assert!(sas(&sim, 1).iter().all(|s| s.natt.is_some()));
}

/// What an established pair looks like, for the bad-input tests: (SAs of each side, statuses).
fn snapshot(sim: &Sim) -> (Vec<Vec<ModelSa>>, Vec<Vec<ikev2d::engine::IkeStatus>>) {
    (vec![sas(sim, 0), sas(sim, 1)], vec![sim.peers[0].engine.status(), sim.peers[1].engine.status()])
}

#[test]
fn garbage_replays_and_tampering_are_dropped_and_change_nothing() {
    let mut sim = pair("\"aes256gcm16-prfsha256-ecp256\"", "\"aes256gcm16\"", 21);
    sim.start();
    sim.run_for(100);
    let before = snapshot(&sim);
    let (a, b): (SocketAddr, SocketAddr) = (format!("{A}:500").parse().unwrap(), format!("{B}:500").parse().unwrap());
    let st = &sim.peers[1].engine.status()[0];
    let (spi_i, spi_r) = (u64::from_str_radix(&st.spi_i, 16).unwrap(), u64::from_str_radix(&st.spi_r, 16).unwrap());
    // 10,000 garbage datagrams: random bytes, and random bytes behind this IKE SA's real header.
    let mut x = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for k in 0..10_000u64 {
        let len = (next() % 300) as usize;
        let mut d: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if k % 2 == 0 && d.len() > 40 {
            d[..8].copy_from_slice(&spi_i.to_be_bytes());
            d[8..16].copy_from_slice(&spi_r.to_be_bytes());
            d[16] = 46;
            d[17] = 0x20;
            d[18] = 37 - (k % 3) as u8;
            d[19] = 0x08;
            let n = d.len() as u32;
            d[24..28].copy_from_slice(&n.to_be_bytes());
        }
        sim.inject(1, a, b, d);
    }
    assert_eq!(sim.peers[1].engine.stats().dropped, 10_000);
    assert_eq!(snapshot(&sim), before, "nothing changed");
    // A replayed IKE_AUTH request gets the cached answer again, and nothing else happens.
    let auth = sim.peers[0]
        .sent
        .iter()
        .find(|s| Message::decode(&s.3).unwrap().header.exchange == ExchangeType::IkeAuth)
        .unwrap()
        .3
        .clone();
    let resent = sim.peers[1].engine.stats().responses_resent;
    sim.inject(1, a, b, auth.clone());
    assert_eq!(sim.peers[1].engine.stats().responses_resent, resent + 1);
    // A tampered copy (one bit of the ciphertext) fails authentication before anything else.
    let mut bad = auth.clone();
    let n = bad.len() - 20;
    bad[n] ^= 1;
    let dropped = sim.peers[1].engine.stats().dropped;
    sim.inject(1, a, b, bad);
    assert_eq!(sim.peers[1].engine.stats().dropped, dropped + 1);
    // Out of the window: message ID 7 while 2 is next.
    let mut ahead = auth;
    ahead[20..24].copy_from_slice(&7u32.to_be_bytes());
    sim.inject(1, a, b, ahead);
    assert_eq!(sim.peers[1].engine.stats().dropped, dropped + 2);
    sim.run_for(100);
    assert_eq!(snapshot(&sim), before, "nothing changed");
    // And the IKE SA still works.
    sim.command(0, Command::RekeyChild("ab".into()));
    sim.run_for(100);
    assert_eq!(sim.count(1, |e| matches!(e, Event::ChildUp { replaces: Some(_), .. })), 1);
    assert_sas_pair_up(&sim);
}

#[test]
fn a_soft_expire_from_the_kernel_rekeys_and_a_hard_one_deletes() {
    use pfkey::kernel::{KernelEvent, SaId};
    use pfkey::wire::numbers::SaType;
    let mut sim = pair("\"aes256gcm16-prfsha256-ecp256\"", "\"aes256gcm16\"", 22);
    sim.start();
    sim.run_for(100);
    let s = sas(&sim, 0).into_iter().find(|s| s.dst.ip() == ip(A)).unwrap();
    let id = SaId { satype: SaType::Esp, spi: s.spi, src: s.src, dst: s.dst };
    let out = sim.input(0, ikev2d::engine::Input::Kernel(KernelEvent::Expire { id, hard: false, current: None }));
    assert!(out.iter().any(|o| matches!(o, ikev2d::engine::Output::Send { .. })), "a CREATE_CHILD_SA went out");
    sim.run_for(100);
    assert_eq!(sim.count(1, |e| matches!(e, Event::ChildUp { replaces: Some(_), .. })), 1);
    let spi = child_spis(&sim, 0)[0];
    let s = sas(&sim, 0).into_iter().find(|s| s.spi == spi).unwrap();
    let id = SaId { satype: SaType::Esp, spi: s.spi, src: s.src, dst: s.dst };
    let out = sim.input(0, ikev2d::engine::Input::Kernel(KernelEvent::Expire { id, hard: true, current: None }));
    let sent = out.iter().find_map(|o| match o {
        ikev2d::engine::Output::Send { data, .. } => Some(Message::decode(data).unwrap().header.exchange),
        _ => None,
    });
    assert_eq!(sent, Some(ExchangeType::Informational), "a Delete went out");
    sim.run_for(100);
    assert!(sas(&sim, 0).is_empty() && sas(&sim, 1).is_empty(), "the Child SA is gone on both sides");
    assert_eq!(up(&sim, 0), 1, "the IKE SA stays");
}

#[test]
fn a_child_sa_the_kernel_refuses_is_deleted_on_both_sides() {
    // B's kernel is stock Linux's af_key: no AEAD, so its AES-GCM SAs are refused (ENOSYS).
    let mut sim = pair("\"aes256gcm16-prfsha256-ecp256\"", "\"aes256gcm16\"", 23);
    sim.set_kernel(1, pfkey::kernel::model::ModelConfig::stock_linux());
    sim.start();
    sim.run_for(500);
    assert_eq!((up(&sim, 0), up(&sim, 1)), (1, 1), "the IKE SA stays up");
    assert!(!sim.peers[1].kernel_errors.is_empty());
    assert!(sim.saw(0, |e| matches!(e, Event::ChildDown { reason, .. } if reason.contains("peer"))), "A was told");
    assert!(sas(&sim, 0).is_empty() && sas(&sim, 1).is_empty());
    assert!(child_spis(&sim, 0).is_empty() && child_spis(&sim, 1).is_empty());
}

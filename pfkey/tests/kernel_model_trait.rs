//! The `Kernel` trait end to end on the model: `PfKeyKernel<ModelSocket>` drives the in-memory
//! kernel through real PF_KEY bytes, and a second socket sees what other key managers would.

use std::time::Duration;

use pfkey::kernel::model::ModelConfig;
use pfkey::kernel::{
    Capabilities, GetSpi, Kernel, KernelError, KernelEvent, Model, ModelKernel, MoveMechanism, MoveSa, SaId, Support,
};
use pfkey::message::*;
use pfkey::wire::numbers::*;

fn a(s: &str) -> SockAddr {
    SockAddr::new(s.parse().unwrap())
}

fn cbc(spi: u32, src: &str, dst: &str) -> SaSpec {
    let mut s = SaSpec::esp_tunnel_gcm(spi, a(src), a(dst), 1, &[0; 4]);
    s.encrypt = Some(AlgKey::new(EncryptAlg::AesCbc, &[0x22; 16]));
    s.auth = Some(AlgKey::new(AuthAlg::Sha2_256Hmac, &[0x33; 32]));
    s
}

fn sel() -> Selector {
    Selector::new(a("10.1.0.0"), 16, a("10.2.0.0"), 16)
}

const MOBILE: &str = "192.0.2.10";
const LTE: &str = "203.0.113.7";
const GW: &str = "198.51.100.1";

/// A mobile host's tunnel: out SA 0x1001 (mobile → gw), in SA 0x2001, out/in policies.
fn tunnel(config: ModelConfig) -> (ModelKernel, Model, Model) {
    let k = ModelKernel::with_config(config);
    let mut km = Model::new(k.socket()).with_timeout(Duration::from_millis(200));
    let observer = Model::new(k.socket()).with_timeout(Duration::from_millis(200));
    km.add_sa(&cbc(0x1001, MOBILE, GW)).unwrap();
    km.add_sa(&cbc(0x2001, GW, MOBILE)).unwrap();
    let out = PolicySpec::esp_tunnel(sel(), PolicyDir::Outbound, a(MOBILE), a(GW), 1);
    let inb = PolicySpec::esp_tunnel(
        Selector::new(a("10.2.0.0"), 16, a("10.1.0.0"), 16),
        PolicyDir::Inbound,
        a(GW),
        a(MOBILE),
        1,
    );
    assert_eq!(km.add_policy(&out).unwrap() & 7, 1, "outbound ids end in xfrm dir 1");
    assert_eq!(km.add_policy(&inb).unwrap() & 7, 0, "inbound ids end in xfrm dir 0");
    (k, km, observer)
}

fn out_move() -> Migrate {
    Migrate {
        selector: sel(),
        dir: PolicyDir::Outbound,
        kmaddress: Some((a(LTE), a(GW))),
        bundles: vec![MigrateBundle::new(
            IPPROTO_ESP,
            Mode::Tunnel,
            1,
            Endpoints { src: a(MOBILE), dst: a(GW) },
            Endpoints { src: a(LTE), dst: a(GW) },
        )],
        natt: None,
    }
}

#[test]
fn sa_lifecycle_through_the_trait() {
    let (k, mut km, _) = tunnel(ModelConfig::default());
    let id = SaId { satype: SaType::Esp, spi: 0x1001, src: a(MOBILE), dst: a(GW) };
    let e = km.get_sa(&id).unwrap();
    assert_eq!(e.spec.spi, 0x1001);
    assert_eq!(e.spec.mode, Mode::Tunnel);
    assert_eq!(e.spec.reqid, 1);
    assert_eq!(e.spec.encrypt.as_ref().unwrap().key.as_ref(), &[0x22; 16]);
    let all = km.dump_sas(SaType::Esp).unwrap();
    assert_eq!(all.iter().map(|e| e.spec.spi).collect::<Vec<_>>(), vec![0x2001, 0x1001], "newest first, like Linux");
    let dup = km.add_sa(&cbc(0x1001, MOBILE, GW)).unwrap_err();
    assert_eq!(dup.errno(), Some(libc::EEXIST));
    km.delete_sa(&id).unwrap();
    assert_eq!(km.get_sa(&id).unwrap_err().errno(), Some(libc::ESRCH));
    assert_eq!(k.sad().len(), 1);
    km.flush_sas(SaType::Unspec).unwrap();
    assert!(km.dump_sas(SaType::Unspec).unwrap().is_empty());
}

#[test]
fn getspi_then_update_completes_a_larval_sa() {
    let (k, mut km, _) = tunnel(ModelConfig::default());
    let req = GetSpi {
        satype: SaType::Esp,
        src: a(GW),
        dst: a(MOBILE),
        min: 0x3000,
        max: 0x30ff,
        mode: Mode::Tunnel,
        reqid: 2,
    };
    let spi = km.getspi(&req).unwrap();
    assert!((0x3000..=0x30ff).contains(&spi));
    let larval = k.sad().into_iter().find(|s| s.spi == spi).unwrap();
    assert_eq!(larval.state, SaState::Larval);
    let mut full = cbc(spi, GW, MOBILE);
    full.reqid = 2;
    km.update_sa(&full).unwrap();
    assert_eq!(k.sad().into_iter().find(|s| s.spi == spi).unwrap().state, SaState::Mature);
}

#[test]
fn stock_migrate_is_confirmed_by_the_seq0_broadcast_and_keeps_counters() {
    let (k, mut km, mut observer) = tunnel(ModelConfig::stock_linux());
    k.traffic(a(GW), 0x1001, SaType::Esp, 10, 1500).unwrap();
    let out = km.migrate(&out_move()).unwrap();
    assert_eq!(out.mechanism, MoveMechanism::Migrate);
    assert!(!out.acknowledged, "stock Linux never answers the requester");
    let moved = k.sad().into_iter().find(|s| s.spi == 0x1001).unwrap();
    assert_eq!(moved.src, a(LTE));
    assert_eq!(moved.current.allocations, 10);
    assert_eq!(moved.current.bytes, 1500);
    assert_eq!(moved.replay.oseq, 10);
    let pol = k.spd().into_iter().find(|p| p.dir == PolicyDir::Outbound).unwrap();
    assert_eq!(pol.templates[0].endpoints.unwrap().src, a(LTE));
    // The other key manager sees ADD/SPDADD broadcasts, then the MIGRATE with seq 0 and pid 0.
    let mut saw_migrate = None;
    while let Some(ev) = observer.next_event(Some(Duration::ZERO)).unwrap() {
        if let KernelEvent::Migrate { migrate, seq, pid } = ev {
            saw_migrate = Some((migrate, seq, pid));
        }
    }
    let (m, seq, pid) = saw_migrate.expect("observer got the MIGRATE broadcast");
    assert_eq!((seq, pid), (0, 0));
    assert_eq!(m.bundles[0].new.src, a(LTE));
    assert_eq!(m.kmaddress, Some((a(LTE), a(GW))));
}

#[test]
fn patched_migrate_is_acknowledged_and_errors_carry_the_errno() {
    let (_, mut km, _) = tunnel(ModelConfig::patched());
    assert!(km.migrate(&out_move()).unwrap().acknowledged);
    let mut none = out_move();
    none.dir = PolicyDir::Fwd;
    assert_eq!(km.migrate(&none).unwrap_err().errno(), Some(libc::ENOENT));
}

#[test]
fn per_sa_address_update_moves_one_sa_and_leaves_policies() {
    let (k, mut km, _) = tunnel(ModelConfig::default());
    k.traffic(a(GW), 0x1001, SaType::Esp, 3, 300).unwrap();
    let u = UpdateAddresses {
        satype: SaType::Esp,
        spi: 0x1001,
        src: a(MOBILE),
        dst: a(GW),
        mode: Mode::Tunnel,
        reqid: 1,
        new_src: Some(a(LTE)),
        new_dst: None,
        natt: Some(NatT::esp_in_udp(4500, 4500)),
    };
    let out = km.update_addresses(&u).unwrap();
    assert_eq!(out.mechanism, MoveMechanism::UpdateAddresses);
    assert!(out.acknowledged);
    let sa = k.sad().into_iter().find(|s| s.spi == 0x1001).unwrap();
    assert_eq!((sa.src, sa.dst), (a(LTE), a(GW)));
    assert_eq!(sa.natt, Some(NatT::esp_in_udp(4500, 4500)));
    assert_eq!(sa.current.bytes, 300);
    let other = k.sad().into_iter().find(|s| s.spi == 0x2001).unwrap();
    assert_eq!(other.dst, a(MOBILE), "the other SA did not move");
    let pol = k.spd().into_iter().find(|p| p.dir == PolicyDir::Outbound).unwrap();
    assert_eq!(pol.templates[0].endpoints.unwrap().src, a(MOBILE), "policies are moved separately");
    let mut gone = u.clone();
    gone.spi = 0x9999;
    assert_eq!(km.update_addresses(&gone).unwrap_err().errno(), Some(libc::ESRCH));
}

#[test]
fn policy_operations_through_the_trait() {
    let (_, mut km, _) = tunnel(ModelConfig::default());
    let pols = km.dump_policies().unwrap();
    assert_eq!(pols.len(), 2);
    let out = pols.iter().find(|p| p.dir == PolicyDir::Outbound).unwrap().clone();
    let got = km.get_policy(out.id, PolicyDir::Outbound).unwrap();
    assert_eq!(got.templates, out.templates);
    assert_eq!(km.add_policy(&out).unwrap_err().errno(), Some(libc::EEXIST));
    km.delete_policy(&sel(), PolicyDir::Outbound).unwrap();
    assert_eq!(km.delete_policy(&sel(), PolicyDir::Outbound).unwrap_err().errno(), Some(libc::ENOENT));
    km.flush_policies().unwrap();
    assert!(km.dump_policies().unwrap().is_empty());
}

#[test]
fn an_acknowledged_migrate_is_not_reported_back_as_an_event_but_others_see_it() {
    let (_, mut km, mut observer) = tunnel(ModelConfig::patched());
    assert!(km.migrate(&out_move()).unwrap().acknowledged);
    let mut own = Vec::new();
    while let Some(ev) = km.next_event(Some(Duration::ZERO)).unwrap() {
        own.push(ev);
    }
    assert!(!own.iter().any(|e| matches!(e, KernelEvent::Migrate { .. })), "own move came back as an event: {own:?}");
    let mut seen = 0;
    while let Some(ev) = observer.next_event(Some(Duration::ZERO)).unwrap() {
        if let KernelEvent::Migrate { seq: 0, pid: 0, migrate } = ev {
            assert_eq!(migrate.bundles[0].new.src, a(LTE));
            seen += 1;
        }
    }
    assert_eq!(seen, 1, "listeners still get the stock broadcast");
}

/// The per-SA move of the outbound SA to the LTE uplink, with the policy it belongs to.
fn out_sa_move() -> MoveSa {
    MoveSa {
        update: UpdateAddresses {
            satype: SaType::Esp,
            spi: 0x1001,
            src: a(MOBILE),
            dst: a(GW),
            mode: Mode::Tunnel,
            reqid: 1,
            new_src: Some(a(LTE)),
            new_dst: None,
            natt: None,
        },
        policy: Some((sel(), PolicyDir::Outbound)),
    }
}

#[test]
fn the_probe_tells_a_stock_kernel_from_a_patched_one_and_changes_nothing() {
    for (config, has) in [(ModelConfig::stock_linux(), Support::No), (ModelConfig::patched(), Support::Yes)] {
        let (k, mut km, mut observer) = tunnel(config);
        while observer.next_event(Some(Duration::ZERO)).unwrap().is_some() {}
        let (sad, spd) = (k.sad(), k.spd());
        let caps = km.capabilities().unwrap();
        assert_eq!(
            caps,
            Capabilities {
                update_addresses: has,
                migrate_natt: has,
                migrate_reply: Support::Unknown,
                aead: has,
                movable_inbound: has,
                beet_inner: has,
            },
            "{config:?}"
        );
        assert_eq!((k.sad(), k.spd()), (sad, spd), "the probe changed the SAD or SPD");
        assert_eq!(observer.next_event(Some(Duration::ZERO)).unwrap(), None, "other sockets saw the probe");
        // The MIGRATE answer is learned from the first successful MIGRATE.
        km.migrate(&out_move()).unwrap();
        assert_eq!(km.capabilities().unwrap().migrate_reply, has, "{config:?}");
    }
}

#[test]
fn move_sa_uses_the_per_sa_update_where_the_kernel_has_it() {
    let (k, mut km, _) = tunnel(ModelConfig::patched());
    let out = km.move_sa(&out_sa_move()).unwrap();
    assert_eq!((out.mechanism, out.acknowledged), (MoveMechanism::UpdateAddresses, true));
    let sa = k.sad().into_iter().find(|s| s.spi == 0x1001).unwrap();
    assert_eq!(sa.src, a(LTE));
    let pol = k.spd().into_iter().find(|p| p.dir == PolicyDir::Outbound).unwrap();
    assert_eq!(pol.templates[0].endpoints.unwrap().src, a(MOBILE), "the per-SA update leaves policies");
}

#[test]
fn move_sa_falls_back_to_a_narrowed_migrate_on_stock_linux() {
    let (k, mut km, _) = tunnel(ModelConfig::stock_linux());
    let out = km.move_sa(&out_sa_move()).unwrap();
    assert_eq!((out.mechanism, out.acknowledged), (MoveMechanism::Migrate, false));
    let sa = k.sad().into_iter().find(|s| s.spi == 0x1001).unwrap();
    assert_eq!(sa.src, a(LTE));
    let inbound = k.sad().into_iter().find(|s| s.spi == 0x2001).unwrap();
    assert_eq!(inbound.dst, a(MOBILE), "only the named SA moved");
    let pol = k.spd().into_iter().find(|p| p.dir == PolicyDir::Outbound).unwrap();
    assert_eq!(pol.templates[0].endpoints.unwrap().src, a(LTE), "MIGRATE moves the template with it");
    let mut alone = out_sa_move();
    alone.policy = None;
    alone.update.spi = 0x2001;
    let err = km.move_sa(&alone).unwrap_err();
    assert!(matches!(err, KernelError::Unsupported { .. }), "{err}");
    // A NAT-T change that stock MIGRATE would silently drop is refused, and nothing moves.
    let mut natt = out_sa_move();
    natt.update.src = a(LTE);
    natt.update.new_src = Some(a(MOBILE));
    natt.update.natt = Some(NatT::esp_in_udp(4500, 4500));
    let sad = k.sad();
    let err = km.move_sa(&natt).unwrap_err();
    assert!(matches!(err, KernelError::Unsupported { .. }), "{err}");
    assert_eq!(k.sad(), sad);
}

#[test]
fn natt_in_a_migrate_must_be_consistent() {
    let (k, mut km, _) = tunnel(ModelConfig::patched());
    let before = (k.sad(), k.spd());
    for (natt, why) in [
        (NatT { nat_t_type: NatTType::EspInUdp, sport: 0, dport: 4500 }, "a type without both ports"),
        (NatT { nat_t_type: NatTType::EspInUdpNonIke, sport: 4500, dport: 4500 }, "a type ESP does not implement"),
        (NatT { nat_t_type: NatTType::None, sport: 4500, dport: 0 }, "removal with ports"),
    ] {
        let m = Migrate { natt: Some(natt), ..out_move() };
        assert_eq!(km.migrate(&m).unwrap_err().errno(), Some(libc::EINVAL), "{why}");
        assert_eq!((k.sad(), k.spd()), before, "{why} changed something");
    }
    let on = Migrate { natt: Some(NatT::esp_in_udp(4500, 4500)), ..out_move() };
    assert!(km.migrate(&on).unwrap().acknowledged);
    let sa = k.sad().into_iter().find(|s| s.spi == 0x1001).unwrap();
    assert_eq!(sa.natt, Some(NatT::esp_in_udp(4500, 4500)));
}

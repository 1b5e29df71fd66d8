//! The XFRM backend against this machine's own kernel (XFRM netlink with XFRM_MIGRATE, no ESP,
//! no PF_KEY), each test in a fresh network namespace of its own.
//!
//! A test runs on a thread of its own that calls `unshare(CLONE_NEWNET)`: the namespace is
//! per-thread, so the harness's other threads (and the host's SAD/SPD) are untouched, and the
//! namespace goes away with the thread's sockets. Without root, without `unshare`, or without
//! XFRM netlink, a test says so on stderr (`SKIPPED ...`, written past the harness's capture so
//! it shows) and does nothing. Tests that need ESP SAs, which this kernel cannot build
//! (`EPROTONOSUPPORT`), say `SKIPPED ... runs in the VM` and stop there.

use std::io::Write;
use std::net::UdpSocket;
use std::time::Duration;

use pfkey::kernel::{GetSpi, Kernel, KernelError, KernelEvent, MoveMechanism, SaId, XfrmKernel};
use pfkey::message::{
    AlgKey, Endpoints, Migrate, MigrateBundle, NatT, PolicySpec, SaSpec, Selector, SockAddr, UpdateAddresses,
};
use pfkey::wire::numbers::{AuthAlg, EncryptAlg, IPPROTO_ESP, Level, Mode, PolicyDir, PolicyType, SaState, SaType};

fn ip(s: &str) -> SockAddr {
    SockAddr::new(s.parse().unwrap())
}

fn eps(s: &str, d: &str) -> Endpoints {
    Endpoints { src: ip(s), dst: ip(d) }
}

/// Says why a test did not run, where the harness does not swallow it.
fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED xfrm_host::{test}: {why}");
}

/// Runs `f` with an XFRM kernel in a fresh network namespace; `None` when skipped.
fn in_fresh_netns<T: Send + 'static>(
    test: &'static str,
    f: impl FnOnce(&mut XfrmKernel) -> T + Send + 'static,
) -> Option<T> {
    // SAFETY: geteuid takes no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        skip(test, "not root (XFRM netlink and unshare(CLONE_NEWNET) need CAP_NET_ADMIN/CAP_SYS_ADMIN)");
        return None;
    }
    let run = std::thread::spawn(move || {
        // SAFETY: unshare takes no pointers; it moves only the calling thread.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(format!("unshare(CLONE_NEWNET) failed: {}", std::io::Error::last_os_error()));
        }
        let mut k = match XfrmKernel::open() {
            Ok(k) => k.with_timeout(Duration::from_secs(5)),
            Err(e @ KernelError::NoXfrm(_)) => return Err(e.to_string()),
            Err(e) => panic!("NETLINK_XFRM exists but could not be opened: {e}"),
        };
        Ok(f(&mut k))
    });
    match run.join() {
        Ok(Ok(v)) => Some(v),
        Ok(Err(why)) => {
            skip(test, &why);
            None
        }
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Whether an SA operation failed only because this kernel has no ESP; says so if it did.
fn no_esp<T: std::fmt::Debug>(test: &str, r: &Result<T, KernelError>) -> bool {
    if matches!(r, Err(e) if matches!(e.errno(), Some(libc::EPROTONOSUPPORT | libc::ENOSYS))) {
        let e = r.as_ref().err().map(ToString::to_string).unwrap_or_default();
        skip(test, &format!("this kernel cannot build ESP SAs ({e}): the SA part of this test runs in the VM tier"));
        return true;
    }
    false
}

fn errno<T: std::fmt::Debug>(r: Result<T, KernelError>) -> i32 {
    match r {
        Err(e) => e.errno().unwrap_or_else(|| panic!("expected an errno, got {e}")),
        Ok(v) => panic!("expected an errno, got {v:?}"),
    }
}

fn sel() -> Selector {
    Selector::new(ip("10.1.0.0"), 16, ip("10.2.0.0"), 16)
}

fn out_policy(reqid: u32) -> PolicySpec {
    PolicySpec::esp_tunnel(sel(), PolicyDir::Outbound, ip("192.0.2.10"), ip("198.51.100.1"), reqid)
}

fn in_policy(reqid: u32) -> PolicySpec {
    let s = Selector::new(ip("10.2.0.0"), 16, ip("10.1.0.0"), 16);
    PolicySpec::esp_tunnel(s, PolicyDir::Inbound, ip("198.51.100.1"), ip("192.0.2.10"), reqid)
}

fn sorted(mut v: Vec<PolicySpec>) -> Vec<PolicySpec> {
    v.sort_by_key(|p| p.id);
    v
}

#[test]
fn xfrm_policies_add_get_dump_update_delete_flush() {
    in_fresh_netns("xfrm_policies_add_get_dump_update_delete_flush", |k| {
        assert_eq!(k.backend(), "xfrm");
        assert_eq!(k.dump_policies().unwrap(), vec![], "a fresh namespace has an empty SPD");
        let out_id = k.add_policy(&out_policy(1)).unwrap();
        let in_id = k.add_policy(&in_policy(1)).unwrap();
        // xfrm_gen_index: the direction is in the low three bits of the id.
        assert_eq!((out_id & 7, in_id & 7), (1, 0), "ids {out_id:#x} {in_id:#x}");
        let got = k.get_policy(out_id, PolicyDir::Outbound).unwrap();
        assert_eq!(got, PolicySpec { id: out_id, ..out_policy(1) });
        assert_eq!(
            sorted(k.dump_policies().unwrap()),
            sorted(vec![PolicySpec { id: out_id, ..out_policy(1) }, PolicySpec { id: in_id, ..in_policy(1) }])
        );
        // SPDADD of an existing policy: EEXIST, as af_key answers.
        assert_eq!(errno(k.add_policy(&out_policy(1))), libc::EEXIST);
        // SPDUPDATE replaces the templates and keeps the id.
        let mut moved = out_policy(2);
        moved.templates[0].endpoints = Some(eps("203.0.113.7", "198.51.100.1"));
        assert_eq!(k.update_policy(&moved).unwrap(), out_id);
        assert_eq!(k.get_policy(out_id, PolicyDir::Outbound).unwrap(), PolicySpec { id: out_id, ..moved.clone() });
        // The direction of a policy id is its low three bits, whatever the request names, as
        // af_key's pfkey_spdget takes it (the differential suite found XFRM's own check, ENOENT
        // on a mismatch, is not what PF_KEY answers); an id whose bits name no direction is EINVAL.
        assert_eq!(k.get_policy(out_id, PolicyDir::Inbound).unwrap(), PolicySpec { id: out_id, ..moved.clone() });
        assert_eq!(errno(k.get_policy((out_id & !7) | 3, PolicyDir::Outbound)), libc::EINVAL);
        assert_eq!(errno(k.get_policy(out_id + 8, PolicyDir::Outbound)), libc::ENOENT);
        // Delete by selector, then again: ENOENT.
        k.delete_policy(&sel(), PolicyDir::Outbound).unwrap();
        assert_eq!(errno(k.delete_policy(&sel(), PolicyDir::Outbound)), libc::ENOENT);
        // Delete by id.
        k.delete_policy_by_id(in_id, PolicyDir::Inbound).unwrap();
        assert_eq!(errno(k.delete_policy_by_id(in_id, PolicyDir::Inbound)), libc::ENOENT);
        assert_eq!(k.dump_policies().unwrap(), vec![]);
        // Flush.
        k.add_policy(&out_policy(1)).unwrap();
        k.add_policy(&in_policy(1)).unwrap();
        k.flush_policies().unwrap();
        assert_eq!(k.dump_policies().unwrap(), vec![]);
        k.flush_policies().unwrap();
    });
}

#[test]
fn xfrm_policy_kinds_and_levels_read_back_as_af_key_reports_them() {
    in_fresh_netns("xfrm_policy_kinds_and_levels_read_back_as_af_key_reports_them", |k| {
        let discard = PolicySpec { policy_type: PolicyType::Discard, templates: vec![], ..out_policy(0) };
        let id = k.add_policy(&discard).unwrap();
        assert_eq!(k.get_policy(id, PolicyDir::Outbound).unwrap().policy_type, PolicyType::Discard);
        let none = PolicySpec {
            policy_type: PolicyType::None,
            templates: vec![],
            priority: 7,
            ..PolicySpec { dir: PolicyDir::Fwd, ..out_policy(0) }
        };
        let id = k.add_policy(&none).unwrap();
        assert_eq!(k.get_policy(id, PolicyDir::Fwd).unwrap(), PolicySpec { id, ..none });
        // Level `use` is an optional template; `require` has no reqid; `unique` keeps it.
        let mut levels = in_policy(9);
        levels.templates[0].level = Level::Use;
        let id = k.add_policy(&levels).unwrap();
        let got = k.get_policy(id, PolicyDir::Inbound).unwrap();
        assert_eq!((got.templates[0].level, got.templates[0].reqid), (Level::Use, 0));
        let mut port_sel = out_policy(3);
        port_sel.selector = Selector { proto: 17, ..Selector::new(ip("10.9.0.1"), 32, ip("10.9.0.2"), 32) };
        port_sel.selector.dst = SockAddr::with_port("10.9.0.2".parse().unwrap(), 4500);
        let id = k.add_policy(&port_sel).unwrap();
        assert_eq!(k.get_policy(id, PolicyDir::Outbound).unwrap().selector, port_sel.selector);
    });
}

#[test]
fn xfrm_policy_requests_af_key_refuses_give_its_errno() {
    in_fresh_netns("xfrm_policy_requests_af_key_refuses_give_its_errno", |k| {
        let any_dir = PolicySpec { dir: PolicyDir::Any, ..out_policy(1) };
        assert_eq!(errno(k.add_policy(&any_dir)), libc::EINVAL);
        let entrust = PolicySpec { policy_type: PolicyType::Entrust, ..out_policy(1) };
        assert_eq!(errno(k.add_policy(&entrust)), libc::EINVAL);
        let mut any_mode = out_policy(1);
        any_mode.templates[0].mode = Mode::Any;
        assert_eq!(errno(k.add_policy(&any_mode)), libc::EINVAL);
        let mut deep = out_policy(1);
        deep.templates = vec![deep.templates[0]; 7];
        assert_eq!(errno(k.add_policy(&deep)), libc::ELOOP);
        // A policy id whose low bits name no direction (af_key reads the direction there).
        assert_eq!(errno(k.get_policy(3, PolicyDir::Outbound)), libc::EINVAL);
        assert_eq!(k.dump_policies().unwrap(), vec![], "nothing was installed");
    });
}

fn migrate_req() -> Migrate {
    Migrate {
        selector: sel(),
        dir: PolicyDir::Outbound,
        kmaddress: Some((ip("203.0.113.7"), ip("198.51.100.1"))),
        bundles: vec![MigrateBundle::new(
            IPPROTO_ESP,
            Mode::Tunnel,
            1,
            eps("192.0.2.10", "198.51.100.1"),
            eps("203.0.113.7", "198.51.100.1"),
        )],
        natt: Some(NatT::esp_in_udp(4500, 4500)),
    }
}

#[test]
fn xfrm_migrate_moves_the_policy_template_and_others_see_the_broadcast() {
    in_fresh_netns("xfrm_migrate_moves_the_policy_template_and_others_see_the_broadcast", |k| {
        let mut watcher = XfrmKernel::open().unwrap();
        let id = k.add_policy(&out_policy(1)).unwrap();
        let out = k.migrate(&migrate_req()).unwrap();
        assert_eq!(out.mechanism, MoveMechanism::XfrmMigrate);
        assert!(out.acknowledged, "XFRM acknowledges a MIGRATE (NLM_F_ACK)");
        let got = k.get_policy(id, PolicyDir::Outbound).unwrap();
        assert_eq!(got.templates[0].endpoints, Some(eps("203.0.113.7", "198.51.100.1")));
        assert_eq!(got.templates[0].reqid, 1);
        // Our own broadcast is no event for us...
        assert_eq!(k.next_event(Some(Duration::from_millis(200))).unwrap(), None);
        // ... but another socket sees it as af_key reports a MIGRATE: seq 0, pid 0, the
        // selector's protocol as stored (0), KMADDRESS and the NAT-T encapsulation.
        match watcher.next_event(Some(Duration::from_secs(2))).unwrap() {
            Some(KernelEvent::Migrate { migrate, seq: 0, pid: 0 }) => {
                let want = migrate_req();
                assert_eq!(migrate.selector, Selector { proto: 0, ..want.selector });
                assert_eq!((migrate.dir, migrate.kmaddress, migrate.bundles), (want.dir, want.kmaddress, want.bundles));
                assert_eq!(migrate.natt, want.natt);
            }
            other => panic!("expected the MIGRATE broadcast, got {other:?}"),
        }
    });
}

#[test]
fn xfrm_migrate_without_a_matching_policy_is_enoent_and_changes_nothing() {
    in_fresh_netns("xfrm_migrate_without_a_matching_policy_is_enoent_and_changes_nothing", |k| {
        assert_eq!(errno(k.migrate(&migrate_req())), libc::ENOENT);
        let id = k.add_policy(&out_policy(1)).unwrap();
        let wrong_dir = Migrate { dir: PolicyDir::Inbound, ..migrate_req() };
        assert_eq!(errno(k.migrate(&wrong_dir)), libc::ENOENT);
        let none = Migrate { bundles: vec![], ..migrate_req() };
        assert_eq!(errno(k.migrate(&none)), libc::EINVAL);
        assert_eq!(k.get_policy(id, PolicyDir::Outbound).unwrap(), PolicySpec { id, ..out_policy(1) });
    });
}

#[test]
fn xfrm_getspi_allocates_in_range_and_the_larval_sa_reads_back() {
    in_fresh_netns("xfrm_getspi_allocates_in_range_and_the_larval_sa_reads_back", |k| {
        let req = GetSpi {
            satype: SaType::Esp,
            src: ip("192.0.2.10"),
            dst: ip("198.51.100.1"),
            min: 0x1000,
            max: 0x1fff,
            mode: Mode::Tunnel,
            reqid: 4,
        };
        let r = k.getspi(&req);
        if no_esp("xfrm_getspi_allocates_in_range_and_the_larval_sa_reads_back", &r) {
            return;
        }
        let spi = r.unwrap();
        assert!((0x1000..=0x1fff).contains(&spi), "{spi:#x}");
        let id = SaId { satype: SaType::Esp, spi, src: req.src, dst: req.dst };
        let sa = k.get_sa(&id).unwrap().spec;
        assert_eq!((sa.spi, sa.state, sa.mode, sa.reqid), (spi, SaState::Larval, Mode::Tunnel, 4));
        assert_eq!(k.dump_sas(SaType::Esp).unwrap().len(), 1);
        assert_eq!(k.dump_sas(SaType::Ah).unwrap(), vec![]);
        // An empty range: EINVAL (verify_spi_info), as af_key answers.
        assert_eq!(errno(k.getspi(&GetSpi { min: 5, max: 4, ..req })), libc::EINVAL);
        k.delete_sa(&id).unwrap();
        assert_eq!(errno(k.get_sa(&id)), libc::ESRCH);
        assert_eq!(errno(k.delete_sa(&id)), libc::ESRCH);
        k.flush_sas(SaType::Unspec).unwrap();
    });
}

#[test]
fn xfrm_sa_lifecycle_and_per_sa_move() {
    const T: &str = "xfrm_sa_lifecycle_and_per_sa_move";
    in_fresh_netns(T, |k| {
        // Missing SAs answer as af_key does, ESP or not.
        let missing = SaId { satype: SaType::Esp, spi: 0x4242, src: ip("192.0.2.10"), dst: ip("198.51.100.1") };
        assert_eq!(errno(k.get_sa(&missing)), libc::ESRCH);
        assert_eq!(errno(k.delete_sa(&missing)), libc::ESRCH);
        assert_eq!(k.dump_sas(SaType::Unspec).unwrap(), vec![]);
        k.flush_sas(SaType::Esp).unwrap();
        let mut sa = SaSpec::esp_tunnel_gcm(0x1001, ip("192.0.2.10"), ip("198.51.100.1"), 1, &[7; 20]);
        sa.encrypt = Some(AlgKey::new(EncryptAlg::AesCbc, &[7; 16]));
        sa.auth = Some(AlgKey::new(AuthAlg::Sha2_256Hmac, &[8; 32]));
        let r = k.add_sa(&sa);
        if no_esp(T, &r) {
            return;
        }
        r.unwrap();
        assert_eq!(errno(k.add_sa(&sa)), libc::EEXIST);
        let id = SaId { satype: SaType::Esp, spi: sa.spi, src: sa.src, dst: sa.dst };
        let got = k.get_sa(&id).unwrap().spec;
        assert_eq!((got.encrypt, got.state, got.reqid), (sa.encrypt.clone(), SaState::Mature, 1));
        let pol_id = k.add_policy(&out_policy(1)).unwrap();
        let u = UpdateAddresses {
            satype: SaType::Esp,
            spi: sa.spi,
            src: sa.src,
            dst: sa.dst,
            mode: Mode::Tunnel,
            reqid: 1,
            new_src: Some(ip("203.0.113.7")),
            new_dst: None,
            natt: None,
        };
        let out = k.update_addresses(&u).unwrap();
        assert!(matches!(out.mechanism, MoveMechanism::XfrmMigrateNarrowed | MoveMechanism::XfrmMigrateState));
        let moved = k.get_sa(&SaId { src: ip("203.0.113.7"), ..id }).unwrap().spec;
        assert_eq!((moved.src, moved.spi, moved.encrypt), (ip("203.0.113.7"), sa.spi, sa.encrypt.clone()));
        // A second move starts from where the first left the SA (and, narrowed, the template).
        let u2 = UpdateAddresses { src: ip("203.0.113.7"), new_src: Some(ip("100.64.0.5")), ..u.clone() };
        let out2 = k.update_addresses(&u2).unwrap();
        assert_eq!(out2.mechanism, out.mechanism);
        assert_eq!(k.get_sa(&SaId { src: ip("100.64.0.5"), ..id }).unwrap().spec.src, ip("100.64.0.5"));
        if out.mechanism == MoveMechanism::XfrmMigrateNarrowed {
            let p = k.get_policy(pol_id, PolicyDir::Outbound).unwrap();
            assert_eq!(p.templates[0].endpoints, Some(eps("100.64.0.5", "198.51.100.1")), "the template moved too");
        }
        k.flush_sas(SaType::Unspec).unwrap();
        assert_eq!(k.dump_sas(SaType::Unspec).unwrap(), vec![]);
    });
}

#[test]
fn xfrm_per_sa_move_reports_the_mechanism_this_kernel_offers() {
    in_fresh_netns("xfrm_per_sa_move_reports_the_mechanism_this_kernel_offers", |k| {
        let has = k.has_migrate_state().unwrap();
        let _ = writeln!(std::io::stderr().lock(), "xfrm_host: XFRM_MSG_MIGRATE_STATE on this kernel: {has}");
        // A move of an SA that does not exist fails as GET does, whatever the mechanism.
        let u = UpdateAddresses {
            satype: SaType::Esp,
            spi: 0x777,
            src: ip("192.0.2.10"),
            dst: ip("198.51.100.1"),
            mode: Mode::Tunnel,
            reqid: 1,
            new_src: Some(ip("203.0.113.7")),
            new_dst: None,
            natt: None,
        };
        assert_eq!(errno(k.update_addresses(&u)), libc::ESRCH);
        if has {
            return;
        }
        // A larval SA (ALLOCSPI needs no ESP) with reqid 1: without a policy naming it the
        // narrowed MIGRATE has nothing to go through (ENOENT, as xfrm_migrate answers).
        let get = GetSpi {
            satype: SaType::Esp,
            src: u.src,
            dst: u.dst,
            min: 0x777,
            max: 0x777,
            mode: Mode::Tunnel,
            reqid: 1,
        };
        assert_eq!(k.getspi(&get).unwrap(), 0x777);
        assert_eq!(errno(k.update_addresses(&u)), libc::ENOENT);
        // A reqid or mode that is not the SA's: not this SA (ESRCH, as the patched af_key says).
        assert_eq!(errno(k.update_addresses(&UpdateAddresses { reqid: 2, ..u.clone() })), libc::ESRCH);
        assert_eq!(errno(k.update_addresses(&UpdateAddresses { mode: Mode::Transport, ..u.clone() })), libc::ESRCH);
        let id = k.add_policy(&out_policy(1)).unwrap();
        // Now the MIGRATE reaches the SA, but xfrm_state_migrate cannot clone a larval SA (it
        // has no algorithms): ENODATA, which the shim answers as af_key does for a larval SA
        // (EINVAL), and the MIGRATE changed nothing, the policy's template included. (A mature
        // SA moves: xfrm_sa_lifecycle_and_per_sa_move, in the VM.)
        assert_eq!(errno(k.update_addresses(&u)), libc::EINVAL);
        assert_eq!(k.get_policy(id, PolicyDir::Outbound).unwrap(), PolicySpec { id, ..out_policy(1) });
        let larval = k.get_sa(&SaId { satype: SaType::Esp, spi: 0x777, src: u.src, dst: u.dst }).unwrap().spec;
        assert_eq!((larval.src, larval.state), (u.src, SaState::Larval));
        // Another program replaces the policy (new selector, same template): the SPD this
        // socket remembers is stale, the kernel says so (ENOENT), and the move looks again and
        // reaches the SA through the new policy (EINVAL again, for the larval SA).
        let mut other = XfrmKernel::open().unwrap();
        other.delete_policy_by_id(id, PolicyDir::Outbound).unwrap();
        let mut replaced = out_policy(1);
        replaced.selector = Selector::new(ip("10.7.0.0"), 16, ip("10.8.0.0"), 16);
        other.add_policy(&replaced).unwrap();
        assert_eq!(errno(k.update_addresses(&u)), libc::EINVAL);
        // And when no policy names the SA any more: ENOENT.
        other.flush_policies().unwrap();
        assert_eq!(errno(k.update_addresses(&u)), libc::ENOENT);
    });
}

/// Brings `lo` up in the current (fresh) namespace, with IPsec allowed on it (Linux sets
/// `disable_xfrm` and `disable_policy` on loopback devices, so no policy would ever match).
fn loopback_up() {
    for knob in ["disable_xfrm", "disable_policy"] {
        // /proc/sys/net is the namespace of the task that opens it: this thread's.
        std::fs::write(format!("/proc/sys/net/ipv4/conf/lo/{knob}"), "0").expect(knob);
    }
    // SAFETY: a plain datagram socket and two ioctls on a zeroed, NUL-terminated ifreq that
    // lives across the calls; the descriptor is closed before returning.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (d, s) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
            *d = *s as libc::c_char;
        }
        assert_eq!(libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut ifr), 0, "SIOCGIFFLAGS");
        ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        assert_eq!(libc::ioctl(fd, libc::SIOCSIFFLAGS, &ifr), 0, "SIOCSIFFLAGS");
        libc::close(fd);
    }
}

#[test]
fn xfrm_acquire_event_matches_what_af_key_reports() {
    in_fresh_netns("xfrm_acquire_event_matches_what_af_key_reports", |k| {
        loopback_up();
        let reg = k.register(SaType::Esp).unwrap();
        assert_eq!(reg.header.satype, SaType::Esp);
        let s = Selector::new(ip("127.0.0.1"), 32, ip("127.0.0.2"), 32);
        let p = PolicySpec::esp_tunnel(s, PolicyDir::Outbound, ip("127.0.0.1"), ip("127.0.0.2"), 5);
        let id = k.add_policy(&p).unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        // No SA: the kernel drops the datagram (or refuses it) and asks the key managers.
        let _ = udp.send_to(b"x", "127.0.0.2:9");
        match k.next_event(Some(Duration::from_secs(2))).unwrap() {
            Some(KernelEvent::Acquire { satype, src, dst, policy_id, seq }) => {
                assert_eq!((satype, src, dst, policy_id), (SaType::Esp, ip("127.0.0.1"), ip("127.0.0.2"), Some(id)));
                assert_ne!(seq, 0, "the larval SA's seq, for GETSPI/ADD to answer it");
            }
            other => panic!("expected an ACQUIRE, got {other:?}"),
        }
    });
}

/// Runs the `pfkey` tool (in the caller's namespace: a child inherits its thread's).
fn pfkey(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pfkey"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run pfkey");
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
}

#[test]
fn cli_backend_xfrm_and_auto_run_the_spd_and_migrate_commands() {
    in_fresh_netns("cli_backend_xfrm_and_auto_run_the_spd_and_migrate_commands", |_k| {
        let sel = ["--src", "10.1.0.0/16", "--dst", "10.2.0.0/16", "--dir", "out"];
        let spdadd =
            [&["--backend", "xfrm", "spdadd"][..], &sel, &["--tunnel", "192.0.2.10-198.51.100.1", "--reqid", "1"]]
                .concat();
        let (code, out, err) = pfkey(&spdadd);
        assert_eq!(code, 0, "{err}");
        assert!(out.starts_with("spid="), "{out}");
        let (code, _, err) = pfkey(&spdadd);
        assert_eq!((code, err.trim()), (1, "pfkey spdadd: XFRM_MSG_NEWPOLICY: EEXIST (17)"));
        let migrate = [
            &["--backend", "xfrm", "migrate"][..],
            &sel,
            &["--old", "192.0.2.10-198.51.100.1", "--new", "203.0.113.7-198.51.100.1", "--reqid", "1"],
            &["--km", "203.0.113.7-198.51.100.1", "--json"],
        ]
        .concat();
        let (code, out, err) = pfkey(&migrate);
        assert_eq!(code, 0, "{err}");
        let o: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!((o["mechanism"].as_str(), o["acknowledged"].as_bool()), (Some("xfrm_migrate"), Some(true)));
        // `auto` takes XFRM on a kernel without PF_KEY; --trace shows the XFRM requests.
        let has_pf_key = pfkey::socket::PfKeySocket::open().is_ok();
        let (code, out, err) = pfkey(&["--backend", "auto", "--trace", "spddump", "--json"]);
        assert_eq!(code, 0, "{err}");
        if !has_pf_key {
            assert!(err.contains("XFRM_MSG_GETPOLICY"), "{err}");
            let p: PolicySpec = serde_json::from_str(out.trim()).unwrap();
            assert_eq!(p.templates[0].endpoints, Some(eps("203.0.113.7", "198.51.100.1")));
        }
        let spddelete = [&["--backend", "xfrm", "spddelete"][..], &sel].concat();
        assert_eq!(pfkey(&spddelete).0, 0);
        let (code, _, err) = pfkey(&spddelete);
        assert_eq!((code, err.trim()), (1, "pfkey spddelete: XFRM_MSG_DELPOLICY: ENOENT (2)"));
        for args in [&["--backend", "xfrm", "flush"][..], &["--backend", "xfrm", "flush", "--policies"]] {
            assert_eq!(pfkey(args).0, 0, "{args:?}");
        }
        let (code, out, _) = pfkey(&["--backend", "xfrm", "dump"]);
        assert_eq!((code, out.trim()), (0, "No SAD entries."));
    });
}

//! The scale benchmark (issue 5, item 5), run inside the lab VM: install N tunnels (an SA pair
//! and an out/in policy pair each) and move all of them to a new local address, per mechanism,
//! and report SAs moved per second as a ratio to delete + re-add measured in the same run.
//!
//! Mechanisms ([`Mechanism`]):
//! - `pfkey-migrate`: `SADB_X_MIGRATE` through `af_key`, one per policy (the template and its SA);
//! - `xfrm-migrate`: `XFRM_MSG_MIGRATE`, the same moves over XFRM netlink;
//! - `update-addresses`: the per-SA update (`SADB_UPDATE` + `SADB_X_EXT_NEW_ADDRESS_*`, the
//!   series), one per SA; it moves SAs only, so the policies' templates stay (a daemon would
//!   SPDUPDATE them too, which `delete-readd` includes);
//! - `delete-readd`: how strongSwan's netlink backend moves SAs: per SA `XFRM_MSG_DELSA` and
//!   `XFRM_MSG_NEWSA` at the new address (same SPI and keys; counters and replay state are lost),
//!   and per policy `XFRM_MSG_UPDPOLICY` with the new template. The baseline.
//!
//! Each (mechanism, N) runs in a process of its own ([`run_one`], `lab-guest scale-one`) in a
//! fresh network namespace, so its peak resident memory (`VmHWM`) is its own and the kernel's
//! tables start empty. Every tunnel has its own selectors, SPIs and reqid; all share the outer
//! addresses (one mobile host with N child SAs to one gateway). After the moves the SAD is dumped
//! and every SA must be at the new address, or the run fails: a fast wrong move is not a result.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use pfkey::kernel::{AfKey, Capabilities, Kernel, Support, XfrmKernel};
use pfkey::message::{Endpoints, Migrate, MigrateBundle, PolicySpec, Selector, SockAddr, UpdateAddresses};
use pfkey::wire::numbers::{IPPROTO_ESP, Mode, PolicyDir, SaType};
use serde::{Deserialize, Serialize};

use crate::guest::{Check, GuestError, esp_cbc_sha256};

const LOCAL: &str = "192.0.2.10";
const MOVED: &str = "203.0.113.7";
const PEER: &str = "198.51.100.1";

/// How the tunnels are moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mechanism {
    /// `SADB_X_MIGRATE` per policy.
    PfkeyMigrate,
    /// `XFRM_MSG_MIGRATE` per policy.
    XfrmMigrate,
    /// The per-SA update per SA (patched kernels).
    UpdateAddresses,
    /// Delete + re-add per SA and SPDUPDATE per policy over XFRM (the baseline).
    DeleteReadd,
}

impl Mechanism {
    /// All, baseline last.
    pub const ALL: [Mechanism; 4] =
        [Mechanism::PfkeyMigrate, Mechanism::XfrmMigrate, Mechanism::UpdateAddresses, Mechanism::DeleteReadd];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::PfkeyMigrate => "pfkey-migrate",
            Mechanism::XfrmMigrate => "xfrm-migrate",
            Mechanism::UpdateAddresses => "update-addresses",
            Mechanism::DeleteReadd => "delete-readd",
        }
    }

    fn uses_pfkey(self) -> bool {
        matches!(self, Mechanism::PfkeyMigrate | Mechanism::UpdateAddresses)
    }
}

/// One measurement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScaleRun {
    /// The mechanism.
    pub mechanism: Mechanism,
    /// Tunnels (SA pairs).
    pub tunnels: u32,
    /// SAs moved (2 per tunnel).
    pub sas_moved: u32,
    /// Seconds to install the SAs and policies.
    pub install_secs: f64,
    /// Seconds to move them.
    pub move_secs: f64,
    /// Kernel requests the move took.
    pub requests: u32,
    /// Of `move_secs`, the seconds spent in policy requests (delete + re-add's SPDUPDATEs; 0
    /// for the others, whose policy work is inside their one request).
    pub policy_secs: f64,
    /// Peak resident memory of the process (`VmHWM`), KiB.
    pub peak_rss_kib: u64,
}

impl ScaleRun {
    /// SAs moved per second.
    pub fn rate(&self) -> f64 {
        f64::from(self.sas_moved) / self.move_secs.max(1e-9)
    }
}

fn addr(s: &str) -> SockAddr {
    SockAddr::new(s.parse().expect("a literal address"))
}

/// Tunnel `i`'s inner prefixes: 10.(i/256).(i%256).0/24 on the local side, 172.16+... remote.
fn selectors(i: u32) -> (Selector, Selector) {
    let (hi, lo) = ((i >> 8) as u8, (i & 0xff) as u8);
    let local = SockAddr::new(Ipv4Addr::new(10, hi, lo, 0).into());
    let remote = SockAddr::new(Ipv4Addr::new(100, 64 + (hi & 0x3f), lo, 0).into());
    (Selector::new(local, 24, remote, 24), Selector::new(remote, 24, local, 24))
}

fn spis(i: u32) -> (u32, u32) {
    (0x1000_0000 + i, 0x2000_0000 + i)
}

fn eps(src: &str, dst: &str) -> Endpoints {
    Endpoints { src: addr(src), dst: addr(dst) }
}

fn install(k: &mut dyn Kernel, n: u32) -> Result<(), GuestError> {
    for i in 0..n {
        let (sel_out, sel_in) = selectors(i);
        let (out, inb) = spis(i);
        let reqid = i + 1;
        k.add_sa(&esp_cbc_sha256(out, LOCAL, PEER, Mode::Tunnel, reqid))?;
        k.add_sa(&esp_cbc_sha256(inb, PEER, LOCAL, Mode::Tunnel, reqid))?;
        k.add_policy(&PolicySpec::esp_tunnel(sel_out, PolicyDir::Outbound, addr(LOCAL), addr(PEER), reqid))?;
        k.add_policy(&PolicySpec::esp_tunnel(sel_in, PolicyDir::Inbound, addr(PEER), addr(LOCAL), reqid))?;
    }
    Ok(())
}

fn migrate(sel: Selector, dir: PolicyDir, reqid: u32, old: Endpoints, new: Endpoints) -> Migrate {
    Migrate {
        selector: sel,
        dir,
        kmaddress: None,
        bundles: vec![MigrateBundle::new(IPPROTO_ESP, Mode::Tunnel, reqid, old, new)],
        natt: None,
    }
}

/// Moves every tunnel from LOCAL to MOVED; returns the number of kernel requests and the time
/// spent in policy requests.
fn move_all(k: &mut dyn Kernel, mech: Mechanism, n: u32) -> Result<(u32, f64), GuestError> {
    let mut requests = 0;
    let mut policy_secs = 0.0;
    for i in 0..n {
        let (sel_out, sel_in) = selectors(i);
        let (out, inb) = spis(i);
        let reqid = i + 1;
        match mech {
            Mechanism::PfkeyMigrate | Mechanism::XfrmMigrate => {
                k.migrate(&migrate(sel_out, PolicyDir::Outbound, reqid, eps(LOCAL, PEER), eps(MOVED, PEER)))?;
                k.migrate(&migrate(sel_in, PolicyDir::Inbound, reqid, eps(PEER, LOCAL), eps(PEER, MOVED)))?;
                requests += 2;
            }
            Mechanism::UpdateAddresses => {
                let u = |spi, src: &str, dst: &str, new_src: Option<&str>, new_dst: Option<&str>| UpdateAddresses {
                    satype: SaType::Esp,
                    spi,
                    src: addr(src),
                    dst: addr(dst),
                    mode: Mode::Tunnel,
                    reqid,
                    new_src: new_src.map(addr),
                    new_dst: new_dst.map(addr),
                    natt: None,
                };
                k.update_addresses(&u(out, LOCAL, PEER, Some(MOVED), None))?;
                k.update_addresses(&u(inb, PEER, LOCAL, None, Some(MOVED)))?;
                requests += 2;
            }
            Mechanism::DeleteReadd => {
                use pfkey::kernel::SaId;
                let id = |spi, src: &str, dst: &str| SaId { satype: SaType::Esp, spi, src: addr(src), dst: addr(dst) };
                k.delete_sa(&id(out, LOCAL, PEER))?;
                k.add_sa(&esp_cbc_sha256(out, MOVED, PEER, Mode::Tunnel, reqid))?;
                k.delete_sa(&id(inb, PEER, LOCAL))?;
                k.add_sa(&esp_cbc_sha256(inb, PEER, MOVED, Mode::Tunnel, reqid))?;
                let t = Instant::now();
                k.update_policy(&PolicySpec::esp_tunnel(sel_out, PolicyDir::Outbound, addr(MOVED), addr(PEER), reqid))?;
                k.update_policy(&PolicySpec::esp_tunnel(sel_in, PolicyDir::Inbound, addr(PEER), addr(MOVED), reqid))?;
                policy_secs += t.elapsed().as_secs_f64();
                requests += 6;
            }
        }
    }
    Ok((requests, policy_secs))
}

/// Every SA must have moved: the outbound ones from MOVED, the inbound ones to MOVED.
fn verify(k: &mut dyn Kernel, n: u32) -> Result<(), String> {
    let sas = k.dump_sas(SaType::Esp).map_err(|e| format!("dump: {e}"))?;
    if sas.len() != 2 * n as usize {
        return Err(format!("{} SAs after the move, want {}", sas.len(), 2 * n));
    }
    let moved = addr(MOVED);
    let stray = sas.iter().filter(|e| e.spec.src != moved && e.spec.dst != moved).count();
    if stray != 0 {
        return Err(format!("{stray} SAs are not at {MOVED}"));
    }
    Ok(())
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// One measurement in this process: moves into a fresh network namespace, installs `n`
/// tunnels with the mechanism's backend, moves them, checks the SAD, and measures.
pub fn run_one(mech: Mechanism, n: u32) -> Result<ScaleRun, String> {
    crate::guest::enter_fresh_netns().map_err(|e| e.to_string())?;
    let mut k: Box<dyn Kernel> = if mech.uses_pfkey() {
        Box::new(AfKey::open().map_err(|e| e.to_string())?)
    } else {
        Box::new(XfrmKernel::open().map_err(|e| e.to_string())?)
    };
    let t = Instant::now();
    install(k.as_mut(), n).map_err(|e| format!("install: {e}"))?;
    let install_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (requests, policy_secs) = move_all(k.as_mut(), mech, n).map_err(|e| format!("move: {e}"))?;
    let move_secs = t.elapsed().as_secs_f64();
    verify(k.as_mut(), n)?;
    Ok(ScaleRun {
        mechanism: mech,
        tunnels: n,
        sas_moved: 2 * n,
        install_secs,
        move_secs,
        requests,
        policy_secs,
        peak_rss_kib: peak_rss_kib(),
    })
}

/// Runs `lab-guest scale-one` (this executable) for one measurement and reads its JSON line.
pub fn spawn_one(exe: &Path, mech: Mechanism, n: u32) -> Result<ScaleRun, String> {
    let out = Command::new(exe)
        .args(["scale-one", "--mechanism", mech.name(), "--tunnels", &n.to_string()])
        .output()
        .map_err(|e| format!("running {}: {e}", exe.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{} with {n} tunnels failed: {}{}",
            mech.name(),
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_str(stdout.trim()).map_err(|e| format!("reading the result of {}: {e}", mech.name()))
}

/// The mechanisms this kernel offers (the per-SA update only where the probe finds it).
pub fn available(caps: &Capabilities) -> Vec<Mechanism> {
    Mechanism::ALL
        .into_iter()
        .filter(|m| *m != Mechanism::UpdateAddresses || caps.update_addresses == Support::Yes)
        .collect()
}

/// The benchmark table: per N and mechanism, SAs/s and its ratio to delete + re-add at the same N;
/// then per mechanism the growth of the move time from the smallest to the largest N (linear is
/// the ratio of the Ns).
pub fn table(runs: &[ScaleRun]) -> String {
    use std::fmt::Write as _;
    let mut s = String::from(
        "| mechanism | tunnels | SAs moved | requests | install s | move s (of which policy requests) | SAs/s | ratio to delete+re-add | peak RSS KiB |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        let base = runs.iter().find(|b| b.mechanism == Mechanism::DeleteReadd && b.tunnels == r.tunnels);
        let ratio = base.map_or_else(|| "-".into(), |b| format!("{:.2}", r.rate() / b.rate()));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.2} | {:.2} ({:.2}) | {:.0} | {ratio} | {} |",
            r.mechanism.name(),
            r.tunnels,
            r.sas_moved,
            r.requests,
            r.install_secs,
            r.move_secs,
            r.policy_secs,
            r.rate(),
            r.peak_rss_kib
        );
    }
    let mut ns: Vec<u32> = runs.iter().map(|r| r.tunnels).collect();
    ns.sort_unstable();
    ns.dedup();
    if let (Some(&lo), Some(&hi)) = (ns.first(), ns.last())
        && lo != hi
    {
        let _ =
            writeln!(s, "\nGrowth of the move time from {lo} to {hi} tunnels (linear: {:.1}):", hi as f64 / lo as f64);
        for m in Mechanism::ALL {
            let t = |n| runs.iter().find(|r| r.mechanism == m && r.tunnels == n).map(|r| r.move_secs);
            if let (Some(a), Some(b)) = (t(lo), t(hi)) {
                let _ = writeln!(s, "- {}: ×{:.1}", m.name(), b / a.max(1e-9));
            }
        }
    }
    s
}

/// The suite's smoke check: every available mechanism moves `n` tunnels and the SAD reads back
/// with every SA at the new address (the benchmark's code path, at a size that takes a second).
pub fn smoke(exe: &Path, caps: &Capabilities, n: u32) -> Check {
    let mut problems = Vec::new();
    let mut runs = Vec::new();
    for m in available(caps) {
        match spawn_one(exe, m, n) {
            Ok(r) => runs.push(r),
            Err(e) => problems.push(e),
        }
    }
    let passed = problems.is_empty() && runs.len() == available(caps).len();
    Check {
        name: format!("scale smoke: every mechanism moves {n} tunnels and every SA reads back moved"),
        passed,
        known_gap: false,
        command: format!("{} scale-one ...", exe.display()),
        status: None,
        detail: if passed {
            runs.iter().map(|r| format!("{} {:.0} SAs/s", r.mechanism.name(), r.rate())).collect::<Vec<_>>().join(", ")
        } else {
            problems.join("; ")
        },
        stdout: table(&runs),
        stderr: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mechanism: Mechanism, tunnels: u32, move_secs: f64) -> ScaleRun {
        ScaleRun {
            mechanism,
            tunnels,
            sas_moved: 2 * tunnels,
            install_secs: 1.0,
            move_secs,
            requests: 2 * tunnels,
            policy_secs: 0.0,
            peak_rss_kib: 4096,
        }
    }

    #[test]
    fn the_table_gives_ratios_to_the_baseline_of_the_same_size_and_the_growth() {
        let runs = [
            run(Mechanism::XfrmMigrate, 1000, 1.0),
            run(Mechanism::DeleteReadd, 1000, 4.0),
            run(Mechanism::XfrmMigrate, 10000, 12.0),
            run(Mechanism::DeleteReadd, 10000, 80.0),
        ];
        let t = table(&runs);
        assert!(t.contains("| xfrm-migrate | 1000 | 2000 | 2000 | 1.00 | 1.00 (0.00) | 2000 | 4.00 | 4096 |"), "{t}");
        assert!(
            t.contains("| xfrm-migrate | 10000 | 20000 | 20000 | 1.00 | 12.00 (0.00) | 1667 | 6.67 | 4096 |"),
            "{t}"
        );
        assert!(
            t.contains("| delete-readd | 10000 | 20000 | 20000 | 1.00 | 80.00 (0.00) | 250 | 1.00 | 4096 |"),
            "{t}"
        );
        assert!(t.contains("(linear: 10.0)"), "{t}");
        assert!(t.contains("- xfrm-migrate: ×12.0") && t.contains("- delete-readd: ×20.0"), "{t}");
    }

    #[test]
    fn the_per_sa_update_is_offered_only_where_the_probe_finds_it() {
        let mut caps = Capabilities::UNKNOWN;
        assert!(!available(&caps).contains(&Mechanism::UpdateAddresses));
        caps.update_addresses = Support::Yes;
        assert_eq!(available(&caps), Mechanism::ALL);
    }

    #[test]
    fn every_tunnel_has_its_own_selectors_and_spis() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000 {
            let (o, n) = selectors(i);
            assert!(seen.insert((o.src, o.dst)) && seen.insert((n.src, n.dst)), "tunnel {i}");
        }
        assert_ne!(spis(0), spis(1));
    }
}

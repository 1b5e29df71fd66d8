//! `pfkey demo`: a mobile host's tunnel moves twice without renegotiation, on the in-memory
//! model, with every PF_KEY message shown and the outcome checked.
//!
//! 1. Set up one ESP tunnel (SAs both ways, out/in/fwd policies) and run traffic on it.
//! 2. Move the mobile host's address with `SADB_X_MIGRATE`, one per policy, with KMADDRESS.
//! 3. Move it again with the per-SA address update (`SADB_UPDATE` + `SADB_X_EXT_NEW_ADDRESS_*`)
//!    for each SA and `SADB_X_SPDUPDATE` for each policy.
//!
//! After each move the checks compare the SAD and SPD with what they were before: same SPIs and
//! keys, counters and replay state preserved, templates rewritten, nothing left on the old
//! address, and the SAs still carry traffic. A failed check makes the demo exit 1.
//!
//! The output is deterministic (fresh model, fixed keys, model clock, seqs from 1), so a
//! snapshot test holds all of it.

use std::collections::BTreeMap;
use std::io::{self, Write};

use pfkey::kernel::model::{ModelError, ReplayState};
use pfkey::kernel::tap::{Tap, TapLog};
use pfkey::kernel::{Kernel, ModelKernel, ModelSocket, PfKeyKernel, SaEntry};
use pfkey::message::{
    AlgKey, Endpoints, Migrate, MigrateBundle, PolicySpec, SaSpec, Selector, SockAddr, UpdateAddresses,
};
use pfkey::wire::numbers::{AuthAlg, EncryptAlg, IPPROTO_ESP, Mode, PolicyDir, SaState, SaType};

use crate::commands::outcome_text;
use crate::error::{CliError, out_err};
use crate::show::{self, Detail};

/// The gateway (does not move).
const GATEWAY: &str = "198.51.100.1";
/// The mobile host's addresses: Wi-Fi, then LTE, then CGNAT.
const WIFI: &str = "192.0.2.10";
const LTE: &str = "203.0.113.7";
const CGNAT: &str = "100.64.0.5";
/// The networks behind the mobile host and the gateway.
const MOBILE_NET: (&str, u8) = ("10.1.0.0", 16);
const GATEWAY_NET: (&str, u8) = ("10.2.0.0", 16);
/// SPIs: outbound (mobile → gateway) and inbound (gateway → mobile).
const SPI_OUT: u32 = 0x0000_1000;
const SPI_IN: u32 = 0x0000_2000;
const REQID: u32 = 1;
/// An inbound sequence number the replay window has seen: it must stay rejected after a move.
const REPLAYED_SEQ: u32 = 60;

fn addr(s: &str) -> SockAddr {
    SockAddr::new(s.parse().expect("the demo's addresses are valid"))
}

/// A fixed key: `len` bytes counting up from `first`.
fn key(first: u8, len: u8) -> Vec<u8> {
    (0..len).map(|i| first.wrapping_add(i)).collect()
}

fn esp_sa(spi: u32, src: &str, dst: &str, key_seed: u8) -> SaSpec {
    SaSpec {
        inner: None,
        satype: SaType::Esp,
        spi,
        src: addr(src),
        dst: addr(dst),
        mode: Mode::Tunnel,
        reqid: REQID,
        replay: 32,
        flags: 0,
        state: SaState::Mature,
        auth: Some(AlgKey::new(AuthAlg::Sha2_256Hmac, &key(key_seed.wrapping_add(0x80), 32))),
        encrypt: Some(AlgKey::new(EncryptAlg::AesCbc, &key(key_seed, 16))),
        hard: None,
        soft: None,
        natt: None,
    }
}

/// The three policies of a tunnel between `mobile` and the gateway.
fn policies(mobile: &str) -> [PolicySpec; 3] {
    let (m, g) = (addr(mobile), addr(GATEWAY));
    let out_sel = Selector::new(addr(MOBILE_NET.0), MOBILE_NET.1, addr(GATEWAY_NET.0), GATEWAY_NET.1);
    let in_sel = Selector::new(addr(GATEWAY_NET.0), GATEWAY_NET.1, addr(MOBILE_NET.0), MOBILE_NET.1);
    [
        PolicySpec::esp_tunnel(out_sel, PolicyDir::Outbound, m, g, REQID),
        PolicySpec::esp_tunnel(in_sel, PolicyDir::Inbound, g, m, REQID),
        PolicySpec::esp_tunnel(in_sel, PolicyDir::Fwd, g, m, REQID),
    ]
}

fn dir_name(d: PolicyDir) -> &'static str {
    match d {
        PolicyDir::Inbound => "in",
        PolicyDir::Outbound => "out",
        PolicyDir::Fwd => "fwd",
        _ => "?",
    }
}

/// The tunnel endpoints of a policy's direction with the mobile host at `mobile`.
fn endpoints(dir: PolicyDir, mobile: &str) -> Endpoints {
    let (m, g) = (addr(mobile), addr(GATEWAY));
    if dir == PolicyDir::Outbound { Endpoints { src: m, dst: g } } else { Endpoints { src: g, dst: m } }
}

/// The SAD and SPD at one moment.
struct View {
    sas: Vec<SaEntry>,
    policies: Vec<PolicySpec>,
    /// Replay state per SPI (the model's; PF_KEY on Linux does not report it).
    replay: BTreeMap<u32, ReplayState>,
}

impl View {
    fn sa(&self, spi: u32) -> Option<&SaEntry> {
        self.sas.iter().find(|e| e.spec.spi == spi)
    }
}

struct Demo<W: Write> {
    out: W,
    model: ModelKernel,
    kernel: PfKeyKernel<Tap<ModelSocket, TapLog>>,
    log: TapLog,
    failed: usize,
}

/// Runs the demo on stdout.
pub(crate) fn run() -> Result<(), CliError> {
    let stdout = io::stdout();
    let mut demo = Demo::new(io::BufWriter::new(stdout.lock()));
    let result = demo.script();
    demo.out.flush().map_err(out_err)?;
    result?;
    match demo.failed {
        0 => Ok(()),
        n => Err(CliError::Checks(n)),
    }
}

impl<W: Write> Demo<W> {
    fn new(out: W) -> Self {
        let model = ModelKernel::new();
        let log = TapLog::new();
        let kernel = PfKeyKernel::new(Tap::new(model.socket(), log.clone()));
        Demo { out, model, kernel, log, failed: 0 }
    }

    fn line(&mut self, s: impl AsRef<str>) -> Result<(), CliError> {
        writeln!(self.out, "{}", s.as_ref()).map_err(out_err)
    }

    fn section(&mut self, title: &str) -> Result<(), CliError> {
        self.line("")?;
        self.line(title)?;
        self.line("=".repeat(title.chars().count()))
    }

    fn subsection(&mut self, title: &str) -> Result<(), CliError> {
        self.line("")?;
        self.line(title)?;
        self.line("-".repeat(title.chars().count()))
    }

    /// Prints the messages exchanged since the last call.
    fn messages(&mut self, detail: Detail) -> Result<(), CliError> {
        for t in self.log.take() {
            write!(self.out, "{}", show::datagram(t.direction, &t.bytes, detail)).map_err(out_err)?;
        }
        Ok(())
    }

    /// Runs one kernel operation: its title, its messages, and its result.
    fn op<T>(
        &mut self,
        title: String,
        f: impl FnOnce(&mut dyn Kernel) -> Result<T, pfkey::kernel::KernelError>,
    ) -> Result<T, CliError> {
        self.line("")?;
        self.line(format!("{title}:"))?;
        let r = f(&mut self.kernel);
        self.messages(Detail::Full)?;
        Ok(r?)
    }

    fn check(&mut self, name: &str, ok: bool, detail: impl AsRef<str>) -> Result<(), CliError> {
        if !ok {
            self.failed += 1;
        }
        self.line(format!("  [{}] {name}: {}", if ok { " ok " } else { "FAIL" }, detail.as_ref()))
    }

    /// Dumps the SAD and SPD (the dump messages shown by their header lines) and prints them.
    fn view(&mut self, title: &str) -> Result<View, CliError> {
        self.subsection(&format!("{title}: SAD (pfkey dump)"))?;
        let sas = self.kernel.dump_sas(SaType::Unspec)?;
        self.messages(Detail::Header)?;
        let replay: BTreeMap<u32, ReplayState> = self.model.sad().iter().map(|x| (x.spi, x.replay)).collect();
        self.line("")?;
        write!(self.out, "{}", pfkey::render::sa_list(sas.iter().map(|e| (&e.spec, e.current.as_ref()))))
            .map_err(out_err)?;
        for (spi, r) in &replay {
            self.line(format!(
                "replay state of spi 0x{spi:08x} (model): oseq={} seq={} bitmap=0x{:08x}",
                r.oseq, r.seq, r.bitmap
            ))?;
        }
        self.subsection(&format!("{title}: SPD (pfkey spddump)"))?;
        let policies = self.kernel.dump_policies()?;
        self.messages(Detail::Header)?;
        self.line("")?;
        write!(self.out, "{}", pfkey::render::policy_list(&policies)).map_err(out_err)?;
        Ok(View { sas, policies, replay })
    }

    fn script(&mut self) -> Result<(), CliError> {
        self.line("pfkey demo: a mobile host's IPsec tunnel changes address twice, without renegotiation")?;
        self.line("")?;
        self.line("Kernel: the in-memory model (Linux af_key semantics; MIGRATE answered by its broadcast as on")?;
        self.line("stock Linux, plus this project's per-SA address update). No root, no kernel support needed.")?;
        self.line("Messages: → sent by the demo's PF_KEY socket (pid 1000), ← received by it; the messages of a")?;
        self.line("dump are shown by their header lines, the entries they carry as `pfkey dump` prints them.")?;

        self.setup()?;
        self.traffic()?;
        self.move_with_migrate()?;
        self.move_with_update()?;

        self.line("")?;
        if self.failed == 0 {
            self.line("All checks passed.")?;
        } else {
            self.line(format!("{} check(s) FAILED.", self.failed))?;
        }
        Ok(())
    }

    fn setup(&mut self) -> Result<(), CliError> {
        self.section(&format!(
            "1. Tunnel: mobile host {WIFI} (Wi-Fi) <-> gateway {GATEWAY}, {}/{} <-> {}/{}",
            MOBILE_NET.0, MOBILE_NET.1, GATEWAY_NET.0, GATEWAY_NET.1
        ))?;
        self.line(format!("ESP tunnel mode, AES-CBC-128 + HMAC-SHA2-256, reqid {REQID}, on the mobile host."))?;
        let out_sa = esp_sa(SPI_OUT, WIFI, GATEWAY, 0x00);
        let in_sa = esp_sa(SPI_IN, GATEWAY, WIFI, 0x10);
        for (what, sa) in [("outbound", out_sa), ("inbound", in_sa)] {
            let title = format!("SADB_ADD {what} SA spi 0x{:08x} {} -> {}", sa.spi, sa.src, sa.dst);
            self.op(title, |k| k.add_sa(&sa))?;
        }
        for p in policies(WIFI) {
            let t = p.templates[0].endpoints.map_or(String::new(), |e| format!("{}-{}", e.src, e.dst));
            let title = format!("SADB_X_SPDADD {} policy, template esp/tunnel/{t}", dir_name(p.dir));
            let id = self.op(title, |k| k.add_policy(&p))?;
            self.line(format!("policy id {id}"))?;
        }
        Ok(())
    }

    fn traffic(&mut self) -> Result<(), CliError> {
        self.section("2. Traffic through the tunnel (the model's data path)")?;
        let sent = self.model.traffic(addr(GATEWAY), SPI_OUT, SaType::Esp, 100, 150_000).map_err(model_err)?;
        self.line(format!(
            "outbound spi 0x{SPI_OUT:08x}: 100 packets, 150000 bytes sent; output sequence number now {}",
            sent.oseq
        ))?;
        let mut last = ReplayState::default();
        let mut count = 0u32;
        // Packets 1..=64 arrive except 63 (lost) and 64 comes before 62 (reordered).
        for seq in (1..=61).chain([64, 62]) {
            last = self.model.receive(addr(WIFI), SPI_IN, SaType::Esp, seq, 1400).map_err(model_err)?;
            count += 1;
        }
        self.line(format!(
            "inbound spi 0x{SPI_IN:08x}: {count} packets received (1-61, 64, 62; 63 lost); highest seq {}, window bitmap 0x{:08x}",
            last.seq, last.bitmap
        ))?;
        let replayed = self.model.receive(addr(WIFI), SPI_IN, SaType::Esp, REPLAYED_SEQ, 1400);
        self.line(format!("a replayed packet with seq {REPLAYED_SEQ}: {}", describe_receive(&replayed)))?;
        Ok(())
    }

    /// Move 1: SADB_X_MIGRATE per policy direction.
    fn move_with_migrate(&mut self) -> Result<(), CliError> {
        self.section(&format!("3. Move Wi-Fi {WIFI} -> LTE {LTE} with SADB_X_MIGRATE (one per policy)"))?;
        self.line("Each MIGRATE names a policy (selector + direction) and its template's old and new endpoints;")?;
        self.line("the kernel rewrites the template and moves the matching SA in one step. KMADDRESS carries")?;
        self.line("the IKE addresses from now on.")?;
        let before = self.view("Before the move")?;
        for p in &policies(WIFI) {
            let (old, new) = (endpoints(p.dir, WIFI), endpoints(p.dir, LTE));
            let m = Migrate {
                selector: p.selector,
                dir: p.dir,
                kmaddress: Some((addr(LTE), addr(GATEWAY))),
                bundles: vec![MigrateBundle::new(IPPROTO_ESP, Mode::Tunnel, REQID, old, new)],
                natt: None,
            };
            let title = format!(
                "SADB_X_MIGRATE {} policy: {}-{} -> {}-{}",
                dir_name(p.dir),
                old.src,
                old.dst,
                new.src,
                new.dst
            );
            let outcome = self.op(title, |k| k.migrate(&m))?;
            self.line(outcome_text(&outcome))?;
        }
        let after = self.view("After MIGRATE")?;
        self.checks("MIGRATE", &before, &after, WIFI, LTE)
    }

    /// Move 2: the per-SA address update for each SA, then SPDUPDATE of each policy.
    fn move_with_update(&mut self) -> Result<(), CliError> {
        self.section(&format!("4. Move LTE {LTE} -> {CGNAT} with the per-SA address update and SPDUPDATE"))?;
        self.line("Each SA moves by itself (SPI, keys, counters and replay state kept); the policies follow with")?;
        self.line("SADB_X_SPDUPDATE. Until the last policy is updated, templates and SAs disagree: a window")?;
        self.line("SADB_X_MIGRATE does not have.")?;
        let before = self.view("Before the move")?;
        for sa in before.sas.iter().map(|e| &e.spec) {
            let outbound = sa.src.ip() == addr(LTE).ip();
            let u = UpdateAddresses {
                satype: sa.satype,
                spi: sa.spi,
                src: sa.src,
                dst: sa.dst,
                mode: sa.mode,
                reqid: sa.reqid,
                new_src: outbound.then(|| addr(CGNAT)),
                new_dst: (!outbound).then(|| addr(CGNAT)),
                natt: None,
            };
            let title = format!(
                "SADB_UPDATE spi 0x{:08x} {} -> {}: new {} {CGNAT}",
                sa.spi,
                sa.src,
                sa.dst,
                if outbound { "source" } else { "destination" }
            );
            let outcome = self.op(title, |k| k.update_addresses(&u))?;
            self.line(outcome_text(&outcome))?;
        }
        for p in policies(CGNAT) {
            let e = endpoints(p.dir, CGNAT);
            let title = format!("SADB_X_SPDUPDATE {} policy, template esp/tunnel/{}-{}", dir_name(p.dir), e.src, e.dst);
            let id = self.op(title, |k| k.update_policy(&p))?;
            self.line(format!("policy id {id}"))?;
        }
        let after = self.view("After the address update")?;
        self.checks("the address update", &before, &after, LTE, CGNAT)
    }

    /// Compares the SAD and SPD before and after a move of the mobile host from `old` to `new`.
    fn checks(&mut self, how: &str, before: &View, after: &View, old: &str, new: &str) -> Result<(), CliError> {
        self.subsection(&format!("Checks after {how}"))?;
        let spis = |v: &View| {
            let mut s = v.sas.iter().map(|e| (e.spec.satype, e.spec.spi)).collect::<Vec<_>>();
            s.sort();
            s
        };
        let (b, a) = (spis(before), spis(after));
        let list = |v: &[(SaType, u32)]| v.iter().map(|(_, s)| format!("0x{s:08x}")).collect::<Vec<_>>().join(", ");
        self.check("same SAs, same SPIs", b == a, format!("before [{}], after [{}]", list(&b), list(&a)))?;

        let mut sas: Vec<&SaEntry> = before.sas.iter().collect();
        sas.sort_by_key(|e| e.spec.spi);
        for e in sas {
            let spi = e.spec.spi;
            let moved = after.sa(spi);
            let keys_same = moved.is_some_and(|m| m.spec.encrypt == e.spec.encrypt && m.spec.auth == e.spec.auth);
            self.check(&format!("spi 0x{spi:08x} keys unchanged"), keys_same, "AES-CBC and HMAC-SHA2-256 keys equal")?;
            let count = |x: Option<&SaEntry>| x.and_then(|x| x.current).map(|c| (c.allocations, c.bytes));
            let (cb, ca) = (count(Some(e)), count(moved));
            self.check(
                &format!("spi 0x{spi:08x} counters preserved"),
                cb.is_some() && cb == ca,
                format!("packets/bytes before {}, after {}", pair(cb), pair(ca)),
            )?;
            let (rb, ra) = (before.replay.get(&spi), after.replay.get(&spi));
            self.check(
                &format!("spi 0x{spi:08x} replay state preserved"),
                rb.is_some() && rb == ra,
                format!("before {}, after {}", replay_text(rb), replay_text(ra)),
            )?;
        }

        let want_out = endpoints(PolicyDir::Outbound, new);
        let want_in = endpoints(PolicyDir::Inbound, new);
        let at = |spi: u32| after.sa(spi).map(|e| Endpoints { src: e.spec.src, dst: e.spec.dst });
        let ends = |e: Option<Endpoints>| e.map_or("missing".into(), |e| format!("{}-{}", e.src, e.dst));
        let (out_at, in_at) = (at(SPI_OUT), at(SPI_IN));
        self.check(
            "SAs at the new address",
            out_at == Some(want_out) && in_at == Some(want_in),
            format!("outbound {}, inbound {}", ends(out_at), ends(in_at)),
        )?;

        let rewritten = after.policies.len() == 3
            && after
                .policies
                .iter()
                .all(|p| p.templates.len() == 1 && p.templates[0].endpoints == Some(endpoints(p.dir, new)));
        let tmpl = after
            .policies
            .iter()
            .map(|p| format!("{} {}", dir_name(p.dir), ends(p.templates.first().and_then(|t| t.endpoints))))
            .collect::<Vec<_>>()
            .join(", ");
        self.check("templates rewritten", rewritten, tmpl)?;

        let ids = |v: &View| v.policies.iter().map(|p| (p.dir, p.id)).collect::<Vec<_>>();
        self.check(
            "policies kept (same ids)",
            ids(before) == ids(after),
            after.policies.iter().map(|p| format!("{} {}", dir_name(p.dir), p.id)).collect::<Vec<_>>().join(", "),
        )?;

        let old_ip = addr(old).ip();
        let sa_left = after.sas.iter().filter(|e| e.spec.src.ip() == old_ip || e.spec.dst.ip() == old_ip).count();
        let tmpl_left = after
            .policies
            .iter()
            .flat_map(|p| &p.templates)
            .filter(|t| t.endpoints.is_some_and(|e| e.src.ip() == old_ip || e.dst.ip() == old_ip))
            .count();
        self.check(
            &format!("nothing left on {old}"),
            sa_left == 0 && tmpl_left == 0,
            format!("{sa_left} SA(s), {tmpl_left} template(s)"),
        )?;

        // The data path: the moved SAs carry traffic, and the replay window came along.
        let replayed = self.model.receive(addr(new), SPI_IN, SaType::Esp, REPLAYED_SEQ, 1400);
        self.check(
            &format!("inbound SA at {new} still rejects replayed seq {REPLAYED_SEQ}"),
            matches!(replayed, Err(ModelError::Replay { .. })),
            describe_receive(&replayed),
        )?;
        let next_in = after.replay.get(&SPI_IN).map_or(1, |r| r.seq + 1);
        let received = self.model.receive(addr(new), SPI_IN, SaType::Esp, next_in, 1400);
        self.check(
            &format!("inbound SA at {new} accepts the next seq {next_in}"),
            received.is_ok(),
            describe_receive(&received),
        )?;
        let oseq_before = after.replay.get(&SPI_OUT).map_or(0, |r| r.oseq);
        let sent = self.model.traffic(addr(GATEWAY), SPI_OUT, SaType::Esp, 10, 15_000);
        let oseq = sent.as_ref().map(|r| r.oseq).ok();
        self.check(
            "outbound SA sends on, its sequence numbers continue",
            oseq == Some(oseq_before + 10),
            match &sent {
                Ok(r) => format!("10 more packets: output sequence number {oseq_before} -> {}", r.oseq),
                Err(e) => e.to_string(),
            },
        )
    }
}

fn pair(v: Option<(u32, u64)>) -> String {
    v.map_or("none".into(), |(p, b)| format!("{p}/{b}"))
}

fn replay_text(r: Option<&ReplayState>) -> String {
    r.map_or("none".into(), |r| format!("oseq={} seq={} bitmap=0x{:08x}", r.oseq, r.seq, r.bitmap))
}

fn describe_receive(r: &Result<ReplayState, ModelError>) -> String {
    match r {
        Ok(s) => format!("accepted (highest seq {}, bitmap 0x{:08x})", s.seq, s.bitmap),
        Err(e) => format!("dropped: {e}"),
    }
}

fn model_err(e: ModelError) -> CliError {
    CliError::Runtime(format!("the model's data path: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_passes_its_checks() {
        let mut demo = Demo::new(Vec::new());
        demo.script().unwrap();
        let text = String::from_utf8(demo.out).unwrap();
        assert_eq!(demo.failed, 0, "{text}");
        assert!(text.contains("All checks passed."));
        assert!(!text.contains("FAIL"), "{text}");
    }

    #[test]
    fn a_failed_comparison_is_counted_and_shown() {
        let mut demo = Demo::new(Vec::new());
        demo.check("something", false, "differs").unwrap();
        assert_eq!(demo.failed, 1);
        assert_eq!(String::from_utf8(demo.out).unwrap(), "  [FAIL] something: differs\n");
    }
}

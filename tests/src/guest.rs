//! What runs inside the VM: the af_key checks ([`run_suite`]) and the capture of real kernel
//! messages as vectors ([`capture`]). Both move into a fresh network namespace first, so they
//! start from an empty SAD and SPD.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pfkey::kernel::{AfKey, Capabilities, Kernel as _, Support};
use pfkey::message::{
    self, AlgKey, Endpoints, Lifetime, Message, Migrate, MigrateBundle, PolicySpec, SaSpec, Selector, SockAddr,
    UpdateAddresses,
};
use pfkey::socket::PfKeySocket;
use pfkey::wire::Dialect;
use pfkey::wire::numbers::{AuthAlg, EncryptAlg, IPPROTO_ESP, MessageType, Mode, PolicyDir, SaState, SaType};
use serde::Serialize;

use crate::vectors::{self, Vector};

/// A failure that stops a guest program (a failed check is a result, not an error).
#[derive(Debug, thiserror::Error)]
pub enum GuestError {
    /// Moving into a fresh network namespace failed.
    #[error("unshare(CLONE_NEWNET): {0}")]
    Unshare(std::io::Error),
    /// PF_KEY could not be opened or used.
    #[error("PF_KEY: {0}")]
    Kernel(#[from] pfkey::kernel::KernelError),
    /// A request could not be encoded.
    #[error("encoding a request: {0}")]
    Emit(#[from] pfkey::message::EmitError),
    /// Running a helper (`ip`, a test binary) or writing results failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> GuestError {
    let what = what.into();
    move |source| GuestError::Io { what, source }
}

/// Moves this process (it must have one thread) into a new, empty network namespace with `lo` up.
pub fn enter_fresh_netns() -> Result<(), GuestError> {
    // SAFETY: unshare takes no pointers; called before any thread is started.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(GuestError::Unshare(std::io::Error::last_os_error()));
    }
    ip(&["link", "set", "lo", "up"])
}

/// Runs `ip ARGS`, failing on a non-zero exit.
pub fn ip(args: &[&str]) -> Result<(), GuestError> {
    let out = Command::new("ip").args(args).output().map_err(io_err("running ip"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(GuestError::Io {
            what: format!("ip {}", args.join(" ")),
            source: std::io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        })
    }
}

fn addr(s: &str) -> SockAddr {
    SockAddr::new(s.parse().expect("a literal address"))
}

const AES_KEY: [u8; 16] = [0x11; 16];
const HMAC_KEY: [u8; 32] = [0x22; 32];

/// An ESP SA with AES-CBC-128 and HMAC-SHA256 (the pair stock af_key supports).
pub fn esp_cbc_sha256(spi: u32, src: &str, dst: &str, mode: Mode, reqid: u32) -> SaSpec {
    SaSpec {
        inner: None,
        satype: SaType::Esp,
        spi,
        src: addr(src),
        dst: addr(dst),
        mode,
        reqid,
        replay: 32,
        flags: 0,
        state: SaState::Mature,
        auth: Some(AlgKey::new(AuthAlg::Sha2_256Hmac, &HMAC_KEY)),
        encrypt: Some(AlgKey::new(EncryptAlg::AesCbc, &AES_KEY)),
        hard: None,
        soft: None,
        natt: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Capture

/// Where a captured message came from: `echo` says whether it is the promiscuous echo of the
/// request in flight (the first copy of its bytes; later identical copies are the kernel's answers,
/// as FLUSH answers with the request's own header).
fn origin(bytes: &[u8], echo: bool, lab_pid: u32) -> &'static str {
    if echo {
        return "request (the lab's, echoed to the promiscuous socket)";
    }
    let pid = bytes.get(12..16).map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    match pid {
        0 => "kernel-originated (pid 0)",
        p if p == lab_pid => "kernel answer to the lab's socket",
        _ => "kernel answer to another socket",
    }
}

/// A one-line summary of a message's header (and errno name) for vector comments.
fn summary(bytes: &[u8]) -> String {
    let h = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let u32_at = |i: usize| bytes.get(i..i + 4).map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    let ty = MessageType::from(h(1));
    let mut s = format!(
        "{} satype={} seq={} pid={} len={}",
        ty.name().unwrap_or("SADB_?"),
        SaType::from(h(3)).name().unwrap_or("?"),
        u32_at(8),
        u32_at(12),
        bytes.len()
    );
    if h(2) != 0 {
        let _ = write!(s, " errno={}", pfkey::wire::numbers::errno_name(h(2)).unwrap_or("?"));
        let _ = write!(s, "({})", h(2));
    }
    let reserved = u16::from_ne_bytes([h(6), h(7)]);
    if reserved != 0 {
        let _ = write!(s, " reserved={reserved}");
    }
    s
}

/// The capture session: a requesting socket (REGISTERed for ESP, so ACQUIREs and EXPIREs come to
/// it too) and a promiscuous monitor socket that records every message the kernel sends.
struct Capture {
    actor: PfKeySocket,
    monitor: PfKeySocket,
    seq: u32,
    pid: u32,
    /// The request in flight, whose first copy on the monitor is its promiscuous echo.
    in_flight: Option<Vec<u8>>,
    /// Vectors by file name.
    files: BTreeMap<String, Vec<Vector>>,
    /// A readable transcript (rendered messages), for the report.
    transcript: String,
}

/// How long a socket must stay quiet before a step's messages are taken as complete.
const QUIET: Duration = Duration::from_millis(250);

impl Capture {
    fn open() -> Result<Capture, GuestError> {
        let actor = PfKeySocket::open()?;
        let monitor = PfKeySocket::open()?;
        let pid = pfkey::kernel::Channel::pid(&actor);
        Ok(Capture { actor, monitor, seq: 0, pid, in_flight: None, files: BTreeMap::new(), transcript: String::new() })
    }

    /// Reads everything `sock` receives until it is quiet for `quiet` (at most `limit`).
    fn drain(sock: &PfKeySocket, quiet: Duration, limit: Duration) -> Result<Vec<Vec<u8>>, GuestError> {
        let mut out = Vec::new();
        let end = Instant::now() + limit;
        let mut buf = Vec::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() || !sock.recv_message(&mut buf, Some(quiet.min(left)))? {
                return Ok(out);
            }
            out.push(buf.clone());
        }
    }

    /// Records what the monitor received since the last step under `file`/`step`; returns the
    /// messages the actor received (drained first, so dumps run to their end).
    fn settle(&mut self, file: &str, step: &str, wait: Duration) -> Result<Vec<Vec<u8>>, GuestError> {
        let actor_msgs = Capture::drain(&self.actor, QUIET.max(wait.min(QUIET)), wait.max(QUIET) + QUIET)?;
        let monitor_msgs = Capture::drain(&self.monitor, QUIET, Duration::from_secs(2))?;
        let _ = writeln!(self.transcript, "=== {file}: {step}");
        for (i, m) in actor_msgs.iter().enumerate() {
            let _ = writeln!(self.transcript, "  actor <- [{i}] {}", summary(m));
        }
        let mut copies: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
        let mut echo = self.in_flight.take();
        for m in monitor_msgs {
            let n = copies.entry(m.clone()).or_insert(0);
            *n += 1;
            let is_echo = echo.as_ref() == Some(&m);
            if is_echo {
                echo = None;
            }
            let origin = origin(&m, is_echo, self.pid);
            let copy = if *n > 1 { format!(" (copy {n})") } else { String::new() };
            let comment = format!("{step}: {origin}: {}{copy}", summary(&m));
            let _ = writeln!(self.transcript, "  monitor <- {comment}");
            match Message::parse(&m, Dialect::Linux) {
                Ok(msg) => {
                    for line in pfkey::render::message(&msg, Dialect::Linux).lines() {
                        let _ = writeln!(self.transcript, "      {line}");
                    }
                }
                Err(e) => {
                    let _ = writeln!(self.transcript, "      (does not parse: {e})");
                }
            }
            self.files.entry(file.to_string()).or_default().push(Vector { comment, bytes: m });
        }
        Ok(actor_msgs)
    }

    /// Sends `msg` from the actor with `seq`, outside the capture's numbering (so the seqs of
    /// the steps after it are the same on every kernel), and records the exchange.
    fn request_aside(&mut self, file: &str, step: &str, mut msg: Message<'static>, seq: u32) -> Result<(), GuestError> {
        msg.header.seq = seq;
        msg.header.pid = self.pid;
        let bytes = msg.to_bytes(Dialect::Linux)?;
        self.in_flight = Some(bytes.clone());
        tracing::info!(file, step, seq, "capture step (aside)");
        if let Err(e) = self.actor.send_message(&bytes) {
            let _ = writeln!(self.transcript, "=== {file}: {step}: send failed: {e}");
        }
        self.settle(file, step, QUIET).map(drop)
    }

    /// Sends `msg` from the actor with the next seq and records the exchange.
    fn request(&mut self, file: &str, step: &str, mut msg: Message<'static>) -> Result<Vec<Vec<u8>>, GuestError> {
        self.seq += 1;
        msg.header.seq = self.seq;
        msg.header.pid = self.pid;
        let bytes = msg.to_bytes(Dialect::Linux)?;
        self.in_flight = Some(bytes.clone());
        tracing::info!(file, step, seq = self.seq, "capture step");
        if let Err(e) = self.actor.send_message(&bytes) {
            let _ = writeln!(self.transcript, "=== {file}: {step}: send failed: {e}");
        }
        self.settle(file, step, QUIET)
    }

    fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, GuestError> {
        std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
        let mut written = Vec::new();
        for (file, vs) in &self.files {
            let path = dir.join(format!("{file}.hex"));
            let header = format!(
                "Real Linux af_key messages ({}), captured in the kernel lab on a promiscuous PF_KEY socket\n\
                 by `lab-guest capture` (tests/src/guest.rs). One message per hex line, the comment above it\n\
                 names the step, who the message came from, and its header. Regenerate: make vm-vectors.",
                kernel_release()
            );
            std::fs::write(&path, vectors::render(&header, vs))
                .map_err(io_err(format!("writing {}", path.display())))?;
            written.push(path);
        }
        let t = dir.join("transcript.txt");
        std::fs::write(&t, &self.transcript).map_err(io_err(format!("writing {}", t.display())))?;
        Ok(written)
    }
}

/// The running kernel's release (`uname -r`).
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").map_or_else(|_| "unknown kernel".into(), |s| s.trim().into())
}

/// Runs the scripted sequence and writes `<out>/<group>.hex` plus `transcript.txt`.
pub fn capture(out: &Path) -> Result<Vec<PathBuf>, GuestError> {
    enter_fresh_netns()?;
    // A local address for the tunnel source and a route into the ACQUIRE test's remote network.
    ip(&["link", "add", "dummy0", "type", "dummy"])?;
    ip(&["addr", "add", "192.0.2.10/24", "dev", "dummy0"])?;
    ip(&["link", "set", "dummy0", "up"])?;
    ip(&["route", "add", "10.9.0.0/16", "dev", "dummy0"])?;

    let mut c = Capture::open()?;
    // The monitor turns promiscuous mode on itself (its answer is recorded under "promisc"; it was
    // not promiscuous yet when it sent the request, so there is no echo).
    let promisc = message::promisc(true).with_seq(1).with_pid(c.pid);
    let bytes = promisc.to_bytes(Dialect::Linux)?;
    c.monitor.send_message(&bytes)?;
    let _ = Capture::drain(&c.actor, QUIET, Duration::from_secs(1))?;
    c.settle("promisc", "X_PROMISC on (monitor)", QUIET)?;

    let (local, peer, moved) = ("192.0.2.10", "198.51.100.1", "203.0.113.7");
    c.request("register", "REGISTER esp", message::register(SaType::Esp))?;
    c.request("register", "REGISTER ah", message::register(SaType::Ah))?;

    // GETSPI then UPDATE of the larval SA.
    let replies = c.request(
        "getspi",
        "GETSPI esp 0x100..=0x1ff",
        message::getspi(SaType::Esp, addr(peer), addr(local), (0x100, 0x1ff), Mode::Tunnel, 5),
    )?;
    let spi = replies
        .iter()
        .filter_map(|b| Message::parse(b, Dialect::Linux).ok())
        .find(|m| m.msg_type() == MessageType::GetSpi && m.errno() == 0)
        .and_then(|m| m.sa())
        .map_or(0x100, |sa| sa.spi);
    c.request(
        "getspi",
        "UPDATE of the larval SA",
        message::update(&esp_cbc_sha256(spi, peer, local, Mode::Tunnel, 5)),
    )?;
    c.request(
        "getspi",
        "GETSPI esp single SPI 0x4242",
        message::getspi(SaType::Esp, addr(peer), addr(local), (0x4242, 0x4242), Mode::Tunnel, 6),
    )?;

    // ADD, GET, DUMP, UPDATE of a mature SA.
    let sa = esp_cbc_sha256(0x1000, local, peer, Mode::Tunnel, 1);
    c.request("sa", "ADD esp 0x1000 aes-cbc hmac-sha256 tunnel reqid 1", message::add(&sa))?;
    let mut beet = esp_cbc_sha256(0x1001, local, peer, Mode::Beet, 2);
    beet.hard = Some(Lifetime { allocations: 0, bytes: 1 << 30, addtime: 3600, usetime: 0 });
    beet.soft = Some(Lifetime { allocations: 0, bytes: 1 << 29, addtime: 3000, usetime: 0 });
    c.request("sa", "ADD esp 0x1001 beet with lifetimes", message::add(&beet))?;
    c.request("sa", "GET esp 0x1000", message::get(SaType::Esp, 0x1000, addr(local), addr(peer)))?;
    c.request("sa", "DUMP esp", message::dump(SaType::Esp))?;
    let mut upd = sa.clone();
    upd.hard = Some(Lifetime { allocations: 0, bytes: 0, addtime: 7200, usetime: 0 });
    c.request("sa", "UPDATE of the mature SA 0x1000 (new hard lifetime)", message::update(&upd))?;

    // Error replies.
    c.request("errors", "ADD of an existing SA (EEXIST)", message::add(&sa))?;
    c.request("errors", "GET of a missing SA (ESRCH)", message::get(SaType::Esp, 0xdead, addr(local), addr(peer)))?;
    c.request(
        "errors",
        "DELETE of a missing SA (ESRCH)",
        message::delete(SaType::Esp, 0xdead, addr(local), addr(peer)),
    )?;
    let gcm = SaSpec::esp_tunnel_gcm(0x2000, addr(local), addr(peer), 3, &[0x33; 20]);
    let answers = c.request("errors", "ADD esp aes-gcm-16 (AEAD through PF_KEY)", message::add(&gcm))?;
    // Where AEAD is accepted (the series' 0007), take the SA away again, so that the steps after
    // this one see the same SAD on every kernel.
    let added = answers.iter().any(|b| {
        Message::parse(b, Dialect::Linux).is_ok_and(|m| {
            m.msg_type() == MessageType::Add && m.errno() == 0 && m.sa().is_some_and(|sa| sa.spi == 0x2000)
        })
    });
    if added {
        c.request_aside(
            "errors",
            "DELETE the AEAD SA again (where AEAD was accepted)",
            message::delete(SaType::Esp, 0x2000, addr(local), addr(peer)),
            0xaead,
        )?;
    }
    c.request(
        "errors",
        "UPDATE with NEW_ADDRESS_SRC (the per-SA address update)",
        UpdateAddresses {
            satype: SaType::Esp,
            spi: 0x1000,
            src: addr(local),
            dst: addr(peer),
            mode: Mode::Tunnel,
            reqid: 1,
            new_src: Some(addr(moved)),
            new_dst: None,
            natt: None,
        }
        .message(),
    )?;
    // Linux reads the direction from the id's low 3 bits (xfrm_policy_id2dir): 0x7779 is an
    // outbound id that does not exist, 0x7777 an invalid direction.
    c.request(
        "errors",
        "SPDGET of a missing outbound policy id 0x7779 (ENOENT)",
        message::spdget(0x7779, PolicyDir::Outbound),
    )?;
    c.request(
        "errors",
        "SPDGET of id 0x7777, direction bits 7 (EINVAL)",
        message::spdget(0x7777, PolicyDir::Outbound),
    )?;

    // SPD.
    let sel = Selector::new(addr("10.1.0.0"), 16, addr("10.2.0.0"), 16);
    let out_pol = PolicySpec::esp_tunnel(sel, PolicyDir::Outbound, addr(local), addr(peer), 1);
    let replies = c.request("spd", "SPDADD out 10.1/16->10.2/16 tunnel reqid 1", message::spdadd(&out_pol))?;
    let out_id = replies
        .iter()
        .filter_map(|b| Message::parse(b, Dialect::Linux).ok())
        .find(|m| m.msg_type() == MessageType::XSpdAdd && m.errno() == 0)
        .and_then(|m| m.policy().map(|p| p.id))
        .unwrap_or(0);
    let in_sel = Selector::new(addr("10.2.0.0"), 16, addr("10.1.0.0"), 16);
    let in_pol = PolicySpec::esp_tunnel(in_sel, PolicyDir::Inbound, addr(peer), addr(local), 1);
    c.request("spd", "SPDADD in 10.2/16->10.1/16 tunnel reqid 1", message::spdadd(&in_pol))?;
    c.request("spd", "SPDADD of an existing policy (EEXIST)", message::spdadd(&out_pol))?;
    c.request("spd", "SPDUPDATE out (same policy)", message::spdupdate(&out_pol))?;
    c.request("spd", "SPDGET out by id", message::spdget(out_id, PolicyDir::Outbound))?;
    c.request("spd", "SPDDUMP", message::spddump())?;

    // MIGRATE: the outbound policy and SA 0x1000 move from local to moved.
    let mig = Migrate {
        selector: sel,
        dir: PolicyDir::Outbound,
        kmaddress: Some((addr(moved), addr(peer))),
        bundles: vec![MigrateBundle::new(
            IPPROTO_ESP,
            Mode::Tunnel,
            1,
            Endpoints { src: addr(local), dst: addr(peer) },
            Endpoints { src: addr(moved), dst: addr(peer) },
        )],
        natt: None,
    };
    c.request("migrate", "MIGRATE out 192.0.2.10->203.0.113.7 with KMADDRESS", mig.message())?;
    c.request("migrate", "DUMP esp after the MIGRATE", message::dump(SaType::Esp))?;
    c.request("migrate", "SPDDUMP after the MIGRATE", message::spddump())?;
    let mut bad = mig.clone();
    bad.selector = Selector::new(addr("10.77.0.0"), 16, addr("10.78.0.0"), 16);
    c.request("migrate", "MIGRATE of a policy that does not exist", bad.message())?;
    c.request("migrate", "SPDDELETE in by selector", message::spddelete(&in_sel, PolicyDir::Inbound))?;

    // ACQUIRE: an outbound policy with no SA, and a packet that matches it.
    let acq_sel = Selector::new(addr(local), 32, addr("10.9.0.0"), 16);
    let acq_pol = PolicySpec::esp_tunnel(acq_sel, PolicyDir::Outbound, addr(local), addr(peer), 9);
    c.request("acquire", "SPDADD out 192.0.2.10->10.9/16 tunnel reqid 9 (no SA)", message::spdadd(&acq_pol))?;
    let sock = std::net::UdpSocket::bind("192.0.2.10:0").map_err(io_err("binding a UDP socket"))?;
    let sent = sock.send_to(b"lab acquire", "10.9.0.1:9");
    let _ = writeln!(c.transcript, "=== acquire: UDP send to 10.9.0.1:9: {sent:?}");
    c.settle("acquire", "ACQUIRE after a UDP packet to 10.9.0.1", Duration::from_secs(2))?;

    // EXPIRE: soft after 1 s, hard after 2 s.
    let mut short = esp_cbc_sha256(0x3000, local, peer, Mode::Tunnel, 4);
    short.soft = Some(Lifetime { allocations: 0, bytes: 0, addtime: 1, usetime: 0 });
    short.hard = Some(Lifetime { allocations: 0, bytes: 0, addtime: 2, usetime: 0 });
    c.request("expire", "ADD esp 0x3000 soft 1 s, hard 2 s", message::add(&short))?;
    std::thread::sleep(Duration::from_millis(3500));
    c.settle("expire", "EXPIRE soft and hard", QUIET)?;

    // DELETE, FLUSH, dumps of empty databases.
    c.request("flush", "DELETE esp 0x1001", message::delete(SaType::Esp, 0x1001, addr(local), addr(peer)))?;
    c.request("flush", "FLUSH all", message::flush(SaType::Unspec))?;
    c.request("flush", "SPDFLUSH", message::spdflush())?;
    c.request("flush", "DUMP of an empty SAD (ENOENT)", message::dump(SaType::Unspec))?;
    c.request("flush", "SPDDUMP of an empty SPD (ENOENT)", message::spddump())?;
    c.write(out)
}

// ---------------------------------------------------------------------------------------------
// The af_key suite

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What it proves.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// Whether a failure is a known gap of the stock kernel (reported, not hidden).
    pub known_gap: bool,
    /// The command run.
    pub command: String,
    /// Its exit status.
    pub status: Option<i32>,
    /// Why it failed, or what it saw.
    pub detail: String,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error (the CLI's `--trace` rendering of every message goes here).
    pub stderr: String,
}

/// The line `socket_pfkey.rs` prints when it took the real-PF_KEY branch in a fresh namespace.
pub const REAL_BRANCH_MARK: &str =
    "PF_KEY present: FLUSH/DUMP/REGISTER/SPDADD round trips checked in a fresh network namespace";

fn run_check(
    name: &str,
    program: &Path,
    args: &[&str],
    want_status: i32,
    want_out: &[&str],
    known_gap: bool,
) -> Result<Check, GuestError> {
    let out = Command::new(program)
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .map_err(io_err(format!("running {}", program.display())))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let status = out.status.code();
    let mut problems = Vec::new();
    if status != Some(want_status) {
        problems.push(format!("exit status {status:?}, want {want_status}"));
    }
    for w in want_out {
        if !stdout.contains(w) && !stderr.contains(w) {
            problems.push(format!("output lacks {w:?}"));
        }
    }
    let check = Check {
        name: name.to_string(),
        passed: problems.is_empty(),
        known_gap,
        command: format!("{} {}", program.display(), args.join(" ")),
        status,
        detail: problems.join("; "),
        stdout,
        stderr,
    };
    tracing::info!(name, passed = check.passed, detail = %check.detail, "check");
    Ok(check)
}

/// One CLI invocation of the suite: name, arguments, exit status, text the output must contain,
/// and whether a failure is a known gap of the stock kernel.
type CliStep<'a> = (&'a str, Vec<String>, i32, Vec<&'a str>, bool);

/// What `xfrm_host.rs` prints for a part it could not run (no ESP on the host kernel); in the VM
/// nothing may be skipped.
pub const XFRM_SKIP_MARK: &str = "SKIPPED xfrm_host::";

/// Runs `xfrm_host` (the XFRM backend, each test in its own namespace) on this kernel, which has
/// ESP: it must pass with no part skipped.
fn run_xfrm_host(xfrm_test: &Path) -> Result<Check, GuestError> {
    let mut check = run_check(
        "xfrm_host passes with its ESP SA parts run (XFRM backend)",
        xfrm_test,
        &["--nocapture", "--test-threads=1"],
        0,
        &["test result: ok"],
        false,
    )?;
    let skipped: Vec<&str> =
        check.stdout.lines().chain(check.stderr.lines()).filter(|l| l.contains(XFRM_SKIP_MARK)).collect();
    if !skipped.is_empty() {
        check.passed = false;
        let more = skipped.join("; ");
        check.detail = if check.detail.is_empty() { more } else { format!("{}; {more}", check.detail) };
    }
    Ok(check)
}

/// Which kernel the suite runs on, as the host that booted it knows: what it expects the probe
/// to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Expect {
    /// Debian's 6.12 without this project's series: no extension.
    Stock,
    /// With `kernel-patch/series`: every mobility extension.
    Patched,
}

/// Probes the running kernel's PF_KEY mobility extensions ([`pfkey::kernel::Kernel::capabilities`])
/// and checks them against what the booted kernel must have: the probe decides the suite's
/// expectations, and this check keeps the probe honest.
fn probe_check(expect: Expect) -> Result<(Check, Capabilities), GuestError> {
    let mut k = AfKey::open()?;
    let caps = k.capabilities()?;
    let want = match expect {
        Expect::Stock => Support::No,
        Expect::Patched => Support::Yes,
    };
    // Movable inbound SAs (issue 7), probed over PF_KEY and over XFRM: both must agree.
    let xfrm_movable = pfkey::kernel::XfrmKernel::open()?.movable_inbound()?;
    let ok = caps.update_addresses == want
        && caps.migrate_natt == want
        && caps.aead == want
        && caps.movable_inbound == want
        && xfrm_movable == want;
    let check = Check {
        name: format!(
            "probe finds the mobility extensions {}",
            if want == Support::Yes { "present" } else { "absent" }
        ),
        passed: ok,
        known_gap: false,
        command: "Kernel::capabilities() on AF_KEY".into(),
        status: None,
        detail: format!(
            "{caps:?}; XFRM movable_inbound {xfrm_movable:?}; inbound continuity {:?} (guarantee holds: {})",
            caps.inbound_continuity(),
            caps.inbound_continuity().guarantee_holds()
        ),
        stdout: String::new(),
        stderr: String::new(),
    };
    Ok((check, caps))
}

/// What the selftest prints last: `# Totals: pass:N fail:N xfail:N xpass:N skip:N error:N`.
fn selftest_totals(out: &str) -> Option<(u32, u32)> {
    let line = out.lines().rev().find(|l| l.starts_with("# Totals:"))?;
    let field = |k: &str| -> Option<u32> {
        let rest = &line[line.find(&format!(" {k}:"))? + k.len() + 2..];
        rest.split_whitespace().next()?.parse().ok()
    };
    Some((field("pass")?, field("fail")?))
}

/// One of the series' kselftests (`tools/testing/selftests/net/pfkey_mobility` or `pfkey_beet`,
/// built with the patched kernel). With the extensions it tests it must pass; without them
/// (stock) it is the negative control: it must fail, which shows its checks can fail.
fn run_selftest(selftest: &Path, caps: &Capabilities) -> Result<Check, GuestError> {
    let test = selftest.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let present = if test == "pfkey_beet" {
        caps.beet_inner == Support::Yes
    } else {
        caps.update_addresses == Support::Yes && caps.migrate_natt == Support::Yes
    };
    let name = if present {
        format!("kselftest {test} passes (the series' selftest)")
    } else {
        format!("kselftest {test} fails without the series (negative control)")
    };
    let mut check = run_check(&name, selftest, &[], if present { 0 } else { 1 }, &["# Totals:"], false)?;
    match selftest_totals(&check.stdout) {
        Some((pass, fail)) => {
            let numbers = format!("pass {pass}, fail {fail}");
            let ok = if present { fail == 0 && pass > 0 } else { fail > 0 };
            if !ok {
                check.passed = false;
            }
            check.detail = if check.detail.is_empty() { numbers } else { format!("{}; {numbers}", check.detail) };
        }
        None => check.passed = false,
    }
    Ok(check)
}

/// Runs the af_key checks: the capability probe against what the booted kernel must have, the
/// series' selftest when given, `socket_pfkey` (which must take its real-PF_KEY branch), the
/// XFRM backend's `xfrm_host` tests when given, the `pfkey` CLI over the real socket in a fresh
/// network namespace, and the failing-MIGRATE checks ([`crate::failmig`], in another fresh
/// namespace). A check that only the series makes pass is a known gap where the probe finds the
/// extensions absent, and an ordinary check where it finds them.
pub fn run_suite(
    expect: Expect,
    selftests: &[PathBuf],
    socket_test: &Path,
    xfrm_test: Option<&Path>,
    cli: &Path,
) -> Result<Vec<Check>, GuestError> {
    let mut checks = Vec::new();
    let (probe, caps) = probe_check(expect)?;
    checks.push(probe);
    for t in selftests {
        checks.push(run_selftest(t, &caps)?);
    }
    let without_update = caps.update_addresses != Support::Yes;
    let without_aead = caps.aead != Support::Yes;
    let migrate_note = if caps.migrate_natt == Support::Yes {
        "acknowledged by a reply to this socket"
    } else {
        "success seen in the kernel's seq-0 broadcast"
    };
    if let Some(x) = xfrm_test {
        checks.push(run_xfrm_host(x)?);
    }
    checks.push(run_check(
        "socket_pfkey takes the real PF_KEY branch and passes",
        socket_test,
        &["--nocapture", "--test-threads=1"],
        0,
        &[REAL_BRANCH_MARK, "test result: ok"],
        false,
    )?);
    enter_fresh_netns()?;
    let aes = format!("aes-cbc:{}", pfkey::message::hex::encode(&AES_KEY));
    let sha = format!("hmac-sha256:{}", pfkey::message::hex::encode(&HMAC_KEY));
    let gcm = format!("aes-gcm-16:{}", pfkey::message::hex::encode(&[0x33; 20]));
    let sa_id = ["--spi", "0x1000", "--src", "192.0.2.10", "--dst", "198.51.100.1"];
    let moved_id = ["--spi", "0x1000", "--src", "203.0.113.7", "--dst", "198.51.100.1"];
    let sel = ["--src", "10.1.0.0/16", "--dst", "10.2.0.0/16", "--dir", "out"];
    let cat =
        |parts: &[&[&str]]| -> Vec<String> { parts.iter().flat_map(|p| p.iter().map(|s| s.to_string())).collect() };
    // (name, args, status, output must contain, known gap)
    let steps: Vec<CliStep> = vec![
        ("flush of an empty SAD", cat(&[&["flush"]]), 0, vec![], false),
        ("dump of an empty SAD", cat(&[&["dump"]]), 0, vec![], false),
        (
            "add an ESP tunnel SA",
            cat(&[&["add", "esp"], &sa_id, &["--mode", "tunnel", "--reqid", "1", "--enc", &aes, "--auth", &sha]]),
            0,
            vec![],
            false,
        ),
        ("get shows it with its keys", cat(&[&["get", "esp"], &sa_id]), 0, vec!["192.0.2.10", "1111111111"], false),
        ("dump lists it", cat(&[&["dump"]]), 0, vec!["192.0.2.10", "198.51.100.1"], false),
        (
            "add of the same SA is EEXIST",
            cat(&[&["add", "esp"], &sa_id, &["--enc", &aes, "--auth", &sha]]),
            1,
            vec!["EEXIST"],
            false,
        ),
        (
            "spdadd an outbound tunnel policy",
            cat(&[&["spdadd"], &sel, &["--tunnel", "192.0.2.10-198.51.100.1", "--reqid", "1"]]),
            0,
            vec![],
            false,
        ),
        ("spddump lists it", cat(&[&["spddump"]]), 0, vec!["10.1.0.0/16", "192.0.2.10"], false),
        (
            "migrate moves policy and SA (answered to the requester with the series, else seen in the broadcast)",
            cat(&[
                &["migrate"],
                &sel,
                &["--old", "192.0.2.10-198.51.100.1", "--new", "203.0.113.7-198.51.100.1", "--reqid", "1"],
            ]),
            0,
            vec![migrate_note],
            false,
        ),
        ("dump shows the SA at the new address", cat(&[&["dump"]]), 0, vec!["203.0.113.7"], false),
        ("spddump shows the template at the new address", cat(&[&["spddump"]]), 0, vec!["203.0.113.7"], false),
        (
            "update-addresses moves one SA (SADB_X_EXT_NEW_ADDRESS_SRC)",
            cat(&[&["update-addresses"], &moved_id, &["--new-src", "100.64.0.5"]]),
            0,
            vec![],
            without_update,
        ),
        ("dump shows the SA at its updated address", cat(&[&["dump"]]), 0, vec!["100.64.0.5"], without_update),
        (
            "add an AES-GCM SA (AEAD)",
            cat(&[&["add", "esp", "--spi", "0x2000", "--src", "192.0.2.10", "--dst", "198.51.100.1", "--enc", &gcm]]),
            0,
            vec![],
            without_aead,
        ),
        ("delete the moved SA", cat(&[&["delete", "esp"], &moved_id]), 0, vec![], false),
        ("delete it again is ESRCH", cat(&[&["delete", "esp"], &moved_id]), 1, vec!["ESRCH"], false),
        ("spddelete the policy", cat(&[&["spddelete"], &sel]), 0, vec![], false),
        ("flush --policies", cat(&[&["flush", "--policies"]]), 0, vec![], false),
        ("spddump of an empty SPD", cat(&[&["spddump"]]), 0, vec![], false),
    ];
    for (name, args, status, want, gap) in steps {
        let mut full: Vec<&str> = vec!["--backend", "afkey", "--trace"];
        full.extend(args.iter().map(String::as_str));
        checks.push(run_check(&format!("cli: {name}"), cli, &full, status, &want, gap)?);
    }
    checks.extend(crate::differential::run(&caps, crate::differential::GENERATED_CASES)?);
    let exe = std::env::current_exe().map_err(io_err("finding this executable"))?;
    checks.push(crate::scale::smoke(&exe, &caps, 100));
    checks.extend(crate::failmig::run()?);
    checks.extend(crate::badinput::run(&caps)?);
    Ok(checks)
}

/// The differential suite alone ([`crate::differential`]), with `cases` generated sequences, on
/// the capabilities the probe finds.
pub fn run_differential(cases: u32) -> Result<Vec<Check>, GuestError> {
    enter_fresh_netns()?;
    let caps = AfKey::open()?.capabilities()?;
    crate::differential::run(&caps, cases)
}

/// The scale benchmark ([`crate::scale`]): every mechanism the probe finds at every size in
/// `tunnels`, each in a child process; prints the table, then writes `scale.json` and `scale.md`
/// to `out`.
pub fn run_scale(tunnels: &[u32], out: &Path) -> Result<(), GuestError> {
    enter_fresh_netns()?;
    let caps = AfKey::open()?.capabilities()?;
    let exe = std::env::current_exe().map_err(io_err("finding this executable"))?;
    let mut runs = Vec::new();
    for &n in tunnels {
        for m in crate::scale::available(&caps) {
            let r = crate::scale::spawn_one(&exe, m, n)
                .map_err(|e| GuestError::Io { what: "scale benchmark".into(), source: std::io::Error::other(e) })?;
            tracing::info!(mechanism = m.name(), tunnels = n, secs = r.move_secs, "scale run");
            runs.push(r);
        }
    }
    let table = format!("kernel {}\n\n{}", kernel_release(), crate::scale::table(&runs));
    // The table first: a results directory that cannot be written must not lose it.
    println!("{table}");
    let json = serde_json::to_string_pretty(&runs)
        .map_err(|e| GuestError::Io { what: "serialising scale runs".into(), source: std::io::Error::other(e) })?;
    std::fs::write(out.join("scale.json"), json).map_err(io_err("writing scale.json"))?;
    std::fs::write(out.join("scale.md"), &table).map_err(io_err("writing scale.md"))?;
    Ok(())
}

/// Writes the checks as JSON to `path`.
pub fn write_checks(path: &Path, checks: &[Check]) -> Result<(), GuestError> {
    let json = serde_json::to_string_pretty(checks)
        .map_err(|e| GuestError::Io { what: "serialising checks".into(), source: std::io::Error::other(e) })?;
    std::fs::write(path, json).map_err(io_err(format!("writing {}", path.display())))
}

//! The IKEv2 engine, without I/O (RFC 7296).
//!
//! [`Engine::handle`] takes one [`Input`] (a datagram with its addresses, a timer's expiry, a
//! kernel event or an operator's command, each with the current time) and returns the
//! [`Output`]s it causes: datagrams to send, timers to arm, kernel operations to apply, and
//! events to report. The engine never reads a clock, opens a socket or calls the kernel, so two
//! engines can run against a simulated network and clock ([`crate::sim`]) in milliseconds.
//!
//! Addresses are data: an IKE SA's local and remote endpoints are fields that change (the NAT-T
//! float today, MOBIKE later), and nothing assumes port 500 or 4500: the daemon's configured
//! ports are passed in.
//!
//! What the engine does: IKE_SA_INIT (NAT detection, cookies when half-open SAs pile up,
//! INVALID_KE_PAYLOAD retry), IKE_AUTH with PSK and a first Child SA (tunnel mode,
//! traffic-selector narrowing), CREATE_CHILD_SA (Child SA rekey with optional PFS, IKE SA
//! rekey), INFORMATIONAL (delete, liveness checks), message IDs with a window of one, and
//! retransmission with exponential backoff. Left out: simultaneous-rekey collision handling
//! (§2.8.1; the responder's rekey timers run 10 % later so the initiator rekeys first),
//! certificates and EAP, and CP (virtual IPs).

mod child;
mod ike;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use serde::Serialize;

pub use child::{ChildSa, KernelOp, intersect, narrow, range_prefixes, selectors};

use crate::config::{Connection, DaemonConfig};
use crate::crypto::Random;

/// Milliseconds on the caller's clock (monotonic; the engine only compares and adds).
pub type Millis = u64;

/// What the engine reacts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A UDP datagram (without the non-ESP marker on the NAT-T port).
    Datagram {
        /// The local address and port it arrived at.
        local: SocketAddr,
        /// Where it came from.
        remote: SocketAddr,
        /// The IKE message.
        data: Vec<u8>,
    },
    /// A timer the engine asked for expired.
    Timer(TimerToken),
    /// A kernel event: a soft expire rekeys the Child SA, a hard one deletes it, an acquire
    /// for a connection's policy initiates it.
    Kernel(pfkey::kernel::KernelEvent),
    /// An operator's command.
    Command(Command),
    /// A kernel operation the engine asked for failed: a Child SA whose SA could not be
    /// installed is deleted again (here and, with an INFORMATIONAL Delete, at the peer).
    KernelFailed {
        /// The operation.
        op: KernelOp,
        /// What the kernel said.
        error: String,
    },
}

/// An operator's command (`ikev2d ctl ...`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Command {
    /// Bring a connection up.
    Initiate(String),
    /// Take a connection's IKE SAs and Child SAs down (with INFORMATIONAL deletes).
    Terminate(String),
    /// Rekey a connection's Child SAs now.
    RekeyChild(String),
    /// Rekey a connection's IKE SA now.
    RekeyIke(String),
    /// Send a liveness check now.
    Dpd(String),
}

/// What the engine wants done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Output {
    /// Send a datagram from `local` to `remote` (on the NAT-T port the daemon prepends the
    /// non-ESP marker).
    Send {
        /// From this local address and port.
        local: SocketAddr,
        /// To this address and port.
        remote: SocketAddr,
        /// The IKE message.
        data: Vec<u8>,
    },
    /// Arm a one-shot timer: hand `token` back as [`Input::Timer`] at `at`.
    Timer {
        /// What to hand back.
        token: TimerToken,
        /// When (engine ms).
        at: Millis,
    },
    /// Apply a kernel operation.
    Kernel(KernelOp),
    /// Something happened worth reporting (logs, status, tests).
    Event(Event),
}

/// A timer's identity. Timers are never cancelled: a stale one is ignored when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TimerToken(pub u64);

/// What the engine reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Event {
    /// An IKE SA is established (after IKE_AUTH, or a rekey).
    IkeUp {
        /// The connection.
        conn: String,
        /// SPIi, SPIr.
        spis: (u64, u64),
        /// Our endpoint.
        local: SocketAddr,
        /// The peer's endpoint.
        remote: SocketAddr,
        /// Whether a NAT was detected (UDP encapsulation in use).
        nat: bool,
        /// The proposal in the configuration's syntax, e.g. `aes256gcm16-prfsha256-ecp256`.
        proposal: String,
    },
    /// An IKE SA was replaced by a rekey.
    IkeRekeyed {
        /// The connection.
        conn: String,
        /// The old SPIs.
        old: (u64, u64),
        /// The new SPIs.
        new: (u64, u64),
    },
    /// An IKE SA is gone (deleted, failed, or timed out).
    IkeDown {
        /// The connection.
        conn: String,
        /// SPIi, SPIr.
        spis: (u64, u64),
        /// Why.
        reason: String,
    },
    /// A Child SA was installed.
    ChildUp {
        /// The connection.
        conn: String,
        /// Our inbound SPI.
        spi_in: u32,
        /// Our outbound SPI.
        spi_out: u32,
        /// Its reqid.
        reqid: u32,
        /// The inbound SPI of the Child SA it replaces (a rekey).
        replaces: Option<u32>,
    },
    /// A Child SA was removed.
    ChildDown {
        /// The connection.
        conn: String,
        /// Its inbound SPI.
        spi_in: u32,
        /// Why.
        reason: String,
    },
    /// A datagram was dropped (bad input, no such SA, out of window, ...). Also logged.
    Dropped {
        /// Why.
        reason: String,
    },
}

/// Counters, for status and for tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Datagrams received.
    pub received: u64,
    /// Datagrams dropped (each with a log line and an [`Event::Dropped`]).
    pub dropped: u64,
    /// Datagrams sent (retransmissions included).
    pub sent: u64,
    /// Retransmissions.
    pub retransmitted: u64,
    /// Responses resent because a request was retransmitted.
    pub responses_resent: u64,
    /// Stateless cookie challenges sent.
    pub cookies_sent: u64,
}

/// The engine's settings that come from the daemon's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// The local IKE port (NAT-T floats away from it).
    pub port: u16,
    /// The local NAT-T port.
    pub nat_port: u16,
    /// Half-open IKE SAs from which on cookies are required.
    pub cookie_threshold: usize,
    /// The first retransmission timeout (ms).
    pub retransmit_ms: u64,
    /// Retransmissions before giving up.
    pub retransmit_tries: u32,
    /// How long a half-open responder IKE SA may wait for IKE_AUTH (ms).
    pub half_open_ms: u64,
    /// The first reqid the engine hands out.
    pub reqid_base: u32,
}

impl From<&DaemonConfig> for EngineConfig {
    fn from(d: &DaemonConfig) -> Self {
        EngineConfig {
            port: d.port,
            nat_port: d.nat_port,
            cookie_threshold: d.cookie_threshold,
            retransmit_ms: d.retransmit_ms,
            retransmit_tries: d.retransmit_tries,
            half_open_ms: 30_000,
            reqid_base: 1,
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig::from(&DaemonConfig::default())
    }
}

/// An IKE SA's state as `ikev2d ctl status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IkeStatus {
    /// The connection.
    pub conn: String,
    /// SPIi.
    pub spi_i: String,
    /// SPIr.
    pub spi_r: String,
    /// Whether we are the original initiator.
    pub initiator: bool,
    /// Its state (`InitSent`, `InitDone`, `AuthSent`, `Established`, `Rekeyed`).
    pub state: String,
    /// Whether it is established (usable; not replaced by a rekey).
    pub established: bool,
    /// Our endpoint.
    pub local: SocketAddr,
    /// The peer's endpoint.
    pub remote: SocketAddr,
    /// NAT detected.
    pub nat: bool,
    /// The negotiated proposal.
    pub proposal: Option<String>,
    /// Our next request's message ID.
    pub next_message_id: u32,
    /// How long it took to establish (ms from its first IKE_SA_INIT; 0 for a rekeyed one).
    pub setup_ms: Option<Millis>,
    /// Its Child SAs.
    pub children: Vec<ChildSa>,
}

/// The engine: every IKE SA of every connection.
pub struct Engine {
    cfg: EngineConfig,
    conns: Vec<Connection>,
    rng: Box<dyn Random + Send>,
    now: Millis,
    sas: BTreeMap<u64, ike::IkeSa>,
    next_handle: u64,
    timers: BTreeMap<TimerToken, (u64, ike::TimerKind)>,
    next_timer: u64,
    next_reqid: u32,
    cookie_secret: [u8; 32],
    out: Vec<Output>,
    stats: Stats,
    /// Work queued per IKE SA while an exchange is outstanding.
    queued: BTreeMap<u64, VecDeque<ike::Task>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("ike_sas", &self.sas.len()).field("stats", &self.stats).finish()
    }
}

impl Engine {
    /// An engine for `conns`, drawing its randomness (SPIs, nonces, DH secrets, IVs) from `rng`.
    pub fn new(cfg: EngineConfig, conns: Vec<Connection>, mut rng: Box<dyn Random + Send>) -> Engine {
        let mut cookie_secret = [0u8; 32];
        rng.fill(&mut cookie_secret);
        Engine {
            next_reqid: cfg.reqid_base,
            cfg,
            conns,
            rng,
            now: 0,
            sas: BTreeMap::new(),
            next_handle: 1,
            timers: BTreeMap::new(),
            next_timer: 1,
            cookie_secret,
            out: Vec::new(),
            stats: Stats::default(),
            queued: BTreeMap::new(),
        }
    }

    /// The connections.
    pub fn connections(&self) -> &[Connection] {
        &self.conns
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// What the engine does at start: initiates the connections marked `start`.
    pub fn start(&mut self, now: Millis) -> Vec<Output> {
        let names: Vec<String> = self.conns.iter().filter(|c| c.start).map(|c| c.name.clone()).collect();
        let mut out = Vec::new();
        for n in names {
            out.extend(self.handle(now, Input::Command(Command::Initiate(n))));
        }
        out
    }

    /// Handles one input at time `now` and returns what it causes.
    pub fn handle(&mut self, now: Millis, input: Input) -> Vec<Output> {
        self.now = self.now.max(now);
        match input {
            Input::Datagram { local, remote, data } => {
                self.stats.received += 1;
                self.datagram(local, remote, &data);
            }
            Input::Timer(t) => {
                if let Some((h, kind)) = self.timers.remove(&t) {
                    self.timer(h, kind);
                }
            }
            Input::Kernel(ev) => self.kernel_event(ev),
            Input::Command(c) => self.command(c),
            Input::KernelFailed { op, error } => self.kernel_failed(&op, &error),
        }
        std::mem::take(&mut self.out)
    }

    /// Every IKE SA with its Child SAs.
    pub fn status(&self) -> Vec<IkeStatus> {
        self.sas.values().map(|sa| sa.status(&self.conns)).collect()
    }

    fn emit(&mut self, o: Output) {
        if matches!(o, Output::Send { .. }) {
            self.stats.sent += 1;
        }
        self.out.push(o);
    }

    fn event(&mut self, e: Event) {
        match &e {
            Event::Dropped { reason } => tracing::warn!(%reason, "dropped"),
            Event::IkeUp { conn, spis, remote, nat, proposal, .. } => {
                tracing::info!(conn, spi_i = %format!("{:016x}", spis.0), spi_r = %format!("{:016x}", spis.1), %remote, nat, proposal, "IKE SA established")
            }
            Event::IkeDown { conn, reason, .. } => tracing::info!(conn, reason, "IKE SA down"),
            Event::IkeRekeyed { conn, .. } => tracing::info!(conn, "IKE SA rekeyed"),
            Event::ChildUp { conn, spi_in, spi_out, replaces, .. } => {
                tracing::info!(conn, spi_in = %format!("{spi_in:08x}"), spi_out = %format!("{spi_out:08x}"), ?replaces, "Child SA installed")
            }
            Event::ChildDown { conn, spi_in, reason } => {
                tracing::info!(conn, spi_in = %format!("{spi_in:08x}"), reason, "Child SA removed")
            }
        }
        self.emit(Output::Event(e));
    }

    fn drop_datagram(&mut self, reason: String) {
        self.stats.dropped += 1;
        self.event(Event::Dropped { reason });
    }

    fn arm(&mut self, h: u64, kind: ike::TimerKind, at: Millis) {
        let token = TimerToken(self.next_timer);
        self.next_timer += 1;
        self.timers.insert(token, (h, kind));
        self.emit(Output::Timer { token, at });
    }

    fn random_u64(&mut self) -> u64 {
        loop {
            let mut b = [0u8; 8];
            self.rng.fill(&mut b);
            let v = u64::from_be_bytes(b);
            if v != 0 {
                return v;
            }
        }
    }

    fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.rng.fill(&mut v);
        v
    }

    /// A fresh inbound SPI: not below 256 (reserved), not used by another Child SA here.
    fn fresh_spi(&mut self) -> u32 {
        loop {
            let mut b = [0u8; 4];
            self.rng.fill(&mut b);
            let spi = u32::from_be_bytes(b);
            let used = self.sas.values().any(|sa| sa.children.iter().any(|c| c.spi_in == spi));
            if spi >= 256 && !used {
                return spi;
            }
        }
    }

    fn fresh_reqid(&mut self) -> u32 {
        let r = self.next_reqid;
        self.next_reqid = self.next_reqid.wrapping_add(1).max(1);
        r
    }

    fn conn_index(&self, name: &str) -> Option<usize> {
        self.conns.iter().position(|c| c.name == name)
    }

    fn command(&mut self, c: Command) {
        let name = match &c {
            Command::Initiate(n)
            | Command::Terminate(n)
            | Command::RekeyChild(n)
            | Command::RekeyIke(n)
            | Command::Dpd(n) => n.clone(),
        };
        let Some(ci) = self.conn_index(&name) else {
            tracing::warn!(conn = name, "no such connection");
            return;
        };
        let established: Vec<u64> =
            self.sas.iter().filter(|(_, sa)| sa.conn == ci && sa.is_established()).map(|(h, _)| *h).collect();
        match c {
            Command::Initiate(_) => {
                let active = self.sas.values().any(|sa| sa.conn == ci && !sa.is_dead());
                if active {
                    tracing::info!(conn = name, "already up or coming up");
                } else {
                    self.initiate(ci);
                }
            }
            Command::Terminate(_) => {
                for h in established {
                    self.enqueue(h, ike::Task::DeleteIke);
                }
                // Half-open ones simply go.
                let half: Vec<u64> =
                    self.sas.iter().filter(|(_, sa)| sa.conn == ci && !sa.is_established()).map(|(h, _)| *h).collect();
                for h in half {
                    self.destroy(h, "terminated before it was established");
                }
            }
            Command::RekeyChild(_) => {
                for h in established {
                    let spis: Vec<u32> =
                        self.sas[&h].children.iter().filter(|c| !c.rekeyed).map(|c| c.spi_in).collect();
                    for spi in spis {
                        self.enqueue(h, ike::Task::RekeyChild(spi));
                    }
                }
            }
            Command::RekeyIke(_) => {
                for h in established {
                    self.enqueue(h, ike::Task::RekeyIke);
                }
            }
            Command::Dpd(_) => {
                for h in established {
                    self.enqueue(h, ike::Task::Dpd);
                }
            }
        }
    }

    fn kernel_event(&mut self, ev: pfkey::kernel::KernelEvent) {
        use pfkey::kernel::KernelEvent;
        match ev {
            KernelEvent::Expire { id, hard, .. } => {
                let found = self.sas.iter().find_map(|(h, sa)| {
                    sa.children.iter().find(|c| c.spi_in == id.spi || c.spi_out == id.spi).map(|c| (*h, c.spi_in))
                });
                if let Some((h, spi_in)) = found {
                    if hard {
                        self.enqueue(h, ike::Task::DeleteChild(spi_in));
                    } else {
                        self.enqueue(h, ike::Task::RekeyChild(spi_in));
                    }
                }
            }
            KernelEvent::Acquire { dst, .. } => {
                let ci = self.conns.iter().position(|c| c.remote == Some(dst.ip()));
                if let Some(ci) = ci
                    && !self.sas.values().any(|sa| sa.conn == ci && !sa.is_dead())
                {
                    self.initiate(ci);
                }
            }
            other => tracing::debug!(?other, "kernel event not for the engine"),
        }
    }

    fn kernel_failed(&mut self, op: &KernelOp, error: &str) {
        let KernelOp::AddSa(sa) = op else {
            tracing::warn!(?op, error, "kernel operation failed");
            return;
        };
        let found = self.sas.iter().find_map(|(h, s)| {
            s.children.iter().find(|c| c.spi_in == sa.spi || c.spi_out == sa.spi).map(|c| (*h, c.spi_in))
        });
        if let Some((h, spi_in)) = found {
            tracing::warn!(spi = %format!("{:08x}", sa.spi), error, "the kernel refused a Child SA's SA: deleting the Child SA");
            self.enqueue(h, ike::Task::DeleteChild(spi_in));
        }
    }

    /// Queues `task` on IKE SA `h` and starts it if no exchange is outstanding.
    fn enqueue(&mut self, h: u64, task: ike::Task) {
        self.queued.entry(h).or_default().push_back(task);
        self.kick(h);
    }

    /// Starts the next queued task of `h` if its window is free.
    fn kick(&mut self, h: u64) {
        loop {
            let Some(sa) = self.sas.get(&h) else {
                self.queued.remove(&h);
                return;
            };
            // A rekeyed IKE SA still sends its own Delete (the only task left on it).
            if sa.pending.is_some() || !(sa.is_established() || sa.is_dead()) {
                return;
            }
            let Some(task) = self.queued.get_mut(&h).and_then(VecDeque::pop_front) else { return };
            if self.start_task(h, task) {
                return;
            }
        }
    }

    fn destroy(&mut self, h: u64, reason: &str) {
        let Some(sa) = self.sas.remove(&h) else { return };
        self.queued.remove(&h);
        let conn = self.conns[sa.conn].name.clone();
        for c in &sa.children {
            for op in c.remove_ops(sa.local, sa.remote, true) {
                self.emit(Output::Kernel(op));
            }
            self.event(Event::ChildDown { conn: conn.clone(), spi_in: c.spi_in, reason: reason.to_string() });
        }
        if sa.was_established {
            self.event(Event::IkeDown { conn, spis: (sa.spi_i, sa.spi_r), reason: reason.to_string() });
        } else {
            tracing::info!(conn, reason, "half-open IKE SA removed");
        }
    }
}

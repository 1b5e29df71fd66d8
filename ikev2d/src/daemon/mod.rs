//! The daemon: the engine wired to real I/O in one single-threaded, `poll`-driven loop.
//!
//! - UDP: for every distinct local address of the connections, one socket on the IKE port and
//!   one on the NAT-T port ([`udp`]). On a real kernel every socket carries per-socket bypass
//!   policies (IKE itself is never encrypted) and the NAT-T socket ESP-in-UDP decapsulation;
//!   IKE on the NAT-T port goes behind the non-ESP marker.
//! - Timers: a min-heap of the engine's (time, token); engine time is milliseconds since the
//!   daemon started.
//! - Kernel: the engine's operations are applied in order through the backend ([`backend`]);
//!   failures are logged and counted. On a real kernel a second backend instance in a thread
//!   forwards the kernel's events (expires, acquires) over a channel the loop drains.
//! - Control: a Unix socket with one JSON request and one JSON answer per connection
//!   ([`control`]).
//! - Stop (`ikev2d ctl stop`, SIGTERM, SIGINT): every connection is terminated, the loop runs
//!   up to one more second for the deletes to be answered, then the Child SAs the engine still
//!   holds are removed from the kernel.

pub mod backend;
pub mod control;
pub mod signals;
pub mod udp;

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::thread::JoinHandle;
use std::time::Instant;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use pfkey::kernel::KernelEvent;
use pfkey::wire::numbers::SaType;
use serde_json::{Value, json};

use crate::config::{Config, ConfigError};
use crate::crypto::OsRandom;
use crate::engine::{Command, Engine, EngineConfig, Input, KernelOp, Millis, Output, TimerToken};

pub use backend::{Backend, BackendKind};
pub use control::{ControlServer, Request};

/// The longest the loop sleeps in `poll` (so the kernel event channel and signals are served).
const MAX_POLL_MS: u64 = 100;
/// How long a graceful stop waits for the deletes to be answered.
const STOP_GRACE_MS: u64 = 1000;
/// Datagrams read from one socket per loop iteration (fairness between sockets).
const READ_BURST: usize = 64;

/// What can go wrong in the daemon or when talking to it.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The configuration file cannot be read.
    #[error("cannot read {path}: {source}")]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The configuration is invalid.
    #[error("{path}: {source}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: ConfigError,
    },
    /// A setting the daemon cannot run with.
    #[error("configuration: {0}")]
    Setting(String),
    /// An unknown backend name.
    #[error("unknown kernel backend {0:?} (auto, afkey, xfrm or model)")]
    UnknownBackend(String),
    /// A kernel backend cannot be opened.
    #[error(
        "cannot open the {backend} kernel backend: {source} (real kernels need CAP_NET_ADMIN; --backend model runs without)"
    )]
    Backend {
        /// The backend.
        backend: &'static str,
        /// Why.
        source: pfkey::kernel::KernelError,
    },
    /// Registering for kernel events failed.
    #[error("cannot register with the {backend} kernel backend for ESP events: {source} (needs CAP_NET_ADMIN)")]
    Register {
        /// The backend.
        backend: &'static str,
        /// Why.
        source: pfkey::kernel::KernelError,
    },
    /// A UDP socket cannot be opened or bound.
    #[error("UDP socket {addr}: {what}: {source}")]
    Socket {
        /// The address.
        addr: SocketAddr,
        /// The step that failed.
        what: &'static str,
        /// Why.
        source: io::Error,
    },
    /// The per-socket IPsec bypass or ESP-in-UDP cannot be set.
    #[error(
        "UDP socket {addr}: cannot set the {what}: {source} (needs CAP_NET_ADMIN; without it IKE would be caught by the tunnels' own policies; --backend model runs without)"
    )]
    Bypass {
        /// The address.
        addr: SocketAddr,
        /// What could not be set.
        what: &'static str,
        /// Why.
        source: io::Error,
    },
    /// The control socket cannot be set up.
    #[error("control socket {path}: {source}")]
    Control {
        /// Its path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Another daemon answers on the control socket.
    #[error("control socket {0}: another ikev2d is running there")]
    AlreadyRunning(PathBuf),
    /// Any other I/O failure of the daemon.
    #[error("{what}: {source}")]
    Io {
        /// What the daemon was doing.
        what: &'static str,
        /// Why.
        source: io::Error,
    },
    /// `ikev2d ctl`: the daemon cannot be reached.
    #[error("cannot reach the daemon at {path}: {source} (is `ikev2d run` running? --control PATH)")]
    NotReachable {
        /// The control socket's path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// `ikev2d ctl`: the daemon's answer is not what the protocol says.
    #[error("bad answer from the daemon: {0}")]
    Protocol(String),
    /// `ikev2d ctl`: the daemon refused the request.
    #[error("the daemon refused: {0}")]
    Refused(String),
}

/// How `ikev2d run` was started: what overrides the configuration file.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The kernel backend (`--backend`), else the configuration's.
    pub backend: Option<BackendKind>,
    /// The control socket (`--control`), else the configuration's.
    pub control: Option<PathBuf>,
}

/// Reads and checks a configuration file.
pub fn load_config(path: &std::path::Path) -> Result<Config, DaemonError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| DaemonError::ReadConfig { path: path.to_path_buf(), source })?;
    Config::parse(&text).map_err(|source| DaemonError::Config { path: path.to_path_buf(), source })
}

/// Runs the daemon until it is stopped; `Ok` after a graceful stop.
pub fn run(config: Config, opts: RunOptions) -> Result<(), DaemonError> {
    Daemon::start(config, opts)?.run()
}

/// The running daemon.
struct Daemon {
    engine: Engine,
    backend: Backend,
    endpoints: Vec<udp::Endpoint>,
    by_local: HashMap<SocketAddr, usize>,
    nat_port: u16,
    timers: BinaryHeap<Reverse<(Millis, TimerToken)>>,
    epoch: Instant,
    control: ControlServer,
    events: Option<EventThread>,
    counters: Counters,
    /// Set once stopping: when to give up waiting for the deletes.
    stop_deadline: Option<Millis>,
}

struct EventThread {
    rx: Receiver<KernelEvent>,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

/// The daemon's own counters (the engine has its own).
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
struct Counters {
    /// Kernel operations that failed.
    kernel_errors: u64,
    /// Kernel events handed to the engine.
    kernel_events: u64,
    /// Datagrams the engine wanted sent from an address without a socket, or that failed.
    send_errors: u64,
    /// Datagrams on the NAT-T port without the non-ESP marker.
    no_marker: u64,
    /// NAT keepalives received.
    keepalives: u64,
}

impl Daemon {
    fn start(config: Config, opts: RunOptions) -> Result<Daemon, DaemonError> {
        let d = &config.daemon;
        if d.port == d.nat_port {
            return Err(DaemonError::Setting(format!("port and nat_port are both {}", d.port)));
        }
        let kind = match opts.backend {
            Some(k) => k,
            None => d.backend.parse()?,
        };
        let control_path = opts.control.unwrap_or_else(|| d.control.clone());
        let epoch = Instant::now();
        let backend = Backend::open(kind)?;
        tracing::info!(backend = backend.name(), "kernel backend open");
        // Linux's af_key installs HMAC-SHA-256 with the 96-bit truncation of its algorithm table
        // (xfrm_algo.c), not RFC 4868's 128 bits, and PF_KEY has no field to say otherwise: an
        // RFC 4868 peer drops every packet of such an SA. XFRM sets the truncation.
        if backend.name() == "afkey" {
            for c in &config.connections {
                if c.esp.iter().any(|p| p.integ.is_some()) {
                    tracing::warn!(
                        conn = c.name,
                        "ESP with HMAC-SHA-256 over PF_KEY: Linux af_key truncates its ICV to 96 bits, not RFC 4868's \
                         128; peers other than ikev2d on af_key will drop the traffic (use --backend xfrm, or AES-GCM)"
                    );
                }
            }
        }

        let locals: BTreeSet<_> = config.connections.iter().map(|c| c.local).collect();
        if locals.is_empty() {
            tracing::warn!("no connections configured: only the control socket is served");
        }
        let mut endpoints = Vec::new();
        for ip in locals {
            for (port, nat) in [(d.port, false), (d.nat_port, true)] {
                let ep = udp::open(SocketAddr::new(ip, port), nat, backend.is_real())?;
                tracing::info!(local = %ep.local, nat, "listening");
                endpoints.push(ep);
            }
        }
        let by_local = endpoints.iter().enumerate().map(|(i, e)| (e.local, i)).collect();

        let control = ControlServer::bind(&control_path)?;
        tracing::info!(path = %control_path.display(), "control socket");
        signals::install().map_err(|source| DaemonError::Io { what: "installing the signal handlers", source })?;

        let (tx, rx) = std::sync::mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let events = backend.spawn_events(tx, stop.clone())?.map(|handle| EventThread { rx, stop, handle });

        let engine = Engine::new(EngineConfig::from(d), config.connections.clone(), Box::new(OsRandom));
        let mut daemon = Daemon {
            engine,
            backend,
            endpoints,
            by_local,
            nat_port: d.nat_port,
            timers: BinaryHeap::new(),
            epoch,
            control,
            events,
            counters: Counters::default(),
            stop_deadline: None,
        };
        let now = daemon.now();
        let out = daemon.engine.start(now);
        daemon.outputs(out);
        Ok(daemon)
    }

    fn now(&self) -> Millis {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn run(mut self) -> Result<(), DaemonError> {
        loop {
            if signals::stop_requested() && self.stop_deadline.is_none() {
                tracing::info!("signal: stopping");
                self.begin_stop();
            }
            if let Some(deadline) = self.stop_deadline
                && (self.engine.status().is_empty() || self.now() >= deadline)
            {
                break;
            }
            let timeout = self.poll_timeout();
            let ready = self.poll(timeout)?;
            for (i, r) in ready.udp.iter().enumerate() {
                if *r {
                    self.read_udp(i);
                }
            }
            if ready.listener {
                self.control.accept();
            }
            if ready.clients || ready.listener {
                for p in self.control.read() {
                    let reply = self.serve(p.request);
                    self.control.reply(p.client, &reply);
                }
            }
            self.control.expire();
            self.kernel_events();
            self.fire_timers();
            self.backend.discard_broadcasts();
        }
        self.finish();
        Ok(())
    }

    /// How long `poll` may sleep: until the next timer, at most [`MAX_POLL_MS`].
    fn poll_timeout(&self) -> u64 {
        let now = self.now();
        match self.timers.peek() {
            Some(Reverse((at, _))) => at.saturating_sub(now).min(MAX_POLL_MS),
            None => MAX_POLL_MS,
        }
    }

    fn poll(&self, timeout_ms: u64) -> Result<Ready, DaemonError> {
        let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(self.endpoints.len() + 2);
        for ep in &self.endpoints {
            fds.push(PollFd::new(ep.sock.as_fd(), PollFlags::POLLIN));
        }
        fds.push(PollFd::new(self.control.listener().as_fd(), PollFlags::POLLIN));
        for c in self.control.client_streams() {
            fds.push(PollFd::new(c.as_fd(), PollFlags::POLLIN));
        }
        let timeout = PollTimeout::try_from(timeout_ms).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return Ok(Ready::default()),
            Err(e) => return Err(DaemonError::Io { what: "poll", source: e.into() }),
        }
        let hit = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
        let n = self.endpoints.len();
        Ok(Ready {
            udp: fds[..n].iter().map(hit).collect(),
            listener: hit(&fds[n]),
            clients: fds[n + 1..].iter().any(hit),
        })
    }

    fn read_udp(&mut self, i: usize) {
        let mut buf = vec![0u8; 65536];
        for _ in 0..READ_BURST {
            let ep = &self.endpoints[i];
            let (n, from) = match ep.sock.recv_from(&mut buf) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // ICMP errors surface here (ECONNREFUSED); the engine retransmits anyway.
                    tracing::debug!(local = %ep.local, error = %e, "UDP receive");
                    continue;
                }
            };
            let (local, from) = (ep.local, udp::plain(from));
            let data = if ep.nat {
                match udp::classify_nat(&buf[..n]) {
                    udp::NatDatagram::Ike(ike) => ike.to_vec(),
                    udp::NatDatagram::Keepalive => {
                        self.counters.keepalives += 1;
                        continue;
                    }
                    udp::NatDatagram::Bad => {
                        self.counters.no_marker += 1;
                        tracing::debug!(%local, %from, len = n, "NAT-T datagram without the non-ESP marker dropped");
                        continue;
                    }
                }
            } else {
                buf[..n].to_vec()
            };
            let now = self.now();
            let out = self.engine.handle(now, Input::Datagram { local, remote: from, data });
            self.outputs(out);
        }
    }

    fn kernel_events(&mut self) {
        loop {
            let Some(ev) = self.events.as_ref().map(|e| e.rx.try_recv()) else { return };
            match ev {
                Ok(ev) => {
                    self.counters.kernel_events += 1;
                    let now = self.now();
                    let out = self.engine.handle(now, Input::Kernel(ev));
                    self.outputs(out);
                }
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    tracing::warn!("the kernel event thread ended: no more kernel events");
                    self.events = None;
                    return;
                }
            }
        }
    }

    fn fire_timers(&mut self) {
        loop {
            let now = self.now();
            match self.timers.peek() {
                Some(Reverse((at, _))) if *at <= now => {}
                _ => return,
            }
            let Some(Reverse((_, token))) = self.timers.pop() else { return };
            let out = self.engine.handle(now, Input::Timer(token));
            self.outputs(out);
        }
    }

    fn outputs(&mut self, out: Vec<Output>) {
        for o in out {
            match o {
                Output::Send { local, remote, data } => self.send(local, remote, &data),
                Output::Timer { token, at } => self.timers.push(Reverse((at, token))),
                Output::Kernel(op) => {
                    if let Some(error) = self.apply(&op) {
                        let now = self.now();
                        let more = self.engine.handle(now, Input::KernelFailed { op, error });
                        self.outputs(more);
                    }
                }
                Output::Event(e) => tracing::debug!(event = ?e, "engine event"),
            }
        }
    }

    /// Applies one kernel operation; the error, if it failed.
    fn apply(&mut self, op: &KernelOp) -> Option<String> {
        if let Err(e) = op.apply(self.backend.kernel()) {
            self.counters.kernel_errors += 1;
            tracing::warn!(op = %describe(op), error = %e, "kernel operation failed");
            Some(e.to_string())
        } else {
            tracing::debug!(op = %describe(op), "kernel operation");
            None
        }
    }

    fn send(&mut self, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        let i = self.by_local.get(&local).copied().or_else(|| {
            // A wildcard-bound socket of the same family and port.
            self.endpoints.iter().position(|e| {
                e.local.port() == local.port() && e.local.ip().is_unspecified() && e.local.is_ipv4() == local.is_ipv4()
            })
        });
        let Some(i) = i else {
            self.counters.send_errors += 1;
            tracing::warn!(%local, %remote, "no socket for this local address: datagram not sent");
            return;
        };
        let ep = &self.endpoints[i];
        debug_assert_eq!(ep.nat, local.port() == self.nat_port);
        if let Err(e) = ep.sock.send_to(&udp::frame(ep, data), remote) {
            self.counters.send_errors += 1;
            tracing::warn!(%local, %remote, error = %e, "UDP send");
        }
    }

    fn connection_names(&self) -> Vec<String> {
        self.engine.connections().iter().map(|c| c.name.clone()).collect()
    }

    fn begin_stop(&mut self) {
        if self.stop_deadline.is_some() {
            return;
        }
        let now = self.now();
        self.stop_deadline = Some(now + STOP_GRACE_MS);
        for name in self.connection_names() {
            let out = self.engine.handle(now, Input::Command(Command::Terminate(name)));
            self.outputs(out);
        }
    }

    /// The end of a stop: whatever Child SAs the engine still holds leave the kernel.
    fn finish(&mut self) {
        let left = self.engine.status();
        let mut removed = 0;
        for sa in &left {
            for child in &sa.children {
                for op in child.remove_ops(sa.local, sa.remote, true) {
                    self.apply(&op);
                }
                removed += 1;
            }
        }
        if !left.is_empty() {
            tracing::info!(ike_sas = left.len(), child_sas = removed, "unanswered at stop: Child SAs removed");
        }
        if let Some(ev) = self.events.take() {
            ev.stop.store(true, Ordering::Relaxed);
            if ev.handle.join().is_err() {
                tracing::warn!("the kernel event thread panicked");
            }
        }
        tracing::info!(stats = ?self.engine.stats(), counters = ?self.counters, "stopped");
    }

    /// Answers one control request.
    fn serve(&mut self, req: Result<Request, String>) -> Value {
        let req = match req {
            Ok(r) => r,
            Err(e) => return control::error_reply(e),
        };
        tracing::debug!(?req, "control request");
        let command = match req {
            Request::Status => return self.status(),
            Request::List => return self.list(),
            Request::Sas => return self.sas(),
            Request::Stop => {
                tracing::info!("control: stopping");
                self.begin_stop();
                return json!({ "ok": true });
            }
            Request::Initiate { conn } => Command::Initiate(conn),
            Request::Terminate { conn } => Command::Terminate(conn),
            Request::RekeyChild { conn } => Command::RekeyChild(conn),
            Request::RekeyIke { conn } => Command::RekeyIke(conn),
            Request::Dpd { conn } => Command::Dpd(conn),
        };
        let name = match &command {
            Command::Initiate(n)
            | Command::Terminate(n)
            | Command::RekeyChild(n)
            | Command::RekeyIke(n)
            | Command::Dpd(n) => n.clone(),
        };
        if !self.engine.connections().iter().any(|c| c.name == name) {
            return control::error_reply(format!("no connection named {name:?}"));
        }
        if self.stop_deadline.is_some() {
            return control::error_reply("the daemon is stopping");
        }
        tracing::info!(?command, "control command");
        let now = self.now();
        let out = self.engine.handle(now, Input::Command(command));
        self.outputs(out);
        json!({ "ok": true })
    }

    fn status(&self) -> Value {
        json!({
            "ok": true,
            "backend": self.backend.name(),
            "uptime_ms": self.now(),
            "ike_sas": self.engine.status(),
            "stats": self.engine.stats(),
            "daemon": self.counters,
        })
    }

    fn list(&self) -> Value {
        let status = self.engine.status();
        let conns: Vec<Value> = self
            .engine
            .connections()
            .iter()
            .map(|c| {
                let up: Vec<_> = status.iter().filter(|s| s.conn == c.name && s.established).collect();
                json!({
                    "name": c.name,
                    "local": c.local,
                    "remote": c.remote.map_or_else(|| "%any".to_string(), |r| r.to_string()),
                    "start": c.start,
                    "up": !up.is_empty(),
                    "child_sas": up.iter().map(|s| s.children.len()).sum::<usize>(),
                })
            })
            .collect();
        json!({ "ok": true, "connections": conns })
    }

    fn sas(&mut self) -> Value {
        let name = self.backend.name();
        let k = self.backend.kernel();
        let sas = match k.dump_sas(SaType::Esp) {
            Ok(s) => s,
            Err(e) => return control::error_reply(format!("{name}: dumping the SAs: {e}")),
        };
        let policies = match k.dump_policies() {
            Ok(p) => p,
            Err(e) => return control::error_reply(format!("{name}: dumping the policies: {e}")),
        };
        json!({ "ok": true, "backend": name, "sas": sas, "policies": policies })
    }
}

#[derive(Debug, Default)]
struct Ready {
    udp: Vec<bool>,
    listener: bool,
    clients: bool,
}

/// A kernel operation for the log, without its keys.
fn describe(op: &KernelOp) -> String {
    match op {
        KernelOp::AddSa(sa) => {
            format!("add SA {} spi {:#010x} {} -> {} reqid {}", sa.satype, sa.spi, sa.src, sa.dst, sa.reqid)
        }
        KernelOp::DeleteSa(id) => format!("delete SA {} spi {:#010x} {} -> {}", id.satype, id.spi, id.src, id.dst),
        KernelOp::AddPolicy(p) => format!(
            "add policy {}/{} -> {}/{} {:?}",
            p.selector.src, p.selector.src_prefixlen, p.selector.dst, p.selector.dst_prefixlen, p.dir
        ),
        KernelOp::DeletePolicy { selector, dir } => format!(
            "delete policy {}/{} -> {}/{} {:?}",
            selector.src, selector.src_prefixlen, selector.dst, selector.dst_prefixlen, dir
        ),
    }
}

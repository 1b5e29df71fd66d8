//! A simulated network and clock for two engines: datagrams are delayed, lost, duplicated and
//! reordered as configured, timers fire in time order, and each engine's kernel operations are
//! applied to its own in-memory kernel (`pfkey`'s model, through the `Kernel` trait), so a test
//! can read back the SAs and policies each side installed. One run of minutes of protocol time
//! takes milliseconds.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, SocketAddr};

use pfkey::kernel::model::ModelConfig;
use pfkey::kernel::{Kernel, Model, ModelKernel, PfKeyKernel};

use crate::config::Connection;
use crate::crypto::TestRandom;
use crate::engine::{Command, Engine, EngineConfig, Event, Input, Millis, Output, TimerToken};

/// How the network misbehaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetParams {
    /// One-way delay (ms).
    pub latency_ms: u64,
    /// Extra random delay up to this much (ms): reorders datagrams.
    pub jitter_ms: u64,
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
}

impl Default for NetParams {
    fn default() -> Self {
        NetParams { latency_ms: 5, jitter_ms: 0, loss: 0.0, duplicate: 0.0 }
    }
}

/// A NAT in front of peer 0: its datagrams leave from `public` with a mapped port, and
/// datagrams to that mapping come back to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nat {
    /// The NAT's public address.
    pub public: IpAddr,
    /// Added to peer 0's source port.
    pub port_offset: u16,
}

/// One side: its engine, its kernel, what it reported.
pub struct SimPeer {
    /// The engine.
    pub engine: Engine,
    /// Its in-memory kernel.
    pub kernel: ModelKernel,
    /// The `Kernel` backend over it.
    pub backend: Model,
    /// Its address.
    pub addr: IpAddr,
    /// Every event it reported, with the time.
    pub events: Vec<(Millis, Event)>,
    /// Kernel operations that failed (op, error).
    pub kernel_errors: Vec<String>,
    /// Datagrams it sent.
    pub sent: Vec<(Millis, SocketAddr, SocketAddr, Vec<u8>)>,
    timers: BinaryHeap<Reverse<(Millis, TimerToken)>>,
}

impl std::fmt::Debug for SimPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimPeer").field("addr", &self.addr).field("events", &self.events.len()).finish()
    }
}

struct InFlight {
    at: Millis,
    seq: u64,
    to: usize,
    local: SocketAddr,
    remote: SocketAddr,
    data: Vec<u8>,
}

impl PartialEq for InFlight {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for InFlight {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// Two engines, a network and a clock.
pub struct Sim {
    /// Now (ms).
    pub now: Millis,
    /// The two peers.
    pub peers: [SimPeer; 2],
    /// The network's behaviour (may change between steps).
    pub net: NetParams,
    /// A NAT in front of peer 0.
    pub nat: Option<Nat>,
    flight: BinaryHeap<InFlight>,
    seq: u64,
    dice: u64,
    /// Datagrams the network dropped.
    pub lost: u64,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim").field("now", &self.now).field("peers", &self.peers).finish()
    }
}

impl Sim {
    /// Two peers with these connections, engine settings, and the seed of all randomness.
    pub fn new(a: (IpAddr, Vec<Connection>), b: (IpAddr, Vec<Connection>), cfg: EngineConfig, seed: u64) -> Sim {
        let peer = |(addr, conns): (IpAddr, Vec<Connection>), s: u64, reqid: u32| {
            let kernel = ModelKernel::with_config(ModelConfig::patched());
            let backend = PfKeyKernel::new(kernel.socket());
            let cfg = EngineConfig { reqid_base: reqid, ..cfg.clone() };
            SimPeer {
                engine: Engine::new(cfg, conns, Box::new(TestRandom::new(s))),
                kernel,
                backend,
                addr,
                events: Vec::new(),
                kernel_errors: Vec::new(),
                sent: Vec::new(),
                timers: BinaryHeap::new(),
            }
        };
        Sim {
            now: 0,
            peers: [peer(a, seed.wrapping_mul(2) + 1, 1), peer(b, seed.wrapping_mul(2) + 2, 1)],
            net: NetParams::default(),
            nat: None,
            flight: BinaryHeap::new(),
            seq: 0,
            dice: seed ^ 0x9e37_79b9_7f4a_7c15,
            lost: 0,
        }
    }

    fn roll(&mut self) -> f64 {
        // xorshift64*: the network's own dice, independent of the engines' randomness.
        self.dice ^= self.dice >> 12;
        self.dice ^= self.dice << 25;
        self.dice ^= self.dice >> 27;
        (self.dice.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Gives peer `i` a fresh in-memory kernel with `config` (e.g. a stock kernel without AEAD).
    pub fn set_kernel(&mut self, i: usize, config: ModelConfig) {
        let kernel = ModelKernel::with_config(config);
        self.peers[i].backend = PfKeyKernel::new(kernel.socket());
        self.peers[i].kernel = kernel;
    }

    /// Starts both engines (connections marked `start` initiate).
    pub fn start(&mut self) {
        for i in 0..2 {
            let out = self.peers[i].engine.start(self.now);
            self.outputs(i, out);
        }
    }

    /// Gives peer `i` a command.
    pub fn command(&mut self, i: usize, c: Command) {
        let out = self.peers[i].engine.handle(self.now, Input::Command(c));
        self.outputs(i, out);
    }

    /// Hands peer `i` any input; its outputs are routed as usual, and returned too.
    pub fn input(&mut self, i: usize, input: Input) -> Vec<Output> {
        let out = self.peers[i].engine.handle(self.now, input);
        self.outputs(i, out.clone());
        out
    }

    /// Injects a datagram at peer `i` as if it came from `from` (an attacker, a replay).
    pub fn inject(&mut self, i: usize, from: SocketAddr, to: SocketAddr, data: Vec<u8>) {
        let out = self.peers[i].engine.handle(self.now, Input::Datagram { local: to, remote: from, data });
        self.outputs(i, out);
    }

    fn outputs(&mut self, i: usize, out: Vec<Output>) {
        for o in out {
            match o {
                Output::Send { local, remote, data } => {
                    self.peers[i].sent.push((self.now, local, remote, data.clone()));
                    self.send(i, local, remote, data);
                }
                Output::Timer { token, at } => self.peers[i].timers.push(Reverse((at, token))),
                Output::Kernel(op) => {
                    let p = &mut self.peers[i];
                    if let Err(e) = op.apply(&mut p.backend as &mut dyn Kernel) {
                        p.kernel_errors.push(format!("{op:?}: {e}"));
                        let more = p.engine.handle(self.now, Input::KernelFailed { op, error: e.to_string() });
                        self.outputs(i, more);
                    }
                }
                Output::Event(e) => self.peers[i].events.push((self.now, e)),
            }
        }
    }

    fn send(&mut self, from: usize, mut local: SocketAddr, remote: SocketAddr, data: Vec<u8>) {
        // Peer 0 behind the NAT: its source is rewritten.
        if from == 0
            && let Some(n) = self.nat
        {
            local = SocketAddr::new(n.public, local.port().wrapping_add(n.port_offset));
        }
        let mut to_addr = remote;
        let to = if from == 1
            && let Some(n) = self.nat
            && remote.ip() == n.public
        {
            to_addr = SocketAddr::new(self.peers[0].addr, remote.port().wrapping_sub(n.port_offset));
            0
        } else {
            match self.peers.iter().position(|p| p.addr == remote.ip()) {
                Some(t) if t != from => t,
                _ => return,
            }
        };
        if self.roll() < self.net.loss {
            self.lost += 1;
            return;
        }
        let copies = if self.roll() < self.net.duplicate { 2 } else { 1 };
        for _ in 0..copies {
            let jitter = if self.net.jitter_ms > 0 { (self.roll() * self.net.jitter_ms as f64) as u64 } else { 0 };
            self.seq += 1;
            self.flight.push(InFlight {
                at: self.now + self.net.latency_ms + jitter,
                seq: self.seq,
                to,
                local: to_addr,
                remote: local,
                data: data.clone(),
            });
        }
    }

    /// The time of the next thing to happen, if any.
    fn next_at(&self) -> Option<Millis> {
        let t = self.peers.iter().filter_map(|p| p.timers.peek().map(|Reverse((at, _))| *at)).min();
        let d = self.flight.peek().map(|f| f.at);
        match (t, d) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs everything due up to and including `until`; the clock ends at `until`.
    pub fn run_until(&mut self, until: Millis) {
        while let Some(at) = self.next_at().filter(|at| *at <= until) {
            self.now = self.now.max(at);
            if self.flight.peek().is_some_and(|f| f.at == at) {
                let f = self.flight.pop().expect("peeked");
                let out = self.peers[f.to]
                    .engine
                    .handle(self.now, Input::Datagram { local: f.local, remote: f.remote, data: f.data });
                self.outputs(f.to, out);
                continue;
            }
            for i in 0..2 {
                if self.peers[i].timers.peek().is_some_and(|Reverse((t, _))| *t == at) {
                    let Reverse((_, token)) = self.peers[i].timers.pop().expect("peeked");
                    let out = self.peers[i].engine.handle(self.now, Input::Timer(token));
                    self.outputs(i, out);
                    break;
                }
            }
        }
        self.now = self.now.max(until);
    }

    /// Runs for `ms` more.
    pub fn run_for(&mut self, ms: Millis) {
        let until = self.now + ms;
        self.run_until(until);
    }

    /// Whether peer `i` reported an event matching `f`.
    pub fn saw(&self, i: usize, f: impl Fn(&Event) -> bool) -> bool {
        self.peers[i].events.iter().any(|(_, e)| f(e))
    }

    /// How many events matching `f` peer `i` reported.
    pub fn count(&self, i: usize, f: impl Fn(&Event) -> bool) -> usize {
        self.peers[i].events.iter().filter(|(_, e)| f(e)).count()
    }
}

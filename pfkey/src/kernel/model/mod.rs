//! The in-memory kernel model: a SAD, an SPD and PF_KEY sockets that answer PF_KEY messages as
//! Linux `net/key/af_key.c` (+ `xfrm_state.c`, `xfrm_policy.c`) does.
//!
//! [`ModelKernel`] is one kernel; [`ModelKernel::socket`] opens a [`ModelSocket`], which is a
//! [`Channel`]: `send` hands the datagram to the kernel, which processes it synchronously and
//! queues its answers in the sockets' inboxes, following `pfkey_broadcast`'s delivery rules
//! (promiscuous sockets get a copy of every request and of every message the kernel sends,
//! including those meant for another socket).
//!
//! What the model adds to stock Linux is switched by [`ModelConfig`]: the per-SA address update
//! (`SADB_UPDATE` + `SADB_X_EXT_NEW_ADDRESS_SRC/DST`), NAT-T inside `SADB_X_MIGRATE`, a reply
//! to the MIGRATE requester, and AEAD algorithms.
//!
//! Besides PF_KEY, the model has hooks that stand in for the data path and timers
//! ([`ModelKernel::traffic`], [`ModelKernel::receive`], [`ModelKernel::acquire`],
//! [`ModelKernel::expire`], [`ModelKernel::advance_clock`], [`ModelKernel::new_mapping`]) and
//! snapshots ([`ModelKernel::snapshot`], [`ModelKernel::restore`]) so a CLI can keep a model's
//! state in a JSON file between invocations.
//!
//! ```
//! use pfkey::kernel::{Channel, ModelKernel};
//! use pfkey::message::{Message, SaSpec, SockAddr, add};
//! use pfkey::wire::Dialect;
//!
//! let kernel = ModelKernel::new();
//! let mut sock = kernel.socket();
//! let sa = SaSpec::esp_tunnel_gcm(0x1234, SockAddr::new("192.0.2.1".parse().unwrap()),
//!     SockAddr::new("198.51.100.1".parse().unwrap()), 1, &[7; 20]);
//! sock.send(&add(&sa).with_seq(1).with_pid(sock.pid()).to_bytes(Dialect::Linux).unwrap()).unwrap();
//! let mut buf = Vec::new();
//! assert!(sock.recv(&mut buf, Some(std::time::Duration::ZERO)).unwrap());
//! let reply = Message::parse(&buf, Dialect::Linux).unwrap();
//! assert_eq!((reply.errno(), reply.header.seq), (0, 1));
//! assert_eq!(kernel.sad()[0].spi, 0x1234);
//! ```

pub(crate) mod algs;
mod hooks;
mod mobility;
mod render;
mod sad;
mod spd;
mod state;

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use zerocopy::FromBytes;

pub use self::hooks::ModelError;
pub use self::state::{MODEL_EPOCH, ModelConfig, ModelCounters, ModelPolicy, ModelSa, ModelSnapshot, ReplayState};

use super::{Channel, KernelError};
use crate::message::{Address, Message, Rule};
use crate::wire::numbers::ExtKind;
use crate::wire::numbers::{MessageType, PF_KEY_V2, SaType};
use crate::wire::{Dialect, SadbMsg};

/// An errno (positive), as handlers return it.
pub(crate) type Errno = i32;
/// A handler's result: `Err(errno)` becomes an error reply to the sender.
pub(crate) type Handled = Result<(), Errno>;

/// At most this many messages wait in one socket's inbox; later ones are dropped, as a full
/// socket receive buffer drops them (`pfkey_broadcast_one` → `ENOBUFS`).
pub const INBOX_LIMIT: usize = 65_536;

/// The first socket's pid.
pub const FIRST_PID: u32 = 1000;

/// One open socket.
#[derive(Debug)]
pub(crate) struct Sock {
    pub pid: u32,
    pub inbox: VecDeque<Vec<u8>>,
    /// `pfk->registered`: bit `satype` set per registered SA type.
    pub registered: u32,
    pub promisc: bool,
}

/// `pfkey_broadcast`'s `broadcast_flags`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bcast {
    All,
    One,
    Registered,
    PromiscOnly,
}

/// The kernel's state.
#[derive(Debug)]
pub(crate) struct State {
    pub config: ModelConfig,
    pub clock: u64,
    pub sad: Vec<ModelSa>,
    pub spd: Vec<ModelPolicy>,
    pub counters: ModelCounters,
    pub sockets: Vec<Sock>,
    pub next_pid: u32,
}

impl State {
    fn new(config: ModelConfig) -> Self {
        State {
            config,
            clock: MODEL_EPOCH,
            sad: Vec::new(),
            spd: Vec::new(),
            counters: ModelCounters::default(),
            sockets: Vec::new(),
            next_pid: FIRST_PID,
        }
    }

    /// The next insertion order.
    pub(crate) fn order(&mut self) -> u64 {
        let o = self.counters.next_order;
        self.counters.next_order += 1;
        o
    }

    /// `get_acqseq`: a nonzero sequence number for kernel-originated requests.
    pub(crate) fn acq_seq(&mut self) -> u32 {
        self.counters.acq_seq = self.counters.acq_seq.wrapping_add(1).max(1);
        self.counters.acq_seq
    }

    /// A deterministic pseudo-random number (splitmix64).
    pub(crate) fn random(&mut self) -> u64 {
        self.counters.rng = self.counters.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.counters.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn push(sock: &mut Sock, bytes: &[u8]) {
        if sock.inbox.len() >= INBOX_LIMIT {
            tracing::warn!(pid = sock.pid, "model socket inbox full; message dropped");
            return;
        }
        sock.inbox.push_back(bytes.to_vec());
    }

    /// `pfkey_broadcast`: delivers `bytes` per `how`, plus a copy to every promiscuous socket.
    pub(crate) fn broadcast(&mut self, bytes: &[u8], how: Bcast, one: Option<u32>) {
        for s in &mut self.sockets {
            if s.promisc {
                Self::push(s, bytes);
            }
            if Some(s.pid) == one {
                continue;
            }
            let deliver = match how {
                Bcast::All => true,
                Bcast::Registered => s.registered != 0,
                Bcast::One | Bcast::PromiscOnly => false,
            };
            if deliver {
                Self::push(s, bytes);
            }
        }
        if let Some(pid) = one
            && let Some(s) = self.sockets.iter_mut().find(|s| s.pid == pid)
        {
            Self::push(s, bytes);
        }
    }

    /// Emits `m` and delivers it.
    pub(crate) fn send(&mut self, m: &Message<'_>, how: Bcast, one: Option<u32>) -> Handled {
        let bytes = m.to_bytes(Dialect::Linux).map_err(|e| {
            tracing::error!(error = %e, "model cannot emit its own message");
            libc::ENOBUFS
        })?;
        tracing::trace!(msg_type = %m.msg_type(), seq = m.header.seq, pid = m.header.pid, ?how, "model sends");
        self.broadcast(&bytes, how, one);
        Ok(())
    }

    /// Processes one datagram from socket `pid` (`pfkey_sendmsg`).
    fn process(&mut self, pid: u32, bytes: &[u8]) -> Result<(), KernelError> {
        let hdr = base_header(bytes)?;
        let msg_type = MessageType::from(hdr.msg_type);
        self.broadcast(bytes, Bcast::PromiscOnly, None);
        let result = match Message::parse_request(bytes, Dialect::Linux) {
            Ok(m) => self.dispatch(pid, &m, bytes),
            // The header passed `pfkey_get_base_msg`; trailing bytes that are not a whole word
            // reach `parse_exthdrs`, which answers EINVAL.
            Err(e) if matches!(e.rule, Rule::LengthMismatch { .. }) => Err(libc::EINVAL),
            Err(e) => {
                tracing::debug!(error = %e, "model rejects a malformed message");
                Err(e.errno())
            }
        };
        if let Err(errno) = result {
            tracing::debug!(%msg_type, seq = hdr.seq.get(), errno, "model answers an error");
            let reply = Message::new(msg_type, SaType::from(hdr.satype))
                .with_seq(hdr.seq.get())
                .with_pid(hdr.pid.get())
                .with_errno(u8::try_from(errno).unwrap_or(libc::EINVAL as u8));
            // An error reply is the request's header: it cannot fail to emit.
            let _ = self.send(&reply, Bcast::One, Some(pid));
        }
        Ok(())
    }

    fn dispatch(&mut self, pid: u32, m: &Message<'_>, raw: &[u8]) -> Handled {
        use MessageType as T;
        tracing::debug!(msg_type = %m.msg_type(), seq = m.header.seq, pid, "model processes");
        match m.msg_type() {
            T::GetSpi => self.getspi(pid, m),
            T::Update | T::Add => self.add_or_update(m),
            T::Delete => self.delete(m),
            T::Get => self.get(pid, m),
            T::Acquire => self.user_acquire(m),
            T::Register => self.register(pid, m),
            T::Flush => self.flush(pid, m),
            T::Dump => self.dump(pid, m),
            T::XPromisc => self.promisc(pid, m, raw),
            T::XSpdUpdate | T::XSpdAdd | T::XSpdSetIdx => self.spdadd(m),
            T::XSpdDelete => self.spddelete(m),
            T::XSpdGet | T::XSpdDelete2 => self.spdget(pid, m),
            T::XSpdDump => self.spddump(pid, m),
            T::XSpdFlush => self.spdflush(pid, m),
            T::XMigrate => self.migrate(pid, m),
            // EXPIRE, X_PCHANGE, X_SPDACQUIRE, X_SPDEXPIRE, X_NAT_T_NEW_MAPPING: no handler.
            _ => Err(libc::EOPNOTSUPP),
        }
    }

    /// `pfkey_promisc`.
    fn promisc(&mut self, _pid: u32, m: &Message<'_>, raw: &[u8]) -> Handled {
        if m.extensions.is_empty() {
            let on = u8::from(m.header.satype);
            if on > 1 {
                return Err(libc::EINVAL);
            }
            if let Some(s) = self.sockets.iter_mut().find(|s| s.pid == _pid) {
                s.promisc = on == 1;
            }
            let echo = m.clone().into_owned().with_errno(0);
            self.send(&echo, Bcast::All, None)
        } else {
            self.broadcast(raw, Bcast::All, None);
            Ok(())
        }
    }

    /// `pfkey_register`.
    fn register(&mut self, pid: u32, m: &Message<'_>) -> Handled {
        let satype = u8::from(m.header.satype);
        if satype > 9 {
            return Err(libc::EINVAL);
        }
        if satype != 0 {
            let sock = self.sockets.iter_mut().find(|s| s.pid == pid).ok_or(libc::EINVAL)?;
            if sock.registered & (1 << satype) != 0 {
                return Err(libc::EEXIST);
            }
            sock.registered |= 1 << satype;
        }
        let reply = Message::new(MessageType::Register, m.header.satype)
            .with_seq(m.header.seq)
            .with_pid(m.header.pid)
            .with(crate::message::Extension::SupportedAuth(crate::message::Supported {
                reserved: 0,
                algs: algs::supported_auth().into(),
            }))
            .with(crate::message::Extension::SupportedEncrypt(crate::message::Supported {
                reserved: 0,
                algs: algs::supported_encrypt().into(),
            }));
        self.send(&reply, Bcast::Registered, Some(pid))
    }

    /// `unicast_flush_resp`: the request's header back to the requester.
    pub(crate) fn header_echo(&mut self, pid: u32, m: &Message<'_>) -> Handled {
        let echo = Message::new(m.msg_type(), m.header.satype).with_seq(m.header.seq).with_pid(m.header.pid);
        self.send(&echo, Bcast::One, Some(pid))
    }
}

/// `pfkey_get_base_msg`: the base-header checks that fail `write()` itself.
fn base_header(bytes: &[u8]) -> Result<SadbMsg, KernelError> {
    let Ok((h, _)) = SadbMsg::read_from_prefix(bytes) else {
        return Err(KernelError::Errno { op: "PF_KEY write", errno: libc::EMSGSIZE });
    };
    let op = MessageType::from(h.msg_type).name().unwrap_or("PF_KEY write");
    if h.version != PF_KEY_V2 || h.reserved.get() != 0 || h.msg_type == 0 || h.msg_type > MessageType::MAX {
        return Err(KernelError::Errno { op, errno: libc::EINVAL });
    }
    let words = h.len.get() as usize;
    if words != bytes.len() / 8 || words < 2 {
        return Err(KernelError::Errno { op, errno: libc::EMSGSIZE });
    }
    Ok(h)
}

/// `present_and_same_family(SRC, DST)`: both present (the parser has checked the families).
pub(crate) fn src_dst<'a>(m: &Message<'a>) -> Result<(Address<'a>, Address<'a>), Errno> {
    match (m.address(ExtKind::AddressSrc), m.address(ExtKind::AddressDst)) {
        (Some(s), Some(d)) if s.addr.is_v6() == d.addr.is_v6() => Ok((s, d)),
        _ => Err(libc::EINVAL),
    }
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

/// One in-memory kernel: SAD, SPD and open sockets. Cloning gives another handle to the same
/// kernel.
#[derive(Clone)]
pub struct ModelKernel {
    shared: Arc<Shared>,
}

impl core::fmt::Debug for ModelKernel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = self.lock();
        f.debug_struct("ModelKernel")
            .field("config", &s.config)
            .field("sas", &s.sad.len())
            .field("policies", &s.spd.len())
            .field("sockets", &s.sockets.len())
            .finish()
    }
}

impl Default for ModelKernel {
    fn default() -> Self {
        Self::new()
    }
}

impl ModelKernel {
    /// An empty kernel with the default [`ModelConfig`].
    pub fn new() -> Self {
        Self::with_config(ModelConfig::default())
    }

    /// An empty kernel imitating `config`.
    pub fn with_config(config: ModelConfig) -> Self {
        Self::from_state(State::new(config))
    }

    fn from_state(state: State) -> Self {
        ModelKernel { shared: Arc::new(Shared { state: Mutex::new(state), wake: Condvar::new() }) }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the state and wakes receivers (messages may have been queued).
    pub(crate) fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let out = f(&mut self.lock());
        self.shared.wake.notify_all();
        out
    }

    /// The kernel imitated.
    pub fn config(&self) -> ModelConfig {
        self.lock().config
    }

    /// Changes the kernel imitated (the tables are kept).
    pub fn set_config(&self, config: ModelConfig) {
        self.lock().config = config;
    }

    /// Opens a PF_KEY socket (pids are unique, starting at [`FIRST_PID`]).
    pub fn socket(&self) -> ModelSocket {
        let pid = self.with_state(|s| {
            let pid = s.next_pid;
            s.next_pid += 1;
            s.sockets.push(Sock { pid, inbox: VecDeque::new(), registered: 0, promisc: false });
            pid
        });
        tracing::debug!(pid, "model socket opened");
        ModelSocket { kernel: self.clone(), pid }
    }

    /// The SAD, oldest first.
    pub fn sad(&self) -> Vec<ModelSa> {
        let mut v = self.lock().sad.clone();
        v.sort_by_key(|s| s.order);
        v
    }

    /// The SPD, oldest first.
    pub fn spd(&self) -> Vec<ModelPolicy> {
        let mut v = self.lock().spd.clone();
        v.sort_by_key(|p| p.order);
        v
    }

    /// The model clock (seconds; starts at [`MODEL_EPOCH`]).
    pub fn now(&self) -> u64 {
        self.lock().clock
    }

    /// Everything but the sockets, for saving.
    pub fn snapshot(&self) -> ModelSnapshot {
        let s = self.lock();
        let mut sad = s.sad.clone();
        sad.sort_by_key(|x| x.order);
        let mut spd = s.spd.clone();
        spd.sort_by_key(|p| p.order);
        ModelSnapshot { config: s.config, clock: s.clock, sad, spd, counters: s.counters }
    }

    /// A kernel with the tables, clock and generators of `snapshot` and no sockets.
    pub fn restore(snapshot: ModelSnapshot) -> ModelKernel {
        let mut state = State::new(snapshot.config);
        state.clock = snapshot.clock;
        state.sad = snapshot.sad;
        state.spd = snapshot.spd;
        state.counters = snapshot.counters;
        let next = state.sad.iter().map(|s| s.order).chain(state.spd.iter().map(|p| p.order)).max().unwrap_or(0) + 1;
        state.counters.next_order = state.counters.next_order.max(next);
        Self::from_state(state)
    }
}

/// A PF_KEY socket into a [`ModelKernel`].
pub struct ModelSocket {
    kernel: ModelKernel,
    pid: u32,
}

impl core::fmt::Debug for ModelSocket {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ModelSocket").field("pid", &self.pid).finish()
    }
}

impl ModelSocket {
    /// The kernel this socket belongs to.
    pub fn kernel(&self) -> &ModelKernel {
        &self.kernel
    }

    /// How many messages wait in this socket's inbox.
    pub fn pending(&self) -> usize {
        self.kernel.lock().sockets.iter().find(|s| s.pid == self.pid).map_or(0, |s| s.inbox.len())
    }
}

impl Drop for ModelSocket {
    fn drop(&mut self) {
        let pid = self.pid;
        self.kernel.lock().sockets.retain(|s| s.pid != pid);
        tracing::debug!(pid, "model socket closed");
    }
}

impl Channel for ModelSocket {
    fn pid(&self) -> u32 {
        self.pid
    }

    fn send(&mut self, msg: &[u8]) -> Result<(), KernelError> {
        let pid = self.pid;
        self.kernel.with_state(|s| s.process(pid, msg))
    }

    fn recv(&mut self, buf: &mut Vec<u8>, timeout: Option<Duration>) -> Result<bool, KernelError> {
        buf.clear();
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut state = self.kernel.lock();
        loop {
            let Some(sock) = state.sockets.iter_mut().find(|s| s.pid == self.pid) else {
                return Err(KernelError::Io(std::io::Error::from(std::io::ErrorKind::NotConnected)));
            };
            if let Some(m) = sock.inbox.pop_front() {
                buf.extend_from_slice(&m);
                return Ok(true);
            }
            state = match deadline {
                None => self.kernel.shared.wake.wait(state).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Ok(false);
                    }
                    self.kernel.shared.wake.wait_timeout(state, d - now).unwrap_or_else(|p| p.into_inner()).0
                }
            };
        }
    }

    fn backend_name(&self) -> &'static str {
        "model"
    }
}

//! `PfKeyKernel`: the [`Kernel`] operations over any PF_KEY [`Channel`].
//!
//! One request is in flight at a time (every operation takes `&mut self`). A request gets a
//! fresh `sadb_msg_seq` and the channel's pid; its answer is recognised as Linux sends it
//! (`net/key/af_key.c`):
//!
//! - a reply carries the request's type, seq and pid; successes are broadcast to every socket,
//!   errors (a 16-byte header with `sadb_msg_errno`) go to the requester only;
//! - a dump answers with one message per entry (the request's pid, seqs counting up from 1) and
//!   marks the last one with seq 0; an empty SAD/SPD is an `ENOENT` error reply;
//! - `SADB_X_MIGRATE` has no reply on stock Linux: success is the seq-0/pid-0 `SADB_X_MIGRATE`
//!   broadcast that `km_migrate` sends to every socket before the request's `send` returns, and
//!   failure is an error reply. A kernel that does answer the requester is accepted too.
//!
//! Every other message that arrives while a request waits (ACQUIREs, EXPIREs, other sockets'
//! broadcasts, late replies) is decoded into a [`KernelEvent`] and queued for
//! [`Kernel::next_event`] / [`PfKeyKernel::poll_event`], so nothing is lost.
//!
//! In promiscuous mode Linux also echoes each request back to its sender before processing it and
//! delivers every message a promiscuous socket was meant to get twice ("you receive it twice as
//! promiscuous socket"); the echo of the request in flight and back-to-back identical copies are
//! dropped here.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::{
    Capabilities, Channel, GetSpi, Kernel, KernelError, KernelEvent, MoveMechanism, MoveOutcome, SaEntry, SaId, Support,
};
use crate::message::{
    self, Endpoints, Message, Migrate, MigrateBundle, NatT, ParseError, PolicySpec, SaSpec, Selector, SockAddr,
    UpdateAddresses,
};
use crate::socket::PfKeySocket;
use crate::wire::Dialect;
use crate::wire::numbers::{
    AuthAlg, EncryptAlg, ExtKind, IPSEC_ULPROTO_ANY, MessageType, Mode, NatTType, PolicyDir, SaType,
};

/// How long a request waits for its answer unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How many undelivered events are kept; beyond it the oldest are dropped (and counted).
pub const MAX_QUEUED_EVENTS: usize = 4096;

/// `ENOENT`: what Linux answers a dump of an empty database with.
const ENOENT: u8 = libc::ENOENT as u8;

/// Hands every [`PfKeyKernel::open`]ed socket its own seq range (`n << 24`), so that two sockets
/// of one process (same pid) never wait for the same (seq, pid, type) broadcast.
static NEXT_SEQ_BLOCK: AtomicU32 = AtomicU32::new(0);

/// The typed kernel operations over a PF_KEY channel.
#[derive(Debug)]
pub struct PfKeyKernel<C> {
    channel: C,
    dialect: Dialect,
    timeout: Duration,
    next_seq: u32,
    events: VecDeque<KernelEvent>,
    buf: Vec<u8>,
    /// Whether the socket is promiscuous (so the kernel echoes our requests to us).
    promisc: bool,
    /// Whether back-to-back identical messages are dropped as promiscuous duplicates.
    dedup: bool,
    last_rx: Vec<u8>,
    /// Type and seq of the last request answered to our pid: Linux answers a FLUSH and an
    /// SPDFLUSH twice (`unicast_flush_resp` to the requester, then the broadcast to all), and
    /// the second copy is no event.
    answered: Option<(MessageType, u32)>,
    /// A MIGRATE the kernel acknowledged to us directly (patched kernel): its seq-0 broadcast,
    /// which follows the reply, reports our own move and is no event.
    own_migrate: Option<Migrate>,
    /// Whether the last successful MIGRATE was answered to us (a patched kernel); `None` before.
    migrate_replies: Option<bool>,
    /// What the kernel supports, once probed.
    capabilities: Option<Capabilities>,
    malformed: u64,
    dropped_events: u64,
}

/// What a waiting request makes of one received message.
enum Step<T> {
    /// Not for this request: queue it as an event.
    Unrelated,
    /// Part of the answer (a dump entry); keep reading.
    Consumed,
    /// The answer.
    Done(Result<T, KernelError>),
    /// An answer, unless a better one is already queued behind it: the messages already received
    /// are read (without waiting) and a `Done` among them wins.
    Tentative(Result<T, KernelError>),
}

/// The raw base-header fields, readable even when the message does not parse.
#[derive(Debug, Clone, Copy)]
struct RawHeader {
    msg_type: u8,
    errno: u8,
    seq: u32,
    pid: u32,
}

impl RawHeader {
    fn read(b: &[u8]) -> Option<RawHeader> {
        let b: &[u8; 16] = b.get(..16)?.try_into().ok()?;
        Some(RawHeader {
            msg_type: b[1],
            errno: b[2],
            seq: u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
            pid: u32::from_ne_bytes([b[12], b[13], b[14], b[15]]),
        })
    }
}

/// The C name of a message type, for errors and logs.
fn op_name(t: MessageType) -> &'static str {
    t.name().unwrap_or("SADB_?")
}

impl<C: Channel> PfKeyKernel<C> {
    /// The kernel operations over `channel` (Linux dialect, [`DEFAULT_TIMEOUT`], seqs from 1).
    pub fn new(channel: C) -> Self {
        PfKeyKernel {
            channel,
            dialect: Dialect::Linux,
            timeout: DEFAULT_TIMEOUT,
            next_seq: 1,
            events: VecDeque::new(),
            buf: Vec::new(),
            promisc: false,
            dedup: false,
            last_rx: Vec::new(),
            answered: None,
            own_migrate: None,
            migrate_replies: None,
            capabilities: None,
            malformed: 0,
            dropped_events: 0,
        }
    }

    /// Sets how long a request waits for its answer.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the dialect messages are encoded and parsed in (Linux unless told otherwise).
    pub fn with_dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = dialect;
        self
    }

    /// Sets the next `sadb_msg_seq` (0 is skipped: it marks kernel-originated messages and the
    /// end of a dump).
    pub fn with_seq_start(mut self, seq: u32) -> Self {
        self.next_seq = seq.max(1);
        self
    }

    /// Changes the request timeout.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The dialect in use.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The channel (for its descriptor, to register it with an event loop).
    pub fn channel(&self) -> &C {
        &self.channel
    }

    /// The channel, mutably. Messages read from it directly bypass correlation and the event
    /// queue.
    pub fn channel_mut(&mut self) -> &mut C {
        &mut self.channel
    }

    /// Gives the channel back (queued events are dropped).
    pub fn into_channel(self) -> C {
        self.channel
    }

    /// How many events are queued (an event loop drains them with [`PfKeyKernel::poll_event`]
    /// after every request, since requests read the channel too).
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    /// How many messages from the kernel could not be parsed (and were dropped, with a warning).
    pub fn malformed_count(&self) -> u64 {
        self.malformed
    }

    /// How many events were dropped because the queue held [`MAX_QUEUED_EVENTS`].
    pub fn dropped_event_count(&self) -> u64 {
        self.dropped_events
    }

    /// The next queued or already-received event, without waiting.
    pub fn poll_event(&mut self) -> Result<Option<KernelEvent>, KernelError> {
        self.next_event(Some(Duration::ZERO))
    }

    /// Decodes one message that an event loop read from the channel itself. `Ok(None)`: the
    /// message is no event (a repeat of the answer to our last request).
    ///
    /// Drain [`PfKeyKernel::poll_event`] first: events that arrived during requests are queued
    /// there and are older than `bytes`.
    pub fn handle_incoming(&mut self, bytes: &[u8]) -> Result<Option<KernelEvent>, KernelError> {
        let msg = Message::parse(bytes, self.dialect).inspect_err(|_| self.malformed += 1)?;
        if self.is_repeated_answer(&msg, self.channel.pid()) {
            return Ok(None);
        }
        Ok(Some(KernelEvent::from_message(msg)))
    }

    fn alloc_seq(&mut self) -> u32 {
        let seq = self.next_seq;
        self.next_seq = match seq.wrapping_add(1) {
            0 => 1,
            n => n,
        };
        seq
    }

    fn queue_event(&mut self, ev: KernelEvent) {
        if self.events.len() >= MAX_QUEUED_EVENTS {
            self.events.pop_front();
            self.dropped_events += 1;
            tracing::warn!(queued = MAX_QUEUED_EVENTS, "PF_KEY event queue full, dropped the oldest event");
        }
        self.events.push_back(ev);
    }

    /// Reads the next message into `self.buf`; `Ok(false)` when `deadline` passes first.
    fn read_next(&mut self, deadline: Option<Instant>) -> Result<bool, KernelError> {
        loop {
            let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if !self.channel.recv(&mut self.buf, timeout)? {
                return Ok(false);
            }
            if self.dedup {
                if self.buf == self.last_rx {
                    tracing::trace!(len = self.buf.len(), "dropped the promiscuous duplicate");
                    continue;
                }
                self.last_rx.clone_from(&self.buf);
            }
            return Ok(true);
        }
    }

    /// Parses `self.buf` into an owned message; a malformed one is counted and logged.
    fn parse_buf(&mut self) -> Result<Message<'static>, ParseError> {
        match Message::parse(&self.buf, self.dialect) {
            Ok(m) => Ok(m.into_owned()),
            Err(e) => {
                self.malformed += 1;
                let h = RawHeader::read(&self.buf);
                tracing::warn!(
                    error = %e,
                    len = self.buf.len(),
                    seq = h.map(|h| h.seq),
                    msg_type = h.map(|h| h.msg_type),
                    "malformed PF_KEY message"
                );
                Err(e)
            }
        }
    }

    /// Sends `msg` with a fresh seq and our pid and reads until `on_msg` finds the answer.
    fn transact<T>(
        &mut self,
        mut msg: Message<'static>,
        mut on_msg: impl FnMut(&Message<'static>, u32, u32) -> Step<T>,
    ) -> Result<T, KernelError> {
        let op = op_name(msg.msg_type());
        let seq = self.alloc_seq();
        let pid = self.channel.pid();
        msg.header.seq = seq;
        msg.header.pid = pid;
        let bytes = msg.to_bytes(self.dialect)?;
        let spi = msg.sa().map(|s| s.spi);
        tracing::debug!(op, seq, pid, spi = spi.map(|s| format!("{s:#010x}")), "PF_KEY request");
        match self.channel.send(&bytes) {
            Err(KernelError::Errno { errno, .. }) => {
                tracing::debug!(op, seq, errno, "PF_KEY send refused");
                return Err(KernelError::Errno { op, errno });
            }
            other => other?,
        }
        let mut echo_expected = self.promisc;
        let deadline = Instant::now().checked_add(self.timeout);
        let mut tentative: Option<Result<T, KernelError>> = None;
        loop {
            // With a tentative answer in hand, only what is already queued can still change it.
            let until = if tentative.is_some() { Some(Instant::now()) } else { deadline };
            if !self.read_next(until)? {
                if let Some(r) = tentative {
                    return r;
                }
                tracing::debug!(op, seq, timeout = ?self.timeout, "PF_KEY request timed out");
                return Err(KernelError::Timeout { op, timeout: self.timeout });
            }
            if echo_expected && self.buf == bytes {
                // The promiscuous echo of our own request, sent before the kernel processed it.
                echo_expected = false;
                self.last_rx.clear();
                continue;
            }
            let reply = match self.parse_buf() {
                Ok(reply) => reply,
                // Unparseable: fail the request if it is its answer, else drop it.
                Err(e) => match RawHeader::read(&self.buf) {
                    Some(h) if h.seq == seq && h.pid == pid && h.msg_type == u8::from(msg.msg_type()) => {
                        return Err(match h.errno {
                            0 => e.into(),
                            errno => KernelError::Errno { op, errno: i32::from(errno) },
                        });
                    }
                    _ => continue,
                },
            };
            if self.is_repeated_answer(&reply, pid) {
                continue;
            }
            match on_msg(&reply, seq, pid) {
                Step::Done(r) => {
                    if r.is_ok() && (reply.msg_type(), reply.header.seq, reply.header.pid) == (msg.msg_type(), seq, pid)
                    {
                        self.answered = Some((msg.msg_type(), seq));
                    }
                    match &r {
                        Ok(_) => tracing::debug!(op, seq, spi = spi.map(|s| format!("{s:#010x}")), "PF_KEY reply"),
                        Err(e) => tracing::debug!(op, seq, error = %e, "PF_KEY request failed"),
                    }
                    return r;
                }
                Step::Tentative(r) => tentative = Some(r),
                Step::Consumed => {}
                Step::Unrelated => {
                    tracing::trace!(
                        op,
                        seq,
                        got_type = %reply.msg_type(),
                        got_seq = reply.header.seq,
                        got_pid = reply.header.pid,
                        "queued an unrelated PF_KEY message"
                    );
                    self.queue_event(KernelEvent::from_message(reply));
                }
            }
        }
    }

    /// Whether `m` is another copy of the answer to our last request (dropped, not an event).
    fn is_repeated_answer(&mut self, m: &Message<'_>, pid: u32) -> bool {
        if m.msg_type() == MessageType::XMigrate
            && (m.header.seq, m.header.pid, m.errno()) == (0, 0, 0)
            && let Some(own) = &self.own_migrate
            && Migrate::from_message(m).is_ok_and(|got| migrate_reports(own, &got))
        {
            tracing::trace!("dropped the broadcast of our own acknowledged MIGRATE");
            self.own_migrate = None;
            return true;
        }
        let repeated = self.answered == Some((m.msg_type(), m.header.seq)) && m.header.pid == pid && m.errno() == 0;
        if repeated {
            tracing::trace!(seq = m.header.seq, msg_type = %m.msg_type(), "dropped a repeated answer");
        }
        repeated
    }

    /// Probes the mobility extensions with two requests that fail whatever the kernel is, and
    /// change nothing, but fail differently with and without the extension (addresses from the
    /// documentation ranges, SPI 1 from the range IANA reserves, so no real SA or policy matches):
    /// - a keyless `SADB_UPDATE` of SPI 1 with `SADB_X_EXT_NEW_ADDRESS_DST`: the extension looks
    ///   the SA up and answers `ESRCH`; stock Linux skips the unknown extension and refuses an
    ///   ESP UPDATE without keys with `EINVAL`;
    /// - a `SADB_X_MIGRATE` with a NAT-T type and no ports: the extension refuses it with
    ///   `EINVAL` before any lookup; stock Linux ignores NAT-T and finds no policy (`ENOENT`);
    /// - an `SADB_ADD` of an AES-GCM SA with an authentication algorithm next to it: `EINVAL`
    ///   where AEAD is known, `ENOSYS` where it is not;
    /// - `SADB_UPDATE`s of SPI 1 (no such SA) marked movable in transport mode, and in tunnel mode
    ///   with `SADB_X_EXT_INNER_ADDRESS_DST`: `EINVAL` where the flag or extension is known (it is
    ///   refused in that mode before the lookup), `ESRCH` where it is ignored.
    fn probe(&mut self) -> Result<Capabilities, KernelError> {
        let ip = |s: &str| SockAddr::new(s.parse().expect("a literal address"));
        let verdict = |r: Result<MoveOutcome, KernelError>, yes: i32, no: i32| match r {
            Err(KernelError::Errno { errno, .. }) if errno == yes => Ok(Support::Yes),
            Err(KernelError::Errno { errno, .. }) if errno == no => Ok(Support::No),
            Err(e @ (KernelError::Io(_) | KernelError::NoPfKey(_) | KernelError::Timeout { .. })) => Err(e),
            other => {
                tracing::warn!(?other, "unexpected answer to a capability probe");
                Ok(Support::Unknown)
            }
        };
        let update = UpdateAddresses {
            satype: SaType::Esp,
            spi: 1,
            src: ip("192.0.2.1"),
            dst: ip("192.0.2.2"),
            mode: Mode::Any,
            reqid: 0,
            new_src: None,
            new_dst: Some(ip("192.0.2.3")),
            natt: None,
        };
        let update_addresses = verdict(self.update_addresses(&update), libc::ESRCH, libc::EINVAL)?;
        let migrate = Migrate {
            selector: Selector::new(ip("192.0.2.255"), 32, ip("198.51.100.255"), 32),
            dir: PolicyDir::Outbound,
            kmaddress: None,
            bundles: vec![MigrateBundle::new(
                crate::wire::numbers::IPPROTO_ESP,
                Mode::Tunnel,
                0,
                Endpoints { src: ip("192.0.2.1"), dst: ip("192.0.2.2") },
                Endpoints { src: ip("192.0.2.3"), dst: ip("192.0.2.4") },
            )],
            natt: Some(NatT { nat_t_type: NatTType::EspInUdp, sport: 0, dport: 0 }),
        };
        let migrate_natt = verdict(self.migrate(&migrate), libc::EINVAL, libc::ENOENT)?;
        // An AES-GCM SA that also names an authentication algorithm: refused with EINVAL where
        // AEAD is known, with ENOSYS where only ciphers are (the GCM number is unknown there).
        let mut gcm = SaSpec::esp_tunnel_gcm(1, ip("192.0.2.1"), ip("192.0.2.2"), 0, &[0; 4]);
        gcm.auth = Some(message::AlgKey::new(AuthAlg::Sha2_256Hmac, &[0; 32]));
        let aead = match self.add_sa(&gcm) {
            Err(KernelError::Errno { errno, .. }) if errno == libc::EINVAL => Support::Yes,
            Err(KernelError::Errno { errno, .. }) if errno == libc::ENOSYS => Support::No,
            Err(e @ (KernelError::Io(_) | KernelError::NoPfKey(_) | KernelError::Timeout { .. })) => return Err(e),
            other => {
                tracing::warn!(?other, "unexpected answer to the AEAD probe");
                if other.is_ok() {
                    // Accepted after all: take the probe's SA away again.
                    let id = SaId { satype: SaType::Esp, spi: 1, src: gcm.src, dst: gcm.dst };
                    self.delete_sa(&id)?;
                }
                Support::Unknown
            }
        };
        // SADB_UPDATE of an SA that does not exist, marked movable in transport mode: a kernel
        // with movable SAs refuses the flag there (EINVAL) while it builds the state, before it
        // looks for the SA; one without ignores the flag and finds no SA (ESRCH). Neither adds,
        // changes or deletes anything.
        let movable = SaSpec {
            mode: Mode::Transport,
            auth: Some(message::AlgKey::new(AuthAlg::Sha2_256Hmac, &[0; 32])),
            encrypt: Some(message::AlgKey::new(EncryptAlg::AesCbc, &[0; 16])),
            ..SaSpec::esp_tunnel_gcm(1, ip("192.0.2.1"), ip("192.0.2.2"), 0, &[0; 4])
        }
        .movable();
        let movable_inbound = match self.update_sa(&movable) {
            Err(KernelError::Errno { errno, .. }) if errno == libc::EINVAL => Support::Yes,
            Err(KernelError::Errno { errno, .. }) if errno == libc::ESRCH => Support::No,
            Err(e @ (KernelError::Io(_) | KernelError::NoPfKey(_) | KernelError::Timeout { .. })) => return Err(e),
            other => {
                tracing::warn!(?other, "unexpected answer to the movable-SA probe");
                Support::Unknown
            }
        };
        // SADB_UPDATE of an SA that does not exist, in tunnel mode with a BEET inner destination:
        // a kernel with SADB_X_EXT_INNER_ADDRESS_DST refuses it outside BEET mode (EINVAL) while
        // it builds the state; one without skips the unknown extension and finds no SA (ESRCH).
        let beet = SaSpec {
            mode: Mode::Tunnel,
            auth: Some(message::AlgKey::new(AuthAlg::Sha2_256Hmac, &[0; 32])),
            encrypt: Some(message::AlgKey::new(EncryptAlg::AesCbc, &[0; 16])),
            inner: Some(message::BeetInner::new(ip("192.0.2.5"), ip("192.0.2.6"))),
            ..SaSpec::esp_tunnel_gcm(1, ip("192.0.2.1"), ip("192.0.2.2"), 0, &[0; 4])
        };
        let beet_inner = match self.update_sa(&beet) {
            Err(KernelError::Errno { errno, .. }) if errno == libc::EINVAL => Support::Yes,
            Err(KernelError::Errno { errno, .. }) if errno == libc::ESRCH => Support::No,
            Err(e @ (KernelError::Io(_) | KernelError::NoPfKey(_) | KernelError::Timeout { .. })) => return Err(e),
            other => {
                tracing::warn!(?other, "unexpected answer to the BEET inner-address probe");
                Support::Unknown
            }
        };
        let caps = Capabilities {
            update_addresses,
            migrate_natt,
            migrate_reply: Support::Unknown,
            aead,
            movable_inbound,
            beet_inner,
        };
        tracing::debug!(?caps, "probed the PF_KEY mobility extensions");
        Ok(caps)
    }

    /// A request answered by one reply of the same type, seq and pid.
    fn request(&mut self, msg: Message<'static>) -> Result<Message<'static>, KernelError> {
        let ty = msg.msg_type();
        let op = op_name(ty);
        self.transact(msg, |m, seq, pid| {
            if m.msg_type() != ty || m.header.seq != seq || m.header.pid != pid {
                Step::Unrelated
            } else if m.errno() != 0 {
                Step::Done(Err(KernelError::Errno { op, errno: i32::from(m.errno()) }))
            } else {
                Step::Done(Ok(m.clone()))
            }
        })
    }

    /// A dump: every message of the dump's type with our pid until one with seq 0; an `ENOENT`
    /// error reply is an empty database.
    fn dump(&mut self, msg: Message<'static>) -> Result<Vec<Message<'static>>, KernelError> {
        let ty = msg.msg_type();
        let op = op_name(ty);
        let mut entries = Vec::new();
        self.transact(msg, |m, seq, pid| {
            if m.msg_type() != ty || m.header.pid != pid {
                return Step::Unrelated;
            }
            if m.errno() != 0 && (m.header.seq == seq || m.header.seq == 0) {
                // The request's own error reply, or a walk that failed part way (the last dump
                // message carries the walk's error).
                return Step::Done(match m.errno() {
                    ENOENT if entries.is_empty() && m.extensions.is_empty() => Ok(Vec::new()),
                    e => Err(KernelError::Errno { op, errno: i32::from(e) }),
                });
            }
            if m.extensions.is_empty() {
                // A header-only message is no entry (a late reply of an earlier request).
                return Step::Unrelated;
            }
            entries.push(m.clone());
            if m.header.seq == 0 { Step::Done(Ok(std::mem::take(&mut entries))) } else { Step::Consumed }
        })
    }
}

impl PfKeyKernel<PfKeySocket> {
    /// Opens a `PF_KEY` socket ([`PfKeySocket::open`]) and wraps it. Each socket opened this way
    /// gets its own range of seqs, so that several sockets of one process do not take each
    /// other's broadcast replies.
    pub fn open() -> Result<Self, KernelError> {
        let block = NEXT_SEQ_BLOCK.fetch_add(1, Ordering::Relaxed) & 0xff;
        Ok(PfKeyKernel::new(PfKeySocket::open()?).with_seq_start((block << 24) | 1))
    }
}

impl<C: Channel + Default> Default for PfKeyKernel<C> {
    fn default() -> Self {
        PfKeyKernel::new(C::default())
    }
}

fn bad_reply(op: &'static str, detail: impl Into<String>) -> KernelError {
    KernelError::BadReply { op, detail: detail.into() }
}

fn sa_entry(m: &Message<'_>) -> Option<SaEntry> {
    Some(SaEntry { spec: SaSpec::from_message(m)?, current: m.lifetime(ExtKind::LifetimeCurrent) })
}

/// Whether two selectors name the same traffic as Linux compares them (protocol 255 is stored as
/// 0; addresses and ports, not sockaddr padding).
fn same_selector(a: &Selector, b: &Selector) -> bool {
    let proto = |p: u8| if p == IPSEC_ULPROTO_ANY { 0 } else { p };
    let addr = |s: &SockAddr| (s.ip(), s.port());
    addr(&a.src) == addr(&b.src)
        && addr(&a.dst) == addr(&b.dst)
        && a.src_prefixlen == b.src_prefixlen
        && a.dst_prefixlen == b.dst_prefixlen
        && proto(a.proto) == proto(b.proto)
}

/// Whether two bundles are the same move (Linux reports `ANY` mode as transport and derives the
/// level from the reqid).
fn same_bundle(a: &MigrateBundle, b: &MigrateBundle) -> bool {
    let mode = |m: Mode| if m == Mode::Any { Mode::Transport } else { m };
    a.proto == b.proto
        && mode(a.mode) == mode(b.mode)
        && a.reqid == b.reqid
        && a.old.src.ip() == b.old.src.ip()
        && a.old.dst.ip() == b.old.dst.ip()
        && a.new.src.ip() == b.new.src.ip()
        && a.new.dst.ip() == b.new.dst.ip()
}

/// Whether `got` (a MIGRATE broadcast) reports the migration `req` asked for.
pub fn migrate_reports(req: &Migrate, got: &Migrate) -> bool {
    same_selector(&req.selector, &got.selector)
        && req.dir == got.dir
        && req.bundles.len() == got.bundles.len()
        && req.bundles.iter().zip(&got.bundles).all(|(a, b)| same_bundle(a, b))
}

impl<C: Channel> Kernel for PfKeyKernel<C> {
    fn backend(&self) -> &'static str {
        self.channel.backend_name()
    }

    fn getspi(&mut self, req: &GetSpi) -> Result<u32, KernelError> {
        let msg = message::getspi(req.satype, req.src, req.dst, (req.min, req.max), req.mode, req.reqid);
        let reply = self.request(msg)?;
        let spi = reply.sa().ok_or_else(|| bad_reply("SADB_GETSPI", "no SA extension"))?.spi;
        tracing::debug!(spi = format!("{spi:#010x}"), "SPI allocated");
        Ok(spi)
    }

    fn add_sa(&mut self, sa: &SaSpec) -> Result<(), KernelError> {
        self.request(message::add(sa)).map(drop)
    }

    fn update_sa(&mut self, sa: &SaSpec) -> Result<(), KernelError> {
        self.request(message::update(sa)).map(drop)
    }

    fn delete_sa(&mut self, id: &SaId) -> Result<(), KernelError> {
        self.request(message::delete(id.satype, id.spi, id.src, id.dst)).map(drop)
    }

    fn get_sa(&mut self, id: &SaId) -> Result<SaEntry, KernelError> {
        let reply = self.request(message::get(id.satype, id.spi, id.src, id.dst))?;
        sa_entry(&reply).ok_or_else(|| bad_reply("SADB_GET", "no SA or address extensions"))
    }

    fn dump_sas(&mut self, satype: SaType) -> Result<Vec<SaEntry>, KernelError> {
        let msgs = self.dump(message::dump(satype))?;
        msgs.iter()
            .enumerate()
            .map(|(i, m)| {
                sa_entry(m).ok_or_else(|| bad_reply("SADB_DUMP", format!("entry {i}: no SA or address extensions")))
            })
            .collect()
    }

    fn flush_sas(&mut self, satype: SaType) -> Result<(), KernelError> {
        self.request(message::flush(satype)).map(drop)
    }

    fn add_policy(&mut self, p: &PolicySpec) -> Result<u32, KernelError> {
        let reply = self.request(message::spdadd(p))?;
        reply.policy().map(|p| p.id).ok_or_else(|| bad_reply("SADB_X_SPDADD", "no X_POLICY extension"))
    }

    fn update_policy(&mut self, p: &PolicySpec) -> Result<u32, KernelError> {
        let reply = self.request(message::spdupdate(p))?;
        reply.policy().map(|p| p.id).ok_or_else(|| bad_reply("SADB_X_SPDUPDATE", "no X_POLICY extension"))
    }

    fn delete_policy(&mut self, selector: &Selector, dir: PolicyDir) -> Result<(), KernelError> {
        self.request(message::spddelete(selector, dir)).map(drop)
    }

    fn delete_policy_by_id(&mut self, id: u32, dir: PolicyDir) -> Result<(), KernelError> {
        self.request(message::spddelete2(id, dir)).map(drop)
    }

    fn get_policy(&mut self, id: u32, dir: PolicyDir) -> Result<PolicySpec, KernelError> {
        let reply = self.request(message::spdget(id, dir))?;
        PolicySpec::from_message(&reply).ok_or_else(|| bad_reply("SADB_X_SPDGET", "no X_POLICY or address extensions"))
    }

    fn dump_policies(&mut self) -> Result<Vec<PolicySpec>, KernelError> {
        let msgs = self.dump(message::spddump())?;
        msgs.iter()
            .enumerate()
            .map(|(i, m)| {
                PolicySpec::from_message(m)
                    .ok_or_else(|| bad_reply("SADB_X_SPDDUMP", format!("entry {i}: no X_POLICY or address extensions")))
            })
            .collect()
    }

    fn flush_policies(&mut self) -> Result<(), KernelError> {
        self.request(message::spdflush()).map(drop)
    }

    fn migrate(&mut self, m: &Migrate) -> Result<MoveOutcome, KernelError> {
        const OP: &str = "SADB_X_MIGRATE";
        let outcome = |acknowledged| MoveOutcome { mechanism: MoveMechanism::Migrate, acknowledged };
        // A patched kernel queues the seq-0/pid-0 broadcast and then our own answer, both before
        // our send returns; stock Linux sends only the broadcast. So the broadcast is a tentative
        // answer that our own reply, if already queued, confirms.
        let mut saw_broadcast = false;
        let result = self.transact(m.message(), |reply, seq, pid| {
            if reply.msg_type() != MessageType::XMigrate {
                return Step::Unrelated;
            }
            let h = &reply.header;
            if h.seq == seq && h.pid == pid {
                return Step::Done(match reply.errno() {
                    0 => Ok(outcome(true)),
                    e => Err(KernelError::Errno { op: OP, errno: i32::from(e) }),
                });
            }
            if h.seq == 0 && h.pid == 0 && reply.errno() == 0 && !saw_broadcast {
                match Migrate::from_message(reply) {
                    Ok(got) if migrate_reports(m, &got) => {
                        saw_broadcast = true;
                        return Step::Tentative(Ok(outcome(false)));
                    }
                    Ok(_) => {}
                    Err(rule) => tracing::debug!(%rule, "unreadable MIGRATE broadcast"),
                }
            }
            Step::Unrelated
        });
        if let Ok(o) = &result {
            self.migrate_replies = Some(o.acknowledged);
            // An answer that came before its broadcast: that broadcast is still to come.
            if o.acknowledged && !saw_broadcast {
                self.own_migrate = Some(m.clone());
            }
        }
        result
    }

    fn capabilities(&mut self) -> Result<Capabilities, KernelError> {
        let mut caps = match self.capabilities {
            Some(c) => c,
            None => {
                let c = self.probe()?;
                self.capabilities = Some(c);
                c
            }
        };
        caps.migrate_reply = self.migrate_replies.map_or(Support::Unknown, Support::from_bool);
        Ok(caps)
    }

    fn update_addresses(&mut self, u: &UpdateAddresses) -> Result<MoveOutcome, KernelError> {
        const OP: &str = "SADB_UPDATE";
        let reply = self.request(u.message())?;
        // A kernel that does not know SADB_X_EXT_NEW_ADDRESS_* skips them (unknown extension
        // types are ignored) and may then succeed without moving anything: only a reply that
        // echoes the new addresses, or reports the SA at them, proves the move.
        let moved = |new: Option<SockAddr>, echo: ExtKind, now: ExtKind| match new {
            None => true,
            Some(a) => [echo, now].iter().any(|&k| reply.address(k).is_some_and(|x| x.addr.ip() == a.ip())),
        };
        if !moved(u.new_src, ExtKind::NewAddressSrc, ExtKind::AddressSrc)
            || !moved(u.new_dst, ExtKind::NewAddressDst, ExtKind::AddressDst)
        {
            return Err(bad_reply(OP, "the kernel did not apply SADB_X_EXT_NEW_ADDRESS_SRC/DST (not supported?)"));
        }
        tracing::debug!(spi = format!("{:#010x}", u.spi), "SA addresses updated");
        Ok(MoveOutcome { mechanism: MoveMechanism::UpdateAddresses, acknowledged: true })
    }

    fn register(&mut self, satype: SaType) -> Result<Message<'static>, KernelError> {
        self.request(message::register(satype))
    }

    fn promisc(&mut self, on: bool) -> Result<(), KernelError> {
        // Turning it on, the kernel already treats us as promiscuous when it answers, so the
        // answer comes twice; turning it off, our request is echoed first.
        let was = self.promisc;
        self.dedup = was || on;
        let r = self.request(message::promisc(on)).map(drop);
        if r.is_ok() {
            self.promisc = on;
        }
        self.dedup = self.promisc;
        if !self.dedup {
            self.last_rx.clear();
        }
        r
    }

    fn next_event(&mut self, timeout: Option<Duration>) -> Result<Option<KernelEvent>, KernelError> {
        if let Some(ev) = self.events.pop_front() {
            return Ok(Some(ev));
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let forever = timeout.is_none() || deadline.is_none();
        loop {
            if !self.read_next(if forever { None } else { deadline })? {
                return Ok(None);
            }
            if let Ok(msg) = self.parse_buf()
                && !self.is_repeated_answer(&msg, self.channel.pid())
            {
                return Ok(Some(KernelEvent::from_message(msg)));
            }
        }
    }
}

impl KernelEvent {
    /// Decodes an asynchronous message: ACQUIRE, EXPIRE, X_MIGRATE, X_NAT_T_NEW_MAPPING and
    /// X_SPDEXPIRE when they carry what they must; anything else (or an incomplete one) is
    /// [`KernelEvent::Other`].
    pub fn from_message(msg: Message<'_>) -> KernelEvent {
        let decoded = match msg.header.msg_type {
            MessageType::Acquire => decode_acquire(&msg),
            MessageType::Expire => decode_expire(&msg),
            MessageType::XMigrate if msg.errno() == 0 => Migrate::from_message(&msg)
                .ok()
                .map(|migrate| KernelEvent::Migrate { migrate, seq: msg.header.seq, pid: msg.header.pid }),
            MessageType::XNatTNewMapping => decode_new_mapping(&msg),
            MessageType::XSpdExpire => PolicySpec::from_message(&msg).map(KernelEvent::SpdExpire),
            _ => None,
        };
        decoded.unwrap_or_else(|| KernelEvent::Other(msg.into_owned()))
    }
}

fn decode_acquire(msg: &Message<'_>) -> Option<KernelEvent> {
    Some(KernelEvent::Acquire {
        seq: msg.header.seq,
        satype: msg.header.satype,
        src: msg.address(ExtKind::AddressSrc)?.addr,
        dst: msg.address(ExtKind::AddressDst)?.addr,
        policy_id: msg.policy().map(|p| p.id),
    })
}

fn decode_expire(msg: &Message<'_>) -> Option<KernelEvent> {
    Some(KernelEvent::Expire {
        id: SaId {
            satype: msg.header.satype,
            spi: msg.sa()?.spi,
            src: msg.address(ExtKind::AddressSrc)?.addr,
            dst: msg.address(ExtKind::AddressDst)?.addr,
        },
        hard: msg.has(ExtKind::LifetimeHard),
        current: msg.lifetime(ExtKind::LifetimeCurrent),
    })
}

/// `pfkey_send_new_mapping`: ADDRESS_SRC + NAT_T_SPORT are the old peer, ADDRESS_DST +
/// NAT_T_DPORT the new one.
fn decode_new_mapping(msg: &Message<'_>) -> Option<KernelEvent> {
    let port = |k| msg.nat_t_port(k).map_or(0, |p| p.port);
    let old = msg.address(ExtKind::AddressSrc)?.addr;
    let new = msg.address(ExtKind::AddressDst)?.addr;
    Some(KernelEvent::NewMapping {
        satype: msg.header.satype,
        spi: msg.sa()?.spi,
        old: SockAddr::with_port(old.ip(), port(ExtKind::NatTSport)),
        new: SockAddr::with_port(new.ip(), port(ExtKind::NatTDport)),
    })
}

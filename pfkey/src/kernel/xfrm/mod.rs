//! `XfrmKernel`: the [`Kernel`] operations over XFRM netlink, for kernels without PF_KEY.
//!
//! - [`socket`]: the `NETLINK_XFRM` socket (`netlink-sys`);
//! - [`wire`]: the `xfrm.h` layouts and netlink framing (`zerocopy`, checked reads);
//! - [`translate`]: SADB values <-> XFRM structures, algorithms by name;
//! - [`events`]: `XFRMNLGRP_*` messages -> [`KernelEvent`].
//!
//! Every request carries `NLM_F_ACK` (dumps end with `NLMSG_DONE` instead) and a fresh
//! `nlmsg_seq`; what arrives with our port id and that seq is the answer, everything else
//! (multicast events) is queued for [`Kernel::next_event`], as [`super::PfKeyKernel`] does.
//! The socket joins `XFRMNLGRP_EXPIRE`, `MIGRATE` and `MAPPING` when opened (PF_KEY sends those
//! to every socket), `ACQUIRE` on [`Kernel::register`] (PF_KEY sends it to registered sockets),
//! `SA` and `POLICY` on [`Kernel::promisc`].
//!
//! # Errnos: where XFRM and PF_KEY agree and where they differ
//!
//! Both interfaces end in the same `xfrm_state_*`/`xfrm_policy_*`/`xfrm_migrate` calls, so a
//! refused operation gives the same errno: `EEXIST` (ADD of an existing SA, SPDADD of an
//! existing policy), `ESRCH` (GET/DELETE/UPDATE of a missing SA), `ENOENT` (SPDDELETE/SPDGET
//! of a missing policy, MIGRATE without a matching policy), `EINVAL` (direction, mode,
//! policy type out of range: checked here before sending, with the errno `af_key` gives),
//! `ENOSYS` (an algorithm the kernel does not know; an SADB number without an XFRM name gets
//! it here). The differences:
//!
//! - a dump of an empty SAD/SPD: PF_KEY answers `ENOENT`, XFRM an empty `NLMSG_DONE` (both
//!   backends return an empty list);
//! - SPDADD/SPDUPDATE: PF_KEY returns the policy in its reply; XFRM only acknowledges, so the
//!   id is read back with `XFRM_MSG_GETPOLICY` by selector (a second round trip);
//! - MIGRATE: stock `af_key` never answers the requester (success is only visible as the
//!   broadcast); XFRM acknowledges (`acknowledged: true`);
//! - AEAD algorithms (AES-GCM/CCM/GMAC): stock `af_key` refuses them with `ENOSYS`, XFRM takes
//!   them as `XFRMA_ALG_AEAD`;
//! - template level `unique` with reqid 0: `af_key` allocates a reqid (`gen_reqid`), XFRM keeps
//!   0 (the template then matches any SA, and reads back as `require`);
//! - an SA whose addresses differ in family: `EINVAL` here (XFRM has one family per SA);
//! - the per-SA address update: see [`MoveMechanism`].
//!
//! Errors carry the XFRM operation's name (`XFRM_MSG_NEWSA` ...) with the errno.

pub mod events;
pub mod socket;
pub mod translate;
pub mod wire;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use zerocopy::IntoBytes;

use self::socket::XfrmSocket;
use self::translate::*;
pub use self::wire::XfrmParseError;
use self::wire::*;
use super::pfkey::{DEFAULT_TIMEOUT, MAX_QUEUED_EVENTS, migrate_reports};
use super::{
    Capabilities, GetSpi, Kernel, KernelError, KernelEvent, MoveMechanism, MoveOutcome, SaEntry, SaId, Support,
};
use crate::message::{
    Endpoints, Extension, Message, Migrate, MigrateBundle, PolicySpec, SaSpec, Selector, Supported, UpdateAddresses,
};
use crate::wire::numbers::{MessageType, Mode, PolicyDir, SaState, SaType};

/// One message of an answer: its type and the bytes after the netlink header.
#[derive(Debug, Clone)]
struct Reply {
    msg_type: u16,
    payload: Vec<u8>,
}

/// A policy as the kernel stores it: info (selector untranslated) and templates.
type RawPolicy = (XfrmUserpolicyInfo, Vec<XfrmUserTmpl>);

/// The typed kernel operations over a `NETLINK_XFRM` socket.
#[derive(Debug)]
pub struct XfrmKernel {
    sock: XfrmSocket,
    timeout: Duration,
    next_seq: u32,
    events: VecDeque<KernelEvent>,
    buf: Vec<u8>,
    /// A MIGRATE we made whose `XFRMNLGRP_MIGRATE` broadcast has not arrived yet (it is no event).
    own_migrate: Option<Migrate>,
    /// Whether the kernel has `XFRM_MSG_MIGRATE_STATE` (probed once).
    migrate_state: Option<bool>,
    /// Whether the kernel has movable inbound SAs (probed once).
    movable_inbound: Option<Support>,
    acquire_joined: bool,
    /// The SPD as last dumped, for finding the policy that names an SA (the narrowed per-SA
    /// move); dropped whenever this socket changes the SPD, refreshed when the kernel says a
    /// cached policy no longer fits.
    spd_cache: Option<Vec<RawPolicy>>,
    overruns: u64,
    malformed: u64,
    dropped_events: u64,
}

impl XfrmKernel {
    /// Opens a `NETLINK_XFRM` socket and joins the groups of the events every PF_KEY socket gets
    /// (`EXPIRE`, `MIGRATE`, `MAPPING`). A socket that may not join them (no `CAP_NET_ADMIN`)
    /// still opens: its requests fail with `EPERM` as PF_KEY's would.
    pub fn open() -> Result<Self, KernelError> {
        let sock = XfrmSocket::open()?;
        for g in [group::EXPIRE, group::MIGRATE, group::MAPPING] {
            if let Err(e) = sock.join(g) {
                tracing::warn!(group = g, error = %e, "cannot join an XFRM multicast group: no such events");
            }
        }
        Ok(XfrmKernel {
            sock,
            timeout: DEFAULT_TIMEOUT,
            next_seq: 1,
            events: VecDeque::new(),
            buf: Vec::new(),
            own_migrate: None,
            migrate_state: None,
            movable_inbound: None,
            acquire_joined: false,
            spd_cache: None,
            overruns: 0,
            malformed: 0,
            dropped_events: 0,
        })
    }

    /// Sets how long a request waits for its answer.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Changes the request timeout.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The socket (for its descriptor, to register it with an event loop).
    pub fn socket(&self) -> &XfrmSocket {
        &self.sock
    }

    /// How many messages from the kernel could not be read (and were dropped, with a warning).
    pub fn malformed_count(&self) -> u64 {
        self.malformed
    }

    /// How many events were dropped because the queue held [`MAX_QUEUED_EVENTS`].
    pub fn dropped_event_count(&self) -> u64 {
        self.dropped_events
    }

    /// How many events are queued.
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    fn alloc_seq(&mut self) -> u32 {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1).max(1);
        seq
    }

    fn queue_event(&mut self, ev: KernelEvent) {
        if let KernelEvent::Migrate { migrate, .. } = &ev
            && let Some(own) = &self.own_migrate
            && migrate_reports(own, migrate)
        {
            tracing::trace!("dropped the broadcast of our own MIGRATE");
            self.own_migrate = None;
            return;
        }
        if self.events.len() >= MAX_QUEUED_EVENTS {
            self.events.pop_front();
            self.dropped_events += 1;
            tracing::warn!(queued = MAX_QUEUED_EVENTS, "XFRM event queue full, dropped the oldest event");
        }
        self.events.push_back(ev);
    }

    /// Decodes an asynchronous message into the queue; a malformed one is counted and logged.
    fn take_event(&mut self, m: &NlMessage<'_>) {
        match events::decode(m) {
            Ok(Some(ev)) => self.queue_event(ev),
            Ok(None) => tracing::trace!(msg_type = m.header.msg_type, "XFRM message without an event"),
            Err(e) => {
                self.malformed += 1;
                tracing::warn!(error = %e, msg_type = msg::name(m.header.msg_type), "malformed XFRM event");
            }
        }
    }

    /// Receives one datagram; an overrun (`ENOBUFS`: multicast events were dropped because the
    /// socket's buffer was full) is counted and logged, and reading goes on.
    fn recv_datagram(&mut self, buf: &mut Vec<u8>, timeout: Option<Duration>) -> Result<bool, KernelError> {
        loop {
            match self.sock.recv(buf, timeout) {
                Err(KernelError::Io(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    self.overruns += 1;
                    tracing::warn!("XFRM socket overrun: the kernel dropped events (ENOBUFS)");
                }
                r => return r,
            }
        }
    }

    /// How many times the kernel reported dropping events for this socket (`ENOBUFS`).
    pub fn overrun_count(&self) -> u64 {
        self.overruns
    }

    /// Sends `req` and collects its answer: the data messages with our seq up to the ack
    /// (`NLMSG_ERROR` 0) or, for a dump, up to `NLMSG_DONE`. An error ack is
    /// [`KernelError::Errno`]. Everything else received meanwhile is queued as events.
    fn transact(&mut self, mut req: NlRequest, op: &'static str) -> Result<Vec<Reply>, KernelError> {
        let seq = self.alloc_seq();
        let pid = self.sock.pid();
        self.sock.send(req.finish(seq, pid)).map_err(|e| match e {
            KernelError::Io(io) if io.raw_os_error().is_some() => {
                KernelError::Errno { op, errno: io.raw_os_error().unwrap_or(libc::EIO) }
            }
            e => e,
        })?;
        tracing::debug!(op, seq, "XFRM request");
        let deadline = Instant::now().checked_add(self.timeout);
        let mut replies = Vec::new();
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let mut buf = std::mem::take(&mut self.buf);
            let got = self.recv_datagram(&mut buf, left);
            let got = match got {
                Ok(g) => g,
                Err(e) => {
                    self.buf = buf;
                    return Err(e);
                }
            };
            if !got {
                self.buf = buf;
                tracing::debug!(op, seq, timeout = ?self.timeout, "XFRM request timed out");
                return Err(KernelError::Timeout { op, timeout: self.timeout });
            }
            let mut done = None;
            for m in NlMessages::new(&buf) {
                let m = match m {
                    Ok(m) => m,
                    Err(e) => {
                        self.malformed += 1;
                        tracing::warn!(op, error = %e, "malformed netlink datagram");
                        break;
                    }
                };
                let h = m.header;
                if h.seq != seq || h.pid != pid || done.is_some() {
                    self.take_event(&m);
                    continue;
                }
                match h.msg_type {
                    NLMSG_ERROR => done = Some(ack_result(m.payload, op)),
                    NLMSG_DONE => {
                        let err = read::<i32>(m.payload, "NLMSG_DONE").unwrap_or(0);
                        done = Some(if err < 0 { Err(KernelError::Errno { op, errno: -err }) } else { Ok(()) });
                    }
                    NLMSG_NOOP => {}
                    t => replies.push(Reply { msg_type: t, payload: m.payload.to_vec() }),
                }
            }
            self.buf = buf;
            if let Some(r) = done {
                match &r {
                    Ok(()) => tracing::debug!(op, seq, replies = replies.len(), "XFRM answer"),
                    Err(e) => tracing::debug!(op, seq, error = %e, "XFRM request failed"),
                }
                return r.map(|()| replies);
            }
        }
    }

    /// A request answered by one data message of type `want` (GET, ALLOCSPI).
    fn get_one(&mut self, req: NlRequest, op: &'static str, want: u16) -> Result<Reply, KernelError> {
        self.transact(req, op)?
            .into_iter()
            .find(|r| r.msg_type == want)
            .ok_or_else(|| KernelError::BadReply { op, detail: format!("no {} in the answer", msg::name(want)) })
    }

    fn policy_index(&mut self, sel: &Selector, dir: u8, op: &'static str) -> Result<u32, KernelError> {
        let req = NlRequest::new(msg::GETPOLICY, NLM_F_ACK, &policy_id(Some(sel), 0, dir));
        let r = self.get_one(req, op, msg::NEWPOLICY)?;
        Ok(read::<XfrmUserpolicyInfo>(&r.payload, "xfrm_userpolicy_info")?.index)
    }

    /// The SPD as the kernel stores it (policy info and templates, selectors untranslated).
    fn raw_policies(&mut self, op: &'static str) -> Result<Vec<RawPolicy>, KernelError> {
        let req = NlRequest::empty(msg::GETPOLICY, NLM_F_DUMP);
        let mut out = Vec::new();
        for r in self.transact(req, op)?.iter().filter(|r| r.msg_type == msg::NEWPOLICY) {
            let info: XfrmUserpolicyInfo = read(&r.payload, "xfrm_userpolicy_info")?;
            let mut tmpls = Vec::new();
            if let Some(v) = Attrs::after::<XfrmUserpolicyInfo>(&r.payload).find(attr::TMPL)? {
                for c in v.chunks(size_of::<XfrmUserTmpl>()) {
                    tmpls.push(read::<XfrmUserTmpl>(c, "xfrm_user_tmpl")?);
                }
            }
            out.push((info, tmpls));
        }
        Ok(out)
    }

    /// Whether this kernel has `XFRM_MSG_MIGRATE_STATE` (asked once, then remembered): a minimal
    /// request for an SPI nobody uses is answered `ESRCH` by a kernel that has it, `EINVAL`
    /// (type beyond `XFRM_MSG_MAX`) by one that predates it — Linux 6.12 — and `ENOPROTOOPT`
    /// by one built without `CONFIG_XFRM_MIGRATE`.
    pub fn has_migrate_state(&mut self) -> Result<bool, KernelError> {
        if let Some(b) = self.migrate_state {
            return Ok(b);
        }
        let (daddr, family) = xaddr(std::net::Ipv4Addr::LOCALHOST.into());
        let probe = XfrmUserMigrateState {
            id: XfrmUsersaId { daddr, spi: 0xfffe_ffffu32.into(), family, proto: 50, pad: 0 },
            new_daddr: daddr,
            new_saddr: daddr,
            new_family: family,
            ..Default::default()
        };
        const OP: &str = "XFRM_MSG_MIGRATE_STATE";
        let has = match self.transact(NlRequest::new(msg::MIGRATE_STATE, NLM_F_ACK, &probe), OP) {
            Err(KernelError::Errno { errno, .. }) => errno == libc::ESRCH || errno == libc::ENOENT,
            Err(e) => return Err(e),
            Ok(_) => false,
        };
        tracing::debug!(has, "probed XFRM_MSG_MIGRATE_STATE");
        self.migrate_state = Some(has);
        Ok(has)
    }

    /// Whether this kernel has movable inbound SAs (`XFRM_SA_XFLAG_MOVABLE`; asked once, then
    /// remembered): `XFRM_MSG_UPDSA` of an SA that does not exist, in transport mode with the
    /// flag, is refused by `verify_newsa_info` with `EINVAL` where the flag is known (it needs
    /// tunnel mode), and answered `ESRCH` by the update itself where it is not (an unknown extra
    /// flag is stored without a check). Neither changes anything. A set-and-read-back probe
    /// could not tell: stock kernels keep and report unknown extra flags.
    pub fn movable_inbound(&mut self) -> Result<Support, KernelError> {
        if let Some(s) = self.movable_inbound {
            return Ok(s);
        }
        let ip = |s: &str| crate::message::SockAddr::new(s.parse().expect("a literal address"));
        let probe = SaSpec {
            mode: crate::wire::numbers::Mode::Transport,
            auth: Some(crate::message::AlgKey::new(crate::wire::numbers::AuthAlg::Sha2_256Hmac, &[0; 32])),
            encrypt: Some(crate::message::AlgKey::new(crate::wire::numbers::EncryptAlg::AesCbc, &[0; 16])),
            ..SaSpec::esp_tunnel_gcm(1, ip("192.0.2.1"), ip("192.0.2.2"), 0, &[0; 4])
        }
        .movable();
        let s = match self.update_sa(&probe) {
            Err(KernelError::Errno { errno, .. }) if errno == libc::EINVAL => Support::Yes,
            Err(KernelError::Errno { errno, .. }) if errno == libc::ESRCH => Support::No,
            Err(e @ (KernelError::Io(_) | KernelError::Timeout { .. })) => return Err(e),
            other => {
                tracing::warn!(?other, "unexpected answer to the movable-SA probe");
                Support::Unknown
            }
        };
        tracing::debug!(?s, "probed XFRM_SA_XFLAG_MOVABLE");
        self.movable_inbound = Some(s);
        Ok(s)
    }

    /// The per-SA move with `XFRM_MSG_MIGRATE_STATE` (kernels that have it).
    fn move_by_migrate_state(
        &mut self,
        u: &UpdateAddresses,
        sa: &SaSpec,
        new: Endpoints,
    ) -> Result<MoveOutcome, KernelError> {
        const OP: &str = "XFRM_MSG_MIGRATE_STATE";
        let (daddr, family) = xaddr(sa.dst.ip());
        let (new_saddr, new_family) = xaddr(new.src.ip());
        let body = XfrmUserMigrateState {
            id: XfrmUsersaId { daddr, spi: u.spi.into(), family, proto: proto_of(u.satype, OP)?, pad: 0 },
            new_daddr: xaddr(new.dst.ip()).0,
            new_saddr,
            new_family,
            reserved: 0,
            new_reqid: sa.reqid,
            old_mark: XfrmMark::default(),
        };
        let mut req = NlRequest::new(msg::MIGRATE_STATE, NLM_F_ACK, &body);
        if let Some(n) = &u.natt {
            req.attr(attr::ENCAP, &[encap(n).as_bytes()]);
        }
        self.transact(req, OP)?;
        Ok(MoveOutcome { mechanism: MoveMechanism::XfrmMigrateState, acknowledged: true })
    }

    /// The per-SA move as an `XFRM_MSG_MIGRATE` narrowed to one SA: the policy whose template
    /// names this SA (protocol, mode, reqid and tunnel endpoints; outbound first, then inbound,
    /// then forward), one bundle with the SA's reqid.
    fn move_by_narrowed_migrate(
        &mut self,
        u: &UpdateAddresses,
        sa: &SaSpec,
        new: Endpoints,
    ) -> Result<MoveOutcome, KernelError> {
        const OP: &str = "XFRM_MSG_MIGRATE";
        let proto = proto_of(u.satype, OP)?;
        let mode = mode_to_xfrm(sa.mode).unwrap_or(XFRM_MODE_TRANSPORT);
        let (src, _) = xaddr(sa.src.ip());
        let (dst, family) = xaddr(sa.dst.ip());
        let names_sa = |t: &XfrmUserTmpl| {
            t.id.proto == proto
                && t.mode == mode
                && t.reqid == sa.reqid
                && t.family == family
                && t.saddr == src
                && t.id.daddr == dst
        };
        let bundle =
            MigrateBundle::new(u16::from(proto), sa.mode, sa.reqid, Endpoints { src: sa.src, dst: sa.dst }, new);
        let mut attempt = 0;
        let (policy, m) = loop {
            attempt += 1;
            let fresh = self.spd_cache.is_none();
            if fresh {
                self.spd_cache = Some(self.raw_policies("XFRM_MSG_GETPOLICY")?);
            }
            let policies = self.spd_cache.as_deref().unwrap_or_default();
            let policy = [XFRM_POLICY_OUT, XFRM_POLICY_IN, XFRM_POLICY_FWD]
                .iter()
                .find_map(|&dir| policies.iter().find(|(p, t)| p.dir == dir && t.iter().any(names_sa)))
                .map(|(p, _)| *p);
            let Some(policy) = policy else {
                if fresh {
                    tracing::debug!(spi = format!("{:#010x}", u.spi), reqid = sa.reqid, "no policy names this SA");
                    return Err(KernelError::Errno { op: OP, errno: libc::ENOENT });
                }
                self.spd_cache = None;
                continue;
            };
            let m = Migrate {
                selector: selector_from_xfrm(&policy.sel, 0)?,
                dir: dir_from_xfrm(policy.dir),
                kmaddress: None,
                bundles: vec![bundle],
                natt: u.natt,
            };
            let req = migrate_request_raw(&policy.sel, policy.dir, &m, OP)?;
            match self.transact(req, OP) {
                // The cached policy is gone or no longer names the SA: look again, once.
                Err(KernelError::Errno { errno: libc::ENOENT | libc::ENODATA, .. }) if !fresh && attempt == 1 => {
                    tracing::debug!("cached SPD out of date; dumping it again");
                    self.spd_cache = None;
                }
                Err(e) => return Err(e),
                Ok(_) => break (policy, m),
            }
        };
        self.forget_own_migrate(&m);
        // The template that named the SA now names its new addresses.
        if let Some(cache) = &mut self.spd_cache
            && let Some((_, tmpls)) = cache.iter_mut().find(|(p, _)| p.dir == policy.dir && p.sel == policy.sel)
        {
            let (nsrc, nfamily) = xaddr(new.src.ip());
            for t in tmpls.iter_mut().filter(|t| names_sa(t)) {
                (t.saddr, t.id.daddr, t.family) = (nsrc, xaddr(new.dst.ip()).0, nfamily);
            }
        }
        // `xfrm_migrate_state_find` takes the first SA with that reqid and those addresses: check
        // that it was this SPI that moved.
        let moved = SaId { satype: u.satype, spi: u.spi, src: new.src, dst: new.dst };
        match self.get_sa(&moved) {
            Ok(e) if e.spec.src.ip() == new.src.ip() => {}
            _ => {
                return Err(KernelError::BadReply {
                    op: OP,
                    detail: format!(
                        "the MIGRATE for reqid {} moved another SA than SPI {:#010x} (several SAs share that reqid)",
                        sa.reqid, u.spi
                    ),
                });
            }
        }
        tracing::debug!(spi = format!("{:#010x}", u.spi), dir = policy.dir, "SA moved by a narrowed MIGRATE");
        Ok(MoveOutcome { mechanism: MoveMechanism::XfrmMigrateNarrowed, acknowledged: true })
    }

    /// Drops the broadcast of a MIGRATE we made (queued already, or remembered to drop).
    fn forget_own_migrate(&mut self, m: &Migrate) {
        let pos = self
            .events
            .iter()
            .position(|e| matches!(e, KernelEvent::Migrate { migrate, .. } if migrate_reports(m, migrate)));
        match pos {
            Some(i) => {
                self.events.remove(i);
            }
            None => self.own_migrate = Some(m.clone()),
        }
    }
}

/// The result an `NLMSG_ERROR` carries (0: an ack), with the extended ack's message logged.
fn ack_result(payload: &[u8], op: &'static str) -> Result<(), KernelError> {
    let err: i32 = read(payload, "nlmsgerr")?;
    if err == 0 {
        return Ok(());
    }
    if let Ok(orig) = read::<NlMsgHdr>(&payload[4..], "nlmsgerr.msg") {
        // With NLM_F_CAPPED unknown here, try both places the TLVs may start.
        for start in [4 + align4(orig.len as usize), 4 + size_of::<NlMsgHdr>()] {
            if let Some(Ok(Some(text))) = payload.get(start..).map(|b| Attrs::new(b).find(NLMSGERR_ATTR_MSG)) {
                let text = String::from_utf8_lossy(text.split(|&c| c == 0).next().unwrap_or(&[]));
                if !text.is_empty() {
                    tracing::debug!(op, errno = -err, extack = %text, "kernel said why");
                    break;
                }
            }
        }
    }
    Err(KernelError::Errno { op, errno: err.checked_neg().unwrap_or(libc::EINVAL) })
}

impl Kernel for XfrmKernel {
    fn backend(&self) -> &'static str {
        "xfrm"
    }

    fn getspi(&mut self, req: &GetSpi) -> Result<u32, KernelError> {
        const OP: &str = "XFRM_MSG_ALLOCSPI";
        let (saddr, family) = xaddr(req.src.ip());
        let (daddr, _) = xaddr(req.dst.ip());
        let body = XfrmUserspiInfo {
            info: XfrmUsersaInfo {
                sel: XfrmSelector { family, ..Default::default() },
                id: XfrmId { daddr, spi: 0.into(), proto: proto_of(req.satype, OP)?, pad: [0; 3] },
                saddr,
                lft: XfrmLifetimeCfg::infinite(),
                reqid: req.reqid,
                family,
                mode: mode_to_xfrm(req.mode).ok_or(KernelError::Errno { op: OP, errno: libc::EINVAL })?,
                ..Default::default()
            },
            min: req.min,
            max: req.max,
        };
        let r = self.get_one(NlRequest::new(msg::ALLOCSPI, NLM_F_ACK, &body), OP, msg::NEWSA)?;
        let spi = read::<XfrmUsersaInfo>(&r.payload, "xfrm_usersa_info")?.id.spi.get();
        tracing::debug!(spi = format!("{spi:#010x}"), "SPI allocated");
        Ok(spi)
    }

    fn add_sa(&mut self, sa: &SaSpec) -> Result<(), KernelError> {
        const OP: &str = "XFRM_MSG_NEWSA";
        self.transact(sa_request(sa, msg::NEWSA, OP)?, OP).map(drop)
    }

    fn update_sa(&mut self, sa: &SaSpec) -> Result<(), KernelError> {
        const OP: &str = "XFRM_MSG_UPDSA";
        self.transact(sa_request(sa, msg::UPDSA, OP)?, OP).map(drop)
    }

    /// Only [`Capabilities::movable_inbound`] is probed over XFRM; the PF_KEY extensions are
    /// `Unknown` here, except [`Capabilities::beet_inner`]: XFRM always carries a BEET SA's inner
    /// addresses (its selector) and a template's endpoints.
    fn capabilities(&mut self) -> Result<Capabilities, KernelError> {
        Ok(Capabilities { movable_inbound: self.movable_inbound()?, beet_inner: Support::Yes, ..Capabilities::UNKNOWN })
    }

    fn delete_sa(&mut self, id: &SaId) -> Result<(), KernelError> {
        const OP: &str = "XFRM_MSG_DELSA";
        self.transact(NlRequest::new(msg::DELSA, NLM_F_ACK, &sa_id(id, OP)?), OP).map(drop)
    }

    fn get_sa(&mut self, id: &SaId) -> Result<SaEntry, KernelError> {
        const OP: &str = "XFRM_MSG_GETSA";
        let r = self.get_one(NlRequest::new(msg::GETSA, NLM_F_ACK, &sa_id(id, OP)?), OP, msg::NEWSA)?;
        let info: XfrmUsersaInfo = read(&r.payload, "xfrm_usersa_info")?;
        Ok(sa_from_xfrm(&info, Attrs::after::<XfrmUsersaInfo>(&r.payload))?)
    }

    fn dump_sas(&mut self, satype: SaType) -> Result<Vec<SaEntry>, KernelError> {
        const OP: &str = "XFRM_MSG_GETSA";
        let proto = proto_of(satype, OP)?;
        let mut req = NlRequest::empty(msg::GETSA, NLM_F_DUMP);
        if satype != SaType::Unspec {
            req.attr(attr::PROTO, &[&[proto]]);
        }
        let mut out = Vec::new();
        for r in self.transact(req, OP)?.iter().filter(|r| r.msg_type == msg::NEWSA) {
            let info: XfrmUsersaInfo = read(&r.payload, "xfrm_usersa_info")?;
            if satype == SaType::Unspec || info.id.proto == proto {
                out.push(sa_from_xfrm(&info, Attrs::after::<XfrmUsersaInfo>(&r.payload))?);
            }
        }
        Ok(out)
    }

    fn flush_sas(&mut self, satype: SaType) -> Result<(), KernelError> {
        const OP: &str = "XFRM_MSG_FLUSHSA";
        let body = XfrmUsersaFlush { proto: proto_of(satype, OP)? };
        self.transact(NlRequest::new(msg::FLUSHSA, NLM_F_ACK, &body), OP).map(drop)
    }

    fn add_policy(&mut self, p: &PolicySpec) -> Result<u32, KernelError> {
        self.spd_cache = None;
        const OP: &str = "XFRM_MSG_NEWPOLICY";
        self.transact(policy_request(p, msg::NEWPOLICY, OP)?, OP)?;
        self.policy_index(&p.selector, dir_to_xfrm(p.dir, OP)?, OP)
    }

    fn update_policy(&mut self, p: &PolicySpec) -> Result<u32, KernelError> {
        self.spd_cache = None;
        const OP: &str = "XFRM_MSG_UPDPOLICY";
        self.transact(policy_request(p, msg::UPDPOLICY, OP)?, OP)?;
        self.policy_index(&p.selector, dir_to_xfrm(p.dir, OP)?, OP)
    }

    fn delete_policy(&mut self, selector: &Selector, dir: PolicyDir) -> Result<(), KernelError> {
        self.spd_cache = None;
        const OP: &str = "XFRM_MSG_DELPOLICY";
        let body = policy_id(Some(selector), 0, dir_to_xfrm(dir, OP)?);
        self.transact(NlRequest::new(msg::DELPOLICY, NLM_F_ACK, &body), OP).map(drop)
    }

    fn delete_policy_by_id(&mut self, id: u32, _dir: PolicyDir) -> Result<(), KernelError> {
        self.spd_cache = None;
        const OP: &str = "XFRM_MSG_DELPOLICY";
        let body = policy_id(None, id, dir_of_policy_id(id, OP)?);
        self.transact(NlRequest::new(msg::DELPOLICY, NLM_F_ACK, &body), OP).map(drop)
    }

    fn get_policy(&mut self, id: u32, _dir: PolicyDir) -> Result<PolicySpec, KernelError> {
        const OP: &str = "XFRM_MSG_GETPOLICY";
        let body = policy_id(None, id, dir_of_policy_id(id, OP)?);
        let r = self.get_one(NlRequest::new(msg::GETPOLICY, NLM_F_ACK, &body), OP, msg::NEWPOLICY)?;
        let info: XfrmUserpolicyInfo = read(&r.payload, "xfrm_userpolicy_info")?;
        Ok(policy_from_xfrm(&info, Attrs::after::<XfrmUserpolicyInfo>(&r.payload))?)
    }

    fn dump_policies(&mut self) -> Result<Vec<PolicySpec>, KernelError> {
        const OP: &str = "XFRM_MSG_GETPOLICY";
        let replies = self.transact(NlRequest::empty(msg::GETPOLICY, NLM_F_DUMP), OP)?;
        let mut out = Vec::with_capacity(replies.len());
        for r in replies.iter().filter(|r| r.msg_type == msg::NEWPOLICY) {
            let info: XfrmUserpolicyInfo = read(&r.payload, "xfrm_userpolicy_info")?;
            out.push(policy_from_xfrm(&info, Attrs::after::<XfrmUserpolicyInfo>(&r.payload))?);
        }
        Ok(out)
    }

    fn flush_policies(&mut self) -> Result<(), KernelError> {
        self.spd_cache = None;
        const OP: &str = "XFRM_MSG_FLUSHPOLICY";
        self.transact(NlRequest::empty(msg::FLUSHPOLICY, NLM_F_ACK), OP).map(drop)
    }

    fn migrate(&mut self, m: &Migrate) -> Result<MoveOutcome, KernelError> {
        self.spd_cache = None;
        const OP: &str = "XFRM_MSG_MIGRATE";
        self.transact(migrate_request(m, OP)?, OP)?;
        self.forget_own_migrate(m);
        Ok(MoveOutcome { mechanism: MoveMechanism::XfrmMigrate, acknowledged: true })
    }

    fn update_addresses(&mut self, u: &UpdateAddresses) -> Result<MoveOutcome, KernelError> {
        let sa = self.get_sa(&SaId { satype: u.satype, spi: u.spi, src: u.src, dst: u.dst })?.spec;
        // XFRM_MSG_GETSA finds the SA by destination, SPI and protocol; the PF_KEY update also
        // names its source, mode and reqid, and an SA that differs in one of them is not the one
        // meant: ESRCH, as the patched af_key answers (the differential suite compares them).
        if sa.src.ip() != u.src.ip()
            || (u.mode != Mode::Any && u.mode != sa.mode)
            || (u.reqid != 0 && u.reqid != sa.reqid)
        {
            return Err(KernelError::Errno { op: "XFRM_MSG_MIGRATE", errno: libc::ESRCH });
        }
        let new = Endpoints { src: u.new_src.unwrap_or(sa.src), dst: u.new_dst.unwrap_or(sa.dst) };
        let moved = if self.has_migrate_state()? {
            self.move_by_migrate_state(u, &sa, new)
        } else {
            self.move_by_narrowed_migrate(u, &sa, new)
        };
        // A larval SA is completed, not moved: af_key answers EINVAL. The kernel's MIGRATE
        // reaches it and cannot clone it (ENODATA, nothing changed); say it as af_key does.
        match moved {
            Err(KernelError::Errno { op, errno }) if errno == libc::ENODATA && sa.state == SaState::Larval => {
                Err(KernelError::Errno { op, errno: libc::EINVAL })
            }
            other => other,
        }
    }

    fn register(&mut self, satype: SaType) -> Result<Message<'static>, KernelError> {
        if !self.acquire_joined {
            self.sock.join(group::ACQUIRE)?;
            self.acquire_joined = true;
        }
        // PF_KEY answers with the algorithms it supports; XFRM has no such query, so this is
        // the list of names this backend translates.
        let algs = |ids: Vec<crate::message::Alg>| Supported { reserved: 0, algs: ids.into() };
        Ok(Message::new(MessageType::Register, satype)
            .with(Extension::SupportedAuth(algs(super::model::algs::supported_auth())))
            .with(Extension::SupportedEncrypt(algs(super::model::algs::supported_encrypt_and_aead()))))
    }

    fn promisc(&mut self, on: bool) -> Result<(), KernelError> {
        for g in [group::SA, group::POLICY] {
            if on { self.sock.join(g)? } else { self.sock.leave(g)? }
        }
        Ok(())
    }

    fn next_event(&mut self, timeout: Option<Duration>) -> Result<Option<KernelEvent>, KernelError> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            if let Some(ev) = self.events.pop_front() {
                return Ok(Some(ev));
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let mut buf = std::mem::take(&mut self.buf);
            let got =
                self.recv_datagram(&mut buf, if timeout.is_none() { None } else { left.or(Some(Duration::ZERO)) });
            if let Ok(true) = got {
                for m in NlMessages::new(&buf) {
                    match m {
                        Ok(m) => self.take_event(&m),
                        Err(e) => {
                            self.malformed += 1;
                            tracing::warn!(error = %e, "malformed netlink datagram");
                            break;
                        }
                    }
                }
            }
            self.buf = buf;
            if !got? {
                return Ok(self.events.pop_front());
            }
        }
    }
}

fn sa_id(id: &SaId, op: &'static str) -> Result<XfrmUsersaId, KernelError> {
    let (daddr, family) = xaddr(id.dst.ip());
    Ok(XfrmUsersaId { daddr, spi: id.spi.into(), family, proto: proto_of(id.satype, op)?, pad: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nlmsgerr(errno: i32, extack: Option<&str>) -> Vec<u8> {
        let mut orig = NlRequest::empty(msg::NEWPOLICY, NLM_F_ACK);
        let orig = orig.finish(3, 4).to_vec();
        let mut p = (-errno).to_ne_bytes().to_vec();
        p.extend_from_slice(&orig);
        if let Some(text) = extack {
            let mut tlv = NlRequest::empty(0, 0);
            tlv.attr(NLMSGERR_ATTR_MSG, &[text.as_bytes(), &[0]]);
            p.extend_from_slice(&tlv.finish(0, 0)[size_of::<NlMsgHdr>()..]);
        }
        p
    }

    #[test]
    fn an_error_ack_is_the_errno_and_a_zero_ack_success() {
        assert!(ack_result(&nlmsgerr(0, None), "op").is_ok());
        let e = ack_result(&nlmsgerr(libc::EEXIST, Some("Policy exists")), "XFRM_MSG_NEWPOLICY").unwrap_err();
        assert_eq!((e.errno(), e.to_string().as_str()), (Some(libc::EEXIST), "XFRM_MSG_NEWPOLICY: EEXIST (17)"));
        // Only the error code: still the errno, no panic.
        assert_eq!(ack_result(&(-libc::ENOENT).to_ne_bytes(), "op").unwrap_err().errno(), Some(libc::ENOENT));
        // Shorter than the error code: a typed error.
        assert!(matches!(ack_result(&[1, 2], "op"), Err(KernelError::Netlink(XfrmParseError::Short { .. }))));
    }
}

//! SAD messages: GETSPI, ADD, UPDATE, DELETE, GET, ACQUIRE (from a key manager), FLUSH, DUMP
//! (`pfkey_getspi`, `pfkey_add` + `xfrm_state_add`/`xfrm_state_update`, ...).

use std::collections::HashSet;
use std::net::IpAddr;

use crate::message::{AlgKey, BeetInner, Filter, Lifetime, Message, NatT, SockAddr};
use crate::wire::numbers::ExtKind;
use crate::wire::numbers::{
    AuthAlg, EncryptAlg, IPPROTO_AH, IPPROTO_COMP, IPPROTO_ESP, MessageType, Mode, NatTType, SADB_SAFLAGS_DECAP_DSCP,
    SADB_SAFLAGS_MOVABLE, SADB_SAFLAGS_NOECN, SADB_SAFLAGS_NOPMTUDISC, SaState, SaType,
};

use super::render::{host, sa_message};
use super::state::{ModelSa, ReplayState};
use super::{Bcast, Errno, Handled, State, algs, src_dst};

/// `IPSEC_PROTO_ANY` as `pfkey_satype2proto` returns it for `SADB_SATYPE_UNSPEC`.
pub(crate) const PROTO_ANY: u16 = 255;
/// `net->xfrm.sysctl_acq_expires`: a larval SA's hard add lifetime.
pub(crate) const ACQ_EXPIRES: u64 = 30;
/// `SADB_X_AALG_NULL`.
const AALG_NULL: u8 = 251;
/// `SADB_EALG_NULL`.
const EALG_NULL: u8 = 11;

/// `pfkey_satype2proto`: 0 for a type without a protocol, 255 for UNSPEC.
pub(crate) fn satype2proto(satype: SaType) -> u16 {
    match satype {
        SaType::Unspec => PROTO_ANY,
        other => other.proto().unwrap_or(0),
    }
}

/// `pfkey_mode_to_xfrm`, kept in PF_KEY numbers: ANY and TRANSPORT are transport.
pub(crate) fn xfrm_mode(mode: Mode) -> Option<Mode> {
    match mode {
        Mode::Any | Mode::Transport => Some(Mode::Transport),
        Mode::Tunnel => Some(Mode::Tunnel),
        Mode::Beet => Some(Mode::Beet),
        _ => None,
    }
}

/// Whether an SA belongs to `proto` (`xfrm_id_proto_match`).
fn proto_match(sa: &ModelSa, proto: u16) -> bool {
    proto == PROTO_ANY || sa.satype.proto() == Some(proto)
}

/// Patch 0013 (`pfkey_inner_daddr_from_msg`): a BEET SA's inner source (`SADB_EXT_ADDRESS_PROXY`)
/// and destination (`SADB_X_EXT_INNER_ADDRESS_DST`). The destination is `EINVAL` outside BEET
/// mode, without the source, in another family than it, or unspecified. Only BEET SAs keep them.
fn beet_inner(m: &Message<'_>, mode: Mode) -> Result<Option<BeetInner>, Errno> {
    let proxy = m.address(ExtKind::AddressProxy);
    let dst = match m.address(ExtKind::InnerAddressDst) {
        None => None,
        Some(d) => {
            let src = proxy.as_ref().ok_or(libc::EINVAL)?;
            if mode != Mode::Beet || src.addr.is_v6() != d.addr.is_v6() || d.addr.ip().is_unspecified() {
                return Err(libc::EINVAL);
            }
            Some(host(&d.addr))
        }
    };
    Ok(proxy.filter(|_| mode == Mode::Beet).map(|p| BeetInner { src: host(&p.addr), dst }))
}

impl State {
    /// `xfrm_state_lookup(daddr, spi, proto)`: SAs without an SPI are not in the SPI hash.
    pub(crate) fn find_sa(&self, dst: IpAddr, spi: u32, satype: SaType) -> Option<usize> {
        self.sad.iter().position(|x| x.spi != 0 && x.spi == spi && x.satype == satype && x.dst.ip() == dst)
    }

    /// `pfkey_msg2xfrm_state` + `xfrm_init_state`: the SA an ADD/UPDATE describes, or the errno.
    fn sa_from_message(&self, m: &Message<'_>) -> Result<ModelSa, Errno> {
        let sa = m.sa().ok_or(libc::EINVAL)?;
        let (s, d) = src_dst(m)?;
        let satype = m.header.satype;
        if (satype == SaType::Esp && !m.has(ExtKind::KeyEncrypt)) || (satype == SaType::Ah && !m.has(ExtKind::KeyAuth))
        {
            return Err(libc::EINVAL);
        }
        if m.has(ExtKind::LifetimeHard) != m.has(ExtKind::LifetimeSoft) {
            return Err(libc::EINVAL);
        }
        let proto = satype2proto(satype);
        if proto == 0 {
            return Err(libc::EINVAL);
        }
        let (auth, enc) = (u8::from(sa.auth), u8::from(sa.encrypt));
        if auth > AALG_NULL || (satype == SaType::XIpcomp && enc > 4) || enc > 253 {
            return Err(libc::EINVAL);
        }
        let key_auth = m.key(ExtKind::KeyAuth);
        let key_enc = m.key(ExtKind::KeyEncrypt);
        if key_auth.as_ref().is_some_and(|k| auth != AALG_NULL && k.bits == 0)
            || key_enc.as_ref().is_some_and(|k| enc != EALG_NULL && k.bits == 0)
        {
            return Err(libc::EINVAL);
        }
        if auth != 0 && !algs::auth_known(auth) {
            return Err(libc::ENOSYS);
        }
        if enc != 0 {
            let known = if satype == SaType::XIpcomp {
                algs::compress_known(enc)
            } else {
                algs::encrypt_known(enc, self.config.aead)
            };
            if !known {
                return Err(libc::ENOSYS);
            }
            // pfkey_aead_from_msg: an AEAD algorithm has no authentication of its own.
            if satype != SaType::XIpcomp && algs::is_aead(enc) && (auth != 0 || m.has(ExtKind::KeyAuth)) {
                return Err(libc::EINVAL);
            }
        }
        let (mode, reqid) = match m.sa2() {
            Some(sa2) => (xfrm_mode(sa2.mode).ok_or(libc::EINVAL)?, sa2.reqid),
            None => (Mode::Transport, 0),
        };
        let natt = m.nat_t_type().map(|t| NatT {
            nat_t_type: t.nat_t_type,
            sport: m.nat_t_port(ExtKind::NatTSport).map_or(0, |p| p.port),
            dport: m.nat_t_port(ExtKind::NatTDport).map_or(0, |p| p.port),
        });
        // xfrm_init_state: the protocol's init_state.
        if proto == PROTO_ANY {
            return Err(libc::EPROTONOSUPPORT);
        }
        let missing_alg = match satype {
            SaType::Esp => enc == 0,
            SaType::Ah => auth == 0,
            _ => enc == 0,
        };
        if missing_alg {
            return Err(libc::EINVAL);
        }
        if let Some(n) = natt {
            // Only ESP takes an encapsulation, and esp_init_state implements only
            // UDP_ENCAP_ESPINUDP among the UDP types.
            let ok_type = n.nat_t_type == NatTType::EspInUdp;
            if satype != SaType::Esp || !ok_type {
                return Err(libc::EINVAL);
            }
        }
        // Patch 0010: the movable flag is an inbound tunnel or BEET flag.
        let movable = self.config.movable_inbound && sa.flags & SADB_SAFLAGS_MOVABLE != 0;
        if movable && !matches!(mode, Mode::Tunnel | Mode::Beet) {
            return Err(libc::EINVAL);
        }
        let inner = if self.config.beet_inner {
            beet_inner(m, mode)?
        } else {
            // Stock af_key: ADDRESS_PROXY still goes into the selector's source and is reported
            // back; extension 32 is unknown and skipped (seen by the differential suite).
            m.address(ExtKind::AddressProxy)
                .filter(|_| mode == Mode::Beet)
                .map(|p| BeetInner { src: host(&p.addr), dst: None })
        };
        let kept = SADB_SAFLAGS_NOECN | SADB_SAFLAGS_DECAP_DSCP | SADB_SAFLAGS_NOPMTUDISC;
        let key_bytes = |k: Option<crate::message::Key<'_>>| k.map_or_else(Vec::new, |k| k.key.into_owned());
        Ok(ModelSa {
            satype,
            spi: sa.spi,
            src: host(&s.addr),
            dst: host(&d.addr),
            mode,
            reqid,
            state: SaState::Mature,
            replay_window: sa.replay.min(32),
            flags: (sa.flags & kept) | if movable { SADB_SAFLAGS_MOVABLE } else { 0 },
            auth: (auth != 0).then(|| AlgKey::new(AuthAlg::from(auth), &key_bytes(key_auth))),
            encrypt: (enc != 0).then(|| AlgKey::new(EncryptAlg::from(enc), &key_bytes(key_enc))),
            hard: m.lifetime(ExtKind::LifetimeHard).unwrap_or_default(),
            soft: m.lifetime(ExtKind::LifetimeSoft).unwrap_or_default(),
            current: Lifetime { addtime: self.clock, ..Lifetime::default() },
            natt,
            inner,
            replay: ReplayState::default(),
            acq_seq: m.header.seq,
            order: 0,
        })
    }

    /// `pfkey_add` (ADD and UPDATE), or the address update for an UPDATE that carries
    /// `SADB_X_EXT_NEW_ADDRESS_*` when the model has that extension.
    pub(crate) fn add_or_update(&mut self, m: &Message<'_>) -> Handled {
        let update = m.msg_type() == MessageType::Update;
        let keyless = !m.has(ExtKind::KeyAuth) && !m.has(ExtKind::KeyEncrypt);
        if update
            && self.config.update_addresses
            && (m.has(ExtKind::NewAddressSrc) || m.has(ExtKind::NewAddressDst) || (keyless && m.has(ExtKind::NatTType)))
        {
            return self.update_addresses(m);
        }
        let mut x = self.sa_from_message(m)?;
        let found = self.find_sa(x.dst.ip(), x.spi, x.satype);
        let reply_idx = if !update {
            // xfrm_state_add
            if found.is_some() {
                return Err(libc::EEXIST);
            }
            let seq = m.header.seq;
            let acq = self.sad.iter().position(|a| {
                a.state == SaState::Larval
                    && a.spi == 0
                    && ((seq != 0 && a.acq_seq == seq && a.satype == x.satype && a.dst.ip() == x.dst.ip())
                        || (a.mode == x.mode
                            && a.reqid == x.reqid
                            && a.satype == x.satype
                            && a.dst.ip() == x.dst.ip()
                            && a.src.ip() == x.src.ip()))
            });
            if let Some(i) = acq {
                self.sad.remove(i);
            }
            x.order = self.order();
            self.sad.push(x);
            self.sad.len() - 1
        } else {
            // xfrm_state_update
            let i = found.ok_or(libc::ESRCH)?;
            if self.sad[i].state == SaState::Larval {
                self.sad.remove(i);
                x.order = self.order();
                self.sad.push(x);
                self.sad.len() - 1
            } else {
                let old = &self.sad[i];
                let natt = match (&x.natt, &old.natt) {
                    (Some(n), Some(o)) if n.nat_t_type == o.nat_t_type => Some(*n),
                    (None, None) => None,
                    _ => return Err(libc::EINVAL),
                };
                let old = &mut self.sad[i];
                old.natt = natt;
                old.hard = x.hard;
                old.soft = x.soft;
                if old.state == SaState::Dying {
                    old.state = SaState::Mature;
                }
                i
            }
        };
        let reply = sa_message(&self.sad[reply_idx], m.msg_type(), m.header.seq, m.header.pid, false, 3);
        tracing::debug!(spi = self.sad[reply_idx].spi, update, "model SA stored");
        self.send(&reply, Bcast::All, None)
    }

    /// `pfkey_getspi`.
    pub(crate) fn getspi(&mut self, pid: u32, m: &Message<'_>) -> Handled {
        let (s, d) = src_dst(m)?;
        let satype = m.header.satype;
        let proto = satype2proto(satype);
        if proto == 0 {
            return Err(libc::EINVAL);
        }
        let (mode, reqid) = match m.sa2() {
            Some(sa2) => (xfrm_mode(sa2.mode).ok_or(libc::EINVAL)?, sa2.reqid),
            None => (Mode::Transport, 0),
        };
        let (src, dst) = (host(&s.addr), host(&d.addr));
        let seq = m.header.seq;
        let mut idx = None;
        if seq != 0 {
            idx =
                self.sad.iter().position(|x| x.state == SaState::Larval && x.acq_seq == seq && x.dst.ip() == dst.ip());
        }
        if idx.is_none() {
            idx = self.sad.iter().position(|x| {
                x.state == SaState::Larval
                    && x.spi == 0
                    && x.mode == mode
                    && x.reqid == reqid
                    && x.satype.proto() == Some(proto)
                    && x.dst.ip() == dst.ip()
                    && x.src.ip() == src.ip()
            });
        }
        // xfrm_find_acq(create = 1) runs before the SPI range is checked: a larval SA with SPI 0
        // is created (or reused) first, and a GETSPI that fails after it leaves it in the SAD,
        // where it stays until its acquire timer removes it (seen on Linux 6.12 by the lab's
        // differential suite).
        let i = match idx {
            Some(i) => i,
            None => {
                let order = self.order();
                self.sad.push(ModelSa::larval(satype, 0, src, dst, mode, reqid, self.clock, 0, order));
                self.sad.len() - 1
            }
        };
        let (min, max) = m.spirange().map_or((0x100, 0x0fff_ffff), |r| (r.min, r.max));
        // verify_spi_info
        match proto {
            IPPROTO_AH | IPPROTO_ESP => {}
            IPPROTO_COMP if max < 0x1_0000 => {}
            _ => return Err(libc::EINVAL),
        }
        if min > max {
            return Err(libc::EINVAL);
        }
        let (cur, t) = (self.sad[i].spi, self.sad[i].satype);
        let rng = self.counters.rng;
        let spi = if cur != 0 { Ok(cur) } else { self.alloc_spi(t, min, max) };
        // A failed allocation leaves the larval SA but not a step of the generator.
        let spi = spi.inspect_err(|_| self.counters.rng = rng)?;
        self.sad[i].spi = spi;
        tracing::debug!(spi, "model SPI allocated");
        let mut reply = sa_message(&self.sad[i], MessageType::GetSpi, seq, m.header.pid, true, 3);
        reply.header.satype = satype;
        self.send(&reply, Bcast::One, Some(pid))
    }

    /// `xfrm_alloc_spi`: a free SPI in `min..=max` for `satype`, drawn from the deterministic
    /// generator (ENOENT when the range is used up). Free means no SA of that protocol has it,
    /// whatever its destination: Linux 6.12 checks with `xfrm_state_lookup_spi_proto`, so an SPI
    /// is allocated once per protocol and network namespace (the differential suite found the
    /// model's per-destination check wrong).
    fn alloc_spi(&mut self, satype: SaType, min: u32, max: u32) -> Result<u32, Errno> {
        let taken: HashSet<u32> = self.sad.iter().filter(|x| x.satype == satype).map(|x| x.spi).collect();
        let free = |spi: u32| spi != 0 && !taken.contains(&spi);
        if min == max {
            return if free(min) { Ok(min) } else { Err(libc::ENOENT) };
        }
        let size = u64::from(max - min) + 1;
        for _ in 0..size.min(64) {
            let spi = min + (self.random() % size) as u32;
            if free(spi) {
                return Ok(spi);
            }
        }
        // The range is crowded: walk it from a random point (at most |taken| + 1 steps).
        let start = self.random() % size;
        (0..size.min(taken.len() as u64 + 2))
            .map(|k| min + ((start + k) % size) as u32)
            .find(|&spi| free(spi))
            .ok_or(libc::ENOENT)
    }

    /// The SA a DELETE/GET names (`pfkey_xfrm_state_lookup`).
    fn lookup(&self, m: &Message<'_>) -> Result<usize, Errno> {
        let sa = m.sa().ok_or(libc::EINVAL)?;
        let (_, d) = src_dst(m)?;
        self.find_sa(d.addr.ip(), sa.spi, m.header.satype).ok_or(libc::ESRCH)
    }

    /// `pfkey_delete`.
    pub(crate) fn delete(&mut self, m: &Message<'_>) -> Handled {
        let i = self.lookup(m)?;
        let mut x = self.sad.remove(i);
        x.state = SaState::Dead;
        tracing::debug!(spi = x.spi, "model SA deleted");
        let reply = sa_message(&x, MessageType::Delete, m.header.seq, m.header.pid, false, 3);
        self.send(&reply, Bcast::All, None)
    }

    /// `pfkey_get`.
    pub(crate) fn get(&mut self, pid: u32, m: &Message<'_>) -> Handled {
        let i = self.lookup(m)?;
        let reply = sa_message(&self.sad[i], MessageType::Get, m.header.seq, m.header.pid, true, 3);
        self.send(&reply, Bcast::One, Some(pid))
    }

    /// `pfkey_acquire`: a key manager reporting failure for an ACQUIRE (no reply).
    pub(crate) fn user_acquire(&mut self, m: &Message<'_>) -> Handled {
        if !m.extensions.is_empty() {
            return Err(libc::EOPNOTSUPP);
        }
        let seq = m.header.seq;
        if seq == 0 || m.errno() == 0 {
            return Ok(());
        }
        // Linux marks the ACQ state XFRM_STATE_ERROR until it expires; the model drops it.
        self.sad.retain(|x| !(x.state == SaState::Larval && x.spi == 0 && x.acq_seq == seq));
        Ok(())
    }

    /// `pfkey_flush`.
    pub(crate) fn flush(&mut self, pid: u32, m: &Message<'_>) -> Handled {
        let proto = satype2proto(m.header.satype);
        if proto == 0 {
            return Err(libc::EINVAL);
        }
        let before = self.sad.len();
        self.sad.retain(|x| !proto_match(x, proto));
        let flushed = before - self.sad.len();
        self.header_echo(pid, m)?;
        if flushed == 0 {
            return Ok(());
        }
        let satype = if proto == PROTO_ANY { SaType::Unspec } else { m.header.satype };
        let note = Message::new(MessageType::Flush, satype).with_seq(m.header.seq).with_pid(m.header.pid);
        self.send(&note, Bcast::All, None)
    }

    /// `pfkey_dump`: one message per SA (newest first), the last with seq 0.
    pub(crate) fn dump(&mut self, pid: u32, m: &Message<'_>) -> Handled {
        let proto = satype2proto(m.header.satype);
        if proto == 0 {
            return Err(libc::EINVAL);
        }
        let filter = match m.get(ExtKind::Filter) {
            Some(crate::message::Extension::Filter(f)) => {
                if f.splen >= 128 || f.dplen >= 128 {
                    return Err(libc::EINVAL);
                }
                Some(f)
            }
            _ => None,
        };
        let mut sas: Vec<&ModelSa> =
            self.sad.iter().filter(|x| proto_match(x, proto) && filter.is_none_or(|f| filter_match(x, &f))).collect();
        sas.sort_by_key(|x| std::cmp::Reverse(x.order));
        let n = sas.len();
        let msgs: Vec<Message<'static>> = sas
            .iter()
            .enumerate()
            .map(|(k, x)| {
                let seq = if k + 1 == n { 0 } else { k as u32 + 1 };
                sa_message(x, MessageType::Dump, seq, m.header.pid, true, 3)
            })
            .collect();
        if msgs.is_empty() {
            return Err(libc::ENOENT);
        }
        for msg in &msgs {
            self.send(msg, Bcast::One, Some(pid))?;
        }
        Ok(())
    }
}

/// `__xfrm_state_filter_match` for `SADB_X_EXT_FILTER`.
fn filter_match(x: &ModelSa, f: &Filter) -> bool {
    let family = if x.src.is_v6() { crate::wire::numbers::AF_INET6_LINUX } else { crate::wire::numbers::AF_INET };
    family == f.family && prefix_match(&x.src, &f.saddr, f.splen) && prefix_match(&x.dst, &f.daddr, f.dplen)
}

fn prefix_match(a: &SockAddr, bytes: &[u8; 16], plen: u8) -> bool {
    let ours: Vec<u8> = match a.ip() {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    };
    let bits = usize::from(plen).min(ours.len() * 8);
    (0..bits).all(|b| (ours[b / 8] ^ bytes[b / 8]) & (0x80 >> (b % 8)) == 0)
}

//! What stands in for the data path and the kernel's timers: traffic and replay counters,
//! ACQUIRE, soft/hard EXPIRE, the model clock, NAT-T mapping changes.

use crate::message::{Address, Extension, Lifetime, Message, NatTPort, Policy, Proposal, Sa, SockAddr};
use crate::wire::numbers::{
    AuthAlg, EncryptAlg, MessageType, Mode, PolicyDir, PolicyType, SADB_SAFLAGS_MOVABLE, SaState, SaType,
};

use super::render::{host, sa_address, sa_message};
use super::state::{ModelSa, ReplayState};
use super::{Bcast, ModelKernel, State, algs};

/// A test hook that cannot do what it was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// No usable (mature or dying) SA with this destination, SPI and type.
    #[error("no SA {satype} spi {spi:#x} to {dst}")]
    NoSuchSa {
        /// SA type.
        satype: SaType,
        /// SPI.
        spi: u32,
        /// Destination.
        dst: SockAddr,
    },
    /// No policy with this id.
    #[error("no policy with id {0}")]
    NoSuchPolicy(u32),
    /// The policy has no IPsec template to acquire an SA for.
    #[error("policy {0} has no IPsec template")]
    NotIpsec(u32),
    /// No socket is registered: nobody would receive the ACQUIRE (`km_query` fails).
    #[error("no key manager is registered")]
    NoKeyManager,
    /// An inbound sequence number the replay window rejects.
    #[error("replayed or too old sequence number {seq}")]
    Replay {
        /// The sequence number.
        seq: u32,
    },
    /// `new_mapping` on an SA without UDP encapsulation.
    #[error("SA spi {0:#x} has no NAT-T encapsulation")]
    NoEncapsulation(u32),
}

/// Which limit an SA reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reached {
    Nothing,
    Soft,
    Hard,
}

fn over(limit: &Lifetime, cur: &Lifetime, now: u64) -> bool {
    (limit.bytes != 0 && cur.bytes >= limit.bytes)
        || (limit.allocations != 0 && cur.allocations >= limit.allocations)
        || (limit.addtime != 0 && now >= cur.addtime.saturating_add(limit.addtime))
        || (limit.usetime != 0 && cur.usetime != 0 && now >= cur.usetime.saturating_add(limit.usetime))
}

fn reached(x: &ModelSa, now: u64) -> Reached {
    if over(&x.hard, &x.current, now) {
        Reached::Hard
    } else if x.state == SaState::Mature && over(&x.soft, &x.current, now) {
        Reached::Soft
    } else {
        Reached::Nothing
    }
}

impl State {
    fn usable(&self, dst: &SockAddr, spi: u32, satype: SaType) -> Result<usize, ModelError> {
        self.find_sa(dst.ip(), spi, satype)
            .filter(|&i| self.sad[i].state != SaState::Larval)
            .ok_or(ModelError::NoSuchSa { satype, spi, dst: host(dst) })
    }

    /// `xfrm_input`'s lookup with patch 0009's fallback: the SA at (`dst`, SPI, type), else the
    /// one mature movable tunnel or BEET SA of that SPI, type and family (none when two share
    /// them). `dst` is a local unicast address of the host (the model has no others).
    fn input_sa(&self, dst: &SockAddr, spi: u32, satype: SaType) -> Result<usize, ModelError> {
        self.usable(dst, spi, satype).or_else(|e| {
            if !self.config.movable_inbound {
                return Err(e);
            }
            let mut movable = self.sad.iter().enumerate().filter(|(_, x)| {
                x.spi == spi
                    && x.satype == satype
                    && x.flags & SADB_SAFLAGS_MOVABLE != 0
                    && matches!(x.mode, Mode::Tunnel | Mode::Beet)
                    && matches!(x.state, SaState::Mature | SaState::Dying)
                    && x.dst.ip().is_ipv4() == dst.ip().is_ipv4()
            });
            match (movable.next(), movable.next()) {
                (Some((i, _)), None) => Ok(i),
                _ => Err(e),
            }
        })
    }

    /// `km_state_expired`: soft marks the SA dying, hard deletes it; registered sockets hear
    /// `<base(seq 0, pid 0), SA, SOFT or HARD, CURRENT, SRC, DST, SA2, [NAT-T]>` without keys.
    pub(crate) fn expire_at(&mut self, i: usize, hard: bool) {
        let x = if hard {
            let mut x = self.sad.remove(i);
            x.state = SaState::Dead;
            x
        } else {
            self.sad[i].state = SaState::Dying;
            self.sad[i].clone()
        };
        tracing::debug!(spi = x.spi, hard, "model SA expired");
        let msg = sa_message(&x, MessageType::Expire, 0, 0, false, if hard { 2 } else { 1 });
        let _ = self.send(&msg, Bcast::Registered, None);
    }

    fn check_expiry(&mut self, i: usize) {
        match reached(&self.sad[i], self.clock) {
            Reached::Hard => self.expire_at(i, true),
            Reached::Soft => self.expire_at(i, false),
            Reached::Nothing => {}
        }
    }
}

impl ModelKernel {
    /// Outbound traffic on an SA: adds `packets` and `bytes` to its counters, advances its
    /// output sequence number, and expires it (soft or hard) if a byte or packet limit is hit.
    pub fn traffic(
        &self,
        dst: SockAddr,
        spi: u32,
        satype: SaType,
        packets: u32,
        bytes: u64,
    ) -> Result<ReplayState, ModelError> {
        self.with_state(|s| {
            let i = s.usable(&dst, spi, satype)?;
            let now = s.clock;
            let x = &mut s.sad[i];
            x.current.allocations = x.current.allocations.saturating_add(packets);
            x.current.bytes = x.current.bytes.saturating_add(bytes);
            if x.current.usetime == 0 {
                x.current.usetime = now;
            }
            x.replay.oseq = x.replay.oseq.wrapping_add(packets);
            let replay = x.replay;
            s.check_expiry(i);
            Ok(replay)
        })
    }

    /// One inbound packet with ESP/AH sequence number `seq` on an SA: the replay window check
    /// (`xfrm_replay_check` + `xfrm_replay_advance`, legacy 32-packet window) and the counters.
    /// `dst` is the packet's destination, a local address of the host: when no SA is there, a
    /// movable SA with that SPI is used (with [`super::ModelConfig::movable_inbound`]).
    pub fn receive(
        &self,
        dst: SockAddr,
        spi: u32,
        satype: SaType,
        seq: u32,
        bytes: u64,
    ) -> Result<ReplayState, ModelError> {
        self.with_state(|s| {
            let i = s.input_sa(&dst, spi, satype)?;
            let now = s.clock;
            let x = &mut s.sad[i];
            let window = u32::from(x.replay_window);
            let r = &mut x.replay;
            if seq == 0 {
                return Err(ModelError::Replay { seq });
            }
            if seq > r.seq {
                let diff = seq - r.seq;
                r.bitmap = if diff < window { (r.bitmap << diff) | 1 } else { 1 };
                r.seq = seq;
            } else {
                let diff = r.seq - seq;
                if diff >= window || diff >= 32 || r.bitmap & (1 << diff) != 0 {
                    return Err(ModelError::Replay { seq });
                }
                r.bitmap |= 1 << diff;
            }
            let replay = *r;
            x.current.allocations = x.current.allocations.saturating_add(1);
            x.current.bytes = x.current.bytes.saturating_add(bytes);
            if x.current.usetime == 0 {
                x.current.usetime = now;
            }
            s.check_expiry(i);
            Ok(replay)
        })
    }

    /// Traffic from `src` to `dst` hit outbound policy `policy_id` and no SA exists: the kernel
    /// creates a larval SA for the policy's first template and sends `SADB_ACQUIRE`
    /// `<base(seq, pid 0), SRC, DST, POLICY(id), PROPOSAL>` to registered sockets. Returns the
    /// ACQUIRE's seq (an acquire still pending for the same SA is not repeated).
    pub fn acquire(&self, policy_id: u32, src: SockAddr, dst: SockAddr) -> Result<u32, ModelError> {
        self.with_state(|s| {
            let p = s.spd.iter().find(|p| p.id == policy_id).ok_or(ModelError::NoSuchPolicy(policy_id))?;
            let t = *p.templates.first().ok_or(ModelError::NotIpsec(policy_id))?;
            let (priority, id) = (p.priority, p.id);
            let satype = SaType::from_proto(t.proto).ok_or(ModelError::NotIpsec(policy_id))?;
            let (a, b) = match t.endpoints {
                Some(e) => (host(&e.src), host(&e.dst)),
                None => (host(&src), host(&dst)),
            };
            if let Some(x) = s.sad.iter().find(|x| {
                x.state == SaState::Larval
                    && x.spi == 0
                    && x.satype == satype
                    && x.mode == t.mode
                    && x.reqid == t.reqid
                    && x.src.ip() == a.ip()
                    && x.dst.ip() == b.ip()
            }) {
                return Ok(x.acq_seq);
            }
            if !s.sockets.iter().any(|k| k.registered != 0) {
                return Err(ModelError::NoKeyManager);
            }
            let seq = s.acq_seq();
            let order = s.order();
            s.sad.push(ModelSa::larval(satype, 0, a, b, t.mode, t.reqid, s.clock, seq, order));
            let combs = if satype == SaType::Ah { algs::ah_combs() } else { algs::esp_combs() };
            let msg = Message::new(MessageType::Acquire, satype)
                .with_seq(seq)
                .with(Extension::AddressSrc(sa_address(&a)))
                .with(Extension::AddressDst(sa_address(&b)))
                .with(Extension::Policy(Policy {
                    policy_type: PolicyType::Ipsec,
                    dir: PolicyDir::Outbound,
                    reserved: 0,
                    id,
                    priority,
                    requests: Vec::new().into(),
                }))
                .with(Extension::Proposal(Proposal {
                    replay: 32,
                    reserved: [0; 3],
                    combs: combs.into(),
                    trailing: None,
                }));
            tracing::debug!(seq, policy_id, "model ACQUIRE");
            let _ = s.send(&msg, Bcast::Registered, None);
            Ok(seq)
        })
    }

    /// Forces a soft (`hard == false`: the SA turns dying) or hard (the SA is deleted)
    /// expiry of an SA, with the `SADB_EXPIRE` to registered sockets.
    pub fn expire(&self, dst: SockAddr, spi: u32, satype: SaType, hard: bool) -> Result<(), ModelError> {
        self.with_state(|s| {
            let i = s.find_sa(dst.ip(), spi, satype).ok_or(ModelError::NoSuchSa { satype, spi, dst: host(&dst) })?;
            s.expire_at(i, hard);
            Ok(())
        })
    }

    /// Advances the model clock by `secs` and fires the time lifetimes (add and use time) that
    /// fall due, hard before soft, oldest SA first.
    pub fn advance_clock(&self, secs: u64) {
        self.with_state(|s| {
            s.clock = s.clock.saturating_add(secs);
            let mut orders: Vec<u64> = s.sad.iter().map(|x| x.order).collect();
            orders.sort_unstable();
            for o in orders {
                if let Some(i) = s.sad.iter().position(|x| x.order == o) {
                    s.check_expiry(i);
                }
            }
        })
    }

    /// The peer of a NAT-T SA now sends from `new` (address and port): registered sockets get
    /// `SADB_X_NAT_T_NEW_MAPPING <base(seq, pid 0), SA, SRC(old), NAT_T_SPORT(old port),
    /// DST(new), NAT_T_DPORT(new port)>` (`pfkey_send_new_mapping`). Returns the seq.
    pub fn new_mapping(&self, dst: SockAddr, spi: u32, satype: SaType, new: SockAddr) -> Result<u32, ModelError> {
        self.with_state(|s| {
            let i = s.usable(&dst, spi, satype)?;
            let x = &s.sad[i];
            let n = x.natt.filter(|_| satype == SaType::Esp).ok_or(ModelError::NoEncapsulation(spi))?;
            let (old, spi) = (x.src, x.spi);
            let seq = s.acq_seq();
            s.sad[i].acq_seq = seq;
            let msg = Message::new(MessageType::XNatTNewMapping, SaType::Esp)
                .with_seq(seq)
                .with(Extension::Sa(Sa {
                    spi,
                    replay: 0,
                    state: SaState::Larval,
                    auth: AuthAlg::None,
                    encrypt: EncryptAlg::None,
                    flags: 0,
                }))
                .with(Extension::AddressSrc(sa_address(&old)))
                .with(Extension::NatTSport(NatTPort { port: n.sport, reserved: 0 }))
                .with(Extension::AddressDst(Address::prefix(host(&new), new.max_prefixlen(), 0)))
                .with(Extension::NatTDport(NatTPort { port: new.port(), reserved: 0 }));
            let _ = s.send(&msg, Bcast::Registered, None);
            Ok(seq)
        })
    }
}

//! SPD messages: SPDADD/SPDUPDATE/SPDSETIDX, SPDDELETE, SPDGET/SPDDELETE2, SPDDUMP, SPDFLUSH
//! (`pfkey_spdadd`, `xfrm_policy_insert`, `xfrm_gen_index`, ...).

use crate::message::{Endpoints, IpsecRequest, Message, Selector, SockAddr, Template};
use crate::wire::numbers::ExtKind;
use crate::wire::numbers::{IPPROTO_AH, IPPROTO_COMP, IPPROTO_ESP, IPSEC_MANUAL_REQID_MAX, Level, MessageType, Mode};
use crate::wire::numbers::{PolicyDir, PolicyType, XFRM_MAX_DEPTH};

use super::render::{host, policy_message, proto_to_xfrm, template_level};
use super::sad::xfrm_mode;
use super::state::ModelPolicy;
use super::{Bcast, Errno, Handled, State, src_dst};

/// `IPPROTO_ROUTING` and `IPPROTO_DSTOPTS` (valid template protocols with IPv6).
const IPPROTO_ROUTING: u16 = 43;
const IPPROTO_DSTOPTS: u16 = 60;

/// The selector of an SPD message as `pfkey_spdadd` builds it: addresses and ports, prefix
/// lengths, and the protocol of the DST extension ("we set this twice").
pub(crate) fn selector_of(m: &Message<'_>) -> Result<Selector, Errno> {
    let (s, d) = src_dst(m)?;
    let proto = match proto_to_xfrm(d.proto) {
        0 => crate::wire::numbers::IPSEC_ULPROTO_ANY,
        p => p,
    };
    Ok(Selector {
        src: SockAddr::with_port(s.addr.ip(), s.addr.port()),
        src_prefixlen: s.prefixlen,
        dst: SockAddr::with_port(d.addr.ip(), d.addr.port()),
        dst_prefixlen: d.prefixlen,
        proto,
    })
}

/// The xfrm direction (0 in, 1 out, 2 fwd) of a PF_KEY direction 1..=3.
pub(crate) fn xfrm_dir(dir: PolicyDir) -> Option<u32> {
    match u8::from(dir) {
        d @ 1..=3 => Some(u32::from(d) - 1),
        _ => None,
    }
}

impl State {
    /// `gen_reqid`: the next automatic reqid no policy template uses.
    fn gen_reqid(&self, counter: &mut u32, pending: &[Template]) -> Option<u32> {
        let start = *counter;
        loop {
            *counter = counter.wrapping_add(1);
            if *counter == 0 {
                *counter = IPSEC_MANUAL_REQID_MAX + 1;
            }
            let used = self.spd.iter().flat_map(|p| &p.templates).chain(pending).any(|t| t.reqid == *counter);
            if !used {
                return Some(*counter);
            }
            if *counter == start {
                return None;
            }
        }
    }

    /// `parse_ipsecrequest` for every request of a policy.
    fn templates_of(&self, reqs: &[IpsecRequest<'_>], reqid_counter: &mut u32) -> Result<Vec<Template>, Errno> {
        let mut out: Vec<Template> = Vec::new();
        for rq in reqs {
            if out.len() >= XFRM_MAX_DEPTH {
                return Err(libc::ELOOP);
            }
            if rq.mode == Mode::Any {
                return Err(libc::EINVAL);
            }
            if !matches!(rq.proto, IPPROTO_AH | IPPROTO_ESP | IPPROTO_COMP | IPPROTO_ROUTING | IPPROTO_DSTOPTS) {
                return Err(libc::EINVAL);
            }
            let mode = xfrm_mode(rq.mode).ok_or(libc::EINVAL)?;
            let optional = rq.level == Level::Use;
            let mut reqid = 0;
            if rq.level == Level::Unique {
                reqid = if rq.reqid > IPSEC_MANUAL_REQID_MAX { 0 } else { rq.reqid };
                if reqid == 0 {
                    reqid = self.gen_reqid(reqid_counter, &out).ok_or(libc::ENOBUFS)?;
                }
            }
            let clean = |e: Endpoints| Endpoints { src: host(&e.src), dst: host(&e.dst) };
            let endpoints = match mode {
                Mode::Tunnel => Some(clean(rq.endpoints.ok_or(libc::EINVAL)?)),
                // Stock PF_KEY drops BEET endpoints; patch 0012 keeps them (as XFRM does).
                Mode::Beet if self.config.beet_inner => rq.endpoints.map(clean),
                _ => None,
            };
            out.push(Template { proto: rq.proto, mode, level: template_level(optional, reqid), reqid, endpoints });
        }
        Ok(out)
    }

    /// `xfrm_gen_index`: `(generator | dir)`, the generator stepping by 8, skipping used ids.
    fn gen_index(&self, counter: &mut u32, dir: u32) -> u32 {
        loop {
            let mut idx = *counter | dir;
            *counter = counter.wrapping_add(8);
            if idx == 0 {
                idx = 8;
            }
            if !self.spd.iter().any(|p| p.id == idx) {
                return idx;
            }
        }
    }

    /// `pfkey_spdadd` (SPDADD, SPDUPDATE, SPDSETIDX).
    pub(crate) fn spdadd(&mut self, m: &Message<'_>) -> Handled {
        let selector = selector_of(m)?;
        let pol = m.policy().ok_or(libc::EINVAL)?;
        let ptype = u16::from(pol.policy_type);
        if ptype > u16::from(PolicyType::Ipsec) {
            return Err(libc::EINVAL);
        }
        let xdir = xfrm_dir(pol.dir).ok_or(libc::EINVAL)?;
        let mut reqid_counter = self.counters.reqid;
        let templates = if pol.policy_type == PolicyType::Ipsec {
            self.templates_of(&pol.requests.to_vec(), &mut reqid_counter)?
        } else {
            Vec::new()
        };
        let existing = self.spd.iter().position(|p| p.dir == pol.dir && p.selector == selector);
        let update = m.msg_type() == MessageType::XSpdUpdate;
        if existing.is_some() && !update {
            return Err(libc::EEXIST);
        }
        let policy_type = match pol.policy_type {
            PolicyType::Discard => PolicyType::Discard,
            _ if templates.is_empty() => PolicyType::None,
            _ => PolicyType::Ipsec,
        };
        let mut index_counter = self.counters.policy_index;
        let id = match existing {
            Some(i) => self.spd.remove(i).id,
            None => self.gen_index(&mut index_counter, xdir),
        };
        self.counters.reqid = reqid_counter;
        self.counters.policy_index = index_counter;
        let order = self.order();
        let p = ModelPolicy {
            selector,
            dir: pol.dir,
            policy_type,
            priority: pol.priority,
            id,
            templates,
            hard: m.lifetime(ExtKind::LifetimeHard).unwrap_or_default(),
            soft: m.lifetime(ExtKind::LifetimeSoft).unwrap_or_default(),
            add_time: self.clock,
            order,
        };
        tracing::debug!(id, dir = %p.dir, update, "model policy stored");
        let kind = if update { MessageType::XSpdUpdate } else { MessageType::XSpdAdd };
        let note = policy_message(&p, kind, m.header.seq, m.header.pid);
        self.spd.push(p);
        self.send(&note, Bcast::All, None)
    }

    /// `pfkey_spddelete` (by selector and direction).
    pub(crate) fn spddelete(&mut self, m: &Message<'_>) -> Handled {
        let selector = selector_of(m)?;
        let pol = m.policy().ok_or(libc::EINVAL)?;
        xfrm_dir(pol.dir).ok_or(libc::EINVAL)?;
        let i = self.spd.iter().position(|p| p.dir == pol.dir && p.selector == selector).ok_or(libc::ENOENT)?;
        let p = self.spd.remove(i);
        let note = policy_message(&p, MessageType::XSpdDelete, m.header.seq, m.header.pid);
        self.send(&note, Bcast::All, None)
    }

    /// `pfkey_spdget` (SPDGET, SPDDELETE2): by id, whose low 3 bits are the direction.
    pub(crate) fn spdget(&mut self, pid: u32, m: &Message<'_>) -> Handled {
        let pol = m.policy().ok_or(libc::EINVAL)?;
        if pol.id & 7 >= 3 {
            return Err(libc::EINVAL);
        }
        let i = self.spd.iter().position(|p| p.id == pol.id).ok_or(libc::ENOENT)?;
        if m.msg_type() == MessageType::XSpdDelete2 {
            let p = self.spd.remove(i);
            let note = policy_message(&p, MessageType::XSpdDelete2, m.header.seq, m.header.pid);
            self.send(&note, Bcast::All, None)
        } else {
            let reply = policy_message(&self.spd[i], m.msg_type(), m.header.seq, m.header.pid);
            self.send(&reply, Bcast::One, Some(pid))
        }
    }

    /// `pfkey_spddump`: newest first, the last message with seq 0; ENOENT when empty.
    pub(crate) fn spddump(&mut self, pid: u32, m: &Message<'_>) -> Handled {
        let mut ps: Vec<&ModelPolicy> = self.spd.iter().collect();
        ps.sort_by_key(|p| std::cmp::Reverse(p.order));
        let n = ps.len();
        let msgs: Vec<Message<'static>> = ps
            .iter()
            .enumerate()
            .map(|(k, p)| {
                let seq = if k + 1 == n { 0 } else { k as u32 + 1 };
                policy_message(p, MessageType::XSpdDump, seq, m.header.pid)
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

    /// `pfkey_spdflush`: a header echo to the requester, and a broadcast if anything went.
    pub(crate) fn spdflush(&mut self, pid: u32, m: &Message<'_>) -> Handled {
        let flushed = !self.spd.is_empty();
        self.spd.clear();
        self.header_echo(pid, m)?;
        if !flushed {
            return Ok(());
        }
        let note = Message::new(MessageType::XSpdFlush, crate::wire::numbers::SaType::Unspec)
            .with_seq(m.header.seq)
            .with_pid(m.header.pid);
        self.send(&note, Bcast::All, None)
    }
}

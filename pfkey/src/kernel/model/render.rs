//! The messages the model's kernel sends, built with the message layer as `af_key` composes
//! them (`__pfkey_xfrm_state2msg`, `pfkey_xfrm_policy2msg`, `pfkey_send_migrate`, ...).

use std::net::IpAddr;

use crate::message::{
    Address, Endpoints, Extension, IpsecRequest, Key, KmAddress, Lifetime, Message, NatT, NatTPort, NatTTypeExt,
    Policy, Sa, Sa2, SockAddr, Template,
};
use crate::wire::numbers::{IPSEC_ULPROTO_ANY, Level, MessageType, Mode, NatTType, PolicyDir, PolicyType, SaType};

use super::state::{ModelPolicy, ModelSa};

/// `sockaddr` as `pfkey_sockaddr_fill` writes it: the address only, port 0.
pub(crate) fn host(a: &SockAddr) -> SockAddr {
    SockAddr::new(a.ip())
}

/// A host address extension as the kernel writes it for an SA (proto 0, full prefix).
pub(crate) fn sa_address(a: &SockAddr) -> Address<'static> {
    Address::prefix(host(a), a.max_prefixlen(), 0)
}

/// Appends the NAT-T extensions of `n` (nothing for type NONE).
pub(crate) fn push_natt(m: &mut Message<'static>, n: &NatT) {
    m.push(Extension::NatTType(NatTTypeExt { nat_t_type: n.nat_t_type, reserved: [0; 3] }));
    m.push(Extension::NatTSport(NatTPort { port: n.sport, reserved: 0 }));
    m.push(Extension::NatTDport(NatTPort { port: n.dport, reserved: 0 }));
}

/// An SA as `__pfkey_xfrm_state2msg(x, keys, hsc)` renders it: SA, lifetimes (HARD if
/// `hsc & 2`, SOFT if `hsc & 1`, CURRENT), SRC, DST, keys, SA2, NAT-T.
pub(crate) fn sa_message(
    sa: &ModelSa,
    msg_type: MessageType,
    seq: u32,
    pid: u32,
    keys: bool,
    hsc: u8,
) -> Message<'static> {
    let mut m = Message::new(msg_type, sa.satype).with_seq(seq).with_pid(pid);
    m.push(Extension::Sa(Sa {
        spi: sa.spi,
        replay: sa.replay_window,
        state: sa.reported_state(),
        auth: sa.auth.as_ref().map_or(0.into(), |a| a.alg),
        encrypt: sa.encrypt.as_ref().map_or(0.into(), |e| e.alg),
        flags: sa.flags,
    }));
    if hsc & 2 != 0 {
        m.push(Extension::LifetimeHard(sa.hard));
    }
    if hsc & 1 != 0 {
        m.push(Extension::LifetimeSoft(sa.soft));
    }
    m.push(Extension::LifetimeCurrent(sa.current));
    m.push(Extension::AddressSrc(sa_address(&sa.src)));
    m.push(Extension::AddressDst(sa_address(&sa.dst)));
    if let Some(i) = sa.inner.as_ref().filter(|_| sa.mode == Mode::Beet) {
        // The selector's protocol (none: IPSEC_ULPROTO_ANY) and full-length prefixes.
        let inner = |a: &SockAddr| Address::prefix(host(a), a.max_prefixlen(), IPSEC_ULPROTO_ANY);
        m.push(Extension::AddressProxy(inner(&i.src)));
        if let Some(d) = &i.dst {
            m.push(Extension::InnerAddressDst(inner(d)));
        }
    }
    if keys {
        if let Some(a) = sa.auth.as_ref().filter(|a| !a.key.is_empty()) {
            m.push(Extension::KeyAuth(Key::new(&a.key)));
        }
        if let Some(e) = sa.encrypt.as_ref().filter(|e| !e.key.is_empty()) {
            m.push(Extension::KeyEncrypt(Key::new(&e.key)));
        }
    }
    m.push(Extension::Sa2(Sa2 { mode: sa.mode, reserved1: 0, reserved2: 0, sequence: 0, reqid: sa.reqid }));
    if let Some(n) = sa.natt.as_ref().filter(|n| n.nat_t_type != NatTType::None) {
        push_natt(&mut m, n);
    }
    m
}

/// The level `pfkey_xfrm_policy2msg` reports for a template.
pub(crate) fn template_level(optional: bool, reqid: u32) -> Level {
    if optional {
        Level::Use
    } else if reqid != 0 {
        Level::Unique
    } else {
        Level::Require
    }
}

fn request(t: &Template) -> IpsecRequest<'static> {
    IpsecRequest {
        proto: t.proto,
        mode: t.mode,
        level: t.level,
        reqid: t.reqid,
        reserved1: 0,
        reserved2: 0,
        endpoints: t.endpoints,
        trailing: None,
    }
}

/// A policy as `pfkey_xfrm_policy2msg` renders it: SRC, DST, HARD, SOFT, CURRENT, POLICY.
/// (Linux puts the policy's reference count in `sadb_msg_reserved`; the model writes 0.)
pub(crate) fn policy_message(p: &ModelPolicy, msg_type: MessageType, seq: u32, pid: u32) -> Message<'static> {
    let sel = &p.selector;
    let mut m = Message::new(msg_type, SaType::Unspec).with_seq(seq).with_pid(pid);
    m.push(Extension::AddressSrc(Address::prefix(sel.src, sel.src_prefixlen, sel.proto)));
    m.push(Extension::AddressDst(Address::prefix(sel.dst, sel.dst_prefixlen, sel.proto)));
    m.push(Extension::LifetimeHard(p.hard));
    m.push(Extension::LifetimeSoft(p.soft));
    m.push(Extension::LifetimeCurrent(Lifetime { addtime: p.add_time, ..Lifetime::default() }));
    m.push(Extension::Policy(Policy {
        policy_type: p.policy_type,
        dir: p.dir,
        reserved: 0,
        id: p.id,
        priority: p.priority,
        requests: p.templates.iter().map(request).collect::<Vec<_>>().into(),
    }));
    m
}

/// One bundle of a MIGRATE as the kernel re-emits it (mode already mapped through xfrm).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MigrateEcho {
    pub proto: u16,
    pub mode: Mode,
    pub reqid: u32,
    pub old: Endpoints,
    pub new: Endpoints,
}

/// The selector part of a MIGRATE notification.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MigrateSel {
    pub src: IpAddr,
    pub src_prefixlen: u8,
    pub dst: IpAddr,
    pub dst_prefixlen: u8,
    /// xfrm protocol (0 = any), written raw as `set_sadb_address` does.
    pub proto: u8,
}

/// `pfkey_send_migrate`'s message: `<base(seq 0, pid 0), [KMADDRESS], SRC, DST, POLICY(pairs)>`,
/// plus the NAT-T extensions applied (this project's extension).
pub(crate) fn migrate_message(
    sel: &MigrateSel,
    dir: PolicyDir,
    bundles: &[MigrateEcho],
    km: Option<(u32, SockAddr, SockAddr)>,
    natt: Option<NatT>,
) -> Message<'static> {
    let satype = bundles.first().and_then(|b| SaType::from_proto(b.proto)).unwrap_or(SaType::Unspec);
    let mut m = Message::new(MessageType::XMigrate, satype);
    if let Some((reserved, local, remote)) = km {
        m.push(Extension::KmAddress(KmAddress {
            reserved,
            local: host(&local),
            remote: host(&remote),
            trailing: None,
        }));
    }
    let addr = |ip: IpAddr, plen: u8| Address::prefix(SockAddr::new(ip), plen, sel.proto);
    m.push(Extension::AddressSrc(addr(sel.src, sel.src_prefixlen)));
    m.push(Extension::AddressDst(addr(sel.dst, sel.dst_prefixlen)));
    let mut reqs = Vec::with_capacity(bundles.len() * 2);
    for b in bundles {
        for ep in [b.old, b.new] {
            reqs.push(IpsecRequest {
                proto: b.proto,
                mode: b.mode,
                level: template_level(false, b.reqid),
                reqid: b.reqid,
                reserved1: 0,
                reserved2: 0,
                endpoints: Some(Endpoints { src: host(&ep.src), dst: host(&ep.dst) }),
                trailing: None,
            });
        }
    }
    m.push(Extension::Policy(Policy {
        policy_type: PolicyType::Ipsec,
        dir,
        reserved: 0,
        id: 0,
        priority: 0,
        requests: reqs.into(),
    }));
    if let Some(n) = natt {
        push_natt(&mut m, &n);
    }
    m
}

/// The xfrm protocol of a selector (`pfkey_proto_to_xfrm`: 255 means any, stored as 0).
pub(crate) fn proto_to_xfrm(proto: u8) -> u8 {
    if proto == IPSEC_ULPROTO_ANY { 0 } else { proto }
}

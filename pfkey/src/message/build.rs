//! Builders for every request a key-management daemon sends, and typed readers for the
//! composite messages (SA, policy, MIGRATE) that both the kernel model and daemons need.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::error::Rule;
use super::ext::*;
use super::list::List;
use super::sockaddr::SockAddr;
use super::{Extension, Message};
use crate::wire::numbers::*;

/// UDP encapsulation (NAT-T) of an SA: type and ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NatT {
    /// Encapsulation type (normally `UDP_ENCAP_ESPINUDP`).
    pub nat_t_type: NatTType,
    /// Source UDP port.
    pub sport: u16,
    /// Destination UDP port.
    pub dport: u16,
}

impl NatT {
    /// RFC 3948 ESP-in-UDP between `sport` and `dport`.
    pub fn esp_in_udp(sport: u16, dport: u16) -> Self {
        NatT { nat_t_type: NatTType::EspInUdp, sport, dport }
    }

    fn push(&self, m: &mut Message<'static>) {
        m.push(Extension::NatTType(NatTTypeExt { nat_t_type: self.nat_t_type, reserved: [0; 3] }));
        m.push(Extension::NatTSport(NatTPort { port: self.sport, reserved: 0 }));
        m.push(Extension::NatTDport(NatTPort { port: self.dport, reserved: 0 }));
    }

    /// The NAT-T configuration a message carries (type and both ports), if any.
    pub fn from_message(m: &Message<'_>) -> Option<NatT> {
        let t = m.nat_t_type()?;
        Some(NatT {
            nat_t_type: t.nat_t_type,
            sport: m.nat_t_port(ExtKind::NatTSport).map_or(0, |p| p.port),
            dport: m.nat_t_port(ExtKind::NatTDport).map_or(0, |p| p.port),
        })
    }
}

/// The inner addresses of a BEET SA (RFC 7402): the hosts its packets carry inside, which a
/// BEET SA restores on input (its selector, on Linux).
///
/// PF_KEY carries the source in `SADB_EXT_ADDRESS_PROXY` and the destination in
/// `SADB_X_EXT_INNER_ADDRESS_DST` (Linux 32, this project's series; `spec/draft-pfkey-mobility.md`
/// Section 13.2). A kernel without that extension ignores it and decapsulates to the
/// unspecified address (see `Capabilities::beet_inner`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BeetInner {
    /// Inner source host (`SADB_EXT_ADDRESS_PROXY`).
    pub src: SockAddr,
    /// Inner destination host (`SADB_X_EXT_INNER_ADDRESS_DST`), if sent.
    pub dst: Option<SockAddr>,
}

impl BeetInner {
    /// Both inner hosts.
    pub fn new(src: SockAddr, dst: SockAddr) -> Self {
        BeetInner { src, dst: Some(dst) }
    }

    fn push(&self, m: &mut Message<'static>) {
        m.push(Extension::AddressProxy(Address::host(self.src)));
        if let Some(d) = self.dst {
            m.push(Extension::InnerAddressDst(Address::host(d)));
        }
    }

    /// The inner addresses a message carries for an SA in `mode`: only a BEET SA has them, and
    /// only with `SADB_EXT_ADDRESS_PROXY` (which Linux also reports, as `0.0.0.0/0`, for SAs
    /// without a selector source).
    pub fn from_message(m: &Message<'_>, mode: Mode) -> Option<BeetInner> {
        if mode != Mode::Beet {
            return None;
        }
        let src = m.address(ExtKind::AddressProxy)?.addr;
        Some(BeetInner { src, dst: m.address(ExtKind::InnerAddressDst).map(|a| a.addr) })
    }
}

/// An algorithm with its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlgKey<A> {
    /// Algorithm.
    pub alg: A,
    /// Key bytes.
    #[serde(with = "super::hex::cow")]
    pub key: Cow<'static, [u8]>,
}

impl<A> AlgKey<A> {
    /// An algorithm with a key.
    pub fn new(alg: A, key: &[u8]) -> Self {
        AlgKey { alg, key: Cow::Owned(key.to_vec()) }
    }
}

/// Everything `SADB_ADD`/`SADB_UPDATE` say about one SA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaSpec {
    /// SA type (AH, ESP, IPCOMP).
    pub satype: SaType,
    /// SPI.
    pub spi: u32,
    /// Outer source address.
    pub src: SockAddr,
    /// Outer destination address.
    pub dst: SockAddr,
    /// Mode (`SADB_X_EXT_SA2`).
    pub mode: Mode,
    /// Request id (`SADB_X_EXT_SA2`).
    pub reqid: u32,
    /// Replay window in packets.
    pub replay: u8,
    /// SA flags.
    pub flags: u32,
    /// State (`MATURE` for ADD).
    pub state: SaState,
    /// Authentication algorithm and key.
    pub auth: Option<AlgKey<AuthAlg>>,
    /// Encryption algorithm and key.
    pub encrypt: Option<AlgKey<EncryptAlg>>,
    /// Hard lifetime limits.
    pub hard: Option<Lifetime>,
    /// Soft lifetime limits.
    pub soft: Option<Lifetime>,
    /// UDP encapsulation.
    pub natt: Option<NatT>,
    /// BEET mode: the inner addresses (`SADB_EXT_ADDRESS_PROXY`, `SADB_X_EXT_INNER_ADDRESS_DST`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner: Option<BeetInner>,
}

impl SaSpec {
    /// A mature tunnel-mode ESP SA with AES-GCM-16 (`key` includes the 4-byte salt).
    pub fn esp_tunnel_gcm(spi: u32, src: SockAddr, dst: SockAddr, reqid: u32, key: &[u8]) -> Self {
        SaSpec {
            inner: None,
            satype: SaType::Esp,
            spi,
            src,
            dst,
            mode: Mode::Tunnel,
            reqid,
            replay: 32,
            flags: 0,
            state: SaState::Mature,
            auth: None,
            encrypt: Some(AlgKey::new(EncryptAlg::AesGcmIcv16, key)),
            hard: None,
            soft: None,
            natt: None,
        }
    }

    /// The same SA marked movable ([`crate::wire::numbers::SADB_SAFLAGS_MOVABLE`]): meant for an
    /// inbound tunnel-mode SA, which a kernel with the flag then also finds by its SPI at the
    /// host's other local addresses (see `spec/movable-inbound-sa.md`). A kernel with the flag
    /// refuses it on other modes (`EINVAL`); one without ignores it.
    pub fn movable(mut self) -> Self {
        self.flags |= crate::wire::numbers::SADB_SAFLAGS_MOVABLE;
        self
    }

    /// Whether the SA is marked movable.
    pub fn is_movable(&self) -> bool {
        self.flags & crate::wire::numbers::SADB_SAFLAGS_MOVABLE != 0
    }

    fn message(&self, msg_type: MessageType, with_keys: bool) -> Message<'static> {
        let mut m = Message::new(msg_type, self.satype);
        m.push(Extension::Sa(Sa {
            spi: self.spi,
            replay: self.replay,
            state: self.state,
            auth: self.auth.as_ref().map_or(AuthAlg::None, |a| a.alg),
            encrypt: self.encrypt.as_ref().map_or(EncryptAlg::None, |e| e.alg),
            flags: self.flags,
        }));
        m.push(Extension::Sa2(Sa2 { mode: self.mode, reserved1: 0, reserved2: 0, sequence: 0, reqid: self.reqid }));
        if let Some(h) = self.hard {
            m.push(Extension::LifetimeHard(h));
        }
        if let Some(s) = self.soft {
            m.push(Extension::LifetimeSoft(s));
        }
        m.push(Extension::AddressSrc(Address::host(self.src)));
        m.push(Extension::AddressDst(Address::host(self.dst)));
        if let Some(i) = &self.inner {
            i.push(&mut m);
        }
        if with_keys {
            if let Some(a) = &self.auth {
                m.push(Extension::KeyAuth(Key::new(&a.key)));
            }
            if let Some(e) = &self.encrypt {
                m.push(Extension::KeyEncrypt(Key::new(&e.key)));
            }
        }
        if let Some(n) = &self.natt {
            n.push(&mut m);
        }
        m
    }

    /// Reads the SA a message describes (ADD/UPDATE requests, GET replies, dumps).
    pub fn from_message(m: &Message<'_>) -> Option<SaSpec> {
        let sa = m.sa()?;
        let sa2 = m.sa2();
        let key = |k: ExtKind| m.key(k).map(|k| Cow::Owned(k.key.into_owned()));
        Some(SaSpec {
            satype: m.header.satype,
            spi: sa.spi,
            src: m.address(ExtKind::AddressSrc)?.addr,
            dst: m.address(ExtKind::AddressDst)?.addr,
            mode: sa2.map_or(Mode::Any, |s| s.mode),
            reqid: sa2.map_or(0, |s| s.reqid),
            replay: sa.replay,
            flags: sa.flags,
            state: sa.state,
            auth: key(ExtKind::KeyAuth)
                .map(|key| AlgKey { alg: sa.auth, key })
                .or_else(|| (sa.auth != AuthAlg::None).then(|| AlgKey { alg: sa.auth, key: Cow::Owned(Vec::new()) })),
            encrypt: key(ExtKind::KeyEncrypt).map(|key| AlgKey { alg: sa.encrypt, key }).or_else(|| {
                (sa.encrypt != EncryptAlg::None).then(|| AlgKey { alg: sa.encrypt, key: Cow::Owned(Vec::new()) })
            }),
            hard: m.lifetime(ExtKind::LifetimeHard),
            soft: m.lifetime(ExtKind::LifetimeSoft),
            natt: NatT::from_message(m),
            inner: BeetInner::from_message(m, sa2.map_or(Mode::Any, |s| s.mode)),
        })
    }
}

/// `SADB_GETSPI`: allocate an SPI in `range` for a larval SA from `src` to `dst`.
pub fn getspi(
    satype: SaType,
    src: SockAddr,
    dst: SockAddr,
    range: (u32, u32),
    mode: Mode,
    reqid: u32,
) -> Message<'static> {
    Message::new(MessageType::GetSpi, satype)
        .with(Extension::Sa2(Sa2 { mode, reserved1: 0, reserved2: 0, sequence: 0, reqid }))
        .with(Extension::AddressSrc(Address::host(src)))
        .with(Extension::AddressDst(Address::host(dst)))
        .with(Extension::SpiRange(SpiRange { min: range.0, max: range.1, reserved: 0 }))
}

/// `SADB_ADD` of a complete SA.
pub fn add(sa: &SaSpec) -> Message<'static> {
    sa.message(MessageType::Add, true)
}

/// `SADB_UPDATE` of an SA (completes a larval SA; on a mature SA only lifetimes/NAT-T change).
pub fn update(sa: &SaSpec) -> Message<'static> {
    sa.message(MessageType::Update, true)
}

/// The per-SA address update: `SADB_UPDATE` with `SADB_X_EXT_NEW_ADDRESS_SRC/DST`
/// (FreeBSD's composition: SA, SA2, old SRC/DST, new addresses, NAT-T; no keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateAddresses {
    /// SA type.
    pub satype: SaType,
    /// SPI of the SA to move.
    pub spi: u32,
    /// Its current source.
    pub src: SockAddr,
    /// Its current destination.
    pub dst: SockAddr,
    /// Mode and reqid (`SADB_X_EXT_SA2`), checked against the SA.
    pub mode: Mode,
    /// Request id.
    pub reqid: u32,
    /// The new source (unchanged when `None`).
    pub new_src: Option<SockAddr>,
    /// The new destination (unchanged when `None`).
    pub new_dst: Option<SockAddr>,
    /// New UDP encapsulation (`NatT` with type `None` removes it).
    pub natt: Option<NatT>,
}

impl UpdateAddresses {
    /// The request message.
    pub fn message(&self) -> Message<'static> {
        let mut m = Message::new(MessageType::Update, self.satype)
            .with(Extension::Sa(Sa {
                spi: self.spi,
                replay: 0,
                state: SaState::Mature,
                auth: AuthAlg::None,
                encrypt: EncryptAlg::None,
                flags: 0,
            }))
            .with(Extension::Sa2(Sa2 { mode: self.mode, reserved1: 0, reserved2: 0, sequence: 0, reqid: self.reqid }))
            .with(Extension::AddressSrc(Address::host(self.src)))
            .with(Extension::AddressDst(Address::host(self.dst)));
        if let Some(a) = self.new_src {
            m.push(Extension::NewAddressSrc(Address::host(a)));
        }
        if let Some(a) = self.new_dst {
            m.push(Extension::NewAddressDst(Address::host(a)));
        }
        if let Some(n) = &self.natt {
            n.push(&mut m);
        }
        m
    }

    /// Reads an address update from an `SADB_UPDATE`; `None` if it carries no new address.
    pub fn from_message(m: &Message<'_>) -> Option<UpdateAddresses> {
        if m.msg_type() != MessageType::Update {
            return None;
        }
        let new_src = m.address(ExtKind::NewAddressSrc).map(|a| a.addr);
        let new_dst = m.address(ExtKind::NewAddressDst).map(|a| a.addr);
        if new_src.is_none() && new_dst.is_none() {
            return None;
        }
        let sa2 = m.sa2();
        Some(UpdateAddresses {
            satype: m.header.satype,
            spi: m.sa()?.spi,
            src: m.address(ExtKind::AddressSrc)?.addr,
            dst: m.address(ExtKind::AddressDst)?.addr,
            mode: sa2.map_or(Mode::Any, |s| s.mode),
            reqid: sa2.map_or(0, |s| s.reqid),
            new_src,
            new_dst,
            natt: NatT::from_message(m),
        })
    }
}

/// An SA's identity: type, SPI and addresses (`SADB_DELETE`, `SADB_GET`).
pub fn sa_id(msg_type: MessageType, satype: SaType, spi: u32, src: SockAddr, dst: SockAddr) -> Message<'static> {
    Message::new(msg_type, satype)
        .with(Extension::Sa(Sa {
            spi,
            replay: 0,
            state: SaState::Mature,
            auth: AuthAlg::None,
            encrypt: EncryptAlg::None,
            flags: 0,
        }))
        .with(Extension::AddressSrc(Address::host(src)))
        .with(Extension::AddressDst(Address::host(dst)))
}

/// `SADB_DELETE`.
pub fn delete(satype: SaType, spi: u32, src: SockAddr, dst: SockAddr) -> Message<'static> {
    sa_id(MessageType::Delete, satype, spi, src, dst)
}

/// `SADB_GET`.
pub fn get(satype: SaType, spi: u32, src: SockAddr, dst: SockAddr) -> Message<'static> {
    sa_id(MessageType::Get, satype, spi, src, dst)
}

/// `SADB_REGISTER`.
pub fn register(satype: SaType) -> Message<'static> {
    Message::new(MessageType::Register, satype)
}

/// `SADB_FLUSH`.
pub fn flush(satype: SaType) -> Message<'static> {
    Message::new(MessageType::Flush, satype)
}

/// `SADB_DUMP`.
pub fn dump(satype: SaType) -> Message<'static> {
    Message::new(MessageType::Dump, satype)
}

/// `SADB_X_PROMISC` (`on` sets satype 1, off 0).
pub fn promisc(on: bool) -> Message<'static> {
    Message::new(MessageType::XPromisc, SaType::from(on as u8))
}

/// One template of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Template {
    /// IP protocol (`IPPROTO_ESP` ...).
    pub proto: u16,
    /// Mode.
    pub mode: Mode,
    /// Level.
    pub level: Level,
    /// Request id.
    pub reqid: u32,
    /// Tunnel endpoints (tunnel and BEET mode).
    pub endpoints: Option<Endpoints>,
}

impl Template {
    fn request(&self) -> IpsecRequest<'static> {
        IpsecRequest {
            proto: self.proto,
            mode: self.mode,
            level: self.level,
            reqid: self.reqid,
            reserved1: 0,
            reserved2: 0,
            endpoints: self.endpoints,
            trailing: None,
        }
    }

    fn from_request(r: &IpsecRequest<'_>) -> Template {
        Template { proto: r.proto, mode: r.mode, level: r.level, reqid: r.reqid, endpoints: r.endpoints }
    }
}

/// A traffic selector as the SPD messages carry it: prefixes and upper-layer protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Selector {
    /// Source prefix address (the port is the selector's source port).
    pub src: SockAddr,
    /// Source prefix length.
    pub src_prefixlen: u8,
    /// Destination prefix address (with port).
    pub dst: SockAddr,
    /// Destination prefix length.
    pub dst_prefixlen: u8,
    /// Upper-layer protocol (255 = any).
    pub proto: u8,
}

impl Selector {
    /// A selector between two prefixes, any protocol.
    pub fn new(src: SockAddr, src_prefixlen: u8, dst: SockAddr, dst_prefixlen: u8) -> Self {
        Selector { src, src_prefixlen, dst, dst_prefixlen, proto: IPSEC_ULPROTO_ANY }
    }

    fn push(&self, m: &mut Message<'static>) {
        m.push(Extension::AddressSrc(Address::prefix(self.src, self.src_prefixlen, self.proto)));
        m.push(Extension::AddressDst(Address::prefix(self.dst, self.dst_prefixlen, self.proto)));
    }

    /// The selector of a message's SRC/DST address extensions.
    pub fn from_message(m: &Message<'_>) -> Option<Selector> {
        let s = m.address(ExtKind::AddressSrc)?;
        let d = m.address(ExtKind::AddressDst)?;
        Some(Selector {
            src: s.addr,
            src_prefixlen: s.prefixlen,
            dst: d.addr,
            dst_prefixlen: d.prefixlen,
            proto: s.proto,
        })
    }
}

/// A security policy (`SADB_X_SPDADD` and friends).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySpec {
    /// The traffic it applies to.
    pub selector: Selector,
    /// Direction.
    pub dir: PolicyDir,
    /// Action.
    pub policy_type: PolicyType,
    /// Priority.
    pub priority: u32,
    /// Kernel-assigned index (0 when adding).
    pub id: u32,
    /// Templates (IPsec policies only).
    pub templates: Vec<Template>,
}

impl PolicySpec {
    /// An IPsec policy with one ESP tunnel template from `tsrc` to `tdst` (level UNIQUE with `reqid`).
    pub fn esp_tunnel(selector: Selector, dir: PolicyDir, tsrc: SockAddr, tdst: SockAddr, reqid: u32) -> Self {
        PolicySpec {
            selector,
            dir,
            policy_type: PolicyType::Ipsec,
            priority: 0,
            id: 0,
            templates: vec![Template {
                proto: IPPROTO_ESP,
                mode: Mode::Tunnel,
                level: Level::Unique,
                reqid,
                endpoints: Some(Endpoints { src: tsrc, dst: tdst }),
            }],
        }
    }

    fn policy_ext(&self) -> Extension<'static> {
        Extension::Policy(Policy {
            policy_type: self.policy_type,
            dir: self.dir,
            reserved: 0,
            id: self.id,
            priority: self.priority,
            requests: self.templates.iter().map(Template::request).collect::<Vec<_>>().into(),
        })
    }

    /// The message of `msg_type` (SPDADD, SPDUPDATE, SPDDELETE) for this policy.
    pub fn message(&self, msg_type: MessageType) -> Message<'static> {
        let mut m = Message::new(msg_type, SaType::Unspec);
        self.selector.push(&mut m);
        m.push(self.policy_ext());
        m
    }

    /// Reads a policy from an SPD message (SPDADD, SPDGET/SPDDUMP replies, ...).
    pub fn from_message(m: &Message<'_>) -> Option<PolicySpec> {
        let p = m.policy()?;
        Some(PolicySpec {
            selector: Selector::from_message(m)?,
            dir: p.dir,
            policy_type: p.policy_type,
            priority: p.priority,
            id: p.id,
            templates: p.requests.iter().map(|r| Template::from_request(&r)).collect(),
        })
    }
}

/// `SADB_X_SPDADD`.
pub fn spdadd(p: &PolicySpec) -> Message<'static> {
    p.message(MessageType::XSpdAdd)
}

/// `SADB_X_SPDUPDATE`.
pub fn spdupdate(p: &PolicySpec) -> Message<'static> {
    p.message(MessageType::XSpdUpdate)
}

/// `SADB_X_SPDDELETE` (by selector and direction).
pub fn spddelete(selector: &Selector, dir: PolicyDir) -> Message<'static> {
    let mut m = Message::new(MessageType::XSpdDelete, SaType::Unspec);
    selector.push(&mut m);
    m.push(Extension::Policy(Policy {
        policy_type: PolicyType::Ipsec,
        dir,
        reserved: 0,
        id: 0,
        priority: 0,
        requests: List::default(),
    }));
    m
}

fn policy_by_id(msg_type: MessageType, id: u32, dir: PolicyDir) -> Message<'static> {
    Message::new(msg_type, SaType::Unspec).with(Extension::Policy(Policy {
        policy_type: PolicyType::Ipsec,
        dir,
        reserved: 0,
        id,
        priority: 0,
        requests: List::default(),
    }))
}

/// `SADB_X_SPDDELETE2` (by policy id).
pub fn spddelete2(id: u32, dir: PolicyDir) -> Message<'static> {
    policy_by_id(MessageType::XSpdDelete2, id, dir)
}

/// `SADB_X_SPDGET` (by policy id).
pub fn spdget(id: u32, dir: PolicyDir) -> Message<'static> {
    policy_by_id(MessageType::XSpdGet, id, dir)
}

/// `SADB_X_SPDDUMP`.
pub fn spddump() -> Message<'static> {
    Message::new(MessageType::XSpdDump, SaType::Unspec)
}

/// `SADB_X_SPDFLUSH`.
pub fn spdflush() -> Message<'static> {
    Message::new(MessageType::XSpdFlush, SaType::Unspec)
}

/// One bundle of a MIGRATE: a template/SA identity and its old and new tunnel endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MigrateBundle {
    /// IP protocol (`IPPROTO_ESP` ...).
    pub proto: u16,
    /// Mode (tunnel or BEET for an endpoint move).
    pub mode: Mode,
    /// Request id (0 matches any).
    pub reqid: u32,
    /// Level written in the requests (UNIQUE when reqid ≠ 0, else REQUIRE, as Linux emits).
    pub level: Level,
    /// The current endpoints.
    pub old: Endpoints,
    /// The endpoints to move to.
    pub new: Endpoints,
}

impl MigrateBundle {
    /// A bundle with the level Linux would write for `reqid`.
    pub fn new(proto: u16, mode: Mode, reqid: u32, old: Endpoints, new: Endpoints) -> Self {
        MigrateBundle { proto, mode, reqid, level: if reqid != 0 { Level::Unique } else { Level::Require }, old, new }
    }
}

/// `SADB_X_MIGRATE`: move the SAs and templates of one policy to new tunnel endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migrate {
    /// Selects the policy (with `dir`).
    pub selector: Selector,
    /// Policy direction.
    pub dir: PolicyDir,
    /// The IKE addresses to use from now on (`SADB_X_EXT_KMADDRESS`: local, remote).
    pub kmaddress: Option<(SockAddr, SockAddr)>,
    /// The bundles to move (1..=6).
    pub bundles: Vec<MigrateBundle>,
    /// NAT-T configuration for the moved SAs (an extension of this project; stock Linux ignores it).
    pub natt: Option<NatT>,
}

impl Migrate {
    /// The request message.
    pub fn message(&self) -> Message<'static> {
        let satype = self.bundles.first().and_then(|b| SaType::from_proto(b.proto)).unwrap_or(SaType::Unspec);
        let mut m = Message::new(MessageType::XMigrate, satype);
        if let Some((local, remote)) = self.kmaddress {
            m.push(Extension::KmAddress(KmAddress { reserved: 0, local, remote, trailing: None }));
        }
        self.selector.push(&mut m);
        let mut reqs = Vec::with_capacity(self.bundles.len() * 2);
        for b in &self.bundles {
            for ep in [b.old, b.new] {
                reqs.push(IpsecRequest {
                    proto: b.proto,
                    mode: b.mode,
                    level: b.level,
                    reqid: b.reqid,
                    reserved1: 0,
                    reserved2: 0,
                    endpoints: Some(ep),
                    trailing: None,
                });
            }
        }
        m.push(Extension::Policy(Policy {
            policy_type: PolicyType::Ipsec,
            dir: self.dir,
            reserved: 0,
            id: 0,
            priority: 0,
            requests: reqs.into(),
        }));
        if let Some(n) = &self.natt {
            n.push(&mut m);
        }
        m
    }

    /// Reads a MIGRATE request or broadcast. Errors are the rule (and so the errno) the kernel
    /// applies.
    pub fn from_message(m: &Message<'_>) -> Result<Migrate, Rule> {
        let selector = Selector::from_message(m).ok_or(Rule::MigrateNoPairs)?;
        let p = m.policy().ok_or(Rule::MigrateNoPairs)?;
        super::check_migrate_pairs(&p)?;
        let mut bundles = Vec::new();
        let mut it = p.requests.iter();
        while let (Some(old), Some(new)) = (it.next(), it.next()) {
            let (Some(o), Some(n)) = (old.endpoints, new.endpoints) else {
                return Err(Rule::RequestAddresses(0));
            };
            bundles.push(MigrateBundle {
                proto: old.proto,
                mode: old.mode,
                reqid: old.reqid,
                level: old.level,
                old: o,
                new: n,
            });
        }
        Ok(Migrate {
            selector,
            dir: p.dir,
            kmaddress: m.kmaddress().map(|k| (k.local, k.remote)),
            bundles,
            natt: NatT::from_message(m),
        })
    }
}

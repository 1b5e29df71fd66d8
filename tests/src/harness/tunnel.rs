//! The ESP tunnel between the peers, installed and moved through `pfkey`'s [`AfKey`] backend on a
//! PF_KEY socket opened inside each peer's namespace (PF_KEY sockets are per network namespace).
//!
//! Two flows, each a stack of `sas` SAs plus the policies that use it, on both peers (AES-CBC-128 +
//! HMAC-SHA256: stock af_key has no AEAD):
//! - mobile→gateway, SPIs [`SPI_M2G`] (+ `0x100` per layer), 10.1.0.0/16 → 10.2.0.0/16, outer
//!   mobile → endpoint: the mobile's `out` policy, the gateway's `in` and `fwd` policies;
//! - gateway→mobile, SPIs [`SPI_G2M`] (+ `0x100` per layer), 10.2.0.0/16 → 10.1.0.0/16, outer
//!   endpoint → mobile: the gateway's `out` policy, the mobile's `in` and `fwd` policies.
//!
//! Layer `l` (0 = innermost) has reqid `l + 1`; a policy's templates list the layers innermost
//! first (Linux applies template 0 first on output), so a bundle of two is ESP-in-ESP, both in
//! tunnel mode between the same endpoints, and the wire shows the outer layer's SPI only.
//!
//! With `udp_encap` (see [`crate::harness::scenario`]) every SA carries the NAT-T extensions of
//! the mobile's uplink: ESP-in-UDP from the sender's port to the receiver's.
//!
//! The per-SA move ([`Peers::update`], step `PEER:DIR:update`) sends, for each SA of the
//! direction, `SADB_UPDATE` with the new addresses (and NAT-T when the encapsulation changes), and
//! only then `SADB_X_SPDUPDATE` of the policy with the new template endpoints. Neither order is
//! free of a window (spec Section 8.2: the update does not touch templates, and an SA is used
//! through a template only when their addresses agree), and both windows are one PF_KEY round
//! trip long; SA first is the order whose failure changes nothing: a refused update (a stock
//! kernel) leaves SA and template on the old path and the policy is not touched.
//!
//! The outer family follows the uplink the mobile is on ([`TunnelSpec::outer`]); the inner
//! traffic is IPv4. af_key sets an SA's selector family to its outer family unless the message
//! carries `SADB_EXT_ADDRESS_PROXY` (which sets the selector's family and source), and Linux skips
//! an SA whose selector family differs from the flow's: so an SA added with an IPv6 outer address
//! carries a PROXY address 0.0.0.0/0 (any IPv4 inner source). In BEET mode the selectors are the
//! inner hosts (/32) and the SA's PROXY is the inner source: af_key has no way to give the
//! selector's destination, nor (in `parse_ipsecrequest`) to keep a BEET template's endpoints.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use pfkey::kernel::{AfKey, Channel, Kernel, KernelError, MoveMechanism, MoveOutcome, SaEntry, SaId};
use pfkey::message::{
    Address, AlgKey, BeetInner, Endpoints, Extension, Migrate, MigrateBundle, NatT, PolicySpec, SaSpec, Selector,
    SockAddr, Template, UpdateAddresses,
};
use pfkey::wire::Dialect;
use pfkey::wire::numbers::{
    AuthAlg, EncryptAlg, IPPROTO_ESP, IPSEC_ULPROTO_ANY, Level, Mode, NatTType, PolicyDir, PolicyType, SaState, SaType,
};
use serde::Serialize;

use super::HarnessError;
use super::scenario::{Dir, Family, Outer, Peer, Scenario, TunnelMode, UdpEncap, Uplink};
use super::topology::{GW_INNER, GW_NS, MOBILE_INNER, MOBILE_NS, gw_endpoint, in_netns, uplink};
use super::xfrm::XfrmDump;

/// SPI of the mobile→gateway SA (layer 0).
pub const SPI_M2G: u32 = 0x0000_1001;
/// SPI of the gateway→mobile SA (layer 0).
pub const SPI_G2M: u32 = 0x0000_2002;
/// The reqid of layer 0's SAs and templates (layer `l`: `REQID + l`).
pub const REQID: u32 = 1;

/// What the tunnel is: outer family per uplink, mode, SAs per direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TunnelSpec {
    /// The outer family on each uplink.
    pub outer: Outer,
    /// Tunnel or BEET.
    pub mode: TunnelMode,
    /// SAs per direction (layers).
    pub sas: usize,
    /// The UDP encapsulation on each uplink.
    pub encap: UdpEncap,
}

impl TunnelSpec {
    /// The scenario's tunnel.
    pub fn of(s: &Scenario) -> TunnelSpec {
        TunnelSpec { outer: s.outer, mode: s.mode, sas: s.sas, encap: s.udp_encap }
    }

    /// The PF_KEY mode.
    pub fn pfkey_mode(&self) -> Mode {
        match self.mode {
            TunnelMode::Tunnel => Mode::Tunnel,
            TunnelMode::Beet => Mode::Beet,
        }
    }

    /// The layers, innermost first.
    pub fn layers(&self) -> std::ops::Range<usize> {
        0..self.sas
    }

    /// The outermost layer (whose SPI is on the wire).
    pub fn outer_layer(&self) -> usize {
        self.sas - 1
    }

    /// The mobile's outer address on `u`.
    pub fn mobile_addr(&self, u: Uplink) -> IpAddr {
        uplink(u).mobile(self.outer.on(u))
    }
}

/// One direction of the tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// Mobile to gateway.
    MobileToGateway,
    /// Gateway to mobile.
    GatewayToMobile,
}

impl Flow {
    /// Both flows.
    pub const BOTH: [Flow; 2] = [Flow::MobileToGateway, Flow::GatewayToMobile];

    /// The SPI of layer `layer`'s SA.
    pub fn spi(self, layer: usize) -> u32 {
        let base = match self {
            Flow::MobileToGateway => SPI_M2G,
            Flow::GatewayToMobile => SPI_G2M,
        };
        base + 0x100 * layer as u32
    }

    /// The inner source and destination hosts.
    pub fn inner(self) -> (Ipv4Addr, Ipv4Addr) {
        match self {
            Flow::MobileToGateway => (MOBILE_INNER, GW_INNER),
            Flow::GatewayToMobile => (GW_INNER, MOBILE_INNER),
        }
    }

    /// The inner selector: the networks (source prefix → destination prefix) in tunnel mode, the
    /// hosts in BEET mode.
    pub fn selector(self, mode: TunnelMode) -> Selector {
        let (s, d) = self.inner();
        let (s, d, len) = match mode {
            TunnelMode::Tunnel => (net16(s), net16(d), 16),
            TunnelMode::Beet => (s, d, 32),
        };
        Selector::new(sa(IpAddr::V4(s)), len, sa(IpAddr::V4(d)), len)
    }

    /// The outer endpoints while the mobile is on `u`.
    pub fn endpoints(self, t: &TunnelSpec, u: Uplink) -> Endpoints {
        let m = sa(t.mobile_addr(u));
        let e = sa(gw_endpoint(t.outer.on(u)));
        match self {
            Flow::MobileToGateway => Endpoints { src: m, dst: e },
            Flow::GatewayToMobile => Endpoints { src: e, dst: m },
        }
    }

    /// The NAT-T configuration of this flow's SAs while the mobile is on `u` (`None`: plain ESP):
    /// from the sender's port to the receiver's.
    pub fn natt(self, t: &TunnelSpec, u: Uplink) -> Option<NatT> {
        let p = t.encap.on(u)?;
        Some(match self {
            Flow::MobileToGateway => NatT::esp_in_udp(p.mobile, p.gateway),
            Flow::GatewayToMobile => NatT::esp_in_udp(p.gateway, p.mobile),
        })
    }

    /// What a move from `from` to `to` asks of the encapsulation: `None` when it stays, else the
    /// new one (NAT-T type 0, "none", to switch it off).
    pub fn natt_change(self, t: &TunnelSpec, from: Uplink, to: Uplink) -> Option<NatT> {
        let (old, new) = (self.natt(t, from), self.natt(t, to));
        if old == new {
            return None;
        }
        Some(new.unwrap_or(NatT { nat_t_type: NatTType::None, sport: 0, dport: 0 }))
    }

    /// Layer `layer`'s SA identity while the mobile is on `u`.
    pub fn sa_id(self, t: &TunnelSpec, u: Uplink, layer: usize) -> SaId {
        let ep = self.endpoints(t, u);
        SaId { satype: SaType::Esp, spi: self.spi(layer), src: ep.src, dst: ep.dst }
    }

    /// The flow a peer's policy in `dir` carries.
    pub fn of(peer: Peer, dir: Dir) -> Flow {
        match (peer, dir) {
            (Peer::Mobile, Dir::Out) | (Peer::Gateway, Dir::In | Dir::Fwd) => Flow::MobileToGateway,
            (Peer::Gateway, Dir::Out) | (Peer::Mobile, Dir::In | Dir::Fwd) => Flow::GatewayToMobile,
        }
    }

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Flow::MobileToGateway => "mobile_to_gateway",
            Flow::GatewayToMobile => "gateway_to_mobile",
        }
    }
}

fn net16(a: Ipv4Addr) -> Ipv4Addr {
    let o = a.octets();
    Ipv4Addr::new(o[0], o[1], 0, 0)
}

fn sa(ip: IpAddr) -> SockAddr {
    SockAddr::new(ip)
}

fn policy_dir(d: Dir) -> PolicyDir {
    match d {
        Dir::Out => PolicyDir::Outbound,
        Dir::In => PolicyDir::Inbound,
        Dir::Fwd => PolicyDir::Fwd,
    }
}

/// Layer `layer`'s SA of `flow` on the mobile's uplink `u`.
pub fn sa_spec(t: &TunnelSpec, flow: Flow, u: Uplink, layer: usize) -> SaSpec {
    let ep = flow.endpoints(t, u);
    let k = layer as u8 * 0x40;
    let (enc, auth) = match flow {
        Flow::MobileToGateway => ([0x11 + k; 16], [0x22 + k; 32]),
        Flow::GatewayToMobile => ([0x33 + k; 16], [0x44 + k; 32]),
    };
    SaSpec {
        inner: None,
        satype: SaType::Esp,
        spi: flow.spi(layer),
        src: ep.src,
        dst: ep.dst,
        mode: t.pfkey_mode(),
        reqid: REQID + layer as u32,
        replay: 32,
        flags: 0,
        state: SaState::Mature,
        auth: Some(AlgKey::new(AuthAlg::Sha2_256Hmac, &auth)),
        encrypt: Some(AlgKey::new(EncryptAlg::AesCbc, &enc)),
        hard: None,
        soft: None,
        natt: flow.natt(t, u),
    }
}

/// The `SADB_EXT_ADDRESS_PROXY` an SA of `flow` needs on uplink `u` (see the module text): the
/// inner source host in BEET mode, 0.0.0.0/0 under an IPv6 outer header, none otherwise.
pub fn sa_proxy(t: &TunnelSpec, flow: Flow, u: Uplink) -> Option<(IpAddr, u8)> {
    match (t.mode, t.outer.on(u)) {
        (TunnelMode::Beet, _) => Some((IpAddr::V4(flow.inner().0), 32)),
        (TunnelMode::Tunnel, Family::Ipv6) => Some((IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)),
        (TunnelMode::Tunnel, Family::Ipv4) => None,
    }
}

/// The policy of `peer` in `dir` with the mobile on `u`: one template per layer, innermost first.
pub fn policy_spec(t: &TunnelSpec, peer: Peer, dir: Dir, u: Uplink) -> PolicySpec {
    let flow = Flow::of(peer, dir);
    let ep = flow.endpoints(t, u);
    PolicySpec {
        selector: flow.selector(t.mode),
        dir: policy_dir(dir),
        policy_type: PolicyType::Ipsec,
        priority: 0,
        id: 0,
        templates: t
            .layers()
            .map(|l| Template {
                proto: IPPROTO_ESP,
                mode: t.pfkey_mode(),
                level: Level::Unique,
                reqid: REQID + l as u32,
                endpoints: Some(ep),
            })
            .collect(),
    }
}

/// The two peers' kernels, each over a PF_KEY socket opened in its namespace.
#[derive(Debug)]
pub struct Peers {
    /// The mobile's.
    pub mobile: AfKey,
    /// The gateway's.
    pub gateway: AfKey,
    /// The tunnel they carry.
    pub spec: TunnelSpec,
    /// Whether the mobile's inbound SAs are added movable (`SADB_SAFLAGS_MOVABLE`, issue 7): set
    /// where the kernel has movable SAs (tunnel and BEET mode).
    pub movable_inbound: bool,
    /// Whether BEET SAs are added with both inner hosts ([`pfkey::message::BeetInner`]: ADDRESS_PROXY
    /// and `SADB_X_EXT_INNER_ADDRESS_DST`): set where the kernel has the extension (the probe's
    /// `beet_inner`). Otherwise a BEET SA carries only its inner source.
    pub beet_inner: bool,
    seq: u32,
}

impl Peers {
    /// Opens a PF_KEY socket in each namespace.
    pub fn open(spec: TunnelSpec) -> Result<Peers, HarnessError> {
        let mobile = in_netns(MOBILE_NS, || Ok(AfKey::open()?))?;
        let gateway = in_netns(GW_NS, || Ok(AfKey::open()?))?;
        Ok(Peers { mobile, gateway, spec, movable_inbound: false, beet_inner: false, seq: 0x7e00_0000 })
    }

    /// The kernel of `peer`.
    pub fn kernel(&mut self, peer: Peer) -> &mut AfKey {
        match peer {
            Peer::Mobile => &mut self.mobile,
            Peer::Gateway => &mut self.gateway,
        }
    }

    /// Installs every SA and the out/in/fwd policies on both peers, the mobile on uplink `u`
    /// (the mobile's inbound SAs movable with [`Peers::movable_inbound`]).
    pub fn install(&mut self, u: Uplink) -> Result<(), HarnessError> {
        let t = self.spec;
        for peer in [Peer::Mobile, Peer::Gateway] {
            let k = self.kernel(peer);
            k.flush_sas(SaType::Unspec)?;
            k.flush_policies()?;
            for flow in Flow::BOTH {
                for l in t.layers() {
                    let mut spec = sa_spec(&t, flow, u, l);
                    // The mobile is the peer whose addresses move: its inbound SAs (every layer
                    // of a bundle, the inner ESP arrives at the old address too) are movable.
                    if self.movable_inbound && peer == Peer::Mobile && flow == Flow::GatewayToMobile {
                        spec = spec.movable();
                    }
                    if self.beet_inner && t.mode == TunnelMode::Beet {
                        let (s, d) = flow.inner();
                        spec.inner = Some(BeetInner::new(sa(IpAddr::V4(s)), sa(IpAddr::V4(d))));
                    }
                    match sa_proxy(&t, flow, u).filter(|_| spec.inner.is_none()) {
                        None => self.kernel(peer).add_sa(&spec)?,
                        Some(proxy) => self.add_sa_with_proxy(peer, &spec, proxy)?,
                    }
                }
            }
            for dir in [Dir::Out, Dir::In, Dir::Fwd] {
                let id = self.kernel(peer).add_policy(&policy_spec(&t, peer, dir, u))?;
                tracing::info!(?peer, ?dir, id, "policy installed");
            }
        }
        Ok(())
    }

    /// `SADB_ADD` of `spec` with a `SADB_EXT_ADDRESS_PROXY` (the SA's selector family and source,
    /// which `SaSpec` does not carry), sent on `peer`'s socket and answered by its seq and pid.
    fn add_sa_with_proxy(&mut self, peer: Peer, spec: &SaSpec, proxy: (IpAddr, u8)) -> Result<(), HarnessError> {
        self.seq += 1;
        let seq = self.seq;
        let k = self.kernel(peer);
        let pid = k.channel().pid();
        let mut m = pfkey::message::add(spec).with(Extension::AddressProxy(Address::prefix(
            sa(proxy.0),
            proxy.1,
            IPSEC_ULPROTO_ANY,
        )));
        m.header.seq = seq;
        m.header.pid = pid;
        let bytes = m.to_bytes(Dialect::Linux).map_err(KernelError::from)?;
        k.channel_mut().send(&bytes)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !k.channel_mut().recv(&mut buf, Some(left))? {
                return Err(KernelError::Timeout { op: "SADB_ADD", timeout: Duration::from_secs(5) }.into());
            }
            // struct sadb_msg: version, type, errno, satype, len (u16), reserved (u16), seq, pid.
            if buf.len() < 16 || buf[1] != 3 {
                continue;
            }
            let (r_seq, r_pid) = (
                u32::from_ne_bytes(buf[8..12].try_into().expect("4 bytes")),
                u32::from_ne_bytes(buf[12..16].try_into().expect("4 bytes")),
            );
            if (r_seq, r_pid) != (seq, pid) {
                continue;
            }
            return match buf[2] {
                0 => Ok(()),
                e => Err(KernelError::Errno { op: "SADB_ADD", errno: i32::from(e) }.into()),
            };
        }
    }

    /// `SADB_X_MIGRATE` of `peer`'s policy in `dir` (and the SAs it names) from uplink `from` to `to`.
    pub fn migrate(&mut self, peer: Peer, dir: Dir, from: Uplink, to: Uplink) -> Result<MoveOutcome, KernelError> {
        let m = migrate_request(&self.spec, peer, dir, from, to);
        self.kernel(peer).migrate(&m)
    }

    /// The per-SA move of `peer`'s direction `dir` from uplink `from` to `to`: the per-SA update of
    /// each SA it names ([`update_requests`]), then, if every one succeeded, `SADB_X_SPDUPDATE` of
    /// the policy with the new template endpoints (the order is the module's). Returns the
    /// requests the kernel accepted, or the first refused one (named) with its error; a refused
    /// update leaves the policy as it was.
    pub fn update(
        &mut self,
        peer: Peer,
        dir: Dir,
        from: Uplink,
        to: Uplink,
    ) -> Result<Vec<&'static str>, (&'static str, KernelError)> {
        let t = self.spec;
        let mut done = Vec::new();
        for u in update_requests(&t, peer, dir, from, to) {
            const OP: &str = "SADB_UPDATE+NEW_ADDRESS";
            match self.kernel(peer).update_addresses(&u) {
                Ok(MoveOutcome { mechanism: MoveMechanism::UpdateAddresses, .. }) => done.push(OP),
                Ok(o) => {
                    let detail = format!("moved by {:?}, not by the per-SA update", o.mechanism);
                    return Err((OP, KernelError::BadReply { op: "SADB_UPDATE", detail }));
                }
                Err(e) => return Err((OP, e)),
            }
        }
        match self.kernel(peer).update_policy(&policy_spec(&t, peer, dir, to)) {
            Ok(_) => done.push("SADB_X_SPDUPDATE"),
            Err(e) => return Err(("SADB_X_SPDUPDATE", e)),
        }
        Ok(done)
    }

    /// `SADB_GET` of every SA on both peers, the mobile on `u`; an SA the kernel does not find
    /// there is reported with the error.
    pub fn snapshot(&mut self, u: Uplink) -> Vec<SaSnapshot> {
        let t = self.spec;
        let mut v = Vec::new();
        for peer in [Peer::Mobile, Peer::Gateway] {
            for flow in Flow::BOTH {
                for layer in t.layers() {
                    let id = flow.sa_id(&t, u, layer);
                    let r: Result<SaEntry, KernelError> = self.kernel(peer).get_sa(&id);
                    let (packets, bytes, natt, error) = match r {
                        Ok(e) => {
                            let cur = e.current.unwrap_or_default();
                            (u64::from(cur.allocations), cur.bytes, e.spec.natt, None)
                        }
                        Err(e) => (0, 0, None, Some(e.to_string())),
                    };
                    v.push(SaSnapshot {
                        peer,
                        flow,
                        layer,
                        spi: id.spi,
                        src: id.src.ip(),
                        dst: id.dst.ip(),
                        packets,
                        bytes,
                        natt,
                        error,
                    });
                }
            }
        }
        v
    }
}

/// The MIGRATE request of one step: one ipsecrequest pair per layer.
pub fn migrate_request(t: &TunnelSpec, peer: Peer, dir: Dir, from: Uplink, to: Uplink) -> Migrate {
    let flow = Flow::of(peer, dir);
    let new = flow.endpoints(t, to);
    let (m, g) = (sa(t.mobile_addr(to)), sa(gw_endpoint(t.outer.on(to))));
    let (local, remote) = match peer {
        Peer::Mobile => (m, g),
        Peer::Gateway => (g, m),
    };
    Migrate {
        selector: flow.selector(t.mode),
        dir: policy_dir(dir),
        kmaddress: Some((local, remote)),
        bundles: t
            .layers()
            .map(|l| MigrateBundle::new(IPPROTO_ESP, t.pfkey_mode(), REQID + l as u32, flow.endpoints(t, from), new))
            .collect(),
        natt: flow.natt_change(t, from, to),
    }
}

/// The per-SA update requests of one step: one per layer of the SAs `peer`'s policy in `dir`
/// names (none for `fwd`, whose SA is the inbound one), innermost first. Only the addresses that
/// change are sent, and NAT-T only when the encapsulation changes.
pub fn update_requests(t: &TunnelSpec, peer: Peer, dir: Dir, from: Uplink, to: Uplink) -> Vec<UpdateAddresses> {
    if dir == Dir::Fwd {
        return Vec::new();
    }
    let flow = Flow::of(peer, dir);
    let (old, new) = (flow.endpoints(t, from), flow.endpoints(t, to));
    t.layers()
        .map(|l| UpdateAddresses {
            satype: SaType::Esp,
            spi: flow.spi(l),
            src: old.src,
            dst: old.dst,
            mode: t.pfkey_mode(),
            reqid: REQID + l as u32,
            new_src: (new.src != old.src).then_some(new.src),
            new_dst: (new.dst != old.dst).then_some(new.dst),
            natt: flow.natt_change(t, from, to),
        })
        .collect()
}

/// One SA as `SADB_GET` reported it.
#[derive(Debug, Clone, Serialize)]
pub struct SaSnapshot {
    /// Whose SAD.
    pub peer: Peer,
    /// Which flow.
    pub flow: Flow,
    /// Which layer (0 = innermost).
    pub layer: usize,
    /// Its SPI.
    pub spi: u32,
    /// Outer source.
    pub src: IpAddr,
    /// Outer destination.
    pub dst: IpAddr,
    /// `sadb_lifetime_allocations` of LIFETIME_CURRENT (Linux: packets processed).
    pub packets: u64,
    /// Bytes processed.
    pub bytes: u64,
    /// Its UDP encapsulation (NAT-T extensions of the `SADB_GET` reply).
    pub natt: Option<NatT>,
    /// Why `SADB_GET` failed, if it did (the SA is not at these addresses).
    pub error: Option<String>,
}

/// One policy template as `SADB_X_SPDDUMP` reads it back.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateState {
    /// The policy's direction.
    pub dir: String,
    /// The template's mode.
    pub mode: Mode,
    /// Its reqid.
    pub reqid: u32,
    /// Its tunnel endpoints, when it has any.
    pub endpoints: Option<(IpAddr, IpAddr)>,
}

/// What the SAD and SPD of one peer hold after the run.
#[derive(Debug, Clone, Serialize)]
pub struct PeerState {
    /// Whose.
    pub peer: Peer,
    /// Every SA: (SPI, src, dst).
    pub sas: Vec<(u32, IpAddr, IpAddr)>,
    /// Every policy: (direction, template endpoints).
    pub policies: Vec<(String, Vec<(IpAddr, IpAddr)>)>,
    /// Every policy template as PF_KEY reads it back.
    pub templates: Vec<TemplateState>,
    /// The SAD and SPD as XFRM netlink reports them (read directly).
    pub xfrm: XfrmDump,
    /// `ip xfrm state` (XFRM netlink, for people).
    pub xfrm_state: String,
    /// `ip xfrm policy` (XFRM netlink).
    pub xfrm_policy: String,
}

impl Peers {
    /// Dumps both peers' SAD and SPD through PF_KEY and XFRM netlink (directly, and `ip xfrm`).
    pub fn state(&mut self) -> Result<Vec<PeerState>, HarnessError> {
        let mut v = Vec::new();
        for (peer, ns) in [(Peer::Mobile, MOBILE_NS), (Peer::Gateway, GW_NS)] {
            let k = self.kernel(peer);
            let sas = k.dump_sas(SaType::Esp)?.iter().map(|e| (e.spec.spi, e.spec.src.ip(), e.spec.dst.ip())).collect();
            let dumped = k.dump_policies()?;
            let templates = dumped
                .iter()
                .flat_map(|p| {
                    p.templates.iter().map(move |t| TemplateState {
                        dir: format!("{:?}", p.dir),
                        mode: t.mode,
                        reqid: t.reqid,
                        endpoints: t.endpoints.map(|e| (e.src.ip(), e.dst.ip())),
                    })
                })
                .collect();
            let policies = dumped
                .iter()
                .map(|p| {
                    let eps =
                        p.templates.iter().filter_map(|t| t.endpoints).map(|e| (e.src.ip(), e.dst.ip())).collect();
                    (format!("{:?}", p.dir), eps)
                })
                .collect();
            let xfrm_state = super::topology::ip(Some(ns), &["xfrm", "state"])?;
            let xfrm_policy = super::topology::ip(Some(ns), &["xfrm", "policy"])?;
            let xfrm = XfrmDump::read(ns)?;
            v.push(PeerState { peer, sas, policies, templates, xfrm, xfrm_state, xfrm_policy });
        }
        Ok(v)
    }
}

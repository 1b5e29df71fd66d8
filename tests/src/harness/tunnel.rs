//! The ESP tunnel between the peers, installed and moved through `pfkey`'s [`AfKey`] backend on a
//! PF_KEY socket opened inside each peer's namespace (PF_KEY sockets are per network namespace).
//!
//! Two flows, each an SA plus the policies that use it, on both peers (reqid 1, tunnel mode,
//! AES-CBC-128 + HMAC-SHA256: stock af_key has no AEAD):
//! - mobile→gateway, SPI [`SPI_M2G`], 10.1.0.0/16 → 10.2.0.0/16, outer mobile → endpoint: the
//!   mobile's `out` policy, the gateway's `in` and `fwd` policies;
//! - gateway→mobile, SPI [`SPI_G2M`], 10.2.0.0/16 → 10.1.0.0/16, outer endpoint → mobile: the
//!   gateway's `out` policy, the mobile's `in` and `fwd` policies.

use std::net::{IpAddr, Ipv4Addr};

use pfkey::kernel::{AfKey, Kernel, MoveOutcome, SaEntry, SaId};
use pfkey::message::{AlgKey, Endpoints, Migrate, MigrateBundle, PolicySpec, SaSpec, Selector, SockAddr};
use pfkey::wire::numbers::{AuthAlg, EncryptAlg, IPPROTO_ESP, Mode, PolicyDir, SaState, SaType};
use serde::Serialize;

use super::HarnessError;
use super::scenario::{Dir, Peer, Uplink};
use super::topology::{GW_ENDPOINT, GW_NS, MOBILE_NS, in_netns, uplink};

/// SPI of the mobile→gateway SA.
pub const SPI_M2G: u32 = 0x0000_1001;
/// SPI of the gateway→mobile SA.
pub const SPI_G2M: u32 = 0x0000_2002;
/// The reqid of both flows' SAs and templates.
pub const REQID: u32 = 1;

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

    /// The SA's SPI.
    pub fn spi(self) -> u32 {
        match self {
            Flow::MobileToGateway => SPI_M2G,
            Flow::GatewayToMobile => SPI_G2M,
        }
    }

    /// The inner selector (source prefix → destination prefix).
    pub fn selector(self) -> Selector {
        let (s, d) = match self {
            Flow::MobileToGateway => ("10.1.0.0", "10.2.0.0"),
            Flow::GatewayToMobile => ("10.2.0.0", "10.1.0.0"),
        };
        Selector::new(sa(s.parse().expect("literal")), 16, sa(d.parse().expect("literal")), 16)
    }

    /// The outer endpoints while the mobile is on `u`.
    pub fn endpoints(self, u: Uplink) -> Endpoints {
        let m = sa(uplink(u).mobile_addr);
        let e = sa(GW_ENDPOINT);
        match self {
            Flow::MobileToGateway => Endpoints { src: m, dst: e },
            Flow::GatewayToMobile => Endpoints { src: e, dst: m },
        }
    }

    /// The SA's identity while the mobile is on `u`.
    pub fn sa_id(self, u: Uplink) -> SaId {
        let ep = self.endpoints(u);
        SaId { satype: SaType::Esp, spi: self.spi(), src: ep.src, dst: ep.dst }
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

fn sa(ip: Ipv4Addr) -> SockAddr {
    SockAddr::new(IpAddr::V4(ip))
}

fn policy_dir(d: Dir) -> PolicyDir {
    match d {
        Dir::Out => PolicyDir::Outbound,
        Dir::In => PolicyDir::Inbound,
        Dir::Fwd => PolicyDir::Fwd,
    }
}

/// The SA of `flow` on the mobile's uplink `u`.
pub fn sa_spec(flow: Flow, u: Uplink) -> SaSpec {
    let ep = flow.endpoints(u);
    let (enc, auth) = match flow {
        Flow::MobileToGateway => ([0x11; 16], [0x22; 32]),
        Flow::GatewayToMobile => ([0x33; 16], [0x44; 32]),
    };
    SaSpec {
        satype: SaType::Esp,
        spi: flow.spi(),
        src: ep.src,
        dst: ep.dst,
        mode: Mode::Tunnel,
        reqid: REQID,
        replay: 32,
        flags: 0,
        state: SaState::Mature,
        auth: Some(AlgKey::new(AuthAlg::Sha2_256Hmac, &auth)),
        encrypt: Some(AlgKey::new(EncryptAlg::AesCbc, &enc)),
        hard: None,
        soft: None,
        natt: None,
    }
}

/// The two peers' kernels, each over a PF_KEY socket opened in its namespace.
#[derive(Debug)]
pub struct Peers {
    /// The mobile's.
    pub mobile: AfKey,
    /// The gateway's.
    pub gateway: AfKey,
}

impl Peers {
    /// Opens a PF_KEY socket in each namespace.
    pub fn open() -> Result<Peers, HarnessError> {
        let mobile = in_netns(MOBILE_NS, || Ok(AfKey::open()?))?;
        let gateway = in_netns(GW_NS, || Ok(AfKey::open()?))?;
        Ok(Peers { mobile, gateway })
    }

    /// The kernel of `peer`.
    pub fn kernel(&mut self, peer: Peer) -> &mut AfKey {
        match peer {
            Peer::Mobile => &mut self.mobile,
            Peer::Gateway => &mut self.gateway,
        }
    }

    /// Installs both SAs and the out/in/fwd policies on both peers, the mobile on uplink `u`.
    pub fn install(&mut self, u: Uplink) -> Result<(), HarnessError> {
        for peer in [Peer::Mobile, Peer::Gateway] {
            let k = self.kernel(peer);
            k.flush_sas(SaType::Unspec)?;
            k.flush_policies()?;
            for flow in Flow::BOTH {
                k.add_sa(&sa_spec(flow, u))?;
            }
            for dir in [Dir::Out, Dir::In, Dir::Fwd] {
                let flow = Flow::of(peer, dir);
                let ep = flow.endpoints(u);
                let p = PolicySpec::esp_tunnel(flow.selector(), policy_dir(dir), ep.src, ep.dst, REQID);
                let id = k.add_policy(&p)?;
                tracing::info!(?peer, ?dir, id, "policy installed");
            }
        }
        Ok(())
    }

    /// `SADB_X_MIGRATE` of `peer`'s policy in `dir` (and the SA it names) from uplink `from` to `to`.
    pub fn migrate(&mut self, peer: Peer, dir: Dir, from: Uplink, to: Uplink) -> Result<MoveOutcome, HarnessError> {
        let m = migrate_request(peer, dir, from, to);
        Ok(self.kernel(peer).migrate(&m)?)
    }

    /// `SADB_GET` of both SAs on both peers, the mobile on `u`.
    pub fn snapshot(&mut self, u: Uplink) -> Result<Vec<SaSnapshot>, HarnessError> {
        let mut v = Vec::new();
        for peer in [Peer::Mobile, Peer::Gateway] {
            for flow in Flow::BOTH {
                let e: SaEntry = self.kernel(peer).get_sa(&flow.sa_id(u))?;
                let cur = e.current.unwrap_or_default();
                v.push(SaSnapshot {
                    peer,
                    flow,
                    spi: e.spec.spi,
                    src: e.spec.src.ip(),
                    dst: e.spec.dst.ip(),
                    packets: u64::from(cur.allocations),
                    bytes: cur.bytes,
                });
            }
        }
        Ok(v)
    }
}

/// The MIGRATE request of one step.
pub fn migrate_request(peer: Peer, dir: Dir, from: Uplink, to: Uplink) -> Migrate {
    let flow = Flow::of(peer, dir);
    let new = flow.endpoints(to);
    let (local, remote) = match peer {
        Peer::Mobile => (sa(uplink(to).mobile_addr), sa(GW_ENDPOINT)),
        Peer::Gateway => (sa(GW_ENDPOINT), sa(uplink(to).mobile_addr)),
    };
    Migrate {
        selector: flow.selector(),
        dir: policy_dir(dir),
        kmaddress: Some((local, remote)),
        bundles: vec![MigrateBundle::new(IPPROTO_ESP, Mode::Tunnel, REQID, flow.endpoints(from), new)],
        natt: None,
    }
}

/// One SA as `SADB_GET` reported it.
#[derive(Debug, Clone, Serialize)]
pub struct SaSnapshot {
    /// Whose SAD.
    pub peer: Peer,
    /// Which flow.
    pub flow: Flow,
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
    /// `ip xfrm state` (XFRM netlink).
    pub xfrm_state: String,
    /// `ip xfrm policy` (XFRM netlink).
    pub xfrm_policy: String,
}

impl Peers {
    /// Dumps both peers' SAD and SPD through PF_KEY and XFRM netlink.
    pub fn state(&mut self) -> Result<Vec<PeerState>, HarnessError> {
        let mut v = Vec::new();
        for (peer, ns) in [(Peer::Mobile, MOBILE_NS), (Peer::Gateway, GW_NS)] {
            let k = self.kernel(peer);
            let sas = k.dump_sas(SaType::Esp)?.iter().map(|e| (e.spec.spi, e.spec.src.ip(), e.spec.dst.ip())).collect();
            let policies = k
                .dump_policies()?
                .iter()
                .map(|p| {
                    let eps =
                        p.templates.iter().filter_map(|t| t.endpoints).map(|e| (e.src.ip(), e.dst.ip())).collect();
                    (format!("{:?}", p.dir), eps)
                })
                .collect();
            let xfrm_state = super::topology::ip(Some(ns), &["xfrm", "state"])?;
            let xfrm_policy = super::topology::ip(Some(ns), &["xfrm", "policy"])?;
            v.push(PeerState { peer, sas, policies, xfrm_state, xfrm_policy });
        }
        Ok(v)
    }
}

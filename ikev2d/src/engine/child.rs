//! Child SAs: ESP proposals, traffic selectors and their narrowing, keys, and the kernel
//! operations that install and remove them.

use std::net::{IpAddr, SocketAddr};

use pfkey::SockAddr;
use pfkey::kernel::SaId;
use pfkey::message::{AlgKey, NatT, PolicySpec, SaSpec, Selector};
use pfkey::wire::numbers::{AuthAlg, EncryptAlg, IPSEC_ULPROTO_ANY, PolicyDir, SaType};
use serde::Serialize;

use crate::codec::{Proposal, ProtocolId, TrafficSelector, Transform, TransformType};
use crate::config::{EspProposal, IkeProposal, TsConfig, mask};
use crate::crypto::{ChildKeys, DhGroup, EncrAlg, IntegAlg, PrfAlg};

/// One kernel operation, in the order the engine wants them applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum KernelOp {
    /// Add an SA.
    AddSa(SaSpec),
    /// Delete an SA.
    DeleteSa(SaId),
    /// Add a policy.
    AddPolicy(PolicySpec),
    /// Delete a policy.
    DeletePolicy {
        /// Its selector.
        selector: Selector,
        /// Its direction.
        dir: PolicyDir,
    },
}

impl KernelOp {
    /// Applies the operation through a `Kernel` backend.
    pub fn apply(&self, k: &mut dyn pfkey::kernel::Kernel) -> Result<(), pfkey::kernel::KernelError> {
        match self {
            KernelOp::AddSa(sa) => k.add_sa(sa),
            KernelOp::DeleteSa(id) => k.delete_sa(id),
            KernelOp::AddPolicy(p) => k.add_policy(p).map(|_| ()),
            KernelOp::DeletePolicy { selector, dir } => k.delete_policy(selector, *dir),
        }
    }
}

fn encr_transform(e: EncrAlg) -> Transform {
    Transform { kind: TransformType::Encr, id: e.id(), key_length: Some(e.key_bits()) }
}

fn plain(kind: TransformType, id: u16) -> Transform {
    Transform { kind, id, key_length: None }
}

/// The SA payload's proposals for our IKE proposals (numbered from 1), with `spi` (empty in
/// IKE_SA_INIT, 8 bytes in an IKE SA rekey).
pub fn ike_proposals(ours: &[IkeProposal], spi: &[u8]) -> Vec<Proposal> {
    ours.iter().enumerate().map(|(i, p)| ike_proposal(p, (i + 1) as u8, spi)).collect()
}

/// One IKE proposal as a payload proposal.
pub fn ike_proposal(p: &IkeProposal, number: u8, spi: &[u8]) -> Proposal {
    let mut transforms = vec![encr_transform(p.encr), plain(TransformType::Prf, p.prf.id())];
    if let Some(i) = p.integ {
        transforms.push(plain(TransformType::Integ, i.id()));
    }
    transforms.push(plain(TransformType::Ke, p.dh.id()));
    Proposal { number, protocol: ProtocolId::Ike, spi: spi.to_vec(), transforms }
}

/// The SA payload's proposals for our ESP proposals, with our inbound `spi`; `pfs` adds each
/// proposal's DH group (CREATE_CHILD_SA), which IKE_AUTH never carries.
pub fn esp_proposals(ours: &[EspProposal], spi: u32, pfs: bool) -> Vec<Proposal> {
    ours.iter().enumerate().map(|(i, p)| esp_proposal(p, (i + 1) as u8, spi, pfs)).collect()
}

/// One ESP proposal as a payload proposal (ESN: none).
pub fn esp_proposal(p: &EspProposal, number: u8, spi: u32, pfs: bool) -> Proposal {
    let mut transforms = vec![encr_transform(p.encr)];
    if let Some(i) = p.integ {
        transforms.push(plain(TransformType::Integ, i.id()));
    }
    if let (true, Some(dh)) = (pfs, p.dh) {
        transforms.push(plain(TransformType::Ke, dh.id()));
    }
    transforms.push(plain(TransformType::Esn, 0));
    Proposal { number, protocol: ProtocolId::Esp, spi: spi.to_be_bytes().to_vec(), transforms }
}

fn has(p: &Proposal, kind: TransformType, id: u16, key_length: Option<u16>) -> bool {
    p.transforms.iter().any(|t| t.kind == kind && t.id == id && t.key_length == key_length)
}

fn none_of(p: &Proposal, kind: TransformType) -> bool {
    !p.transforms.iter().any(|t| t.kind == kind)
}

/// The responder's choice: the first of our IKE proposals (our preference) that one of the
/// peer's offers; the answer is that proposal with the peer's number.
pub fn select_ike(ours: &[IkeProposal], theirs: &[Proposal]) -> Option<(u8, IkeProposal, Vec<u8>)> {
    for o in ours {
        for t in theirs.iter().filter(|t| t.protocol == ProtocolId::Ike) {
            let integ = match o.integ {
                Some(i) => has(t, TransformType::Integ, i.id(), None),
                None => none_of(t, TransformType::Integ),
            };
            if has(t, TransformType::Encr, o.encr.id(), Some(o.encr.key_bits()))
                && has(t, TransformType::Prf, o.prf.id(), None)
                && has(t, TransformType::Ke, o.dh.id(), None)
                && integ
            {
                return Some((t.number, *o, t.spi.clone()));
            }
        }
    }
    None
}

/// The IKE proposal a responder chose, read back by the initiator: it must be exactly one of
/// the initiator's.
pub fn accepted_ike(ours: &[IkeProposal], chosen: &[Proposal]) -> Option<(IkeProposal, Vec<u8>)> {
    let [c] = chosen else { return None };
    let p = ours.iter().find(|o| {
        let n = 3 + usize::from(o.integ.is_some());
        c.transforms.len() == n && select_ike(std::slice::from_ref(o), std::slice::from_ref(c)).is_some()
    })?;
    Some((*p, c.spi.clone()))
}

/// The responder's choice of ESP proposal (our preference first). `ke`: `None` in IKE_AUTH,
/// which carries no KE (a configured DH group is then only remembered, for the Child SA's
/// rekeys); in CREATE_CHILD_SA whether the exchange carries KE, which must be exactly when the
/// configured proposal has a group (PFS), and then of that group. The choice is returned as
/// configured, group included.
pub fn select_esp(ours: &[EspProposal], theirs: &[Proposal], ke: Option<bool>) -> Option<(u8, EspProposal, u32)> {
    for o in ours {
        for t in theirs.iter().filter(|t| t.protocol == ProtocolId::Esp && t.spi.len() == 4) {
            let integ = match o.integ {
                Some(i) => has(t, TransformType::Integ, i.id(), None),
                None => none_of(t, TransformType::Integ) || has(t, TransformType::Integ, 0, None),
            };
            let esn = none_of(t, TransformType::Esn) || has(t, TransformType::Esn, 0, None);
            let dh = match (ke, o.dh) {
                (None, None) => none_of(t, TransformType::Ke),
                (None, Some(d)) => none_of(t, TransformType::Ke) || has(t, TransformType::Ke, d.id(), None),
                (Some(true), Some(d)) => has(t, TransformType::Ke, d.id(), None),
                (Some(false), None) => none_of(t, TransformType::Ke),
                (Some(true), None) | (Some(false), Some(_)) => false,
            };
            if has(t, TransformType::Encr, o.encr.id(), Some(o.encr.key_bits())) && integ && esn && dh {
                let spi = u32::from_be_bytes(t.spi[..4].try_into().expect("4 bytes"));
                return Some((t.number, *o, spi));
            }
        }
    }
    None
}

/// The ESP proposal a responder chose, read back by the initiator (`ke` as for [`select_esp`]).
pub fn accepted_esp(ours: &[EspProposal], chosen: &[Proposal], ke: Option<bool>) -> Option<(EspProposal, u32)> {
    let [c] = chosen else { return None };
    let (_, p, spi) = select_esp(ours, std::slice::from_ref(c), ke)?;
    Some((p, spi))
}

/// Our configured selectors as payload traffic selectors.
pub fn ts_of(cfg: &[TsConfig]) -> Vec<TrafficSelector> {
    cfg.iter().map(ts_from_config).collect()
}

fn last_of(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let host = if prefix >= 32 { 0 } else { u32::MAX >> prefix };
            IpAddr::V4((u32::from(a) | host).into())
        }
        IpAddr::V6(a) => {
            let host = if prefix >= 128 { 0 } else { u128::MAX >> prefix };
            IpAddr::V6((u128::from(a) | host).into())
        }
    }
}

fn ts_from_config(t: &TsConfig) -> TrafficSelector {
    let (start_port, end_port) = if t.port == 0 { (0, 65535) } else { (t.port, t.port) };
    TrafficSelector { ip_protocol: t.proto, start_port, end_port, start: t.addr, end: last_of(t.addr, t.prefix) }
}

fn ip_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn ip_from(v: u128, v4: bool) -> IpAddr {
    if v4 { IpAddr::V4((v as u32).into()) } else { IpAddr::V6(v.into()) }
}

/// The intersection of two traffic selectors, if they overlap.
pub fn intersect(a: &TrafficSelector, b: &TrafficSelector) -> Option<TrafficSelector> {
    if a.start.is_ipv4() != b.start.is_ipv4() {
        return None;
    }
    let proto = match (a.ip_protocol, b.ip_protocol) {
        (0, p) | (p, 0) => p,
        (p, q) if p == q => p,
        _ => return None,
    };
    let sp = a.start_port.max(b.start_port);
    let ep = a.end_port.min(b.end_port);
    let s = ip_u128(a.start).max(ip_u128(b.start));
    let e = ip_u128(a.end).min(ip_u128(b.end));
    if sp > ep || s > e {
        return None;
    }
    let v4 = a.start.is_ipv4();
    Some(TrafficSelector {
        ip_protocol: proto,
        start_port: sp,
        end_port: ep,
        start: ip_from(s, v4),
        end: ip_from(e, v4),
    })
}

/// Narrowing (RFC 7296 §2.9): the parts of what the peer proposed that our configuration
/// allows. Empty: TS_UNACCEPTABLE.
pub fn narrow(proposed: &[TrafficSelector], allowed: &[TsConfig]) -> Vec<TrafficSelector> {
    let mut out = Vec::new();
    for p in proposed {
        for a in allowed {
            if let Some(i) = intersect(p, &ts_from_config(a))
                && !out.contains(&i)
            {
                out.push(i);
            }
        }
    }
    out
}

/// Whether every selector of `got` lies within one of `offered` (what an initiator checks of the
/// responder's narrowed answer).
pub fn within(got: &[TrafficSelector], offered: &[TrafficSelector]) -> bool {
    !got.is_empty() && got.iter().all(|g| offered.iter().any(|o| intersect(g, o).as_ref() == Some(g)))
}

/// The prefixes (address, length) that exactly cover an address range.
pub fn range_prefixes(start: IpAddr, end: IpAddr) -> Vec<(IpAddr, u8)> {
    let v4 = start.is_ipv4();
    let bits: u32 = if v4 { 32 } else { 128 };
    let (mut s, e) = (ip_u128(start), ip_u128(end));
    // Whether the block of 2^k addresses at s ends at or before e.
    let fits = |s: u128, k: u32| {
        if k >= 128 { s == 0 && e == u128::MAX } else { s.checked_add((1u128 << k) - 1).is_some_and(|l| l <= e) }
    };
    let mut out = Vec::new();
    while s <= e {
        // The largest block aligned at s that fits in [s, e].
        let mut k = if s == 0 { bits } else { s.trailing_zeros().min(bits) };
        while k > 0 && !fits(s, k) {
            k -= 1;
        }
        out.push((ip_from(s, v4), (bits - k) as u8));
        if k >= 128 {
            break;
        }
        match s.checked_add(1u128 << k) {
            Some(n) => s = n,
            None => break,
        }
    }
    out
}

/// The kernel selectors of a pair of traffic selectors (from `src` to `dst`): one per prefix
/// pair; a port range other than one port or all ports is widened to all ports of that protocol
/// (PF_KEY selectors carry one port).
pub fn selectors(src: &TrafficSelector, dst: &TrafficSelector) -> Vec<Selector> {
    let port = |t: &TrafficSelector| if t.start_port == t.end_port { t.start_port } else { 0 };
    let proto = match (src.ip_protocol, dst.ip_protocol) {
        (0, 0) => IPSEC_ULPROTO_ANY,
        (p, 0) | (0, p) => p,
        (p, _) => p,
    };
    let mut out = Vec::new();
    for (sa, sl) in range_prefixes(src.start, src.end) {
        for (da, dl) in range_prefixes(dst.start, dst.end) {
            let mut sel = Selector::new(
                SockAddr::with_port(mask(sa, sl), port(src)),
                sl,
                SockAddr::with_port(mask(da, dl), port(dst)),
                dl,
            );
            sel.proto = proto;
            out.push(sel);
        }
    }
    out
}

/// A Child SA as installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChildSa {
    /// Our inbound SPI (the peer's outbound).
    pub spi_in: u32,
    /// Our outbound SPI.
    pub spi_out: u32,
    /// The kernel request id tying its SAs to its policies.
    pub reqid: u32,
    /// The negotiated proposal.
    pub proposal: EspProposal,
    /// Our traffic selectors (narrowed).
    pub ts_local: Vec<TrafficSelector>,
    /// The peer's traffic selectors (narrowed).
    pub ts_remote: Vec<TrafficSelector>,
    /// Whether it owns the policies (the first Child SA of its reqid; rekeyed ones share them).
    pub owns_policies: bool,
    /// When it was installed (engine ms).
    pub installed_ms: u64,
    /// Set once a rekey replaced it (it waits for its deletion).
    pub rekeyed: bool,
    /// The UDP encapsulation of its SAs (NAT-T): (our port, the peer's port).
    pub udp_encap: Option<(u16, u16)>,
}

/// Kernel algorithms and keys of one direction.
fn algs(p: &EspProposal, encr_key: &[u8], integ_key: &[u8]) -> (Option<AlgKey<EncryptAlg>>, Option<AlgKey<AuthAlg>>) {
    let e = match p.encr {
        EncrAlg::AesGcm16 { .. } => EncryptAlg::AesGcmIcv16,
        EncrAlg::AesCbc { .. } => EncryptAlg::AesCbc,
    };
    let a = p.integ.map(|i| match i {
        IntegAlg::HmacSha1_96 => AlgKey::new(AuthAlg::Sha1Hmac, integ_key),
        IntegAlg::HmacSha256_128 => AlgKey::new(AuthAlg::Sha2_256Hmac, integ_key),
        IntegAlg::HmacSha384_192 => AlgKey::new(AuthAlg::Sha2_384Hmac, integ_key),
        IntegAlg::HmacSha512_256 => AlgKey::new(AuthAlg::Sha2_512Hmac, integ_key),
    });
    (Some(AlgKey::new(e, encr_key)), a)
}

/// Everything a Child SA's installation needs beyond the SA itself.
pub struct Install<'a> {
    /// Our IKE address (the SAs' outer address).
    pub local: SocketAddr,
    /// The peer's IKE address.
    pub remote: SocketAddr,
    /// Whether we initiated the exchange that created the Child SA (key order, §2.17).
    pub initiator: bool,
    /// The keys.
    pub keys: &'a ChildKeys,
}

impl ChildSa {
    /// The inbound and outbound SAs, and the policies when the Child SA owns them.
    pub fn install_ops(&self, i: &Install<'_>) -> Vec<KernelOp> {
        let (l, r) = (SockAddr::new(i.local.ip()), SockAddr::new(i.remote.ip()));
        let (out_e, out_a, in_e, in_a) = if i.initiator {
            (&i.keys.encr_i, &i.keys.integ_i, &i.keys.encr_r, &i.keys.integ_r)
        } else {
            (&i.keys.encr_r, &i.keys.integ_r, &i.keys.encr_i, &i.keys.integ_i)
        };
        let sa = |spi, src, dst, e: &[u8], a: &[u8], natt| {
            let (encrypt, auth) = algs(&self.proposal, e, a);
            SaSpec { encrypt, auth, natt, ..SaSpec::esp_tunnel_gcm(spi, src, dst, self.reqid, &[]) }
        };
        let encap_out = self.udp_encap.map(|(ours, theirs)| NatT::esp_in_udp(ours, theirs));
        let encap_in = self.udp_encap.map(|(ours, theirs)| NatT::esp_in_udp(theirs, ours));
        let mut ops = vec![
            KernelOp::AddSa(sa(self.spi_in, r, l, in_e, in_a, encap_in)),
            KernelOp::AddSa(sa(self.spi_out, l, r, out_e, out_a, encap_out)),
        ];
        if self.owns_policies {
            for (sel_out, sel_in) in self.selector_pairs() {
                ops.push(KernelOp::AddPolicy(PolicySpec::esp_tunnel(sel_out, PolicyDir::Outbound, l, r, self.reqid)));
                ops.push(KernelOp::AddPolicy(PolicySpec::esp_tunnel(sel_in, PolicyDir::Inbound, r, l, self.reqid)));
                ops.push(KernelOp::AddPolicy(PolicySpec::esp_tunnel(sel_in, PolicyDir::Fwd, r, l, self.reqid)));
            }
        }
        ops
    }

    /// (outbound selector, inbound selector) for every pair of our and the peer's selectors.
    fn selector_pairs(&self) -> Vec<(Selector, Selector)> {
        let mut v = Vec::new();
        for lt in &self.ts_local {
            for rt in &self.ts_remote {
                if lt.start.is_ipv4() != rt.start.is_ipv4() {
                    continue;
                }
                v.extend(selectors(lt, rt).into_iter().zip(selectors(rt, lt)));
            }
        }
        v
    }

    /// Its two SAs' deletion, and its policies' when it owns them and `with_policies`.
    pub fn remove_ops(&self, local: SocketAddr, remote: SocketAddr, with_policies: bool) -> Vec<KernelOp> {
        let (l, r) = (SockAddr::new(local.ip()), SockAddr::new(remote.ip()));
        let mut ops = vec![
            KernelOp::DeleteSa(SaId { satype: SaType::Esp, spi: self.spi_in, src: r, dst: l }),
            KernelOp::DeleteSa(SaId { satype: SaType::Esp, spi: self.spi_out, src: l, dst: r }),
        ];
        if with_policies && self.owns_policies {
            for (sel_out, sel_in) in self.selector_pairs() {
                ops.push(KernelOp::DeletePolicy { selector: sel_out, dir: PolicyDir::Outbound });
                ops.push(KernelOp::DeletePolicy { selector: sel_in, dir: PolicyDir::Inbound });
                ops.push(KernelOp::DeletePolicy { selector: sel_in, dir: PolicyDir::Fwd });
            }
        }
        ops
    }
}

/// The Child SA keys for a negotiated proposal.
pub fn child_keys(
    prf: PrfAlg,
    sk_d: &[u8],
    dh: Option<&[u8]>,
    ni: &[u8],
    nr: &[u8],
    p: &EspProposal,
) -> Result<ChildKeys, crate::crypto::CryptoError> {
    crate::crypto::child_keys(prf, sk_d, dh, ni, nr, p.encr, p.integ)
}

/// Whether a DH group is one we configured anywhere in `ours`.
pub fn ike_group_known(ours: &[IkeProposal], group: u16) -> Option<DhGroup> {
    ours.iter().map(|p| p.dh).find(|d| d.id() == group)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str, e: &str) -> TrafficSelector {
        TrafficSelector {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start: s.parse().unwrap(),
            end: e.parse().unwrap(),
        }
    }

    #[test]
    fn ranges_become_exact_prefixes() {
        let p = |s: &str, e: &str| {
            range_prefixes(s.parse().unwrap(), e.parse().unwrap())
                .into_iter()
                .map(|(a, l)| format!("{a}/{l}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(p("10.1.0.0", "10.1.0.255"), ["10.1.0.0/24"]);
        assert_eq!(p("10.1.0.1", "10.1.0.1"), ["10.1.0.1/32"]);
        assert_eq!(p("10.1.0.1", "10.1.0.6"), ["10.1.0.1/32", "10.1.0.2/31", "10.1.0.4/31", "10.1.0.6/32"]);
        assert_eq!(p("0.0.0.0", "255.255.255.255"), ["0.0.0.0/0"]);
        assert_eq!(p("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), ["::/0"]);
        assert_eq!(p("2001:db8::", "2001:db8::ffff"), ["2001:db8::/112"]);
    }

    #[test]
    fn narrowing_keeps_the_overlap_only() {
        let allowed: Vec<TsConfig> = vec!["10.1.0.0/24".parse().unwrap()];
        assert_eq!(narrow(&[ts("10.0.0.0", "10.255.255.255")], &allowed), [ts("10.1.0.0", "10.1.0.255")]);
        assert_eq!(narrow(&[ts("10.1.0.5", "10.1.0.5")], &allowed), [ts("10.1.0.5", "10.1.0.5")]);
        assert!(narrow(&[ts("10.2.0.0", "10.2.0.255")], &allowed).is_empty());
        assert!(narrow(&[ts("2001:db8::", "2001:db8::ff")], &allowed).is_empty());
        let udp53: Vec<TsConfig> = vec!["10.1.0.0/24[17/53]".parse().unwrap()];
        let n = narrow(&[ts("10.1.0.0", "10.1.0.255")], &udp53);
        assert_eq!((n[0].ip_protocol, n[0].start_port, n[0].end_port), (17, 53, 53));
        assert!(within(&n, &[ts("10.0.0.0", "10.255.255.255")]));
        assert!(!within(&[ts("10.0.0.0", "10.255.255.255")], &n));
    }

    #[test]
    fn proposals_are_chosen_by_our_preference_and_read_back_exactly() {
        let a: IkeProposal = "aes256gcm16-prfsha256-ecp256".parse().unwrap();
        let b: IkeProposal = "aes128-sha256-prfsha256-modp2048".parse().unwrap();
        let offered = ike_proposals(&[b, a], &[]);
        let (num, chosen, _) = select_ike(&[a, b], &offered).unwrap();
        assert_eq!((num, chosen), (2, a));
        let answer = vec![ike_proposal(&chosen, num, &[])];
        assert_eq!(accepted_ike(&[b, a], &answer).unwrap().0, a);
        assert!(accepted_ike(&[b], &answer).is_none(), "not one we offered");
        assert!(accepted_ike(&[a, b], &offered).is_none(), "two proposals in an answer");
        let c: IkeProposal = "aes256gcm16-prfsha256-curve25519".parse().unwrap();
        assert!(select_ike(&[c], &offered).is_none());

        let e1: EspProposal = "aes256gcm16".parse().unwrap();
        let e2: EspProposal = "aes128-sha256-ecp256".parse().unwrap();
        // IKE_AUTH: no KE; e2's group is kept for its rekeys.
        let offered = esp_proposals(&[e1, e2], 0x1234, false);
        let (num, chosen, spi) = select_esp(&[e2, e1], &offered, None).unwrap();
        assert_eq!((num, spi, chosen), (2, 0x1234, e2));
        // CREATE_CHILD_SA with KE: only e2 has a PFS group.
        let with_pfs = esp_proposals(&[e1, e2], 7, true);
        assert_eq!(select_esp(&[e1, e2], &with_pfs, Some(true)).unwrap().1, e2);
        assert!(select_esp(&[e1], &with_pfs, Some(true)).is_none());
        // A rekey without KE where our proposal wants PFS is refused (strongSwan does the same).
        let without = esp_proposals(&[e2], 8, false);
        assert!(select_esp(&[e2], &without, Some(false)).is_none());
        assert_eq!(select_esp(&[e1, e2], &esp_proposals(&[e1], 9, false), Some(false)).unwrap().1, e1);
    }

    #[test]
    fn a_child_installs_two_sas_and_three_policies_per_selector_pair() {
        use crate::crypto::ChildKeys;
        let keys = ChildKeys {
            encr_i: zeroize::Zeroizing::new(vec![1; 36]),
            integ_i: zeroize::Zeroizing::new(Vec::new()),
            encr_r: zeroize::Zeroizing::new(vec![2; 36]),
            integ_r: zeroize::Zeroizing::new(Vec::new()),
        };
        let child = ChildSa {
            spi_in: 0x100,
            spi_out: 0x200,
            reqid: 7,
            proposal: "aes256gcm16".parse().unwrap(),
            ts_local: vec![ts("10.1.0.0", "10.1.0.255")],
            ts_remote: vec![ts("10.2.0.0", "10.2.0.255")],
            owns_policies: true,
            installed_ms: 0,
            rekeyed: false,
            udp_encap: Some((4500, 4501)),
        };
        let l: SocketAddr = "192.0.2.1:4500".parse().unwrap();
        let r: SocketAddr = "198.51.100.1:4501".parse().unwrap();
        let ops = child.install_ops(&Install { local: l, remote: r, initiator: true, keys: &keys });
        assert_eq!(ops.len(), 5);
        let KernelOp::AddSa(inb) = &ops[0] else { panic!() };
        assert_eq!((inb.spi, inb.src.ip(), inb.dst.ip()), (0x100, r.ip(), l.ip()));
        assert_eq!(inb.encrypt.as_ref().unwrap().key.as_ref(), &[2; 36], "the responder's keys protect inbound");
        assert_eq!(inb.natt, Some(NatT::esp_in_udp(4501, 4500)));
        let KernelOp::AddSa(out) = &ops[1] else { panic!() };
        assert_eq!(out.encrypt.as_ref().unwrap().key.as_ref(), &[1; 36]);
        let KernelOp::AddPolicy(p) = &ops[2] else { panic!() };
        assert_eq!((p.dir, p.selector.dst_prefixlen, p.templates[0].reqid), (PolicyDir::Outbound, 24, 7));
        assert_eq!(child.remove_ops(l, r, true).len(), 5);
        assert_eq!(child.remove_ops(l, r, false).len(), 2);
    }
}

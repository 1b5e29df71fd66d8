//! IKE SAs and their exchanges: IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA and INFORMATIONAL, for
//! both roles, with message IDs, a window of one, retransmission and the response cache.

use std::net::SocketAddr;

use zeroize::Zeroizing;

use super::child::{
    self, ChildSa, Install, accepted_esp, accepted_ike, esp_proposal, esp_proposals, ike_proposal, ike_proposals,
    narrow, select_esp, select_ike, ts_of, within,
};
use super::{Engine, Event, IkeStatus, Millis, Output};
use crate::codec::{
    AuthMethod, ExchangeType, Flags, Header, Identification, Message, Notify, NotifyType, Payload, Proposal,
    ProtocolId, TrafficSelector, decode_payloads, encode_payloads,
};
use crate::config::{Connection, EspProposal, IkeProposal};
use crate::crypto::{
    self, DhPrivate, IkeKeys, SkCipher, derive_ike_keys, nat_detection_hash, psk_auth, signed_octets, skeyseed,
    skeyseed_rekey,
};

/// The nonces this engine sends.
const NONCE_LEN: usize = 32;
/// How long an old IKE SA waits for the rekey initiator's Delete before it goes (ms).
const REKEYED_LINGER_MS: u64 = 30_000;

/// What a timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TimerKind {
    /// Retransmit the outstanding request `msg_id` (its `attempt`th timeout).
    Retransmit { msg_id: u32, attempt: u32 },
    /// A responder's half-open IKE SA waited too long for IKE_AUTH.
    HalfOpen,
    /// Rekey the Child SA with this inbound SPI.
    RekeyChild(u32),
    /// Rekey the IKE SA.
    RekeyIke,
    /// Check liveness.
    Dpd,
    /// A rekeyed IKE SA never got its Delete.
    Linger,
}

/// Work that needs an exchange of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Task {
    /// Rekey the Child SA with this inbound SPI.
    RekeyChild(u32),
    /// Rekey the IKE SA.
    RekeyIke,
    /// Delete the Child SA with this inbound SPI (after a rekey, or on a hard expire).
    DeleteChild(u32),
    /// Delete the IKE SA with its Child SAs.
    DeleteIke,
    /// A liveness check.
    Dpd,
}

/// An IKE SA's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Initiator: IKE_SA_INIT sent.
    InitSent,
    /// Responder: IKE_SA_INIT answered, waiting for IKE_AUTH (half-open).
    InitDone,
    /// Initiator: IKE_AUTH sent.
    AuthSent,
    /// Established.
    Established,
    /// Replaced by a rekey; waits for (or sends) the Delete.
    Rekeyed,
}

/// The outstanding request of a window of one.
pub(super) struct Pending {
    msg_id: u32,
    packet: Vec<u8>,
    attempt: u32,
    kind: PendingKind,
}

enum PendingKind {
    Init,
    Auth { spi_in: u32, reqid: u32 },
    RekeyChild { old_spi: u32, spi_in: u32, ni: Vec<u8>, dh: Option<DhPrivate> },
    RekeyIke { new_spi: u64, ni: Vec<u8>, dh: DhPrivate },
    DeleteChild(u32),
    DeleteIke,
    Dpd,
}

/// One IKE SA.
pub(super) struct IkeSa {
    pub(super) conn: usize,
    /// Whether we are its original initiator (the I flag).
    pub(super) initiator: bool,
    pub(super) spi_i: u64,
    pub(super) spi_r: u64,
    pub(super) state: State,
    pub(super) was_established: bool,
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
    /// We are behind a NAT.
    nat_local: bool,
    /// The peer is behind a NAT.
    nat_remote: bool,
    proposal: Option<IkeProposal>,
    dh: Option<DhPrivate>,
    ni: Vec<u8>,
    nr: Vec<u8>,
    keys: Option<IkeKeys>,
    tx: Option<SkCipher>,
    rx: Option<SkCipher>,
    init_request: Vec<u8>,
    init_response: Vec<u8>,
    cookie: Option<Vec<u8>>,
    next_msg_id: u32,
    pub(super) pending: Option<Pending>,
    peer_msg_id: u32,
    /// The last response sent: (message ID, the request it answered, the response).
    last_response: Option<(u32, Vec<u8>, Vec<u8>)>,
    pub(super) children: Vec<ChildSa>,
    /// Rekeys of a Child SA the peer started while ours of the same Child SA was outstanding
    /// (RFC 7296 §2.8.1): (the old Child SA's inbound SPI, the inbound SPI of the Child SA the
    /// peer's exchange created, the lower nonce of that exchange).
    rekey_collisions: Vec<(u32, u32, Vec<u8>)>,
    /// A rekey of this IKE SA the peer started while ours was outstanding (RFC 7296 §2.8.2):
    /// the handle of the IKE SA the peer's exchange created, and that exchange's lower nonce.
    ike_rekey_collision: Option<(u64, Vec<u8>)>,
    last_heard: Millis,
    /// When it was created (engine ms).
    created_ms: Millis,
    /// How long IKE_SA_INIT and IKE_AUTH took (ms), once established.
    setup_ms: Option<Millis>,
}

impl IkeSa {
    fn new(conn: usize, initiator: bool, local: SocketAddr, remote: SocketAddr, now: Millis) -> IkeSa {
        IkeSa {
            conn,
            initiator,
            spi_i: 0,
            spi_r: 0,
            state: if initiator { State::InitSent } else { State::InitDone },
            was_established: false,
            local,
            remote,
            nat_local: false,
            nat_remote: false,
            proposal: None,
            dh: None,
            ni: Vec::new(),
            nr: Vec::new(),
            keys: None,
            tx: None,
            rx: None,
            init_request: Vec::new(),
            init_response: Vec::new(),
            cookie: None,
            next_msg_id: 0,
            pending: None,
            peer_msg_id: 0,
            last_response: None,
            children: Vec::new(),
            rekey_collisions: Vec::new(),
            ike_rekey_collision: None,
            last_heard: now,
            created_ms: now,
            setup_ms: None,
        }
    }

    pub(super) fn is_established(&self) -> bool {
        self.state == State::Established
    }

    pub(super) fn is_dead(&self) -> bool {
        self.state == State::Rekeyed
    }

    fn nat(&self) -> bool {
        self.nat_local || self.nat_remote
    }

    fn prf(&self) -> crypto::PrfAlg {
        self.proposal.expect("keys are derived with a proposal").prf
    }

    fn keys(&self) -> &IkeKeys {
        self.keys.as_ref().expect("an IKE SA past IKE_SA_INIT has keys")
    }

    fn install_ciphers(&mut self, p: &IkeProposal, keys: IkeKeys) -> Result<(), crypto::CryptoError> {
        let (tx, rx) = if self.initiator {
            (
                SkCipher::new(p.encr, p.integ, &keys.sk_ei, &keys.sk_ai)?,
                SkCipher::new(p.encr, p.integ, &keys.sk_er, &keys.sk_ar)?,
            )
        } else {
            (
                SkCipher::new(p.encr, p.integ, &keys.sk_er, &keys.sk_ar)?,
                SkCipher::new(p.encr, p.integ, &keys.sk_ei, &keys.sk_ai)?,
            )
        };
        self.tx = Some(tx);
        self.rx = Some(rx);
        self.keys = Some(keys);
        self.proposal = Some(*p);
        Ok(())
    }

    pub(super) fn status(&self, conns: &[Connection]) -> IkeStatus {
        IkeStatus {
            conn: conns[self.conn].name.clone(),
            spi_i: format!("{:016x}", self.spi_i),
            spi_r: format!("{:016x}", self.spi_r),
            initiator: self.initiator,
            state: format!("{:?}", self.state),
            established: self.state == State::Established,
            local: self.local,
            remote: self.remote,
            nat: self.nat(),
            proposal: self.proposal.map(|p| proposal_text(&p)),
            next_message_id: self.next_msg_id,
            setup_ms: self.setup_ms,
            children: self.children.clone(),
        }
    }
}

fn proposal_text(p: &IkeProposal) -> String {
    p.to_string()
}

fn notify(kind: NotifyType, data: Vec<u8>) -> Payload {
    Payload::Notify(Notify { protocol: ProtocolId::NONE, spi: Vec::new(), kind, data })
}

fn notifies(p: &[Payload]) -> impl Iterator<Item = &Notify> {
    p.iter().filter_map(|p| match p {
        Payload::Notify(n) => Some(n),
        _ => None,
    })
}

fn find_notify(p: &[Payload], kind: NotifyType) -> Option<&Notify> {
    notifies(p).find(|n| n.kind == kind)
}

fn first_error(p: &[Payload]) -> Option<NotifyType> {
    notifies(p).map(|n| n.kind).find(|k| k.is_error())
}

fn sa_payload(p: &[Payload]) -> Option<&[Proposal]> {
    p.iter().find_map(|p| match p {
        Payload::Sa(v) => Some(v.as_slice()),
        _ => None,
    })
}

fn ke_payload(p: &[Payload]) -> Option<(u16, &[u8])> {
    p.iter().find_map(|p| match p {
        Payload::Ke { group, data } => Some((*group, data.as_slice())),
        _ => None,
    })
}

fn nonce_payload(p: &[Payload]) -> Option<&[u8]> {
    p.iter().find_map(|p| match p {
        Payload::Nonce(n) => Some(n.as_slice()),
        _ => None,
    })
}

fn ts_payloads(p: &[Payload]) -> Option<(&[TrafficSelector], &[TrafficSelector])> {
    let i = p.iter().find_map(|p| match p {
        Payload::TsI(v) => Some(v.as_slice()),
        _ => None,
    })?;
    let r = p.iter().find_map(|p| match p {
        Payload::TsR(v) => Some(v.as_slice()),
        _ => None,
    })?;
    Some((i, r))
}

/// Constant-time comparison of two MACs.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn header(spi_i: u64, spi_r: u64, exchange: ExchangeType, initiator: bool, response: bool, message_id: u32) -> Header {
    let mut flags = Flags::empty();
    flags.set(Flags::INITIATOR, initiator);
    flags.set(Flags::RESPONSE, response);
    Header { spi_i, spi_r, exchange, flags, message_id }
}

/// The NAT detection hashes of a message from `from` to `to`.
fn nat_d(spi_i: u64, spi_r: u64, from: SocketAddr, to: SocketAddr) -> [Payload; 2] {
    [
        notify(NotifyType::NatDetectionSourceIp, nat_detection_hash(spi_i, spi_r, from.ip(), from.port()).to_vec()),
        notify(NotifyType::NatDetectionDestinationIp, nat_detection_hash(spi_i, spi_r, to.ip(), to.port()).to_vec()),
    ]
}

/// (we are behind a NAT, the peer is) from the peer's NAT detection notifies in a message it
/// sent from `peer` to `us`; (false, false) when it sent none (no NAT-T).
fn detect_nat(p: &[Payload], spi_i: u64, spi_r: u64, us: SocketAddr, peer: SocketAddr) -> (bool, bool) {
    let src: Vec<&Notify> = notifies(p).filter(|n| n.kind == NotifyType::NatDetectionSourceIp).collect();
    let dst = find_notify(p, NotifyType::NatDetectionDestinationIp);
    if src.is_empty() || dst.is_none() {
        return (false, false);
    }
    let peer_hash = nat_detection_hash(spi_i, spi_r, peer.ip(), peer.port());
    let our_hash = nat_detection_hash(spi_i, spi_r, us.ip(), us.port());
    let peer_natted = !src.iter().any(|n| n.data == peer_hash);
    let we_natted = dst.is_some_and(|n| n.data != our_hash);
    (we_natted, peer_natted)
}

impl Engine {
    // ---------------------------------------------------------------- sending

    /// Encrypts `inner` into an SK payload under IKE SA `h`'s keys.
    fn seal(&mut self, h: u64, hdr: Header, inner: &[Payload]) -> Option<Vec<u8>> {
        let iv_len = self.sas.get(&h)?.tx.as_ref()?.iv_len();
        let iv = self.random_bytes(iv_len);
        let sa = self.sas.get(&h)?;
        let tx = sa.tx.as_ref()?;
        let (first, plain) = encode_payloads(inner);
        let plain = Zeroizing::new(plain);
        let body_len = tx.sealed_len(plain.len());
        let msg = Message { header: hdr, payloads: vec![Payload::Sk { first_inner: first, body: vec![0; body_len] }] };
        let mut bytes = msg.encode();
        let aad_len = bytes.len() - body_len;
        match tx.seal(&bytes[..aad_len], &iv, &plain) {
            Ok(sealed) if sealed.len() == body_len => {
                bytes.truncate(aad_len);
                bytes.extend_from_slice(&sealed);
                Some(bytes)
            }
            other => {
                tracing::error!(?other, "sealing an SK payload failed");
                None
            }
        }
    }

    /// Sends a request on IKE SA `h` and makes it the outstanding one.
    fn send_request(&mut self, h: u64, exchange: ExchangeType, inner: &[Payload], kind: PendingKind) -> bool {
        let Some(sa) = self.sas.get(&h) else { return false };
        let msg_id = sa.next_msg_id;
        let hdr = header(sa.spi_i, sa.spi_r, exchange, sa.initiator, false, msg_id);
        let Some(packet) = self.seal(h, hdr, inner) else { return false };
        let sa = self.sas.get_mut(&h).expect("checked above");
        sa.next_msg_id = msg_id.wrapping_add(1);
        let (local, remote) = (sa.local, sa.remote);
        sa.pending = Some(Pending { msg_id, packet: packet.clone(), attempt: 0, kind });
        self.emit(Output::Send { local, remote, data: packet });
        let at = self.now + self.cfg.retransmit_ms;
        self.arm(h, TimerKind::Retransmit { msg_id, attempt: 0 }, at);
        true
    }

    /// Answers request `msg_id` (whose bytes were `request`) on IKE SA `h`, and caches the answer.
    fn send_response(&mut self, h: u64, exchange: ExchangeType, msg_id: u32, request: &[u8], inner: &[Payload]) {
        let Some(sa) = self.sas.get(&h) else { return };
        let hdr = header(sa.spi_i, sa.spi_r, exchange, sa.initiator, true, msg_id);
        let Some(packet) = self.seal(h, hdr, inner) else { return };
        let sa = self.sas.get_mut(&h).expect("checked above");
        sa.last_response = Some((msg_id, request.to_vec(), packet.clone()));
        let (local, remote) = (sa.local, sa.remote);
        self.emit(Output::Send { local, remote, data: packet });
    }

    /// An unencrypted IKE_SA_INIT answer that creates no state (cookie, INVALID_KE_PAYLOAD,
    /// NO_PROPOSAL_CHOSEN).
    fn stateless_reply(&mut self, local: SocketAddr, remote: SocketAddr, spi_i: u64, n: Payload) {
        let msg = Message { header: header(spi_i, 0, ExchangeType::IkeSaInit, false, true, 0), payloads: vec![n] };
        self.emit(Output::Send { local, remote, data: msg.encode() });
    }

    // ---------------------------------------------------------------- IKE_SA_INIT

    pub(super) fn initiate(&mut self, ci: usize) {
        let conn = &self.conns[ci];
        let Some(remote) = conn.remote_addr() else {
            tracing::warn!(conn = conn.name, "a connection to %any cannot be initiated");
            return;
        };
        let local = SocketAddr::new(conn.local, self.cfg.port);
        let group = conn.ike[0].dh;
        let spi_i = self.random_u64();
        let ni = self.random_bytes(NONCE_LEN);
        let Ok(dh) = group.generate(&mut *self.rng) else {
            tracing::error!(?group, "DH key generation failed");
            return;
        };
        let mut sa = IkeSa::new(ci, true, local, remote, self.now);
        sa.spi_i = spi_i;
        sa.ni = ni;
        sa.dh = Some(dh);
        let h = self.next_handle;
        self.next_handle += 1;
        self.sas.insert(h, sa);
        tracing::info!(conn = self.conns[ci].name, %remote, "initiating");
        self.send_init(h);
    }

    fn send_init(&mut self, h: u64) {
        let sa = &self.sas[&h];
        let conn = &self.conns[sa.conn];
        let dh = sa.dh.as_ref().expect("an initiator has its DH secret until IKE_SA_INIT completes");
        let mut payloads = Vec::new();
        if let Some(c) = &sa.cookie {
            payloads.push(notify(NotifyType::Cookie, c.clone()));
        }
        payloads.push(Payload::Sa(ike_proposals(&conn.ike, &[])));
        payloads.push(Payload::Ke { group: dh.group().id(), data: dh.public() });
        payloads.push(Payload::Nonce(sa.ni.clone()));
        payloads.extend(nat_d(sa.spi_i, 0, sa.local, sa.remote));
        let msg = Message { header: header(sa.spi_i, 0, ExchangeType::IkeSaInit, true, false, 0), payloads };
        let packet = msg.encode();
        let (local, remote) = (sa.local, sa.remote);
        let sa = self.sas.get_mut(&h).expect("exists");
        sa.init_request = packet.clone();
        sa.next_msg_id = 1;
        sa.pending = Some(Pending { msg_id: 0, packet: packet.clone(), attempt: 0, kind: PendingKind::Init });
        self.emit(Output::Send { local, remote, data: packet });
        let at = self.now + self.cfg.retransmit_ms;
        self.arm(h, TimerKind::Retransmit { msg_id: 0, attempt: 0 }, at);
    }

    /// A responder's answer to IKE_SA_INIT.
    fn responder_init(&mut self, local: SocketAddr, remote: SocketAddr, data: &[u8], msg: &Message) {
        let spi_i = msg.header.spi_i;
        // A retransmitted request we answered: the same answer again.
        let again = self
            .sas
            .values()
            .find(|sa| !sa.initiator && sa.spi_i == spi_i && sa.remote == remote && sa.init_request == data);
        if let Some(sa) = again {
            let (l, r, resp) = (sa.local, sa.remote, sa.init_response.clone());
            self.stats.responses_resent += 1;
            self.emit(Output::Send { local: l, remote: r, data: resp });
            return;
        }
        if self.sas.values().any(|sa| sa.spi_i == spi_i && sa.remote == remote) {
            return self
                .drop_datagram(format!("IKE_SA_INIT with SPIi {spi_i:016x} from {remote} again, but different"));
        }
        let Some(ci) = self.conns.iter().position(|c| c.matches(local.ip(), remote.ip())) else {
            return self.drop_datagram(format!("IKE_SA_INIT from {remote} to {local}: no connection"));
        };
        let p = &msg.payloads;
        let (Some(props), Some((group, ke)), Some(ni)) = (sa_payload(p), ke_payload(p), nonce_payload(p)) else {
            return self.drop_datagram(format!("IKE_SA_INIT from {remote}: SA, KE or Nonce missing"));
        };
        // Cookies (§2.6) once half-open SAs pile up.
        let half_open = self.sas.values().filter(|sa| sa.state == State::InitDone).count();
        if half_open >= self.cfg.cookie_threshold {
            let want = crypto::cookie(&self.cookie_secret, ni, remote.ip(), spi_i);
            let got = match p.first() {
                Some(Payload::Notify(n)) if n.kind == NotifyType::Cookie => Some(n.data.as_slice()),
                _ => None,
            };
            if !got.is_some_and(|g| ct_eq(g, &want)) {
                self.stats.cookies_sent += 1;
                tracing::debug!(%remote, half_open, "asking for a cookie");
                return self.stateless_reply(local, remote, spi_i, notify(NotifyType::Cookie, want));
            }
        }
        let conn = &self.conns[ci];
        let Some((number, chosen, _)) = select_ike(&conn.ike, props) else {
            tracing::info!(conn = conn.name, %remote, "no acceptable IKE proposal");
            return self.stateless_reply(local, remote, spi_i, notify(NotifyType::NoProposalChosen, Vec::new()));
        };
        if group != chosen.dh.id() {
            tracing::info!(conn = conn.name, offered = group, want = chosen.dh.id(), "INVALID_KE_PAYLOAD");
            let n = notify(NotifyType::InvalidKePayload, chosen.dh.id().to_be_bytes().to_vec());
            return self.stateless_reply(local, remote, spi_i, n);
        }
        let Ok(dh) = chosen.dh.generate(&mut *self.rng) else {
            return self.drop_datagram("DH key generation failed".into());
        };
        let shared = match dh.shared(ke) {
            Ok(s) => s,
            Err(e) => return self.drop_datagram(format!("IKE_SA_INIT from {remote}: bad KE: {e}")),
        };
        let spi_r = self.random_u64();
        let nr = self.random_bytes(NONCE_LEN);
        let seed = skeyseed(chosen.prf, ni, &nr, &shared);
        let keys = match derive_ike_keys(chosen.prf, &seed, ni, &nr, spi_i, spi_r, chosen.encr, chosen.integ) {
            Ok(k) => k,
            Err(e) => return self.drop_datagram(format!("key derivation: {e}")),
        };
        let mut sa = IkeSa::new(ci, false, local, remote, self.now);
        sa.spi_i = spi_i;
        sa.spi_r = spi_r;
        (sa.nat_local, sa.nat_remote) = detect_nat(p, spi_i, 0, local, remote);
        sa.ni = ni.to_vec();
        sa.nr = nr.clone();
        if let Err(e) = sa.install_ciphers(&chosen, keys) {
            return self.drop_datagram(format!("SK cipher: {e}"));
        }
        let mut payloads = vec![
            Payload::Sa(vec![ike_proposal(&chosen, number, &[])]),
            Payload::Ke { group: chosen.dh.id(), data: dh.public() },
            Payload::Nonce(nr),
        ];
        payloads.extend(nat_d(spi_i, spi_r, local, remote));
        let resp = Message { header: header(spi_i, spi_r, ExchangeType::IkeSaInit, false, true, 0), payloads }.encode();
        sa.init_request = data.to_vec();
        sa.init_response = resp.clone();
        sa.peer_msg_id = 1;
        let h = self.next_handle;
        self.next_handle += 1;
        self.sas.insert(h, sa);
        self.emit(Output::Send { local, remote, data: resp });
        let at = self.now + self.cfg.half_open_ms;
        self.arm(h, TimerKind::HalfOpen, at);
    }

    /// The initiator reads the IKE_SA_INIT answer.
    fn init_response(&mut self, h: u64, local: SocketAddr, remote: SocketAddr, msg: &Message) {
        let p = &msg.payloads;
        let sa = &self.sas[&h];
        let conn = &self.conns[sa.conn];
        if let Some(c) = find_notify(p, NotifyType::Cookie) {
            if sa.cookie.as_ref() == Some(&c.data) || c.data.is_empty() || c.data.len() > 64 {
                return self.drop_datagram("a cookie again, or a malformed one".into());
            }
            tracing::debug!(conn = conn.name, "responder asked for a cookie");
            let data = c.data.clone();
            self.sas.get_mut(&h).expect("exists").cookie = Some(data);
            return self.send_init(h);
        }
        if let Some(n) = find_notify(p, NotifyType::InvalidKePayload) {
            let group = <[u8; 2]>::try_from(n.data.as_slice()).ok().map(u16::from_be_bytes);
            let current = sa.dh.as_ref().map(|d| d.group().id());
            let Some(g) = group.and_then(|g| child::ike_group_known(&conn.ike, g)).filter(|g| Some(g.id()) != current)
            else {
                return self.destroy(h, "INVALID_KE_PAYLOAD names a group we do not offer");
            };
            tracing::info!(conn = conn.name, group = ?g, "responder wants another DH group");
            let Ok(dh) = g.generate(&mut *self.rng) else { return };
            self.sas.get_mut(&h).expect("exists").dh = Some(dh);
            return self.send_init(h);
        }
        if let Some(e) = first_error(p) {
            return self.destroy(h, &format!("IKE_SA_INIT refused: {}", e.name()));
        }
        let (Some(props), Some((group, ke)), Some(nr)) = (sa_payload(p), ke_payload(p), nonce_payload(p)) else {
            return self.drop_datagram("IKE_SA_INIT response: SA, KE or Nonce missing".into());
        };
        let Some((chosen, _)) = accepted_ike(&conn.ike, props) else {
            return self.destroy(h, "the responder chose a proposal we did not offer");
        };
        let dh = sa.dh.as_ref().expect("initiator DH");
        if group != chosen.dh.id() || dh.group() != chosen.dh || msg.header.spi_r == 0 {
            return self.destroy(h, "the responder's KE group or SPI does not match its choice");
        }
        let shared = match dh.shared(ke) {
            Ok(s) => s,
            Err(e) => return self.destroy(h, &format!("bad KE from the responder: {e}")),
        };
        let (spi_i, spi_r) = (sa.spi_i, msg.header.spi_r);
        let seed = skeyseed(chosen.prf, &sa.ni, nr, &shared);
        let keys = match derive_ike_keys(chosen.prf, &seed, &sa.ni, nr, spi_i, spi_r, chosen.encr, chosen.integ) {
            Ok(k) => k,
            Err(e) => return self.destroy(h, &format!("key derivation: {e}")),
        };
        let (nat_local, nat_remote) = detect_nat(p, spi_i, spi_r, local, remote);
        let remote_nat_port = conn.remote_nat_port;
        let nat_port = self.cfg.nat_port;
        let sa = self.sas.get_mut(&h).expect("exists");
        sa.spi_r = spi_r;
        sa.nr = nr.to_vec();
        sa.dh = None;
        sa.nat_local = nat_local;
        sa.nat_remote = nat_remote;
        sa.init_response = msg.encode();
        if let Err(e) = sa.install_ciphers(&chosen, keys) {
            return self.destroy(h, &format!("SK cipher: {e}"));
        }
        sa.pending = None;
        if sa.nat() {
            // Float to the NAT-T port (§2.23).
            sa.local = SocketAddr::new(sa.local.ip(), nat_port);
            sa.remote = SocketAddr::new(sa.remote.ip(), remote_nat_port);
        }
        self.send_auth(h);
    }

    // ---------------------------------------------------------------- IKE_AUTH

    fn our_auth(&self, sa: &IkeSa, id: &Identification) -> Vec<u8> {
        let conn = &self.conns[sa.conn];
        let k = sa.keys();
        let (first, nonce, sk_p) =
            if sa.initiator { (&sa.init_request, &sa.nr, &k.sk_pi) } else { (&sa.init_response, &sa.ni, &k.sk_pr) };
        psk_auth(sa.prf(), &conn.psk, &signed_octets(sa.prf(), first, nonce, sk_p, &id.body()))
    }

    fn peer_auth_ok(&self, sa: &IkeSa, ci: usize, id: &Identification, auth: &[u8]) -> bool {
        let k = sa.keys();
        let (first, nonce, sk_p) =
            if sa.initiator { (&sa.init_response, &sa.ni, &k.sk_pr) } else { (&sa.init_request, &sa.nr, &k.sk_pi) };
        let want = psk_auth(sa.prf(), &self.conns[ci].psk, &signed_octets(sa.prf(), first, nonce, sk_p, &id.body()));
        ct_eq(&want, auth)
    }

    fn send_auth(&mut self, h: u64) {
        let spi_in = self.fresh_spi();
        let reqid = self.fresh_reqid();
        let sa = &self.sas[&h];
        let conn = &self.conns[sa.conn];
        let id = conn.local_id.clone();
        let auth = self.our_auth(sa, &id);
        let inner = vec![
            Payload::IdI(id),
            Payload::Auth { method: AuthMethod::SharedKey, data: auth },
            notify(NotifyType::InitialContact, Vec::new()),
            Payload::Sa(esp_proposals(&conn.esp, spi_in, false)),
            Payload::TsI(ts_of(&conn.local_ts)),
            Payload::TsR(ts_of(&conn.remote_ts)),
        ];
        self.sas.get_mut(&h).expect("exists").state = State::AuthSent;
        self.send_request(h, ExchangeType::IkeAuth, &inner, PendingKind::Auth { spi_in, reqid });
    }

    /// The responder's IKE_AUTH: authenticate, answer, install the first Child SA.
    fn auth_request(&mut self, h: u64, msg_id: u32, request: &[u8], p: &[Payload]) {
        let sa = &self.sas[&h];
        let (local, remote) = (sa.local, sa.remote);
        let idi = p.iter().find_map(|x| match x {
            Payload::IdI(i) => Some(i.clone()),
            _ => None,
        });
        let auth = p.iter().find_map(|x| match x {
            Payload::Auth { method: AuthMethod::SharedKey, data } => Some(data.clone()),
            _ => None,
        });
        // The connection: the one IKE_SA_INIT matched, or another for the same addresses whose
        // peer identity this is.
        let ci = idi.as_ref().and_then(|id| {
            let mut cands = (0..self.conns.len())
                .filter(|&c| self.conns[c].matches(local.ip(), remote.ip()) && &self.conns[c].remote_id == id);
            if self.conns[sa.conn].remote_id == *id { Some(sa.conn) } else { cands.next() }
        });
        let ok = match (&idi, &auth, ci) {
            (Some(id), Some(a), Some(c)) => self.peer_auth_ok(sa, c, id, a),
            _ => false,
        };
        if !ok {
            tracing::warn!(%remote, id = ?idi.as_ref().map(crate::config::identity_text), "IKE_AUTH: authentication failed");
            self.send_response(
                h,
                ExchangeType::IkeAuth,
                msg_id,
                request,
                &[notify(NotifyType::AuthenticationFailed, Vec::new())],
            );
            return self.destroy(h, "authentication failed");
        }
        let ci = ci.expect("checked");
        if find_notify(p, NotifyType::InitialContact).is_some() {
            // INITIAL_CONTACT: the peer has no other IKE SA with us; ours are stale.
            let stale: Vec<u64> = self
                .sas
                .iter()
                .filter(|(k, s)| **k != h && s.conn == ci && s.remote.ip() == remote.ip() && s.was_established)
                .map(|(k, _)| *k)
                .collect();
            for s in stale {
                self.destroy(s, "INITIAL_CONTACT from the peer");
            }
        }
        let sa = self.sas.get_mut(&h).expect("exists");
        sa.conn = ci;
        let conn = &self.conns[ci];
        let id = conn.local_id.clone();
        let our_auth = self.our_auth(&self.sas[&h], &id);
        let mut inner = vec![Payload::IdR(id), Payload::Auth { method: AuthMethod::SharedKey, data: our_auth }];
        // The first Child SA; its failure leaves the IKE SA up (§1.2).
        let child = match (sa_payload(p), ts_payloads(p)) {
            (Some(props), Some((tsi, tsr))) => match select_esp(&conn.esp, props, None) {
                None => Err(NotifyType::NoProposalChosen),
                Some((num, prop, spi_out)) => {
                    let ts_remote = narrow(tsi, &conn.remote_ts);
                    let ts_local = narrow(tsr, &conn.local_ts);
                    if ts_remote.is_empty() || ts_local.is_empty() {
                        Err(NotifyType::TsUnacceptable)
                    } else {
                        Ok((num, prop, spi_out, ts_local, ts_remote))
                    }
                }
            },
            _ => Err(NotifyType::InvalidSyntax),
        };
        let mut installed = None;
        match child {
            Ok((num, prop, spi_out, ts_local, ts_remote)) => {
                let spi_in = self.fresh_spi();
                let reqid = self.fresh_reqid();
                inner.push(Payload::Sa(vec![esp_proposal(&prop, num, spi_in, false)]));
                inner.push(Payload::TsI(ts_remote.clone()));
                inner.push(Payload::TsR(ts_local.clone()));
                installed = Some(self.new_child(h, spi_in, spi_out, reqid, prop, ts_local, ts_remote, None, true));
            }
            Err(n) => {
                tracing::info!(conn = self.conns[ci].name, error = n.name(), "first Child SA refused");
                inner.push(notify(n, Vec::new()));
            }
        }
        self.send_response(h, ExchangeType::IkeAuth, msg_id, request, &inner);
        self.established(h);
        if let Some((child, keys)) = installed {
            self.install_child(h, child, &keys, false, None);
        }
    }

    /// The initiator reads the IKE_AUTH answer.
    fn auth_response(&mut self, h: u64, spi_in: u32, reqid: u32, p: &[Payload]) {
        if find_notify(p, NotifyType::AuthenticationFailed).is_some() {
            return self.destroy(h, "the responder refused our authentication");
        }
        let sa = &self.sas[&h];
        let ci = sa.conn;
        let conn = &self.conns[ci];
        let idr = p.iter().find_map(|x| match x {
            Payload::IdR(i) => Some(i.clone()),
            _ => None,
        });
        let auth = p.iter().find_map(|x| match x {
            Payload::Auth { method: AuthMethod::SharedKey, data } => Some(data.clone()),
            _ => None,
        });
        let ok = match (&idr, &auth) {
            (Some(id), Some(a)) => *id == conn.remote_id && self.peer_auth_ok(sa, ci, id, a),
            _ => false,
        };
        if !ok {
            return self.destroy(h, "the responder's identity or AUTH is wrong");
        }
        self.established(h);
        let conn = &self.conns[ci];
        let child = match (sa_payload(p), ts_payloads(p)) {
            (Some(props), Some((tsi, tsr))) => match accepted_esp(&conn.esp, props, None) {
                Some((prop, spi_out))
                    if within(tsi, &ts_of(&conn.local_ts)) && within(tsr, &ts_of(&conn.remote_ts)) =>
                {
                    Ok((prop, spi_out, tsi.to_vec(), tsr.to_vec()))
                }
                _ => Err("the responder's Child SA answer does not match what we proposed".to_string()),
            },
            _ => Err(first_error(p)
                .map_or("no Child SA in the answer".into(), |e| format!("Child SA refused: {}", e.name()))),
        };
        match child {
            Ok((prop, spi_out, ts_local, ts_remote)) => {
                let (c, keys) = self.new_child(h, spi_in, spi_out, reqid, prop, ts_local, ts_remote, None, true);
                self.install_child(h, c, &keys, true, None);
            }
            Err(why) => tracing::warn!(conn = self.conns[ci].name, why, "no first Child SA"),
        }
        self.kick(h);
    }

    fn established(&mut self, h: u64) {
        let now = self.now;
        let sa = self.sas.get_mut(&h).expect("exists");
        sa.state = State::Established;
        sa.was_established = true;
        sa.last_heard = now;
        sa.setup_ms.get_or_insert(now - sa.created_ms);
        let conn = &self.conns[sa.conn];
        let ev = Event::IkeUp {
            conn: conn.name.clone(),
            spis: (sa.spi_i, sa.spi_r),
            local: sa.local,
            remote: sa.remote,
            nat: sa.nat(),
            proposal: sa.proposal.map(|p| proposal_text(&p)).unwrap_or_default(),
        };
        // The responder's timers run 10 % later, so that the initiator's rekey comes first.
        let scale = if sa.initiator { 1000 } else { 1100 };
        let (rekey, dpd) = (conn.rekey_ike_s * scale, conn.dpd_s * 1000);
        self.event(ev);
        if rekey > 0 {
            self.arm(h, TimerKind::RekeyIke, now + rekey);
        }
        if dpd > 0 {
            self.arm(h, TimerKind::Dpd, now + dpd);
        }
    }

    /// A Child SA's record and keys (not yet installed).
    #[allow(clippy::too_many_arguments)]
    fn new_child(
        &mut self,
        h: u64,
        spi_in: u32,
        spi_out: u32,
        reqid: u32,
        proposal: EspProposal,
        ts_local: Vec<TrafficSelector>,
        ts_remote: Vec<TrafficSelector>,
        dh: Option<&[u8]>,
        owns_policies: bool,
    ) -> (ChildSa, crypto::ChildKeys) {
        let sa = &self.sas[&h];
        let (ni, nr) = (&sa.ni, &sa.nr);
        let keys = child::child_keys(sa.prf(), &sa.keys().sk_d, dh, ni, nr, &proposal)
            .expect("prf+ covers every key length we negotiate");
        let udp_encap = sa.nat().then(|| (sa.local.port(), sa.remote.port()));
        let c = ChildSa {
            spi_in,
            spi_out,
            reqid,
            proposal,
            ts_local,
            ts_remote,
            owns_policies,
            installed_ms: self.now,
            rekeyed: false,
            udp_encap,
        };
        (c, keys)
    }

    /// Emits the kernel operations of a new Child SA and records it. `initiator`: whether we
    /// initiated the exchange that created it (key order). `replaces`: the inbound SPI of the
    /// Child SA it rekeys (whose policies it takes over).
    fn install_child(
        &mut self,
        h: u64,
        mut c: ChildSa,
        keys: &crypto::ChildKeys,
        initiator: bool,
        replaces: Option<u32>,
    ) {
        let sa = &self.sas[&h];
        let conn = &self.conns[sa.conn];
        let install = Install { local: sa.local, remote: sa.remote, initiator, keys };
        let ops = if replaces.is_some() {
            ChildSa { owns_policies: false, ..c.clone() }.install_ops(&install)
        } else {
            c.install_ops(&install)
        };
        let scale = if sa.initiator { 1000 } else { 1100 };
        let rekey = conn.rekey_child_s * scale;
        let ev =
            Event::ChildUp { conn: conn.name.clone(), spi_in: c.spi_in, spi_out: c.spi_out, reqid: c.reqid, replaces };
        for op in ops {
            self.emit(Output::Kernel(op));
        }
        let sa = self.sas.get_mut(&h).expect("exists");
        if let Some(old) = replaces
            && let Some(o) = sa.children.iter_mut().find(|x| x.spi_in == old)
        {
            c.owns_policies = o.owns_policies;
            o.owns_policies = false;
            o.rekeyed = true;
        }
        let spi_in = c.spi_in;
        sa.children.push(c);
        self.event(ev);
        if rekey > 0 {
            let at = self.now + rekey;
            self.arm(h, TimerKind::RekeyChild(spi_in), at);
        }
    }

    /// Removes a Child SA here (its SAs; its policies when it owns them and no other Child SA of
    /// the same reqid is left to take them over, as after a rekey collision).
    fn remove_child(&mut self, h: u64, spi_in: u32, reason: &str) {
        let Some(sa) = self.sas.get_mut(&h) else { return };
        let Some(i) = sa.children.iter().position(|c| c.spi_in == spi_in) else { return };
        let mut c = sa.children.remove(i);
        if c.owns_policies {
            let heir =
                sa.children.iter_mut().filter(|x| x.reqid == c.reqid).max_by_key(|x| (!x.rekeyed, x.installed_ms));
            if let Some(heir) = heir {
                heir.owns_policies = true;
                c.owns_policies = false;
            }
        }
        let (l, r) = (sa.local, sa.remote);
        let conn = self.conns[sa.conn].name.clone();
        for op in c.remove_ops(l, r, true) {
            self.emit(Output::Kernel(op));
        }
        self.event(Event::ChildDown { conn, spi_in, reason: reason.to_string() });
    }

    // ---------------------------------------------------------------- tasks

    /// Starts `task` on `h`; `false` when it turned out moot (nothing was sent).
    pub(super) fn start_task(&mut self, h: u64, task: Task) -> bool {
        match task {
            Task::Dpd => self.send_request(h, ExchangeType::Informational, &[], PendingKind::Dpd),
            Task::DeleteIke => {
                let d = Payload::Delete { protocol: ProtocolId::Ike, spis: Vec::new() };
                self.send_request(h, ExchangeType::Informational, &[d], PendingKind::DeleteIke)
            }
            Task::DeleteChild(spi) => {
                if !self.sas[&h].children.iter().any(|c| c.spi_in == spi) {
                    return false;
                }
                let d = Payload::Delete { protocol: ProtocolId::Esp, spis: vec![spi.to_be_bytes().to_vec()] };
                self.send_request(h, ExchangeType::Informational, &[d], PendingKind::DeleteChild(spi))
            }
            Task::RekeyChild(old) => {
                let Some(c) = self.sas[&h].children.iter().find(|c| c.spi_in == old && !c.rekeyed).cloned() else {
                    return false;
                };
                let spi_in = self.fresh_spi();
                let ni = self.random_bytes(NONCE_LEN);
                let dh = match c.proposal.dh.map(|g| g.generate(&mut *self.rng)) {
                    None => None,
                    Some(Ok(d)) => Some(d),
                    Some(Err(e)) => {
                        tracing::error!(%e, "DH key generation failed");
                        return false;
                    }
                };
                let conn = &self.conns[self.sas[&h].conn];
                let mut inner = vec![
                    Payload::Notify(Notify {
                        protocol: ProtocolId::Esp,
                        spi: old.to_be_bytes().to_vec(),
                        kind: NotifyType::RekeySa,
                        data: Vec::new(),
                    }),
                    Payload::Sa(esp_proposals(&conn.esp, spi_in, dh.is_some())),
                    Payload::Nonce(ni.clone()),
                ];
                if let Some(d) = &dh {
                    inner.push(Payload::Ke { group: d.group().id(), data: d.public() });
                }
                inner.push(Payload::TsI(c.ts_local.clone()));
                inner.push(Payload::TsR(c.ts_remote.clone()));
                self.send_request(
                    h,
                    ExchangeType::CreateChildSa,
                    &inner,
                    PendingKind::RekeyChild { old_spi: old, spi_in, ni, dh },
                )
            }
            Task::RekeyIke => {
                let new_spi = self.random_u64();
                let ni = self.random_bytes(NONCE_LEN);
                let conn = &self.conns[self.sas[&h].conn];
                let group = conn.ike[0].dh;
                let Ok(dh) = group.generate(&mut *self.rng) else { return false };
                let conn = &self.conns[self.sas[&h].conn];
                let inner = vec![
                    Payload::Sa(ike_proposals(&conn.ike, &new_spi.to_be_bytes())),
                    Payload::Nonce(ni.clone()),
                    Payload::Ke { group: dh.group().id(), data: dh.public() },
                ];
                self.send_request(h, ExchangeType::CreateChildSa, &inner, PendingKind::RekeyIke { new_spi, ni, dh })
            }
        }
    }

    // ---------------------------------------------------------------- receiving

    pub(super) fn datagram(&mut self, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        let msg = match Message::decode(data) {
            Ok(m) => m,
            Err(e) => return self.drop_datagram(format!("from {remote}: undecodable: {e}")),
        };
        let hd = &msg.header;
        let response = hd.flags.is_response();
        if hd.exchange == ExchangeType::IkeSaInit && !response {
            if hd.spi_r != 0 || hd.message_id != 0 {
                return self.drop_datagram(format!("from {remote}: IKE_SA_INIT request with SPIr or message ID set"));
            }
            return self.responder_init(local, remote, data, &msg);
        }
        let found = self.sas.iter().find_map(|(h, sa)| {
            let same = sa.spi_i == hd.spi_i
                && (sa.spi_r == hd.spi_r
                    || (hd.exchange == ExchangeType::IkeSaInit
                        && response
                        && sa.state == State::InitSent
                        && sa.initiator));
            same.then_some(*h)
        });
        let Some(h) = found else {
            return self.drop_datagram(format!(
                "from {remote}: no IKE SA {:016x}/{:016x} ({:?})",
                hd.spi_i, hd.spi_r, hd.exchange
            ));
        };
        let sa = &self.sas[&h];
        // The I flag says who sent it: never ourselves.
        if hd.flags.is_initiator() == sa.initiator {
            return self.drop_datagram(format!("from {remote}: a message with our own role's I flag"));
        }
        if response {
            self.response(h, local, remote, data, msg);
        } else {
            self.request(h, local, remote, data, msg);
        }
    }

    /// Decrypts a message's SK payload; the inner payloads, or why not.
    fn open(&self, h: u64, data: &[u8], msg: &Message) -> Result<Vec<Payload>, String> {
        let sa = &self.sas[&h];
        let rx = sa.rx.as_ref().ok_or("no keys yet")?;
        let Some(Payload::Sk { first_inner, body }) = msg.payloads.last() else {
            return Err("no SK payload".into());
        };
        if msg.payloads.len() != 1 {
            return Err("unprotected payloads next to SK".into());
        }
        let aad = &data[..data.len() - body.len()];
        let plain = rx.open(aad, body).map_err(|e| format!("SK payload: {e}"))?;
        decode_payloads(*first_inner, &plain).map_err(|e| format!("inner payloads: {e}"))
    }

    fn response(&mut self, h: u64, local: SocketAddr, remote: SocketAddr, data: &[u8], msg: Message) {
        let sa = &self.sas[&h];
        let Some(p) = &sa.pending else {
            return self.drop_datagram(format!(
                "from {remote}: response {} with no request outstanding",
                msg.header.message_id
            ));
        };
        if p.msg_id != msg.header.message_id {
            return self.drop_datagram(format!(
                "from {remote}: response {} while {} is outstanding",
                msg.header.message_id, p.msg_id
            ));
        }
        if msg.header.exchange == ExchangeType::IkeSaInit {
            if !matches!(p.kind, PendingKind::Init) {
                return self.drop_datagram("an IKE_SA_INIT response out of place".into());
            }
            return self.init_response(h, local, remote, &msg);
        }
        let inner = match self.open(h, data, &msg) {
            Ok(i) => i,
            Err(e) => return self.drop_datagram(format!("from {remote}: {e}")),
        };
        let now = self.now;
        let sa = self.sas.get_mut(&h).expect("exists");
        sa.last_heard = now;
        let pending = sa.pending.take().expect("checked");
        match pending.kind {
            PendingKind::Init => {}
            PendingKind::Auth { spi_in, reqid } => self.auth_response(h, spi_in, reqid, &inner),
            PendingKind::Dpd => {}
            PendingKind::DeleteIke => return self.destroy(h, "deleted"),
            PendingKind::DeleteChild(spi) => self.remove_child(h, spi, "deleted"),
            PendingKind::RekeyChild { old_spi, spi_in, ni, dh } => {
                self.rekey_child_response(h, old_spi, spi_in, &ni, dh, &inner)
            }
            PendingKind::RekeyIke { new_spi, ni, dh } => return self.rekey_ike_response(h, new_spi, &ni, &dh, &inner),
        }
        self.kick(h);
    }

    fn request(&mut self, h: u64, local: SocketAddr, remote: SocketAddr, data: &[u8], msg: Message) {
        let id = msg.header.message_id;
        let sa = &self.sas[&h];
        if let Some((last_id, last_req, last_resp)) = &sa.last_response
            && *last_id == id
        {
            if last_req.as_slice() == data {
                let (l, r, d) = (sa.local, sa.remote, last_resp.clone());
                self.stats.responses_resent += 1;
                return self.emit(Output::Send { local: l, remote: r, data: d });
            }
            return self.drop_datagram(format!("from {remote}: request {id} again, but different"));
        }
        if id != sa.peer_msg_id {
            return self
                .drop_datagram(format!("from {remote}: request {id} outside the window (want {})", sa.peer_msg_id));
        }
        let expected = match sa.state {
            State::InitDone => msg.header.exchange == ExchangeType::IkeAuth,
            State::Established | State::Rekeyed => {
                matches!(msg.header.exchange, ExchangeType::CreateChildSa | ExchangeType::Informational)
            }
            State::InitSent | State::AuthSent => false,
        };
        if !expected {
            return self
                .drop_datagram(format!("from {remote}: {:?} request in state {:?}", msg.header.exchange, sa.state));
        }
        let inner = match self.open(h, data, &msg) {
            Ok(i) => i,
            Err(e) => return self.drop_datagram(format!("from {remote}: {e}")),
        };
        let now = self.now;
        let sa = self.sas.get_mut(&h).expect("exists");
        sa.peer_msg_id = id.wrapping_add(1);
        sa.last_heard = now;
        if sa.state == State::InitDone && sa.nat() {
            // The initiator floated to the NAT-T port: its authenticated request says where.
            sa.local = local;
            sa.remote = remote;
        }
        match msg.header.exchange {
            ExchangeType::IkeAuth => self.auth_request(h, id, data, &inner),
            ExchangeType::CreateChildSa => self.create_child_request(h, id, data, &inner),
            _ => self.informational_request(h, id, data, &inner),
        }
        self.kick(h);
    }

    // ---------------------------------------------------------------- CREATE_CHILD_SA

    fn create_child_request(&mut self, h: u64, msg_id: u32, request: &[u8], p: &[Payload]) {
        let reply = |e: &mut Engine, n: NotifyType, data: Vec<u8>| {
            e.send_response(h, ExchangeType::CreateChildSa, msg_id, request, &[notify(n, data)]);
        };
        if self.sas[&h].state != State::Established {
            return reply(self, NotifyType::TemporaryFailure, Vec::new());
        }
        let (Some(props), Some(ni)) = (sa_payload(p), nonce_payload(p)) else {
            return reply(self, NotifyType::InvalidSyntax, Vec::new());
        };
        let ni = ni.to_vec();
        if props.iter().any(|x| x.protocol == ProtocolId::Ike) {
            return self.rekey_ike_request(h, msg_id, request, props, &ni, p);
        }
        let Some(rekey) = find_notify(p, NotifyType::RekeySa) else {
            return reply(self, NotifyType::NoAdditionalSas, Vec::new());
        };
        let Some(old_out) = <[u8; 4]>::try_from(rekey.spi.as_slice()).ok().map(u32::from_be_bytes) else {
            return reply(self, NotifyType::InvalidSyntax, Vec::new());
        };
        let sa = &self.sas[&h];
        let Some(old) = sa.children.iter().find(|c| c.spi_out == old_out && !c.rekeyed).cloned() else {
            return reply(self, NotifyType::ChildSaNotFound, Vec::new());
        };
        let conn = &self.conns[sa.conn];
        let ke = ke_payload(p);
        let Some((num, prop, spi_out)) = select_esp(&conn.esp, props, Some(ke.is_some())) else {
            return reply(self, NotifyType::NoProposalChosen, Vec::new());
        };
        let mut shared = None;
        let mut our_ke = None;
        if let (Some((group, data)), Some(g)) = (ke, prop.dh) {
            if group != g.id() {
                return reply(self, NotifyType::InvalidKePayload, g.id().to_be_bytes().to_vec());
            }
            let Ok(dh) = g.generate(&mut *self.rng) else {
                return reply(self, NotifyType::TemporaryFailure, Vec::new());
            };
            match dh.shared(data) {
                Ok(s) => shared = Some(s),
                Err(_) => return reply(self, NotifyType::InvalidSyntax, Vec::new()),
            }
            our_ke = Some(Payload::Ke { group: g.id(), data: dh.public() });
        }
        let nr = self.random_bytes(NONCE_LEN);
        let spi_in = self.fresh_spi();
        let sa = self.sas.get_mut(&h).expect("exists");
        if matches!(&sa.pending, Some(Pending { kind: PendingKind::RekeyChild { old_spi, .. }, .. }) if *old_spi == old.spi_in)
        {
            // A collision: both ends rekey this Child SA. Which of the two new ones stays is
            // decided when our own exchange completes (`rekey_child_response`).
            tracing::info!(old = format_args!("{:08x}", old.spi_in), "simultaneous Child SA rekey");
            sa.rekey_collisions.push((old.spi_in, spi_in, ni.clone().min(nr.clone())));
        }
        let (c, keys) =
            self.child_with_nonces(h, spi_in, spi_out, &old, prop, shared.as_deref().map(|s| &s[..]), &ni, &nr);
        let mut inner = vec![Payload::Sa(vec![esp_proposal(&prop, num, spi_in, our_ke.is_some())]), Payload::Nonce(nr)];
        inner.extend(our_ke);
        inner.push(Payload::TsI(old.ts_remote.clone()));
        inner.push(Payload::TsR(old.ts_local.clone()));
        self.send_response(h, ExchangeType::CreateChildSa, msg_id, request, &inner);
        self.install_child(h, c, &keys, false, Some(old.spi_in));
    }

    /// A rekeyed Child SA's record and keys from this exchange's nonces (`ni` the exchange
    /// initiator's).
    #[allow(clippy::too_many_arguments)]
    fn child_with_nonces(
        &mut self,
        h: u64,
        spi_in: u32,
        spi_out: u32,
        old: &ChildSa,
        proposal: EspProposal,
        dh: Option<&[u8]>,
        ni: &[u8],
        nr: &[u8],
    ) -> (ChildSa, crypto::ChildKeys) {
        let sa = &self.sas[&h];
        let keys = child::child_keys(sa.prf(), &sa.keys().sk_d, dh, ni, nr, &proposal)
            .expect("prf+ covers every key length we negotiate");
        let c = ChildSa {
            spi_in,
            spi_out,
            reqid: old.reqid,
            proposal,
            ts_local: old.ts_local.clone(),
            ts_remote: old.ts_remote.clone(),
            owns_policies: false,
            installed_ms: self.now,
            rekeyed: false,
            udp_encap: old.udp_encap,
        };
        (c, keys)
    }

    fn rekey_child_response(
        &mut self,
        h: u64,
        old_spi: u32,
        spi_in: u32,
        ni: &[u8],
        dh: Option<DhPrivate>,
        p: &[Payload],
    ) {
        // A collision with the peer's rekey of the same Child SA is settled here; when ours
        // fails, the peer's new Child SA is the one left and the peer deletes the old one.
        let sa = self.sas.get_mut(&h).expect("exists");
        let collision = sa.rekey_collisions.iter().position(|x| x.0 == old_spi).map(|i| sa.rekey_collisions.remove(i));
        let sa = &self.sas[&h];
        let conn = &self.conns[sa.conn];
        let Some(old) = sa.children.iter().find(|c| c.spi_in == old_spi).cloned() else { return };
        if let Some(e) = first_error(p) {
            tracing::warn!(conn = conn.name, error = e.name(), "Child SA rekey refused");
            return;
        }
        let (Some(props), Some(nr)) = (sa_payload(p), nonce_payload(p)) else {
            tracing::warn!(conn = conn.name, "Child SA rekey answer without SA or Nonce");
            return;
        };
        let Some((prop, spi_out)) = accepted_esp(&conn.esp, props, Some(dh.is_some())) else {
            tracing::warn!(conn = conn.name, "Child SA rekey: the answer is not what we proposed");
            return;
        };
        let shared = match (&dh, ke_payload(p)) {
            (None, None) => None,
            (Some(d), Some((g, data))) if g == d.group().id() => match d.shared(data) {
                Ok(s) => Some(s),
                Err(e) => return tracing::warn!(%e, "Child SA rekey: bad KE"),
            },
            _ => return tracing::warn!(conn = conn.name, "Child SA rekey: KE missing or of another group"),
        };
        let nr = nr.to_vec();
        let ours_lowest = ni.to_vec().min(nr.clone());
        let (c, keys) =
            self.child_with_nonces(h, spi_in, spi_out, &old, prop, shared.as_deref().map(|s| &s[..]), ni, &nr);
        self.install_child(h, c, &keys, true, Some(old_spi));
        let sa = self.sas.get_mut(&h).expect("exists");
        match collision {
            // §2.8.1: of the two new Child SAs, the one whose exchange used the lowest of the
            // four nonces is redundant, and the end that initiated that exchange deletes it;
            // the other end, whose rekey survives, deletes the old Child SA.
            Some((_, theirs, theirs_lowest)) if ours_lowest < theirs_lowest => {
                tracing::info!(
                    redundant = format_args!("{spi_in:08x}"),
                    kept = format_args!("{theirs:08x}"),
                    "rekey collision: ours has the lowest nonce, deleting the Child SA it created"
                );
                if let Some(c) = sa.children.iter_mut().find(|c| c.spi_in == spi_in) {
                    c.rekeyed = true;
                }
                self.queued.entry(h).or_default().push_front(Task::DeleteChild(spi_in));
            }
            Some((_, theirs, _)) => {
                tracing::info!(
                    kept = format_args!("{spi_in:08x}"),
                    redundant = format_args!("{theirs:08x}"),
                    "rekey collision: the peer's has the lowest nonce, the peer deletes the Child SA it created"
                );
                if let Some(c) = sa.children.iter_mut().find(|c| c.spi_in == theirs) {
                    c.rekeyed = true;
                }
                self.queued.entry(h).or_default().push_front(Task::DeleteChild(old_spi));
            }
            // The initiator of a rekey deletes the old Child SA (§2.8).
            None => self.queued.entry(h).or_default().push_front(Task::DeleteChild(old_spi)),
        }
    }

    fn rekey_ike_request(&mut self, h: u64, msg_id: u32, request: &[u8], props: &[Proposal], ni: &[u8], p: &[Payload]) {
        let reply = |e: &mut Engine, n: NotifyType, data: Vec<u8>| {
            e.send_response(h, ExchangeType::CreateChildSa, msg_id, request, &[notify(n, data)]);
        };
        let sa = &self.sas[&h];
        let conn = &self.conns[sa.conn];
        let Some((num, chosen, their_spi)) = select_ike(&conn.ike, props) else {
            return reply(self, NotifyType::NoProposalChosen, Vec::new());
        };
        let Some(new_spi_i) =
            <[u8; 8]>::try_from(their_spi.as_slice()).ok().map(u64::from_be_bytes).filter(|s| *s != 0)
        else {
            return reply(self, NotifyType::InvalidSyntax, Vec::new());
        };
        let Some((group, ke)) = ke_payload(p) else { return reply(self, NotifyType::InvalidSyntax, Vec::new()) };
        if group != chosen.dh.id() {
            return reply(self, NotifyType::InvalidKePayload, chosen.dh.id().to_be_bytes().to_vec());
        }
        let Ok(dh) = chosen.dh.generate(&mut *self.rng) else {
            return reply(self, NotifyType::TemporaryFailure, Vec::new());
        };
        let Ok(shared) = dh.shared(ke) else { return reply(self, NotifyType::InvalidSyntax, Vec::new()) };
        let new_spi_r = self.random_u64();
        let nr = self.random_bytes(NONCE_LEN);
        let sa = &self.sas[&h];
        let seed = skeyseed_rekey(sa.prf(), &sa.keys().sk_d, &shared, ni, &nr);
        let Ok(keys) = derive_ike_keys(chosen.prf, &seed, ni, &nr, new_spi_i, new_spi_r, chosen.encr, chosen.integ)
        else {
            return reply(self, NotifyType::TemporaryFailure, Vec::new());
        };
        let inner = vec![
            Payload::Sa(vec![ike_proposal(&chosen, num, &new_spi_r.to_be_bytes())]),
            Payload::Nonce(nr.clone()),
            Payload::Ke { group: chosen.dh.id(), data: dh.public() },
        ];
        self.send_response(h, ExchangeType::CreateChildSa, msg_id, request, &inner);
        let colliding = matches!(self.sas[&h].pending, Some(Pending { kind: PendingKind::RekeyIke { .. }, .. }));
        let lowest = ni.to_vec().min(nr.clone());
        // The rekey's initiator is the new IKE SA's original initiator (§2.18): we respond.
        let nh = self.rekeyed_to(h, false, new_spi_i, new_spi_r, &chosen, keys, ni.to_vec(), nr);
        if let (true, Some(nh)) = (colliding, nh) {
            // Both ends rekey this IKE SA: settled when our own exchange completes.
            tracing::info!(conn = self.conns[self.sas[&h].conn].name, "simultaneous IKE SA rekey");
            self.sas.get_mut(&h).expect("exists").ike_rekey_collision = Some((nh, lowest));
        }
    }

    fn rekey_ike_response(&mut self, h: u64, new_spi: u64, ni: &[u8], dh: &DhPrivate, p: &[Payload]) {
        // A collision with the peer's rekey of this IKE SA is settled here; when ours fails,
        // the IKE SA of the peer's exchange is the one left and the peer deletes this one.
        let collision = self.sas.get_mut(&h).and_then(|sa| sa.ike_rekey_collision.take());
        let sa = &self.sas[&h];
        let conn = &self.conns[sa.conn];
        if let Some(e) = first_error(p) {
            tracing::warn!(conn = conn.name, error = e.name(), "IKE SA rekey refused");
            return self.kick(h);
        }
        let (Some(props), Some(nr), Some((group, ke))) = (sa_payload(p), nonce_payload(p), ke_payload(p)) else {
            tracing::warn!(conn = conn.name, "IKE SA rekey answer without SA, Nonce or KE");
            return self.kick(h);
        };
        let Some((chosen, spi)) = accepted_ike(&conn.ike, props) else {
            tracing::warn!(conn = conn.name, "IKE SA rekey: the answer is not what we proposed");
            return self.kick(h);
        };
        let Some(new_spi_r) = <[u8; 8]>::try_from(spi.as_slice()).ok().map(u64::from_be_bytes).filter(|s| *s != 0)
        else {
            return self.kick(h);
        };
        if group != chosen.dh.id() || dh.group() != chosen.dh {
            return self.kick(h);
        }
        let Ok(shared) = dh.shared(ke) else { return self.kick(h) };
        let seed = skeyseed_rekey(sa.prf(), &sa.keys().sk_d, &shared, ni, nr);
        let Ok(keys) = derive_ike_keys(chosen.prf, &seed, ni, nr, new_spi, new_spi_r, chosen.encr, chosen.integ) else {
            return self.kick(h);
        };
        let nr = nr.to_vec();
        let ours_lowest = ni.to_vec().min(nr.clone());
        let nh = self.rekeyed_to(h, true, new_spi, new_spi_r, &chosen, keys, ni.to_vec(), nr);
        match (collision, nh) {
            // §2.8.2: of the two new IKE SAs, the one whose exchange used the lowest of the four
            // nonces is redundant and the end that initiated that exchange deletes it; the end
            // whose rekey survives deletes the old IKE SA.
            (Some((theirs, theirs_lowest)), Some(nh)) if ours_lowest < theirs_lowest => {
                tracing::info!(
                    kept = format_args!("{theirs}"),
                    "IKE SA rekey collision: ours has the lowest nonce, deleting the IKE SA it created"
                );
                // The Child SAs stay with the IKE SA of the peer's exchange.
                self.queued.entry(nh).or_default().push_front(Task::DeleteIke);
                self.kick(nh);
            }
            (Some((theirs, _)), Some(nh)) => {
                tracing::info!(
                    "IKE SA rekey collision: the peer's has the lowest nonce, the peer deletes the IKE SA it created"
                );
                // The Child SAs (and work queued for them) move on from the peer's redundant
                // IKE SA, which waits for the peer's Delete.
                let now = self.now;
                if let Some(t) = self.sas.get_mut(&theirs) {
                    let children = std::mem::take(&mut t.children);
                    t.state = State::Rekeyed;
                    self.sas.get_mut(&nh).expect("just created").children.extend(children);
                    if let Some(q) = self.queued.remove(&theirs) {
                        self.queued
                            .entry(nh)
                            .or_default()
                            .extend(q.into_iter().filter(|t| !matches!(t, Task::DeleteIke)));
                    }
                    self.arm(theirs, TimerKind::Linger, now + REKEYED_LINGER_MS);
                }
                self.queued.entry(h).or_default().push_front(Task::DeleteIke);
                self.kick(nh);
            }
            // The initiator of the rekey deletes the old IKE SA (§2.18).
            _ => self.queued.entry(h).or_default().push_front(Task::DeleteIke),
        }
        self.kick(h);
    }

    /// Creates the IKE SA that replaces `h` and moves `h`'s Child SAs to it; returns its handle.
    #[allow(clippy::too_many_arguments)]
    fn rekeyed_to(
        &mut self,
        h: u64,
        initiator: bool,
        spi_i: u64,
        spi_r: u64,
        p: &IkeProposal,
        keys: IkeKeys,
        ni: Vec<u8>,
        nr: Vec<u8>,
    ) -> Option<u64> {
        let now = self.now;
        let old = self.sas.get_mut(&h).expect("exists");
        let mut new = IkeSa::new(old.conn, initiator, old.local, old.remote, now);
        new.spi_i = spi_i;
        new.spi_r = spi_r;
        new.nat_local = old.nat_local;
        new.nat_remote = old.nat_remote;
        new.ni = ni;
        new.nr = nr;
        new.children = std::mem::take(&mut old.children);
        old.state = State::Rekeyed;
        let old_spis = (old.spi_i, old.spi_r);
        if let Err(e) = new.install_ciphers(p, keys) {
            tracing::error!(%e, "SK cipher of the new IKE SA");
            return None;
        }
        let conn = self.conns[new.conn].name.clone();
        let nh = self.next_handle;
        self.next_handle += 1;
        self.sas.insert(nh, new);
        self.event(Event::IkeRekeyed { conn, old: old_spis, new: (spi_i, spi_r) });
        self.established(nh);
        // Work queued on the old SA moves with its Child SAs.
        if let Some(q) = self.queued.remove(&h) {
            let (keep, moved): (Vec<Task>, Vec<Task>) = q.into_iter().partition(|t| matches!(t, Task::DeleteIke));
            self.queued.insert(h, keep.into());
            self.queued.entry(nh).or_default().extend(moved);
        }
        self.arm(h, TimerKind::Linger, now + REKEYED_LINGER_MS);
        self.kick(nh);
        Some(nh)
    }

    // ---------------------------------------------------------------- INFORMATIONAL

    fn informational_request(&mut self, h: u64, msg_id: u32, request: &[u8], p: &[Payload]) {
        let mut answer = Vec::new();
        let mut delete_ike = false;
        let mut gone = Vec::new();
        for x in p {
            match x {
                Payload::Delete { protocol: ProtocolId::Ike, .. } => delete_ike = true,
                Payload::Delete { protocol: ProtocolId::Esp, spis } => {
                    let mut ours = Vec::new();
                    for s in spis {
                        let Some(out) = <[u8; 4]>::try_from(s.as_slice()).ok().map(u32::from_be_bytes) else {
                            continue;
                        };
                        if let Some(c) = self.sas[&h].children.iter().find(|c| c.spi_out == out) {
                            ours.push(c.spi_in.to_be_bytes().to_vec());
                            gone.push(c.spi_in);
                        }
                    }
                    if !ours.is_empty() {
                        answer.push(Payload::Delete { protocol: ProtocolId::Esp, spis: ours });
                    }
                }
                _ => {}
            }
        }
        self.send_response(h, ExchangeType::Informational, msg_id, request, &answer);
        for spi in gone {
            self.remove_child(h, spi, "deleted by the peer");
        }
        if delete_ike {
            // The peer deletes the IKE SA its exchange created in a rekey collision before our
            // own exchange completed: its Child SAs go back to the old IKE SA, whose rekey (ours)
            // now completes as an ordinary one.
            let old = self
                .sas
                .iter()
                .find(|(_, s)| s.ike_rekey_collision.as_ref().is_some_and(|c| c.0 == h))
                .map(|(k, _)| *k);
            if let Some(old) = old {
                let children = self.sas.get_mut(&h).map(|s| std::mem::take(&mut s.children)).unwrap_or_default();
                let o = self.sas.get_mut(&old).expect("found above");
                o.ike_rekey_collision = None;
                o.children.extend(children);
            }
            self.destroy(h, "deleted by the peer");
        }
    }

    // ---------------------------------------------------------------- timers

    pub(super) fn timer(&mut self, h: u64, kind: TimerKind) {
        let now = self.now;
        if let TimerKind::RekeyChild(spi) = kind {
            // The Child SA may have moved to the IKE SA that replaced this one.
            let holder = self.sas.iter().find(|(_, s)| s.children.iter().any(|c| c.spi_in == spi && !c.rekeyed));
            if let Some((&holder, _)) = holder {
                self.enqueue(holder, Task::RekeyChild(spi));
            }
            return;
        }
        let Some(sa) = self.sas.get_mut(&h) else { return };
        match kind {
            TimerKind::Retransmit { msg_id, attempt } => {
                let Some(p) = sa.pending.as_mut().filter(|p| p.msg_id == msg_id && p.attempt == attempt) else {
                    return;
                };
                if attempt + 1 > self.cfg.retransmit_tries {
                    let why = format!("no answer to request {msg_id} after {} retransmissions", attempt);
                    return self.destroy(h, &why);
                }
                p.attempt += 1;
                let packet = p.packet.clone();
                let (local, remote) = (sa.local, sa.remote);
                self.stats.retransmitted += 1;
                tracing::debug!(msg_id, attempt = attempt + 1, "retransmitting");
                self.emit(Output::Send { local, remote, data: packet });
                let wait = (self.cfg.retransmit_ms as f64 * 1.8f64.powi(attempt as i32 + 1)) as u64;
                self.arm(h, TimerKind::Retransmit { msg_id, attempt: attempt + 1 }, now + wait);
            }
            TimerKind::HalfOpen => {
                if sa.state == State::InitDone {
                    self.destroy(h, "no IKE_AUTH in time");
                }
            }
            TimerKind::RekeyChild(_) => {}
            TimerKind::RekeyIke => {
                if sa.is_established() {
                    self.enqueue(h, Task::RekeyIke);
                }
            }
            TimerKind::Dpd => {
                if !sa.is_established() {
                    return;
                }
                let dpd = self.conns[sa.conn].dpd_s * 1000;
                let idle = now.saturating_sub(sa.last_heard);
                if idle >= dpd && sa.pending.is_none() {
                    self.enqueue(h, Task::Dpd);
                    self.arm(h, TimerKind::Dpd, now + dpd);
                } else {
                    let at = sa.last_heard + dpd;
                    self.arm(h, TimerKind::Dpd, at.max(now + 1));
                }
            }
            TimerKind::Linger => {
                if sa.state == State::Rekeyed {
                    self.destroy(h, "replaced by a rekey");
                }
            }
        }
    }
}

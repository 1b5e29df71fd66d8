//! The [`Kernel`] trait: what a key-management daemon asks of the kernel's SAD and SPD, and its
//! backends.
//!
//! Two backends speak PF_KEY messages through a [`Channel`]:
//! - [`AfKey`]: a real `PF_KEY` socket ([`crate::socket::PfKeySocket`]);
//! - [`Model`]: an in-memory SAD/SPD ([`model::ModelKernel`]) that answers PF_KEY messages with
//!   the Linux semantics. It is the embedded default for demos and deterministic tests.
//!
//! So the typed operations, request/reply correlation and event decoding are one code path
//! ([`PfKeyKernel`]) whichever kernel answers, and the model is exercised through the same
//! bytes a real kernel sees.
//!
//! A third backend, [`XfrmKernel`], carries the same operations over XFRM netlink for kernels
//! without PF_KEY (see [`xfrm`] for where the two interfaces differ).

pub mod model;
pub mod pfkey;
pub mod tap;
pub mod xfrm;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::message::{
    Endpoints, Lifetime, Message, Migrate, MigrateBundle, NatT, ParseError, PolicySpec, SaSpec, Selector, SockAddr,
    UpdateAddresses,
};
use crate::wire::numbers::{Mode, PolicyDir, SaState, SaType, errno_name};

pub use self::pfkey::PfKeyKernel;
pub use model::{ModelKernel, ModelSocket};
pub use xfrm::XfrmKernel;

/// The `Kernel` over a real `PF_KEY` socket.
pub type AfKey = PfKeyKernel<crate::socket::PfKeySocket>;
/// The `Kernel` over the in-memory model.
pub type Model = PfKeyKernel<ModelSocket>;

/// A datagram transport that carries PF_KEY messages to a kernel and back.
pub trait Channel {
    /// The `sadb_msg_pid` this endpoint puts in its requests (its port id).
    fn pid(&self) -> u32;
    /// Sends one message (the whole datagram). A kernel that rejects the base header fails the
    /// send with its errno, as Linux's `write()` does.
    fn send(&mut self, msg: &[u8]) -> Result<(), KernelError>;
    /// Receives one message into `buf` (cleared first), waiting at most `timeout`
    /// (`None`: wait forever; `Some(ZERO)`: do not wait). `Ok(false)` on timeout.
    fn recv(&mut self, buf: &mut Vec<u8>, timeout: Option<Duration>) -> Result<bool, KernelError>;
    /// A short name for logs and reports (`afkey`, `model`).
    fn backend_name(&self) -> &'static str;
}

/// A failed kernel operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// The kernel answered with an errno (in an error reply or by failing the send).
    #[error("{op}: {} ({errno})", errno_label(*.errno))]
    Errno {
        /// The operation (`SADB_ADD`, ...).
        op: &'static str,
        /// The errno.
        errno: i32,
    },
    /// This kernel has no PF_KEY (`socket(PF_KEY)` failed with `EAFNOSUPPORT`/`EPROTONOSUPPORT`).
    #[error("this kernel has no PF_KEY socket family (CONFIG_NET_KEY is off or af_key is not loaded): {0}")]
    NoPfKey(std::io::Error),
    /// This kernel has no XFRM netlink (`socket(AF_NETLINK, NETLINK_XFRM)` failed with
    /// `EPROTONOSUPPORT`: `CONFIG_XFRM_USER` is off).
    #[error("this kernel has no XFRM netlink (CONFIG_XFRM_USER is off): {0}")]
    NoXfrm(std::io::Error),
    /// A netlink message from the kernel this crate cannot read.
    #[error("malformed XFRM netlink message from the kernel: {0}")]
    Netlink(#[from] xfrm::XfrmParseError),
    /// An I/O error on the socket.
    #[error("PF_KEY socket I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The kernel sent a message this crate cannot parse.
    #[error("malformed message from the kernel: {0}")]
    Parse(#[from] ParseError),
    /// A request that cannot be encoded.
    #[error("cannot encode the request: {0}")]
    Emit(#[from] crate::message::EmitError),
    /// No reply within the timeout.
    #[error("{op}: no reply within {timeout:?}")]
    Timeout {
        /// The operation.
        op: &'static str,
        /// How long it waited.
        timeout: Duration,
    },
    /// A reply that does not fit the request (missing extension, wrong type).
    #[error("{op}: unexpected reply: {detail}")]
    BadReply {
        /// The operation.
        op: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The running kernel offers no mechanism for the operation.
    #[error("{op}: not supported by this kernel: {detail}")]
    Unsupported {
        /// The operation.
        op: &'static str,
        /// What is missing.
        detail: String,
    },
}

fn errno_label(errno: i32) -> &'static str {
    u8::try_from(errno).ok().and_then(errno_name).unwrap_or("errno")
}

impl KernelError {
    /// The errno of an `Errno` error.
    pub fn errno(&self) -> Option<i32> {
        match self {
            KernelError::Errno { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// Identifies one SA: type, SPI and addresses (the key of `SADB_GET`/`SADB_DELETE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SaId {
    /// SA type.
    pub satype: SaType,
    /// SPI.
    pub spi: u32,
    /// Source address.
    pub src: SockAddr,
    /// Destination address.
    pub dst: SockAddr,
}

/// An SA as the kernel reports it (GET reply, DUMP entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaEntry {
    /// The SA's parameters (keys included where the kernel reports them).
    pub spec: SaSpec,
    /// `SADB_EXT_LIFETIME_CURRENT`: bytes and packets processed, add and use times.
    pub current: Option<Lifetime>,
}

/// An SPI allocation request (`SADB_GETSPI`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetSpi {
    /// SA type.
    pub satype: SaType,
    /// Source of the future SA.
    pub src: SockAddr,
    /// Destination of the future SA.
    pub dst: SockAddr,
    /// Lowest acceptable SPI.
    pub min: u32,
    /// Highest acceptable SPI.
    pub max: u32,
    /// Mode.
    pub mode: Mode,
    /// Request id.
    pub reqid: u32,
}

/// How a move was carried out, as the backend reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveMechanism {
    /// `SADB_X_MIGRATE` (policy templates and matching SAs).
    Migrate,
    /// `SADB_UPDATE` with `SADB_X_EXT_NEW_ADDRESS_SRC/DST` (one SA).
    UpdateAddresses,
    /// `XFRM_MSG_MIGRATE` (the XFRM backend's MIGRATE): the same `xfrm_migrate()` as
    /// `SADB_X_MIGRATE`, so the same atomicity: policy templates and the matched SAs change under
    /// the policy and state locks step by step (SAs are cloned to the new addresses and inserted,
    /// templates updated, then the old SAs deleted), and a failure part way removes the clones.
    XfrmMigrate,
    /// The per-SA address update as an `XFRM_MSG_MIGRATE` narrowed to one SA by its reqid and
    /// addresses, through the policy whose template names it (kernels without
    /// `XFRM_MSG_MIGRATE_STATE`, Linux 6.12 among them). Weaker than a per-SA update: that
    /// policy's template moves too (the other directions' templates do not), a policy must name
    /// the SA (else `ENOENT`), and when several SAs share the reqid and addresses (a rekey in
    /// progress) the kernel moves the first it finds, which the backend detects afterwards and
    /// reports as `BadReply`. The SA itself moves as in `XfrmMigrate`: a clone with the same SPI,
    /// keys and counters is inserted before the old one is deleted.
    XfrmMigrateNarrowed,
    /// `XFRM_MSG_MIGRATE_STATE` (ipsec-next; not in Linux 6.12): one SA looked up by SPI, deleted
    /// and re-installed at the new addresses with sequence counter and replay window copied, in
    /// one operation under `xfrm_cfg_mutex`; policies are untouched.
    XfrmMigrateState,
}

/// Whether the running kernel has one of this project's PF_KEY extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Support {
    /// Present.
    Yes,
    /// Absent.
    No,
    /// Not known (not probed, or learned only from use).
    Unknown,
}

impl Support {
    fn from_bool(b: bool) -> Self {
        if b { Support::Yes } else { Support::No }
    }

    fn unknown() -> Self {
        Support::Unknown
    }
}

/// What the running kernel supports of the mobility extensions (`spec/draft-pfkey-mobility.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// `SADB_UPDATE` with `SADB_X_EXT_NEW_ADDRESS_SRC/DST` moves one SA.
    pub update_addresses: Support,
    /// NAT-T extensions inside `SADB_X_MIGRATE` set the moved SAs' encapsulation.
    pub migrate_natt: Support,
    /// A successful `SADB_X_MIGRATE` is answered to its requester. Only a successful MIGRATE shows
    /// it, so this is `Unknown` until the first one.
    pub migrate_reply: Support,
    /// AEAD algorithms (AES-GCM ...) in `SADB_ADD`/`SADB_UPDATE`.
    pub aead: Support,
    /// Movable inbound tunnel and BEET SAs ([`crate::wire::numbers::SADB_SAFLAGS_MOVABLE`]): one SA
    /// found by its SPI at every local address of the host while a move is in progress. See
    /// [`Capabilities::inbound_continuity`].
    #[serde(default = "Support::unknown")]
    pub movable_inbound: Support,
    /// BEET mode through PF_KEY: an SA carries its inner destination
    /// (`SADB_X_EXT_INNER_ADDRESS_DST`, [`crate::message::BeetInner`]) and a BEET policy template
    /// keeps its endpoints (the series' patches 0012 and 0013, which come together). Without it a
    /// BEET SA added through PF_KEY decapsulates to the unspecified address and a BEET template
    /// has no endpoints, so no BEET tunnel works.
    #[serde(default = "Support::unknown")]
    pub beet_inner: Support,
}

/// How an inbound SA keeps receiving what its peer still sends to the old address, between this
/// host's move of the SA and the peer's move of its outbound SA (one round trip later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboundContinuity {
    /// The SA is marked movable ([`SaSpec::movable`]): the kernel finds it by SPI and protocol at
    /// any local unicast address once the lookup by destination misses. One SA, one replay
    /// window: the zero-loss guarantee holds and no packet is accepted twice.
    Movable,
    /// The kernel has no movable SAs: a second inbound SA, a copy with the same SPI and keys
    /// ([`Kernel::add_inbound_copy`]), stays at the old address for a grace period and is then
    /// deleted. Nothing is lost while it exists, but the copies have separate replay windows: a
    /// packet accepted by one can be replayed once to the other for the grace period, and the
    /// copy made after traffic began accepts once every earlier packet of the SA an on-path
    /// attacker recorded (PF_KEY cannot set a replay window). The zero-loss guarantee holds
    /// only with the caveat.
    SecondSa,
}

impl InboundContinuity {
    /// Whether the "0 lost in both directions, nothing accepted twice" guarantee holds.
    pub fn guarantee_holds(self) -> bool {
        self == InboundContinuity::Movable
    }
}

impl Capabilities {
    /// Nothing known.
    pub const UNKNOWN: Capabilities = Capabilities {
        update_addresses: Support::Unknown,
        migrate_natt: Support::Unknown,
        migrate_reply: Support::Unknown,
        aead: Support::Unknown,
        movable_inbound: Support::Unknown,
        beet_inner: Support::Unknown,
    };

    /// What keeps an inbound SA reachable at the old address during a move on this kernel: the
    /// movable flag where [`Capabilities::movable_inbound`] is `Yes`, else a second SA.
    pub fn inbound_continuity(&self) -> InboundContinuity {
        if self.movable_inbound == Support::Yes { InboundContinuity::Movable } else { InboundContinuity::SecondSa }
    }
}

/// One SA to move with [`Kernel::move_sa`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveSa {
    /// The SA, its new addresses and encapsulation (the per-SA update request).
    pub update: UpdateAddresses,
    /// The policy whose template names this SA, by selector and direction: without the per-SA
    /// update, the SA (and that template) move with a `SADB_X_MIGRATE` narrowed to this SA's
    /// protocol, mode and reqid. `None`: no fallback.
    pub policy: Option<(Selector, PolicyDir)>,
}

/// The result of a move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveOutcome {
    /// The mechanism used.
    pub mechanism: MoveMechanism,
    /// Whether the kernel answered the requester itself (`false`: success was inferred from the
    /// seq-0/pid-0 broadcast, as stock Linux sends for MIGRATE).
    pub acknowledged: bool,
}

/// An asynchronous message from the kernel, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KernelEvent {
    /// `SADB_ACQUIRE`: the kernel needs an SA for traffic matching a policy.
    Acquire {
        /// The acquire's seq (to be used by GETSPI/UPDATE/ADD).
        seq: u32,
        /// SA type.
        satype: SaType,
        /// Source the SA is for.
        src: SockAddr,
        /// Destination the SA is for.
        dst: SockAddr,
        /// The policy id that triggered it, if given.
        policy_id: Option<u32>,
    },
    /// `SADB_EXPIRE`: an SA reached a lifetime.
    Expire {
        /// The SA.
        id: SaId,
        /// Hard (the SA is gone or going) or soft.
        hard: bool,
        /// Its current counters.
        current: Option<Lifetime>,
    },
    /// `SADB_X_MIGRATE` broadcast: SAs and templates moved.
    Migrate {
        /// What moved.
        migrate: Migrate,
        /// The broadcast's seq (0 on stock Linux).
        seq: u32,
        /// The broadcast's pid (0 on stock Linux).
        pid: u32,
    },
    /// `SADB_X_NAT_T_NEW_MAPPING`: a NAT-T peer's address or port changed.
    NewMapping {
        /// The SA.
        satype: SaType,
        /// Its SPI.
        spi: u32,
        /// The old peer address and port.
        old: SockAddr,
        /// The new peer address and port.
        new: SockAddr,
    },
    /// `SADB_X_SPDEXPIRE`: a policy expired.
    SpdExpire(PolicySpec),
    /// Any other broadcast (e.g. another socket's ADD), kept whole.
    Other(Message<'static>),
}

/// The operations a key-management daemon needs from the kernel.
///
/// Every method that changes state is acknowledged: it returns when the kernel has answered (or,
/// for a stock-Linux MIGRATE, when the broadcast that reports it arrived).
pub trait Kernel {
    /// The backend's name (`afkey`, `xfrm`, `model`).
    fn backend(&self) -> &'static str;
    /// `SADB_GETSPI`: allocates an SPI for a larval SA.
    fn getspi(&mut self, req: &GetSpi) -> Result<u32, KernelError>;
    /// `SADB_ADD`.
    fn add_sa(&mut self, sa: &SaSpec) -> Result<(), KernelError>;
    /// `SADB_UPDATE` (completes a larval SA; lifetimes/NAT-T of a mature one).
    fn update_sa(&mut self, sa: &SaSpec) -> Result<(), KernelError>;
    /// `SADB_DELETE`.
    fn delete_sa(&mut self, id: &SaId) -> Result<(), KernelError>;
    /// `SADB_GET`.
    fn get_sa(&mut self, id: &SaId) -> Result<SaEntry, KernelError>;
    /// `SADB_DUMP` of one SA type (`Unspec`: all).
    fn dump_sas(&mut self, satype: SaType) -> Result<Vec<SaEntry>, KernelError>;
    /// `SADB_FLUSH` of one SA type (`Unspec`: all).
    fn flush_sas(&mut self, satype: SaType) -> Result<(), KernelError>;
    /// `SADB_X_SPDADD`; returns the policy id the kernel assigned.
    fn add_policy(&mut self, p: &PolicySpec) -> Result<u32, KernelError>;
    /// `SADB_X_SPDUPDATE`; returns the policy id.
    fn update_policy(&mut self, p: &PolicySpec) -> Result<u32, KernelError>;
    /// `SADB_X_SPDDELETE` by selector and direction.
    fn delete_policy(&mut self, selector: &Selector, dir: PolicyDir) -> Result<(), KernelError>;
    /// `SADB_X_SPDDELETE2` by policy id.
    fn delete_policy_by_id(&mut self, id: u32, dir: PolicyDir) -> Result<(), KernelError>;
    /// `SADB_X_SPDGET` by policy id.
    fn get_policy(&mut self, id: u32, dir: PolicyDir) -> Result<PolicySpec, KernelError>;
    /// `SADB_X_SPDDUMP`.
    fn dump_policies(&mut self) -> Result<Vec<PolicySpec>, KernelError>;
    /// `SADB_X_SPDFLUSH`.
    fn flush_policies(&mut self) -> Result<(), KernelError>;
    /// `SADB_X_MIGRATE`: moves a policy's templates and the matching SAs to new endpoints.
    fn migrate(&mut self, m: &Migrate) -> Result<MoveOutcome, KernelError>;
    /// The per-SA address update (`SADB_UPDATE` + `SADB_X_EXT_NEW_ADDRESS_SRC/DST`).
    ///
    /// A stock Linux kernel skips the unknown NEW_ADDRESS extensions and treats the request as a
    /// plain UPDATE of a mature SA without keys, which it answers with `EINVAL` for ESP; a kernel
    /// that answers success without moving the SA gives [`KernelError::BadReply`].
    fn update_addresses(&mut self, u: &UpdateAddresses) -> Result<MoveOutcome, KernelError>;
    /// What the kernel supports of the mobility extensions. The default knows nothing; the
    /// PF_KEY backend probes with requests that fail without changing anything.
    fn capabilities(&mut self) -> Result<Capabilities, KernelError> {
        Ok(Capabilities::UNKNOWN)
    }
    /// Moves one SA with the best mechanism the kernel offers and says which it used: the per-SA
    /// update where [`Capabilities::update_addresses`] is `Yes` (the SA alone; its policies stay),
    /// else a `SADB_X_MIGRATE` of [`MoveSa::policy`] narrowed to this SA (the SA and that
    /// policy's template move together).
    fn move_sa(&mut self, mv: &MoveSa) -> Result<MoveOutcome, KernelError> {
        let caps = self.capabilities()?;
        if caps.update_addresses == Support::Yes {
            return self.update_addresses(&mv.update);
        }
        let u = &mv.update;
        // A kernel without NAT-T in MIGRATE would ignore the change and report success.
        if u.natt.is_some() && caps.migrate_natt != Support::Yes {
            return Err(KernelError::Unsupported {
                op: "move SA",
                detail: "a NAT-T change needs the per-SA update or NAT-T in SADB_X_MIGRATE; this kernel has neither"
                    .into(),
            });
        }
        let Some((selector, dir)) = &mv.policy else {
            return Err(KernelError::Unsupported {
                op: "move SA",
                detail: "no per-SA address update, and no policy given to migrate instead".into(),
            });
        };
        let proto = u.satype.proto().ok_or_else(|| KernelError::Unsupported {
            op: "move SA",
            detail: format!("SA type {} has no IP protocol to migrate", u.satype),
        })?;
        let old = Endpoints { src: u.src, dst: u.dst };
        let new = Endpoints { src: u.new_src.unwrap_or(u.src), dst: u.new_dst.unwrap_or(u.dst) };
        self.migrate(&Migrate {
            selector: *selector,
            dir: *dir,
            kmaddress: None,
            bundles: vec![MigrateBundle::new(proto, u.mode, u.reqid, old, new)],
            natt: u.natt,
        })
    }
    /// The fallback of [`InboundContinuity::SecondSa`]: adds a copy of the inbound SA `sa` (same
    /// SPI, keys, mode and reqid, not marked movable) at destination `at`, typically the old
    /// address after `sa` moved, and returns its id, to delete after the grace period. Its replay
    /// window starts empty and is separate from `sa`'s (see [`InboundContinuity::SecondSa`]).
    fn add_inbound_copy(&mut self, sa: &SaSpec, at: SockAddr) -> Result<SaId, KernelError> {
        let mut copy = sa.clone();
        copy.dst = at;
        copy.flags &= !crate::wire::numbers::SADB_SAFLAGS_MOVABLE;
        copy.state = SaState::Mature;
        self.add_sa(&copy)?;
        tracing::info!(spi = format!("{:#010x}", sa.spi), at = %at.ip(), "second inbound SA added (separate replay window)");
        Ok(SaId { satype: sa.satype, spi: sa.spi, src: sa.src, dst: at })
    }
    /// `SADB_REGISTER` for `satype`: receive ACQUIREs and learn the supported algorithms.
    fn register(&mut self, satype: SaType) -> Result<Message<'static>, KernelError>;
    /// `SADB_X_PROMISC`: receive every message any socket sends.
    fn promisc(&mut self, on: bool) -> Result<(), KernelError>;
    /// Waits at most `timeout` for the next asynchronous event (`None`: forever).
    fn next_event(&mut self, timeout: Option<Duration>) -> Result<Option<KernelEvent>, KernelError>;
}

/// Convenience: the NAT-T type an SA spec uses, for renderers.
pub fn natt_label(n: &Option<NatT>) -> String {
    match n {
        None => "none".into(),
        Some(n) => format!("{} {}->{}", n.nat_t_type, n.sport, n.dport),
    }
}

//! The model's records (SAD entries, SPD entries) and the snapshot that persists them.

use serde::{Deserialize, Serialize};

use crate::message::{AlgKey, BeetInner, Lifetime, NatT, Selector, SockAddr, Template};
use crate::wire::numbers::{AuthAlg, EncryptAlg, Mode, PolicyDir, PolicyType, SaState, SaType};

/// Which kernel the model imitates.
///
/// The defaults model a stock Linux `af_key` for MIGRATE (broadcast only) plus this project's
/// per-SA address update, NAT-T in MIGRATE and AEAD algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelConfig {
    /// A successful `SADB_X_MIGRATE` is also answered to the requester with its own seq and pid
    /// (a patched kernel). `false` (stock Linux): only the seq-0/pid-0 broadcast.
    pub migrate_reply: bool,
    /// `SADB_UPDATE` with `SADB_X_EXT_NEW_ADDRESS_SRC/DST` moves the SA (FreeBSD semantics).
    /// `false` (stock Linux): extensions 27/28 are ignored and the message is a plain UPDATE.
    pub update_addresses: bool,
    /// NAT-T extensions (20–22) inside `SADB_X_MIGRATE` set the moved SAs' encapsulation.
    /// `false` (stock Linux): they are ignored and the moved SAs keep their encapsulation.
    pub migrate_natt: bool,
    /// AEAD algorithms (AES-GCM, AES-CCM, AES-GMAC) are accepted in `SADB_ADD`/`SADB_UPDATE`
    /// (without an authentication algorithm; `SADB_REGISTER` still lists the ciphers only).
    /// `false` (stock Linux): `af_key` looks algorithms up in the cipher list only and answers
    /// `ENOSYS` for them.
    pub aead: bool,
    /// `SADB_SAFLAGS_MOVABLE` is kept and reported, refused (`EINVAL`) in transport mode, and
    /// [`crate::kernel::model::ModelKernel::receive`] finds a movable SA by SPI when the lookup by
    /// destination misses. `false` (stock Linux): the flag is ignored and not reported.
    pub movable_inbound: bool,
    /// BEET through PF_KEY (patches 0012, 0013): a BEET SA keeps its inner addresses
    /// (`SADB_EXT_ADDRESS_PROXY`, `SADB_X_EXT_INNER_ADDRESS_DST`; the latter `EINVAL` outside BEET
    /// mode, without the former, across families or unspecified) and reports them, and a BEET
    /// template keeps its endpoints. `false` (stock Linux): both are dropped.
    #[serde(default)]
    pub beet_inner: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            migrate_reply: false,
            update_addresses: true,
            migrate_natt: true,
            aead: true,
            movable_inbound: true,
            beet_inner: true,
        }
    }
}

impl ModelConfig {
    /// A stock Linux 6.x `af_key` (no extension of this project).
    pub fn stock_linux() -> Self {
        ModelConfig {
            migrate_reply: false,
            update_addresses: false,
            migrate_natt: false,
            aead: false,
            movable_inbound: false,
            beet_inner: false,
        }
    }

    /// A Linux kernel with this project's patches (every extension on, MIGRATE answered).
    pub fn patched() -> Self {
        ModelConfig {
            migrate_reply: true,
            update_addresses: true,
            migrate_natt: true,
            aead: true,
            movable_inbound: true,
            beet_inner: true,
        }
    }
}

/// Anti-replay state of an SA (`xfrm_replay_state`), as plain numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReplayState {
    /// Last outbound sequence number sent.
    pub oseq: u32,
    /// Highest inbound sequence number accepted.
    pub seq: u32,
    /// Inbound window bitmap: bit `n` set = `seq - n` was received.
    pub bitmap: u32,
}

/// One SA of the model's SAD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSa {
    /// SA type (`AH`, `ESP`, `IPCOMP`).
    pub satype: SaType,
    /// SPI (0 for a kernel ACQUIRE that no GETSPI has given an SPI yet).
    pub spi: u32,
    /// Outer source address (port 0).
    pub src: SockAddr,
    /// Outer destination address (port 0).
    pub dst: SockAddr,
    /// Mode (`IPSEC_MODE_ANY` is stored as transport, as Linux does).
    pub mode: Mode,
    /// Request id.
    pub reqid: u32,
    /// `LARVAL` (GETSPI/ACQUIRE), `MATURE`, or `DYING` (soft lifetime reached).
    pub state: SaState,
    /// Replay window in packets (at most 32, as `af_key` caps it).
    pub replay_window: u8,
    /// `SADB_SAFLAGS_*` that Linux keeps (NOECN, DECAP_DSCP, NOPMTUDISC).
    pub flags: u32,
    /// Authentication algorithm and key.
    pub auth: Option<AlgKey<AuthAlg>>,
    /// Encryption (or, for IPCOMP, compression) algorithm and key.
    pub encrypt: Option<AlgKey<EncryptAlg>>,
    /// Hard lifetime limits (zero fields: no limit).
    pub hard: Lifetime,
    /// Soft lifetime limits (zero fields: no limit).
    pub soft: Lifetime,
    /// Counters: packets (`allocations`), bytes, add time and first-use time.
    pub current: Lifetime,
    /// UDP encapsulation.
    pub natt: Option<NatT>,
    /// A BEET SA's inner addresses (kept only under [`ModelConfig::beet_inner`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner: Option<BeetInner>,
    /// Anti-replay state.
    pub replay: ReplayState,
    /// The ACQUIRE seq this SA answers (`km.seq`; 0 when none).
    pub acq_seq: u32,
    /// Insertion order (larger = inserted later; dumps list the newest first, like Linux).
    pub order: u64,
}

/// One policy of the model's SPD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelPolicy {
    /// Selector (addresses without sockaddr extras; proto 255 = any).
    pub selector: Selector,
    /// Direction (inbound, outbound, forward).
    pub dir: PolicyDir,
    /// Action as Linux reports it: `DISCARD`, `NONE`, or `IPSEC` (an allow with templates).
    pub policy_type: PolicyType,
    /// Priority.
    pub priority: u32,
    /// Kernel-assigned index (`xfrm_gen_index`: the direction is in the low 3 bits).
    pub id: u32,
    /// Templates (levels as Linux reports them: USE, UNIQUE when a reqid is bound, else REQUIRE).
    pub templates: Vec<Template>,
    /// Hard lifetime limits.
    pub hard: Lifetime,
    /// Soft lifetime limits.
    pub soft: Lifetime,
    /// Creation time (model clock).
    pub add_time: u64,
    /// Insertion order.
    pub order: u64,
}

/// The whole persistent state of a model kernel (sockets excluded), for saving as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSnapshot {
    /// The imitated kernel.
    pub config: ModelConfig,
    /// Model clock (seconds).
    pub clock: u64,
    /// The SAD, oldest first.
    pub sad: Vec<ModelSa>,
    /// The SPD, oldest first.
    pub spd: Vec<ModelPolicy>,
    /// Generators, so that ids and SPIs continue where they left off.
    pub counters: ModelCounters,
}

/// The model's id generators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelCounters {
    /// Next insertion order.
    pub next_order: u64,
    /// `net->xfrm.idx_generator` (policy ids).
    pub policy_index: u32,
    /// `gen_reqid`'s counter (automatic reqids start above `IPSEC_MANUAL_REQID_MAX`).
    pub reqid: u32,
    /// `get_acqseq`'s counter (ACQUIRE and NEW_MAPPING seqs).
    pub acq_seq: u32,
    /// State of the deterministic SPI generator.
    pub rng: u64,
}

impl Default for ModelCounters {
    fn default() -> Self {
        ModelCounters {
            next_order: 1,
            policy_index: 0,
            reqid: crate::wire::numbers::IPSEC_MANUAL_REQID_MAX,
            acq_seq: 0,
            rng: 0x005e_ed0f_0ca1_u64,
        }
    }
}

/// The model clock's value at creation: a fixed time so that runs are repeatable.
pub const MODEL_EPOCH: u64 = 1_700_000_000;

impl ModelSa {
    /// A larval SA as GETSPI or a kernel ACQUIRE creates it: no keys, the acquire timeout as
    /// its hard add-time limit, created at `clock`.
    #[allow(clippy::too_many_arguments, reason = "every field of a larval SA's identity")]
    pub(crate) fn larval(
        satype: SaType,
        spi: u32,
        src: SockAddr,
        dst: SockAddr,
        mode: Mode,
        reqid: u32,
        clock: u64,
        acq_seq: u32,
        order: u64,
    ) -> ModelSa {
        ModelSa {
            satype,
            spi,
            src,
            dst,
            mode,
            reqid,
            state: SaState::Larval,
            replay_window: 0,
            flags: 0,
            auth: None,
            encrypt: None,
            hard: Lifetime { addtime: super::sad::ACQ_EXPIRES, ..Lifetime::default() },
            soft: Lifetime::default(),
            current: Lifetime { addtime: clock, ..Lifetime::default() },
            natt: None,
            inner: None,
            replay: ReplayState::default(),
            acq_seq,
            order,
        }
    }

    /// The `sadb_sa_state` Linux reports: `MATURE`, `LARVAL`, or `DEAD` for a dying SA
    /// (`__pfkey_xfrm_state2msg` renders `km.dying` as DEAD).
    pub fn reported_state(&self) -> SaState {
        match self.state {
            SaState::Mature => SaState::Mature,
            SaState::Larval => SaState::Larval,
            _ => SaState::Dead,
        }
    }
}

//! XFRM netlink on the wire: `zerocopy` layouts of the `include/uapi/linux/xfrm.h` structures
//! this backend sends and reads, the netlink framing around them, and a reader that never panics.
//!
//! Layouts are `#[repr(C)]` with every padding byte spelled out, so that their sizes and offsets
//! are the kernel's on every 64-bit and 32-bit Linux ABI (the structures are laid out to natural
//! alignment by the kernel headers). Host-order fields are native integers; the fields the
//! header marks `__be16`/`__be32` (SPIs, ports) are `network_endian` types.
//!
//! Reading: [`NlMessages`] splits a datagram into netlink messages, [`Attrs`] walks the
//! attributes after a fixed header; both check every length before touching a byte and
//! report what was short as an [`XfrmParseError`].

use zerocopy::network_endian::{U16 as Be16, U32 as Be32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `NETLINK_XFRM`.
pub const NETLINK_XFRM: isize = 6;

/// `NLM_F_REQUEST`.
pub const NLM_F_REQUEST: u16 = 0x1;
/// `NLM_F_MULTI`.
pub const NLM_F_MULTI: u16 = 0x2;
/// `NLM_F_ACK`.
pub const NLM_F_ACK: u16 = 0x4;
/// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`).
pub const NLM_F_DUMP: u16 = 0x300;
/// `NLM_F_ACK_TLVS` (in an ack: extended-ack attributes follow).
pub const NLM_F_ACK_TLVS: u16 = 0x200;
/// `NLM_F_CAPPED` (in an ack: the request's payload was left out).
pub const NLM_F_CAPPED: u16 = 0x100;

/// `NLMSG_NOOP`.
pub const NLMSG_NOOP: u16 = 1;
/// `NLMSG_ERROR` (an error, or with error 0 an acknowledgement).
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE` (end of a dump).
pub const NLMSG_DONE: u16 = 3;
/// `NLMSGERR_ATTR_MSG`: the extended ack's message string.
pub const NLMSGERR_ATTR_MSG: u16 = 1;

/// The XFRM message types (`XFRM_MSG_*`).
#[allow(missing_docs)]
pub mod msg {
    pub const NEWSA: u16 = 0x10;
    pub const DELSA: u16 = 0x11;
    pub const GETSA: u16 = 0x12;
    pub const NEWPOLICY: u16 = 0x13;
    pub const DELPOLICY: u16 = 0x14;
    pub const GETPOLICY: u16 = 0x15;
    pub const ALLOCSPI: u16 = 0x16;
    pub const ACQUIRE: u16 = 0x17;
    pub const EXPIRE: u16 = 0x18;
    pub const UPDPOLICY: u16 = 0x19;
    pub const UPDSA: u16 = 0x1a;
    pub const POLEXPIRE: u16 = 0x1b;
    pub const FLUSHSA: u16 = 0x1c;
    pub const FLUSHPOLICY: u16 = 0x1d;
    pub const NEWAE: u16 = 0x1e;
    pub const GETAE: u16 = 0x1f;
    pub const REPORT: u16 = 0x20;
    pub const MIGRATE: u16 = 0x21;
    pub const MAPPING: u16 = 0x26;
    pub const GETDEFAULT: u16 = 0x28;
    /// `XFRM_MSG_MIGRATE_STATE` (ipsec-next, after Linux 6.12: the next number after
    /// `XFRM_MSG_GETDEFAULT`), probed for and used for the per-SA move where present; see
    /// [`super::XfrmUserMigrateState`].
    pub const MIGRATE_STATE: u16 = 0x29;

    /// The C name of a message type.
    pub fn name(t: u16) -> &'static str {
        match t {
            NEWSA => "XFRM_MSG_NEWSA",
            DELSA => "XFRM_MSG_DELSA",
            GETSA => "XFRM_MSG_GETSA",
            NEWPOLICY => "XFRM_MSG_NEWPOLICY",
            DELPOLICY => "XFRM_MSG_DELPOLICY",
            GETPOLICY => "XFRM_MSG_GETPOLICY",
            ALLOCSPI => "XFRM_MSG_ALLOCSPI",
            ACQUIRE => "XFRM_MSG_ACQUIRE",
            EXPIRE => "XFRM_MSG_EXPIRE",
            UPDPOLICY => "XFRM_MSG_UPDPOLICY",
            UPDSA => "XFRM_MSG_UPDSA",
            POLEXPIRE => "XFRM_MSG_POLEXPIRE",
            FLUSHSA => "XFRM_MSG_FLUSHSA",
            FLUSHPOLICY => "XFRM_MSG_FLUSHPOLICY",
            NEWAE => "XFRM_MSG_NEWAE",
            GETAE => "XFRM_MSG_GETAE",
            REPORT => "XFRM_MSG_REPORT",
            MIGRATE => "XFRM_MSG_MIGRATE",
            MAPPING => "XFRM_MSG_MAPPING",
            GETDEFAULT => "XFRM_MSG_GETDEFAULT",
            MIGRATE_STATE => "XFRM_MSG_MIGRATE_STATE",
            _ => "XFRM_MSG_?",
        }
    }
}

/// The XFRM attribute types (`XFRMA_*`).
#[allow(missing_docs)]
pub mod attr {
    pub const ALG_AUTH: u16 = 1;
    pub const ALG_CRYPT: u16 = 2;
    pub const ALG_COMP: u16 = 3;
    pub const ENCAP: u16 = 4;
    pub const TMPL: u16 = 5;
    pub const SA: u16 = 6;
    pub const POLICY: u16 = 7;
    pub const LTIME_VAL: u16 = 9;
    pub const SRCADDR: u16 = 13;
    pub const POLICY_TYPE: u16 = 16;
    pub const MIGRATE: u16 = 17;
    pub const ALG_AEAD: u16 = 18;
    pub const KMADDRESS: u16 = 19;
    pub const ALG_AUTH_TRUNC: u16 = 20;
    pub const PROTO: u16 = 25;
    pub const SA_EXTRA_FLAGS: u16 = 24;
}

/// `XFRM_SA_XFLAG_MOVABLE` in `XFRMA_SA_EXTRA_FLAGS` (this project's kernel series, patch 0009):
/// the XFRM form of [`crate::wire::numbers::SADB_SAFLAGS_MOVABLE`]. 1 and 2 are
/// `DONT_ENCAP_DSCP` and `OSEQ_MAY_WRAP`; the u8 `xfrm_usersa_info.flags` has no bit left.
pub const XFRM_SA_XFLAG_MOVABLE: u32 = 4;

/// Multicast groups (`XFRMNLGRP_*`), as numbers for `NETLINK_ADD_MEMBERSHIP`.
#[allow(missing_docs)]
pub mod group {
    pub const ACQUIRE: u32 = 1;
    pub const EXPIRE: u32 = 2;
    pub const SA: u32 = 3;
    pub const POLICY: u32 = 4;
    pub const MIGRATE: u32 = 7;
    pub const MAPPING: u32 = 8;
}

/// `XFRM_POLICY_IN`/`OUT`/`FWD`.
pub const XFRM_POLICY_IN: u8 = 0;
/// `XFRM_POLICY_OUT`.
pub const XFRM_POLICY_OUT: u8 = 1;
/// `XFRM_POLICY_FWD`.
pub const XFRM_POLICY_FWD: u8 = 2;
/// `XFRM_POLICY_ALLOW`.
pub const XFRM_POLICY_ALLOW: u8 = 0;
/// `XFRM_POLICY_BLOCK`.
pub const XFRM_POLICY_BLOCK: u8 = 1;
/// `XFRM_MODE_TRANSPORT`.
pub const XFRM_MODE_TRANSPORT: u8 = 0;
/// `XFRM_MODE_TUNNEL`.
pub const XFRM_MODE_TUNNEL: u8 = 1;
/// `XFRM_MODE_BEET`.
pub const XFRM_MODE_BEET: u8 = 4;
/// `XFRM_MODE_IPTFS` (Linux 6.14 and later).
pub const XFRM_MODE_IPTFS: u8 = 5;
/// `XFRM_STATE_NOECN`.
pub const XFRM_STATE_NOECN: u8 = 1;
/// `XFRM_STATE_DECAP_DSCP`.
pub const XFRM_STATE_DECAP_DSCP: u8 = 2;
/// `XFRM_STATE_NOPMTUDISC`.
pub const XFRM_STATE_NOPMTUDISC: u8 = 4;
/// `XFRM_INF`: no limit.
pub const XFRM_INF: u64 = u64::MAX;
/// `XFRM_SHARE_UNIQUE`.
pub const XFRM_SHARE_UNIQUE: u8 = 3;

/// `struct nlmsghdr`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct NlMsgHdr {
    /// Length including this header.
    pub len: u32,
    /// Message type.
    pub msg_type: u16,
    /// `NLM_F_*`.
    pub flags: u16,
    /// Sequence number.
    pub seq: u32,
    /// Sender port id.
    pub pid: u32,
}

/// `struct nlattr`.
#[derive(Debug, Clone, Copy, Default, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct NlAttr {
    /// Length including this header.
    pub len: u16,
    /// Type (with `NLA_F_NESTED`/`NLA_F_NET_BYTEORDER` in the top bits).
    pub attr_type: u16,
}

/// `xfrm_address_t`: 16 bytes, an IPv4 address in the first 4.
pub type XfrmAddress = [u8; 16];

/// `struct xfrm_selector`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XfrmSelector {
    /// Destination prefix.
    pub daddr: XfrmAddress,
    /// Source prefix.
    pub saddr: XfrmAddress,
    /// Destination port.
    pub dport: Be16,
    /// Destination port mask.
    pub dport_mask: Be16,
    /// Source port.
    pub sport: Be16,
    /// Source port mask.
    pub sport_mask: Be16,
    /// Address family.
    pub family: u16,
    /// Destination prefix length.
    pub prefixlen_d: u8,
    /// Source prefix length.
    pub prefixlen_s: u8,
    /// Upper-layer protocol (0: any).
    pub proto: u8,
    /// Padding.
    pub pad: [u8; 3],
    /// Interface index.
    pub ifindex: i32,
    /// Owning user id.
    pub user: u32,
}

/// `struct xfrm_id`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XfrmId {
    /// Destination address.
    pub daddr: XfrmAddress,
    /// SPI.
    pub spi: Be32,
    /// IPsec protocol.
    pub proto: u8,
    /// Padding.
    pub pad: [u8; 3],
}

/// `struct xfrm_lifetime_cfg`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XfrmLifetimeCfg {
    /// Soft byte limit.
    pub soft_byte_limit: u64,
    /// Hard byte limit.
    pub hard_byte_limit: u64,
    /// Soft packet limit.
    pub soft_packet_limit: u64,
    /// Hard packet limit.
    pub hard_packet_limit: u64,
    /// Soft lifetime after add, seconds.
    pub soft_add_expires_seconds: u64,
    /// Hard lifetime after add, seconds.
    pub hard_add_expires_seconds: u64,
    /// Soft lifetime after first use, seconds.
    pub soft_use_expires_seconds: u64,
    /// Hard lifetime after first use, seconds.
    pub hard_use_expires_seconds: u64,
}

impl XfrmLifetimeCfg {
    /// No limits (`XFRM_INF` byte and packet limits, no timeouts), as `iproute2` and `af_key`
    /// set when nothing is asked.
    pub fn infinite() -> Self {
        XfrmLifetimeCfg {
            soft_byte_limit: XFRM_INF,
            hard_byte_limit: XFRM_INF,
            soft_packet_limit: XFRM_INF,
            hard_packet_limit: XFRM_INF,
            ..Default::default()
        }
    }
}

/// `struct xfrm_lifetime_cur`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XfrmLifetimeCur {
    /// Bytes processed.
    pub bytes: u64,
    /// Packets processed.
    pub packets: u64,
    /// When added (seconds since the epoch).
    pub add_time: u64,
    /// When first used.
    pub use_time: u64,
}

/// `struct xfrm_stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XfrmStats {
    /// Replay window.
    pub replay_window: u32,
    /// Replayed packets.
    pub replay: u32,
    /// Integrity failures.
    pub integrity_failed: u32,
}

/// `struct xfrm_usersa_info` (224 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XfrmUsersaInfo {
    /// Selector.
    pub sel: XfrmSelector,
    /// Destination, SPI, protocol.
    pub id: XfrmId,
    /// Source address.
    pub saddr: XfrmAddress,
    /// Lifetime limits.
    pub lft: XfrmLifetimeCfg,
    /// Current counters.
    pub curlft: XfrmLifetimeCur,
    /// Statistics.
    pub stats: XfrmStats,
    /// Acquire sequence number.
    pub seq: u32,
    /// Request id.
    pub reqid: u32,
    /// Address family.
    pub family: u16,
    /// `XFRM_MODE_*`.
    pub mode: u8,
    /// Replay window.
    pub replay_window: u8,
    /// `XFRM_STATE_*`.
    pub flags: u8,
    /// Padding.
    pub pad: [u8; 7],
}

/// `struct xfrm_usersa_id`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XfrmUsersaId {
    /// Destination address.
    pub daddr: XfrmAddress,
    /// SPI.
    pub spi: Be32,
    /// Address family.
    pub family: u16,
    /// IPsec protocol.
    pub proto: u8,
    /// Padding.
    pub pad: u8,
}

/// `struct xfrm_userspi_info`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XfrmUserspiInfo {
    /// The larval SA.
    pub info: XfrmUsersaInfo,
    /// Lowest SPI.
    pub min: u32,
    /// Highest SPI.
    pub max: u32,
}

/// `struct xfrm_userpolicy_info` (168 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XfrmUserpolicyInfo {
    /// Selector.
    pub sel: XfrmSelector,
    /// Lifetime limits.
    pub lft: XfrmLifetimeCfg,
    /// Current counters.
    pub curlft: XfrmLifetimeCur,
    /// Priority.
    pub priority: u32,
    /// Index (policy id).
    pub index: u32,
    /// `XFRM_POLICY_IN`/`OUT`/`FWD`.
    pub dir: u8,
    /// `XFRM_POLICY_ALLOW`/`BLOCK`.
    pub action: u8,
    /// `XFRM_POLICY_LOCALOK`/`ICMP`.
    pub flags: u8,
    /// `XFRM_SHARE_*`.
    pub share: u8,
    /// Padding.
    pub pad: [u8; 4],
}

/// `struct xfrm_userpolicy_id`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XfrmUserpolicyId {
    /// Selector (used when `index` is 0).
    pub sel: XfrmSelector,
    /// Policy index.
    pub index: u32,
    /// Direction.
    pub dir: u8,
    /// Padding.
    pub pad: [u8; 3],
}

/// `struct xfrm_user_tmpl` (64 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XfrmUserTmpl {
    /// Tunnel destination, SPI, protocol.
    pub id: XfrmId,
    /// Family of the tunnel addresses.
    pub family: u16,
    /// Padding.
    pub pad: [u8; 2],
    /// Tunnel source.
    pub saddr: XfrmAddress,
    /// Request id.
    pub reqid: u32,
    /// `XFRM_MODE_*`.
    pub mode: u8,
    /// `XFRM_SHARE_*`.
    pub share: u8,
    /// Optional (level `use`).
    pub optional: u8,
    /// Padding.
    pub pad2: u8,
    /// Allowed authentication algorithms (bit mask).
    pub aalgos: u32,
    /// Allowed encryption algorithms.
    pub ealgos: u32,
    /// Allowed compression algorithms.
    pub calgos: u32,
}

/// `struct xfrm_user_migrate` (76 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XfrmUserMigrate {
    /// Old tunnel destination.
    pub old_daddr: XfrmAddress,
    /// Old tunnel source.
    pub old_saddr: XfrmAddress,
    /// New tunnel destination.
    pub new_daddr: XfrmAddress,
    /// New tunnel source.
    pub new_saddr: XfrmAddress,
    /// IPsec protocol.
    pub proto: u8,
    /// `XFRM_MODE_*`.
    pub mode: u8,
    /// Reserved.
    pub reserved: u16,
    /// Request id (0: any).
    pub reqid: u32,
    /// Family of the old addresses.
    pub old_family: u16,
    /// Family of the new addresses.
    pub new_family: u16,
}

/// `struct xfrm_user_kmaddress`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XfrmUserKmaddress {
    /// Local IKE address.
    pub local: XfrmAddress,
    /// Remote IKE address.
    pub remote: XfrmAddress,
    /// Reserved.
    pub reserved: u32,
    /// Family.
    pub family: u16,
    /// Padding.
    pub pad: [u8; 2],
}

/// `struct xfrm_encap_tmpl`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XfrmEncapTmpl {
    /// `UDP_ENCAP_ESPINUDP` ...
    pub encap_type: u16,
    /// Source port.
    pub sport: Be16,
    /// Destination port.
    pub dport: Be16,
    /// Padding.
    pub pad: [u8; 2],
    /// Original address (NAT-OA).
    pub oa: XfrmAddress,
}

/// `struct xfrm_user_acquire`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XfrmUserAcquire {
    /// Destination and protocol of the SA wanted.
    pub id: XfrmId,
    /// Its source.
    pub saddr: XfrmAddress,
    /// The packet's selector.
    pub sel: XfrmSelector,
    /// The policy that triggered it.
    pub policy: XfrmUserpolicyInfo,
    /// Allowed authentication algorithms.
    pub aalgos: u32,
    /// Allowed encryption algorithms.
    pub ealgos: u32,
    /// Allowed compression algorithms.
    pub calgos: u32,
    /// The larval SA's sequence number.
    pub seq: u32,
}

/// `struct xfrm_user_expire`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XfrmUserExpire {
    /// The SA.
    pub state: XfrmUsersaInfo,
    /// Hard expiry.
    pub hard: u8,
    /// Padding.
    pub pad: [u8; 7],
}

/// `struct xfrm_user_polexpire`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XfrmUserPolexpire {
    /// The policy.
    pub pol: XfrmUserpolicyInfo,
    /// Hard expiry.
    pub hard: u8,
    /// Padding.
    pub pad: [u8; 7],
}

/// `struct xfrm_user_mapping`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XfrmUserMapping {
    /// The SA.
    pub id: XfrmUsersaId,
    /// Its request id.
    pub reqid: u32,
    /// The peer's old address.
    pub old_saddr: XfrmAddress,
    /// The peer's new address.
    pub new_saddr: XfrmAddress,
    /// The peer's old port.
    pub old_sport: Be16,
    /// The peer's new port.
    pub new_sport: Be16,
}

/// `struct xfrm_usersa_flush`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XfrmUsersaFlush {
    /// IPsec protocol (`IPSEC_PROTO_ANY`: all).
    pub proto: u8,
}

/// `struct xfrm_mark`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XfrmMark {
    /// Value.
    pub v: u32,
    /// Mask.
    pub m: u32,
}

/// `struct xfrm_user_migrate_state` as proposed for `XFRM_MSG_MIGRATE_STATE` (ipsec-next; not
/// in Linux 6.12), in the layout of the newest proposal. The layout changed between revisions
/// of the series, so a kernel that answers the probe with anything but `ESRCH`/`ENOENT` is
/// treated as not having it; on one that has it, this request is untested here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XfrmUserMigrateState {
    /// The SA (SPI, destination, protocol, family).
    pub id: XfrmUsersaId,
    /// New destination.
    pub new_daddr: XfrmAddress,
    /// New source.
    pub new_saddr: XfrmAddress,
    /// New family.
    pub new_family: u16,
    /// Reserved.
    pub reserved: u16,
    /// New request id.
    pub new_reqid: u32,
    /// Mark the SA is looked up with.
    pub old_mark: XfrmMark,
}

/// Header of `struct xfrm_algo` (`alg_key` follows).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XfrmAlgo {
    /// Crypto API name, NUL-terminated.
    pub alg_name: [u8; 64],
    /// Key length in bits.
    pub alg_key_len: u32,
}

/// Header of `struct xfrm_algo_auth` and `struct xfrm_algo_aead` (same layout: the third
/// field is `alg_trunc_len` or `alg_icv_len`, in bits).
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
pub struct XfrmAlgoTrunc {
    /// Crypto API name, NUL-terminated.
    pub alg_name: [u8; 64],
    /// Key length in bits.
    pub alg_key_len: u32,
    /// Truncation (auth) or ICV (AEAD) length in bits.
    pub trunc_len: u32,
}

/// A netlink message or XFRM structure that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XfrmParseError {
    /// Fewer bytes than the structure needs.
    #[error("{what}: {have} bytes, needs {need}")]
    Short {
        /// What was being read.
        what: &'static str,
        /// Bytes available.
        have: usize,
        /// Bytes needed.
        need: usize,
    },
    /// A netlink header whose length is below 16 or past the datagram's end.
    #[error("netlink message at offset {offset}: length {len} does not fit the {avail} bytes left")]
    BadMessageLength {
        /// Offset in the datagram.
        offset: usize,
        /// `nlmsg_len`.
        len: u32,
        /// Bytes left from `offset`.
        avail: usize,
    },
    /// An attribute whose length is below 4 or past the message's end.
    #[error("attribute at offset {offset}: length {len} does not fit the {avail} bytes left")]
    BadAttrLength {
        /// Offset in the attribute area.
        offset: usize,
        /// `nla_len`.
        len: u16,
        /// Bytes left from `offset`.
        avail: usize,
    },
    /// A value the translation to PF_KEY cannot represent.
    #[error("{what}: unsupported value {value}")]
    Unsupported {
        /// The field.
        what: &'static str,
        /// Its value.
        value: u32,
    },
}

/// Reads a `T` from the start of `b` (copied: netlink buffers are only 4-byte aligned).
pub fn read<T: FromBytes>(b: &[u8], what: &'static str) -> Result<T, XfrmParseError> {
    T::read_from_prefix(b).map(|(t, _)| t).map_err(|_| XfrmParseError::Short {
        what,
        have: b.len(),
        need: size_of::<T>(),
    })
}

/// `NLMSG_ALIGN`/`NLA_ALIGN`: rounds up to 4.
pub const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// One netlink message of a datagram.
#[derive(Debug, Clone, Copy)]
pub struct NlMessage<'a> {
    /// Its header.
    pub header: NlMsgHdr,
    /// The bytes after the header, up to `nlmsg_len`.
    pub payload: &'a [u8],
}

/// The netlink messages of one datagram.
#[derive(Debug, Clone)]
pub struct NlMessages<'a> {
    buf: &'a [u8],
    offset: usize,
}

impl<'a> NlMessages<'a> {
    /// Iterates over the messages in `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        NlMessages { buf, offset: 0 }
    }
}

impl<'a> Iterator for NlMessages<'a> {
    type Item = Result<NlMessage<'a>, XfrmParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.offset..).filter(|r| !r.is_empty())?;
        let header: NlMsgHdr = match read(rest, "nlmsghdr") {
            Ok(h) => h,
            Err(e) => {
                self.offset = self.buf.len();
                return Some(Err(e));
            }
        };
        let len = header.len as usize;
        if len < size_of::<NlMsgHdr>() || len > rest.len() {
            let e = XfrmParseError::BadMessageLength { offset: self.offset, len: header.len, avail: rest.len() };
            self.offset = self.buf.len();
            return Some(Err(e));
        }
        self.offset += align4(len).min(rest.len());
        Some(Ok(NlMessage { header, payload: &rest[size_of::<NlMsgHdr>()..len] }))
    }
}

/// The attributes after a message's fixed header.
#[derive(Debug, Clone)]
pub struct Attrs<'a> {
    buf: &'a [u8],
    offset: usize,
}

impl<'a> Attrs<'a> {
    /// Iterates over the attributes in `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Attrs { buf, offset: 0 }
    }

    /// The attributes after a fixed header of `T` at the start of `payload` (rounded up to 4).
    pub fn after<T>(payload: &'a [u8]) -> Self {
        Attrs::new(payload.get(align4(size_of::<T>())..).unwrap_or(&[]))
    }

    /// The value of the first attribute of type `t`, checked, or `None`.
    pub fn find(&self, t: u16) -> Result<Option<&'a [u8]>, XfrmParseError> {
        for a in self.clone() {
            let (ty, v) = a?;
            if ty == t {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }
}

impl<'a> Iterator for Attrs<'a> {
    /// Type (flags masked off) and value.
    type Item = Result<(u16, &'a [u8]), XfrmParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.offset..).filter(|r| r.len() >= size_of::<NlAttr>())?;
        let Ok(a) = read::<NlAttr>(rest, "nlattr") else {
            return None;
        };
        let len = usize::from(a.len);
        if len < size_of::<NlAttr>() || len > rest.len() {
            let e = XfrmParseError::BadAttrLength { offset: self.offset, len: a.len, avail: rest.len() };
            self.offset = self.buf.len();
            return Some(Err(e));
        }
        self.offset += align4(len).min(rest.len());
        Some(Ok((a.attr_type & 0x3fff, &rest[size_of::<NlAttr>()..len])))
    }
}

/// A netlink request being built: header, fixed part, attributes.
#[derive(Debug, Clone)]
pub struct NlRequest {
    buf: Vec<u8>,
}

impl NlRequest {
    /// A request of `msg_type` with `flags` (`NLM_F_REQUEST` is added) and fixed header `body`.
    pub fn new<T: IntoBytes + Immutable>(msg_type: u16, flags: u16, body: &T) -> Self {
        let mut r = NlRequest { buf: Vec::with_capacity(512) };
        let h = NlMsgHdr { len: 0, msg_type, flags: flags | NLM_F_REQUEST, seq: 0, pid: 0 };
        r.buf.extend_from_slice(h.as_bytes());
        r.buf.extend_from_slice(body.as_bytes());
        r.pad();
        r
    }

    /// A request without a fixed header.
    pub fn empty(msg_type: u16, flags: u16) -> Self {
        Self::new(msg_type, flags, &[0u8; 0])
    }

    fn pad(&mut self) {
        self.buf.resize(align4(self.buf.len()), 0);
    }

    /// Appends an attribute made of `parts` (concatenated).
    pub fn attr(&mut self, attr_type: u16, parts: &[&[u8]]) -> &mut Self {
        let len = size_of::<NlAttr>() + parts.iter().map(|p| p.len()).sum::<usize>();
        let len = u16::try_from(len).unwrap_or(u16::MAX);
        self.buf.extend_from_slice(NlAttr { len, attr_type }.as_bytes());
        for p in parts {
            self.buf.extend_from_slice(p);
        }
        self.pad();
        self
    }

    /// The message type.
    pub fn msg_type(&self) -> u16 {
        u16::from_ne_bytes([self.buf[4], self.buf[5]])
    }

    /// The finished bytes with `seq` and `pid` filled in.
    pub fn finish(&mut self, seq: u32, pid: u32) -> &[u8] {
        let len = u32::try_from(self.buf.len()).unwrap_or(u32::MAX);
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf[12..16].copy_from_slice(&pid.to_ne_bytes());
        &self.buf
    }
}

/// An algorithm name as the kernel wants it: NUL-padded into 64 bytes.
pub fn alg_name(name: &str) -> [u8; 64] {
    let mut out = [0u8; 64];
    let n = name.len().min(63);
    out[..n].copy_from_slice(&name.as_bytes()[..n]);
    out
}

/// The name in a 64-byte NUL-padded field.
pub fn alg_name_str(b: &[u8; 64]) -> &str {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    std::str::from_utf8(&b[..end]).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_have_the_kernel_sizes() {
        assert_eq!(size_of::<XfrmSelector>(), 56);
        assert_eq!(size_of::<XfrmId>(), 24);
        assert_eq!(size_of::<XfrmUsersaInfo>(), 224);
        assert_eq!(size_of::<XfrmUsersaId>(), 24);
        assert_eq!(size_of::<XfrmUserspiInfo>(), 232);
        assert_eq!(size_of::<XfrmUserpolicyInfo>(), 168);
        assert_eq!(size_of::<XfrmUserpolicyId>(), 64);
        assert_eq!(size_of::<XfrmUserTmpl>(), 64);
        assert_eq!(size_of::<XfrmUserMigrate>(), 76);
        assert_eq!(size_of::<XfrmUserKmaddress>(), 40);
        assert_eq!(size_of::<XfrmEncapTmpl>(), 24);
        assert_eq!(size_of::<XfrmUserAcquire>(), 280);
        assert_eq!(size_of::<XfrmUserExpire>(), 232);
        assert_eq!(size_of::<XfrmUserPolexpire>(), 176);
        assert_eq!(size_of::<XfrmUserMapping>(), 64);
        assert_eq!(size_of::<XfrmAlgo>(), 68);
        assert_eq!(size_of::<XfrmAlgoTrunc>(), 72);
        assert_eq!(size_of::<XfrmUserMigrateState>(), 72);
    }

    #[test]
    fn truncated_and_overlong_messages_are_errors_not_panics() {
        let mut r = NlRequest::new(msg::GETSA, 0, &XfrmUsersaId::default());
        r.attr(attr::SRCADDR, &[&[1u8; 16]]);
        let bytes = r.finish(7, 9).to_vec();
        for cut in 0..bytes.len() {
            let got: Vec<_> = NlMessages::new(&bytes[..cut]).collect();
            assert!(got.iter().all(|m| m.is_err()), "cut {cut}");
        }
        let m = NlMessages::new(&bytes).next().unwrap().unwrap();
        assert_eq!((m.header.seq, m.header.pid, m.header.msg_type), (7, 9, msg::GETSA));
        let attrs: Vec<_> = Attrs::after::<XfrmUsersaId>(m.payload).collect::<Result<_, _>>().unwrap();
        assert_eq!(attrs, vec![(attr::SRCADDR, &[1u8; 16][..])]);
        // An attribute that claims more than there is.
        let mut bad = m.payload.to_vec();
        bad[24] = 200;
        assert!(matches!(Attrs::after::<XfrmUsersaId>(&bad).next(), Some(Err(XfrmParseError::BadAttrLength { .. }))));
    }
}

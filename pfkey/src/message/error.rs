//! Typed errors of the message layer: what rule a message broke, and where.

use crate::wire::Dialect;
use crate::wire::numbers::ExtKind;

/// A message that breaks a PF_KEY parser rule.
///
/// Names the byte offset (from the start of the message) of the structure that broke the rule,
/// the extension it belongs to (if any) and the rule itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("byte {offset}{}: {rule}", ext_label(*.ext, *.dialect))]
pub struct ParseError {
    /// Byte offset of the offending structure from the start of the message.
    pub offset: usize,
    /// The extension type number the offending structure belongs to, if any.
    pub ext: Option<u16>,
    /// The rule that was broken.
    pub rule: Rule,
    /// The dialect the message was parsed in, which names `ext` (types 23–26 differ between
    /// Linux and FreeBSD). Framing errors of [`super::split_stream`] say `Linux`; they name no
    /// extension.
    pub dialect: Dialect,
}

fn ext_label(ext: Option<u16>, dialect: Dialect) -> String {
    match ext {
        None => String::new(),
        Some(n) => match ExtKind::from_number(n, dialect) {
            Some(k) => format!(" ({} [{n}])", k.name()),
            None => format!(" (extension type {n})"),
        },
    }
}

impl ParseError {
    pub(crate) fn new(offset: usize, ext: Option<u16>, rule: Rule, dialect: Dialect) -> Self {
        ParseError { offset, ext, rule, dialect }
    }

    /// The errno a Linux kernel answers for the same fault (`EMSGSIZE` for a datagram shorter
    /// than the base header or whose length disagrees with `sadb_msg_len`, `EINVAL` otherwise:
    /// a truncated structure inside an extension is `EINVAL` in `parse_exthdrs` and
    /// `parse_sockaddr_pair`).
    pub fn errno(&self) -> i32 {
        match self.ext {
            None => self.rule.errno(),
            Some(_) => libc::EINVAL,
        }
    }
}

/// The PF_KEY rule a message breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rule {
    /// Fewer bytes than the structure at this offset needs.
    #[error("truncated: {need} bytes needed, {have} present")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// `sadb_msg_len` (words) disagrees with the number of bytes received.
    #[error("sadb_msg_len is {declared_words} words ({} bytes) but the message is {actual_bytes} bytes", *.declared_words as usize * 8)]
    LengthMismatch {
        /// The declared length in 64-bit words.
        declared_words: u16,
        /// The bytes received.
        actual_bytes: usize,
    },
    /// `sadb_msg_version` is not `PF_KEY_V2`.
    #[error("sadb_msg_version is {0}, not PF_KEY_V2 (2)")]
    BadVersion(u8),
    /// `sadb_msg_reserved` is not zero.
    #[error("sadb_msg_reserved is {0}, must be 0")]
    ReservedNonZero(u16),
    /// `sadb_msg_type` is 0 or above `SADB_MAX`.
    #[error("sadb_msg_type {0} is not a message type (1..=24)")]
    BadMessageType(u8),
    /// An extension whose `sadb_ext_len` is zero.
    #[error("sadb_ext_len is 0")]
    ExtZeroLength,
    /// An extension whose length runs past the end of the message.
    #[error("extension is {len} bytes but only {remaining} remain in the message")]
    ExtPastEnd {
        /// The extension's declared length in bytes.
        len: usize,
        /// Bytes left in the message.
        remaining: usize,
    },
    /// An extension of type 0 (`SADB_EXT_RESERVED`).
    #[error("sadb_ext_type is 0 (SADB_EXT_RESERVED)")]
    ExtTypeZero,
    /// The same known extension type twice in one message.
    #[error("duplicate extension: one instance per type allowed")]
    DuplicateExt,
    /// An extension shorter than its fixed header.
    #[error("extension is {len} bytes, shorter than its {min}-byte header")]
    ExtTooShort {
        /// The extension's length in bytes.
        len: usize,
        /// The fixed header size.
        min: usize,
    },
    /// A fixed-size extension longer than its struct (FreeBSD `maxsize`).
    #[error("extension is {len} bytes, longer than its fixed {max}-byte layout")]
    ExtTooLong {
        /// The extension's length in bytes.
        len: usize,
        /// The fixed size.
        max: usize,
    },
    /// An address family other than `AF_INET`/`AF_INET6`.
    #[error("address family {0} is neither AF_INET nor AF_INET6")]
    BadFamily(u16),
    /// An address extension whose length is not exactly that of its sockaddr.
    #[error("address extension is {len_words} words; a family {family} address needs exactly {expected_words}")]
    AddressLength {
        /// The sockaddr's family.
        family: u16,
        /// The declared length in words.
        len_words: u16,
        /// The only length allowed for that family.
        expected_words: u16,
    },
    /// `sadb_address_prefixlen` beyond the family's address size.
    #[error("prefix length {prefixlen} exceeds {max}")]
    PrefixTooLong {
        /// The prefix length given.
        prefixlen: u8,
        /// The family's maximum.
        max: u8,
    },
    /// A BSD sockaddr whose `sa_len` disagrees with its family.
    #[error("sa_len {sa_len} does not match the family's sockaddr size {expected}")]
    SockaddrLen {
        /// The `sa_len` given.
        sa_len: u8,
        /// The size the family needs.
        expected: u8,
    },
    /// The two sockaddrs of a pair (KMADDRESS, ipsecrequest endpoints) differ in family.
    #[error("the two addresses of a pair have different families ({0} and {1})")]
    PairFamilyMismatch(u16, u16),
    /// `SADB_EXT_ADDRESS_SRC` and `_DST` have different families.
    #[error("source and destination address families differ ({src} and {dst})")]
    SrcDstFamilyMismatch {
        /// Family of SRC.
        src: u16,
        /// Family of DST.
        dst: u16,
    },
    /// A key extension too short for `sadb_key_bits`.
    #[error("sadb_key_bits is {bits} but the extension holds only {len_bytes} bytes")]
    KeyTooShort {
        /// Declared key bits.
        bits: u16,
        /// The extension's length in bytes.
        len_bytes: usize,
    },
    /// A security context longer than a page.
    #[error("sadb_x_ctx_len {0} exceeds 4096")]
    SecCtxTooLong(u16),
    /// A security context whose extension length disagrees with `sadb_x_ctx_len`.
    #[error("sadb_x_sec_len is {len_words} words, sadb_x_ctx_len {ctx_len} needs exactly {expected_words}")]
    SecCtxLength {
        /// Declared context length in bytes.
        ctx_len: u16,
        /// Declared extension length in words.
        len_words: u16,
        /// The only extension length allowed.
        expected_words: u16,
    },
    /// Sensitivity bitmaps that do not fit the extension.
    #[error("sensitivity bitmaps of {sens_len}+{integ_len} words do not fit {len_bytes} bytes")]
    SensLength {
        /// Sensitivity bitmap words.
        sens_len: u8,
        /// Integrity bitmap words.
        integ_len: u8,
        /// The extension's length in bytes.
        len_bytes: usize,
    },
    /// An ipsecrequest whose byte length is below its fixed header (often a length given in
    /// 64-bit words instead of bytes).
    #[error(
        "sadb_x_ipsecrequest_len {len} is shorter than the {min}-byte request header (the length is in bytes, not words)"
    )]
    RequestTooShort {
        /// Declared length in bytes.
        len: u16,
        /// Fixed header size.
        min: usize,
    },
    /// An ipsecrequest that runs past the end of its policy.
    #[error("sadb_x_ipsecrequest_len {len} runs past the {remaining} bytes left in the policy")]
    RequestPastEnd {
        /// Declared length in bytes.
        len: u16,
        /// Bytes left in the policy.
        remaining: usize,
    },
    /// Bytes after the last ipsecrequest that do not form a request.
    #[error("{0} bytes after the last ipsecrequest")]
    PolicyTrailing(usize),
    /// The body of an ipsecrequest is not a pair of sockaddrs.
    #[error("ipsecrequest body of {0} bytes does not hold a sockaddr pair")]
    RequestAddresses(usize),
    /// A MIGRATE whose requests do not form (old, new) pairs.
    #[error("SADB_X_MIGRATE carries {0} ipsecrequests; they must form old/new pairs")]
    MigrateOddRequests(usize),
    /// A MIGRATE without any request pair.
    #[error("SADB_X_MIGRATE carries no ipsecrequest pair")]
    MigrateNoPairs,
    /// A MIGRATE with more pairs than `XFRM_MAX_DEPTH`.
    #[error("SADB_X_MIGRATE carries {0} pairs, more than XFRM_MAX_DEPTH (6)")]
    MigrateTooManyPairs(usize),
    /// The old and new request of a MIGRATE pair differ in proto, mode or reqid.
    #[error("SADB_X_MIGRATE pair {pair}: old and new request differ in {field}")]
    MigratePairMismatch {
        /// Index of the pair (0-based).
        pair: usize,
        /// `proto`, `mode` or `reqid`.
        field: &'static str,
    },
}

impl Rule {
    /// The errno a Linux kernel answers for this fault in the base header (`EMSGSIZE` for
    /// [`Rule::Truncated`] and [`Rule::LengthMismatch`]); inside an extension every fault is
    /// `EINVAL` (see [`ParseError::errno`]).
    pub fn errno(&self) -> i32 {
        match self {
            Rule::Truncated { .. } | Rule::LengthMismatch { .. } => libc::EMSGSIZE,
            _ => libc::EINVAL,
        }
    }
}

/// A message that cannot be put on the wire as it stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The extension has no number in the chosen dialect (e.g. KMADDRESS on FreeBSD).
    #[error("{kind} does not exist in the {dialect} dialect")]
    NotInDialect {
        /// The extension.
        kind: ExtKind,
        /// The target dialect.
        dialect: crate::wire::Dialect,
    },
    /// A field value the chosen dialect cannot carry (e.g. a reqid above 65535 on FreeBSD).
    #[error("{what} cannot be represented in the {dialect} dialect")]
    NotRepresentable {
        /// What could not be represented.
        what: &'static str,
        /// The target dialect.
        dialect: crate::wire::Dialect,
    },
    /// A length that overflows its 16-bit field.
    #[error("{what} is {len} bytes, too long for its length field")]
    TooLong {
        /// What was too long.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// A count field that cannot hold the data given (e.g. a sensitivity bitmap over 255 words).
    #[error("{what}: {detail}")]
    Inconsistent {
        /// What was inconsistent.
        what: &'static str,
        /// How.
        detail: String,
    },
}

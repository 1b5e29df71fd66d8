//! The protocol's numbers: enums that keep the values they have no name for (`Unknown(n)`), and
//! the transform IDs as named constants.
//!
//! Values are those of RFC 7296 §3 and the IANA "IKEv2 Parameters" registry, plus the RFC 4555
//! (MOBIKE) notify types. Each enum converts from and into its wire integer without loss
//! (`From`), renders as its RFC name (`NAT_DETECTION_SOURCE_IP`) and serializes as that name,
//! or as the number when it has none.

use serde::{Serialize, Serializer};

/// Declares a numbered protocol enum that keeps unknown values.
macro_rules! numbered {
    (
        $(#[$m:meta])*
        pub enum $name:ident : $repr:ty {
            $( $(#[$vm:meta])* $var:ident = $val:literal => $text:literal, )*
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vm])* $var, )*
            /// A value without a name here, kept as it is. `From` never builds `Unknown` for a
            /// value that has a variant of its own.
            Unknown($repr),
        }

        impl From<$repr> for $name {
            fn from(v: $repr) -> Self {
                match v {
                    $( $val => Self::$var, )*
                    other => Self::Unknown(other),
                }
            }
        }

        impl From<$name> for $repr {
            fn from(v: $name) -> $repr {
                v.value()
            }
        }

        impl $name {
            /// Every named value.
            pub const ALL: &'static [$name] = &[ $( $name::$var, )* ];

            /// The RFC name of this value (`"UNKNOWN"` for a value without one).
            pub const fn name(self) -> &'static str {
                match self {
                    $( $name::$var => $text, )*
                    $name::Unknown(_) => "UNKNOWN",
                }
            }

            /// The wire value.
            pub const fn value(self) -> $repr {
                match self {
                    $( $name::$var => $val, )*
                    $name::Unknown(other) => other,
                }
            }

            /// Whether this value has a name here.
            pub const fn is_known(self) -> bool {
                !matches!(self, $name::Unknown(_))
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self {
                    $name::Unknown(v) => write!(f, "UNKNOWN({v})"),
                    known => f.write_str(known.name()),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $name::Unknown(v) => v.serialize(s),
                    known => s.serialize_str(known.name()),
                }
            }
        }
    };
}

numbered! {
    /// Exchange type (RFC 7296 §3.1).
    pub enum ExchangeType: u8 {
        /// `IKE_SA_INIT` (34).
        IkeSaInit = 34 => "IKE_SA_INIT",
        /// `IKE_AUTH` (35).
        IkeAuth = 35 => "IKE_AUTH",
        /// `CREATE_CHILD_SA` (36).
        CreateChildSa = 36 => "CREATE_CHILD_SA",
        /// `INFORMATIONAL` (37).
        Informational = 37 => "INFORMATIONAL",
    }
}

numbered! {
    /// Payload type, as the Next Payload fields carry it (RFC 7296 §3.2).
    pub enum PayloadType: u8 {
        /// No Next Payload (0): the end of a chain.
        None = 0 => "NONE",
        /// Security Association (33).
        Sa = 33 => "SA",
        /// Key Exchange (34).
        Ke = 34 => "KE",
        /// Identification - Initiator (35).
        IdI = 35 => "IDi",
        /// Identification - Responder (36).
        IdR = 36 => "IDr",
        /// Certificate (37).
        Cert = 37 => "CERT",
        /// Certificate Request (38).
        CertReq = 38 => "CERTREQ",
        /// Authentication (39).
        Auth = 39 => "AUTH",
        /// Nonce (40).
        Nonce = 40 => "Ni/Nr",
        /// Notify (41).
        Notify = 41 => "N",
        /// Delete (42).
        Delete = 42 => "D",
        /// Vendor ID (43).
        VendorId = 43 => "V",
        /// Traffic Selector - Initiator (44).
        TsI = 44 => "TSi",
        /// Traffic Selector - Responder (45).
        TsR = 45 => "TSr",
        /// Encrypted and Authenticated (46).
        Sk = 46 => "SK",
        /// Configuration (47).
        Cp = 47 => "CP",
        /// Extensible Authentication (48).
        Eap = 48 => "EAP",
    }
}

numbered! {
    /// Security protocol identifier (RFC 7296 §3.3.1), in proposals, notifies and deletes.
    ///
    /// Notify payloads that concern no SA carry 0, which is `ProtocolId::Unknown(0)`
    /// (also spelled [`ProtocolId::NONE`]).
    pub enum ProtocolId: u8 {
        /// IKE (1).
        Ike = 1 => "IKE",
        /// AH (2).
        Ah = 2 => "AH",
        /// ESP (3).
        Esp = 3 => "ESP",
    }
}

impl ProtocolId {
    /// Protocol ID 0: "no SA", in a Notify payload with an empty SPI (RFC 7296 §3.10).
    pub const NONE: ProtocolId = ProtocolId::Unknown(0);
}

numbered! {
    /// Transform type (RFC 7296 §3.3.2).
    pub enum TransformType: u8 {
        /// Encryption algorithm (1).
        Encr = 1 => "ENCR",
        /// Pseudorandom function (2).
        Prf = 2 => "PRF",
        /// Integrity algorithm (3).
        Integ = 3 => "INTEG",
        /// Diffie-Hellman group, "Key Exchange Method" in later RFCs (4).
        Ke = 4 => "DH",
        /// Extended Sequence Numbers (5).
        Esn = 5 => "ESN",
    }
}

numbered! {
    /// Authentication method of an AUTH payload (RFC 7296 §3.8).
    pub enum AuthMethod: u8 {
        /// RSA digital signature (1).
        Rsa = 1 => "RSA_SIG",
        /// Shared key message integrity code (2).
        SharedKey = 2 => "SHARED_KEY_MIC",
        /// DSS digital signature (3).
        Dss = 3 => "DSS_SIG",
    }
}

numbered! {
    /// Identification type of an IDi/IDr payload (RFC 7296 §3.5).
    pub enum IdType: u8 {
        /// A 4-byte IPv4 address (1).
        Ipv4Addr = 1 => "ID_IPV4_ADDR",
        /// A fully qualified domain name, no terminator (2).
        Fqdn = 2 => "ID_FQDN",
        /// An RFC 822 e-mail address, no terminator (3).
        Rfc822Addr = 3 => "ID_RFC822_ADDR",
        /// A 16-byte IPv6 address (5).
        Ipv6Addr = 5 => "ID_IPV6_ADDR",
        /// A DER X.500 distinguished name (9).
        DerAsn1Dn = 9 => "ID_DER_ASN1_DN",
        /// A DER X.509 general name (10).
        DerAsn1Gn = 10 => "ID_DER_ASN1_GN",
        /// An opaque octet stream (11).
        KeyId = 11 => "ID_KEY_ID",
    }
}

numbered! {
    /// Notify message type (RFC 7296 §3.10.1, RFC 4555 §4). Below 16384 an error, from 16384
    /// on a status ([`NotifyType::is_error`]).
    pub enum NotifyType: u16 {
        /// A critical payload of an unknown type was received (1).
        UnsupportedCriticalPayload = 1 => "UNSUPPORTED_CRITICAL_PAYLOAD",
        /// A message arrived for an IKE SA that the receiver does not know (4).
        InvalidIkeSpi = 4 => "INVALID_IKE_SPI",
        /// The major version is not one the receiver speaks (5).
        InvalidMajorVersion = 5 => "INVALID_MAJOR_VERSION",
        /// A malformed message or a field out of range (7).
        InvalidSyntax = 7 => "INVALID_SYNTAX",
        /// A message ID outside the window (9).
        InvalidMessageId = 9 => "INVALID_MESSAGE_ID",
        /// ESP or AH arrived with an unknown SPI (11).
        InvalidSpi = 11 => "INVALID_SPI",
        /// None of the proposals is acceptable (14).
        NoProposalChosen = 14 => "NO_PROPOSAL_CHOSEN",
        /// The KE payload's group is not the selected one; data = the accepted group (17).
        InvalidKePayload = 17 => "INVALID_KE_PAYLOAD",
        /// Authentication failed (24).
        AuthenticationFailed = 24 => "AUTHENTICATION_FAILED",
        /// Only one pair of addresses in the traffic selectors is accepted (34).
        SinglePairRequired = 34 => "SINGLE_PAIR_REQUIRED",
        /// No more Child SAs are accepted on this IKE SA (35).
        NoAdditionalSas = 35 => "NO_ADDITIONAL_SAS",
        /// No internal address could be assigned (36).
        InternalAddressFailure = 36 => "INTERNAL_ADDRESS_FAILURE",
        /// A CP payload was required but not received (37).
        FailedCpRequired = 37 => "FAILED_CP_REQUIRED",
        /// The traffic selectors are not acceptable (38).
        TsUnacceptable = 38 => "TS_UNACCEPTABLE",
        /// A packet on a Child SA did not match its selectors (39).
        InvalidSelectors = 39 => "INVALID_SELECTORS",
        /// RFC 4555: the new address pair is not acceptable (40).
        UnacceptableAddresses = 40 => "UNACCEPTABLE_ADDRESSES",
        /// RFC 4555: NO_NATS_ALLOWED did not match the IP header (41).
        UnexpectedNatDetected = 41 => "UNEXPECTED_NAT_DETECTED",
        /// A temporary condition prevented the exchange; retry later (43).
        TemporaryFailure = 43 => "TEMPORARY_FAILURE",
        /// The Child SA to rekey or delete is not known (44).
        ChildSaNotFound = 44 => "CHILD_SA_NOT_FOUND",
        /// The sender lost the state of its other IKE SAs with the peer (16384).
        InitialContact = 16384 => "INITIAL_CONTACT",
        /// The sender's window of concurrent requests; data = a 4-byte count (16385).
        SetWindowSize = 16385 => "SET_WINDOW_SIZE",
        /// The responder narrowed the traffic selectors (16386).
        AdditionalTsPossible = 16386 => "ADDITIONAL_TS_POSSIBLE",
        /// IP compression is supported; data = CPI and transform ID (16387).
        IpcompSupported = 16387 => "IPCOMP_SUPPORTED",
        /// NAT-T: SHA-1 of SPIs, source address and port (16388).
        NatDetectionSourceIp = 16388 => "NAT_DETECTION_SOURCE_IP",
        /// NAT-T: SHA-1 of SPIs, destination address and port (16389).
        NatDetectionDestinationIp = 16389 => "NAT_DETECTION_DESTINATION_IP",
        /// A stateless cookie to echo (16390).
        Cookie = 16390 => "COOKIE",
        /// Transport mode is requested (16391).
        UseTransportMode = 16391 => "USE_TRANSPORT_MODE",
        /// Certificates may be fetched by HTTP (16392).
        HttpCertLookupSupported = 16392 => "HTTP_CERT_LOOKUP_SUPPORTED",
        /// This CREATE_CHILD_SA rekeys the SA whose SPI is given (16393).
        RekeySa = 16393 => "REKEY_SA",
        /// Traffic flow confidentiality padding is not supported (16394).
        EspTfcPaddingNotSupported = 16394 => "ESP_TFC_PADDING_NOT_SUPPORTED",
        /// Non-first fragments are also sent on this SA (16395).
        NonFirstFragmentsAlso = 16395 => "NON_FIRST_FRAGMENTS_ALSO",
        /// RFC 4555: MOBIKE is supported (16396).
        MobikeSupported = 16396 => "MOBIKE_SUPPORTED",
        /// RFC 4555: one more IPv4 address of the sender; data = 4 bytes (16397).
        AdditionalIp4Address = 16397 => "ADDITIONAL_IP4_ADDRESS",
        /// RFC 4555: one more IPv6 address of the sender; data = 16 bytes (16398).
        AdditionalIp6Address = 16398 => "ADDITIONAL_IP6_ADDRESS",
        /// RFC 4555: the sender has no address besides the one in the IP header (16399).
        NoAdditionalAddresses = 16399 => "NO_ADDITIONAL_ADDRESSES",
        /// RFC 4555: move the IKE SA and its Child SAs to this message's addresses (16400).
        UpdateSaAddresses = 16400 => "UPDATE_SA_ADDRESSES",
        /// RFC 4555: a return-routability cookie to echo verbatim, 8..=64 bytes (16401).
        Cookie2 = 16401 => "COOKIE2",
        /// RFC 4555: no NAT allowed; data = the addresses and ports the sender used (16402).
        NoNatsAllowed = 16402 => "NO_NATS_ALLOWED",
    }
}

impl NotifyType {
    /// The first status type: types below it are errors (RFC 7296 §3.10.1).
    pub const FIRST_STATUS: u16 = 16384;

    /// Whether this is an error type (below 16384; 16384 `INITIAL_CONTACT` is a status).
    pub const fn is_error(self) -> bool {
        self.value() < Self::FIRST_STATUS
    }
}

/// The IKE header's Flags octet (RFC 7296 §3.1): a bit set over `I`, `V` and `R`.
///
/// The other five bits are reserved: [`Flags::from_bits_truncate`] (which decoding uses) drops
/// them, so a `Flags` value never holds them and they are always sent as zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u8);

impl Flags {
    /// `I` (0x08): set by the original initiator of the IKE SA.
    pub const INITIATOR: Flags = Flags(0x08);
    /// `V` (0x10): the sender speaks a higher major version (IKEv2 senders leave it clear).
    pub const VERSION: Flags = Flags(0x10);
    /// `R` (0x20): this message is a response.
    pub const RESPONSE: Flags = Flags(0x20);
    /// The defined bits.
    pub const ALL: Flags = Flags(0x38);

    /// No flag set.
    pub const fn empty() -> Flags {
        Flags(0)
    }

    /// The flags of `bits`, with the reserved bits dropped.
    pub const fn from_bits_truncate(bits: u8) -> Flags {
        Flags(bits & Self::ALL.0)
    }

    /// The flags of `bits`, or `None` if a reserved bit is set.
    pub const fn from_bits(bits: u8) -> Option<Flags> {
        if bits & !Self::ALL.0 == 0 { Some(Flags(bits)) } else { None }
    }

    /// The octet as sent.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Sets the flags of `other`.
    pub fn insert(&mut self, other: Flags) {
        self.0 |= other.0;
    }

    /// Clears the flags of `other`.
    pub fn remove(&mut self, other: Flags) {
        self.0 &= !other.0;
    }

    /// Sets or clears the flags of `other`.
    pub fn set(&mut self, other: Flags, value: bool) {
        if value { self.insert(other) } else { self.remove(other) }
    }

    /// Whether `R` is set.
    pub const fn is_response(self) -> bool {
        self.contains(Self::RESPONSE)
    }

    /// Whether `I` is set.
    pub const fn is_initiator(self) -> bool {
        self.contains(Self::INITIATOR)
    }
}

impl core::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Flags) {
        self.0 |= rhs.0;
    }
}

impl core::fmt::Display for Flags {
    /// `I`, `V` and `R` separated by `|`, or `-` when none is set.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
        }
        let names = [(Self::INITIATOR, "I"), (Self::VERSION, "V"), (Self::RESPONSE, "R")];
        let mut sep = "";
        for (flag, name) in names {
            if self.contains(flag) {
                write!(f, "{sep}{name}")?;
                sep = "|";
            }
        }
        Ok(())
    }
}

impl Serialize for Flags {
    /// As the [`Display`](core::fmt::Display) text (`"I|R"`).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Transform attribute type Key Length (RFC 7296 §3.3.5), always in TV format, in bits.
pub const ATTR_KEY_LENGTH: u16 = 14;

// Transform type 1 (ENCR) IDs, RFC 7296 §3.3.2 and the IANA registry.
/// `ENCR_DES_IV64`.
pub const ENCR_DES_IV64: u16 = 1;
/// `ENCR_DES`.
pub const ENCR_DES: u16 = 2;
/// `ENCR_3DES`.
pub const ENCR_3DES: u16 = 3;
/// `ENCR_RC5`.
pub const ENCR_RC5: u16 = 4;
/// `ENCR_IDEA`.
pub const ENCR_IDEA: u16 = 5;
/// `ENCR_CAST`.
pub const ENCR_CAST: u16 = 6;
/// `ENCR_BLOWFISH`.
pub const ENCR_BLOWFISH: u16 = 7;
/// `ENCR_3IDEA`.
pub const ENCR_3IDEA: u16 = 8;
/// `ENCR_DES_IV32`.
pub const ENCR_DES_IV32: u16 = 9;
/// `ENCR_NULL` (ESP only).
pub const ENCR_NULL: u16 = 11;
/// `ENCR_AES_CBC` (key length attribute 128, 192 or 256).
pub const ENCR_AES_CBC: u16 = 12;
/// `ENCR_AES_CTR` (RFC 5930).
pub const ENCR_AES_CTR: u16 = 13;
/// `ENCR_AES_CCM_8` (RFC 5282).
pub const ENCR_AES_CCM_8: u16 = 14;
/// `ENCR_AES_CCM_12` (RFC 5282).
pub const ENCR_AES_CCM_12: u16 = 15;
/// `ENCR_AES_CCM_16` (RFC 5282).
pub const ENCR_AES_CCM_16: u16 = 16;
/// `ENCR_AES_GCM_8` (RFC 5282).
pub const ENCR_AES_GCM_8: u16 = 18;
/// `ENCR_AES_GCM_12` (RFC 5282).
pub const ENCR_AES_GCM_12: u16 = 19;
/// `ENCR_AES_GCM_16` (RFC 5282): AEAD with a 16-byte ICV, 8-byte IV and 4-byte salt.
pub const ENCR_AES_GCM_16: u16 = 20;
/// `ENCR_NULL_AUTH_AES_GMAC` (RFC 4543, ESP only).
pub const ENCR_NULL_AUTH_AES_GMAC: u16 = 21;
/// `ENCR_CAMELLIA_CBC` (RFC 5529).
pub const ENCR_CAMELLIA_CBC: u16 = 23;
/// `ENCR_CHACHA20_POLY1305` (RFC 7634).
pub const ENCR_CHACHA20_POLY1305: u16 = 28;

// Transform type 2 (PRF) IDs.
/// `PRF_HMAC_MD5`.
pub const PRF_HMAC_MD5: u16 = 1;
/// `PRF_HMAC_SHA1`.
pub const PRF_HMAC_SHA1: u16 = 2;
/// `PRF_HMAC_TIGER`.
pub const PRF_HMAC_TIGER: u16 = 3;
/// `PRF_AES128_XCBC` (RFC 4434).
pub const PRF_AES128_XCBC: u16 = 4;
/// `PRF_HMAC_SHA2_256` (RFC 4868).
pub const PRF_HMAC_SHA2_256: u16 = 5;
/// `PRF_HMAC_SHA2_384` (RFC 4868).
pub const PRF_HMAC_SHA2_384: u16 = 6;
/// `PRF_HMAC_SHA2_512` (RFC 4868).
pub const PRF_HMAC_SHA2_512: u16 = 7;
/// `PRF_AES128_CMAC` (RFC 4615).
pub const PRF_AES128_CMAC: u16 = 8;

// Transform type 3 (INTEG) IDs.
/// `NONE`: no integrity transform (with an AEAD cipher).
pub const AUTH_NONE: u16 = 0;
/// `AUTH_HMAC_MD5_96`.
pub const AUTH_HMAC_MD5_96: u16 = 1;
/// `AUTH_HMAC_SHA1_96`.
pub const AUTH_HMAC_SHA1_96: u16 = 2;
/// `AUTH_DES_MAC`.
pub const AUTH_DES_MAC: u16 = 3;
/// `AUTH_KPDK_MD5`.
pub const AUTH_KPDK_MD5: u16 = 4;
/// `AUTH_AES_XCBC_96`.
pub const AUTH_AES_XCBC_96: u16 = 5;
/// `AUTH_HMAC_MD5_128` (RFC 4595).
pub const AUTH_HMAC_MD5_128: u16 = 6;
/// `AUTH_HMAC_SHA1_160` (RFC 4595).
pub const AUTH_HMAC_SHA1_160: u16 = 7;
/// `AUTH_AES_CMAC_96` (RFC 4494).
pub const AUTH_AES_CMAC_96: u16 = 8;
/// `AUTH_AES_128_GMAC` (RFC 4543).
pub const AUTH_AES_128_GMAC: u16 = 9;
/// `AUTH_AES_192_GMAC` (RFC 4543).
pub const AUTH_AES_192_GMAC: u16 = 10;
/// `AUTH_AES_256_GMAC` (RFC 4543).
pub const AUTH_AES_256_GMAC: u16 = 11;
/// `AUTH_HMAC_SHA2_256_128` (RFC 4868).
pub const AUTH_HMAC_SHA2_256_128: u16 = 12;
/// `AUTH_HMAC_SHA2_384_192` (RFC 4868).
pub const AUTH_HMAC_SHA2_384_192: u16 = 13;
/// `AUTH_HMAC_SHA2_512_256` (RFC 4868).
pub const AUTH_HMAC_SHA2_512_256: u16 = 14;

// Transform type 4 (DH / key exchange method) IDs.
/// `NONE`: no Diffie-Hellman (a Child SA without PFS).
pub const DH_NONE: u16 = 0;
/// 768-bit MODP group (RFC 7296 appendix B).
pub const DH_MODP_768: u16 = 1;
/// 1024-bit MODP group (RFC 7296 appendix B).
pub const DH_MODP_1024: u16 = 2;
/// 1536-bit MODP group (RFC 3526).
pub const DH_MODP_1536: u16 = 5;
/// 2048-bit MODP group (RFC 3526).
pub const DH_MODP_2048: u16 = 14;
/// 3072-bit MODP group (RFC 3526).
pub const DH_MODP_3072: u16 = 15;
/// 4096-bit MODP group (RFC 3526).
pub const DH_MODP_4096: u16 = 16;
/// 6144-bit MODP group (RFC 3526).
pub const DH_MODP_6144: u16 = 17;
/// 8192-bit MODP group (RFC 3526).
pub const DH_MODP_8192: u16 = 18;
/// 256-bit random ECP group, NIST P-256 (RFC 5903).
pub const DH_ECP_256: u16 = 19;
/// 384-bit random ECP group, NIST P-384 (RFC 5903).
pub const DH_ECP_384: u16 = 20;
/// 521-bit random ECP group, NIST P-521 (RFC 5903).
pub const DH_ECP_521: u16 = 21;
/// Curve25519 (RFC 8031).
pub const DH_CURVE25519: u16 = 31;
/// Curve448 (RFC 8031).
pub const DH_CURVE448: u16 = 32;

// Transform type 5 (ESN) IDs.
/// No extended sequence numbers.
pub const ESN_NO: u16 = 0;
/// Extended (64-bit) sequence numbers.
pub const ESN_YES: u16 = 1;

/// The name of transform `id` of type `kind`, if this module has one.
///
/// ```
/// use ikev2d::codec::numbers::{transform_name, TransformType, ENCR_AES_GCM_16};
/// assert_eq!(transform_name(TransformType::Encr, ENCR_AES_GCM_16), Some("ENCR_AES_GCM_16"));
/// assert_eq!(transform_name(TransformType::Encr, 999), None);
/// ```
pub const fn transform_name(kind: TransformType, id: u16) -> Option<&'static str> {
    Some(match (kind, id) {
        (TransformType::Encr, ENCR_DES_IV64) => "ENCR_DES_IV64",
        (TransformType::Encr, ENCR_DES) => "ENCR_DES",
        (TransformType::Encr, ENCR_3DES) => "ENCR_3DES",
        (TransformType::Encr, ENCR_RC5) => "ENCR_RC5",
        (TransformType::Encr, ENCR_IDEA) => "ENCR_IDEA",
        (TransformType::Encr, ENCR_CAST) => "ENCR_CAST",
        (TransformType::Encr, ENCR_BLOWFISH) => "ENCR_BLOWFISH",
        (TransformType::Encr, ENCR_3IDEA) => "ENCR_3IDEA",
        (TransformType::Encr, ENCR_DES_IV32) => "ENCR_DES_IV32",
        (TransformType::Encr, ENCR_NULL) => "ENCR_NULL",
        (TransformType::Encr, ENCR_AES_CBC) => "ENCR_AES_CBC",
        (TransformType::Encr, ENCR_AES_CTR) => "ENCR_AES_CTR",
        (TransformType::Encr, ENCR_AES_CCM_8) => "ENCR_AES_CCM_8",
        (TransformType::Encr, ENCR_AES_CCM_12) => "ENCR_AES_CCM_12",
        (TransformType::Encr, ENCR_AES_CCM_16) => "ENCR_AES_CCM_16",
        (TransformType::Encr, ENCR_AES_GCM_8) => "ENCR_AES_GCM_8",
        (TransformType::Encr, ENCR_AES_GCM_12) => "ENCR_AES_GCM_12",
        (TransformType::Encr, ENCR_AES_GCM_16) => "ENCR_AES_GCM_16",
        (TransformType::Encr, ENCR_NULL_AUTH_AES_GMAC) => "ENCR_NULL_AUTH_AES_GMAC",
        (TransformType::Encr, ENCR_CAMELLIA_CBC) => "ENCR_CAMELLIA_CBC",
        (TransformType::Encr, ENCR_CHACHA20_POLY1305) => "ENCR_CHACHA20_POLY1305",
        (TransformType::Prf, PRF_HMAC_MD5) => "PRF_HMAC_MD5",
        (TransformType::Prf, PRF_HMAC_SHA1) => "PRF_HMAC_SHA1",
        (TransformType::Prf, PRF_HMAC_TIGER) => "PRF_HMAC_TIGER",
        (TransformType::Prf, PRF_AES128_XCBC) => "PRF_AES128_XCBC",
        (TransformType::Prf, PRF_HMAC_SHA2_256) => "PRF_HMAC_SHA2_256",
        (TransformType::Prf, PRF_HMAC_SHA2_384) => "PRF_HMAC_SHA2_384",
        (TransformType::Prf, PRF_HMAC_SHA2_512) => "PRF_HMAC_SHA2_512",
        (TransformType::Prf, PRF_AES128_CMAC) => "PRF_AES128_CMAC",
        (TransformType::Integ, AUTH_NONE) => "NONE",
        (TransformType::Integ, AUTH_HMAC_MD5_96) => "AUTH_HMAC_MD5_96",
        (TransformType::Integ, AUTH_HMAC_SHA1_96) => "AUTH_HMAC_SHA1_96",
        (TransformType::Integ, AUTH_DES_MAC) => "AUTH_DES_MAC",
        (TransformType::Integ, AUTH_KPDK_MD5) => "AUTH_KPDK_MD5",
        (TransformType::Integ, AUTH_AES_XCBC_96) => "AUTH_AES_XCBC_96",
        (TransformType::Integ, AUTH_HMAC_MD5_128) => "AUTH_HMAC_MD5_128",
        (TransformType::Integ, AUTH_HMAC_SHA1_160) => "AUTH_HMAC_SHA1_160",
        (TransformType::Integ, AUTH_AES_CMAC_96) => "AUTH_AES_CMAC_96",
        (TransformType::Integ, AUTH_AES_128_GMAC) => "AUTH_AES_128_GMAC",
        (TransformType::Integ, AUTH_AES_192_GMAC) => "AUTH_AES_192_GMAC",
        (TransformType::Integ, AUTH_AES_256_GMAC) => "AUTH_AES_256_GMAC",
        (TransformType::Integ, AUTH_HMAC_SHA2_256_128) => "AUTH_HMAC_SHA2_256_128",
        (TransformType::Integ, AUTH_HMAC_SHA2_384_192) => "AUTH_HMAC_SHA2_384_192",
        (TransformType::Integ, AUTH_HMAC_SHA2_512_256) => "AUTH_HMAC_SHA2_512_256",
        (TransformType::Ke, DH_NONE) => "NONE",
        (TransformType::Ke, DH_MODP_768) => "MODP_768",
        (TransformType::Ke, DH_MODP_1024) => "MODP_1024",
        (TransformType::Ke, DH_MODP_1536) => "MODP_1536",
        (TransformType::Ke, DH_MODP_2048) => "MODP_2048",
        (TransformType::Ke, DH_MODP_3072) => "MODP_3072",
        (TransformType::Ke, DH_MODP_4096) => "MODP_4096",
        (TransformType::Ke, DH_MODP_6144) => "MODP_6144",
        (TransformType::Ke, DH_MODP_8192) => "MODP_8192",
        (TransformType::Ke, DH_ECP_256) => "ECP_256",
        (TransformType::Ke, DH_ECP_384) => "ECP_384",
        (TransformType::Ke, DH_ECP_521) => "ECP_521",
        (TransformType::Ke, DH_CURVE25519) => "CURVE25519",
        (TransformType::Ke, DH_CURVE448) => "CURVE448",
        (TransformType::Esn, ESN_NO) => "NO_ESN",
        (TransformType::Esn, ESN_YES) => "ESN",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_value_round_trips_and_unknown_stays_unknown() {
        for &t in NotifyType::ALL {
            assert_eq!(NotifyType::from(u16::from(t)), t);
            assert!(t.is_known());
            assert_ne!(t.name(), "UNKNOWN");
        }
        for &t in PayloadType::ALL {
            assert_eq!(PayloadType::from(t.value()), t);
        }
        assert_eq!(PayloadType::from(49), PayloadType::Unknown(49));
        assert_eq!(u8::from(PayloadType::Unknown(49)), 49);
        assert_eq!(NotifyType::from(12345).to_string(), "UNKNOWN(12345)");
        assert_eq!(NotifyType::from(16396).to_string(), "MOBIKE_SUPPORTED");
        assert_eq!(ProtocolId::from(0), ProtocolId::NONE);
    }

    #[test]
    fn error_and_status_split_at_16384() {
        assert!(NotifyType::UnsupportedCriticalPayload.is_error());
        assert!(NotifyType::ChildSaNotFound.is_error());
        assert!(NotifyType::UnexpectedNatDetected.is_error());
        assert!(NotifyType::Unknown(16383).is_error());
        assert!(!NotifyType::InitialContact.is_error());
        assert!(!NotifyType::NoNatsAllowed.is_error());
        assert!(!NotifyType::Unknown(40000).is_error());
        let errors = NotifyType::ALL.iter().filter(|t| t.is_error()).count();
        assert_eq!(errors, 19);
        assert_eq!(NotifyType::ALL.len() - errors, 19);
    }

    #[test]
    fn names_serialize_numbers_when_unknown() {
        assert_eq!(serde_json::to_string(&ExchangeType::IkeSaInit).unwrap(), "\"IKE_SA_INIT\"");
        assert_eq!(serde_json::to_string(&ExchangeType::Unknown(99)).unwrap(), "99");
        assert_eq!(transform_name(TransformType::Ke, DH_CURVE25519), Some("CURVE25519"));
        assert_eq!(transform_name(TransformType::Unknown(9), 1), None);
    }

    #[test]
    fn flags_drop_reserved_bits() {
        let f = Flags::from_bits_truncate(0xff);
        assert_eq!(f, Flags::ALL);
        assert!(f.is_response() && f.is_initiator());
        assert_eq!(Flags::from_bits(0x28), Some(Flags::RESPONSE | Flags::INITIATOR));
        assert_eq!(Flags::from_bits(0x01), None);
        assert_eq!((Flags::INITIATOR | Flags::RESPONSE).to_string(), "I|R");
        assert_eq!(Flags::empty().to_string(), "-");
        let mut g = Flags::empty();
        g.set(Flags::RESPONSE, true);
        g |= Flags::VERSION;
        g.remove(Flags::VERSION);
        assert_eq!(g.bits(), 0x20);
    }
}

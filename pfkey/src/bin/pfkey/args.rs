//! Argument values of the kernel commands: SPIs, addresses, prefixes, endpoint pairs,
//! algorithm:key pairs, NAT-T ports, and the protocol's enumerations under `setkey`-like names.
//!
//! Every parser returns a message clap prints as a usage error (exit 2).

use std::borrow::Cow;
use std::net::IpAddr;

use clap::ValueEnum;
use pfkey::kernel::model::ModelConfig;
use pfkey::message::{AlgKey, Endpoints, NatT, Selector, SockAddr, hex};
use pfkey::wire::numbers::{
    AuthAlg, EncryptAlg, IPPROTO_AH, IPPROTO_COMP, IPPROTO_ESP, Level, Mode, NatTType, PolicyDir, PolicyType, SaType,
};

/// An SPI: `0x`-prefixed hex or decimal.
pub(crate) fn spi(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => t.parse::<u32>(),
    };
    parsed.map_err(|_| format!("{s:?} is not an SPI (0x-prefixed hex or decimal, 32 bits)"))
}

/// An IP address (IPv4 or IPv6), port 0.
pub(crate) fn address(s: &str) -> Result<SockAddr, String> {
    s.trim().parse::<IpAddr>().map(SockAddr::new).map_err(|_| format!("{s:?} is not an IPv4 or IPv6 address"))
}

/// A selector prefix: `10.1.0.0/16`, or an address alone for a host (`/32`, `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Prefix {
    pub addr: SockAddr,
    pub len: u8,
}

/// Parses a [`Prefix`].
pub(crate) fn prefix(s: &str) -> Result<Prefix, String> {
    let (a, len) = match s.trim().split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s.trim(), None),
    };
    let addr = address(a)?;
    let len = match len {
        None => addr.max_prefixlen(),
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= addr.max_prefixlen() => n,
            _ => return Err(format!("{s:?}: the prefix length must be 0..={}", addr.max_prefixlen())),
        },
    };
    Ok(Prefix { addr, len })
}

/// The selector between two prefixes with an upper-layer protocol; both of one family.
pub(crate) fn selector(src: Prefix, dst: Prefix, ulproto: u8) -> Result<Selector, String> {
    if src.addr.is_v6() != dst.addr.is_v6() {
        return Err(format!("--src {} and --dst {} are of different address families", src.addr, dst.addr));
    }
    let mut sel = Selector::new(src.addr, src.len, dst.addr, dst.len);
    sel.proto = ulproto;
    Ok(sel)
}

/// A pair of tunnel endpoints: `SRC-DST` (both of one family).
pub(crate) fn endpoints(s: &str) -> Result<Endpoints, String> {
    let (a, b) =
        s.trim().split_once('-').ok_or_else(|| format!("{s:?} is not SRC-DST (two addresses joined by '-')"))?;
    let (src, dst) = (address(a)?, address(b)?);
    if src.is_v6() != dst.is_v6() {
        return Err(format!("{s:?}: the two addresses are of different families"));
    }
    Ok(Endpoints { src, dst })
}

/// UDP encapsulation: `SPORT:DPORT` (ESP-in-UDP), or `none` (type NONE: remove it where that means
/// something, nothing where it does not).
pub(crate) fn natt(s: &str) -> Result<NatT, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("none") {
        return Ok(NatT { nat_t_type: NatTType::None, sport: 0, dport: 0 });
    }
    let bad = || format!("{s:?} is not SPORT:DPORT (UDP ports 1-65535) or none");
    let (a, b) = t.split_once(':').ok_or_else(bad)?;
    let port = |p: &str| p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(bad);
    Ok(NatT::esp_in_udp(port(a)?, port(b)?))
}

/// `Some` unless the NAT-T setting is type NONE.
pub(crate) fn natt_some(n: Option<NatT>) -> Option<NatT> {
    n.filter(|n| n.nat_t_type != NatTType::None)
}

/// Encryption algorithms by their `setkey` names (the names `pfkey dump` prints).
const ENCRYPT_NAMES: &[(&str, EncryptAlg)] = pfkey::wire::numbers::ENCRYPT_SETKEY_NAMES;

/// Authentication algorithms by their `setkey` names.
const AUTH_NAMES: &[(&str, AuthAlg)] = pfkey::wire::numbers::AUTH_SETKEY_NAMES;

/// IPCOMP compression algorithms (`sadb_sa_encrypt` of an IPCOMP SA).
const COMPRESS_NAMES: &[(&str, u8)] = &[("deflate", 2), ("lzs", 3), ("lzjh", 4)];

/// An algorithm by short name, C name (`SADB_X_EALG_AESCBC`, any case) or number.
fn alg<A: Copy + From<u8>>(
    name: &str,
    short: &[(&str, A)],
    c_name: impl Fn(&str) -> Option<A>,
    what: &str,
) -> Result<A, String> {
    let n = name.trim();
    if let Some((_, a)) = short.iter().find(|(s, _)| s.eq_ignore_ascii_case(n)) {
        return Ok(*a);
    }
    if let Some(a) = c_name(&n.to_ascii_uppercase()) {
        return Ok(a);
    }
    if let Ok(v) = n.parse::<u8>() {
        return Ok(A::from(v));
    }
    let names: Vec<&str> = short.iter().map(|(s, _)| *s).collect();
    Err(format!("unknown {what} algorithm {name:?} (one of {}, a C name, or a number)", names.join(", ")))
}

/// `ALG:HEXKEY`, or `ALG` alone for an empty key (null algorithms).
fn alg_key<A: Copy + From<u8>>(
    s: &str,
    short: &[(&str, A)],
    c_name: impl Fn(&str) -> Option<A>,
    what: &str,
) -> Result<AlgKey<A>, String> {
    let (name, key) = match s.split_once(':') {
        Some((n, k)) => (n, k.trim()),
        None => (s, ""),
    };
    let alg = alg(name, short, c_name, what)?;
    let key = key.strip_prefix("0x").or_else(|| key.strip_prefix("0X")).unwrap_or(key);
    let key = hex::decode(key).map_err(|e| format!("{what} key of {s:?}: {e}"))?;
    Ok(AlgKey { alg, key: Cow::Owned(key) })
}

/// `--enc ALG:HEXKEY`.
pub(crate) fn encrypt(s: &str) -> Result<AlgKey<EncryptAlg>, String> {
    alg_key(s, ENCRYPT_NAMES, EncryptAlg::from_name, "encryption")
}

/// `--auth ALG:HEXKEY`.
pub(crate) fn auth(s: &str) -> Result<AlgKey<AuthAlg>, String> {
    alg_key(s, AUTH_NAMES, AuthAlg::from_name, "authentication")
}

/// `--comp ALG` (IPCOMP).
pub(crate) fn compress(s: &str) -> Result<AlgKey<EncryptAlg>, String> {
    let id = alg(s, COMPRESS_NAMES, |_| None, "compression")?;
    Ok(AlgKey { alg: EncryptAlg::from(id), key: Cow::Owned(Vec::new()) })
}

/// An upper-layer protocol: `any`, a name (`tcp`, `udp`, `icmp`, `ipv6-icmp`, `gre`, `sctp`)
/// or a number.
pub(crate) fn ulproto(s: &str) -> Result<u8, String> {
    const NAMES: &[(&str, u8)] =
        &[("any", 255), ("icmp", 1), ("tcp", 6), ("udp", 17), ("gre", 47), ("ipv6-icmp", 58), ("sctp", 132)];
    let t = s.trim();
    NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(t)).map(|(_, p)| *p).or_else(|| t.parse::<u8>().ok()).ok_or_else(
        || format!("unknown upper-layer protocol {s:?} (any, tcp, udp, icmp, ipv6-icmp, gre, sctp or 0-255)"),
    )
}

/// An SA type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SaTypeArg {
    /// Encapsulating Security Payload.
    Esp,
    /// Authentication Header.
    Ah,
    /// IP payload compression.
    Ipcomp,
}

impl From<SaTypeArg> for SaType {
    fn from(t: SaTypeArg) -> SaType {
        match t {
            SaTypeArg::Esp => SaType::Esp,
            SaTypeArg::Ah => SaType::Ah,
            SaTypeArg::Ipcomp => SaType::XIpcomp,
        }
    }
}

/// An SA type or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SaTypeFilter {
    /// Every SA type.
    Any,
    /// ESP.
    Esp,
    /// AH.
    Ah,
    /// IPCOMP.
    Ipcomp,
}

impl From<SaTypeFilter> for SaType {
    fn from(t: SaTypeFilter) -> SaType {
        match t {
            SaTypeFilter::Any => SaType::Unspec,
            SaTypeFilter::Esp => SaType::Esp,
            SaTypeFilter::Ah => SaType::Ah,
            SaTypeFilter::Ipcomp => SaType::XIpcomp,
        }
    }
}

/// The IPsec protocol of a template or MIGRATE bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum IpsecProto {
    /// ESP (50).
    Esp,
    /// AH (51).
    Ah,
    /// IPCOMP (108).
    Ipcomp,
}

impl IpsecProto {
    pub(crate) fn number(self) -> u16 {
        match self {
            IpsecProto::Esp => IPPROTO_ESP,
            IpsecProto::Ah => IPPROTO_AH,
            IpsecProto::Ipcomp => IPPROTO_COMP,
        }
    }
}

/// An IPsec mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ModeArg {
    /// Transport mode.
    Transport,
    /// Tunnel mode (outer addresses = the SA's or template's endpoints).
    Tunnel,
    /// Bound End-to-End Tunnel mode (RFC 7402).
    Beet,
    /// IPSEC_MODE_ANY (Linux treats it as transport).
    Any,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Transport => Mode::Transport,
            ModeArg::Tunnel => Mode::Tunnel,
            ModeArg::Beet => Mode::Beet,
            ModeArg::Any => Mode::Any,
        }
    }
}

/// A policy direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DirArg {
    /// Inbound.
    In,
    /// Outbound.
    Out,
    /// Forward (Linux).
    Fwd,
}

impl From<DirArg> for PolicyDir {
    fn from(d: DirArg) -> PolicyDir {
        match d {
            DirArg::In => PolicyDir::Inbound,
            DirArg::Out => PolicyDir::Outbound,
            DirArg::Fwd => PolicyDir::Fwd,
        }
    }
}

/// A policy action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ActionArg {
    /// Apply IPsec as the template says.
    Ipsec,
    /// No IPsec (bypass).
    None,
    /// Drop the traffic.
    Discard,
}

impl From<ActionArg> for PolicyType {
    fn from(a: ActionArg) -> PolicyType {
        match a {
            ActionArg::Ipsec => PolicyType::Ipsec,
            ActionArg::None => PolicyType::None,
            ActionArg::Discard => PolicyType::Discard,
        }
    }
}

/// A template level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LevelArg {
    /// Use an SA if there is one.
    Use,
    /// Require an SA.
    Require,
    /// Require the SA bound by --reqid.
    Unique,
}

impl From<LevelArg> for Level {
    fn from(l: LevelArg) -> Level {
        match l {
            LevelArg::Use => Level::Use,
            LevelArg::Require => Level::Require,
            LevelArg::Unique => Level::Unique,
        }
    }
}

/// Which kernel the model imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ModelConfigArg {
    /// Stock Linux af_key: MIGRATE answered by broadcast only, no per-SA address update, no NAT-T
    /// in MIGRATE, no AEAD.
    Stock,
    /// Linux with this project's patches: every extension, MIGRATE answered to the requester.
    Patched,
    /// The model's default: stock MIGRATE (broadcast only) plus the address update, NAT-T in
    /// MIGRATE and AEAD.
    Default,
}

impl From<ModelConfigArg> for ModelConfig {
    fn from(c: ModelConfigArg) -> ModelConfig {
        match c {
            ModelConfigArg::Stock => ModelConfig::stock_linux(),
            ModelConfigArg::Patched => ModelConfig::patched(),
            ModelConfigArg::Default => ModelConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pfkey::message::SaSpec;
    use pfkey::wire::numbers::SaState;

    #[test]
    fn spis_are_hex_with_0x_or_decimal() {
        assert_eq!(spi("0x1000"), Ok(0x1000));
        assert_eq!(spi("0XABCDEF01"), Ok(0xabcd_ef01));
        assert_eq!(spi("4096"), Ok(4096));
        assert!(spi("1000x").is_err());
        assert!(spi("0x1_0000_0000").is_err());
        assert!(spi("4294967296").is_err());
    }

    #[test]
    fn prefixes_default_to_the_host_length_and_check_the_bound() {
        assert_eq!(prefix("10.1.0.0/16").unwrap().len, 16);
        assert_eq!(prefix("192.0.2.1").unwrap().len, 32);
        assert_eq!(prefix("2001:db8::/32").unwrap().len, 32);
        assert_eq!(prefix("2001:db8::1").unwrap().len, 128);
        assert!(prefix("10.0.0.0/33").unwrap_err().contains("0..=32"));
        assert!(prefix("10.0.0/8").is_err());
    }

    #[test]
    fn endpoints_split_at_the_dash_and_keep_one_family() {
        let e = endpoints("192.0.2.10-198.51.100.1").unwrap();
        assert_eq!((e.src.to_string(), e.dst.to_string()), ("192.0.2.10".into(), "198.51.100.1".into()));
        assert!(endpoints("2001:db8::1-2001:db8::2").is_ok());
        assert!(endpoints("192.0.2.1-2001:db8::2").unwrap_err().contains("different families"));
        assert!(endpoints("192.0.2.1").is_err());
    }

    #[test]
    fn natt_is_two_ports_or_none() {
        assert_eq!(natt("4500:4500"), Ok(NatT::esp_in_udp(4500, 4500)));
        assert_eq!(natt("none").unwrap().nat_t_type, NatTType::None);
        assert!(natt("0:4500").is_err());
        assert!(natt("4500").is_err());
    }

    #[test]
    fn algorithms_by_short_name_c_name_or_number_with_hex_keys() {
        let e = encrypt("aes-cbc:0x00112233445566778899aabbccddeeff").unwrap();
        assert_eq!((e.alg, e.key.len()), (EncryptAlg::AesCbc, 16));
        assert_eq!(encrypt("SADB_X_EALG_AESCBC:00").unwrap().alg, EncryptAlg::AesCbc);
        assert_eq!(encrypt("sadb_x_ealg_aes_gcm_icv16:00").unwrap().alg, EncryptAlg::AesGcmIcv16);
        assert_eq!(encrypt("12:00").unwrap().alg, EncryptAlg::AesCbc);
        let n = encrypt("null").unwrap();
        assert_eq!((n.alg, n.key.len()), (EncryptAlg::Null, 0));
        assert_eq!(auth("hmac-sha256:aa").unwrap().alg, AuthAlg::Sha2_256Hmac);
        assert_eq!(auth("SADB_AALG_SHA1HMAC:aa").unwrap().alg, AuthAlg::Sha1Hmac);
        assert!(encrypt("aes-xyz:00").unwrap_err().contains("unknown encryption algorithm"));
        assert!(auth("hmac-sha256:abc").unwrap_err().contains("authentication key"));
        assert_eq!(compress("deflate").unwrap().alg, EncryptAlg::from(2));
        assert_eq!(ulproto("tcp"), Ok(6));
        assert_eq!(ulproto("any"), Ok(255));
        assert_eq!(ulproto("47"), Ok(47));
        assert!(ulproto("tcpx").is_err());
    }

    /// The names accepted are the names `pfkey dump` prints (render::sa_entry).
    #[test]
    fn short_names_are_the_names_the_renderer_prints() {
        let a = SockAddr::new("192.0.2.1".parse().unwrap());
        let sa = |encrypt: Option<EncryptAlg>, auth: Option<AuthAlg>| SaSpec {
            inner: None,
            satype: SaType::Esp,
            spi: 1,
            src: a,
            dst: a,
            mode: Mode::Tunnel,
            reqid: 0,
            replay: 0,
            flags: 0,
            state: SaState::Mature,
            auth: auth.map(|x| AlgKey::new(x, &[])),
            encrypt: encrypt.map(|x| AlgKey::new(x, &[])),
            hard: None,
            soft: None,
            natt: None,
        };
        for (name, alg) in ENCRYPT_NAMES.iter().filter(|(n, _)| *n != "rijndael-cbc") {
            let text = pfkey::render::sa_entry(&sa(Some(*alg), None), None);
            assert!(text.contains(&format!("\tE: {name}\n")), "{name}: {text}");
        }
        for (name, alg) in AUTH_NAMES.iter().filter(|(n, _)| !n.starts_with("hmac-sha2-")) {
            let text = pfkey::render::sa_entry(&sa(None, Some(*alg)), None);
            assert!(text.contains(&format!("\tA: {name}\n")), "{name}: {text}");
        }
    }
}

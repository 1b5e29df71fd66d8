//! The daemon's configuration: connections (addresses, identities, PSK, proposals, traffic
//! selectors) and the daemon's own settings, read from TOML.
//!
//! ```toml
//! [daemon]
//! backend = "auto"               # auto | afkey | xfrm | model
//! control = "/run/ikev2d.sock"
//! port = 500                     # IKE port (non-default ports serve unprivileged tests)
//! nat_port = 4500                # the NAT-T port (non-ESP marker, ESP in UDP)
//!
//! [[connection]]
//! name = "gw"
//! local = "192.0.2.10"
//! remote = "198.51.100.1"        # or "%any" on a responder
//! local_id = "fqdn:mobile.example"
//! remote_id = "fqdn:gw.example"
//! psk = "a long shared secret"
//! ike = ["aes256gcm16-prfsha256-ecp256", "aes128-sha256-prfsha256-modp2048"]
//! esp = ["aes256gcm16", "aes128-sha256"]
//! local_ts = ["10.1.0.0/24"]
//! remote_ts = ["10.2.0.0/24"]
//! start = true                   # initiate when the daemon starts
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::codec::{IdType, Identification};
use crate::crypto::{DhGroup, EncrAlg, IntegAlg, PrfAlg};

/// A configuration error: what is wrong and where.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The TOML itself does not parse or has a field of the wrong type.
    #[error("configuration: {0}")]
    Toml(String),
    /// A connection's field has a value that does not parse.
    #[error("connection {conn:?}: {field}: {message}")]
    Field {
        /// The connection's name.
        conn: String,
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Two connections share a name.
    #[error("two connections are named {0:?}")]
    DuplicateName(String),
}

/// An IKE SA proposal: one algorithm per transform type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IkeProposal {
    /// Encryption (AES-GCM-16 or AES-CBC).
    pub encr: EncrAlg,
    /// Integrity (none with AES-GCM).
    pub integ: Option<IntegAlg>,
    /// Pseudo-random function.
    pub prf: PrfAlg,
    /// Diffie-Hellman group.
    pub dh: DhGroup,
}

/// An ESP (Child SA) proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EspProposal {
    /// Encryption (AES-GCM-16 or AES-CBC).
    pub encr: EncrAlg,
    /// Integrity (none with AES-GCM).
    pub integ: Option<IntegAlg>,
    /// A Diffie-Hellman group for PFS in CREATE_CHILD_SA (none: no PFS).
    pub dh: Option<DhGroup>,
}

fn encr_of(tok: &str) -> Option<EncrAlg> {
    Some(match tok {
        "aes128gcm16" => EncrAlg::AesGcm16 { key_bits: 128 },
        "aes256gcm16" => EncrAlg::AesGcm16 { key_bits: 256 },
        "aes128" => EncrAlg::AesCbc { key_bits: 128 },
        "aes256" => EncrAlg::AesCbc { key_bits: 256 },
        _ => return None,
    })
}

fn integ_of(tok: &str) -> Option<IntegAlg> {
    match tok {
        "sha1" => Some(IntegAlg::HmacSha1_96),
        "sha256" => Some(IntegAlg::HmacSha256_128),
        "sha384" => Some(IntegAlg::HmacSha384_192),
        "sha512" => Some(IntegAlg::HmacSha512_256),
        _ => None,
    }
}

fn prf_of(tok: &str) -> Option<PrfAlg> {
    Some(match tok {
        "prfsha256" => PrfAlg::HmacSha256,
        "prfsha384" => PrfAlg::HmacSha384,
        "prfsha512" => PrfAlg::HmacSha512,
        _ => return None,
    })
}

fn dh_of(tok: &str) -> Option<DhGroup> {
    Some(match tok {
        "modp2048" => DhGroup::Modp2048,
        "ecp256" => DhGroup::Ecp256,
        "curve25519" | "x25519" => DhGroup::Curve25519,
        _ => return None,
    })
}

fn aead_rule(encr: EncrAlg, integ: Option<IntegAlg>) -> Result<(), String> {
    match (encr.is_aead(), integ) {
        (true, Some(_)) => Err("an AEAD cipher takes no integrity algorithm".into()),
        (false, None) => Err("AES-CBC needs an integrity algorithm (sha256)".into()),
        _ => Ok(()),
    }
}

impl FromStr for IkeProposal {
    type Err = String;
    /// strongSwan-style: `aes256gcm16-prfsha256-ecp256` or `aes128-sha256-prfsha256-modp2048`
    /// (with CBC and no explicit PRF, the PRF follows the integrity algorithm).
    fn from_str(s: &str) -> Result<IkeProposal, String> {
        let (mut encr, mut integ, mut prf, mut dh) = (None, None, None, None);
        for tok in s.split('-') {
            if let Some(e) = encr_of(tok).filter(|_| encr.is_none()) {
                encr = Some(e);
            } else if let Some(i) = integ_of(tok).filter(|_| integ.is_none()) {
                integ = Some(i);
            } else if let Some(p) = prf_of(tok).filter(|_| prf.is_none()) {
                prf = Some(p);
            } else if let Some(d) = dh_of(tok).filter(|_| dh.is_none()) {
                dh = Some(d);
            } else {
                return Err(format!("{s:?}: unknown or repeated algorithm {tok:?}"));
            }
        }
        let encr = encr.ok_or_else(|| format!("{s:?}: no encryption algorithm"))?;
        aead_rule(encr, integ).map_err(|e| format!("{s:?}: {e}"))?;
        // As strongSwan reads it: without a `prf…` token the PRF is the integrity algorithm's
        // hash; HMAC-SHA-1 is an integrity algorithm here, not a PRF, so it needs one named.
        let prf = match (prf, integ) {
            (Some(p), _) => p,
            (None, Some(IntegAlg::HmacSha256_128)) => PrfAlg::HmacSha256,
            (None, Some(IntegAlg::HmacSha384_192)) => PrfAlg::HmacSha384,
            (None, Some(IntegAlg::HmacSha512_256)) => PrfAlg::HmacSha512,
            (None, Some(IntegAlg::HmacSha1_96)) => {
                return Err(format!("{s:?}: sha1 needs a PRF named (prfsha256 ...): PRF_HMAC_SHA1 is not offered"));
            }
            (None, None) => return Err(format!("{s:?}: no PRF (prfsha256 ...)")),
        };
        let dh = dh.ok_or_else(|| format!("{s:?}: no Diffie-Hellman group"))?;
        Ok(IkeProposal { encr, integ, prf, dh })
    }
}

impl FromStr for EspProposal {
    type Err = String;
    /// `aes256gcm16`, `aes128-sha256`, optionally with a PFS group: `aes256gcm16-ecp256`.
    fn from_str(s: &str) -> Result<EspProposal, String> {
        let (mut encr, mut integ, mut dh) = (None, None, None);
        for tok in s.split('-') {
            if let Some(e) = encr_of(tok).filter(|_| encr.is_none()) {
                encr = Some(e);
            } else if let Some(i) = integ_of(tok).filter(|_| integ.is_none()) {
                integ = Some(i);
            } else if let Some(d) = dh_of(tok).filter(|_| dh.is_none()) {
                dh = Some(d);
            } else {
                return Err(format!("{s:?}: unknown or repeated algorithm {tok:?}"));
            }
        }
        let encr = encr.ok_or_else(|| format!("{s:?}: no encryption algorithm"))?;
        aead_rule(encr, integ).map_err(|e| format!("{s:?}: {e}"))?;
        Ok(EspProposal { encr, integ, dh })
    }
}

fn encr_name(e: EncrAlg) -> String {
    match e {
        EncrAlg::AesGcm16 { key_bits } => format!("aes{key_bits}gcm16"),
        EncrAlg::AesCbc { key_bits } => format!("aes{key_bits}"),
    }
}

fn integ_name(i: IntegAlg) -> &'static str {
    match i {
        IntegAlg::HmacSha1_96 => "sha1",
        IntegAlg::HmacSha256_128 => "sha256",
        IntegAlg::HmacSha384_192 => "sha384",
        IntegAlg::HmacSha512_256 => "sha512",
    }
}

fn prf_name(p: PrfAlg) -> &'static str {
    match p {
        PrfAlg::HmacSha256 => "prfsha256",
        PrfAlg::HmacSha384 => "prfsha384",
        PrfAlg::HmacSha512 => "prfsha512",
    }
}

fn dh_name(d: DhGroup) -> &'static str {
    match d {
        DhGroup::Modp2048 => "modp2048",
        DhGroup::Ecp256 => "ecp256",
        DhGroup::Curve25519 => "curve25519",
    }
}

impl std::fmt::Display for IkeProposal {
    /// The configuration's syntax: `aes256gcm16-prfsha256-ecp256`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&encr_name(self.encr))?;
        if let Some(i) = self.integ {
            write!(f, "-{}", integ_name(i))?;
        }
        write!(f, "-{}-{}", prf_name(self.prf), dh_name(self.dh))
    }
}

impl std::fmt::Display for EspProposal {
    /// The configuration's syntax: `aes256gcm16`, `aes128-sha256-modp2048`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&encr_name(self.encr))?;
        if let Some(i) = self.integ {
            write!(f, "-{}", integ_name(i))?;
        }
        if let Some(d) = self.dh {
            write!(f, "-{}", dh_name(d))?;
        }
        Ok(())
    }
}

/// A traffic selector as configured: a prefix, optionally one protocol and one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TsConfig {
    /// The prefix's address.
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
    /// IP protocol (0: any).
    pub proto: u8,
    /// Port (0: any).
    pub port: u16,
}

impl FromStr for TsConfig {
    type Err = String;
    /// `10.1.0.0/24`, `10.1.0.1` (a host), `10.1.0.0/24[17/53]` (UDP port 53).
    fn from_str(s: &str) -> Result<TsConfig, String> {
        let (net, extra) = match s.split_once('[') {
            Some((n, rest)) => (n, Some(rest.strip_suffix(']').ok_or_else(|| format!("{s:?}: missing ']'"))?)),
            None => (s, None),
        };
        let (addr, prefix) = match net.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (net, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| format!("{s:?}: not an address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("{s:?}: bad prefix length"))?,
            None => max,
        };
        let (mut proto, mut port) = (0, 0);
        if let Some(extra) = extra {
            let (p, o) = extra.split_once('/').unwrap_or((extra, "0"));
            proto = p.parse().map_err(|_| format!("{s:?}: bad protocol"))?;
            port = o.parse().map_err(|_| format!("{s:?}: bad port"))?;
        }
        Ok(TsConfig { addr: mask(addr, prefix), prefix, proto, port })
    }
}

/// `addr` with the bits past `prefix` cleared.
pub fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix.min(32))) };
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix.min(128))) };
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

/// Parses an identity: `fqdn:host.example`, `email:user@example`, `ipv4:192.0.2.1`,
/// `ipv6:2001:db8::1`, `keyid:hex`; a bare address is an IP identity and anything else an FQDN.
pub fn parse_identity(s: &str) -> Result<Identification, String> {
    let (kind, value) = match s.split_once(':') {
        Some((k @ ("fqdn" | "email" | "ipv4" | "ipv6" | "keyid"), v)) => (k, v),
        _ => match s.parse::<IpAddr>() {
            Ok(IpAddr::V4(_)) => ("ipv4", s),
            Ok(IpAddr::V6(_)) => ("ipv6", s),
            Err(_) => ("fqdn", s),
        },
    };
    let id = match kind {
        "fqdn" => Identification { kind: IdType::Fqdn, data: value.as_bytes().to_vec() },
        "email" => Identification { kind: IdType::Rfc822Addr, data: value.as_bytes().to_vec() },
        "ipv4" => {
            let a: std::net::Ipv4Addr = value.parse().map_err(|_| format!("{s:?}: not an IPv4 address"))?;
            Identification { kind: IdType::Ipv4Addr, data: a.octets().to_vec() }
        }
        "ipv6" => {
            let a: std::net::Ipv6Addr = value.parse().map_err(|_| format!("{s:?}: not an IPv6 address"))?;
            Identification { kind: IdType::Ipv6Addr, data: a.octets().to_vec() }
        }
        _ => Identification { kind: IdType::KeyId, data: hex_decode(value).ok_or_else(|| format!("{s:?}: not hex"))? },
    };
    if id.data.is_empty() {
        return Err(format!("{s:?}: empty identity"));
    }
    Ok(id)
}

/// Decodes hex (even length, no separators).
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Renders an identity the way [`parse_identity`] reads it.
pub fn identity_text(id: &Identification) -> String {
    match id.kind {
        IdType::Fqdn => format!("fqdn:{}", String::from_utf8_lossy(&id.data)),
        IdType::Rfc822Addr => format!("email:{}", String::from_utf8_lossy(&id.data)),
        IdType::Ipv4Addr if id.data.len() == 4 => {
            format!("ipv4:{}", std::net::Ipv4Addr::from(<[u8; 4]>::try_from(&id.data[..]).expect("4 bytes")))
        }
        IdType::Ipv6Addr if id.data.len() == 16 => {
            format!("ipv6:{}", std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&id.data[..]).expect("16 bytes")))
        }
        _ => format!("{:?}:{}", id.kind, id.data.iter().map(|b| format!("{b:02x}")).collect::<String>()),
    }
}

/// One connection, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Its name (`ikev2d ctl initiate NAME`).
    pub name: String,
    /// The local address IKE and ESP use.
    pub local: IpAddr,
    /// The peer's address; `None` (`%any`): a responder accepting any peer that authenticates.
    pub remote: Option<IpAddr>,
    /// The peer's IKE port (the daemon's `port` unless set).
    pub remote_port: u16,
    /// The peer's NAT-T port (the daemon's `nat_port` unless set).
    pub remote_nat_port: u16,
    /// Our identity (IDi or IDr).
    pub local_id: Identification,
    /// The identity the peer must authenticate as.
    pub remote_id: Identification,
    /// The pre-shared key.
    pub psk: Vec<u8>,
    /// IKE proposals, preferred first.
    pub ike: Vec<IkeProposal>,
    /// ESP proposals, preferred first.
    pub esp: Vec<EspProposal>,
    /// Our side's traffic selectors.
    pub local_ts: Vec<TsConfig>,
    /// The peer's side's traffic selectors.
    pub remote_ts: Vec<TsConfig>,
    /// Initiate when the daemon starts.
    pub start: bool,
    /// Rekey each Child SA after this many seconds (0: never).
    pub rekey_child_s: u64,
    /// Rekey the IKE SA after this many seconds (0: never).
    pub rekey_ike_s: u64,
    /// Send a liveness check after this many seconds without a message from the peer (0: never).
    pub dpd_s: u64,
}

impl Connection {
    /// The peer's IKE endpoint, when the peer is known.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote.map(|ip| SocketAddr::new(ip, self.remote_port))
    }

    /// Whether a datagram from `remote` to `local` may belong to this connection.
    pub fn matches(&self, local: IpAddr, remote: IpAddr) -> bool {
        (self.local == local || self.local.is_unspecified()) && self.remote.is_none_or(|r| r == remote)
    }
}

/// The daemon's own settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonConfig {
    /// The kernel backend: `auto` (PF_KEY when the kernel has it, else XFRM), `afkey`, `xfrm` or
    /// `model` (the in-memory kernel; needs no root).
    #[serde(default = "default_backend")]
    pub backend: String,
    /// The control socket's path.
    #[serde(default = "default_control")]
    pub control: PathBuf,
    /// The IKE port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The NAT-T port.
    #[serde(default = "default_nat_port")]
    pub nat_port: u16,
    /// Half-open IKE SAs from which on a responder asks for a cookie (RFC 7296 §2.6).
    #[serde(default = "default_cookie_threshold")]
    pub cookie_threshold: usize,
    /// The first retransmission timeout (ms); each next one is 1.8 times longer.
    #[serde(default = "default_retransmit_ms")]
    pub retransmit_ms: u64,
    /// Retransmissions before an exchange (and its IKE SA) is given up.
    #[serde(default = "default_retransmit_tries")]
    pub retransmit_tries: u32,
}

fn default_backend() -> String {
    "auto".into()
}
fn default_control() -> PathBuf {
    "/run/ikev2d.sock".into()
}
fn default_port() -> u16 {
    500
}
fn default_nat_port() -> u16 {
    4500
}
fn default_cookie_threshold() -> usize {
    64
}
fn default_retransmit_ms() -> u64 {
    4000
}
fn default_retransmit_tries() -> u32 {
    5
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            backend: default_backend(),
            control: default_control(),
            port: default_port(),
            nat_port: default_nat_port(),
            cookie_threshold: default_cookie_threshold(),
            retransmit_ms: default_retransmit_ms(),
            retransmit_tries: default_retransmit_tries(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConnection {
    name: String,
    local: String,
    remote: String,
    remote_port: Option<u16>,
    remote_nat_port: Option<u16>,
    local_id: Option<String>,
    remote_id: Option<String>,
    psk: Option<String>,
    psk_hex: Option<String>,
    #[serde(default = "default_ike")]
    ike: Vec<String>,
    #[serde(default = "default_esp")]
    esp: Vec<String>,
    local_ts: Vec<String>,
    remote_ts: Vec<String>,
    #[serde(default)]
    start: bool,
    #[serde(default = "default_rekey_child")]
    rekey_child_s: u64,
    #[serde(default = "default_rekey_ike")]
    rekey_ike_s: u64,
    #[serde(default = "default_dpd")]
    dpd_s: u64,
}

fn default_ike() -> Vec<String> {
    vec!["aes256gcm16-prfsha256-ecp256".into(), "aes128-sha256-prfsha256-modp2048".into()]
}
fn default_esp() -> Vec<String> {
    vec!["aes256gcm16".into(), "aes128-sha256".into()]
}
fn default_rekey_child() -> u64 {
    3600
}
fn default_rekey_ike() -> u64 {
    4 * 3600
}
fn default_dpd() -> u64 {
    30
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    daemon: DaemonConfig,
    #[serde(default)]
    connection: Vec<RawConnection>,
}

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The daemon's settings.
    pub daemon: DaemonConfig,
    /// The connections.
    pub connections: Vec<Connection>,
}

impl Config {
    /// Parses and checks a TOML configuration.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
        let mut connections: Vec<Connection> = Vec::new();
        for c in raw.connection {
            let conn = c.check(&raw.daemon)?;
            if connections.iter().any(|x| x.name == conn.name) {
                return Err(ConfigError::DuplicateName(conn.name));
            }
            connections.push(conn);
        }
        Ok(Config { daemon: raw.daemon, connections })
    }
}

impl RawConnection {
    fn check(self, d: &DaemonConfig) -> Result<Connection, ConfigError> {
        let name = self.name.clone();
        let err = |field: &'static str, message: String| ConfigError::Field { conn: name.clone(), field, message };
        let local: IpAddr =
            self.local.parse().map_err(|_| err("local", format!("{:?} is not an address", self.local)))?;
        let remote = if self.remote == "%any" {
            None
        } else {
            Some(
                self.remote
                    .parse::<IpAddr>()
                    .map_err(|_| err("remote", format!("{:?} is not an address", self.remote)))?,
            )
        };
        if remote.is_some_and(|r| r.is_ipv4() != local.is_ipv4()) {
            return Err(err("remote", "local and remote must be of one family".into()));
        }
        let local_id =
            parse_identity(self.local_id.as_deref().unwrap_or(&self.local)).map_err(|e| err("local_id", e))?;
        let remote_id = match (&self.remote_id, remote) {
            (Some(s), _) => parse_identity(s).map_err(|e| err("remote_id", e))?,
            (None, Some(r)) => parse_identity(&r.to_string()).map_err(|e| err("remote_id", e))?,
            (None, None) => return Err(err("remote_id", "required when remote is %any".into())),
        };
        let psk = match (self.psk, self.psk_hex) {
            (Some(p), None) => p.into_bytes(),
            (None, Some(h)) => hex_decode(&h).ok_or_else(|| err("psk_hex", "not hex".into()))?,
            _ => return Err(err("psk", "give exactly one of psk and psk_hex".into())),
        };
        if psk.len() < 8 {
            return Err(err("psk", "shorter than 8 bytes".into()));
        }
        let ike =
            self.ike.iter().map(|s| s.parse()).collect::<Result<Vec<IkeProposal>, _>>().map_err(|e| err("ike", e))?;
        let esp =
            self.esp.iter().map(|s| s.parse()).collect::<Result<Vec<EspProposal>, _>>().map_err(|e| err("esp", e))?;
        if ike.is_empty() || esp.is_empty() {
            return Err(err("ike", "at least one IKE and one ESP proposal".into()));
        }
        let ts = |v: &[String], field| -> Result<Vec<TsConfig>, ConfigError> {
            let t = v.iter().map(|s| s.parse()).collect::<Result<Vec<TsConfig>, _>>().map_err(|e| err(field, e))?;
            if t.is_empty() {
                return Err(err(field, "at least one traffic selector".into()));
            }
            Ok(t)
        };
        let local_ts = ts(&self.local_ts, "local_ts")?;
        let remote_ts = ts(&self.remote_ts, "remote_ts")?;
        if self.start && remote.is_none() {
            return Err(err("start", "a connection to %any cannot be initiated".into()));
        }
        Ok(Connection {
            name: self.name,
            local,
            remote,
            remote_port: self.remote_port.unwrap_or(d.port),
            remote_nat_port: self.remote_nat_port.unwrap_or(d.nat_port),
            local_id,
            remote_id,
            psk,
            ike,
            esp,
            local_ts,
            remote_ts,
            start: self.start,
            rekey_child_s: self.rekey_child_s,
            rekey_ike_s: self.rekey_ike_s,
            dpd_s: self.dpd_s,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [daemon]
        backend = "model"
        port = 15000
        nat_port = 14500

        [[connection]]
        name = "gw"
        local = "127.0.0.1"
        remote = "127.0.0.2"
        local_id = "fqdn:a.example"
        remote_id = "fqdn:b.example"
        psk = "a long shared secret"
        ike = ["aes256gcm16-prfsha256-ecp256", "aes128-sha256-modp2048"]
        esp = ["aes128gcm16", "aes256-sha256-curve25519"]
        local_ts = ["10.1.0.0/24"]
        remote_ts = ["10.2.0.1", "10.3.0.0/16[17/53]"]
        start = true
    "#;

    #[test]
    fn a_full_connection_parses_with_its_defaults() {
        let c = Config::parse(GOOD).unwrap();
        assert_eq!(c.daemon.port, 15000);
        assert_eq!(c.daemon.retransmit_tries, 5);
        let gw = &c.connections[0];
        assert_eq!(gw.remote_addr(), Some("127.0.0.2:15000".parse().unwrap()));
        assert_eq!(gw.remote_nat_port, 14500);
        assert_eq!(gw.local_id, Identification { kind: IdType::Fqdn, data: b"a.example".to_vec() });
        assert_eq!(
            gw.ike,
            [
                IkeProposal {
                    encr: EncrAlg::AesGcm16 { key_bits: 256 },
                    integ: None,
                    prf: PrfAlg::HmacSha256,
                    dh: DhGroup::Ecp256
                },
                IkeProposal {
                    encr: EncrAlg::AesCbc { key_bits: 128 },
                    integ: Some(IntegAlg::HmacSha256_128),
                    prf: PrfAlg::HmacSha256,
                    dh: DhGroup::Modp2048
                },
            ]
        );
        assert_eq!(gw.esp[1].dh, Some(DhGroup::Curve25519));
        assert_eq!(gw.remote_ts[0], TsConfig { addr: "10.2.0.1".parse().unwrap(), prefix: 32, proto: 0, port: 0 });
        assert_eq!(gw.remote_ts[1], TsConfig { addr: "10.3.0.0".parse().unwrap(), prefix: 16, proto: 17, port: 53 });
        assert_eq!(gw.rekey_child_s, 3600);
    }

    #[test]
    fn every_bad_field_is_named() {
        let bad = |from: &str, to: &str| Config::parse(&GOOD.replace(from, to)).unwrap_err();
        let field = |e: ConfigError| match e {
            ConfigError::Field { field, .. } => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(bad(r#"local = "127.0.0.1""#, r#"local = "nope""#)), "local");
        assert_eq!(field(bad(r#"remote = "127.0.0.2""#, r#"remote = "::1""#)), "remote");
        assert_eq!(field(bad("aes256gcm16-prfsha256-ecp256", "aes256gcm16-sha256-prfsha256-ecp256")), "ike");
        assert_eq!(field(bad("aes256gcm16-prfsha256-ecp256", "aes256gcm16-prfsha256")), "ike");
        assert_eq!(field(bad(r#""aes128gcm16""#, r#""aes128""#)), "esp");
        assert_eq!(field(bad(r#"psk = "a long shared secret""#, r#"psk = "short""#)), "psk");
        assert_eq!(field(bad(r#"["10.1.0.0/24"]"#, r#"["10.1.0.0/33"]"#)), "local_ts");
        assert_eq!(field(bad(r#"remote_id = "fqdn:b.example""#, r#"remote_id = "ipv4:300.1.1.1""#)), "remote_id");
        assert!(matches!(bad("start = true", "start = 1"), ConfigError::Toml(_)));
        assert!(matches!(bad("start = true", "strat = true"), ConfigError::Toml(_)));
        let two = format!(
            "{GOOD}\n[[connection]]\nname = \"gw\"\nlocal = \"127.0.0.1\"\nremote = \"127.0.0.2\"\npsk = \"0123456789\"\nlocal_ts = [\"10.1.0.0/24\"]\nremote_ts = [\"10.2.0.0/24\"]\n"
        );
        assert_eq!(Config::parse(&two).unwrap_err(), ConfigError::DuplicateName("gw".into()));
    }

    #[test]
    fn proposals_render_in_the_syntax_they_are_read_in() {
        for s in
            ["aes256gcm16-prfsha256-ecp256", "aes128-sha256-prfsha384-modp2048", "aes128gcm16-prfsha512-curve25519"]
        {
            assert_eq!(s.parse::<IkeProposal>().unwrap().to_string(), s);
        }
        for s in ["aes256gcm16", "aes128-sha256-modp2048", "aes256-sha256", "aes128-sha1-modp2048"] {
            assert_eq!(s.parse::<EspProposal>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn without_a_prf_token_the_prf_is_the_integrity_algorithms_hash_and_sha1_needs_one_named() {
        let prf = |s: &str| s.parse::<IkeProposal>().map(|p| p.prf);
        assert_eq!(prf("aes128-sha256-modp2048"), Ok(PrfAlg::HmacSha256));
        assert_eq!(prf("aes128-sha384-modp2048"), Ok(PrfAlg::HmacSha384));
        assert_eq!(prf("aes256-sha512-ecp256"), Ok(PrfAlg::HmacSha512));
        assert_eq!(prf("aes128-sha1-prfsha256-modp2048"), Ok(PrfAlg::HmacSha256));
        let e = prf("aes128-sha1-modp2048").unwrap_err();
        assert!(e.contains("sha1 needs a PRF named"), "{e}");
        let esp: EspProposal = "aes128-sha1".parse().unwrap();
        assert_eq!(esp.integ, Some(IntegAlg::HmacSha1_96));
    }

    #[test]
    fn identities_read_and_render_both_ways() {
        for s in ["fqdn:gw.example", "email:a@b.example", "ipv4:192.0.2.1", "ipv6:2001:db8::1"] {
            assert_eq!(identity_text(&parse_identity(s).unwrap()), s);
        }
        assert_eq!(parse_identity("192.0.2.1").unwrap().kind, IdType::Ipv4Addr);
        assert_eq!(parse_identity("keyid:00ff").unwrap().data, [0, 0xff]);
        assert!(parse_identity("keyid:0").is_err());
        assert!(parse_identity("fqdn:").is_err());
    }
}

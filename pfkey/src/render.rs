//! Readable renderings: one message as a dissector shows it, and SA/policy lists as
//! `setkey -D` / `setkey -DP` print them.
//!
//! [`message`] (or the [`Rendered`] `Display` wrapper) writes a header line (message type,
//! SA type, errno number and name, seq, pid, length) and one line per extension with its C name,
//! its type number in the chosen dialect and every field; lists inside an extension (policy
//! requests, supported algorithms, proposal combinations) get one indented line per item.
//! Enumerations are shown by their C names (as in the JSON form); values without a name show as
//! `unknown(n)`. Reserved fields are shown only when they are not zero, and `trailing=` shows the
//! bytes a structure carries beyond its content when they are not plain zero padding.
//!
//! ```
//! use pfkey::message::{build, SockAddr};
//! use pfkey::wire::{Dialect, numbers::SaType};
//!
//! let a = SockAddr::new("192.0.2.1".parse().unwrap());
//! let b = SockAddr::new("198.51.100.1".parse().unwrap());
//! let text = pfkey::render::message(&build::delete(SaType::Esp, 0x1234, a, b).with_seq(5), Dialect::Linux);
//! assert!(text.starts_with("SADB_DELETE (4) satype=SADB_SATYPE_ESP (3) errno=0 (OK) seq=5 pid=0"));
//! assert!(text.contains("SADB_EXT_SA (1): spi=0x00001234 (4660)"));
//! ```
//!
//! The list renderers ([`sa_list`], [`policy_list`]) take the typed [`SaSpec`]/[`PolicySpec`]
//! (plus an SA's current lifetime) and print lower-case `setkey` names (`esp`, `tunnel`,
//! `aes-gcm-16`, `unique#1`). They read no clock: times are printed as the seconds the kernel
//! reported.

use core::fmt::{self, Display, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::message::hex;
use crate::message::{
    Address, Alg, Comb, Extension, IpsecRequest, Lifetime, Message, PolicySpec, SaSpec, SockAddr, Template,
};
use crate::wire::Dialect;
use crate::wire::numbers::*;

// ---------------------------------------------------------------------------------------------
// Names of numbered values.

/// A protocol enum with C names (every `numbered!` enum of [`crate::wire::numbers`]).
trait Named: Copy {
    fn c_name(self) -> Option<&'static str>;
    fn number(self) -> u64;
}

macro_rules! named {
    ($($t:ty),* $(,)?) => {
        $(impl Named for $t {
            fn c_name(self) -> Option<&'static str> {
                self.name()
            }
            fn number(self) -> u64 {
                self.value() as u64
            }
        })*
    };
}

named!(MessageType, SaType, SaState, AuthAlg, EncryptAlg, IdentType, Mode, PolicyDir, PolicyType, Level, NatTType);

/// `NAME`, or `unknown(n)` for a value without a name.
struct N<T>(T);

impl<T: Named> Display for N<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.c_name() {
            Some(n) => f.write_str(n),
            None => write!(f, "unknown({})", self.0.number()),
        }
    }
}

/// `NAME (n)`, or `unknown (n)`.
struct NumName<T>(T);

impl<T: Named> Display for NumName<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0.c_name().unwrap_or("unknown"), self.0.number())
    }
}

/// The usual name of an IP protocol number (`esp`, `udp`, ...), if it has one.
fn ip_proto_name(proto: u16) -> Option<&'static str> {
    Some(match proto {
        1 => "icmp",
        4 => "ipip",
        6 => "tcp",
        17 => "udp",
        41 => "ipv6",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "ipv6-icmp",
        108 => "ipcomp",
        132 => "sctp",
        135 => "mh",
        255 => "any",
        _ => return None,
    })
}

/// An upper-layer protocol as `name(n)` (`any` alone for 255), or the bare number.
fn ulproto(proto: u16) -> String {
    match ip_proto_name(proto) {
        Some("any") => "any".into(),
        Some(n) => format!("{n}({proto})"),
        None => proto.to_string(),
    }
}

/// `SADB_SAFLAGS_*` bits as `0x... (PFS|NOECN)`.
fn sa_flags(flags: u32) -> String {
    const NAMES: [(u32, &str); 5] = [
        (SADB_SAFLAGS_PFS, "PFS"),
        (SADB_SAFLAGS_MOVABLE, "MOVABLE"),
        (SADB_SAFLAGS_NOPMTUDISC, "NOPMTUDISC"),
        (SADB_SAFLAGS_DECAP_DSCP, "DECAP_DSCP"),
        (SADB_SAFLAGS_NOECN, "NOECN"),
    ];
    let mut s = format!("0x{flags:08x}");
    if flags != 0 {
        let mut names: Vec<String> = NAMES.iter().filter(|(b, _)| flags & b != 0).map(|(_, n)| n.to_string()).collect();
        let rest = NAMES.iter().fold(flags, |f, (b, _)| f & !b);
        if rest != 0 {
            names.push(format!("0x{rest:x}"));
        }
        let _ = write!(s, " ({})", names.join("|"));
    }
    s
}

/// The sockaddr fields beyond address and port, when they are not zero.
fn sockaddr_extras(sa: &SockAddr) -> String {
    match *sa {
        SockAddr::V4 { zero, .. } if zero != [0; 8] => format!(" sin_zero={}", hex::encode(&zero)),
        SockAddr::V6 { flowinfo, scope_id, .. } => {
            let mut s = String::new();
            if flowinfo != 0 {
                let _ = write!(s, " flowinfo=0x{flowinfo:x}");
            }
            if scope_id != 0 {
                let _ = write!(s, " scope_id={scope_id}");
            }
            s
        }
        SockAddr::V4 { .. } => String::new(),
    }
}

/// An endpoint as `ip` or `ip[port]`, with any non-zero sockaddr extras.
fn endpoint(sa: &SockAddr) -> String {
    format!("{sa}{}", sockaddr_extras(sa))
}

/// ` trailing=<hex>` when a structure carries bytes beyond its canonical padding.
fn trailing(t: &Option<std::borrow::Cow<'_, [u8]>>) -> String {
    match t {
        Some(b) => format!(" trailing={}", hex::encode(b)),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// One message.

/// A message with the dialect it is shown in; `Display` writes the readable rendering.
///
/// The dialect decides the extension type numbers and the length shown (the message is encoded
/// in it to measure it; a message the dialect cannot carry says so in place of its length).
#[derive(Debug, Clone, Copy)]
pub struct Rendered<'r, 'a> {
    msg: &'r Message<'a>,
    dialect: Dialect,
}

impl<'r, 'a> Rendered<'r, 'a> {
    /// Wraps `msg` for display in `dialect`.
    pub fn new(msg: &'r Message<'a>, dialect: Dialect) -> Self {
        Rendered { msg, dialect }
    }
}

/// The readable multi-line rendering of `m` in `dialect` (ends with a newline).
pub fn message(m: &Message<'_>, dialect: Dialect) -> String {
    Rendered::new(m, dialect).to_string()
}

impl Display for Rendered<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.msg;
        let h = &m.header;
        write!(f, "{} satype={}", NumName(h.msg_type), NumName(h.satype))?;
        write!(f, " errno={} ({})", h.errno, errno_name(h.errno).unwrap_or("unknown"))?;
        write!(f, " seq={} pid={}", h.seq, h.pid)?;
        match m.to_bytes(self.dialect) {
            Ok(b) => write!(f, " len={} words ({} bytes)", b.len() / 8, b.len())?,
            Err(e) => write!(f, " len=? ({e})")?,
        }
        if h.version != PF_KEY_V2 {
            write!(f, " version={}", h.version)?;
        }
        if h.reserved != 0 {
            write!(f, " reserved={}", h.reserved)?;
        }
        writeln!(f)?;
        for ext in m.extensions.iter() {
            write_extension(f, &ext, h.msg_type, self.dialect)?;
        }
        Ok(())
    }
}

/// An address extension's fields: `ip/prefixlen port=N proto=P`.
fn address(a: &Address<'_>) -> String {
    let mut s = format!("{}/{} port={} proto={}", a.addr.ip(), a.prefixlen, a.addr.port(), ulproto(a.proto as u16));
    s.push_str(&sockaddr_extras(&a.addr));
    if a.reserved != 0 {
        let _ = write!(s, " reserved={}", a.reserved);
    }
    s.push_str(&trailing(&a.trailing));
    s
}

fn lifetime(l: &Lifetime) -> String {
    format!("allocations={} bytes={} addtime={} usetime={}", l.allocations, l.bytes, l.addtime, l.usetime)
}

/// The name of a SUPPORTED algorithm id (`SADB_AALG_*` or `SADB_EALG_*` by the extension).
fn alg_name(id: u8, encrypt: bool) -> String {
    if encrypt { N(EncryptAlg::from(id)).to_string() } else { N(AuthAlg::from(id)).to_string() }
}

fn supported_alg(a: &Alg, encrypt: bool) -> String {
    let mut s = format!("{} ({}) ivlen={} bits={}..{}", alg_name(a.id, encrypt), a.id, a.ivlen, a.minbits, a.maxbits);
    if a.reserved != 0 {
        let _ = write!(s, " reserved={}", a.reserved);
    }
    s
}

fn comb_lines(i: usize, c: &Comb) -> String {
    let mut s = format!(
        "    comb[{i}]: auth={} bits={}..{} encrypt={} bits={}..{} flags=0x{:04x}",
        N(c.auth.0),
        c.auth_minbits,
        c.auth_maxbits,
        N(c.encrypt.0),
        c.encrypt_minbits,
        c.encrypt_maxbits,
        c.flags
    );
    if c.reserved != 0 {
        let _ = write!(s, " reserved={}", c.reserved);
    }
    let _ = write!(
        s,
        "\n      soft: allocations={} bytes={} addtime={} usetime={}\n      hard: allocations={} bytes={} addtime={} usetime={}\n",
        c.soft_allocations,
        c.soft_bytes,
        c.soft_addtime,
        c.soft_usetime,
        c.hard_allocations,
        c.hard_bytes,
        c.hard_addtime,
        c.hard_usetime
    );
    s
}

fn request_line(i: usize, r: &IpsecRequest<'_>, migrate: bool) -> String {
    let role = match (migrate, i % 2) {
        (false, _) => "",
        (true, 0) => " (old)",
        (true, _) => " (new)",
    };
    let mut s = format!(
        "    request[{i}]{role}: {} mode={} level={} reqid={}",
        ulproto(r.proto),
        N(r.mode),
        N(r.level),
        r.reqid
    );
    if let Some(ep) = &r.endpoints {
        let _ = write!(s, " {}->{}", endpoint(&ep.src), endpoint(&ep.dst));
    }
    if r.reserved1 != 0 {
        let _ = write!(s, " reserved1={}", r.reserved1);
    }
    if r.reserved2 != 0 {
        let _ = write!(s, " reserved2={}", r.reserved2);
    }
    s.push_str(&trailing(&r.trailing));
    s.push('\n');
    s
}

/// An `xfrm_address_t` of `family` as text (hex when the family is neither inet nor inet6).
fn xfrm_address(b: &[u8; 16], family: u16) -> String {
    if family == AF_INET {
        Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()
    } else if family == AF_INET6_LINUX || family == AF_INET6_FREEBSD {
        IpAddr::V6(Ipv6Addr::from(*b)).to_string()
    } else {
        hex::encode(b)
    }
}

fn write_extension(f: &mut fmt::Formatter<'_>, ext: &Extension<'_>, msg_type: MessageType, d: Dialect) -> fmt::Result {
    use Extension as E;
    let number = match ext.ext_type(d) {
        Ok(n) => n.to_string(),
        Err(_) => format!("not in {d}"),
    };
    write!(f, "  {} ({number}): ", ext.name())?;
    match ext {
        E::Sa(s) => writeln!(
            f,
            "spi=0x{:08x} ({}) replay={} state={} auth={} encrypt={} flags={}",
            s.spi,
            s.spi,
            s.replay,
            N(s.state),
            N(s.auth),
            N(s.encrypt),
            sa_flags(s.flags)
        ),
        E::LifetimeCurrent(l) | E::LifetimeHard(l) | E::LifetimeSoft(l) => writeln!(f, "{}", lifetime(l)),
        E::AddressSrc(a)
        | E::AddressDst(a)
        | E::AddressProxy(a)
        | E::NatTOa(a)
        | E::NatTOai(a)
        | E::NatTOar(a)
        | E::NewAddressSrc(a)
        | E::NewAddressDst(a)
        | E::InnerAddressDst(a) => writeln!(f, "{}", address(a)),
        E::KeyAuth(k) | E::KeyEncrypt(k) => {
            write!(f, "bits={} key={}", k.bits, hex::encode(&k.key))?;
            if k.reserved != 0 {
                write!(f, " reserved={}", k.reserved)?;
            }
            writeln!(f, "{}", trailing(&k.trailing))
        }
        E::IdentitySrc(i) | E::IdentityDst(i) => {
            write!(f, "type={} id={} string=\"{}\"", N(i.ident_type), i.id, i.string.escape_ascii())?;
            if i.reserved != 0 {
                write!(f, " reserved={}", i.reserved)?;
            }
            match &i.trailing {
                Some(t) if t.is_empty() => writeln!(f, " (no NUL terminator)"),
                t => writeln!(f, "{}", trailing(t)),
            }
        }
        E::Sensitivity(s) => {
            write!(
                f,
                "dpd={} sens_level={} integ_level={} sens_bitmap={} integ_bitmap={}",
                s.dpd,
                s.sens_level,
                s.integ_level,
                hex::encode(&s.sens_bitmap),
                hex::encode(&s.integ_bitmap)
            )?;
            if s.reserved != 0 {
                write!(f, " reserved={}", s.reserved)?;
            }
            writeln!(f, "{}", trailing(&s.trailing))
        }
        E::Proposal(p) => {
            write!(f, "replay={} combs={}", p.replay, p.combs.len())?;
            if p.reserved != [0; 3] {
                write!(f, " reserved={}", hex::encode(&p.reserved))?;
            }
            writeln!(f, "{}", trailing(&p.trailing))?;
            for (i, c) in p.combs.iter().enumerate() {
                f.write_str(&comb_lines(i, &c))?;
            }
            Ok(())
        }
        E::SupportedAuth(s) | E::SupportedEncrypt(s) => {
            let encrypt = matches!(ext, E::SupportedEncrypt(_));
            write!(f, "algorithms={}", s.algs.len())?;
            if s.reserved != 0 {
                write!(f, " reserved={}", s.reserved)?;
            }
            writeln!(f)?;
            for a in s.algs.iter() {
                writeln!(f, "    {}", supported_alg(&a, encrypt))?;
            }
            Ok(())
        }
        E::SpiRange(r) => {
            write!(f, "min=0x{:08x} ({}) max=0x{:08x} ({})", r.min, r.min, r.max, r.max)?;
            if r.reserved != 0 {
                write!(f, " reserved={}", r.reserved)?;
            }
            writeln!(f)
        }
        E::KmPrivate(k) => {
            write!(f, "data={} ({} bytes)", hex::encode(&k.data), k.data.len())?;
            if k.reserved != 0 {
                write!(f, " reserved={}", k.reserved)?;
            }
            writeln!(f)
        }
        E::Policy(p) => {
            write!(
                f,
                "type={} dir={} id={} priority={} requests={}",
                N(p.policy_type),
                N(p.dir),
                p.id,
                p.priority,
                p.requests.len()
            )?;
            if p.reserved != 0 {
                let label = if d == Dialect::FreeBsd { "scope" } else { "reserved" };
                write!(f, " {label}={}", p.reserved)?;
            }
            writeln!(f)?;
            let migrate = msg_type == MessageType::XMigrate;
            for (i, r) in p.requests.iter().enumerate() {
                f.write_str(&request_line(i, &r, migrate))?;
            }
            Ok(())
        }
        E::Sa2(s) => {
            write!(f, "mode={} reqid={} sequence={}", N(s.mode), s.reqid, s.sequence)?;
            if s.reserved1 != 0 || s.reserved2 != 0 {
                write!(f, " reserved1={} reserved2={}", s.reserved1, s.reserved2)?;
            }
            writeln!(f)
        }
        E::NatTType(t) => {
            write!(f, "type={} ({})", N(t.nat_t_type), u8::from(t.nat_t_type))?;
            if t.reserved != [0; 3] {
                write!(f, " reserved={}", hex::encode(&t.reserved))?;
            }
            writeln!(f)
        }
        E::NatTSport(p) | E::NatTDport(p) => {
            write!(f, "port={}", p.port)?;
            if p.reserved != 0 {
                write!(f, " reserved={}", p.reserved)?;
            }
            writeln!(f)
        }
        E::SecCtx(c) => writeln!(
            f,
            "alg={} doi={} len={} ctx=\"{}\"{}",
            c.alg,
            c.doi,
            c.ctx.len(),
            c.ctx.escape_ascii(),
            trailing(&c.trailing)
        ),
        E::KmAddress(k) => {
            write!(f, "local={} remote={}", endpoint(&k.local), endpoint(&k.remote))?;
            if k.reserved != 0 {
                write!(f, " reserved={}", k.reserved)?;
            }
            writeln!(f, "{}", trailing(&k.trailing))
        }
        E::Filter(x) => writeln!(
            f,
            "family={} src={}/{} dst={}/{}",
            match x.family {
                AF_INET => format!("inet({AF_INET})"),
                AF_INET6_LINUX | AF_INET6_FREEBSD => format!("inet6({})", x.family),
                other => other.to_string(),
            },
            xfrm_address(&x.saddr, x.family),
            x.splen,
            xfrm_address(&x.daddr, x.family),
            x.dplen
        ),
        E::NatTFrag(x) => {
            write!(f, "fraglen={}", x.fraglen)?;
            if x.reserved != 0 {
                write!(f, " reserved={}", x.reserved)?;
            }
            writeln!(f)
        }
        E::SaReplay(x) => writeln!(f, "replay={}", x.replay),
        E::Unknown(u) => writeln!(f, "data={} ({} bytes)", hex::encode(&u.data), u.data.len()),
    }
}

// ---------------------------------------------------------------------------------------------
// setkey-style lists.

/// `setkey`'s lower-case name of an SA type / IPsec protocol.
fn satype_short(t: SaType) -> String {
    match t {
        SaType::Ah => "ah".into(),
        SaType::Esp => "esp".into(),
        SaType::XIpcomp => "ipcomp".into(),
        SaType::Unspec => "unspec".into(),
        other => format!("satype({})", u8::from(other)),
    }
}

fn mode_short(m: Mode) -> String {
    match m {
        Mode::Any => "any".into(),
        Mode::Transport => "transport".into(),
        Mode::Tunnel => "tunnel".into(),
        Mode::Beet => "beet".into(),
        Mode::Iptfs => "iptfs".into(),
        other => format!("mode({})", u8::from(other)),
    }
}

fn state_short(s: SaState) -> String {
    match s {
        SaState::Larval => "larval".into(),
        SaState::Mature => "mature".into(),
        SaState::Dying => "dying".into(),
        SaState::Dead => "dead".into(),
        other => format!("state({})", u8::from(other)),
    }
}

fn dir_short(d: PolicyDir) -> String {
    match d {
        PolicyDir::Any => "any".into(),
        PolicyDir::Inbound => "in".into(),
        PolicyDir::Outbound => "out".into(),
        PolicyDir::Fwd => "fwd".into(),
        other => format!("dir({})", u8::from(other)),
    }
}

fn policy_type_short(t: PolicyType) -> String {
    match t {
        PolicyType::Discard => "discard".into(),
        PolicyType::None => "none".into(),
        PolicyType::Ipsec => "ipsec".into(),
        PolicyType::Entrust => "entrust".into(),
        PolicyType::Bypass => "bypass".into(),
        other => format!("type({})", u16::from(other)),
    }
}

fn level_short(l: Level) -> String {
    match l {
        Level::Default => "default".into(),
        Level::Use => "use".into(),
        Level::Require => "require".into(),
        Level::Unique => "unique".into(),
        other => format!("level({})", u8::from(other)),
    }
}

fn auth_short(a: AuthAlg) -> String {
    a.setkey_name().map_or_else(|| format!("aalg({})", u8::from(a)), str::to_string)
}

fn encrypt_short(e: EncryptAlg) -> String {
    e.setkey_name().map_or_else(|| format!("ealg({})", u8::from(e)), str::to_string)
}

/// A key as `setkey` prints it: 4-byte groups of hex.
fn key_groups(key: &[u8]) -> String {
    key.chunks(4).map(hex::encode).collect::<Vec<_>>().join(" ")
}

/// `E:`/`A:` line: the algorithm, then the key when the kernel reported one.
fn alg_line(tag: &str, alg: String, key: &[u8]) -> String {
    if key.is_empty() { format!("\t{tag}: {alg}\n") } else { format!("\t{tag}: {alg}  {}\n", key_groups(key)) }
}

/// An address with an optional port in `setkey` form: `ip` or `ip[port]`.
fn with_port(ip: IpAddr, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("{ip}[{p}]"),
        None => ip.to_string(),
    }
}

/// One SA as `setkey -D` prints it (tab-indented lines after the address line; ends with a
/// newline). `current` is the SA's `SADB_EXT_LIFETIME_CURRENT`, when the kernel reported one;
/// times are printed as the kernel's seconds.
pub fn sa_entry(sa: &SaSpec, current: Option<&Lifetime>) -> String {
    let mut s = String::new();
    let (sport, dport) = match &sa.natt {
        Some(n) => (Some(n.sport), Some(n.dport)),
        None => (None, None),
    };
    let _ = writeln!(s, "{} {}", with_port(sa.src.ip(), sport), with_port(sa.dst.ip(), dport));
    let proto = match (&sa.natt, sa.satype) {
        (Some(_), SaType::Esp) => "esp-udp".to_string(),
        (_, t) => satype_short(t),
    };
    let _ = writeln!(
        s,
        "\t{proto} mode={} spi={}(0x{:08x}) reqid={}(0x{:08x})",
        mode_short(sa.mode),
        sa.spi,
        sa.spi,
        sa.reqid,
        sa.reqid
    );
    if let Some(e) = &sa.encrypt {
        s.push_str(&alg_line("E", encrypt_short(e.alg), &e.key));
    }
    if let Some(a) = &sa.auth {
        s.push_str(&alg_line("A", auth_short(a.alg), &a.key));
    }
    let _ = writeln!(s, "\treplay={} flags=0x{:08x} state={}", sa.replay, sa.flags, state_short(sa.state));
    if let Some(n) = &sa.natt {
        let _ = writeln!(s, "\tnat-t: {} sport={} dport={}", N(n.nat_t_type), n.sport, n.dport);
    }
    if let Some(i) = &sa.inner {
        let dst = i.dst.map_or_else(|| "-".to_string(), |d| d.ip().to_string());
        let _ = writeln!(s, "\tinner: {} -> {dst}", i.src.ip());
    }
    let hard = sa.hard.unwrap_or_default();
    let soft = sa.soft.unwrap_or_default();
    // The current values with their unit, or `-` when the kernel reported no current lifetime.
    let cur = |v: fn(&Lifetime) -> u64, unit: &str| current.map_or("-".to_string(), |c| format!("{}{unit}", v(c)));
    let _ =
        writeln!(s, "\tcreated: {}\thard: {}(s)\tsoft: {}(s)", cur(|c| c.addtime, "(s)"), hard.addtime, soft.addtime);
    let _ = writeln!(s, "\tlast: {}\thard: {}(s)\tsoft: {}(s)", cur(|c| c.usetime, "(s)"), hard.usetime, soft.usetime);
    let _ = writeln!(
        s,
        "\tcurrent: {}\thard: {}(bytes)\tsoft: {}(bytes)",
        cur(|c| c.bytes, "(bytes)"),
        hard.bytes,
        soft.bytes
    );
    let _ = writeln!(
        s,
        "\tallocated: {}\thard: {}\tsoft: {}",
        cur(|c| u64::from(c.allocations), ""),
        hard.allocations,
        soft.allocations
    );
    s
}

/// A list of SAs as `setkey -D` prints it (`No SAD entries.` when empty).
pub fn sa_list<'s>(entries: impl IntoIterator<Item = (&'s SaSpec, Option<&'s Lifetime>)>) -> String {
    let out: String = entries.into_iter().map(|(sa, cur)| sa_entry(sa, cur)).collect();
    if out.is_empty() { "No SAD entries.\n".into() } else { out }
}

/// A template as `setkey -DP` prints it: `esp/tunnel/src-dst/unique#1`.
fn template(t: &Template) -> String {
    let proto = ip_proto_name(t.proto).map_or_else(|| format!("proto({})", t.proto), str::to_string);
    let ends = t.endpoints.map_or(String::new(), |e| format!("{}-{}", endpoint(&e.src), endpoint(&e.dst)));
    let mut level = level_short(t.level);
    if t.reqid != 0 {
        let _ = write!(level, "#{}", t.reqid);
    }
    format!("{proto}/{}/{ends}/{level}", mode_short(t.mode))
}

/// A selector prefix in `setkey` form: `10.1.0.0/16[any]`.
fn prefix(sa: &SockAddr, len: u8) -> String {
    match sa.port() {
        0 => format!("{}/{len}[any]", sa.ip()),
        p => format!("{}/{len}[{p}]", sa.ip()),
    }
}

/// One policy as `setkey -DP` prints it (ends with a newline).
pub fn policy_entry(p: &PolicySpec) -> String {
    let sel = &p.selector;
    let mut s = format!(
        "{} {} {}\n",
        prefix(&sel.src, sel.src_prefixlen),
        prefix(&sel.dst, sel.dst_prefixlen),
        ip_proto_name(sel.proto.into()).map_or_else(|| sel.proto.to_string(), str::to_string)
    );
    let _ = writeln!(s, "\t{} prio {} {}", dir_short(p.dir), p.priority, policy_type_short(p.policy_type));
    for t in &p.templates {
        let _ = writeln!(s, "\t{}", template(t));
    }
    let _ = writeln!(s, "\tspid={}", p.id);
    s
}

/// A list of policies as `setkey -DP` prints it (`No SPD entries.` when empty).
pub fn policy_list<'p>(policies: impl IntoIterator<Item = &'p PolicySpec>) -> String {
    let out: String = policies.into_iter().map(policy_entry).collect();
    if out.is_empty() { "No SPD entries.\n".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_render_as_unknown_with_their_number() {
        assert_eq!(N(Mode::from(9)).to_string(), "unknown(9)");
        assert_eq!(N(Mode::Beet).to_string(), "IPSEC_MODE_BEET");
        assert_eq!(NumName(MessageType::from(99)).to_string(), "unknown (99)");
        assert_eq!(ulproto(255), "any");
        assert_eq!(ulproto(17), "udp(17)");
        assert_eq!(ulproto(200), "200");
    }

    #[test]
    fn sa_flags_name_known_bits_and_keep_the_rest() {
        assert_eq!(sa_flags(0), "0x00000000");
        assert_eq!(sa_flags(SADB_SAFLAGS_PFS | SADB_SAFLAGS_NOECN | 0x10), "0x80000011 (PFS|NOECN|0x10)");
        assert_eq!(sa_flags(SADB_SAFLAGS_MOVABLE), "0x10000000 (MOVABLE)");
    }

    #[test]
    fn setkey_key_groups_are_four_bytes() {
        assert_eq!(key_groups(&[1, 2, 3, 4, 5, 6]), "01020304 0506");
    }
}

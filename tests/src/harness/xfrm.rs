//! A direct XFRM netlink read of the SAD and SPD (`XFRM_MSG_GETSA` and `XFRM_MSG_GETPOLICY`
//! dumps on a `NETLINK_XFRM` socket opened in a peer's namespace): what the kernel really holds,
//! independent of PF_KEY's view of it (af_key's dump, for instance, leaves out a BEET template's
//! addresses and the SA selector's destination).
//!
//! Offsets are those of the uapi structs on 64-bit Linux (`struct xfrm_usersa_info`, 224 bytes;
//! `struct xfrm_userpolicy_info`, 168; `struct xfrm_user_tmpl`, 64; `struct xfrm_selector`, 56).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use serde::Serialize;

use super::HarnessError;
use super::topology::in_netns;

const NETLINK_XFRM: i32 = 6;
const XFRM_MSG_NEWSA: u16 = 16;
const XFRM_MSG_GETSA: u16 = 18;
const XFRM_MSG_NEWPOLICY: u16 = 19;
const XFRM_MSG_GETPOLICY: u16 = 21;
const XFRMA_TMPL: u16 = 5;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;

const SELECTOR_LEN: usize = 56;
const USERSA_LEN: usize = 224;
const USERPOLICY_LEN: usize = 168;
const USER_TMPL_LEN: usize = 64;

/// An `XFRM_MODE_*` as a word.
pub fn mode_name(mode: u8) -> &'static str {
    match mode {
        0 => "transport",
        1 => "tunnel",
        2 => "ro",
        3 => "in_trigger",
        4 => "beet",
        5 => "iptfs",
        _ => "?",
    }
}

/// A traffic selector (`struct xfrm_selector`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct XfrmSelector {
    /// Address family (`AF_INET`, `AF_INET6`, 0).
    pub family: u16,
    /// Source prefix.
    pub src: IpAddr,
    /// Source prefix length.
    pub src_len: u8,
    /// Destination prefix.
    pub dst: IpAddr,
    /// Destination prefix length.
    pub dst_len: u8,
}

impl std::fmt::Display for XfrmSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} -> {}/{}", self.src, self.src_len, self.dst, self.dst_len)
    }
}

/// One SA (`XFRM_MSG_NEWSA` of a dump).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct XfrmSa {
    /// Outer family.
    pub family: u16,
    /// Outer source.
    pub src: IpAddr,
    /// Outer destination.
    pub dst: IpAddr,
    /// SPI.
    pub spi: u32,
    /// `XFRM_MODE_*`.
    pub mode: u8,
    /// Request id.
    pub reqid: u32,
    /// The SA's selector (in BEET mode: the inner addresses).
    pub sel: XfrmSelector,
    /// Packets processed.
    pub packets: u64,
}

/// One policy template (`struct xfrm_user_tmpl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct XfrmTmpl {
    /// Encapsulation (outer) family.
    pub family: u16,
    /// Tunnel source.
    pub src: IpAddr,
    /// Tunnel destination.
    pub dst: IpAddr,
    /// `XFRM_MODE_*`.
    pub mode: u8,
    /// Request id.
    pub reqid: u32,
}

/// One policy (`XFRM_MSG_NEWPOLICY` of a dump).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct XfrmPolicy {
    /// `XFRM_POLICY_IN` 0, `OUT` 1, `FWD` 2.
    pub dir: u8,
    /// The selector.
    pub sel: XfrmSelector,
    /// The templates, in order.
    pub tmpls: Vec<XfrmTmpl>,
}

/// What XFRM netlink reports of one namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct XfrmDump {
    /// Every SA.
    pub sas: Vec<XfrmSa>,
    /// Every policy.
    pub policies: Vec<XfrmPolicy>,
}

impl XfrmDump {
    /// Reads the SAD and SPD of namespace `ns`.
    pub fn read(ns: &str) -> Result<XfrmDump, HarnessError> {
        in_netns(ns, || {
            let fd = open()?;
            let sas = dump(&fd, XFRM_MSG_GETSA, 1)?
                .iter()
                .filter(|(ty, _)| *ty == XFRM_MSG_NEWSA)
                .filter_map(|(_, b)| parse_sa(b))
                .collect();
            let policies = dump(&fd, XFRM_MSG_GETPOLICY, 2)?
                .iter()
                .filter(|(ty, _)| *ty == XFRM_MSG_NEWPOLICY)
                .filter_map(|(_, b)| parse_policy(b))
                .collect();
            Ok(XfrmDump { sas, policies })
        })
    }

    /// How many SAs and templates name `addr` as an outer address.
    pub fn outer_mentions(&self, addr: IpAddr) -> usize {
        self.sas.iter().filter(|s| s.src == addr || s.dst == addr).count()
            + self.policies.iter().flat_map(|p| &p.tmpls).filter(|t| t.src == addr || t.dst == addr).count()
    }
}

fn io(what: &str) -> HarnessError {
    HarnessError::Io { what: what.to_string(), source: std::io::Error::last_os_error() }
}

fn open() -> Result<OwnedFd, HarnessError> {
    // SAFETY: plain socket(2).
    let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, NETLINK_XFRM) };
    if fd < 0 {
        return Err(io("socket(NETLINK_XFRM)"));
    }
    // SAFETY: a fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let tv = libc::timeval { tv_sec: 5, tv_usec: 0 };
    // SAFETY: a timeval option on a valid socket.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
    }
    Ok(fd)
}

/// Sends a dump request of `ty` (no body: no filter) and returns every message of the answer as
/// (type, payload after the `nlmsghdr`).
fn dump(fd: &OwnedFd, ty: u16, seq: u32) -> Result<Vec<(u16, Vec<u8>)>, HarnessError> {
    let mut req = Vec::with_capacity(16);
    req.extend_from_slice(&16u32.to_ne_bytes());
    req.extend_from_slice(&ty.to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req.extend_from_slice(&seq.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    // SAFETY: a buffer and its length; the kernel is a netlink socket's default destination.
    if unsafe { libc::send(fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) } < 0 {
        return Err(io("XFRM dump request"));
    }
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        // SAFETY: a buffer and its length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io("XFRM dump"));
        }
        let mut b = &buf[..n as usize];
        while b.len() >= 16 {
            let len = u32::from_ne_bytes(b[..4].try_into().expect("4 bytes")) as usize;
            let mty = u16::from_ne_bytes([b[4], b[5]]);
            let mseq = u32::from_ne_bytes(b[8..12].try_into().expect("4 bytes"));
            if len < 16 || len > b.len() {
                break;
            }
            if mseq == seq {
                match mty {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let err = b.get(16..20).map_or(0, |e| i32::from_ne_bytes(e.try_into().expect("4 bytes")));
                        return Err(HarnessError::Io {
                            what: format!("XFRM dump of message type {ty}"),
                            source: std::io::Error::from_raw_os_error(-err),
                        });
                    }
                    _ => out.push((mty, b[16..len].to_vec())),
                }
            }
            b = &b[((len + 3) & !3).min(b.len())..];
        }
    }
}

fn addr(family: u16, b: &[u8]) -> IpAddr {
    if i32::from(family) == libc::AF_INET6 {
        IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&b[..16]).expect("16 bytes")))
    } else {
        IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    }
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_ne_bytes([b[o], b[o + 1]])
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_ne_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}

fn parse_selector(b: &[u8]) -> XfrmSelector {
    let family = u16_at(b, 40);
    XfrmSelector { family, dst: addr(family, &b[0..16]), src: addr(family, &b[16..32]), dst_len: b[42], src_len: b[43] }
}

fn parse_sa(b: &[u8]) -> Option<XfrmSa> {
    if b.len() < USERSA_LEN {
        return None;
    }
    let family = u16_at(b, 212);
    Some(XfrmSa {
        family,
        dst: addr(family, &b[56..72]),
        spi: u32::from_be_bytes(b[72..76].try_into().expect("4 bytes")),
        src: addr(family, &b[80..96]),
        mode: b[214],
        reqid: u32_at(b, 208),
        sel: parse_selector(&b[..SELECTOR_LEN]),
        packets: u64::from_ne_bytes(b[168..176].try_into().expect("8 bytes")),
    })
}

fn parse_policy(b: &[u8]) -> Option<XfrmPolicy> {
    if b.len() < USERPOLICY_LEN {
        return None;
    }
    let mut p = XfrmPolicy { dir: b[160], sel: parse_selector(&b[..SELECTOR_LEN]), tmpls: Vec::new() };
    let mut a = &b[USERPOLICY_LEN..];
    while a.len() >= 4 {
        let len = usize::from(u16_at(a, 0));
        let ty = u16_at(a, 2) & 0x3fff;
        if len < 4 || len > a.len() {
            break;
        }
        if ty == XFRMA_TMPL {
            for t in a[4..len].chunks_exact(USER_TMPL_LEN) {
                let family = u16_at(t, 24);
                p.tmpls.push(XfrmTmpl {
                    family,
                    dst: addr(family, &t[0..16]),
                    src: addr(family, &t[28..44]),
                    reqid: u32_at(t, 44),
                    mode: t[48],
                });
            }
        }
        a = &a[((len + 3) & !3).min(a.len())..];
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sa_reads_its_addresses_spi_mode_reqid_selector_and_packets() {
        let mut b = vec![0u8; USERSA_LEN];
        b[0..4].copy_from_slice(&[0, 0, 0, 0]); // sel daddr 0.0.0.0/0
        b[16..20].copy_from_slice(&[10, 2, 0, 1]); // sel saddr 10.2.0.1/32
        b[40..42].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        b[43] = 32;
        let v6: Ipv6Addr = "2001:db8:b::7".parse().unwrap();
        b[56..72].copy_from_slice(&v6.octets());
        b[72..76].copy_from_slice(&0x2002u32.to_be_bytes());
        b[80..96].copy_from_slice(&"2001:db8:ff::1".parse::<Ipv6Addr>().unwrap().octets());
        b[168..176].copy_from_slice(&77u64.to_ne_bytes());
        b[208..212].copy_from_slice(&2u32.to_ne_bytes());
        b[212..214].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        b[214] = 4;
        let sa = parse_sa(&b).unwrap();
        assert_eq!((sa.dst, sa.spi, sa.mode, sa.reqid, sa.packets), (IpAddr::V6(v6), 0x2002, 4, 2, 77));
        assert_eq!(sa.sel.to_string(), "10.2.0.1/32 -> 0.0.0.0/0");
        assert_eq!(mode_name(sa.mode), "beet");
    }

    #[test]
    fn a_policy_reads_its_templates_from_xfrma_tmpl() {
        let mut b = vec![0u8; USERPOLICY_LEN];
        b[40..42].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        b[160] = 1;
        let mut attr = Vec::new();
        attr.extend_from_slice(&((4 + 2 * USER_TMPL_LEN) as u16).to_ne_bytes());
        attr.extend_from_slice(&XFRMA_TMPL.to_ne_bytes());
        for reqid in [1u32, 2] {
            let mut t = vec![0u8; USER_TMPL_LEN];
            t[0..4].copy_from_slice(&[198, 51, 100, 1]);
            t[24..26].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
            t[28..32].copy_from_slice(&[192, 0, 2, 10]);
            t[44..48].copy_from_slice(&reqid.to_ne_bytes());
            t[48] = 1;
            attr.extend_from_slice(&t);
        }
        b.extend_from_slice(&attr);
        let p = parse_policy(&b).unwrap();
        assert_eq!(p.dir, 1);
        assert_eq!(p.tmpls.len(), 2);
        assert_eq!(p.tmpls[1].reqid, 2);
        assert_eq!(p.tmpls[0].src, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)));
        let d = XfrmDump { sas: Vec::new(), policies: vec![p] };
        assert_eq!(d.outer_mentions(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1))), 2);
    }
}

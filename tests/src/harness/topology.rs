//! The `two-uplinks` topology: network namespaces `mobile` and `gw`, two veth links between them,
//! the gateway's tunnel endpoint and both inner networks on dummy interfaces.
//!
//! ```text
//!  mobile                                              gw
//!  inner0 10.1.0.1/16                                  inner0 10.2.0.1/16
//!  m-wifi 192.0.2.10/24     ── uplink A "wifi" ──      g-wifi 192.0.2.1/24
//!         2001:db8:a::10/64                                   2001:db8:a::1/64
//!  m-lte  203.0.113.7/24    ── uplink B "lte"  ──      g-lte  203.0.113.1/24
//!         2001:db8:b::7/64                                    2001:db8:b::1/64
//!                                                      endpoint0 198.51.100.1/32, 2001:db8:ff::1/128
//!                                                                (the tunnel endpoint)
//! ```
//!
//! An uplink gets the addresses of the outer family the scenario uses on it (`outer`), IPv6 ones
//! from the documentation prefix 2001:db8::/32 with duplicate address detection off (`nodad`, and
//! `accept_dad=0` in both namespaces) so that they are usable at once.
//! The mobile reaches the endpoint through a host route via the active uplink's gateway address
//! (the lab kernel has no policy routing, so a move switches that route: step `mobile:route`,
//! [`EndpointRoute`]). The inner prefixes are routed to the dummy `inner0` devices: the tunnel's
//! bundle replaces that route, and it depends on no uplink, so an uplink's address can be deleted
//! (check `no_cached_route`) without taking the inner route with it.
//! Uplink B starts down and without addresses; a move to it brings it up first and the old uplink
//! stays up (make-before-break). Threads enter a namespace with `setns` ([`in_netns`]); sockets
//! opened there (PF_KEY, UDP, AF_PACKET) stay in it whichever thread uses them later.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;

use super::HarnessError;
use super::scenario::{Family, Outer, Uplink};

/// The mobile's namespace.
pub const MOBILE_NS: &str = "mobile";
/// The gateway's namespace.
pub const GW_NS: &str = "gw";
/// The gateway's tunnel endpoint (on a dummy interface, reachable over both uplinks).
pub const GW_ENDPOINT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The gateway's IPv6 tunnel endpoint (on the same dummy interface).
pub const GW_ENDPOINT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 1);

/// The gateway's tunnel endpoint of `family`.
pub fn gw_endpoint(family: Family) -> IpAddr {
    match family {
        Family::Ipv4 => IpAddr::V4(GW_ENDPOINT),
        Family::Ipv6 => IpAddr::V6(GW_ENDPOINT6),
    }
}

/// The mobile's inner address (10.1.0.0/16).
pub const MOBILE_INNER: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
/// The gateway's inner address (10.2.0.0/16).
pub const GW_INNER: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 1);

/// One uplink's names and addresses.
#[derive(Debug, Clone, Copy)]
pub struct UplinkNet {
    /// The mobile's veth end.
    pub mobile_if: &'static str,
    /// The gateway's veth end.
    pub gw_if: &'static str,
    /// The mobile's IPv4 address on it (the tunnel's outer address while it is active).
    pub mobile_addr: Ipv4Addr,
    /// The gateway's IPv4 address on it (the next hop to the endpoint).
    pub gw_addr: Ipv4Addr,
    /// Prefix length of both.
    pub prefix: u8,
    /// The mobile's IPv6 address on it.
    pub mobile_addr6: Ipv6Addr,
    /// The gateway's IPv6 address on it.
    pub gw_addr6: Ipv6Addr,
}

impl UplinkNet {
    /// The mobile's address of `family`.
    pub fn mobile(&self, family: Family) -> IpAddr {
        match family {
            Family::Ipv4 => IpAddr::V4(self.mobile_addr),
            Family::Ipv6 => IpAddr::V6(self.mobile_addr6),
        }
    }

    /// The gateway's address of `family` (the next hop to the endpoint).
    pub fn gw(&self, family: Family) -> IpAddr {
        match family {
            Family::Ipv4 => IpAddr::V4(self.gw_addr),
            Family::Ipv6 => IpAddr::V6(self.gw_addr6),
        }
    }

    /// The prefix length of `family`'s addresses.
    pub fn prefix(&self, family: Family) -> u8 {
        match family {
            Family::Ipv4 => self.prefix,
            Family::Ipv6 => 64,
        }
    }
}

/// The uplink's names and addresses.
pub fn uplink(u: Uplink) -> UplinkNet {
    match u {
        Uplink::Wifi => UplinkNet {
            mobile_if: "m-wifi",
            gw_if: "g-wifi",
            mobile_addr: Ipv4Addr::new(192, 0, 2, 10),
            gw_addr: Ipv4Addr::new(192, 0, 2, 1),
            prefix: 24,
            mobile_addr6: Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 0, 0x10),
            gw_addr6: Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 0, 1),
        },
        Uplink::Lte => UplinkNet {
            mobile_if: "m-lte",
            gw_if: "g-lte",
            mobile_addr: Ipv4Addr::new(203, 0, 113, 7),
            gw_addr: Ipv4Addr::new(203, 0, 113, 1),
            prefix: 24,
            mobile_addr6: Ipv6Addr::new(0x2001, 0xdb8, 0xb, 0, 0, 0, 0, 7),
            gw_addr6: Ipv6Addr::new(0x2001, 0xdb8, 0xb, 0, 0, 0, 0, 1),
        },
    }
}

/// Every veth end, as (namespace, interface): where the captures listen.
pub fn links() -> Vec<(&'static str, &'static str)> {
    let mut v = Vec::new();
    for u in [Uplink::Wifi, Uplink::Lte] {
        let n = uplink(u);
        v.push((MOBILE_NS, n.mobile_if));
        v.push((GW_NS, n.gw_if));
    }
    v
}

/// Runs `ip ARGS` (in namespace `ns` when given: `ip -n NS`), failing on a non-zero exit.
pub fn ip(ns: Option<&str>, args: &[&str]) -> Result<String, HarnessError> {
    let mut cmd = Command::new("ip");
    if let Some(ns) = ns {
        cmd.args(["-n", ns]);
    }
    let out = cmd.args(args).output().map_err(|source| HarnessError::Io { what: "running ip".into(), source })?;
    let line = format!("ip {}{}", ns.map_or(String::new(), |n| format!("-n {n} ")), args.join(" "));
    if out.status.success() {
        tracing::debug!(command = %line, "ok");
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(HarnessError::Command { command: line, stderr: String::from_utf8_lossy(&out.stderr).trim().to_string() })
    }
}

/// Runs `f` on a new thread that has entered network namespace `ns` (`/run/netns/NS`), and
/// returns its result. Sockets `f` opens belong to `ns`.
pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> Result<T, HarnessError> + Send) -> Result<T, HarnessError> {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter_netns(ns)?;
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(HarnessError::Thread(format!("a thread in netns {ns} panicked"))))
    })
}

/// Moves the calling thread into network namespace `ns` (`setns(CLONE_NEWNET)` affects only the
/// calling thread).
pub fn enter_netns(ns: &str) -> Result<(), HarnessError> {
    let path = format!("/run/netns/{ns}");
    let f =
        std::fs::File::open(&path).map_err(|source| HarnessError::Io { what: format!("opening {path}"), source })?;
    // SAFETY: a valid open fd and a flag; setns changes only this thread's namespace.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(HarnessError::Io { what: format!("setns({path})"), source: std::io::Error::last_os_error() });
    }
    Ok(())
}

/// Deletes both namespaces (their links go with them); missing ones are no error.
pub fn teardown() {
    for ns in [MOBILE_NS, GW_NS] {
        let _ = ip(None, &["netns", "del", ns]);
    }
}

/// Builds the topology with uplink A up (with the addresses of `outer.wifi`) and B down. Any
/// earlier copy is removed first.
pub fn build(outer: &Outer) -> Result<(), HarnessError> {
    teardown();
    let m = Some(MOBILE_NS);
    let g = Some(GW_NS);
    ip(None, &["netns", "add", MOBILE_NS])?;
    ip(None, &["netns", "add", GW_NS])?;
    for ns in [MOBILE_NS, GW_NS] {
        ip(Some(ns), &["link", "set", "lo", "up"])?;
        // Before the links exist: new devices copy `default`.
        in_netns(ns, || {
            for conf in ["all", "default"] {
                let path = format!("/proc/sys/net/ipv6/conf/{conf}/accept_dad");
                std::fs::write(&path, "0")
                    .map_err(|source| HarnessError::Io { what: format!("writing {path}"), source })?;
            }
            Ok(())
        })?;
    }
    for u in [Uplink::Wifi, Uplink::Lte] {
        let n = uplink(u);
        ip(
            None,
            &["link", "add", n.mobile_if, "netns", MOBILE_NS, "type", "veth", "peer", "name", n.gw_if, "netns", GW_NS],
        )?;
    }
    // Inner networks and the endpoint.
    ip(m, &["link", "add", "inner0", "type", "dummy"])?;
    ip(m, &["addr", "add", &format!("{MOBILE_INNER}/16"), "dev", "inner0"])?;
    ip(m, &["link", "set", "inner0", "up"])?;
    ip(g, &["link", "add", "inner0", "type", "dummy"])?;
    ip(g, &["addr", "add", &format!("{GW_INNER}/16"), "dev", "inner0"])?;
    ip(g, &["link", "set", "inner0", "up"])?;
    ip(g, &["link", "add", "endpoint0", "type", "dummy"])?;
    ip(g, &["addr", "add", &format!("{GW_ENDPOINT}/32"), "dev", "endpoint0"])?;
    ip(g, &["addr", "add", &format!("{GW_ENDPOINT6}/128"), "dev", "endpoint0", "nodad"])?;
    ip(g, &["link", "set", "endpoint0", "up"])?;
    uplink_up(Uplink::Wifi, outer.wifi)?;
    let a = uplink(Uplink::Wifi);
    let f = outer.wifi;
    let host = if f == Family::Ipv4 { 32 } else { 128 };
    ip(m, &["route", "add", &format!("{}/{host}", gw_endpoint(f)), "via", &a.gw(f).to_string(), "dev", a.mobile_if])?;
    // Inner routes: only their existence matters (the xfrm bundle replaces them with the
    // tunnel's); on the dummy devices they depend on no uplink.
    ip(m, &["route", "add", "10.2.0.0/16", "dev", "inner0", "src", &MOBILE_INNER.to_string()])?;
    ip(g, &["route", "add", "10.1.0.0/16", "dev", "inner0", "src", &GW_INNER.to_string()])?;
    Ok(())
}

/// Brings uplink `u` up on both ends with its addresses of `family` (idempotent).
pub fn uplink_up(u: Uplink, family: Family) -> Result<(), HarnessError> {
    let n = uplink(u);
    let flag = if family == Family::Ipv4 { "-4" } else { "-6" };
    let have = ip(Some(MOBILE_NS), &[flag, "-o", "addr", "show", "dev", n.mobile_if])?;
    if have
        .split_whitespace()
        .any(|w| w.split('/').next().and_then(|a| a.parse::<IpAddr>().ok()) == Some(n.mobile(family)))
    {
        return Ok(());
    }
    tracing::info!(uplink = ?u, ?family, "bringing the uplink up");
    let p = n.prefix(family);
    let nodad: &[&str] = if family == Family::Ipv6 { &["nodad"] } else { &[] };
    let m_addr = format!("{}/{p}", n.mobile(family));
    let g_addr = format!("{}/{p}", n.gw(family));
    ip(Some(MOBILE_NS), &[&["addr", "add", m_addr.as_str(), "dev", n.mobile_if][..], nodad].concat())?;
    ip(Some(GW_NS), &[&["addr", "add", g_addr.as_str(), "dev", n.gw_if][..], nodad].concat())?;
    ip(Some(MOBILE_NS), &["link", "set", n.mobile_if, "up"])?;
    ip(Some(GW_NS), &["link", "set", n.gw_if, "up"])?;
    Ok(())
}

/// A UDP socket in namespace `ns` bound to 0.0.0.0:`port` with `UDP_ENCAP` set to
/// `UDP_ENCAP_ESPINUDP` (2): the kernel hands ESP-in-UDP (RFC 3948) arriving on that port to XFRM
/// (`xfrm4_udp_encap_rcv`) instead of queueing it. Nothing reads it; it must stay open as long as
/// such traffic should be decapsulated.
pub fn encap_socket(ns: &str, port: u16) -> Result<OwnedFd, HarnessError> {
    /// `UDP_ENCAP_ESPINUDP` (`include/uapi/linux/udp.h`).
    const UDP_ENCAP_ESPINUDP: i32 = 2;
    in_netns(ns, || {
        let os = |what: String| HarnessError::Io { what, source: std::io::Error::last_os_error() };
        // SAFETY: plain socket(2).
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(os(format!("socket(AF_INET, SOCK_DGRAM) in {ns}")));
        }
        // SAFETY: a fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: sockaddr_in is plain data; zeroed is valid (0.0.0.0).
        let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_port = port.to_be();
        // SAFETY: a valid sockaddr_in and its size.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sin as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(os(format!("bind(0.0.0.0:{port}) in {ns}")));
        }
        let v: i32 = UDP_ENCAP_ESPINUDP;
        // SAFETY: an int option on a valid socket.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_UDP,
                libc::UDP_ENCAP,
                (&v as *const i32).cast(),
                std::mem::size_of::<i32>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(os(format!("setsockopt(SOL_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP) on port {port} in {ns}")));
        }
        tracing::info!(ns, port, "ESP-in-UDP socket open");
        Ok(fd)
    })
}

/// Deletes the mobile's address of `family` on uplink `u` (the link stays up).
pub fn delete_mobile_address(u: Uplink, family: Family) -> Result<(), HarnessError> {
    let n = uplink(u);
    let a = format!("{}/{}", n.mobile(family), n.prefix(family));
    ip(Some(MOBILE_NS), &["addr", "del", &a, "dev", n.mobile_if])?;
    Ok(())
}

/// The mobile's route to the gateway's endpoint, switched with one rtnetlink request
/// (`RTM_NEWROUTE`, `NLM_F_REPLACE`) on a socket opened in the mobile's namespace: starting `ip`
/// costs about half a second under TCG, which would stretch every move.
#[derive(Debug)]
pub struct EndpointRoute {
    fd: OwnedFd,
    ifindex: [(Uplink, u32); 2],
    seq: u32,
}

const RTM_NEWROUTE: u16 = 24;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;

impl EndpointRoute {
    /// Opens the rtnetlink socket in the mobile's namespace (the topology must exist).
    pub fn open() -> Result<EndpointRoute, HarnessError> {
        in_netns(MOBILE_NS, || {
            // SAFETY: plain socket(2).
            let fd =
                unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE) };
            if fd < 0 {
                return Err(HarnessError::Io {
                    what: "socket(NETLINK_ROUTE)".into(),
                    source: std::io::Error::last_os_error(),
                });
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
            let index = |u: Uplink| -> Result<(Uplink, u32), HarnessError> {
                let name = std::ffi::CString::new(uplink(u).mobile_if).expect("no NUL");
                // SAFETY: a NUL-terminated name.
                match unsafe { libc::if_nametoindex(name.as_ptr()) } {
                    0 => Err(HarnessError::Io {
                        what: format!("if_nametoindex({})", uplink(u).mobile_if),
                        source: std::io::Error::last_os_error(),
                    }),
                    i => Ok((u, i)),
                }
            };
            Ok(EndpointRoute { fd, ifindex: [index(Uplink::Wifi)?, index(Uplink::Lte)?], seq: 0 })
        })
    }

    /// Points the route to the endpoint of `family` at uplink `u`
    /// (`ip route replace E/32 via GW dev IF`, `/128` for IPv6).
    pub fn via(&mut self, u: Uplink, family: Family) -> Result<(), HarnessError> {
        let n = uplink(u);
        let oif = self.ifindex.iter().find(|(x, _)| *x == u).map_or(0, |(_, i)| *i);
        self.seq += 1;
        let (dst, gw) = (gw_endpoint(family), n.gw(family));
        let msg = route_request(self.seq, dst, gw, oif);
        // SAFETY: a buffer and its length; the kernel is the default destination of a netlink socket.
        if unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) } < 0 {
            return Err(HarnessError::Io { what: "RTM_NEWROUTE".into(), source: std::io::Error::last_os_error() });
        }
        let mut buf = [0u8; 1024];
        loop {
            // SAFETY: a buffer and its length.
            let len = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if len < 0 {
                return Err(HarnessError::Io {
                    what: "RTM_NEWROUTE acknowledgement".into(),
                    source: std::io::Error::last_os_error(),
                });
            }
            let b = &buf[..len as usize];
            if b.len() < 20 {
                continue;
            }
            let ty = u16::from_ne_bytes([b[4], b[5]]);
            let seq = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
            if ty != NLMSG_ERROR || seq != self.seq {
                continue;
            }
            let err = i32::from_ne_bytes([b[16], b[17], b[18], b[19]]);
            return if err == 0 {
                Ok(())
            } else {
                Err(HarnessError::Io {
                    what: format!("RTM_NEWROUTE {dst} via {gw} ifindex {oif}"),
                    source: std::io::Error::from_raw_os_error(-err),
                })
            };
        }
    }
}

/// `RTM_NEWROUTE` (create or replace) of the host route `dst via gw dev oif` in the main table
/// (`dst` and `gw` of one family).
fn route_request(seq: u32, dst: IpAddr, gw: IpAddr, oif: u32) -> Vec<u8> {
    let octets = |a: IpAddr| match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    let (family, host) = if dst.is_ipv4() { (libc::AF_INET as u8, 32) } else { (libc::AF_INET6 as u8, 128) };
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len, set below
    m.extend_from_slice(&RTM_NEWROUTE.to_ne_bytes());
    m.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid
    // struct rtmsg: family, dst_len, src_len, tos, table (main), protocol (boot), scope
    // (universe), type (unicast), flags.
    m.extend_from_slice(&[family, host, 0, 0, 254, 3, 0, 1]);
    m.extend_from_slice(&0u32.to_ne_bytes());
    for (ty, val) in [(RTA_DST, octets(dst)), (RTA_GATEWAY, octets(gw)), (RTA_OIF, oif.to_ne_bytes().to_vec())] {
        m.extend_from_slice(&(4 + val.len() as u16).to_ne_bytes());
        m.extend_from_slice(&ty.to_ne_bytes());
        m.extend_from_slice(&val);
    }
    let len = m.len() as u32;
    m[..4].copy_from_slice(&len.to_ne_bytes());
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_request_is_an_rtm_newroute_replace_with_dst_gateway_and_oif() {
        let m = route_request(7, IpAddr::V4(GW_ENDPOINT), IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)), 5);
        assert_eq!(m.len(), 16 + 12 + 3 * 8);
        assert_eq!(u32::from_ne_bytes(m[..4].try_into().unwrap()) as usize, m.len());
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), RTM_NEWROUTE);
        assert_eq!(u16::from_ne_bytes([m[6], m[7]]), 0x505);
        assert_eq!(&m[16..24], &[2, 32, 0, 0, 254, 3, 0, 1]);
        assert_eq!(&m[32..36], &[198, 51, 100, 1]);
        assert_eq!(&m[40..44], &[203, 0, 113, 1]);
        assert_eq!(u32::from_ne_bytes(m[48..52].try_into().unwrap()), 5);
    }

    #[test]
    fn an_ipv6_route_request_carries_16_byte_addresses_and_a_128_prefix() {
        let gw = uplink(Uplink::Lte).gw(Family::Ipv6);
        let m = route_request(1, gw_endpoint(Family::Ipv6), gw, 9);
        assert_eq!(m.len(), 16 + 12 + 2 * 20 + 8);
        assert_eq!(u32::from_ne_bytes(m[..4].try_into().unwrap()) as usize, m.len());
        assert_eq!(&m[16..18], &[libc::AF_INET6 as u8, 128]);
        assert_eq!(&m[32..48], &GW_ENDPOINT6.octets());
        assert_eq!(u16::from_ne_bytes([m[48], m[49]]), 20);
        assert_eq!(&m[52..68], &Ipv6Addr::new(0x2001, 0xdb8, 0xb, 0, 0, 0, 0, 1).octets());
    }
}

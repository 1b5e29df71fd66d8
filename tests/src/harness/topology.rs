//! The `two-uplinks` topology: network namespaces `mobile` and `gw`, two veth links between them,
//! the gateway's tunnel endpoint and both inner networks on dummy interfaces.
//!
//! ```text
//!  mobile                                              gw
//!  inner0 10.1.0.1/16                                  inner0 10.2.0.1/16
//!  m-wifi 192.0.2.10/24  ──── uplink A "wifi" ────     g-wifi 192.0.2.1/24
//!  m-lte  203.0.113.7/24 ──── uplink B "lte"  ────     g-lte  203.0.113.1/24
//!                                                      endpoint0 198.51.100.1/32 (tunnel endpoint)
//! ```
//!
//! The mobile reaches the endpoint through a host route via the active uplink's gateway address
//! (the lab kernel has no policy routing, so a move switches that route: step `mobile:route`,
//! [`EndpointRoute`]).
//! Uplink B starts down and without addresses; a move to it brings it up first and the old uplink
//! stays up (make-before-break). Threads enter a namespace with `setns` ([`in_netns`]); sockets
//! opened there (PF_KEY, UDP, AF_PACKET) stay in it whichever thread uses them later.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;

use super::HarnessError;
use super::scenario::Uplink;

/// The mobile's namespace.
pub const MOBILE_NS: &str = "mobile";
/// The gateway's namespace.
pub const GW_NS: &str = "gw";
/// The gateway's tunnel endpoint (on a dummy interface, reachable over both uplinks).
pub const GW_ENDPOINT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
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
    /// The mobile's address on it (the tunnel's outer address while it is active).
    pub mobile_addr: Ipv4Addr,
    /// The gateway's address on it (the next hop to the endpoint).
    pub gw_addr: Ipv4Addr,
    /// Prefix length of both.
    pub prefix: u8,
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
        },
        Uplink::Lte => UplinkNet {
            mobile_if: "m-lte",
            gw_if: "g-lte",
            mobile_addr: Ipv4Addr::new(203, 0, 113, 7),
            gw_addr: Ipv4Addr::new(203, 0, 113, 1),
            prefix: 24,
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

/// Builds the topology with uplink A up and B down. Any earlier copy is removed first.
pub fn build() -> Result<(), HarnessError> {
    teardown();
    let m = Some(MOBILE_NS);
    let g = Some(GW_NS);
    ip(None, &["netns", "add", MOBILE_NS])?;
    ip(None, &["netns", "add", GW_NS])?;
    for ns in [m, g] {
        ip(ns, &["link", "set", "lo", "up"])?;
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
    ip(g, &["link", "set", "endpoint0", "up"])?;
    uplink_up(Uplink::Wifi)?;
    let a = uplink(Uplink::Wifi);
    ip(m, &["route", "add", &format!("{GW_ENDPOINT}/32"), "via", &a.gw_addr.to_string(), "dev", a.mobile_if])?;
    // Inner routes (the xfrm bundle replaces the route with the tunnel's; the inner route only
    // has to exist). They use uplink A, which stays up in every scenario.
    ip(m, &["route", "add", "10.2.0.0/16", "via", &a.gw_addr.to_string(), "src", &MOBILE_INNER.to_string()])?;
    ip(g, &["route", "add", "10.1.0.0/16", "via", &a.mobile_addr.to_string(), "src", &GW_INNER.to_string()])?;
    Ok(())
}

/// Brings uplink `u` up on both ends with its addresses (idempotent).
pub fn uplink_up(u: Uplink) -> Result<(), HarnessError> {
    let n = uplink(u);
    let have = ip(Some(MOBILE_NS), &["-4", "-o", "addr", "show", "dev", n.mobile_if])?;
    if have.contains(&n.mobile_addr.to_string()) {
        return Ok(());
    }
    tracing::info!(uplink = ?u, "bringing the uplink up");
    ip(Some(MOBILE_NS), &["addr", "add", &format!("{}/{}", n.mobile_addr, n.prefix), "dev", n.mobile_if])?;
    ip(Some(GW_NS), &["addr", "add", &format!("{}/{}", n.gw_addr, n.prefix), "dev", n.gw_if])?;
    ip(Some(MOBILE_NS), &["link", "set", n.mobile_if, "up"])?;
    ip(Some(GW_NS), &["link", "set", n.gw_if, "up"])?;
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

    /// Points the route to the endpoint at uplink `u` (`ip route replace E/32 via GW dev IF`).
    pub fn via(&mut self, u: Uplink) -> Result<(), HarnessError> {
        let n = uplink(u);
        let oif = self.ifindex.iter().find(|(x, _)| *x == u).map_or(0, |(_, i)| *i);
        self.seq += 1;
        let msg = route_request(self.seq, GW_ENDPOINT, n.gw_addr, oif);
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
                    what: format!("RTM_NEWROUTE {GW_ENDPOINT}/32 via {} ifindex {oif}", n.gw_addr),
                    source: std::io::Error::from_raw_os_error(-err),
                })
            };
        }
    }
}

/// `RTM_NEWROUTE` (create or replace) of `dst/32 via gw dev oif` in the main table.
fn route_request(seq: u32, dst: Ipv4Addr, gw: Ipv4Addr, oif: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len, set below
    m.extend_from_slice(&RTM_NEWROUTE.to_ne_bytes());
    m.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid
    // struct rtmsg: family, dst_len, src_len, tos, table (main), protocol (boot), scope
    // (universe), type (unicast), flags.
    m.extend_from_slice(&[libc::AF_INET as u8, 32, 0, 0, 254, 3, 0, 1]);
    m.extend_from_slice(&0u32.to_ne_bytes());
    for (ty, val) in [(RTA_DST, dst.octets()), (RTA_GATEWAY, gw.octets()), (RTA_OIF, oif.to_ne_bytes())] {
        m.extend_from_slice(&8u16.to_ne_bytes());
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
        let m = route_request(7, GW_ENDPOINT, Ipv4Addr::new(203, 0, 113, 1), 5);
        assert_eq!(m.len(), 16 + 12 + 3 * 8);
        assert_eq!(u32::from_ne_bytes(m[..4].try_into().unwrap()) as usize, m.len());
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), RTM_NEWROUTE);
        assert_eq!(u16::from_ne_bytes([m[6], m[7]]), 0x505);
        assert_eq!(&m[16..24], &[2, 32, 0, 0, 254, 3, 0, 1]);
        assert_eq!(&m[32..36], &[198, 51, 100, 1]);
        assert_eq!(&m[40..44], &[203, 0, 113, 1]);
        assert_eq!(u32::from_ne_bytes(m[48..52].try_into().unwrap()), 5);
    }
}

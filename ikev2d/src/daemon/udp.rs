//! The daemon's UDP sockets: one on the IKE port and one on the NAT-T port per local address,
//! the per-socket IPsec bypass that keeps IKE itself out of the tunnels, ESP-in-UDP on the NAT-T
//! socket, and the non-ESP marker (RFC 3948 §2.2) that sets IKE apart from ESP there.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use pfkey::kernel::xfrm::wire::{XFRM_INF, XfrmLifetimeCfg, XfrmUserpolicyInfo};
use zerocopy::IntoBytes;

use super::DaemonError;

/// `IP_XFRM_POLICY` (`linux/in.h`): a per-socket IPsec policy on an IPv4 socket.
const IP_XFRM_POLICY: libc::c_int = 17;
/// `IPV6_XFRM_POLICY` (`linux/in6.h`): the same on an IPv6 socket.
const IPV6_XFRM_POLICY: libc::c_int = 35;
/// `XFRM_POLICY_IN` and `XFRM_POLICY_OUT`.
const XFRM_POLICY_IN: u8 = 0;
const XFRM_POLICY_OUT: u8 = 1;
/// `XFRM_POLICY_ALLOW`.
const XFRM_POLICY_ALLOW: u8 = 0;
/// `SOL_UDP` and `UDP_ENCAP` (`linux/udp.h`).
const SOL_UDP: libc::c_int = 17;
const UDP_ENCAP: libc::c_int = 100;
/// `UDP_ENCAP_ESPINUDP`: RFC 3948 ESP in UDP, IKE behind the non-ESP marker.
const UDP_ENCAP_ESPINUDP: libc::c_int = 2;

/// The non-ESP marker: four zero bytes in front of IKE on the NAT-T port.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// One bound socket.
#[derive(Debug)]
pub struct Endpoint {
    /// The socket (non-blocking).
    pub sock: UdpSocket,
    /// The address and port it is bound to.
    pub local: SocketAddr,
    /// Whether it is the NAT-T socket (non-ESP marker, ESP in UDP).
    pub nat: bool,
}

/// Opens and binds a non-blocking UDP socket on `local` (`IPV6_V6ONLY` on IPv6); `bypass`: set
/// the per-socket bypass policies and, on the NAT-T socket, ESP-in-UDP (a real kernel only).
pub fn open(local: SocketAddr, nat: bool, bypass: bool) -> Result<Endpoint, DaemonError> {
    let fail = |what: &'static str, e: io::Error| DaemonError::Socket { addr: local, what, source: e };
    let family = if local.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    // SAFETY: plain socket(2); the descriptor is owned from here on.
    let raw = unsafe { libc::socket(family, libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(fail("socket", io::Error::last_os_error()));
    }
    // SAFETY: `raw` is a fresh descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    if local.is_ipv6() {
        set_int(&fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1).map_err(|e| fail("IPV6_V6ONLY", e))?;
    }
    if bypass {
        set_bypass(&fd, local.ip()).map_err(|e| DaemonError::Bypass {
            addr: local,
            what: "IPsec bypass policy",
            source: e,
        })?;
        if nat {
            set_int(&fd, SOL_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP).map_err(|e| DaemonError::Bypass {
                addr: local,
                what: "UDP_ENCAP_ESPINUDP",
                source: e,
            })?;
        }
    }
    bind(&fd, local).map_err(|e| fail("bind", e))?;
    let sock = UdpSocket::from(fd);
    let local = sock.local_addr().map_err(|e| fail("getsockname", e))?;
    Ok(Endpoint { sock, local: plain(local), nat })
}

/// `addr` without IPv6 flow information and scope: the engine compares endpoints by address and
/// port only.
pub fn plain(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip(), addr.port())
}

/// The per-socket policies that let IKE bypass IPsec, one per direction: an `ALLOW` policy
/// with an empty selector of the socket's family and no lifetime limits.
fn set_bypass(fd: &impl AsFd, ip: IpAddr) -> io::Result<()> {
    let (level, name, family) = match ip {
        IpAddr::V4(_) => (libc::IPPROTO_IP, IP_XFRM_POLICY, libc::AF_INET),
        IpAddr::V6(_) => (libc::IPPROTO_IPV6, IPV6_XFRM_POLICY, libc::AF_INET6),
    };
    for dir in [XFRM_POLICY_IN, XFRM_POLICY_OUT] {
        let mut p = XfrmUserpolicyInfo {
            lft: XfrmLifetimeCfg {
                soft_byte_limit: XFRM_INF,
                hard_byte_limit: XFRM_INF,
                soft_packet_limit: XFRM_INF,
                hard_packet_limit: XFRM_INF,
                soft_add_expires_seconds: XFRM_INF,
                hard_add_expires_seconds: XFRM_INF,
                soft_use_expires_seconds: XFRM_INF,
                hard_use_expires_seconds: XFRM_INF,
            },
            dir,
            action: XFRM_POLICY_ALLOW,
            ..Default::default()
        };
        // The kernel rejects a selector without a family (EINVAL), even an empty one.
        p.sel.family = family as u16;
        set_raw(fd, level, name, p.as_bytes())?;
    }
    Ok(())
}

/// bind(2) to `addr`.
fn bind(fd: &impl AsFd, addr: SocketAddr) -> io::Result<()> {
    let fd = fd.as_fd().as_raw_fd();
    let rc = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                sin_zero: [0; 8],
            };
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            // SAFETY: `sin` is a valid sockaddr_in of `len` bytes for the duration of the call.
            unsafe { libc::bind(fd, std::ptr::from_ref(&sin).cast(), len) }
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo().to_be(),
                sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: a.scope_id(),
            };
            let len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            // SAFETY: `sin6` is a valid sockaddr_in6 of `len` bytes for the duration of the call.
            unsafe { libc::bind(fd, std::ptr::from_ref(&sin6).cast(), len) }
        }
    };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

fn set_int(fd: &impl AsFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    set_raw(fd, level, name, &value.to_ne_bytes())
}

fn set_raw(fd: &impl AsFd, level: libc::c_int, name: libc::c_int, value: &[u8]) -> io::Result<()> {
    let len = libc::socklen_t::try_from(value.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `value` is a live buffer of `len` bytes for the duration of the call, and the
    // descriptor is borrowed from an open socket.
    let rc = unsafe { libc::setsockopt(fd.as_fd().as_raw_fd(), level, name, value.as_ptr().cast(), len) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// What a datagram received on a NAT-T socket is.
#[derive(Debug, PartialEq, Eq)]
pub enum NatDatagram<'a> {
    /// IKE (the marker stripped).
    Ike(&'a [u8]),
    /// A NAT keepalive (one 0xff byte, RFC 3948 §2.3): ignored.
    Keepalive,
    /// Anything else: dropped.
    Bad,
}

/// Classifies a datagram received on a NAT-T socket.
pub fn classify_nat(data: &[u8]) -> NatDatagram<'_> {
    match data {
        [0xff] => NatDatagram::Keepalive,
        _ => match data.strip_prefix(&NON_ESP_MARKER[..]) {
            Some(ike) if !ike.is_empty() => NatDatagram::Ike(ike),
            _ => NatDatagram::Bad,
        },
    }
}

/// The bytes to send for an IKE message from `ep`: with the marker on the NAT-T port.
pub fn frame(ep: &Endpoint, data: &[u8]) -> Vec<u8> {
    if ep.nat {
        let mut v = Vec::with_capacity(data.len() + 4);
        v.extend_from_slice(&NON_ESP_MARKER);
        v.extend_from_slice(data);
        v
    } else {
        data.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_is_required_and_stripped() {
        assert_eq!(classify_nat(&[0, 0, 0, 0, 1, 2]), NatDatagram::Ike(&[1, 2]));
        assert_eq!(classify_nat(&[0xff]), NatDatagram::Keepalive);
        assert_eq!(classify_nat(&[1, 2, 3, 4, 5]), NatDatagram::Bad, "ESP (an SPI) never reaches us");
        assert_eq!(classify_nat(&[0, 0, 0, 0]), NatDatagram::Bad);
        assert_eq!(classify_nat(&[0, 0]), NatDatagram::Bad);
    }

    #[test]
    fn sockets_bind_and_frame() {
        let ike = open("127.0.0.1:0".parse().unwrap(), false, false).unwrap();
        let nat = open("127.0.0.1:0".parse().unwrap(), true, false).unwrap();
        assert_ne!(ike.local.port(), 0);
        assert_eq!(frame(&ike, &[7]), [7]);
        assert_eq!(frame(&nat, &[7]), [0, 0, 0, 0, 7]);
        let v6 = open("[::1]:0".parse().unwrap(), false, false);
        if let Ok(v6) = v6 {
            assert!(v6.local.is_ipv6());
        }
    }

    #[test]
    fn the_bypass_policy_has_the_kernel_layout() {
        assert_eq!(std::mem::size_of::<XfrmUserpolicyInfo>(), 168);
    }
}

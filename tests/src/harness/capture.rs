//! Packet capture on every veth end (an `AF_PACKET` socket per interface, opened in the link's
//! namespace) and what the contract reads from it: inner packets in the clear, and the SPI and
//! sequence number of every ESP packet (outer IPv4 or IPv6) with the kernel's timestamp, and the
//! addresses of every other IP or ARP frame (where an old address still shows up).
//!
//! ESP inside UDP (RFC 3948) counts as ESP when either UDP port is one of the capture's
//! encapsulation ports (the scenario's `udp_encap` ports; 4500 always): its SPI and sequence
//! number follow the 8-byte UDP header, and the record keeps the ports. A payload that starts
//! with four zero bytes (the non-ESP marker: IKE) or is the one-byte NAT-keepalive (0xff) is not
//! ESP and is recorded as another IP frame.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use super::HarnessError;
use super::topology::enter_netns;

/// What one Ethernet frame is, for the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// An ESP packet (outer IPv4 or IPv6), plain or inside UDP.
    Esp {
        /// Outer source.
        src: IpAddr,
        /// Outer destination.
        dst: IpAddr,
        /// SPI.
        spi: u32,
        /// ESP sequence number.
        seq: u32,
        /// The UDP source and destination ports when it is ESP-in-UDP.
        udp: Option<(u16, u16)>,
    },
    /// An IPv4 packet to or from an inner network (10.0.0.0/8) that is not ESP: a leak.
    Clear {
        /// Source.
        src: Ipv4Addr,
        /// Destination.
        dst: Ipv4Addr,
        /// IP protocol.
        proto: u8,
    },
    /// Another IP packet (IPv6 neighbour discovery, ICMP, outer non-ESP packets) or an ARP
    /// packet (`proto` [`ARP`], sender and target addresses).
    Ip {
        /// Source (ARP: sender).
        src: IpAddr,
        /// Destination (ARP: target).
        dst: IpAddr,
        /// IP protocol / IPv6 next header, or [`ARP`].
        proto: u16,
        /// ICMP / ICMPv6 type, ARP opcode (1 request, 2 reply), else 0.
        kind: u8,
    },
    /// Anything else.
    Other,
}

/// The `proto` of an ARP frame in [`Frame::Ip`] and [`IpRecord`] (its ethertype).
pub const ARP: u16 = 0x0806;

/// The port ESP-in-UDP uses unless a scenario says otherwise (RFC 3948).
pub const NAT_T_PORT: u16 = 4500;

/// Classifies an Ethernet frame; UDP to or from one of `encap_ports` is looked into for ESP.
pub fn classify(f: &[u8], encap_ports: &[u16]) -> Frame {
    if f.len() < 14 {
        return Frame::Other;
    }
    let esp = |src: IpAddr, dst: IpAddr, h: Option<&[u8]>, udp: Option<(u16, u16)>| match h {
        Some(h) => Frame::Esp {
            src,
            dst,
            spi: u32::from_be_bytes([h[0], h[1], h[2], h[3]]),
            seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
            udp,
        },
        None => Frame::Other,
    };
    // ESP in UDP: the ports, and the ESP header after the UDP header, unless the payload is the
    // non-ESP marker (IKE) or a NAT-keepalive. `None`: not ESP-in-UDP.
    let esp_in_udp = |src: IpAddr, dst: IpAddr, l4: &[u8]| -> Option<Frame> {
        let ports = (u16::from_be_bytes([*l4.first()?, *l4.get(1)?]), u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]));
        if !(encap_ports.contains(&ports.0) || encap_ports.contains(&ports.1)) {
            return None;
        }
        let payload = l4.get(8..)?;
        if payload == [0xff] || payload.get(..4).is_some_and(|m| m == [0, 0, 0, 0]) {
            return None;
        }
        Some(esp(src, dst, payload.get(..8), Some(ports)))
    };
    match [f[12], f[13]] {
        [0x08, 0x00] if f.len() >= 34 && f[14] >> 4 == 4 => {
            let ip = &f[14..];
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
            let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
            let proto = ip[9];
            let inner = |a: Ipv4Addr| a.octets()[0] == 10;
            if proto == 50 {
                return esp(IpAddr::V4(src), IpAddr::V4(dst), ip.get(ihl..ihl + 8), None);
            }
            if proto == 17
                && !(inner(src) || inner(dst))
                && let Some(e) = ip.get(ihl..).and_then(|l4| esp_in_udp(IpAddr::V4(src), IpAddr::V4(dst), l4))
            {
                return e;
            }
            if inner(src) || inner(dst) {
                Frame::Clear { src, dst, proto }
            } else {
                let kind = if proto == 1 { ip.get(ihl).copied().unwrap_or(0) } else { 0 };
                Frame::Ip { src: IpAddr::V4(src), dst: IpAddr::V4(dst), proto: u16::from(proto), kind }
            }
        }
        [0x86, 0xdd] if f.len() >= 54 && f[14] >> 4 == 6 => {
            let ip = &f[14..];
            let addr = |o: usize| IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&ip[o..o + 16]).expect("16 bytes")));
            let (src, dst, nh) = (addr(8), addr(24), ip[6]);
            if nh == 50 {
                return esp(src, dst, ip.get(40..48), None);
            }
            if nh == 17
                && let Some(e) = ip.get(40..).and_then(|l4| esp_in_udp(src, dst, l4))
            {
                return e;
            }
            let kind = if nh == 58 { ip.get(40).copied().unwrap_or(0) } else { 0 };
            Frame::Ip { src, dst, proto: u16::from(nh), kind }
        }
        // ARP for IPv4 over Ethernet: sender and target protocol addresses.
        [0x08, 0x06] if f.len() >= 42 && f[14 + 4] == 6 && f[14 + 5] == 4 => {
            let a = &f[14..];
            let v4 = |o: usize| IpAddr::V4(Ipv4Addr::new(a[o], a[o + 1], a[o + 2], a[o + 3]));
            Frame::Ip { src: v4(14), dst: v4(24), proto: ARP, kind: a[7] }
        }
        _ => Frame::Other,
    }
}

/// One captured ESP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EspRecord {
    /// Kernel timestamp (ns, CLOCK_REALTIME).
    pub t_ns: u64,
    /// Whether the capturing host sent it (`PACKET_OUTGOING`).
    pub outgoing: bool,
    /// Outer source.
    pub src: IpAddr,
    /// Outer destination.
    pub dst: IpAddr,
    /// SPI.
    pub spi: u32,
    /// Sequence number.
    pub seq: u32,
    /// UDP source and destination port when it was ESP-in-UDP.
    pub udp: Option<(u16, u16)>,
}

/// One captured IP (not ESP, not a clear inner packet) or ARP frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IpRecord {
    /// Kernel timestamp (ns, CLOCK_REALTIME).
    pub t_ns: u64,
    /// Whether the capturing host sent it.
    pub outgoing: bool,
    /// Source (ARP: sender).
    pub src: IpAddr,
    /// Destination (ARP: target).
    pub dst: IpAddr,
    /// IP protocol / next header, or [`ARP`].
    pub proto: u16,
    /// ICMP / ICMPv6 type, ARP opcode, else 0.
    pub kind: u8,
}

/// What one interface's capture saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LinkCapture {
    /// `ns/ifname`.
    pub link: String,
    /// Frames received by the socket.
    pub frames: u64,
    /// ESP packets (both directions).
    #[serde(skip)]
    pub esp: Vec<EspRecord>,
    /// Other IP and ARP frames (both directions).
    #[serde(skip)]
    pub ip: Vec<IpRecord>,
    /// Inner packets in the clear seen as incoming (decapsulated re-injections), timestamps (ns).
    #[serde(skip)]
    pub clear_in_t_ns: Vec<u64>,
    /// The same, counted by inner source address (which flow the SA decapsulated).
    #[serde(skip)]
    pub clear_in_by_src: BTreeMap<Ipv4Addr, u64>,
    /// ESP packets this end sent onto the link.
    pub esp_out: u64,
    /// ESP packets this end received from the link.
    pub esp_in: u64,
    /// Inner packets in the clear that this end sent onto the link: leaks.
    pub clear_out: u64,
    /// Inner packets in the clear seen as incoming. After ESP input in tunnel mode Linux hands the
    /// decapsulated packet to the stack again on the receiving device (`xfrm_input` → GRO cells /
    /// `netif_rx`), where packet taps see it as incoming: that copy never was on the wire. A real
    /// leak would be outgoing on the other end of the link too; as a consistency bound, there are
    /// never more of these than ESP packets received on the same end.
    pub clear_in: u64,
    /// The first few leaks (outgoing), described.
    pub clear_examples: Vec<String>,
    /// Frames the kernel dropped before the socket read them (`PACKET_STATISTICS`).
    pub kernel_drops: u32,
}

/// A running capture on one interface.
#[derive(Debug)]
pub struct Capture {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Result<LinkCapture, HarnessError>>,
}

fn os_err(what: impl Into<String>) -> HarnessError {
    HarnessError::Io { what: what.into(), source: std::io::Error::last_os_error() }
}

fn setsockopt_int(fd: i32, level: i32, name: i32, v: i32) -> Result<(), HarnessError> {
    // SAFETY: an int option on a valid socket.
    let r = unsafe {
        libc::setsockopt(fd, level, name, (&v as *const i32).cast(), std::mem::size_of::<i32>() as libc::socklen_t)
    };
    if r == 0 { Ok(()) } else { Err(os_err(format!("setsockopt({level}, {name})"))) }
}

fn open_packet_socket(ifname: &str) -> Result<OwnedFd, HarnessError> {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket(2).
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto)) };
    if fd < 0 {
        return Err(os_err("socket(AF_PACKET)"));
    }
    // SAFETY: fd is a fresh socket we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let name = std::ffi::CString::new(ifname).map_err(|_| HarnessError::Thread(format!("bad ifname {ifname}")))?;
    // SAFETY: a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(os_err(format!("if_nametoindex({ifname})")));
    }
    // SAFETY: sockaddr_ll is plain data; zeroed is valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: a valid sockaddr_ll and its size.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(os_err(format!("bind(AF_PACKET, {ifname})")));
    }
    let raw = fd.as_raw_fd();
    setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 8 << 20)?;
    setsockopt_int(raw, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
    let tv = libc::timeval { tv_sec: 0, tv_usec: 100_000 };
    // SAFETY: a timeval option on a valid socket.
    let r = unsafe {
        libc::setsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(os_err("SO_RCVTIMEO"));
    }
    Ok(fd)
}

/// One frame: bytes (truncated to the buffer), whether outgoing, kernel timestamp (ns).
fn recv_frame(fd: &OwnedFd, buf: &mut [u8]) -> Result<Option<(usize, bool, u64)>, HarnessError> {
    // SAFETY: all-zero is valid for these plain C structs.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut ctrl = [0u64; 16];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut sll as *mut libc::sockaddr_ll).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctrl.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&ctrl);
    // SAFETY: msg points at live buffers of the sizes given.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        // ENETDOWN is reported once to a socket bound to an interface that is (still) down: the
        // lte uplink until a move brings it up.
        return match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted => Ok(None),
            _ if e.raw_os_error() == Some(libc::ENETDOWN) => Ok(None),
            _ => Err(HarnessError::Io { what: "recvmsg(AF_PACKET)".into(), source: e }),
        };
    }
    let mut t_ns = 0u64;
    // SAFETY: walking the control messages the kernel wrote into msg.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                t_ns = (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64;
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    let outgoing = sll.sll_pkttype == libc::PACKET_OUTGOING;
    Ok(Some((n as usize, outgoing, t_ns)))
}

fn packet_drops(fd: &OwnedFd) -> u32 {
    let mut st = libc::tpacket_stats { tp_packets: 0, tp_drops: 0 };
    let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: a tpacket_stats buffer of the size given.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&mut st as *mut libc::tpacket_stats).cast(),
            &mut len,
        )
    };
    if r == 0 { st.tp_drops } else { u32::MAX }
}

impl Capture {
    /// Opens a packet socket on `ifname` in `ns` (before returning) and records until stopped;
    /// UDP to or from `encap_ports` (and [`NAT_T_PORT`]) is looked into for ESP.
    pub fn start(ns: &str, ifname: &str, encap_ports: &[u16]) -> Result<Capture, HarnessError> {
        let mut ports = encap_ports.to_vec();
        ports.push(NAT_T_PORT);
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let (ns, ifname) = (ns.to_string(), ifname.to_string());
        let handle = std::thread::spawn(move || {
            let fd = match enter_netns(&ns).and_then(|()| open_packet_socket(&ifname)) {
                Ok(fd) => {
                    let _ = tx.send(Ok(()));
                    fd
                }
                Err(e) => {
                    let msg = e.to_string();
                    let _ = tx.send(Err(e));
                    return Err(HarnessError::Thread(msg));
                }
            };
            let mut cap = LinkCapture { link: format!("{ns}/{ifname}"), ..LinkCapture::default() };
            let mut buf = vec![0u8; 256];
            while !stop2.load(Ordering::Relaxed) {
                let Some((n, outgoing, t_ns)) = recv_frame(&fd, &mut buf)? else { continue };
                cap.frames += 1;
                match classify(&buf[..n.min(buf.len())], &ports) {
                    Frame::Esp { src, dst, spi, seq, udp } => {
                        if outgoing {
                            cap.esp_out += 1;
                        } else {
                            cap.esp_in += 1;
                        }
                        cap.esp.push(EspRecord { t_ns, outgoing, src, dst, spi, seq, udp });
                    }
                    Frame::Clear { src, dst, proto } if outgoing => {
                        cap.clear_out += 1;
                        if cap.clear_examples.len() < 5 {
                            cap.clear_examples.push(format!("{src} -> {dst} proto {proto}"));
                        }
                    }
                    Frame::Clear { src, .. } => {
                        cap.clear_in += 1;
                        cap.clear_in_t_ns.push(t_ns);
                        *cap.clear_in_by_src.entry(src).or_default() += 1;
                    }
                    Frame::Ip { src, dst, proto, kind } => {
                        cap.ip.push(IpRecord { t_ns, outgoing, src, dst, proto, kind })
                    }
                    Frame::Other => {}
                }
            }
            cap.kernel_drops = packet_drops(&fd);
            Ok(cap)
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(())) => Ok(Capture { stop, handle }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(HarnessError::Thread("a capture thread did not start within 20 s".into())),
        }
    }

    /// Stops it and returns what it saw.
    pub fn finish(self) -> Result<LinkCapture, HarnessError> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_else(|_| Err(HarnessError::Thread("a capture thread panicked".into())))
    }
}

/// The sequence numbers of one SPI as its sender put them on the links.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SpiSequence {
    /// The SPI.
    pub spi: u32,
    /// Packets seen leaving the sender.
    pub packets: u64,
    /// First and last sequence number.
    pub first_seq: u32,
    /// Last sequence number.
    pub last_seq: u32,
    /// Sequence numbers seen more than once.
    pub duplicates: u64,
    /// Times a sequence number was not larger than the one before it (in timestamp order).
    pub decreases: u64,
    /// Times consecutive packets left on different links.
    pub link_switches: u64,
    /// Per link: (packets, lowest seq, highest seq).
    pub per_link: BTreeMap<String, (u64, u32, u32)>,
}

/// Merges the outgoing ESP packets of `spi` from `captures` (the sender's links) by timestamp and
/// checks that sequence numbers only go up, across links.
pub fn spi_sequence(spi: u32, captures: &[&LinkCapture]) -> SpiSequence {
    let mut all: Vec<(u64, u32, &str)> = Vec::new();
    for c in captures {
        for r in c.esp.iter().filter(|r| r.outgoing && r.spi == spi) {
            all.push((r.t_ns, r.seq, c.link.as_str()));
        }
    }
    all.sort_by_key(|&(t, seq, _)| (t, seq));
    let mut s = SpiSequence { spi, packets: all.len() as u64, ..SpiSequence::default() };
    let mut seen = std::collections::HashSet::new();
    for (i, &(_, seq, link)) in all.iter().enumerate() {
        if !seen.insert(seq) {
            s.duplicates += 1;
        }
        if i > 0 {
            let (_, prev, prev_link) = all[i - 1];
            if seq <= prev {
                s.decreases += 1;
            }
            if link != prev_link {
                s.link_switches += 1;
            }
        }
        let e = s.per_link.entry(link.to_string()).or_insert((0, u32::MAX, 0));
        e.0 += 1;
        e.1 = e.1.min(seq);
        e.2 = e.2.max(seq);
    }
    s.first_seq = all.first().map_or(0, |r| r.1);
    s.last_seq = all.last().map_or(0, |r| r.1);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[12] = 0x08;
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        f.extend_from_slice(&ip);
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn esp_frames_give_spi_and_sequence_and_inner_packets_outside_esp_are_leaks() {
        let esp = frame(50, [192, 0, 2, 10], [198, 51, 100, 1], &[0, 0, 0x10, 0x01, 0, 0, 0, 7, 9, 9]);
        assert_eq!(
            classify(&esp, &[]),
            Frame::Esp {
                src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
                dst: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
                spi: 0x1001,
                seq: 7,
                udp: None
            }
        );
        let udp = frame(17, [10, 1, 0, 1], [10, 2, 0, 1], &[0; 8]);
        assert!(matches!(classify(&udp, &[4500]), Frame::Clear { proto: 17, .. }));
        let outer_udp = frame(17, [192, 0, 2, 10], [198, 51, 100, 1], &[0; 8]);
        assert!(matches!(classify(&outer_udp, &[4500]), Frame::Ip { proto: 17, kind: 0, .. }));
        let mut arp = esp.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(classify(&arp, &[]), Frame::Other, "not an IPv4-over-Ethernet ARP");
        let mut arp = vec![0u8; 42];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        arp[14 + 4] = 6;
        arp[14 + 5] = 4;
        arp[14 + 7] = 1;
        arp[14 + 14..14 + 18].copy_from_slice(&[203, 0, 113, 1]);
        arp[14 + 24..14 + 28].copy_from_slice(&[192, 0, 2, 10]);
        assert_eq!(
            classify(&arp, &[]),
            Frame::Ip {
                src: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)),
                dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
                proto: ARP,
                kind: 1
            }
        );
    }

    #[test]
    fn ipv6_esp_frames_give_spi_and_sequence() {
        let mut f = vec![0u8; 14];
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        let mut ip = vec![0x60, 0, 0, 0, 0, 16, 50, 64];
        let a: Ipv6Addr = "2001:db8:b::7".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:ff::1".parse().unwrap();
        ip.extend_from_slice(&a.octets());
        ip.extend_from_slice(&b.octets());
        f.extend_from_slice(&ip);
        f.extend_from_slice(&[0, 0, 0x11, 0x01, 0, 0, 1, 0]);
        assert_eq!(
            classify(&f, &[]),
            Frame::Esp { src: IpAddr::V6(a), dst: IpAddr::V6(b), spi: 0x1101, seq: 256, udp: None }
        );
        f[14 + 6] = 58;
        f[14 + 40] = 135;
        assert_eq!(classify(&f, &[]), Frame::Ip { src: IpAddr::V6(a), dst: IpAddr::V6(b), proto: 58, kind: 135 });
    }

    #[test]
    fn esp_in_udp_on_an_encapsulation_port_is_esp_and_ike_and_keepalives_are_not() {
        let (m, g) = ([192, 0, 2, 10], [198, 51, 100, 1]);
        let udp = |sport: u16, dport: u16, payload: &[u8]| {
            let mut l4 = [sport.to_be_bytes(), dport.to_be_bytes(), [0, 0], [0, 0]].concat();
            l4.extend_from_slice(payload);
            frame(17, m, g, &l4)
        };
        let esp = udp(4501, 4500, &[0, 0, 0x10, 0x01, 0, 0, 0, 9, 0xaa, 0xbb]);
        assert_eq!(
            classify(&esp, &[4500, 4501]),
            Frame::Esp {
                src: IpAddr::V4(Ipv4Addr::from(m)),
                dst: IpAddr::V4(Ipv4Addr::from(g)),
                spi: 0x1001,
                seq: 9,
                udp: Some((4501, 4500))
            }
        );
        assert!(matches!(classify(&esp, &[500]), Frame::Ip { proto: 17, .. }), "not an encapsulation port");
        let ike = udp(4500, 4500, &[0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0]);
        assert!(matches!(classify(&ike, &[4500]), Frame::Ip { proto: 17, .. }), "non-ESP marker: IKE");
        let keepalive = udp(4500, 4500, &[0xff]);
        assert!(matches!(classify(&keepalive, &[4500]), Frame::Ip { proto: 17, .. }), "NAT-keepalive");
        let inner =
            frame(17, [10, 1, 0, 1], [10, 2, 0, 1], &[0x11, 0x94, 0x11, 0x94, 0, 0, 0, 0, 0, 0, 0x10, 1, 0, 0, 0, 1]);
        assert!(
            matches!(classify(&inner, &[4500]), Frame::Clear { proto: 17, .. }),
            "inner UDP is a leak, whatever its port"
        );
    }

    const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn rec(t: u64, seq: u32) -> EspRecord {
        EspRecord { t_ns: t, outgoing: true, src: LOCALHOST, dst: LOCALHOST, spi: 1, seq, udp: None }
    }

    #[test]
    fn sequence_numbers_continuing_on_the_new_link_pass_and_a_restart_is_caught() {
        let a = LinkCapture { link: "a".into(), esp: vec![rec(1, 1), rec(2, 2), rec(3, 3)], ..Default::default() };
        let b = LinkCapture { link: "b".into(), esp: vec![rec(4, 4), rec(5, 5)], ..Default::default() };
        let s = spi_sequence(1, &[&a, &b]);
        assert_eq!((s.packets, s.duplicates, s.decreases, s.link_switches), (5, 0, 0, 1));
        assert_eq!(s.per_link["b"], (2, 4, 5));
        let restarted = LinkCapture { link: "b".into(), esp: vec![rec(4, 1), rec(5, 2)], ..Default::default() };
        let s = spi_sequence(1, &[&a, &restarted]);
        assert_eq!((s.duplicates, s.decreases), (2, 1));
    }
}

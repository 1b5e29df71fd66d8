//! The `NETLINK_XFRM` socket (over `netlink-sys`): send one request, receive one datagram with a
//! timeout, join the multicast groups the events come from.
//!
//! Like [`crate::socket::PfKeySocket`] it knows nothing about message contents: correlation,
//! dumps and events live in [`super::XfrmKernel`].

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use netlink_sys::{Socket, SocketAddr};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::wire::NETLINK_XFRM;
use crate::kernel::KernelError;

/// How big a receive buffer is: a netlink dump skb holds at most 32 KiB and events are small;
/// twice that leaves room.
pub const RECV_BUFFER: usize = 64 * 1024;

/// A bound `NETLINK_XFRM` socket.
#[derive(Debug)]
pub struct XfrmSocket {
    sock: Socket,
    pid: u32,
}

impl XfrmSocket {
    /// Opens and binds a `NETLINK_XFRM` socket (the kernel picks the port id) with extended acks
    /// on.
    ///
    /// Fails with [`KernelError::NoXfrm`] when the kernel has no XFRM netlink
    /// (`EPROTONOSUPPORT`: `CONFIG_XFRM_USER` off).
    pub fn open() -> Result<XfrmSocket, KernelError> {
        let mut sock = Socket::new(NETLINK_XFRM).map_err(|e| match e.raw_os_error() {
            Some(libc::EPROTONOSUPPORT) | Some(libc::EAFNOSUPPORT) => KernelError::NoXfrm(e),
            _ => KernelError::Io(e),
        })?;
        let addr = sock.bind_auto()?;
        if let Err(e) = sock.set_ext_ack(true) {
            tracing::debug!(error = %e, "NETLINK_EXT_ACK not available");
        }
        let pid = addr.port_number();
        tracing::debug!(fd = sock.as_raw_fd(), pid, "opened NETLINK_XFRM socket");
        Ok(XfrmSocket { sock, pid })
    }

    /// The port id the kernel assigned (the `nlmsg_pid` of its replies to us).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Joins multicast group `group` (`XFRMNLGRP_*`).
    pub fn join(&self, group: u32) -> Result<(), KernelError> {
        self.sock.add_membership(group)?;
        tracing::debug!(group, "joined XFRM multicast group");
        Ok(())
    }

    /// Leaves multicast group `group`.
    pub fn leave(&self, group: u32) -> Result<(), KernelError> {
        self.sock.drop_membership(group)?;
        Ok(())
    }

    /// Sends one request to the kernel.
    pub fn send(&self, msg: &[u8]) -> Result<(), KernelError> {
        let kernel = SocketAddr::new(0, 0);
        loop {
            match self.sock.send_to(msg, &kernel, 0) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Receives one datagram into `buf` (cleared first), waiting at most `timeout` (`None`:
    /// forever). `Ok(false)` on timeout. A datagram larger than [`RECV_BUFFER`] is an error
    /// (the kernel never sends one).
    pub fn recv(&self, buf: &mut Vec<u8>, timeout: Option<Duration>) -> Result<bool, KernelError> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let wait = match deadline {
                None => PollTimeout::NONE,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
                }
            };
            let mut fds = [PollFd::new(self.sock.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, wait) {
                Ok(0) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(false);
                    }
                    continue;
                }
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(io::Error::from(e).into()),
            }
            buf.clear();
            buf.reserve(RECV_BUFFER);
            match self.sock.recv(buf, libc::MSG_DONTWAIT | libc::MSG_TRUNC) {
                Ok(n) if n > buf.len() => {
                    return Err(
                        io::Error::other(format!("netlink datagram of {n} bytes truncated to {}", buf.len())).into()
                    );
                }
                Ok(_) => return Ok(true),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl AsFd for XfrmSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

impl AsRawFd for XfrmSocket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.sock.as_raw_fd()
    }
}

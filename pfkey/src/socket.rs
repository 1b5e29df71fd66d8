//! The `PF_KEY` socket: `socket(PF_KEY, SOCK_RAW, PF_KEY_V2)` as a [`Channel`].
//!
//! The socket knows nothing about message contents beyond the base header's type (to name the
//! operation in a failed `send`): request/reply correlation, dumps and events live in
//! [`PfKeyKernel`](crate::kernel::PfKeyKernel).
//!
//! Linux facts this layer relies on (`net/key/af_key.c`):
//! - one `send` is one message; a bad base header fails the `send` itself with `EINVAL` or
//!   `EMSGSIZE`, later errors come back as a 16-byte reply to the sender only;
//! - `recvmsg` accepts `MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC`, and with `MSG_TRUNC` returns the
//!   datagram's full length, so a peek tells how big a buffer the next message needs (up to
//!   `u16::MAX` words = 524,280 bytes);
//! - a dump is paced by the reader: the kernel queues more dump messages from inside `recvmsg`,
//!   so a dump only finishes if its requester keeps reading;
//! - `sadb_msg_pid` is not checked by the kernel, only echoed in replies; this socket uses the
//!   process id, as `setkey`, racoon and strongSwan do.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{MsgFlags, recv, send, setsockopt, sockopt};

use crate::kernel::{Channel, KernelError};
use crate::wire::numbers::{MessageType, PF_KEY, PF_KEY_V2};

/// The largest message PF_KEY can carry: `sadb_msg_len` is a `u16` count of 8-byte words.
pub const MAX_MESSAGE_LEN: usize = u16::MAX as usize * 8;

/// A `PF_KEY` v2 socket.
///
/// Blocking use goes through [`Channel::recv`] with a timeout (it polls, so the socket itself may
/// stay non-blocking); an event loop registers [`AsFd`]/[`AsRawFd`] for readability and calls
/// [`PfKeySocket::try_recv`] until it returns `Ok(false)`.
#[derive(Debug)]
pub struct PfKeySocket {
    fd: OwnedFd,
    pid: u32,
}

impl PfKeySocket {
    /// Opens `socket(PF_KEY, SOCK_RAW | SOCK_CLOEXEC, PF_KEY_V2)`.
    ///
    /// Fails with [`KernelError::NoPfKey`] when the kernel has no PF_KEY family
    /// (`EAFNOSUPPORT`/`EPROTONOSUPPORT`: `CONFIG_NET_KEY` off or `af_key` not loaded), and with
    /// [`KernelError::Io`] of kind `PermissionDenied` without `CAP_NET_ADMIN` (Linux checks it in
    /// `pfkey_create`).
    pub fn open() -> Result<PfKeySocket, KernelError> {
        // SAFETY: `socket` takes no pointers; a non-negative result is a new descriptor that
        // nothing else owns.
        let fd = unsafe { libc::socket(PF_KEY, libc::SOCK_RAW | libc::SOCK_CLOEXEC, i32::from(PF_KEY_V2)) };
        if fd < 0 {
            let err = io::Error::last_os_error();
            return Err(match err.raw_os_error() {
                Some(libc::EAFNOSUPPORT) | Some(libc::EPROTONOSUPPORT) => KernelError::NoPfKey(err),
                Some(libc::EPERM) | Some(libc::EACCES) => KernelError::Io(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("socket(PF_KEY) needs CAP_NET_ADMIN: {err}"),
                )),
                _ => KernelError::Io(err),
            });
        }
        // SAFETY: `fd` is a fresh descriptor returned above and owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let sock = PfKeySocket::from_owned_fd(fd);
        tracing::debug!(fd = sock.fd.as_raw_fd(), pid = sock.pid, "opened PF_KEY socket");
        Ok(sock)
    }

    /// Wraps an already-open PF_KEY socket (for example one inherited from a parent process).
    ///
    /// Any connected datagram socket works as a transport, which is how the I/O paths are tested
    /// on kernels without PF_KEY.
    pub fn from_owned_fd(fd: OwnedFd) -> PfKeySocket {
        PfKeySocket { fd, pid: std::process::id() }
    }

    /// Uses `pid` as `sadb_msg_pid` instead of the process id.
    pub fn with_pid(mut self, pid: u32) -> PfKeySocket {
        self.pid = pid;
        self
    }

    /// The descriptor, closing nothing.
    pub fn into_owned_fd(self) -> OwnedFd {
        self.fd
    }

    /// Sets or clears `O_NONBLOCK`. Receiving with a timeout works either way; a non-blocking
    /// socket is what an event loop wants.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        let fd = self.fd.as_raw_fd();
        // SAFETY: F_GETFL/F_SETFL take no pointers; `fd` is open for as long as `self` lives.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        let flags = if nonblocking { flags | libc::O_NONBLOCK } else { flags & !libc::O_NONBLOCK };
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, flags) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Sets `SO_RCVBUF` (the kernel doubles it). A larger buffer keeps bursts of ACQUIREs and
    /// other sockets' broadcasts from being dropped; dumps are paced by reading and need none.
    pub fn set_recv_buffer_size(&self, bytes: usize) -> io::Result<()> {
        setsockopt(&self.fd, sockopt::RcvBuf, &bytes)?;
        Ok(())
    }

    /// Sends one message. A kernel that rejects the base header fails the send:
    /// [`KernelError::Errno`] names the message type and carries the errno.
    pub fn send_message(&self, msg: &[u8]) -> Result<(), KernelError> {
        let op = msg.get(1).and_then(|&t| MessageType::from(t).name()).unwrap_or("PF_KEY send");
        loop {
            match send(self.fd.as_raw_fd(), msg, MsgFlags::empty()) {
                Ok(n) if n == msg.len() => return Ok(()),
                Ok(n) => {
                    return Err(KernelError::Io(io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!("{op}: sent {n} of {} bytes", msg.len()),
                    )));
                }
                Err(Errno::EINTR) => continue,
                Err(e @ (Errno::EAGAIN | Errno::EBADF | Errno::ENOTSOCK | Errno::EFAULT)) => {
                    return Err(KernelError::Io(e.into()));
                }
                Err(e) => return Err(KernelError::Errno { op, errno: e as i32 }),
            }
        }
    }

    /// Receives one message into `buf` without waiting. `Ok(false)`: nothing queued.
    pub fn try_recv(&self, buf: &mut Vec<u8>) -> Result<bool, KernelError> {
        self.recv_message(buf, Some(Duration::ZERO))
    }

    /// Receives one whole message into `buf` (cleared first, grown to the message's size),
    /// waiting at most `timeout` (`None`: forever). `Ok(false)` on timeout.
    ///
    /// The size comes from a `MSG_PEEK | MSG_TRUNC` peek, so no message is ever truncated and
    /// `buf` only reallocates when a message is bigger than any before it.
    pub fn recv_message(&self, buf: &mut Vec<u8>, timeout: Option<Duration>) -> Result<bool, KernelError> {
        buf.clear();
        let deadline = timeout.map(|t| Instant::now().checked_add(t).unwrap_or_else(far_future));
        loop {
            let len = match self.peek_len() {
                Ok(len) => len,
                Err(Errno::EAGAIN) => {
                    if !self.wait_readable(deadline)? {
                        return Ok(false);
                    }
                    continue;
                }
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(KernelError::Io(e.into())),
            };
            buf.resize(len, 0);
            match recv(self.fd.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_TRUNC) {
                Ok(n) if n <= len => {
                    buf.truncate(n);
                    return Ok(true);
                }
                Ok(n) => {
                    // Another reader of this descriptor took the peeked message and a bigger
                    // one arrived in between: its tail is gone.
                    buf.clear();
                    return Err(KernelError::Io(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "PF_KEY message of {n} bytes truncated to {len} (descriptor shared with another reader?)"
                        ),
                    )));
                }
                // Taken by another reader of the same descriptor: wait for the next one.
                Err(Errno::EAGAIN | Errno::EINTR) => buf.clear(),
                Err(e) => {
                    buf.clear();
                    return Err(KernelError::Io(e.into()));
                }
            }
        }
    }

    /// The length of the next queued datagram, without taking it.
    fn peek_len(&self) -> Result<usize, Errno> {
        let mut hdr = [0u8; 16];
        recv(self.fd.as_raw_fd(), &mut hdr, MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC | MsgFlags::MSG_DONTWAIT)
    }

    /// Waits until the socket is readable or `deadline` passes (`Ok(false)`).
    fn wait_readable(&self, deadline: Option<Instant>) -> Result<bool, KernelError> {
        loop {
            let timeout = match deadline {
                None => PollTimeout::NONE,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(false);
                    }
                    // Round up so that a sub-millisecond remainder does not spin.
                    let ms = left.as_micros().div_ceil(1000);
                    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
                }
            };
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, timeout) {
                Ok(0) => continue,
                Ok(_) => {
                    let ev = fds[0].revents().unwrap_or(PollFlags::empty());
                    if ev.intersects(PollFlags::POLLERR | PollFlags::POLLNVAL) && !ev.contains(PollFlags::POLLIN) {
                        return Err(KernelError::Io(io::Error::other(format!("poll on PF_KEY socket: {ev:?}"))));
                    }
                    return Ok(true);
                }
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(KernelError::Io(e.into())),
            }
        }
    }
}

/// A deadline that never comes (for timeouts too large to add to `Instant::now()`).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

impl AsFd for PfKeySocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for PfKeySocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Channel for PfKeySocket {
    fn pid(&self) -> u32 {
        self.pid
    }

    fn send(&mut self, msg: &[u8]) -> Result<(), KernelError> {
        self.send_message(msg)
    }

    fn recv(&mut self, buf: &mut Vec<u8>, timeout: Option<Duration>) -> Result<bool, KernelError> {
        self.recv_message(buf, timeout)
    }

    fn backend_name(&self) -> &'static str {
        "afkey"
    }
}

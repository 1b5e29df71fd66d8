//! [`Tap`]: a [`Channel`] wrapper that reports every datagram it carries.
//!
//! The wrapped channel does the work; the tap hands each datagram sent and each datagram
//! received to a [`TapSink`] (a closure, or a [`TapLog`] that keeps them for later), so a tool
//! can show the PF_KEY messages behind any operation of [`PfKeyKernel`](super::PfKeyKernel)
//! without the kernel code knowing:
//!
//! ```
//! use pfkey::kernel::tap::{Direction, Tap, TapLog};
//! use pfkey::kernel::{Kernel, ModelKernel, PfKeyKernel};
//! use pfkey::wire::numbers::SaType;
//!
//! let model = ModelKernel::new();
//! let log = TapLog::new();
//! let mut kernel = PfKeyKernel::new(Tap::new(model.socket(), log.clone()));
//! kernel.flush_sas(SaType::Unspec).unwrap();
//! let seen = log.take();
//! assert_eq!(seen[0].direction, Direction::Sent);
//! assert_eq!(seen[0].bytes[1], 9); // SADB_FLUSH
//! assert!(seen.iter().skip(1).all(|d| d.direction == Direction::Received));
//! ```
//!
//! The tap sees the raw traffic: promiscuous echoes and repeated answers that `PfKeyKernel`
//! drops are reported too.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Channel, KernelError};

/// Which way a datagram went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From this endpoint to the kernel.
    Sent,
    /// From the kernel to this endpoint.
    Received,
}

impl Direction {
    /// The arrow tools print before a message: `→` sent, `←` received.
    pub fn arrow(self) -> &'static str {
        match self {
            Direction::Sent => "→",
            Direction::Received => "←",
        }
    }
}

/// Where a [`Tap`] reports datagrams.
pub trait TapSink {
    /// Called with every datagram: a sent one just before it is handed to the channel (so a send
    /// the kernel refuses is reported too), a received one as soon as it arrived.
    fn datagram(&mut self, direction: Direction, bytes: &[u8]);
}

impl<F: FnMut(Direction, &[u8])> TapSink for F {
    fn datagram(&mut self, direction: Direction, bytes: &[u8]) {
        self(direction, bytes)
    }
}

/// One datagram a [`TapLog`] kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tapped {
    /// Which way it went.
    pub direction: Direction,
    /// The whole datagram.
    pub bytes: Vec<u8>,
}

/// A [`TapSink`] that keeps the datagrams in order until [`TapLog::take`]n. Clones share one log,
/// so the caller keeps a clone and gives another to the [`Tap`].
#[derive(Debug, Clone, Default)]
pub struct TapLog {
    entries: Arc<Mutex<Vec<Tapped>>>,
}

impl TapLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes and returns everything logged so far, oldest first.
    pub fn take(&self) -> Vec<Tapped> {
        std::mem::take(&mut *self.lock())
    }

    /// How many datagrams wait in the log.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Tapped>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl TapSink for TapLog {
    fn datagram(&mut self, direction: Direction, bytes: &[u8]) {
        self.lock().push(Tapped { direction, bytes: bytes.to_vec() });
    }
}

/// A [`Channel`] that passes everything through to `C` and reports each datagram to `S`.
#[derive(Debug)]
pub struct Tap<C, S> {
    inner: C,
    sink: S,
}

impl<C: Channel, S: TapSink> Tap<C, S> {
    /// Wraps `inner`, reporting to `sink`.
    pub fn new(inner: C, sink: S) -> Self {
        Tap { inner, sink }
    }

    /// The wrapped channel.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// The wrapped channel, mutably (what is sent or received through it directly is not
    /// reported).
    pub fn inner_mut(&mut self) -> &mut C {
        &mut self.inner
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// The sink, mutably.
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    /// The wrapped channel and the sink.
    pub fn into_parts(self) -> (C, S) {
        (self.inner, self.sink)
    }
}

impl<C: Channel, S: TapSink> Channel for Tap<C, S> {
    fn pid(&self) -> u32 {
        self.inner.pid()
    }

    fn send(&mut self, msg: &[u8]) -> Result<(), KernelError> {
        self.sink.datagram(Direction::Sent, msg);
        self.inner.send(msg)
    }

    fn recv(&mut self, buf: &mut Vec<u8>, timeout: Option<Duration>) -> Result<bool, KernelError> {
        let got = self.inner.recv(buf, timeout)?;
        if got {
            self.sink.datagram(Direction::Received, buf);
        }
        Ok(got)
    }

    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::kernel::{Kernel, ModelKernel, PfKeyKernel};
    use crate::message::{Message, SaSpec, SockAddr};
    use crate::wire::Dialect;
    use crate::wire::numbers::{MessageType, SaType};

    /// A scripted channel: records what is sent, answers from a queue.
    #[derive(Default)]
    struct Script {
        sent: Vec<Vec<u8>>,
        replies: VecDeque<Result<Vec<u8>, i32>>,
        refuse_send: Option<i32>,
    }

    impl Channel for Script {
        fn pid(&self) -> u32 {
            77
        }
        fn send(&mut self, msg: &[u8]) -> Result<(), KernelError> {
            if let Some(errno) = self.refuse_send {
                return Err(KernelError::Errno { op: "test", errno });
            }
            self.sent.push(msg.to_vec());
            Ok(())
        }
        fn recv(&mut self, buf: &mut Vec<u8>, _timeout: Option<Duration>) -> Result<bool, KernelError> {
            buf.clear();
            match self.replies.pop_front() {
                None => Ok(false),
                Some(Ok(b)) => {
                    buf.extend_from_slice(&b);
                    Ok(true)
                }
                Some(Err(errno)) => Err(KernelError::Io(std::io::Error::from_raw_os_error(errno))),
            }
        }
        fn backend_name(&self) -> &'static str {
            "script"
        }
    }

    #[test]
    fn passes_everything_through_and_reports_it_in_order() {
        let script = Script { replies: [Ok(vec![1, 2, 3])].into(), ..Script::default() };
        let log = TapLog::new();
        let mut tap = Tap::new(script, log.clone());
        assert_eq!(tap.pid(), 77);
        assert_eq!(tap.backend_name(), "script");
        tap.send(&[9; 16]).unwrap();
        let mut buf = vec![0xff; 4];
        assert!(tap.recv(&mut buf, Some(Duration::ZERO)).unwrap());
        assert_eq!(buf, [1, 2, 3]);
        assert!(!tap.recv(&mut buf, Some(Duration::ZERO)).unwrap(), "a timeout is passed through");
        assert_eq!(
            log.take(),
            [
                Tapped { direction: Direction::Sent, bytes: vec![9; 16] },
                Tapped { direction: Direction::Received, bytes: vec![1, 2, 3] },
            ],
            "a timeout reports nothing"
        );
        assert!(log.is_empty());
        assert_eq!(tap.inner().sent, [vec![9u8; 16]]);
    }

    #[test]
    fn a_refused_send_is_reported_and_its_error_passed_through() {
        let script = Script { refuse_send: Some(libc::EINVAL), ..Script::default() };
        let mut seen = Vec::new();
        let mut tap = Tap::new(script, |d: Direction, b: &[u8]| seen.push((d, b.len())));
        let err = tap.send(&[0; 16]).unwrap_err();
        assert_eq!(err.errno(), Some(libc::EINVAL));
        let mut buf = Vec::new();
        tap.inner_mut().replies.push_back(Err(libc::EIO));
        assert!(tap.recv(&mut buf, None).is_err(), "receive errors are passed through");
        drop(tap);
        assert_eq!(seen, [(Direction::Sent, 16)], "a failed receive reports nothing");
    }

    #[test]
    fn shows_the_messages_behind_a_kernel_operation() {
        let model = ModelKernel::new();
        let log = TapLog::new();
        let mut kernel = PfKeyKernel::new(Tap::new(model.socket(), log.clone()));
        let a = SockAddr::new("192.0.2.1".parse().unwrap());
        let b = SockAddr::new("198.51.100.1".parse().unwrap());
        kernel.add_sa(&SaSpec::esp_tunnel_gcm(0x1234, a, b, 1, &[7; 20])).unwrap();
        let seen = log.take();
        assert_eq!(seen.len(), 2, "{seen:?}");
        let types: Vec<(Direction, MessageType, u32)> = seen
            .iter()
            .map(|t| {
                let m = Message::parse(&t.bytes, Dialect::Linux).unwrap();
                (t.direction, m.msg_type(), m.sa().unwrap().spi)
            })
            .collect();
        assert_eq!(
            types,
            [(Direction::Sent, MessageType::Add, 0x1234), (Direction::Received, MessageType::Add, 0x1234)]
        );
        assert_eq!(kernel.dump_sas(SaType::Esp).unwrap().len(), 1);
        assert_eq!(log.len(), 2, "the dump request and its one entry");
        assert_eq!(Direction::Sent.arrow(), "→");
        assert_eq!(Direction::Received.arrow(), "←");
    }
}

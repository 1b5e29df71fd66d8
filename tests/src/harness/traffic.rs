//! Sequence-numbered UDP through the tunnel: a sender at a fixed rate in one namespace, a receiver
//! recording every sequence number and arrival time in the other, and the loss analysis.
//!
//! A datagram is `MAGIC (4) | flow (1) | seq (8, big endian)`, padded to 64 bytes. Times are
//! microseconds since the run's start ([`Clock`]).

use std::net::{SocketAddrV4, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::HarnessError;
use super::topology::{enter_netns, in_netns};

const MAGIC: [u8; 4] = *b"LABx";
const DATAGRAM: usize = 64;

/// The run's time base.
#[derive(Debug, Clone, Copy)]
pub struct Clock(pub Instant);

impl Clock {
    /// Microseconds since the start.
    pub fn us(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// What a sender did: when each seq was handed to the kernel (index = seq) and which sends failed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SendLog {
    /// Send time of seq `i` (µs).
    pub times_us: Vec<u64>,
    /// Failed sends: (seq, errno).
    pub errors: Vec<(u64, i32)>,
}

/// What a receiver saw: (seq, arrival µs) in arrival order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RecvLog {
    /// Every datagram of the flow, in arrival order.
    pub arrivals: Vec<(u64, u64)>,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
    let what = what.into();
    move |source| HarnessError::Io { what, source }
}

/// A running receiver.
#[derive(Debug)]
pub struct Receiver {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Result<RecvLog, HarnessError>>,
}

impl Receiver {
    /// Binds `addr` in namespace `ns` (before returning) and records datagrams of `flow`.
    pub fn start(ns: &str, addr: SocketAddrV4, flow: u8, clock: Clock) -> Result<Receiver, HarnessError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let ns = ns.to_string();
        let stop2 = stop.clone();
        let handle = std::thread::spawn(move || {
            let setup = (|| -> Result<UdpSocket, HarnessError> {
                enter_netns(&ns)?;
                let sock = UdpSocket::bind(addr).map_err(io(format!("binding {addr} in {ns}")))?;
                sock.set_read_timeout(Some(Duration::from_millis(100))).map_err(io("SO_RCVTIMEO"))?;
                set_rcvbuf(&sock, 4 << 20);
                Ok(sock)
            })();
            let sock = report_ready(setup, &tx)?;
            let mut log = RecvLog::default();
            let mut buf = [0u8; 2048];
            while !stop2.load(Ordering::Relaxed) {
                match sock.recv(&mut buf) {
                    Ok(n) if n >= 13 && buf[..4] == MAGIC && buf[4] == flow => {
                        let seq = u64::from_be_bytes(buf[5..13].try_into().expect("8 bytes"));
                        log.arrivals.push((seq, clock.us()));
                    }
                    Ok(_) => {}
                    Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                    Err(e) => return Err(HarnessError::Io { what: format!("receiving on {addr}"), source: e }),
                }
            }
            Ok(log)
        });
        wait_ready(rx)?;
        Ok(Receiver { stop, handle })
    }

    /// Stops it and returns what it saw.
    pub fn finish(self) -> Result<RecvLog, HarnessError> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_else(|_| Err(HarnessError::Thread("a receiver panicked".into())))
    }
}

/// Tells the spawning thread whether this thread's setup worked (the error goes to it whole) and
/// hands the set-up value on.
fn report_ready<T>(
    setup: Result<T, HarnessError>,
    tx: &std::sync::mpsc::Sender<Result<(), HarnessError>>,
) -> Result<T, HarnessError> {
    match setup {
        Ok(v) => {
            let _ = tx.send(Ok(()));
            Ok(v)
        }
        Err(e) => {
            let msg = e.to_string();
            let _ = tx.send(Err(e));
            Err(HarnessError::Thread(msg))
        }
    }
}

fn wait_ready(rx: std::sync::mpsc::Receiver<Result<(), HarnessError>>) -> Result<(), HarnessError> {
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(r) => r,
        Err(_) => Err(HarnessError::Thread("a traffic or capture thread did not start within 20 s".into())),
    }
}

fn set_rcvbuf(sock: &impl std::os::fd::AsRawFd, bytes: i32) {
    // SAFETY: an int option on a valid socket. SO_RCVBUFFORCE (root) goes beyond rmem_max.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&bytes as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        );
    }
}

/// A running sender.
#[derive(Debug)]
pub struct Sender {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Result<SendLog, HarnessError>>,
}

impl Sender {
    /// Sends datagrams of `flow` from `src` to `dst` in namespace `ns`, `rate_pps` per second, from
    /// now until stopped. When the thread falls behind (a stalled emulated CPU) it does not send a
    /// burst to catch up: the schedule restarts from now.
    pub fn start(
        ns: &str,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        flow: u8,
        rate_pps: u32,
        clock: Clock,
    ) -> Result<Sender, HarnessError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let ns = ns.to_string();
        let stop2 = stop.clone();
        let period = Duration::from_secs(1) / rate_pps.max(1);
        let handle = std::thread::spawn(move || {
            let setup = (|| -> Result<UdpSocket, HarnessError> {
                enter_netns(&ns)?;
                let sock = UdpSocket::bind(src).map_err(io(format!("binding {src} in {ns}")))?;
                Ok(sock)
            })();
            let sock = report_ready(setup, &tx)?;
            let mut log = SendLog::default();
            let mut buf = [0u8; DATAGRAM];
            buf[..4].copy_from_slice(&MAGIC);
            buf[4] = flow;
            let mut next = Instant::now();
            let mut seq: u64 = 0;
            while !stop2.load(Ordering::Relaxed) {
                let now = Instant::now();
                if now < next {
                    std::thread::sleep(next - now);
                } else if now - next > period * 4 {
                    next = now;
                }
                buf[5..13].copy_from_slice(&seq.to_be_bytes());
                log.times_us.push(clock.us());
                if let Err(e) = sock.send_to(&buf, dst) {
                    log.errors.push((seq, e.raw_os_error().unwrap_or(0)));
                }
                seq += 1;
                next += period;
            }
            Ok(log)
        });
        wait_ready(rx)?;
        Ok(Sender { stop, handle })
    }

    /// Stops it and returns what it sent.
    pub fn finish(self) -> Result<SendLog, HarnessError> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_else(|_| Err(HarnessError::Thread("a sender panicked".into())))
    }
}

/// A UDP socket connected from `src` to `dst` in a namespace before the moves, so that the
/// kernel caches its route (the tunnel's bundle) in the socket, and used again after them: a stale
/// cached route would send on the old path or fail. Sends from the calling thread.
#[derive(Debug)]
pub struct Probe {
    sock: UdpSocket,
    flow: u8,
    seq: u64,
    /// What it sent.
    pub log: SendLog,
}

impl Probe {
    /// Binds and connects the socket in `ns`; its datagrams are of flow `flow`.
    pub fn connect(ns: &str, src: SocketAddrV4, dst: SocketAddrV4, flow: u8) -> Result<Probe, HarnessError> {
        let sock = in_netns(ns, || {
            let sock = UdpSocket::bind(src).map_err(io(format!("binding {src} in {ns}")))?;
            sock.connect(dst).map_err(io(format!("connecting {src} to {dst} in {ns}")))?;
            Ok(sock)
        })?;
        Ok(Probe { sock, flow, seq: 0, log: SendLog::default() })
    }

    /// Sends `n` datagrams, `period` apart.
    pub fn send(&mut self, n: usize, period: Duration, clock: Clock) {
        let mut buf = [0u8; DATAGRAM];
        buf[..4].copy_from_slice(&MAGIC);
        buf[4] = self.flow;
        for i in 0..n {
            if i > 0 {
                std::thread::sleep(period);
            }
            buf[5..13].copy_from_slice(&self.seq.to_be_bytes());
            self.log.times_us.push(clock.us());
            if let Err(e) = self.sock.send(&buf) {
                self.log.errors.push((self.seq, e.raw_os_error().unwrap_or(0)));
            }
            self.seq += 1;
        }
    }
}

/// A run of lost datagrams.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LostRange {
    /// First lost seq.
    pub first: u64,
    /// Last lost seq.
    pub last: u64,
    /// When the first was sent (ms since start).
    pub sent_from_ms: f64,
    /// When the last was sent (ms since start).
    pub sent_to_ms: f64,
}

/// One direction's numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowStats {
    /// Datagrams the sender tried to send.
    pub sent: u64,
    /// Sends the kernel refused (counted as lost).
    pub send_errors: u64,
    /// Distinct datagrams received.
    pub received: u64,
    /// Datagrams received more than once.
    pub duplicates: u64,
    /// `sent - received`.
    pub lost: u64,
    /// Lost datagrams as ranges (the first 20).
    pub lost_ranges: Vec<LostRange>,
    /// The largest time between consecutive arrivals (ms).
    pub largest_gap_ms: f64,
    /// When that gap started (ms since start).
    pub largest_gap_at_ms: f64,
    /// Datagrams sent after `after_ms` (see [`FlowStats::analyze`]).
    pub sent_after: u64,
    /// Of those, how many were lost.
    pub lost_after: u64,
    /// Lost datagrams sent inside one of the windows given to [`FlowStats::analyze`] (the moves).
    pub lost_in_windows: u64,
}

impl FlowStats {
    /// The numbers of one direction; `after_ms` splits off the datagrams sent after the last move
    /// completed, `windows` are the moves' (start, end) times in ms, margins included. A datagram
    /// stamped exactly `after_ms` is not after it: when the guest's clock is coarse (a jiffies
    /// clocksource ticks in 4 ms steps), what the sender stamped in the move's last tick carries
    /// the move's end time, though it may have been sent before the last step returned.
    pub fn analyze(send: &SendLog, recv: &RecvLog, after_ms: f64, windows: &[(f64, f64)]) -> FlowStats {
        let sent = send.times_us.len() as u64;
        let mut seen = vec![0u32; send.times_us.len()];
        for &(seq, _) in &recv.arrivals {
            if let Some(n) = usize::try_from(seq).ok().and_then(|i| seen.get_mut(i)) {
                *n += 1;
            }
        }
        let received = seen.iter().filter(|&&n| n > 0).count() as u64;
        let duplicates = seen.iter().map(|&n| u64::from(n.saturating_sub(1))).sum();
        let ms = |us: u64| us as f64 / 1000.0;
        let mut lost_ranges: Vec<LostRange> = Vec::new();
        let mut sent_after = 0;
        let mut lost_after = 0;
        let mut lost_in_windows = 0;
        for (i, &n) in seen.iter().enumerate() {
            let t = ms(send.times_us[i]);
            if t > after_ms {
                sent_after += 1;
                lost_after += u64::from(n == 0);
            }
            if n > 0 {
                continue;
            }
            if windows.iter().any(|&(a, b)| t >= a && t <= b) {
                lost_in_windows += 1;
            }
            match lost_ranges.last_mut() {
                Some(r) if r.last + 1 == i as u64 => {
                    r.last = i as u64;
                    r.sent_to_ms = t;
                }
                _ => lost_ranges.push(LostRange { first: i as u64, last: i as u64, sent_from_ms: t, sent_to_ms: t }),
            }
        }
        lost_ranges.truncate(20);
        let (mut gap, mut gap_at) = (0u64, 0u64);
        for w in recv.arrivals.windows(2) {
            let d = w[1].1.saturating_sub(w[0].1);
            if d > gap {
                gap = d;
                gap_at = w[0].1;
            }
        }
        FlowStats {
            sent,
            send_errors: send.errors.len() as u64,
            received,
            duplicates,
            lost: sent - received,
            lost_ranges,
            largest_gap_ms: ms(gap),
            largest_gap_at_ms: ms(gap_at),
            sent_after,
            lost_after,
            lost_in_windows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_is_counted_in_ranges_with_send_times_and_the_largest_gap() {
        let send = SendLog { times_us: (0..10).map(|i| i * 5000).collect(), errors: vec![(9, 1)] };
        // 3, 4 and 9 lost; 1 received twice.
        let arrivals = [0u64, 1, 1, 2, 5, 6, 7, 8].iter().map(|&s| (s, s * 5000 + 100)).collect();
        let st = FlowStats::analyze(&send, &RecvLog { arrivals }, 30.0, &[(14.0, 21.0)]);
        assert_eq!((st.sent, st.received, st.lost, st.duplicates, st.send_errors), (10, 7, 3, 1, 1));
        assert_eq!(st.lost_ranges[0], LostRange { first: 3, last: 4, sent_from_ms: 15.0, sent_to_ms: 20.0 });
        assert_eq!((st.lost_ranges[1].first, st.lost_ranges[1].last), (9, 9));
        assert_eq!(st.largest_gap_ms, 15.0);
        assert_eq!(st.largest_gap_at_ms, 10.1);
        assert_eq!((st.sent_after, st.lost_after), (3, 1), "#6, stamped 30.0 ms, is not after the move's end");
        assert_eq!(st.lost_in_windows, 2, "3 and 4 were sent during the move, 9 after it");
    }

    #[test]
    fn datagrams_of_other_flows_or_seqs_never_sent_do_not_count() {
        let send = SendLog { times_us: vec![0, 1000], errors: vec![] };
        let st = FlowStats::analyze(&send, &RecvLog { arrivals: vec![(0, 10), (1, 20), (99, 30)] }, 0.0, &[]);
        assert_eq!((st.received, st.lost), (2, 0));
    }
}

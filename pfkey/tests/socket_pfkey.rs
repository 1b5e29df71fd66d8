//! The `PF_KEY` socket: opening it on this kernel (a real round trip where PF_KEY exists, the
//! `NoPfKey` error where it does not), and its I/O paths over a datagram socket pair.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use pfkey::kernel::{AfKey, Channel, GetSpi, Kernel, KernelError, KernelEvent, PfKeyKernel};
use pfkey::message::{Address, Extension, Message, PolicySpec, Sa, Selector, SockAddr};
use pfkey::socket::{MAX_MESSAGE_LEN, PfKeySocket};
use pfkey::wire::Dialect;
use pfkey::wire::numbers::{AuthAlg, EncryptAlg, ExtKind, MessageType, Mode, PolicyDir, SaState, SaType};

fn ip(s: &str) -> SockAddr {
    SockAddr::new(s.parse().unwrap())
}

/// What happened when the test tried PF_KEY, for the test's output.
enum Found {
    NoPfKey,
    RoundTripInFreshNetns,
    ReadOnlyRoundTrip,
}

/// Runs in its own thread so that `unshare(CLONE_NEWNET)` moves only this thread into an empty
/// network namespace, where flushing the SAD/SPD cannot harm the host's tunnels.
fn try_pf_key() -> Found {
    // SAFETY: unshare takes no pointers; it affects only the calling thread.
    let own_netns = unsafe { libc::unshare(libc::CLONE_NEWNET) } == 0;
    let mut k = match AfKey::open() {
        Err(KernelError::NoPfKey(e)) => {
            let errno = e.raw_os_error();
            assert!(
                errno == Some(libc::EAFNOSUPPORT) || errno == Some(libc::EPROTONOSUPPORT),
                "NoPfKey must come from EAFNOSUPPORT/EPROTONOSUPPORT, got {e}"
            );
            let text = KernelError::NoPfKey(e).to_string();
            assert!(text.contains("PF_KEY") && text.contains("CONFIG_NET_KEY"), "message must name the cause: {text}");
            eprintln!("PF_KEY absent on this kernel: {text}");
            return Found::NoPfKey;
        }
        Err(e) => panic!("PF_KEY exists but could not be opened: {e}"),
        Ok(k) => k,
    };
    assert_eq!(k.backend(), "afkey");
    if !own_netns {
        // No namespace of our own: touch nothing, but a dump is still a real round trip.
        let sas = k.dump_sas(SaType::Unspec).expect("SADB_DUMP round trip");
        let pols = k.dump_policies().expect("SADB_X_SPDDUMP round trip");
        eprintln!("PF_KEY present (host namespace, read-only): {} SAs, {} policies", sas.len(), pols.len());
        return Found::ReadOnlyRoundTrip;
    }
    k.flush_sas(SaType::Unspec).expect("SADB_FLUSH round trip");
    k.flush_policies().expect("SADB_X_SPDFLUSH round trip");
    assert_eq!(k.dump_sas(SaType::Unspec).expect("SADB_DUMP round trip"), vec![]);
    assert_eq!(k.dump_policies().expect("SADB_X_SPDDUMP round trip"), vec![]);
    let reg = k.register(SaType::Esp).expect("SADB_REGISTER round trip");
    assert!(reg.has(ExtKind::SupportedEncrypt), "REGISTER answer lists the ciphers: {reg:?}");
    let sel = Selector::new(ip("10.1.0.0"), 16, ip("10.2.0.0"), 16);
    let pol = PolicySpec::esp_tunnel(sel, PolicyDir::Outbound, ip("192.0.2.10"), ip("198.51.100.1"), 7);
    let id = k.add_policy(&pol).expect("SADB_X_SPDADD round trip");
    let dumped = k.dump_policies().expect("SADB_X_SPDDUMP round trip");
    assert_eq!(dumped.len(), 1);
    assert_eq!((dumped[0].id, dumped[0].selector.dst_prefixlen), (id, 16));
    k.flush_policies().expect("SADB_X_SPDFLUSH round trip");
    assert_eq!(k.dump_policies().unwrap(), vec![]);
    eprintln!("PF_KEY present: FLUSH/DUMP/REGISTER/SPDADD round trips checked in a fresh network namespace");
    Found::RoundTripInFreshNetns
}

#[test]
fn opening_pf_key_gives_no_pf_key_here_or_a_real_round_trip_where_it_exists() {
    match std::thread::spawn(try_pf_key).join().expect("PF_KEY check thread") {
        Found::NoPfKey => {
            // The convenience constructor reports the same.
            assert!(matches!(PfKeySocket::open(), Err(KernelError::NoPfKey(_))));
        }
        Found::RoundTripInFreshNetns | Found::ReadOnlyRoundTrip => {}
    }
}

fn pair() -> (PfKeySocket, UnixDatagram) {
    let (a, b) = UnixDatagram::pair().unwrap();
    (PfKeySocket::from_owned_fd(OwnedFd::from(a)), b)
}

#[test]
fn receive_times_out_without_a_message() {
    let (mut s, _peer) = pair();
    let mut buf = Vec::new();
    assert!(!s.try_recv(&mut buf).unwrap());
    let t = Instant::now();
    assert!(!s.recv(&mut buf, Some(Duration::from_millis(60))).unwrap());
    assert!(t.elapsed() >= Duration::from_millis(60), "returned after {:?}", t.elapsed());
    assert!(buf.is_empty());
}

#[test]
fn receive_grows_the_buffer_to_the_message_and_never_truncates() {
    let (s, peer) = pair();
    let big: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
    assert!(big.len() < MAX_MESSAGE_LEN && big.len() > 65_536);
    peer.send(&big).unwrap();
    peer.send(&[7u8; 16]).unwrap();
    let mut buf = Vec::new();
    assert!(s.recv_message(&mut buf, Some(Duration::from_secs(1))).unwrap());
    assert_eq!(buf, big);
    let cap = buf.capacity();
    assert!(s.recv_message(&mut buf, Some(Duration::from_secs(1))).unwrap());
    assert_eq!(buf, [7u8; 16]);
    assert_eq!(buf.capacity(), cap, "the buffer is reused");
}

#[test]
fn send_is_one_datagram_and_pid_is_the_process_id() {
    let (mut s, peer) = pair();
    let msg = Message::new(MessageType::Flush, SaType::Esp).with_seq(3).to_bytes(Dialect::Linux).unwrap();
    Channel::send(&mut s, &msg).unwrap();
    let mut got = [0u8; 64];
    let n = peer.recv(&mut got).unwrap();
    assert_eq!(&got[..n], &msg[..]);
    assert_eq!(s.pid(), std::process::id());
    assert_eq!(s.with_pid(9).pid(), 9);
}

#[test]
fn nonblocking_socket_still_waits_for_a_late_message() {
    let (mut s, peer) = pair();
    s.set_nonblocking(true).unwrap();
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        peer.send(&[1u8; 24]).unwrap();
        peer
    });
    let mut buf = Vec::new();
    assert!(s.recv(&mut buf, Some(Duration::from_secs(5))).unwrap());
    assert_eq!(buf.len(), 24);
    let _peer = sender.join().unwrap();
    s.set_recv_buffer_size(1 << 20).unwrap();
    assert!(s.as_raw_fd() >= 0);
}

#[test]
fn a_closed_peer_on_a_send_is_an_error_not_a_panic() {
    let (mut s, peer) = pair();
    drop(peer);
    let msg = Message::new(MessageType::Flush, SaType::Esp).to_bytes(Dialect::Linux).unwrap();
    match Channel::send(&mut s, &msg) {
        Err(KernelError::Errno { op: "SADB_FLUSH", errno }) => {
            assert!(errno == libc::ECONNREFUSED || errno == libc::ENOTCONN, "{}", io::Error::from_raw_os_error(errno))
        }
        other => panic!("{other:?}"),
    }
}

/// The whole path, `PfKeyKernel` over a real descriptor: a thread plays the kernel.
#[test]
fn kernel_over_a_socket_answers_getspi_and_queues_the_acquire_that_came_first() {
    let (a, b) = UnixDatagram::pair().unwrap();
    let fake_kernel = std::thread::spawn(move || {
        let mut buf = vec![0u8; 4096];
        let n = b.recv(&mut buf).unwrap();
        let req = Message::parse(&buf[..n], Dialect::Linux).unwrap().into_owned();
        assert_eq!(req.msg_type(), MessageType::GetSpi);
        let acquire = Message::new(MessageType::Acquire, SaType::Esp)
            .with_seq(55)
            .with(Extension::AddressSrc(Address::host(ip("192.0.2.10"))))
            .with(Extension::AddressDst(Address::host(ip("198.51.100.1"))));
        b.send(&acquire.to_bytes(Dialect::Linux).unwrap()).unwrap();
        let reply = Message::new(MessageType::GetSpi, SaType::Esp)
            .with_seq(req.header.seq)
            .with_pid(req.header.pid)
            .with(Extension::Sa(Sa {
                spi: 0xdead_beef,
                replay: 0,
                state: SaState::Larval,
                auth: AuthAlg::None,
                encrypt: EncryptAlg::None,
                flags: 0,
            }))
            .with(Extension::AddressSrc(Address::host(ip("198.51.100.1"))))
            .with(Extension::AddressDst(Address::host(ip("192.0.2.10"))));
        b.send(&reply.to_bytes(Dialect::Linux).unwrap()).unwrap();
    });
    let mut k = PfKeyKernel::new(PfKeySocket::from_owned_fd(OwnedFd::from(a)).with_pid(77))
        .with_timeout(Duration::from_secs(5));
    let spi = k
        .getspi(&GetSpi {
            satype: SaType::Esp,
            src: ip("198.51.100.1"),
            dst: ip("192.0.2.10"),
            min: 0x100,
            max: 0xffff_ffff,
            mode: Mode::Tunnel,
            reqid: 1,
        })
        .unwrap();
    fake_kernel.join().unwrap();
    assert_eq!(spi, 0xdead_beef);
    match k.poll_event().unwrap() {
        Some(KernelEvent::Acquire { seq: 55, src, .. }) => assert_eq!(src, ip("192.0.2.10")),
        other => panic!("{other:?}"),
    }
    assert_eq!(k.poll_event().unwrap(), None);
}

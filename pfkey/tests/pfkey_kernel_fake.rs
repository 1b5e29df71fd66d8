//! `PfKeyKernel` against a scripted fake channel that answers the way Linux `af_key` does:
//! correlation, events, errno mapping, dumps, MIGRATE acknowledgement, timeouts, promiscuous
//! duplicates.

use std::collections::VecDeque;
use std::time::Duration;

use pfkey::kernel::{Channel, GetSpi, Kernel, KernelError, KernelEvent, MoveMechanism, MoveOutcome, PfKeyKernel, SaId};
use pfkey::message::{
    Address, Alg, Endpoints, Extension, Lifetime, Message, Migrate, MigrateBundle, NatT, NatTPort, PolicySpec, Sa,
    SaSpec, Selector, SockAddr, Supported, UpdateAddresses,
};
use pfkey::wire::Dialect;
use pfkey::wire::numbers::{
    AuthAlg, EncryptAlg, ExtKind, IPPROTO_ESP, MessageType, Mode, PolicyDir, PolicyType, SaState, SaType,
};

const PID: u32 = 4242;
const EEXIST: u8 = 17;
const ENOENT: u8 = 2;
const EBUSY: u8 = 16;
const EINVAL: i32 = 22;
const ENOPROTOOPT: u8 = 92;

type Responder = Box<dyn FnMut(&Message<'_>) -> Vec<Vec<u8>>>;

/// A kernel stand-in: every sent message goes to `responder`, whose answers (raw bytes) are
/// queued for `recv`. `recv` never blocks: an empty queue is a timeout.
struct Fake {
    sent: Vec<Vec<u8>>,
    inbox: VecDeque<Vec<u8>>,
    responder: Responder,
    refuse_send: Option<i32>,
    recv_timeouts: Vec<Option<Duration>>,
}

impl Fake {
    fn new(responder: impl FnMut(&Message<'_>) -> Vec<Vec<u8>> + 'static) -> Self {
        Fake {
            sent: Vec::new(),
            inbox: VecDeque::new(),
            responder: Box::new(responder),
            refuse_send: None,
            recv_timeouts: Vec::new(),
        }
    }

    fn sent(&self, i: usize) -> Message<'_> {
        Message::parse(&self.sent[i], Dialect::Linux).expect("the kernel sent a valid message")
    }
}

impl Channel for Fake {
    fn pid(&self) -> u32 {
        PID
    }

    fn send(&mut self, msg: &[u8]) -> Result<(), KernelError> {
        if let Some(errno) = self.refuse_send {
            return Err(KernelError::Errno { op: "write", errno });
        }
        self.sent.push(msg.to_vec());
        let parsed = Message::parse(msg, Dialect::Linux).expect("request parses");
        let replies = (self.responder)(&parsed);
        self.inbox.extend(replies);
        Ok(())
    }

    fn recv(&mut self, buf: &mut Vec<u8>, timeout: Option<Duration>) -> Result<bool, KernelError> {
        buf.clear();
        self.recv_timeouts.push(timeout);
        match self.inbox.pop_front() {
            Some(m) => {
                buf.extend_from_slice(&m);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn backend_name(&self) -> &'static str {
        "fake"
    }
}

fn bytes(m: &Message<'_>) -> Vec<u8> {
    m.to_bytes(Dialect::Linux).unwrap()
}

/// The reply Linux would broadcast: the request's header (type, seq, pid) with `exts`.
fn reply(req: &Message<'_>, exts: Vec<Extension<'static>>) -> Vec<u8> {
    let mut m = Message::new(req.msg_type(), req.header.satype).with_seq(req.header.seq).with_pid(req.header.pid);
    for e in exts {
        m.push(e);
    }
    bytes(&m)
}

/// `pfkey_error`: the request's header, length 2, `errno`.
fn error_reply(req: &Message<'_>, errno: u8) -> Vec<u8> {
    bytes(
        &Message::new(req.msg_type(), req.header.satype)
            .with_seq(req.header.seq)
            .with_pid(req.header.pid)
            .with_errno(errno),
    )
}

fn ip(s: &str) -> SockAddr {
    SockAddr::new(s.parse().unwrap())
}

fn sa_ext(spi: u32) -> Extension<'static> {
    Extension::Sa(Sa {
        spi,
        replay: 32,
        state: SaState::Mature,
        auth: AuthAlg::None,
        encrypt: EncryptAlg::AesGcmIcv16,
        flags: 0,
    })
}

fn spec(spi: u32) -> SaSpec {
    SaSpec::esp_tunnel_gcm(spi, ip("192.0.2.10"), ip("198.51.100.1"), 7, &[0x11; 20])
}

/// An SA as a dump or GET reply carries it (no keys), with Linux's dump header.
fn dump_entry(spi: u32, seq: u32) -> Vec<u8> {
    let mut m = Message::new(MessageType::Dump, SaType::Esp).with_seq(seq).with_pid(PID);
    m.push(sa_ext(spi));
    m.push(Extension::LifetimeCurrent(Lifetime { allocations: 0, bytes: 1500, addtime: 1_700_000_000, usetime: 0 }));
    m.push(Extension::AddressSrc(Address::host(ip("192.0.2.10"))));
    m.push(Extension::AddressDst(Address::host(ip("198.51.100.1"))));
    bytes(&m)
}

fn expire(spi: u32, hard: bool) -> Vec<u8> {
    let mut m = Message::new(MessageType::Expire, SaType::Esp);
    m.push(sa_ext(spi));
    m.push(Extension::LifetimeCurrent(Lifetime { allocations: 0, bytes: 99, addtime: 1, usetime: 2 }));
    let limit = Lifetime { allocations: 0, bytes: 0, addtime: 3600, usetime: 0 };
    m.push(if hard { Extension::LifetimeHard(limit) } else { Extension::LifetimeSoft(limit) });
    m.push(Extension::AddressSrc(Address::host(ip("192.0.2.10"))));
    m.push(Extension::AddressDst(Address::host(ip("198.51.100.1"))));
    bytes(&m)
}

fn acquire(seq: u32) -> Vec<u8> {
    let sel = Selector::new(ip("10.1.0.0"), 16, ip("10.2.0.0"), 16);
    let mut m = PolicySpec::esp_tunnel(sel, PolicyDir::Outbound, ip("192.0.2.10"), ip("198.51.100.1"), 7)
        .message(MessageType::Acquire)
        .with_seq(seq);
    m.header.satype = SaType::Esp;
    bytes(&m)
}

fn migration(new_src: &str) -> Migrate {
    let old = Endpoints { src: ip("192.0.2.10"), dst: ip("198.51.100.1") };
    let new = Endpoints { src: ip(new_src), dst: ip("198.51.100.1") };
    Migrate {
        selector: Selector::new(ip("10.1.0.0"), 16, ip("10.2.0.0"), 16),
        dir: PolicyDir::Outbound,
        kmaddress: Some((new.src, new.dst)),
        bundles: vec![MigrateBundle::new(IPPROTO_ESP, Mode::Tunnel, 7, old, new)],
        natt: None,
    }
}

/// What `pfkey_send_migrate` broadcasts for `m`: seq 0, pid 0, the selector protocol as the
/// kernel stores it (255 → 0).
fn migrate_broadcast(m: &Migrate) -> Vec<u8> {
    let mut as_kernel = m.clone();
    as_kernel.selector.proto = 0;
    bytes(&as_kernel.message().with_seq(0).with_pid(0))
}

fn kernel(responder: impl FnMut(&Message<'_>) -> Vec<Vec<u8>> + 'static) -> PfKeyKernel<Fake> {
    PfKeyKernel::new(Fake::new(responder))
}

#[test]
fn reply_is_matched_by_type_seq_and_pid_and_everything_else_becomes_an_event() {
    let mut k = kernel(|req| {
        let mut other_pid = Message::parse(&reply(req, vec![]), Dialect::Linux).unwrap().into_owned();
        other_pid.header.pid = PID + 1;
        let mut other_seq = other_pid.clone();
        other_seq.header.pid = PID;
        other_seq.header.seq = req.header.seq + 100;
        vec![bytes(&other_seq), bytes(&other_pid), acquire(77), reply(req, vec![sa_ext(0x1234)])]
    });
    k.add_sa(&spec(0x1234)).unwrap();

    let sent = k.channel().sent(0);
    assert_eq!(sent.msg_type(), MessageType::Add);
    assert_eq!(sent.header.seq, 1);
    assert_eq!(sent.header.pid, PID);
    assert_eq!(sent.sa().unwrap().spi, 0x1234);
    assert!(sent.has(ExtKind::KeyEncrypt), "ADD carries the key");

    assert_eq!(k.pending_events(), 3);
    let ev: Vec<_> = std::iter::from_fn(|| k.poll_event().unwrap()).collect();
    match &ev[..] {
        [
            KernelEvent::Other(a),
            KernelEvent::Other(b),
            KernelEvent::Acquire { seq: 77, satype: SaType::Esp, src, dst, policy_id: Some(0) },
        ] => {
            assert_eq!((a.header.seq, a.header.pid), (101, PID));
            assert_eq!((b.header.seq, b.header.pid), (1, PID + 1));
            assert_eq!((*src, *dst), (ip("10.1.0.0"), ip("10.2.0.0")));
        }
        other => panic!("unexpected events {other:?}"),
    }
    assert_eq!(k.poll_event().unwrap(), None);
}

#[test]
fn seqs_count_up_and_skip_zero() {
    let mut k = kernel(|req| vec![reply(req, vec![])]).with_seq_start(u32::MAX);
    k.flush_sas(SaType::Unspec).unwrap();
    k.flush_policies().unwrap();
    assert_eq!(k.channel().sent(0).header.seq, u32::MAX);
    assert_eq!(k.channel().sent(1).header.seq, 1);
    assert_eq!(k.channel().sent(1).msg_type(), MessageType::XSpdFlush);
}

#[test]
fn the_second_answer_linux_sends_to_a_flush_is_no_event() {
    // pfkey_flush: unicast_flush_resp to the requester, then key_notify_sa_flush to everyone.
    let mut k = kernel(|req| vec![reply(req, vec![]), reply(req, vec![])]);
    k.flush_sas(SaType::Unspec).unwrap();
    assert_eq!(k.poll_event().unwrap(), None);
    // An event loop that reads the socket itself gets the repeat too: it is no event.
    let repeat = reply(&k.channel().sent(0), vec![]);
    assert_eq!(k.handle_incoming(&repeat).unwrap(), None);
    k.flush_policies().unwrap();
    k.flush_sas(SaType::Esp).unwrap();
    assert_eq!(k.pending_events(), 0);
    assert_eq!(k.poll_event().unwrap(), None);
}

#[test]
fn error_reply_becomes_errno_named_after_the_operation() {
    let mut k = kernel(|req| vec![error_reply(req, EEXIST)]);
    let err = k.add_sa(&spec(0x1234)).unwrap_err();
    assert!(matches!(err, KernelError::Errno { op: "SADB_ADD", errno: 17 }), "{err:?}");
    assert_eq!(err.errno(), Some(17));
    assert_eq!(err.to_string(), "SADB_ADD: EEXIST (17)");
}

#[test]
fn error_reply_of_another_request_does_not_fail_this_one() {
    let mut k = kernel(|req| {
        let mut stale = Message::parse(&error_reply(req, EEXIST), Dialect::Linux).unwrap().into_owned();
        stale.header.seq = req.header.seq.wrapping_sub(1);
        vec![bytes(&stale), reply(req, vec![])]
    })
    .with_seq_start(5);
    k.delete_sa(&SaId { satype: SaType::Esp, spi: 9, src: ip("192.0.2.10"), dst: ip("198.51.100.1") }).unwrap();
    match k.poll_event().unwrap() {
        Some(KernelEvent::Other(m)) => assert_eq!((m.header.seq, m.errno()), (4, EEXIST)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn refused_send_becomes_errno_named_after_the_operation() {
    let mut f = Fake::new(|_| vec![]);
    f.refuse_send = Some(EINVAL);
    let mut k = PfKeyKernel::new(f);
    let sel = Selector::new(ip("10.1.0.0"), 16, ip("10.2.0.0"), 16);
    let err =
        k.add_policy(&PolicySpec::esp_tunnel(sel, PolicyDir::Outbound, ip("1.1.1.1"), ip("2.2.2.2"), 1)).unwrap_err();
    assert!(matches!(err, KernelError::Errno { op: "SADB_X_SPDADD", errno: EINVAL }), "{err:?}");
}

#[test]
fn no_reply_is_a_timeout_after_the_configured_time() {
    let mut k = kernel(|_| vec![]).with_timeout(Duration::from_millis(250));
    let id = SaId { satype: SaType::Esp, spi: 1, src: ip("192.0.2.10"), dst: ip("198.51.100.1") };
    let err = k.get_sa(&id).unwrap_err();
    assert!(
        matches!(err, KernelError::Timeout { op: "SADB_GET", timeout } if timeout == Duration::from_millis(250)),
        "{err:?}"
    );
    let waits = &k.channel().recv_timeouts;
    assert_eq!(waits.len(), 1);
    assert!(waits[0].is_some_and(|t| t <= Duration::from_millis(250)), "waited {waits:?}");
}

#[test]
fn default_timeout_is_five_seconds() {
    assert_eq!(kernel(|_| vec![]).timeout(), Duration::from_secs(5));
}

#[test]
fn getspi_returns_the_allocated_spi() {
    let mut k = kernel(|req| {
        vec![reply(
            req,
            vec![
                sa_ext(0xc0ffee),
                Extension::AddressSrc(Address::host(ip("198.51.100.1"))),
                Extension::AddressDst(Address::host(ip("192.0.2.10"))),
            ],
        )]
    });
    let spi = k
        .getspi(&GetSpi {
            satype: SaType::Esp,
            src: ip("198.51.100.1"),
            dst: ip("192.0.2.10"),
            min: 0x100,
            max: 0x0fff_ffff,
            mode: Mode::Tunnel,
            reqid: 7,
        })
        .unwrap();
    assert_eq!(spi, 0xc0ffee);
    let range = k.channel().sent(0).spirange().unwrap();
    assert_eq!((range.min, range.max), (0x100, 0x0fff_ffff));
}

#[test]
fn get_sa_reads_spec_and_current_lifetime() {
    let mut k = kernel(|req| {
        let mut m = Message::parse(&dump_entry(0x1234, 0), Dialect::Linux).unwrap().into_owned();
        m.header.msg_type = MessageType::Get;
        m.header.seq = req.header.seq;
        vec![bytes(&m)]
    });
    let e =
        k.get_sa(&SaId { satype: SaType::Esp, spi: 0x1234, src: ip("192.0.2.10"), dst: ip("198.51.100.1") }).unwrap();
    assert_eq!(e.spec.spi, 0x1234);
    assert_eq!(e.spec.dst, ip("198.51.100.1"));
    assert_eq!(e.current.map(|c| c.bytes), Some(1500));
}

#[test]
fn sa_dump_collects_until_seq_zero_and_queues_interleaved_events() {
    let mut k = kernel(|req| {
        assert_eq!(req.msg_type(), MessageType::Dump);
        // Linux: entries numbered from 1, the last one re-numbered 0; a kernel EXPIRE (seq 0,
        // pid 0) in between does not end the dump.
        vec![dump_entry(0x101, 1), expire(0x55, true), dump_entry(0x102, 2), dump_entry(0x103, 0)]
    });
    let sas = k.dump_sas(SaType::Unspec).unwrap();
    assert_eq!(sas.iter().map(|e| e.spec.spi).collect::<Vec<_>>(), [0x101, 0x102, 0x103]);
    match k.poll_event().unwrap() {
        Some(KernelEvent::Expire { id, hard: true, current: Some(c) }) => {
            assert_eq!((id.spi, id.satype, c.bytes), (0x55, SaType::Esp, 99));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn dump_of_an_empty_database_is_enoent_and_returns_nothing() {
    let mut k = kernel(|req| vec![error_reply(req, ENOENT)]);
    assert_eq!(k.dump_sas(SaType::Esp).unwrap(), vec![]);
    assert_eq!(k.dump_policies().unwrap(), vec![]);
}

#[test]
fn dump_refused_with_another_errno_is_an_error() {
    let mut k = kernel(|req| vec![error_reply(req, EBUSY)]);
    let err = k.dump_sas(SaType::Unspec).unwrap_err();
    assert!(matches!(err, KernelError::Errno { op: "SADB_DUMP", errno: 16 }), "{err:?}");
}

#[test]
fn policy_dump_and_policy_operations() {
    let sel = Selector::new(ip("10.1.0.0"), 16, ip("10.2.0.0"), 16);
    let pol = PolicySpec::esp_tunnel(sel, PolicyDir::Outbound, ip("192.0.2.10"), ip("198.51.100.1"), 7);
    let p2 = pol.clone();
    let mut k = kernel(move |req| {
        let with_id = |id: u32, ty: MessageType, seq: u32| {
            let mut p = p2.clone();
            p.id = id;
            bytes(&p.message(ty).with_seq(seq).with_pid(PID))
        };
        match req.msg_type() {
            MessageType::XSpdAdd => vec![with_id(0x19, MessageType::XSpdAdd, req.header.seq)],
            MessageType::XSpdGet => vec![with_id(req.policy().unwrap().id, MessageType::XSpdGet, req.header.seq)],
            MessageType::XSpdDump => {
                vec![with_id(0x19, MessageType::XSpdDump, 1), with_id(0x22, MessageType::XSpdDump, 0)]
            }
            // key_notify_policy names a delete by id SADB_X_SPDDELETE2.
            MessageType::XSpdDelete2 => {
                vec![with_id(req.policy().unwrap().id, MessageType::XSpdDelete2, req.header.seq)]
            }
            _ => vec![reply(req, vec![])],
        }
    });
    assert_eq!(k.add_policy(&pol).unwrap(), 0x19);
    let got = k.get_policy(0x19, PolicyDir::Outbound).unwrap();
    assert_eq!((got.id, got.policy_type, got.templates.len()), (0x19, PolicyType::Ipsec, 1));
    let all = k.dump_policies().unwrap();
    assert_eq!(all.iter().map(|p| p.id).collect::<Vec<_>>(), [0x19, 0x22]);
    k.delete_policy_by_id(0x22, PolicyDir::Outbound).unwrap();
    k.delete_policy(&sel, PolicyDir::Outbound).unwrap();
    assert_eq!(k.channel().sent(4).msg_type(), MessageType::XSpdDelete);
    assert_eq!(k.pending_events(), 0);
}

#[test]
fn migrate_on_stock_linux_is_confirmed_by_the_matching_seq0_pid0_broadcast() {
    let req = migration("203.0.113.7");
    let someone_else = migration("203.0.113.99");
    let (a, b) = (req.clone(), someone_else.clone());
    let mut k = kernel(move |sent| {
        assert_eq!(sent.msg_type(), MessageType::XMigrate);
        // Another migration's broadcast first, then ours; no reply to the requester.
        vec![migrate_broadcast(&b), migrate_broadcast(&a)]
    });
    let out = k.migrate(&req).unwrap();
    assert_eq!(out, MoveOutcome { mechanism: MoveMechanism::Migrate, acknowledged: false });
    assert_eq!(Migrate::from_message(&k.channel().sent(0)).unwrap(), req);
    match k.poll_event().unwrap() {
        Some(KernelEvent::Migrate { migrate, seq: 0, pid: 0 }) => {
            assert_eq!(migrate.bundles[0].new.src, someone_else.bundles[0].new.src)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(k.poll_event().unwrap(), None, "our own broadcast was the answer, not an event");
}

#[test]
fn migrate_answered_to_the_requester_is_acknowledged() {
    let mut k = kernel(|req| vec![reply(req, vec![])]);
    let out = k.migrate(&migration("203.0.113.7")).unwrap();
    assert_eq!(out, MoveOutcome { mechanism: MoveMechanism::Migrate, acknowledged: true });
}

#[test]
fn migrate_error_reply_is_an_errno() {
    let mut k = kernel(|req| vec![error_reply(req, ENOPROTOOPT)]);
    let err = k.migrate(&migration("203.0.113.7")).unwrap_err();
    assert!(matches!(err, KernelError::Errno { op: "SADB_X_MIGRATE", errno: 92 }), "{err:?}");
}

#[test]
fn migrate_without_answer_times_out_and_keeps_unrelated_broadcasts() {
    let other = migration("203.0.113.99");
    let mut k = kernel(move |_| vec![migrate_broadcast(&other)]).with_timeout(Duration::from_millis(10));
    let err = k.migrate(&migration("203.0.113.7")).unwrap_err();
    assert!(matches!(err, KernelError::Timeout { op: "SADB_X_MIGRATE", .. }), "{err:?}");
    assert!(matches!(k.poll_event().unwrap(), Some(KernelEvent::Migrate { .. })));
}

fn address_update() -> UpdateAddresses {
    UpdateAddresses {
        satype: SaType::Esp,
        spi: 0x1234,
        src: ip("192.0.2.10"),
        dst: ip("198.51.100.1"),
        mode: Mode::Tunnel,
        reqid: 7,
        new_src: Some(ip("203.0.113.7")),
        new_dst: None,
        natt: Some(NatT::esp_in_udp(4500, 4500)),
    }
}

#[test]
fn address_update_echoed_by_the_kernel_is_acknowledged() {
    // FreeBSD key_update: the request (minus keys) goes back to everyone.
    let mut k = kernel(|req| vec![bytes(req)]);
    let out = k.update_addresses(&address_update()).unwrap();
    assert_eq!(out, MoveOutcome { mechanism: MoveMechanism::UpdateAddresses, acknowledged: true });
    let sent = k.channel().sent(0);
    assert_eq!(sent.msg_type(), MessageType::Update);
    assert_eq!(sent.address(ExtKind::NewAddressSrc).unwrap().addr, ip("203.0.113.7"));
    assert!(!sent.has(ExtKind::NewAddressDst));
}

#[test]
fn address_update_ignored_by_the_kernel_is_a_bad_reply() {
    // A kernel without NEW_ADDRESS_* skips the unknown extensions and answers with the SA as it
    // is (old addresses): nothing moved.
    let mut k = kernel(|req| {
        vec![reply(
            req,
            vec![
                sa_ext(0x1234),
                Extension::AddressSrc(Address::host(ip("192.0.2.10"))),
                Extension::AddressDst(Address::host(ip("198.51.100.1"))),
            ],
        )]
    });
    let err = k.update_addresses(&address_update()).unwrap_err();
    assert!(matches!(err, KernelError::BadReply { op: "SADB_UPDATE", .. }), "{err:?}");
}

#[test]
fn register_returns_the_supported_algorithms() {
    let mut k = kernel(|req| {
        let alg = Alg { id: 18, ivlen: 8, minbits: 128, maxbits: 256, reserved: 0 };
        vec![reply(req, vec![Extension::SupportedEncrypt(Supported { reserved: 0, algs: vec![alg].into() })])]
    });
    let m = k.register(SaType::Esp).unwrap();
    assert_eq!(m.msg_type(), MessageType::Register);
    let algs: Vec<_> = m.supported(ExtKind::SupportedEncrypt).unwrap().algs.iter().map(|a| a.id).collect();
    assert_eq!(algs, [18]);
}

#[test]
fn promiscuous_echo_and_double_delivery_are_not_taken_for_answers_or_events() {
    let mut promisc = false;
    let mut k = kernel(move |req| {
        let mut out = Vec::new();
        if promisc {
            out.push(bytes(req)); // pfkey_process: the request, to promiscuous sockets first
        }
        if req.msg_type() == MessageType::XPromisc {
            promisc = req.header.satype == SaType::from(1);
        }
        let answer =
            if req.msg_type() == MessageType::Flush { error_reply(req, EINVAL as u8) } else { reply(req, vec![]) };
        out.push(answer.clone());
        if promisc {
            out.push(answer); // "you receive it twice as promiscuous socket"
        }
        out
    });
    k.promisc(true).unwrap();
    assert_eq!(k.pending_events(), 0);
    // FLUSH's echo is byte-identical to a success reply; the real answer is the error after it.
    let err = k.flush_sas(SaType::Unspec).unwrap_err();
    assert!(matches!(err, KernelError::Errno { op: "SADB_FLUSH", .. }), "{err:?}");
    k.promisc(false).unwrap();
    k.flush_policies().unwrap();
    assert_eq!(k.pending_events(), 0);
    assert_eq!(k.channel().sent(0).header.satype, SaType::from(1));
    assert_eq!(k.channel().sent(2).header.satype, SaType::Unspec);
}

#[test]
fn malformed_messages_are_dropped_and_counted() {
    let mut k = kernel(|req| vec![vec![2, 3, 0, 0, 9, 0, 0, 0], vec![0xff; 16], reply(req, vec![])]);
    k.flush_sas(SaType::Esp).unwrap();
    assert_eq!(k.malformed_count(), 2);
    assert_eq!(k.pending_events(), 0);
}

#[test]
fn malformed_answer_fails_the_request_with_a_parse_error() {
    let mut k = kernel(|req| {
        // The request's header with a length that lies.
        let mut b = reply(req, vec![]);
        b[4] = 3;
        vec![b]
    });
    assert!(matches!(k.flush_sas(SaType::Esp).unwrap_err(), KernelError::Parse(_)));
}

#[test]
fn next_event_returns_queued_events_first_then_reads_the_channel() {
    let mut f = Fake::new(|_| vec![]);
    f.inbox.push_back(expire(0x10, false));
    let mapping = {
        let m = Message::new(MessageType::XNatTNewMapping, SaType::Esp)
            .with(sa_ext(0x20))
            .with(Extension::AddressSrc(Address::host(ip("198.51.100.1"))))
            .with(Extension::NatTSport(NatTPort { port: 4500, reserved: 0 }))
            .with(Extension::AddressDst(Address::host(ip("198.51.100.77"))))
            .with(Extension::NatTDport(NatTPort { port: 61000, reserved: 0 }));
        bytes(&m)
    };
    f.inbox.push_back(mapping);
    let mut k = PfKeyKernel::new(f);
    match k.next_event(Some(Duration::from_millis(1))).unwrap() {
        Some(KernelEvent::Expire { id, hard: false, .. }) => assert_eq!(id.spi, 0x10),
        other => panic!("{other:?}"),
    }
    match k.next_event(None).unwrap() {
        Some(KernelEvent::NewMapping { satype: SaType::Esp, spi: 0x20, old, new }) => {
            assert_eq!(old, SockAddr::with_port("198.51.100.1".parse().unwrap(), 4500));
            assert_eq!(new, SockAddr::with_port("198.51.100.77".parse().unwrap(), 61000));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(k.next_event(Some(Duration::ZERO)).unwrap(), None);
}

#[test]
fn handle_incoming_decodes_a_policy_expire() {
    let sel = Selector::new(ip("10.1.0.0"), 16, ip("10.2.0.0"), 16);
    let mut pol = PolicySpec::esp_tunnel(sel, PolicyDir::Inbound, ip("198.51.100.1"), ip("192.0.2.10"), 7);
    pol.id = 0x30;
    let msg = bytes(&pol.message(MessageType::XSpdExpire));
    let mut k = kernel(|_| vec![]);
    assert_eq!(k.handle_incoming(&msg).unwrap(), Some(KernelEvent::SpdExpire(pol)));
    assert!(matches!(k.handle_incoming(&msg[..8]), Err(KernelError::Parse(_))));
}

#[test]
fn backend_name_comes_from_the_channel() {
    assert_eq!(kernel(|_| vec![]).backend(), "fake");
}

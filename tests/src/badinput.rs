//! Bad input against the mobility extensions, on the real kernel (issue 4, item 5).
//!
//! In a fresh network namespace, [`run`] installs an ESP tunnel SA pair, an outbound policy and a
//! larval SA (from GETSPI), takes SADB_DUMP and SPDDUMP, and sends requests the extensions must
//! refuse: address updates with a truncated, overlong, unknown-family, all-zero or mixed-family
//! `SADB_X_EXT_NEW_ADDRESS_*`, on a larval SA or for another SA type, with inconsistent NAT-T
//! extensions; and MIGRATEs with inconsistent NAT-T extensions. Each must get its errno and leave
//! both dumps identical. The raw bytes are built with the crate and then edited where the typed
//! API cannot express the fault. Last, a socket asks for a MIGRATE and closes before reading its
//! answer: the move must happen, other sockets must see the broadcast, and the kernel must carry
//! on (the host checks the kernel log for warnings after the run).
//!
//! Without the extensions (the probe says so) the suite is one known gap: there is nothing to
//! refuse.

use std::time::{Duration, Instant};

use pfkey::kernel::{AfKey, Capabilities, Channel, GetSpi, Kernel, Support};
use pfkey::message::{Endpoints, Message, Migrate, MigrateBundle, NatT, PolicySpec, Selector, UpdateAddresses};
use pfkey::socket::PfKeySocket;
use pfkey::wire::Dialect;
use pfkey::wire::numbers::{ExtKind, IPPROTO_ESP, MessageType, Mode, NatTType, PolicyDir, SaType};

use crate::failmig::{Snapshot, diff, refused_unchanged, snapshot};
use crate::guest::{Check, GuestError, enter_fresh_netns, esp_cbc_sha256};

const LOCAL: &str = "192.0.2.10";
const PEER: &str = "198.51.100.1";
const MOVED: &str = "203.0.113.7";

fn addr(s: &str) -> pfkey::SockAddr {
    pfkey::SockAddr::new(s.parse().expect("a literal address"))
}

/// Replaces the bytes of the first extension of type `ext` in the encoded message `bytes` with
/// what `edit` makes of them (a multiple of 8 bytes; none removes it), and fixes the
/// extension's and the message's length fields.
fn edit_ext(bytes: &[u8], ext: ExtKind, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let want = ext.number(Dialect::Linux).expect("a Linux extension");
    let mut out = bytes[..16].to_vec();
    let mut off = 16;
    let mut edit = Some(edit);
    while off + 4 <= bytes.len() {
        let len = usize::from(u16::from_ne_bytes([bytes[off], bytes[off + 1]])) * 8;
        let ty = u16::from_ne_bytes([bytes[off + 2], bytes[off + 3]]);
        let mut e = bytes[off..off + len.max(8)].to_vec();
        if ty == want
            && let Some(f) = edit.take()
        {
            f(&mut e);
            // An edit that leaves nothing removes the extension.
            let units = u16::try_from(e.len() / 8).expect("a short extension");
            if let Some(len_field) = e.get_mut(..2) {
                len_field.copy_from_slice(&units.to_ne_bytes());
            }
        }
        out.extend_from_slice(&e);
        off += len.max(8);
    }
    let units = u16::try_from(out.len() / 8).expect("a short message");
    out[4..6].copy_from_slice(&units.to_ne_bytes());
    out
}

/// Sends raw bytes on a fresh socket and returns the errno of the answer with the same type,
/// seq and pid (0: success).
fn raw_request(bytes: &[u8]) -> Result<i32, GuestError> {
    let mut sock = PfKeySocket::open()?;
    let pid = sock.pid();
    let mut msg = bytes.to_vec();
    msg[8..12].copy_from_slice(&0x0bad_0001u32.to_ne_bytes());
    msg[12..16].copy_from_slice(&pid.to_ne_bytes());
    let ty = msg[1];
    crate::failmig::send_await_errno(&mut sock, &msg, "bad-input request", |buf| {
        let ours = buf.len() >= 16
            && buf[1] == ty
            && buf[8..12] == 0x0bad_0001u32.to_ne_bytes()
            && buf[12..16] == pid.to_ne_bytes();
        ours.then(|| i32::from(buf[2]))
    })
}

/// One refused request: its name, the bytes, the errno it must get.
struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    want: i32,
}

fn check(name: String, passed: bool, detail: String, stdout: String) -> Check {
    tracing::info!(name, passed, detail = %detail, "bad-input check");
    Check {
        name,
        passed,
        known_gap: false,
        command: "raw PF_KEY request (in-process, fresh netns)".into(),
        status: None,
        detail,
        stdout,
        stderr: String::new(),
    }
}

/// Runs the bad-input checks in a fresh network namespace, given what the probe found.
pub fn run(caps: &Capabilities) -> Result<Vec<Check>, GuestError> {
    if caps.update_addresses != Support::Yes || caps.migrate_natt != Support::Yes {
        return Ok(vec![Check {
            name: "bad input against the mobility extensions".into(),
            passed: false,
            known_gap: true,
            command: "Kernel::capabilities()".into(),
            status: None,
            detail: format!("the kernel lacks the extensions the suite attacks: {caps:?}"),
            stdout: String::new(),
            stderr: String::new(),
        }]);
    }
    enter_fresh_netns()?;
    let mut k = AfKey::open()?;
    k.add_sa(&esp_cbc_sha256(0x1000, LOCAL, PEER, Mode::Tunnel, 1))?;
    k.add_sa(&esp_cbc_sha256(0x2000, PEER, LOCAL, Mode::Tunnel, 1))?;
    let sel = Selector::new(addr("10.1.0.0"), 16, addr("10.2.0.0"), 16);
    k.add_policy(&PolicySpec::esp_tunnel(sel, PolicyDir::Outbound, addr(LOCAL), addr(PEER), 1))?;
    let larval = k.getspi(&GetSpi {
        satype: SaType::Esp,
        src: addr(LOCAL),
        dst: addr("198.51.100.9"),
        min: 0x5000,
        max: 0x5fff,
        mode: Mode::Tunnel,
        reqid: 1,
    })?;
    let before = snapshot(&mut k)?;

    let update = |spi, new_dst: &str| UpdateAddresses {
        satype: SaType::Esp,
        spi,
        src: addr(LOCAL),
        dst: addr(PEER),
        mode: Mode::Any,
        reqid: 0,
        new_src: None,
        new_dst: Some(addr(new_dst)),
        natt: None,
    };
    let bytes = |m: Message<'static>| m.to_bytes(Dialect::Linux).expect("an encodable request");
    let moved = bytes(update(0x1000, MOVED).message());
    let migrate = |natt| Migrate {
        selector: sel,
        dir: PolicyDir::Outbound,
        kmaddress: None,
        bundles: vec![MigrateBundle::new(
            IPPROTO_ESP,
            Mode::Tunnel,
            1,
            Endpoints { src: addr(LOCAL), dst: addr(PEER) },
            Endpoints { src: addr(MOVED), dst: addr(PEER) },
        )],
        natt,
    };
    let natt = |t, sport, dport| Some(NatT { nat_t_type: t, sport, dport });
    let without = |bytes: &[u8], ext: ExtKind| edit_ext(bytes, ext, Vec::clear);
    let cases = vec![
        Case {
            name: "NEW_ADDRESS_DST truncated (16 bytes, sockaddr_in cut)",
            bytes: edit_ext(&moved, ExtKind::NewAddressDst, |e| e.truncate(16)),
            want: libc::EINVAL,
        },
        Case {
            name: "NEW_ADDRESS_DST overlong (32 bytes for sockaddr_in)",
            bytes: edit_ext(&moved, ExtKind::NewAddressDst, |e| e.extend_from_slice(&[0; 8])),
            want: libc::EINVAL,
        },
        Case {
            name: "NEW_ADDRESS_DST of unknown family 99",
            bytes: edit_ext(&moved, ExtKind::NewAddressDst, |e| e[8..10].copy_from_slice(&99u16.to_ne_bytes())),
            want: libc::EINVAL,
        },
        Case {
            name: "NEW_ADDRESS_DST all-zero (0.0.0.0)",
            bytes: bytes(update(0x1000, "0.0.0.0").message()),
            want: libc::EINVAL,
        },
        Case {
            name: "NEW_ADDRESS_DST IPv6 while the source stays IPv4",
            bytes: bytes(update(0x1000, "2001:db8::7").message()),
            want: libc::EINVAL,
        },
        Case {
            name: "NEW_ADDRESS_SRC IPv4 and NEW_ADDRESS_DST IPv6",
            bytes: bytes(UpdateAddresses { new_src: Some(addr(MOVED)), ..update(0x1000, "2001:db8::7") }.message()),
            want: libc::EINVAL,
        },
        Case {
            name: "NEW_ADDRESS on a larval SA (from GETSPI)",
            bytes: bytes(UpdateAddresses { dst: addr("198.51.100.9"), ..update(larval, MOVED) }.message()),
            want: libc::EINVAL,
        },
        Case {
            name: "NEW_ADDRESS for an SA of another type (AH header, ESP SA's SPI)",
            bytes: bytes(UpdateAddresses { satype: SaType::Ah, ..update(0x1000, MOVED) }.message()),
            want: libc::ESRCH,
        },
        Case {
            name: "NAT-T type without ports in an update",
            bytes: without(
                &without(
                    &bytes(
                        UpdateAddresses { natt: Some(NatT::esp_in_udp(4500, 4500)), ..update(0x1000, MOVED) }.message(),
                    ),
                    ExtKind::NatTSport,
                ),
                ExtKind::NatTDport,
            ),
            want: libc::EINVAL,
        },
        Case {
            name: "NAT-T ports without type in an update",
            bytes: without(
                &bytes(UpdateAddresses { natt: Some(NatT::esp_in_udp(4500, 4500)), ..update(0x1000, MOVED) }.message()),
                ExtKind::NatTType,
            ),
            want: libc::EINVAL,
        },
        Case {
            name: "NAT-T type 1 (ESP has only UDP_ENCAP_ESPINUDP) in an update",
            bytes: bytes(
                UpdateAddresses { natt: natt(NatTType::EspInUdpNonIke, 4500, 4500), ..update(0x1000, MOVED) }.message(),
            ),
            want: libc::EINVAL,
        },
        Case {
            name: "NAT-T type without ports in a MIGRATE",
            bytes: bytes(migrate(natt(NatTType::EspInUdp, 0, 0)).message()),
            want: libc::EINVAL,
        },
        Case {
            name: "NAT-T ports without type in a MIGRATE",
            bytes: without(&bytes(migrate(natt(NatTType::EspInUdp, 4500, 4500)).message()), ExtKind::NatTType),
            want: libc::EINVAL,
        },
    ];

    let mut checks = Vec::new();
    for case in cases {
        let got = raw_request(&case.bytes)?;
        let after = snapshot(&mut k)?;
        let (passed, detail) = refused_unchanged(got, case.want, &before, &after);
        checks.push(check(
            format!("bad input refused, nothing changed: {}", case.name),
            passed,
            detail,
            format!("request: {}", pfkey::message::hex::encode(&case.bytes)),
        ));
    }
    checks.push(abandoned_migrate(&mut k, &before, migrate(None))?);
    k.flush_sas(SaType::Unspec)?;
    k.flush_policies()?;
    Ok(checks)
}

/// A socket asks for a MIGRATE and closes before reading the answer the kernel queues for it.
fn abandoned_migrate(k: &mut AfKey, before: &Snapshot, m: Migrate) -> Result<Check, GuestError> {
    let mut observer = PfKeySocket::open()?;
    {
        let mut asker = PfKeySocket::open()?;
        let mut msg = m.message();
        msg.header.seq = 0x0bad_0002;
        msg.header.pid = asker.pid();
        asker.send(&msg.to_bytes(Dialect::Linux)?)?;
    } // closed with the broadcast and its answer unread
    let end = Instant::now() + Duration::from_secs(3);
    let mut buf = Vec::new();
    let mut broadcast = false;
    while !broadcast {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() || !observer.recv(&mut buf, Some(left))? {
            break;
        }
        broadcast = Message::parse(&buf, Dialect::Linux).is_ok_and(|r| {
            r.msg_type() == MessageType::XMigrate && (r.header.seq, r.header.pid, r.errno()) == (0, 0, 0)
        });
    }
    let after = snapshot(k)?;
    let changes = diff(before, &after);
    let moved = after.sas.iter().any(|e| e.spec.spi == 0x1000 && e.spec.src.ip() == addr(MOVED).ip());
    let mut problems = Vec::new();
    if !broadcast {
        problems.push("no seq-0 MIGRATE broadcast reached another socket".to_string());
    }
    if !moved {
        problems.push(format!("SA 0x1000 is not at {MOVED}"));
    }
    // The kernel still answers: a plain request right after.
    if let Err(e) = k.dump_policies() {
        problems.push(format!("SPDDUMP after the abandoned MIGRATE failed: {e}"));
    }
    let passed = problems.is_empty();
    let detail = if passed {
        format!(
            "moved, broadcast seen by another socket, kernel answering; {} differences: {}",
            changes.len(),
            changes.join("; ")
        )
    } else {
        problems.join("; ")
    };
    Ok(check(
        "a MIGRATE whose requester closes before its answer: moved, broadcast, no harm".into(),
        passed,
        detail,
        String::new(),
    ))
}

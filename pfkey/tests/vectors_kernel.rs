//! Real Linux 6.12 af_key messages (`tests/vectors/kernel/*.hex`), captured in the kernel lab by
//! `lab-guest capture` on a promiscuous PF_KEY socket (`make vm-vectors` regenerates them): every
//! one must parse and re-encode byte for byte, and the values that matter are checked.
//!
//! The file format: `##` lines describe the file; each hex line is one message and the `#` line
//! above it says `<step>: <origin>: <header summary>`.
#![cfg(target_endian = "little")]

use std::path::{Path, PathBuf};

use pfkey::message::{Message, Migrate, hex};
use pfkey::wire::Dialect;
use pfkey::wire::numbers::*;

struct Vector {
    file: String,
    comment: String,
    bytes: Vec<u8>,
}

impl Vector {
    fn msg(&self) -> Message<'_> {
        Message::parse(&self.bytes, Dialect::Linux).unwrap_or_else(|e| panic!("{}: {}: {e}", self.file, self.comment))
    }
    fn step(&self) -> &str {
        self.comment.split(": ").next().unwrap_or("")
    }
    fn sent_by_kernel(&self) -> bool {
        self.comment.contains(": kernel")
    }
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/kernel")
}

fn load(file: &str) -> Vec<Vector> {
    let path = dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    let mut comment = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("##") {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            comment = Some(c.trim().to_string());
            continue;
        }
        let bytes = hex::decode(line).unwrap_or_else(|e| panic!("{file}:{}: {e}", i + 1));
        let comment = comment.take().unwrap_or_else(|| panic!("{file}:{}: hex line without a comment", i + 1));
        out.push(Vector { file: file.to_string(), comment, bytes });
    }
    out
}

/// The kernel's messages of the step whose name starts with `step`.
fn kernel<'v>(vs: &'v [Vector], step: &str) -> Vec<&'v Vector> {
    let found: Vec<&Vector> = vs.iter().filter(|v| v.step().starts_with(step) && v.sent_by_kernel()).collect();
    assert!(!found.is_empty(), "no kernel message for step {step:?}");
    found
}

fn ip(v: &Message<'_>, k: ExtKind) -> String {
    v.address(k).unwrap_or_else(|| panic!("no {k:?}")).addr.ip().to_string()
}

const FILES: &[&str] = &[
    "promisc.hex",
    "register.hex",
    "getspi.hex",
    "sa.hex",
    "errors.hex",
    "spd.hex",
    "migrate.hex",
    "acquire.hex",
    "expire.hex",
    "flush.hex",
];

#[test]
fn every_kernel_vector_parses_and_re_encodes_byte_exactly() {
    let mut n = 0;
    let mut on_disk: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.ends_with(".hex"))
        .collect();
    on_disk.sort();
    let mut expected: Vec<String> = FILES.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(on_disk, expected, "the vector files and this test's list differ");
    for file in FILES {
        for v in load(file) {
            let msg = v.msg();
            let again = msg.to_bytes(Dialect::Linux).unwrap_or_else(|e| panic!("{file}: {}: emit: {e}", v.comment));
            assert_eq!(hex::encode(&again), hex::encode(&v.bytes), "{file}: {}", v.comment);
            // The owned copy emits the same bytes too.
            assert_eq!(msg.into_owned().to_bytes(Dialect::Linux).unwrap(), v.bytes, "{file}: {}", v.comment);
            n += 1;
        }
    }
    assert!(n >= 90, "only {n} vectors");
}

#[test]
fn register_answer_lists_the_ciphers_this_kernel_has() {
    let vs = load("register.hex");
    let esp = kernel(&vs, "REGISTER esp");
    let m = esp[0].msg();
    assert_eq!((m.msg_type(), m.header.satype, m.errno()), (MessageType::Register, SaType::Esp, 0));
    let enc: Vec<u8> = m.supported(ExtKind::SupportedEncrypt).unwrap().algs.iter().map(|a| a.id).collect();
    let auth: Vec<u8> = m.supported(ExtKind::SupportedAuth).unwrap().algs.iter().map(|a| a.id).collect();
    assert!(enc.contains(&u8::from(EncryptAlg::AesCbc)), "{enc:?}");
    assert!(auth.contains(&u8::from(AuthAlg::Sha2_256Hmac)), "{auth:?}");
    // af_key lists only SADB_EALG_* ciphers: AES-GCM (an AEAD) is never offered.
    assert!(!enc.contains(&u8::from(EncryptAlg::AesGcmIcv16)), "{enc:?}");
}

#[test]
fn getspi_answers_a_larval_sa_inside_the_range() {
    let vs = load("getspi.hex");
    let m = kernel(&vs, "GETSPI esp 0x100")[0].msg();
    let sa = m.sa().unwrap();
    assert!((0x100..=0x1ff).contains(&sa.spi), "{:#x}", sa.spi);
    assert_eq!(sa.state, SaState::Larval);
    assert_eq!(ip(&m, ExtKind::AddressSrc), "198.51.100.1");
    let single = kernel(&vs, "GETSPI esp single SPI")[0].msg();
    assert_eq!(single.sa().unwrap().spi, 0x4242);
    let upd = kernel(&vs, "UPDATE of the larval SA")[0].msg();
    assert_eq!((upd.errno(), upd.sa().unwrap().spi, upd.sa().unwrap().state), (0, sa.spi, SaState::Mature));
}

#[test]
fn get_and_dump_report_keys_addresses_and_reqid() {
    let vs = load("sa.hex");
    let get = kernel(&vs, "GET esp 0x1000")[0].msg();
    assert_eq!(get.sa().unwrap().spi, 0x1000);
    assert_eq!(get.key(ExtKind::KeyEncrypt).unwrap().key.as_ref(), &[0x11; 16]);
    assert_eq!(get.key(ExtKind::KeyAuth).unwrap().key.as_ref(), &[0x22; 32]);
    let sa2 = get.sa2().unwrap();
    assert_eq!((sa2.mode, sa2.reqid), (Mode::Tunnel, 1));
    assert_eq!(
        (ip(&get, ExtKind::AddressSrc), ip(&get, ExtKind::AddressDst)),
        ("192.0.2.10".into(), "198.51.100.1".into())
    );
    // A dump: seqs 1, 2, 3 and the last entry with seq 0, all to the requester's pid.
    let dump = kernel(&vs, "DUMP esp");
    let seqs: Vec<u32> = dump.iter().map(|v| v.msg().header.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 0]);
    let pid = get.header.pid;
    assert!(dump.iter().all(|v| v.msg().header.pid == pid));
    let beet = dump.iter().map(|v| v.msg()).find(|m| m.sa().unwrap().spi == 0x1001).unwrap();
    assert_eq!(beet.sa2().unwrap().mode, Mode::Beet);
    assert_eq!(beet.lifetime(ExtKind::LifetimeHard).unwrap().addtime, 3600);
    // UPDATE of a mature ESP SA is refused.
    assert_eq!(kernel(&vs, "UPDATE of the mature SA")[0].msg().errno(), libc::EINVAL as u8);
}

#[test]
fn error_replies_are_bare_headers_with_the_kernels_errno() {
    let vs = load("errors.hex");
    let cases = [
        ("ADD of an existing SA", libc::EEXIST),
        ("GET of a missing SA", libc::ESRCH),
        ("DELETE of a missing SA", libc::ESRCH),
        ("ADD esp aes-gcm-16", libc::ENOSYS),
        ("UPDATE with NEW_ADDRESS_SRC", libc::EINVAL),
        ("SPDGET of a missing outbound policy id", libc::ENOENT),
        ("SPDGET of id 0x7777", libc::EINVAL),
    ];
    for (step, errno) in cases {
        let m = kernel(&vs, step)[0].msg();
        assert_eq!(m.errno(), errno as u8, "{step}");
        assert!(m.extensions.is_empty(), "{step}");
        assert_eq!(m.to_bytes(Dialect::Linux).unwrap().len(), 16, "{step}");
    }
}

#[test]
fn spd_answers_carry_the_policy_id_with_its_direction_and_a_refcount_in_reserved() {
    let vs = load("spd.hex");
    let out = kernel(&vs, "SPDADD out")[0].msg();
    let inb = kernel(&vs, "SPDADD in")[0].msg();
    let (oid, iid) = (out.policy().unwrap().id, inb.policy().unwrap().id);
    // xfrm_gen_index: the direction is in the low 3 bits.
    assert_eq!((oid & 7, iid & 7), (1, 0), "{oid:#x} {iid:#x}");
    // Linux writes the policy's refcount into sadb_msg_reserved.
    assert_ne!(out.header.reserved, 0);
    assert_eq!(kernel(&vs, "SPDADD of an existing policy")[0].msg().errno(), libc::EEXIST as u8);
    let get = kernel(&vs, "SPDGET out by id")[0].msg();
    assert_eq!(get.policy().unwrap().id, oid);
    let dump = kernel(&vs, "SPDDUMP");
    assert_eq!(dump.iter().map(|v| v.msg().header.seq).collect::<Vec<_>>(), [1, 0]);
}

#[test]
fn migrate_is_a_seq_0_pid_0_broadcast_and_moves_the_sa() {
    let vs = load("migrate.hex");
    let bc = kernel(&vs, "MIGRATE out");
    // Stock Linux: no reply to the requester, the broadcast reaches the promiscuous socket twice.
    assert_eq!(bc.len(), 2, "{:?}", bc.iter().map(|v| &v.comment).collect::<Vec<_>>());
    let m = bc[0].msg();
    assert_eq!((m.msg_type(), m.header.seq, m.header.pid, m.errno()), (MessageType::XMigrate, 0, 0, 0));
    let mig = Migrate::from_message(&m).unwrap();
    assert_eq!(mig.bundles.len(), 1);
    assert_eq!(mig.bundles[0].new.src.ip().to_string(), "203.0.113.7");
    assert_eq!(mig.kmaddress.map(|k| k.0.ip().to_string()), Some("203.0.113.7".into()));
    let moved = kernel(&vs, "DUMP esp after the MIGRATE")
        .iter()
        .map(|v| v.msg())
        .find(|m| m.sa().unwrap().spi == 0x1000)
        .unwrap()
        .into_owned();
    assert_eq!(ip(&moved, ExtKind::AddressSrc), "203.0.113.7");
    assert_eq!(kernel(&vs, "MIGRATE of a policy that does not exist")[0].msg().errno(), libc::ENOENT as u8);
}

#[test]
fn acquire_names_the_tunnel_endpoints_and_the_policy() {
    let vs = load("acquire.hex");
    let policy_id = kernel(&vs, "SPDADD out 192.0.2.10->10.9/16")[0].msg().policy().unwrap().id;
    let m = kernel(&vs, "ACQUIRE")[0].msg();
    assert_eq!((m.msg_type(), m.header.satype, m.header.pid), (MessageType::Acquire, SaType::Esp, 0));
    assert_ne!(m.header.seq, 0);
    assert_eq!(
        (ip(&m, ExtKind::AddressSrc), ip(&m, ExtKind::AddressDst)),
        ("192.0.2.10".into(), "198.51.100.1".into())
    );
    assert_eq!(m.policy().unwrap().id, policy_id);
    // Policies installed through PF_KEY leave the template's algorithm masks empty, so the
    // proposal has no combinations.
    assert_eq!(m.proposal().unwrap().combs.len(), 0);
}

#[test]
fn expire_soft_then_hard() {
    let vs = load("expire.hex");
    let ex = kernel(&vs, "EXPIRE");
    assert_eq!(ex.len(), 2);
    let (soft, hard) = (ex[0].msg(), ex[1].msg());
    for m in [&soft, &hard] {
        assert_eq!((m.msg_type(), m.header.seq, m.header.pid), (MessageType::Expire, 0, 0));
        assert_eq!(m.sa().unwrap().spi, 0x3000);
        assert!(m.has(ExtKind::LifetimeCurrent));
    }
    assert!(soft.has(ExtKind::LifetimeSoft) && !soft.has(ExtKind::LifetimeHard));
    assert!(hard.has(ExtKind::LifetimeHard) && !hard.has(ExtKind::LifetimeSoft));
}

#[test]
fn flush_is_answered_twice_and_empty_dumps_are_enoent() {
    let vs = load("flush.hex");
    // unicast_flush_resp to the requester, then the broadcast to all: on the promiscuous socket
    // that is three copies of the request's own header after its echo.
    let flush = kernel(&vs, "FLUSH all");
    assert_eq!(flush.len(), 3);
    assert!(flush.iter().all(|v| v.msg().msg_type() == MessageType::Flush && v.msg().errno() == 0));
    assert_eq!(kernel(&vs, "SPDFLUSH").len(), 3);
    assert_eq!(kernel(&vs, "DUMP of an empty SAD")[0].msg().errno(), libc::ENOENT as u8);
    assert_eq!(kernel(&vs, "SPDDUMP of an empty SPD")[0].msg().errno(), libc::ENOENT as u8);
}

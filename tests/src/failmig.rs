//! The atomicity contract "a MIGRATE that cannot complete changes nothing", on the real kernel.
//!
//! In a fresh network namespace, [`run`] installs an ESP tunnel through [`AfKey`] (AES-CBC +
//! HMAC-SHA256 SAs both ways with reqid 1, out/in/fwd policies, and one SA with reqid 2 that no
//! policy template names), takes SADB_DUMP and SPDDUMP, then sends MIGRATEs the kernel must refuse.
//! After each it checks the errno and that both dumps are identical to the ones taken before.
//! A last, successful MIGRATE is the control: the same comparison must see it move the SA and
//! the template.
//!
//! The reqid-2 case reaches further into `xfrm_migrate` than the others: by its stages (policy,
//! then states, then templates) the kernel finds and clones SA 0x3000 before it finds no template
//! to move, and deletes the clone on the way out; the dumps show whether anything is left over.

use std::time::{Duration, Instant};

use pfkey::kernel::{AfKey, Channel, Kernel, KernelError, SaEntry};
use pfkey::message::{
    Endpoints, Extension, Extensions, List, Message, Migrate, MigrateBundle, PolicySpec, Selector, Template,
};
use pfkey::wire::Dialect;
use pfkey::wire::numbers::{IPPROTO_ESP, MessageType, Mode, PolicyDir, SaType, errno_name};

use crate::guest::{Check, GuestError, enter_fresh_netns, esp_cbc_sha256};

const LOCAL: &str = "192.0.2.10";
const PEER: &str = "198.51.100.1";
const MOVED: &str = "203.0.113.7";

fn addr(s: &str) -> pfkey::SockAddr {
    pfkey::SockAddr::new(s.parse().expect("a literal address"))
}

fn ep(src: &str, dst: &str) -> Endpoints {
    Endpoints { src: addr(src), dst: addr(dst) }
}

/// The SAD and SPD as the kernel dumps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// SADB_DUMP of every SA type.
    pub(crate) sas: Vec<SaEntry>,
    /// SPDDUMP.
    pub(crate) policies: Vec<PolicySpec>,
}

pub(crate) fn snapshot(k: &mut AfKey) -> Result<Snapshot, GuestError> {
    Ok(Snapshot { sas: k.dump_sas(SaType::Unspec)?, policies: k.dump_policies()? })
}

fn template_text(t: &Template) -> String {
    let ends = t.endpoints.map_or(String::new(), |e| format!(" {}->{}", e.src, e.dst));
    format!("proto {} {:?} {:?} reqid {}{ends}", t.proto, t.mode, t.level, t.reqid)
}

/// What differs between two snapshots, field by field (empty when identical). SAs are matched by
/// type, SPI and destination, policies by direction and id; a dump whose entries are all equal
/// but come in another order is a difference too.
pub(crate) fn diff(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    let sa_key = |e: &SaEntry| (e.spec.satype, e.spec.spi, e.spec.dst.ip());
    for b in &before.sas {
        let (bs, name) = (&b.spec, format!("SA {:#x}", b.spec.spi));
        let Some(a) = after.sas.iter().find(|a| sa_key(a) == sa_key(b)) else {
            out.push(format!("{name} gone"));
            continue;
        };
        let as_ = &a.spec;
        let mut f = Vec::new();
        let mut field = |what: &str, same: bool, bv: String, av: String| {
            if !same {
                f.push(format!("{what} {bv} -> {av}"));
            }
        };
        field("src", bs.src == as_.src, bs.src.to_string(), as_.src.to_string());
        field("dst", bs.dst == as_.dst, bs.dst.to_string(), as_.dst.to_string());
        field("reqid", bs.reqid == as_.reqid, bs.reqid.to_string(), as_.reqid.to_string());
        field("mode", bs.mode == as_.mode, format!("{:?}", bs.mode), format!("{:?}", as_.mode));
        field("state", bs.state == as_.state, format!("{:?}", bs.state), format!("{:?}", as_.state));
        field("auth", bs.auth == as_.auth, format!("{:?}", bs.auth), format!("{:?}", as_.auth));
        field("encrypt", bs.encrypt == as_.encrypt, format!("{:?}", bs.encrypt), format!("{:?}", as_.encrypt));
        field("replay", bs.replay == as_.replay, bs.replay.to_string(), as_.replay.to_string());
        field("flags", bs.flags == as_.flags, bs.flags.to_string(), as_.flags.to_string());
        field("hard", bs.hard == as_.hard, format!("{:?}", bs.hard), format!("{:?}", as_.hard));
        field("soft", bs.soft == as_.soft, format!("{:?}", bs.soft), format!("{:?}", as_.soft));
        field("natt", bs.natt == as_.natt, format!("{:?}", bs.natt), format!("{:?}", as_.natt));
        field("current", b.current == a.current, format!("{:?}", b.current), format!("{:?}", a.current));
        if f.is_empty() && b != a {
            f.push(format!("{b:?} -> {a:?}"));
        }
        if !f.is_empty() {
            out.push(format!("{name}: {}", f.join(", ")));
        }
    }
    for a in after.sas.iter().filter(|a| !before.sas.iter().any(|b| sa_key(b) == sa_key(a))) {
        out.push(format!("new SA {:#x} {}->{} reqid {}", a.spec.spi, a.spec.src, a.spec.dst, a.spec.reqid));
    }
    let pol_key = |p: &PolicySpec| (p.dir, p.id);
    for b in &before.policies {
        let name = format!("policy {:?} id {:#x}", b.dir, b.id);
        let Some(a) = after.policies.iter().find(|a| pol_key(a) == pol_key(b)) else {
            out.push(format!("{name} gone"));
            continue;
        };
        let mut f = Vec::new();
        if b.templates != a.templates {
            let t = |p: &PolicySpec| p.templates.iter().map(template_text).collect::<Vec<_>>().join(" + ");
            f.push(format!("templates [{}] -> [{}]", t(b), t(a)));
        }
        if f.is_empty() && b != a {
            f.push(format!("{b:?} -> {a:?}"));
        }
        if !f.is_empty() {
            out.push(format!("{name}: {}", f.join(", ")));
        }
    }
    for a in after.policies.iter().filter(|a| !before.policies.iter().any(|b| pol_key(b) == pol_key(a))) {
        out.push(format!("new policy {:?} id {:#x}", a.dir, a.id));
    }
    if out.is_empty() && before != after {
        out.push("same entries, in another dump order".into());
    }
    out
}

fn errno_text(e: i32) -> String {
    let name = u8::try_from(e).ok().and_then(errno_name).unwrap_or("?");
    format!("{name}({e})")
}

/// Whether a refused request got errno `want` and left the SAD and SPD as `before`, and what
/// was seen: the verdict of every "bad input changes nothing" check.
pub(crate) fn refused_unchanged(got: i32, want: i32, before: &Snapshot, after: &Snapshot) -> (bool, String) {
    let changes = diff(before, after);
    let mut problems = Vec::new();
    if got != want {
        problems.push(format!("errno {}, want {}", errno_text(got), errno_text(want)));
    }
    if !changes.is_empty() {
        problems.push(format!("SAD/SPD changed: {}", changes.join("; ")));
    }
    if problems.is_empty() {
        let seen = format!(
            "errno {}; SAD ({} SAs) and SPD ({} policies) unchanged",
            errno_text(got),
            after.sas.len(),
            after.policies.len()
        );
        (true, seen)
    } else {
        (false, problems.join("; "))
    }
}

/// Sends `bytes` on `ch` and waits up to 3 s for the answer `answer` recognises (it returns the
/// answer's errno, 0 for success); a send the kernel fails is answered by its errno. Shared by
/// the raw requests of this module and of [`crate::badinput`].
pub(crate) fn send_await_errno<C: Channel>(
    ch: &mut C,
    bytes: &[u8],
    op: &'static str,
    answer: impl Fn(&[u8]) -> Option<i32>,
) -> Result<i32, GuestError> {
    const WAIT: Duration = Duration::from_secs(3);
    match ch.send(bytes) {
        Ok(()) => {}
        Err(KernelError::Errno { errno, .. }) => return Ok(errno),
        Err(e) => return Err(e.into()),
    }
    let end = Instant::now() + WAIT;
    let mut buf = Vec::new();
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() || !ch.recv(&mut buf, Some(left))? {
            return Err(KernelError::Timeout { op, timeout: WAIT }.into());
        }
        if let Some(errno) = answer(&buf) {
            return Ok(errno);
        }
    }
}

/// Sends `msg` as raw bytes on `k`'s socket and returns the errno of the MIGRATE reply to it
/// (0: the kernel accepted it).
fn raw_migrate(k: &mut AfKey, mut msg: Message<'static>, seq: u32) -> Result<i32, GuestError> {
    let pid = k.channel().pid();
    msg.header.seq = seq;
    msg.header.pid = pid;
    let bytes = msg.to_bytes(Dialect::Linux)?;
    send_await_errno(k.channel_mut(), &bytes, "SADB_X_MIGRATE (raw)", |buf| {
        let m = Message::parse(buf, Dialect::Linux).ok()?;
        if m.msg_type() != MessageType::XMigrate {
            return None;
        }
        if (m.header.seq, m.header.pid) == (seq, pid) {
            return Some(i32::from(m.errno()));
        }
        // The broadcast of an accepted MIGRATE.
        ((m.header.seq, m.header.pid, m.errno()) == (0, 0, 0)).then_some(0)
    })
}

/// How a refused MIGRATE is sent.
enum Request {
    /// Through [`Kernel::migrate`].
    Typed(Migrate),
    /// As raw bytes on the socket (a message the typed API cannot express).
    Raw(Message<'static>),
}

impl Request {
    /// Sends it; the kernel's errno (0: accepted).
    fn send(&self, k: &mut AfKey, seq: u32) -> Result<i32, GuestError> {
        match self {
            Request::Typed(m) => match k.migrate(m) {
                Ok(_) => Ok(0),
                Err(KernelError::Errno { errno, .. }) => Ok(errno),
                Err(e) => Err(e.into()),
            },
            Request::Raw(m) => raw_migrate(k, m.clone(), seq),
        }
    }
}

/// One refused MIGRATE: its name, the request, the errno it must get.
struct Case {
    name: &'static str,
    request: Request,
    want: i32,
}

/// Runs the failing-MIGRATE checks in a fresh network namespace.
pub fn run() -> Result<Vec<Check>, GuestError> {
    enter_fresh_netns()?;
    let mut k = AfKey::open()?;
    // The tunnel: SAs both ways (reqid 1), out/in/fwd policies; and an SA with reqid 2 that no
    // template names (so a MIGRATE for reqid 2 finds an SA to clone but no template to move).
    k.add_sa(&esp_cbc_sha256(0x1000, LOCAL, PEER, Mode::Tunnel, 1))?;
    k.add_sa(&esp_cbc_sha256(0x2000, PEER, LOCAL, Mode::Tunnel, 1))?;
    k.add_sa(&esp_cbc_sha256(0x3000, LOCAL, PEER, Mode::Tunnel, 2))?;
    let out_sel = Selector::new(addr("10.1.0.0"), 16, addr("10.2.0.0"), 16);
    let in_sel = Selector::new(addr("10.2.0.0"), 16, addr("10.1.0.0"), 16);
    k.add_policy(&PolicySpec::esp_tunnel(out_sel, PolicyDir::Outbound, addr(LOCAL), addr(PEER), 1))?;
    k.add_policy(&PolicySpec::esp_tunnel(in_sel, PolicyDir::Inbound, addr(PEER), addr(LOCAL), 1))?;
    k.add_policy(&PolicySpec::esp_tunnel(in_sel, PolicyDir::Fwd, addr(PEER), addr(LOCAL), 1))?;
    let before = snapshot(&mut k)?;

    let move_out = |reqid| MigrateBundle::new(IPPROTO_ESP, Mode::Tunnel, reqid, ep(LOCAL, PEER), ep(MOVED, PEER));
    let migrate = |selector, bundles| Migrate {
        selector,
        dir: PolicyDir::Outbound,
        kmaddress: Some((addr(MOVED), addr(PEER))),
        bundles,
        natt: None,
    };
    // A two-pair bundle whose first pair is a valid move of the tunnel and whose second pair's
    // new request has another mode than its old one (edited in the built message, which the
    // typed API cannot express).
    let pair_mismatch = {
        let mut m = migrate(out_sel, vec![move_out(1), move_out(1)]).message();
        if let Extensions::Owned(exts) = &mut m.extensions {
            for e in exts.iter_mut() {
                if let Extension::Policy(p) = e
                    && let List::Owned(reqs) = &mut p.requests
                    && let Some(r) = reqs.get_mut(3)
                {
                    r.mode = Mode::Transport;
                }
            }
        }
        m
    };
    // The edit took: this crate's own pair rule refuses the message.
    let pair_rule = pair_mismatch.policy().map(|p| pfkey::message::check_migrate_pairs(&p));
    if !matches!(pair_rule, Some(Err(_))) {
        return Err(GuestError::Io {
            what: "building the mismatched-pair MIGRATE".into(),
            source: std::io::Error::other(format!("the edited message passes the pair rule: {pair_rule:?}")),
        });
    }
    let cases = vec![
        Case {
            name: "no policy matches the selector",
            want: libc::ENOENT,
            request: Request::Typed(migrate(
                Selector::new(addr("10.77.0.0"), 16, addr("10.78.0.0"), 16),
                vec![move_out(1)],
            )),
        },
        Case {
            name: "reqid 99 matches no template and no SA",
            want: libc::ENODATA,
            request: Request::Typed(migrate(out_sel, vec![move_out(99)])),
        },
        Case {
            name: "reqid 2 matches SA 0x3000 but no template",
            want: libc::ENODATA,
            request: Request::Typed(migrate(out_sel, vec![move_out(2)])),
        },
        Case {
            name: "second pair invalid (old tunnel, new transport)",
            want: libc::EINVAL,
            request: Request::Raw(pair_mismatch),
        },
    ];

    let mut checks = Vec::new();
    for (seq, case) in (0x0fa1_0001..).zip(cases) {
        let got = case.request.send(&mut k, seq)?;
        let after = snapshot(&mut k)?;
        let (passed, detail) = refused_unchanged(got, case.want, &before, &after);
        tracing::info!(name = case.name, passed, detail = %detail, "failing-migrate check");
        checks.push(Check {
            name: format!("failed MIGRATE changes nothing: {}", case.name),
            passed,
            known_gap: false,
            command: "AfKey::migrate (in-process, fresh netns)".into(),
            status: None,
            detail,
            stdout: format!("before: {before:?}\nafter: {after:?}"),
            stderr: String::new(),
        });
    }
    // Control: a MIGRATE that succeeds, seen by the same comparison.
    let result = k.migrate(&migrate(out_sel, vec![move_out(1)]));
    let after = snapshot(&mut k)?;
    let changes = diff(&before, &after);
    let moved = addr(MOVED).ip();
    let sa_moved = after.sas.iter().any(|e| e.spec.spi == 0x1000 && e.spec.src.ip() == moved);
    let tmpl_moved = after.policies.iter().any(|p| {
        p.dir == PolicyDir::Outbound && p.templates.iter().any(|t| t.endpoints.is_some_and(|e| e.src.ip() == moved))
    });
    let mut problems = Vec::new();
    if let Err(e) = &result {
        problems.push(format!("the MIGRATE failed: {e}"));
    }
    if !sa_moved {
        problems.push(format!("no SA 0x1000 from {MOVED} in the dump"));
    }
    if !tmpl_moved {
        problems.push(format!("no outbound template from {MOVED} in the dump"));
    }
    if changes.is_empty() {
        problems.push("the comparison saw no change".into());
    }
    let passed = problems.is_empty();
    let detail = if passed {
        format!("{} differences seen: {}", changes.len(), changes.join("; "))
    } else {
        problems.join("; ")
    };
    checks.push(Check {
        name: "failed MIGRATE changes nothing: control, a MIGRATE that succeeds is seen by the same comparison".into(),
        passed,
        known_gap: false,
        command: "AfKey::migrate (in-process, fresh netns)".into(),
        status: None,
        detail,
        stdout: format!("before: {before:?}\nafter: {after:?}"),
        stderr: String::new(),
    });
    k.flush_sas(SaType::Unspec)?;
    k.flush_policies()?;
    Ok(checks)
}

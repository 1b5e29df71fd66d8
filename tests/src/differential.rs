//! The differential suite (issue 5, item 2): the same operation sequences applied to the three
//! backends of the [`Kernel`] trait — [`AfKey`] (the real `af_key`), [`XfrmKernel`] (the shim over
//! XFRM netlink) and [`Model`] (the in-memory kernel, configured as the booted kernel: stock or
//! patched) — each in a fresh network namespace of its own, and their results compared.
//!
//! After every operation the suite records each backend's answer (the value, or the errno; the
//! mechanism a move reports is the backend's own and not compared) and reads the SAD and SPD back
//! (`dump_sas`, `dump_policies`). Entries are matched by identity (SA: type, SPI, destination;
//! policy: direction and selector) and compared field by field as their JSON forms; the only field
//! left out is what a clock decides (the add and use times of the current lifetime).
//!
//! `af_key` is the reference. The model must agree with it everywhere: it claims to be an oracle
//! of the kernel, and this is where that claim is checked. The XFRM shim must agree too, except
//! where the two kernel interfaces differ by design; each such case is named by [`documented`]
//! with the section of `spec/xfrm-vs-pfkey.md` that gives its evidence. A sequence stops
//! comparing a pair of backends at its first documented difference (their states have parted, so
//! later steps would only repeat it) and the report counts it; any other difference fails.
//!
//! Two sources of sequences: [`scripted`] (the daemon's operations in the order a daemon does
//! them, and the errors it can meet) and [`generated`] (proptest sequences over small pools of
//! SPIs, addresses, selectors and reqids, so collisions and missing objects are common; a fixed
//! seed makes a run reproducible, and a failure is shrunk to a minimal sequence).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use pfkey::kernel::model::ModelConfig;
use pfkey::kernel::{
    AfKey, Capabilities, GetSpi, Kernel, KernelError, Model, ModelKernel, SaEntry, SaId, Support, XfrmKernel,
};
use pfkey::message::{
    AlgKey, BeetInner, Endpoints, Lifetime, Migrate, MigrateBundle, NatT, PolicySpec, SaSpec, Selector, SockAddr,
    UpdateAddresses,
};
use pfkey::wire::numbers::{AuthAlg, EncryptAlg, IPPROTO_ESP, Mode, PolicyDir, SaType, errno_name};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde_json::Value;

use crate::guest::{Check, GuestError, esp_cbc_sha256};

/// One operation of a sequence: a [`Kernel`] method and its argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `getspi` (with `min == max`, so every backend must answer the same SPI or errno).
    GetSpi(GetSpi),
    /// `add_sa`.
    AddSa(SaSpec),
    /// `update_sa`.
    UpdateSa(SaSpec),
    /// `delete_sa`.
    DeleteSa(SaId),
    /// `get_sa`.
    GetSa(SaId),
    /// `flush_sas` of every type.
    FlushSas,
    /// `add_policy`.
    AddPolicy(PolicySpec),
    /// `update_policy`.
    UpdatePolicy(PolicySpec),
    /// `delete_policy` by selector and direction.
    DeletePolicy(Selector, PolicyDir),
    /// `get_policy` by id.
    GetPolicy(u32, PolicyDir),
    /// `flush_policies`.
    FlushPolicies,
    /// `migrate`.
    Migrate(Migrate),
    /// `update_addresses` (the per-SA move).
    UpdateAddresses(UpdateAddresses),
}

impl Op {
    /// A one-line description for reports.
    pub fn describe(&self) -> String {
        fn ends(s: &SockAddr, d: &SockAddr) -> String {
            format!("{}->{}", s.ip(), d.ip())
        }
        fn natt(n: &Option<NatT>) -> String {
            n.map_or(String::new(), |n| format!(" natt {:?} {}->{}", n.nat_t_type, n.sport, n.dport))
        }
        fn sa(s: &SaSpec) -> String {
            format!(
                "{:?} {:#x} {} {:?} reqid {} enc {:?} auth {:?}{}{}",
                s.satype,
                s.spi,
                ends(&s.src, &s.dst),
                s.mode,
                s.reqid,
                s.encrypt.as_ref().map(|e| e.alg),
                s.auth.as_ref().map(|a| a.alg),
                natt(&s.natt),
                if s.flags != 0 { format!(" flags {:#x}", s.flags) } else { String::new() }
            )
        }
        fn sel(s: &Selector) -> String {
            format!("{}/{}->{}/{}", s.src.ip(), s.src_prefixlen, s.dst.ip(), s.dst_prefixlen)
        }
        fn pol(p: &PolicySpec) -> String {
            let t: Vec<String> = p
                .templates
                .iter()
                .map(|t| {
                    format!(
                        "{:?} reqid {}{}",
                        t.level,
                        t.reqid,
                        t.endpoints.map_or(String::new(), |e| format!(" {}", ends(&e.src, &e.dst)))
                    )
                })
                .collect();
            format!("{} {:?} [{}]", sel(&p.selector), p.dir, t.join(", "))
        }
        match self {
            Op::GetSpi(g) => format!("getspi {:#x} {}", g.min, ends(&g.src, &g.dst)),
            Op::AddSa(s) => format!("add {}", sa(s)),
            Op::UpdateSa(s) => format!("update {}", sa(s)),
            Op::DeleteSa(id) => format!("delete {:#x} {}", id.spi, ends(&id.src, &id.dst)),
            Op::GetSa(id) => format!("get {:#x} {}", id.spi, ends(&id.src, &id.dst)),
            Op::FlushSas => "flush".into(),
            Op::AddPolicy(p) => format!("spdadd {}", pol(p)),
            Op::UpdatePolicy(p) => format!("spdupdate {}", pol(p)),
            Op::DeletePolicy(s, d) => format!("spddelete {} {d:?}", sel(s)),
            Op::GetPolicy(id, d) => format!("spdget {id} {d:?}"),
            Op::FlushPolicies => "spdflush".into(),
            Op::Migrate(m) => {
                let b: Vec<String> = m
                    .bundles
                    .iter()
                    .map(|b| {
                        format!(
                            "reqid {} {} => {}",
                            b.reqid,
                            ends(&b.old.src, &b.old.dst),
                            ends(&b.new.src, &b.new.dst)
                        )
                    })
                    .collect();
                format!("migrate {} {:?} [{}]{}", sel(&m.selector), m.dir, b.join(", "), natt(&m.natt))
            }
            Op::UpdateAddresses(u) => format!(
                "update-addresses {:#x} {} new {}{}",
                u.spi,
                ends(&u.src, &u.dst),
                ends(&u.new_src.unwrap_or(u.src), &u.new_dst.unwrap_or(u.dst)),
                natt(&u.natt)
            ),
        }
    }
}

/// The three backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Backend {
    /// The real `af_key` (the reference).
    AfKey,
    /// The XFRM netlink shim.
    Xfrm,
    /// The in-memory model.
    Model,
}

impl Backend {
    /// The backend's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::AfKey => "afkey",
            Backend::Xfrm => "xfrm",
            Backend::Model => "model",
        }
    }
}

/// The SAD and SPD read back, keyed by identity, each entry as JSON.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct State {
    /// SAs by `type spi dst`.
    pub sas: BTreeMap<String, Value>,
    /// Policies by `dir selector`.
    pub policies: BTreeMap<String, Value>,
}

/// One operation's outcome on one backend.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The answer: `ok`, `ok <value>`, an errno name or an error kind.
    pub answer: String,
    /// The SAD and SPD afterwards (or why they could not be read).
    pub state: Result<State, String>,
}

fn sa_json(e: &SaEntry) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
    // The clock decides these; what is counted (bytes, packets, allocations) stays.
    if let Some(cur) = v.get_mut("current").and_then(Value::as_object_mut) {
        cur.remove("addtime");
        cur.remove("usetime");
    }
    v
}

fn sa_key(satype: SaType, spi: u32, dst: &SockAddr) -> String {
    format!("{satype:?} {spi:#x} {}", dst.ip())
}

fn read_state(k: &mut dyn Kernel) -> Result<State, String> {
    let sas = k.dump_sas(SaType::Unspec).map_err(|e| format!("dump_sas: {}", answer_of_err(&e)))?;
    let pols = k.dump_policies().map_err(|e| format!("dump_policies: {}", answer_of_err(&e)))?;
    let mut st = State::default();
    for e in &sas {
        st.sas.insert(sa_key(e.spec.satype, e.spec.spi, &e.spec.dst), sa_json(e));
    }
    for p in &pols {
        let s = &p.selector;
        let key = format!(
            "{:?} {}/{}->{}/{} proto {}",
            p.dir,
            s.src.ip(),
            s.src_prefixlen,
            s.dst.ip(),
            s.dst_prefixlen,
            s.proto
        );
        st.policies.insert(key, serde_json::to_value(p).unwrap_or(Value::Null));
    }
    Ok(st)
}

fn answer_of_err(e: &KernelError) -> String {
    match e {
        KernelError::Errno { errno, .. } => {
            u8::try_from(*errno).ok().and_then(errno_name).map_or_else(|| format!("errno {errno}"), str::to_string)
        }
        KernelError::Unsupported { .. } => "unsupported".into(),
        KernelError::BadReply { .. } => "bad reply".into(),
        KernelError::Timeout { .. } => "timeout".into(),
        other => format!("error: {other}"),
    }
}

fn apply(k: &mut dyn Kernel, op: &Op) -> String {
    let r: Result<String, KernelError> = match op {
        Op::GetSpi(g) => k.getspi(g).map(|spi| format!("ok {spi:#x}")),
        Op::AddSa(s) => k.add_sa(s).map(|()| "ok".into()),
        Op::UpdateSa(s) => k.update_sa(s).map(|()| "ok".into()),
        Op::DeleteSa(id) => k.delete_sa(id).map(|()| "ok".into()),
        Op::GetSa(id) => k.get_sa(id).map(|e| format!("ok {}", sa_json(&e))),
        Op::FlushSas => k.flush_sas(SaType::Unspec).map(|()| "ok".into()),
        Op::AddPolicy(p) => k.add_policy(p).map(|id| format!("ok id {id}")),
        Op::UpdatePolicy(p) => k.update_policy(p).map(|id| format!("ok id {id}")),
        Op::DeletePolicy(s, d) => k.delete_policy(s, *d).map(|()| "ok".into()),
        Op::GetPolicy(id, d) => k.get_policy(*id, *d).map(|p| format!("ok {}", serde_json::json!(p))),
        Op::FlushPolicies => k.flush_policies().map(|()| "ok".into()),
        Op::Migrate(m) => k.migrate(m).map(|_| "ok".into()),
        Op::UpdateAddresses(u) => k.update_addresses(u).map(|_| "ok".into()),
    };
    r.unwrap_or_else(|e| answer_of_err(&e))
}

fn run_on(k: &mut dyn Kernel, ops: &[Op]) -> Vec<Step> {
    ops.iter()
        .map(|op| {
            let answer = apply(k, op);
            Step { answer, state: read_state(k) }
        })
        .collect()
}

/// Runs `ops` on `backend`: the kernel backends on a thread of their own in a fresh network
/// namespace (so every sequence starts from an empty SAD and SPD, and the namespace goes away
/// with the thread), the model in a fresh [`ModelKernel`] with `model`'s semantics.
pub fn run_backend(backend: Backend, ops: &[Op], model: ModelConfig) -> Result<Vec<Step>, String> {
    let timeout = Duration::from_secs(2);
    match backend {
        Backend::Model => {
            let kernel = ModelKernel::with_config(model);
            let mut k = Model::new(kernel.socket()).with_timeout(timeout);
            Ok(run_on(&mut k, ops))
        }
        Backend::AfKey | Backend::Xfrm => {
            let ops = ops.to_vec();
            std::thread::spawn(move || -> Result<Vec<Step>, String> {
                // SAFETY: unshare takes no pointers; it moves only this thread.
                if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                    return Err(format!("unshare(CLONE_NEWNET): {}", std::io::Error::last_os_error()));
                }
                if backend == Backend::AfKey {
                    let mut k = AfKey::open().map_err(|e| e.to_string())?.with_timeout(timeout);
                    Ok(run_on(&mut k, &ops))
                } else {
                    let mut k = XfrmKernel::open().map_err(|e| e.to_string())?.with_timeout(timeout);
                    Ok(run_on(&mut k, &ops))
                }
            })
            .join()
            .map_err(|_| format!("the {} thread panicked", backend.name()))?
        }
    }
}

/// The fields in which two JSON values differ, as `path: a != b` lines.
fn json_diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = format!("{path}.{k}");
                json_diff(&p, x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (xa, ya)) in x.iter().zip(y).enumerate() {
                json_diff(&format!("{path}[{i}]"), xa, ya, out);
            }
        }
        _ if a != b => out.push(format!("{path}: reference {a}, other {b}")),
        _ => {}
    }
}

fn map_diff(what: &str, a: &BTreeMap<String, Value>, b: &BTreeMap<String, Value>, out: &mut Vec<String>) {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        match (a.get(k), b.get(k)) {
            (Some(x), Some(y)) => json_diff(&format!("{what} [{k}]"), x, y, out),
            (Some(_), None) => out.push(format!("{what} [{k}] only in the reference")),
            (None, Some(_)) => out.push(format!("{what} [{k}] missing from the reference")),
            (None, None) => {}
        }
    }
}

/// What differs between a reference step and another backend's step.
fn step_diff(reference: &Step, other: &Step, ref_name: &str, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    if reference.answer != other.answer {
        out.push(format!("answer: {ref_name} {}, {name} {}", reference.answer, other.answer));
    }
    match (&reference.state, &other.state) {
        (Ok(a), Ok(b)) => {
            map_diff("SA", &a.sas, &b.sas, &mut out);
            map_diff("policy", &a.policies, &b.policies, &mut out);
        }
        (a, b) if a != b => out.push(format!("state: {a:?} != {b:?}")),
        _ => {}
    }
    out
}

fn is_aead(alg: EncryptAlg) -> bool {
    matches!(
        alg,
        EncryptAlg::AesCcmIcv8
            | EncryptAlg::AesCcmIcv12
            | EncryptAlg::AesCcmIcv16
            | EncryptAlg::AesGcmIcv8
            | EncryptAlg::AesGcmIcv12
            | EncryptAlg::AesGcmIcv16
            | EncryptAlg::NullAesGmac
    )
}

/// Where the XFRM interface differs from `af_key` by design: the section of
/// `spec/xfrm-vs-pfkey.md` that documents this difference, when `diff` (the step's differences,
/// [`step_diff`]) is exactly what that section describes for this operation on this kernel;
/// `None` otherwise (an undocumented difference, which fails).
pub fn documented(op: &Op, caps: &Capabilities, reference: &Step, diff: &[String]) -> Option<&'static str> {
    let only = |pred: &dyn Fn(&str) -> bool| diff.iter().all(|d| pred(d));
    let answers_equal = !diff.iter().any(|d| d.starts_with("answer:"));
    match op {
        Op::UpdateAddresses(_) => {
            const SECTION: &str = "The per-SA address update over XFRM";
            if caps.update_addresses != Support::Yes {
                // Stock af_key refuses the request (EINVAL) and changes nothing; the shim moves
                // the SA by a narrowed MIGRATE.
                return (reference.answer == "EINVAL").then_some(SECTION);
            }
            if answers_equal {
                // Both moved the SA the same way; the narrowed MIGRATE also moved the template
                // of the policy naming it, which the per-SA update leaves.
                return only(&|d| d.starts_with("policy [") && d.contains(".templates[")).then_some(SECTION);
            }
            // The narrowed MIGRATE needs a policy whose template names the SA (ENOENT without
            // one), and cannot tell two SAs with the same reqid and addresses apart (BadReply).
            let refused = diff.iter().any(|d| d.ends_with(", xfrm ENOENT") || d.ends_with(", xfrm bad reply"));
            (reference.answer == "ok" && refused).then_some(SECTION)
        }
        // pfkey_getspi finds or creates the larval SA (SPI 0) before it checks the range, and a
        // range it refuses (EINVAL) leaves that SA behind; xfrm_alloc_userspi checks the range
        // first and leaves nothing. The shim keeps XFRM's way rather than make an SA to match.
        Op::GetSpi(_) => (reference.answer == "EINVAL"
            && only(&|d| d.starts_with("SA [") && d.contains(" 0x0 ") && d.ends_with("only in the reference")))
        .then_some("Different: GETSPI with a range it refuses"),
        Op::AddSa(s) | Op::UpdateSa(s) => {
            // Stock af_key looks AEAD algorithms up among the ciphers only (ENOSYS, before
            // anything else); XFRM has XFRMA_ALG_AEAD.
            if caps.aead != Support::Yes
                && s.encrypt.as_ref().is_some_and(|e| is_aead(e.alg))
                && reference.answer == "ENOSYS"
            {
                return Some("Different: AEAD SAs");
            }
            // A kernel without the movable flag: af_key drops the unknown sadb_sa_flags bit,
            // while XFRM stores an unknown XFRMA_SA_EXTRA_FLAGS bit without acting on it, so the
            // flag reads back only there.
            // A kernel without BEET through PF_KEY drops the inner destination; XFRM keeps it in
            // the selector.
            if caps.beet_inner != Support::Yes && s.mode == Mode::Beet {
                let inner_only = |d: &str| d.starts_with("SA [") && d.contains(".spec.inner");
                return only(&inner_only).then_some("Different: BEET on a kernel without the series");
            }
            let flags_only = |d: &str| d.starts_with("SA [") && d.contains(".spec.flags");
            (caps.movable_inbound != Support::Yes && s.is_movable() && only(&flags_only))
                .then_some("Different: the movable flag on a kernel without it")
        }
        // ... and stores a BEET template without its endpoints, which XFRM keeps.
        Op::AddPolicy(p) | Op::UpdatePolicy(p)
            if caps.beet_inner != Support::Yes && p.templates.iter().any(|t| t.mode == Mode::Beet) =>
        {
            (answers_equal && only(&|d| d.starts_with("policy [") && d.contains(".endpoints")))
                .then_some("Different: BEET on a kernel without the series")
        }
        // Stock af_key ignores NAT-T extensions in SADB_X_MIGRATE; XFRM_MSG_MIGRATE takes
        // XFRMA_ENCAP: the same move, with the encapsulation set only by the shim.
        Op::Migrate(m) if caps.migrate_natt != Support::Yes && m.natt.is_some() => (answers_equal
            && only(&|d| d.starts_with("SA [") && d.contains(".natt")))
        .then_some("Different: NAT-T in a MIGRATE"),
        _ => None,
    }
}

/// How one sequence compared.
#[derive(Debug, Clone, Default)]
pub struct SequenceReport {
    /// Steps compared.
    pub steps: usize,
    /// Undocumented differences (`step n (op): backend: field ...`); empty when it passed.
    pub failures: Vec<String>,
    /// Documented differences met (the pair stopped comparing there): `backend: section` and
    /// the step (from 1).
    pub documented: Vec<(String, usize)>,
}

/// Runs `ops` on the three backends and compares the model and the XFRM shim with `af_key`.
pub fn compare(ops: &[Op], caps: &Capabilities, model: ModelConfig) -> SequenceReport {
    compare_with(ops, caps, model, Backend::AfKey, &[Backend::Xfrm, Backend::Model])
}

/// Runs `ops` on `reference` and `others` and compares each of the others with the reference.
/// Documented differences ([`documented`]) apply to the XFRM shim against `af_key` only.
pub fn compare_with(
    ops: &[Op],
    caps: &Capabilities,
    model: ModelConfig,
    reference: Backend,
    others: &[Backend],
) -> SequenceReport {
    let mut rep = SequenceReport { steps: ops.len(), ..Default::default() };
    let run = |b: Backend| run_backend(b, ops, model);
    let ref_steps = match run(reference) {
        Ok(r) => r,
        Err(e) => {
            rep.failures.push(format!("{}: {e}", reference.name()));
            return rep;
        }
    };
    for &other in others {
        let steps = match run(other) {
            Ok(s) => s,
            Err(e) => {
                rep.failures.push(format!("{}: {e}", other.name()));
                continue;
            }
        };
        for (i, ((op, r), o)) in ops.iter().zip(&ref_steps).zip(&steps).enumerate() {
            let d = step_diff(r, o, reference.name(), other.name());
            if d.is_empty() {
                continue;
            }
            let doc =
                if (reference, other) == (Backend::AfKey, Backend::Xfrm) { documented(op, caps, r, &d) } else { None };
            if let Some(section) = doc {
                rep.documented.push((format!("{}: {section}", other.name()), i + 1));
            } else {
                for line in d {
                    rep.failures.push(format!("step {} ({}): {}: {line}", i + 1, op.describe(), other.name()));
                }
            }
            break;
        }
    }
    rep
}

// ---------------------------------------------------------------------------------------------
// Sequences

fn addr(s: &str) -> SockAddr {
    SockAddr::new(s.parse().expect("a literal address"))
}

const MOBILE: &str = "192.0.2.10";
const GW: &str = "198.51.100.1";
const LTE: &str = "203.0.113.7";
const MOBILE6: &str = "2001:db8:1::10";
const GW6: &str = "2001:db8:2::1";
const LTE6: &str = "2001:db8:3::7";

fn eps(src: &str, dst: &str) -> Endpoints {
    Endpoints { src: addr(src), dst: addr(dst) }
}

fn sel_out() -> Selector {
    Selector::new(addr("10.1.0.0"), 16, addr("10.2.0.0"), 16)
}

fn sel_in() -> Selector {
    Selector::new(addr("10.2.0.0"), 16, addr("10.1.0.0"), 16)
}

fn id(spi: u32, src: &str, dst: &str) -> SaId {
    SaId { satype: SaType::Esp, spi, src: addr(src), dst: addr(dst) }
}

fn gcm(spi: u32, src: &str, dst: &str, reqid: u32) -> SaSpec {
    SaSpec::esp_tunnel_gcm(spi, addr(src), addr(dst), reqid, &[0x44; 20])
}

fn migrate(sel: Selector, dir: PolicyDir, reqid: u32, old: Endpoints, new: Endpoints, natt: Option<NatT>) -> Migrate {
    Migrate {
        selector: sel,
        dir,
        kmaddress: None,
        bundles: vec![MigrateBundle::new(IPPROTO_ESP, Mode::Tunnel, reqid, old, new)],
        natt,
    }
}

fn update_addrs(spi: u32, src: &str, dst: &str, new_src: Option<&str>, natt: Option<NatT>) -> UpdateAddresses {
    UpdateAddresses {
        satype: SaType::Esp,
        spi,
        src: addr(src),
        dst: addr(dst),
        mode: Mode::Tunnel,
        reqid: 1,
        new_src: new_src.map(addr),
        new_dst: None,
        natt,
    }
}

/// A mobile host's tunnel as a daemon installs it: SAs both ways, out/in/fwd policies.
fn tunnel_ops(local: &str, peer: &str) -> Vec<Op> {
    vec![
        Op::AddSa(esp_cbc_sha256(0x1001, local, peer, Mode::Tunnel, 1)),
        Op::AddSa(esp_cbc_sha256(0x2001, peer, local, Mode::Tunnel, 1)),
        Op::AddPolicy(PolicySpec::esp_tunnel(sel_out(), PolicyDir::Outbound, addr(local), addr(peer), 1)),
        Op::AddPolicy(PolicySpec::esp_tunnel(sel_in(), PolicyDir::Inbound, addr(peer), addr(local), 1)),
        Op::AddPolicy(PolicySpec::esp_tunnel(sel_in(), PolicyDir::Fwd, addr(peer), addr(local), 1)),
    ]
}

/// Whether an operation touches only the SPD when no SA exists (a MIGRATE then moves templates).
pub fn policy_only(op: &Op) -> bool {
    matches!(
        op,
        Op::AddPolicy(_)
            | Op::UpdatePolicy(_)
            | Op::DeletePolicy(..)
            | Op::GetPolicy(..)
            | Op::FlushPolicies
            | Op::Migrate(_)
    )
}

/// The scripted sequences that touch only the SPD (policies and MIGRATEs without SAs), which a
/// kernel without ESP (the host's) can run: name and operations.
pub fn scripted_policy_only() -> Vec<(&'static str, Vec<Op>)> {
    let only_policies = |op: &Op| {
        matches!(
            op,
            Op::AddPolicy(_) | Op::UpdatePolicy(_) | Op::DeletePolicy(..) | Op::GetPolicy(..) | Op::FlushPolicies
        )
    };
    scripted()
        .into_iter()
        .map(|(name, ops)| (name, ops.into_iter().filter(only_policies).collect::<Vec<_>>()))
        .filter(|(_, ops)| !ops.is_empty())
        .collect()
}

/// The scripted sequences: name and operations.
pub fn scripted() -> Vec<(&'static str, Vec<Op>)> {
    let mut lifetimes = esp_cbc_sha256(0x1001, MOBILE, GW, Mode::Tunnel, 1);
    lifetimes.hard = Some(Lifetime { allocations: 0, bytes: 1 << 30, addtime: 3600, usetime: 0 });
    lifetimes.soft = Some(Lifetime { allocations: 0, bytes: 1 << 29, addtime: 3000, usetime: 0 });
    let mut natt_sa = esp_cbc_sha256(0x3001, MOBILE, GW, Mode::Tunnel, 3);
    natt_sa.natt = Some(NatT::esp_in_udp(4500, 4500));
    let mut natt_sa_ports = natt_sa.clone();
    natt_sa_ports.natt = Some(NatT::esp_in_udp(4501, 4502));
    let spi_req = |spi: u32| GetSpi {
        satype: SaType::Esp,
        src: addr(GW),
        dst: addr(MOBILE),
        min: spi,
        max: spi,
        mode: Mode::Tunnel,
        reqid: 1,
    };
    let mut hard_only = esp_cbc_sha256(0x1201, MOBILE, GW, Mode::Tunnel, 1);
    hard_only.hard = Some(Lifetime { allocations: 0, bytes: 1 << 20, addtime: 600, usetime: 0 });
    let mut sha1 = esp_cbc_sha256(0x1203, GW, MOBILE, Mode::Transport, 0);
    sha1.auth = Some(AlgKey::new(AuthAlg::Sha1Hmac, &[0x66; 20]));
    let mut larval_done = esp_cbc_sha256(0x4001, GW, MOBILE, Mode::Tunnel, 1);
    larval_done.replay = 32;
    let mut sequences = vec![
        (
            "SA lifecycle: add, get, duplicate, lifetimes, delete twice, flush",
            vec![
                Op::AddSa(esp_cbc_sha256(0x1001, MOBILE, GW, Mode::Tunnel, 1)),
                Op::GetSa(id(0x1001, MOBILE, GW)),
                Op::AddSa(esp_cbc_sha256(0x1001, MOBILE, GW, Mode::Tunnel, 1)),
                Op::UpdateSa(lifetimes),
                Op::AddSa(esp_cbc_sha256(0x1002, MOBILE, GW, Mode::Transport, 0)),
                Op::DeleteSa(id(0x1001, MOBILE, GW)),
                Op::DeleteSa(id(0x1001, MOBILE, GW)),
                Op::GetSa(id(0x1001, MOBILE, GW)),
                Op::UpdateSa(esp_cbc_sha256(0x1009, MOBILE, GW, Mode::Tunnel, 1)),
                Op::FlushSas,
                Op::FlushSas,
            ],
        ),
        (
            "SA edge cases: hard lifetime alone, source = destination, transport mode, SHA-1",
            vec![
                Op::AddSa(hard_only),
                Op::GetSa(id(0x1201, MOBILE, GW)),
                Op::AddSa(esp_cbc_sha256(0x1202, MOBILE, MOBILE, Mode::Tunnel, 1)),
                Op::AddSa(sha1),
                Op::GetSa(id(0x1203, GW, MOBILE)),
            ],
        ),
        (
            "GETSPI: larval SA, completed by UPDATE, taken SPI, failures that leave a larval SA",
            vec![
                Op::GetSpi(spi_req(0x4001)),
                Op::GetSa(id(0x4001, GW, MOBILE)),
                Op::UpdateSa(larval_done),
                Op::GetSpi(spi_req(0x4001)),
                Op::GetSpi(GetSpi { min: 0x4003, max: 0x4002, ..spi_req(0) }),
                Op::GetSpi(GetSpi { dst: addr(LTE), ..spi_req(0x4001) }),
                Op::GetSpi(GetSpi { satype: SaType::Unspec, ..spi_req(0x4005) }),
                Op::GetSpi(GetSpi { satype: SaType::XIpcomp, min: 0x100, max: 0x10000, ..spi_req(0) }),
            ],
        ),
        (
            "policies: add, duplicate, update, get by id, delete missing, flush",
            vec![
                Op::AddPolicy(PolicySpec::esp_tunnel(sel_out(), PolicyDir::Outbound, addr(MOBILE), addr(GW), 1)),
                Op::AddPolicy(PolicySpec::esp_tunnel(sel_out(), PolicyDir::Outbound, addr(MOBILE), addr(GW), 1)),
                Op::UpdatePolicy(PolicySpec::esp_tunnel(sel_out(), PolicyDir::Outbound, addr(LTE), addr(GW), 2)),
                Op::GetPolicy(1, PolicyDir::Outbound),
                Op::GetPolicy(1, PolicyDir::Inbound),
                Op::AddPolicy(PolicySpec::esp_tunnel(sel_in(), PolicyDir::Inbound, addr(GW), addr(MOBILE), 1)),
                Op::DeletePolicy(sel_in(), PolicyDir::Fwd),
                Op::DeletePolicy(sel_out(), PolicyDir::Outbound),
                Op::FlushPolicies,
                Op::FlushPolicies,
            ],
        ),
        ("MIGRATE of a tunnel, back and forth, then one without a policy", {
            let mut ops = tunnel_ops(MOBILE, GW);
            ops.extend([
                Op::Migrate(migrate(sel_out(), PolicyDir::Outbound, 1, eps(MOBILE, GW), eps(LTE, GW), None)),
                Op::Migrate(migrate(sel_in(), PolicyDir::Inbound, 1, eps(GW, MOBILE), eps(GW, LTE), None)),
                Op::Migrate(migrate(sel_in(), PolicyDir::Fwd, 1, eps(GW, MOBILE), eps(GW, LTE), None)),
                Op::Migrate(migrate(sel_out(), PolicyDir::Outbound, 1, eps(LTE, GW), eps(MOBILE, GW), None)),
                Op::Migrate(migrate(sel_out(), PolicyDir::Inbound, 1, eps(LTE, GW), eps(MOBILE, GW), None)),
                Op::Migrate(migrate(sel_out(), PolicyDir::Outbound, 7, eps(MOBILE, GW), eps(LTE, GW), None)),
            ]);
            ops
        }),
        ("MIGRATE of IPv6 endpoints, and to the other family", {
            let mut ops = tunnel_ops(MOBILE6, GW6);
            ops.extend([
                Op::Migrate(migrate(sel_out(), PolicyDir::Outbound, 1, eps(MOBILE6, GW6), eps(LTE6, GW6), None)),
                Op::Migrate(migrate(sel_out(), PolicyDir::Outbound, 1, eps(LTE6, GW6), eps(LTE, GW), None)),
                Op::GetSa(id(0x1001, LTE, GW)),
            ]);
            ops
        }),
        ("MIGRATE that reaches a larval SA", {
            let mut ops = tunnel_ops(MOBILE, GW);
            ops.extend([
                Op::GetSpi(GetSpi { src: addr(MOBILE), dst: addr(GW), ..spi_req(0x5001) }),
                Op::Migrate(migrate(sel_out(), PolicyDir::Outbound, 1, eps(MOBILE, GW), eps(LTE, GW), None)),
            ]);
            ops
        }),
        (
            "NAT-T: SA with encapsulation, new ports by UPDATE",
            vec![
                Op::AddSa(natt_sa),
                Op::GetSa(id(0x3001, MOBILE, GW)),
                Op::UpdateSa(natt_sa_ports),
                Op::AddPolicy(PolicySpec::esp_tunnel(sel_out(), PolicyDir::Outbound, addr(MOBILE), addr(GW), 3)),
                Op::Migrate(migrate(sel_out(), PolicyDir::Outbound, 3, eps(MOBILE, GW), eps(LTE, GW), None)),
            ],
        ),
        ("NAT-T switched on by MIGRATE", {
            let mut ops = tunnel_ops(MOBILE, GW);
            ops.push(Op::Migrate(migrate(
                sel_out(),
                PolicyDir::Outbound,
                1,
                eps(MOBILE, GW),
                eps(LTE, GW),
                Some(NatT::esp_in_udp(4500, 4500)),
            )));
            ops
        }),
        ("per-SA address update", {
            let mut ops = tunnel_ops(MOBILE, GW);
            ops.extend([
                Op::UpdateAddresses(update_addrs(0x1001, MOBILE, GW, Some(LTE), None)),
                Op::GetSa(id(0x1001, LTE, GW)),
            ]);
            ops
        }),
        (
            "movable inbound SA (issue 7): flag set, refused in transport mode, kept by MIGRATE",
            vec![
                Op::AddSa(esp_cbc_sha256(0x7001, GW, MOBILE, Mode::Tunnel, 1).movable()),
                Op::GetSa(id(0x7001, GW, MOBILE)),
                Op::AddSa(esp_cbc_sha256(0x7002, GW, MOBILE, Mode::Transport, 0).movable()),
                Op::AddPolicy(PolicySpec::esp_tunnel(sel_in(), PolicyDir::Inbound, addr(GW), addr(MOBILE), 1)),
                Op::Migrate(migrate(sel_in(), PolicyDir::Inbound, 1, eps(GW, MOBILE), eps(GW, LTE), None)),
                Op::GetSa(id(0x7001, GW, LTE)),
            ],
        ),
        ("BEET (issue 4): SAs with inner hosts, templates with endpoints, MIGRATE", {
            let beet = |spi: u32, src: &str, dst: &str, isrc: &str, idst: &str| {
                let mut sa = esp_cbc_sha256(spi, src, dst, Mode::Beet, 1);
                sa.inner = Some(BeetInner::new(addr(isrc), addr(idst)));
                sa
            };
            let mut out = PolicySpec::esp_tunnel(sel_out(), PolicyDir::Outbound, addr(MOBILE), addr(GW), 1);
            out.templates[0].mode = Mode::Beet;
            let mut mig = migrate(sel_out(), PolicyDir::Outbound, 1, eps(MOBILE, GW), eps(LTE, GW), None);
            mig.bundles[0].mode = Mode::Beet;
            vec![
                Op::AddSa(beet(0x8001, MOBILE, GW, "10.1.0.1", "10.2.0.1")),
                Op::GetSa(id(0x8001, MOBILE, GW)),
                Op::AddPolicy(out),
                Op::Migrate(mig),
                Op::GetSa(id(0x8001, LTE, GW)),
            ]
        }),
        (
            "AEAD SA (AES-GCM)",
            vec![
                Op::AddSa(gcm(0x6001, MOBILE, GW, 1)),
                Op::GetSa(id(0x6001, MOBILE, GW)),
                Op::DeleteSa(id(0x6001, MOBILE, GW)),
            ],
        ),
    ];
    // A bundle of two SAs (ESP in ESP) moved by one MIGRATE with two ipsecrequest pairs.
    let mut bundle = tunnel_ops(MOBILE, GW);
    bundle.push(Op::AddSa(esp_cbc_sha256(0x1101, MOBILE, GW, Mode::Tunnel, 2)));
    let mut two = migrate(sel_out(), PolicyDir::Outbound, 1, eps(MOBILE, GW), eps(LTE, GW), None);
    two.bundles.push(MigrateBundle::new(IPPROTO_ESP, Mode::Tunnel, 2, eps(MOBILE, GW), eps(LTE, GW)));
    bundle.push(Op::Migrate(two));
    sequences.push(("MIGRATE with two bundles, one of them without a template", bundle));
    sequences
}

/// The proptest strategy of one operation over small pools (3 SPIs, 3 addresses, 2 selectors,
/// 2 reqids), so that operations meet existing and missing objects alike.
pub fn op_strategy() -> impl Strategy<Value = Op> {
    let ip = prop::sample::select(vec![MOBILE, GW, LTE]);
    let spi = prop::sample::select(vec![0x100u32, 0x101, 0x102]);
    let reqid = prop::sample::select(vec![1u32, 2]);
    let mode = prop::sample::select(vec![Mode::Tunnel, Mode::Transport]);
    let dir = prop::sample::select(vec![PolicyDir::Outbound, PolicyDir::Inbound, PolicyDir::Fwd]);
    let sel = prop::bool::ANY.prop_map(|b| if b { sel_out() } else { sel_in() });
    let natt = prop::option::weighted(0.25, prop::sample::select(vec![(4500u16, 4500u16), (4501, 4502)]))
        .prop_map(|p| p.map(|(s, d)| NatT::esp_in_udp(s, d)));
    let movable = prop::bool::weighted(0.2);
    let sa = (spi.clone(), ip.clone(), ip.clone(), mode, reqid.clone(), natt.clone(), 0u8..4, movable).prop_map(
        |(spi, s, d, mode, reqid, natt, alg, movable)| {
            let mut sa = esp_cbc_sha256(spi, s, d, mode, reqid);
            sa.natt = natt;
            if movable {
                sa = sa.movable();
            }
            match alg {
                0 => sa.hard = Some(Lifetime { allocations: 0, bytes: 1 << 20, addtime: 600, usetime: 0 }),
                1 => {
                    sa.auth = None;
                    sa.encrypt = Some(AlgKey::new(EncryptAlg::AesGcmIcv16, &[0x55; 20]));
                }
                2 => sa.auth = Some(AlgKey::new(AuthAlg::Sha1Hmac, &[0x66; 20])),
                _ => {}
            }
            sa
        },
    );
    let said = (spi.clone(), ip.clone(), ip.clone()).prop_map(|(spi, s, d)| id(spi, s, d));
    let policy = (sel.clone(), dir.clone(), ip.clone(), ip.clone(), reqid.clone())
        .prop_map(|(sel, dir, s, d, reqid)| PolicySpec::esp_tunnel(sel, dir, addr(s), addr(d), reqid));
    let mig = (sel.clone(), dir.clone(), reqid.clone(), ip.clone(), ip.clone(), ip.clone(), ip.clone(), natt.clone())
        .prop_map(|(sel, dir, reqid, os, od, ns, nd, natt)| migrate(sel, dir, reqid, eps(os, od), eps(ns, nd), natt));
    let upd = (spi.clone(), ip.clone(), ip.clone(), ip.clone(), natt)
        .prop_map(|(spi, s, d, ns, natt)| update_addrs(spi, s, d, Some(ns), natt));
    let getspi = (spi, ip.clone(), ip, reqid).prop_map(|(spi, s, d, reqid)| {
        Op::GetSpi(GetSpi {
            satype: SaType::Esp,
            src: addr(s),
            dst: addr(d),
            min: spi,
            max: spi,
            mode: Mode::Tunnel,
            reqid,
        })
    });
    prop_oneof![
        6 => sa.clone().prop_map(Op::AddSa),
        2 => sa.prop_map(Op::UpdateSa),
        2 => said.clone().prop_map(Op::DeleteSa),
        2 => said.prop_map(Op::GetSa),
        1 => getspi,
        5 => policy.clone().prop_map(Op::AddPolicy),
        2 => policy.prop_map(Op::UpdatePolicy),
        2 => (sel, dir.clone()).prop_map(|(s, d)| Op::DeletePolicy(s, d)),
        1 => (1u32..20, dir).prop_map(|(i, d)| Op::GetPolicy(i, d)),
        4 => mig.prop_map(Op::Migrate),
        2 => upd.prop_map(Op::UpdateAddresses),
        1 => Just(Op::FlushSas),
        1 => Just(Op::FlushPolicies),
    ]
}

/// What [`generated`] found.
#[derive(Debug, Clone, Default)]
pub struct Generated {
    /// Sequences run (shrinking included).
    pub ran: u32,
    /// Documented differences met, with how many sequences met each.
    pub documented: BTreeMap<String, u32>,
    /// The shrunk failing sequence and its report, if one failed.
    pub failure: Option<(Vec<Op>, SequenceReport)>,
}

/// Runs `cases` generated sequences (1–11 operations) with a fixed seed.
pub fn generated(cases: u32, caps: &Capabilities, model: ModelConfig) -> Generated {
    let config = Config { cases, failure_persistence: None, max_shrink_iters: 200, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let documented = std::cell::RefCell::new(BTreeMap::<String, u32>::new());
    let ran = std::cell::Cell::new(0u32);
    let result = runner.run(&prop::collection::vec(op_strategy(), 1..12), |ops| {
        let rep = compare(&ops, caps, model);
        ran.set(ran.get() + 1);
        if rep.failures.is_empty() {
            for (d, _) in rep.documented {
                *documented.borrow_mut().entry(d).or_default() += 1;
            }
            Ok(())
        } else {
            Err(TestCaseError::fail(rep.failures.join("\n")))
        }
    });
    let failure = match result {
        Ok(()) => None,
        Err(TestError::Fail(_, ops)) => {
            let rep = compare(&ops, caps, model);
            Some((ops, rep))
        }
        Err(TestError::Abort(why)) => {
            Some((Vec::new(), SequenceReport { failures: vec![format!("aborted: {why}")], ..Default::default() }))
        }
    };
    Generated { ran: ran.get(), documented: documented.into_inner(), failure }
}

/// How many generated sequences the VM suite runs.
pub const GENERATED_CASES: u32 = 300;

/// The differential checks for the suite: one per scripted sequence and one for the generated
/// ones, with the model configured as the kernel the probe found.
pub fn run(caps: &Capabilities, cases: u32) -> Result<Vec<Check>, GuestError> {
    let model = if caps.update_addresses == Support::Yes { ModelConfig::patched() } else { ModelConfig::stock_linux() };
    let mut checks = Vec::new();
    for (name, ops) in scripted() {
        let rep = compare(&ops, caps, model);
        let mut detail = String::new();
        if !rep.failures.is_empty() {
            let _ = write!(detail, "{}", rep.failures.join("; "));
        } else {
            let _ = write!(detail, "{} steps, afkey = model", rep.steps);
            if rep.documented.is_empty() {
                detail.push_str(" = xfrm");
            } else {
                let docs: Vec<String> = rep.documented.iter().map(|(d, step)| format!("{d} (step {step})")).collect();
                let _ = write!(detail, "; documented difference: {}", docs.join(", "));
            }
        }
        checks.push(check(format!("differential (scripted): {name}"), rep.failures.is_empty(), detail, &ops));
    }
    let Generated { ran, documented, failure } = generated(cases, caps, model);
    let (passed, detail, ops) = match failure {
        None => {
            let docs: Vec<String> = documented.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
            (
                ran >= cases,
                format!(
                    "{ran} sequences, afkey = model = xfrm except documented differences: {}",
                    if docs.is_empty() { "none".into() } else { docs.join(", ") }
                ),
                Vec::new(),
            )
        }
        Some((ops, rep)) => (false, format!("shrunk failing sequence: {}", rep.failures.join("; ")), ops),
    };
    checks.push(check(format!("differential (proptest, {cases} sequences, fixed seed)"), passed, detail, &ops));
    Ok(checks)
}

fn check(name: String, passed: bool, detail: String, ops: &[Op]) -> Check {
    let stdout: Vec<String> = ops.iter().enumerate().map(|(i, o)| format!("{}. {}", i + 1, o.describe())).collect();
    tracing::info!(name, passed, detail = %detail, "check");
    Check {
        name,
        passed,
        known_gap: false,
        command: "lab::differential".into(),
        status: None,
        detail,
        stdout: stdout.join("\n"),
        stderr: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(yes: bool) -> Capabilities {
        let s = if yes { Support::Yes } else { Support::No };
        Capabilities {
            update_addresses: s,
            migrate_natt: s,
            migrate_reply: s,
            aead: s,
            movable_inbound: s,
            beet_inner: s,
        }
    }

    fn step(answer: &str) -> Step {
        Step { answer: answer.into(), state: Ok(State::default()) }
    }

    fn upd() -> Op {
        Op::UpdateAddresses(update_addrs(0x100, MOBILE, GW, Some(LTE), None))
    }

    #[test]
    fn json_diff_names_each_differing_field_by_path() {
        let a = serde_json::json!({"spec": {"src": "a", "natt": null, "keys": [1, 2]}});
        let b = serde_json::json!({"spec": {"src": "b", "natt": null, "keys": [1, 3]}});
        let mut out = Vec::new();
        json_diff("SA [x]", &a, &b, &mut out);
        assert_eq!(
            out,
            ["SA [x].spec.keys[1]: reference 2, other 3", "SA [x].spec.src: reference \"a\", other \"b\""]
                .map(String::from)
        );
        out.clear();
        json_diff("SA [x]", &a, &a, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn a_per_sa_update_difference_is_documented_only_in_its_documented_shape() {
        let template = vec!["policy [Outbound 10.1.0.0/16].templates[0].endpoints.src.addr: afkey 1, other 2".into()];
        assert!(documented(&upd(), &caps(true), &step("ok"), &template).is_some());
        // The SA itself ending up elsewhere is not what the section describes.
        let sa = vec!["SA [Esp 0x100 198.51.100.1].spec.src.addr: afkey 1, other 2".to_string()];
        assert_eq!(documented(&upd(), &caps(true), &step("ok"), &sa), None);
        let no_policy = vec!["answer: afkey ok, xfrm ENOENT".to_string(), sa[0].clone()];
        assert!(documented(&upd(), &caps(true), &step("ok"), &no_policy).is_some());
        let other_errno = vec!["answer: afkey ok, xfrm EEXIST".to_string()];
        assert_eq!(documented(&upd(), &caps(true), &step("ok"), &other_errno), None);
        // Stock af_key refuses it; anything the shim does then is the documented difference.
        assert!(documented(&upd(), &caps(false), &step("EINVAL"), &sa).is_some());
        assert_eq!(documented(&upd(), &caps(false), &step("ESRCH"), &sa), None);
    }

    #[test]
    fn aead_and_natt_differences_count_only_on_a_kernel_without_them() {
        let add = Op::AddSa(gcm(0x100, MOBILE, GW, 1));
        let d = vec!["answer: afkey ENOSYS, xfrm ok".to_string()];
        assert!(documented(&add, &caps(false), &step("ENOSYS"), &d).is_some());
        assert_eq!(documented(&add, &caps(true), &step("ENOSYS"), &d), None);
        let m = Op::Migrate(migrate(
            sel_out(),
            PolicyDir::Outbound,
            1,
            eps(MOBILE, GW),
            eps(LTE, GW),
            Some(NatT::esp_in_udp(4500, 4500)),
        ));
        let natt = vec!["SA [Esp 0x1001 198.51.100.1].spec.natt: afkey null, other {}".to_string()];
        assert!(documented(&m, &caps(false), &step("ok"), &natt).is_some());
        assert_eq!(documented(&m, &caps(true), &step("ok"), &natt), None);
        let moved = vec!["SA [Esp 0x1001 198.51.100.1].spec.src.addr: afkey 1, other 2".to_string()];
        assert_eq!(documented(&m, &caps(false), &step("ok"), &moved), None);
    }

    #[test]
    fn the_model_answers_every_scripted_sequence() {
        // The plain tier's share of the suite: every scripted sequence runs on the model (as
        // stock and as patched) with an answer and a readable state for every step.
        for config in [ModelConfig::stock_linux(), ModelConfig::patched()] {
            for (name, ops) in scripted() {
                let steps = run_backend(Backend::Model, &ops, config).unwrap();
                assert_eq!(steps.len(), ops.len(), "{name}");
                assert!(steps.iter().all(|s| s.state.is_ok() && !s.answer.is_empty()), "{name}");
                // Every sequence does something, except AEAD on a stock kernel: all ENOSYS.
                let some_ok = steps.iter().any(|s| s.answer.starts_with("ok"));
                let all_refused = config == ModelConfig::stock_linux() && name.starts_with("AEAD");
                assert_eq!(some_ok, !all_refused, "{name}");
            }
        }
    }
}

//! The kernel commands: SAD and SPD listings, the `setkey`-like changes, the two moves
//! (MIGRATE and the per-SA address update), and `monitor`.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use clap::Args;
use pfkey::kernel::tap::Direction;
use pfkey::kernel::{Channel, Kernel, KernelEvent, MoveMechanism, MoveOutcome, SaEntry, SaId, XfrmKernel};
use pfkey::message::{
    AlgKey, BeetInner, Endpoints, Message, Migrate, MigrateBundle, NatT, PolicySpec, SaSpec, SockAddr, Template,
    UpdateAddresses,
};
use pfkey::wire::Dialect;
use pfkey::wire::numbers::{AuthAlg, EncryptAlg, Level, Mode, PolicyType, SADB_SAFLAGS_MOVABLE, SaState, SaType};
use serde::Serialize;

use crate::args::{self, ActionArg, DirArg, IpsecProto, LevelArg, ModeArg, Prefix, SaTypeArg, SaTypeFilter};
use crate::error::{CliError, out_err};
use crate::session::Session;

/// The SAs of one type, or all.
#[derive(Debug, Args)]
pub(crate) struct DumpArgs {
    /// Which SAs.
    #[arg(long, value_enum, default_value_t = SaTypeFilter::Any)]
    satype: SaTypeFilter,
    /// One JSON object per SA per line (spec with keys, and current lifetime).
    #[arg(long)]
    json: bool,
}

/// The SPD.
#[derive(Debug, Args)]
pub(crate) struct SpdDumpArgs {
    /// One JSON object per policy per line.
    #[arg(long)]
    json: bool,
}

/// Watching every PF_KEY message.
#[derive(Debug, Args)]
pub(crate) struct MonitorArgs {
    /// Stop after this many messages.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
    /// One JSON object per message per line (as `pfkey decode --json` writes them).
    #[arg(long)]
    json: bool,
}

/// An SA's identity: type, SPI, addresses.
#[derive(Debug, Args)]
pub(crate) struct SaIdArgs {
    /// SA type.
    #[arg(value_enum, value_name = "SATYPE")]
    satype: SaTypeArg,
    /// SPI: 0x-prefixed hex or decimal.
    #[arg(long, value_parser = args::spi)]
    spi: u32,
    /// Source address.
    #[arg(long, value_parser = args::address, value_name = "ADDR")]
    src: SockAddr,
    /// Destination address.
    #[arg(long, value_parser = args::address, value_name = "ADDR")]
    dst: SockAddr,
}

impl SaIdArgs {
    fn id(&self) -> SaId {
        SaId { satype: self.satype.into(), spi: self.spi, src: self.src, dst: self.dst }
    }
}

/// `add`: a complete SA.
#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    #[command(flatten)]
    id: SaIdArgs,
    /// Mode.
    #[arg(long, value_enum, default_value_t = ModeArg::Transport)]
    mode: ModeArg,
    /// Request id (binds the SA to policies with a `unique` template of the same reqid).
    #[arg(long, default_value_t = 0)]
    reqid: u32,
    /// Encryption: ALG:HEXKEY (aes-cbc, aes-ctr, aes-gcm-16, 3des-cbc, null, ... or a C name
    /// such as SADB_X_EALG_AESCBC). Linux af_key cannot install AEAD (aes-gcm, aes-ccm) SAs.
    #[arg(long, value_parser = args::encrypt, value_name = "ALG:HEXKEY", conflicts_with = "comp")]
    enc: Option<AlgKey<EncryptAlg>>,
    /// Authentication: ALG:HEXKEY (hmac-sha256, hmac-sha1, hmac-sha512, aes-xcbc-mac, null, ...).
    #[arg(long, value_parser = args::auth, value_name = "ALG:HEXKEY")]
    auth: Option<AlgKey<AuthAlg>>,
    /// Compression of an IPCOMP SA: deflate, lzs, lzjh.
    #[arg(long, value_parser = args::compress, value_name = "ALG")]
    comp: Option<AlgKey<EncryptAlg>>,
    /// Replay window (packets).
    #[arg(long, default_value_t = 32)]
    replay: u8,
    /// UDP encapsulation (ESP-in-UDP, NAT-T): SPORT:DPORT.
    #[arg(long, value_parser = args::natt, value_name = "SPORT:DPORT")]
    natt: Option<NatT>,
    /// Mark an inbound tunnel or BEET SA movable (SADB_SAFLAGS_MOVABLE): a kernel with the flag
    /// also finds it by its SPI at the host's other local addresses (spec/movable-inbound-sa.md).
    #[arg(long)]
    movable: bool,
    /// Inner hosts of a BEET SA: SRC-DST (SADB_EXT_ADDRESS_PROXY and
    /// SADB_X_EXT_INNER_ADDRESS_DST; a kernel without the latter ignores it).
    #[arg(long, value_parser = args::endpoints, value_name = "SRC-DST")]
    inner: Option<Endpoints>,
}

/// `get`: one SA.
#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    #[command(flatten)]
    id: SaIdArgs,
    /// Print the SA as one JSON object.
    #[arg(long)]
    json: bool,
}

/// `flush`.
#[derive(Debug, Args)]
pub(crate) struct FlushArgs {
    /// Which SAs (SAD flush).
    #[arg(long, value_enum, default_value_t = SaTypeFilter::Any, conflicts_with = "policies")]
    satype: SaTypeFilter,
    /// Flush the SPD instead of the SAD (setkey -FP).
    #[arg(long)]
    policies: bool,
}

/// A policy's selector and direction.
#[derive(Debug, Args)]
pub(crate) struct SelectorArgs {
    /// Source prefix (10.1.0.0/16; an address alone is a host).
    #[arg(long, value_parser = args::prefix, value_name = "PREFIX")]
    src: Prefix,
    /// Destination prefix.
    #[arg(long, value_parser = args::prefix, value_name = "PREFIX")]
    dst: Prefix,
    /// Upper-layer protocol of the traffic: any, tcp, udp, icmp, ipv6-icmp, gre, sctp or a number.
    #[arg(long, value_parser = args::ulproto, default_value = "any", value_name = "PROTO")]
    ulproto: u8,
    /// Direction.
    #[arg(long, value_enum)]
    dir: DirArg,
}

impl SelectorArgs {
    fn selector(&self) -> Result<pfkey::message::Selector, CliError> {
        args::selector(self.src, self.dst, self.ulproto).map_err(CliError::Usage)
    }
}

/// `spdadd` / `spdupdate`: a policy.
#[derive(Debug, Args)]
pub(crate) struct SpdAddArgs {
    #[command(flatten)]
    sel: SelectorArgs,
    /// What to do with the traffic.
    #[arg(long, value_enum, default_value_t = ActionArg::Ipsec)]
    action: ActionArg,
    /// Tunnel endpoints of the template: SRC-DST (tunnel and BEET mode).
    #[arg(long, value_parser = args::endpoints, value_name = "SRC-DST")]
    tunnel: Option<Endpoints>,
    /// IPsec protocol of the template.
    #[arg(long, value_enum, default_value_t = IpsecProto::Esp)]
    proto: IpsecProto,
    /// Template mode [default: tunnel with --tunnel, else transport].
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Request id of the template (0: none).
    #[arg(long, default_value_t = 0)]
    reqid: u32,
    /// Template level [default: unique with --reqid, else require].
    #[arg(long, value_enum)]
    level: Option<LevelArg>,
    /// Priority (lower wins).
    #[arg(long, default_value_t = 0)]
    priority: u32,
    /// Print the policy id as JSON ({"id":N}).
    #[arg(long)]
    json: bool,
}

impl SpdAddArgs {
    fn policy(&self) -> Result<PolicySpec, CliError> {
        let selector = self.sel.selector()?;
        let templates = if self.action == ActionArg::Ipsec {
            let mode: Mode =
                self.mode.unwrap_or(if self.tunnel.is_some() { ModeArg::Tunnel } else { ModeArg::Transport }).into();
            if mode == Mode::Tunnel && self.tunnel.is_none() {
                return Err(CliError::Usage("a tunnel-mode template needs --tunnel SRC-DST".into()));
            }
            if let Some(t) = &self.tunnel
                && !mode.has_endpoints()
            {
                return Err(CliError::Usage(format!("--tunnel {}-{} needs --mode tunnel or beet", t.src, t.dst)));
            }
            let level = self.level.map_or(if self.reqid != 0 { Level::Unique } else { Level::Require }, Level::from);
            vec![Template { proto: self.proto.number(), mode, level, reqid: self.reqid, endpoints: self.tunnel }]
        } else {
            if self.tunnel.is_some() || self.mode.is_some() || self.level.is_some() || self.reqid != 0 {
                return Err(CliError::Usage(
                    "--tunnel, --mode, --level and --reqid describe an IPsec template: they need --action ipsec".into(),
                ));
            }
            Vec::new()
        };
        Ok(PolicySpec {
            selector,
            dir: self.sel.dir.into(),
            policy_type: PolicyType::from(self.action),
            priority: self.priority,
            id: 0,
            templates,
        })
    }
}

/// `spddelete`: by selector and direction, or by id.
#[derive(Debug, Args)]
pub(crate) struct SpdDeleteArgs {
    /// Source prefix.
    #[arg(long, value_parser = args::prefix, value_name = "PREFIX", required_unless_present = "id")]
    src: Option<Prefix>,
    /// Destination prefix.
    #[arg(long, value_parser = args::prefix, value_name = "PREFIX", required_unless_present = "id")]
    dst: Option<Prefix>,
    /// Upper-layer protocol.
    #[arg(long, value_parser = args::ulproto, default_value = "any", value_name = "PROTO")]
    ulproto: u8,
    /// Direction.
    #[arg(long, value_enum)]
    dir: DirArg,
    /// Delete by policy id instead (SADB_X_SPDDELETE2).
    #[arg(long, conflicts_with_all = ["src", "dst"])]
    id: Option<u32>,
}

/// `migrate`: SADB_X_MIGRATE of one policy's template and matching SAs.
#[derive(Debug, Args)]
pub(crate) struct MigrateArgs {
    #[command(flatten)]
    sel: SelectorArgs,
    /// The current tunnel endpoints: SRC-DST.
    #[arg(long, value_parser = args::endpoints, value_name = "SRC-DST")]
    old: Endpoints,
    /// The new tunnel endpoints: SRC-DST.
    #[arg(long, value_parser = args::endpoints, value_name = "SRC-DST")]
    new: Endpoints,
    /// IPsec protocol of the template and SAs.
    #[arg(long, value_enum, default_value_t = IpsecProto::Esp)]
    proto: IpsecProto,
    /// Mode of the template and SAs.
    #[arg(long, value_enum, default_value_t = ModeArg::Tunnel)]
    mode: ModeArg,
    /// Request id (0 matches any).
    #[arg(long, default_value_t = 0)]
    reqid: u32,
    /// The IKE addresses from now on (SADB_X_EXT_KMADDRESS): LOCAL-REMOTE.
    #[arg(long, value_parser = args::endpoints, value_name = "LOCAL-REMOTE")]
    km: Option<Endpoints>,
    /// UDP encapsulation of the moved SAs: SPORT:DPORT, or none to remove it (ignored by stock Linux).
    #[arg(long, value_parser = args::natt, value_name = "SPORT:DPORT")]
    natt: Option<NatT>,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
}

impl MigrateArgs {
    fn migrate(&self) -> Result<Migrate, CliError> {
        if self.old.src.is_v6() != self.new.src.is_v6() {
            return Err(CliError::Usage("--old and --new must be of one address family".into()));
        }
        Ok(Migrate {
            selector: self.sel.selector()?,
            dir: self.sel.dir.into(),
            kmaddress: self.km.map(|k| (k.src, k.dst)),
            bundles: vec![MigrateBundle::new(self.proto.number(), self.mode.into(), self.reqid, self.old, self.new)],
            natt: self.natt,
        })
    }
}

/// `update-addresses`: SADB_UPDATE with SADB_X_EXT_NEW_ADDRESS_SRC/DST of one SA.
#[derive(Debug, Args)]
pub(crate) struct UpdateAddressesArgs {
    /// SA type.
    #[arg(long, value_enum, default_value_t = SaTypeArg::Esp)]
    satype: SaTypeArg,
    /// SPI: 0x-prefixed hex or decimal.
    #[arg(long, value_parser = args::spi)]
    spi: u32,
    /// The SA's current source address.
    #[arg(long, value_parser = args::address, value_name = "ADDR")]
    src: SockAddr,
    /// The SA's current destination address.
    #[arg(long, value_parser = args::address, value_name = "ADDR")]
    dst: SockAddr,
    /// The new source address.
    #[arg(long, value_parser = args::address, value_name = "ADDR", required_unless_present_any = ["new_dst", "natt"])]
    new_src: Option<SockAddr>,
    /// The new destination address.
    #[arg(long, value_parser = args::address, value_name = "ADDR")]
    new_dst: Option<SockAddr>,
    /// Request id the SA must have (0: any).
    #[arg(long, default_value_t = 0)]
    reqid: u32,
    /// Mode the SA must have (any: any).
    #[arg(long, value_enum, default_value_t = ModeArg::Any)]
    mode: ModeArg,
    /// New UDP encapsulation: SPORT:DPORT, or none to remove it.
    #[arg(long, value_parser = args::natt, value_name = "SPORT:DPORT")]
    natt: Option<NatT>,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
}

// ---------------------------------------------------------------------------------------------

/// A buffered stdout for one command.
fn stdout() -> io::BufWriter<io::StdoutLock<'static>> {
    io::BufWriter::new(io::stdout().lock())
}

fn json_line(out: &mut impl Write, v: &impl Serialize) -> Result<(), CliError> {
    let line = serde_json::to_string(v).map_err(|e| CliError::Runtime(format!("JSON rendering: {e}")))?;
    writeln!(out, "{line}").map_err(out_err)
}

fn finish(mut out: impl Write) -> Result<(), CliError> {
    out.flush().map_err(out_err)
}

/// How a move was carried out, in one line.
pub(crate) fn outcome_text(o: &MoveOutcome) -> String {
    let what = match o.mechanism {
        MoveMechanism::Migrate => "SADB_X_MIGRATE",
        MoveMechanism::UpdateAddresses => "SADB_UPDATE + SADB_X_EXT_NEW_ADDRESS_SRC/DST",
        MoveMechanism::XfrmMigrate => "XFRM_MSG_MIGRATE",
        MoveMechanism::XfrmMigrateNarrowed => "XFRM_MSG_MIGRATE narrowed to the SA's reqid",
        MoveMechanism::XfrmMigrateState => "XFRM_MSG_MIGRATE_STATE",
    };
    if o.acknowledged {
        format!("moved by {what}: acknowledged by a reply to this socket")
    } else {
        format!("moved by {what}: no reply to this socket; success seen in the kernel's seq-0 broadcast (stock Linux)")
    }
}

pub(crate) fn dump(k: &mut dyn Kernel, a: &DumpArgs) -> Result<(), CliError> {
    let entries = k.dump_sas(a.satype.into())?;
    tracing::debug!(count = entries.len(), "SAD dumped");
    let mut out = stdout();
    if a.json {
        for e in &entries {
            json_line(&mut out, e)?;
        }
    } else {
        write!(out, "{}", pfkey::render::sa_list(entries.iter().map(|e| (&e.spec, e.current.as_ref()))))
            .map_err(out_err)?;
    }
    finish(out)
}

pub(crate) fn spddump(k: &mut dyn Kernel, a: &SpdDumpArgs) -> Result<(), CliError> {
    let policies = k.dump_policies()?;
    tracing::debug!(count = policies.len(), "SPD dumped");
    let mut out = stdout();
    if a.json {
        for p in &policies {
            json_line(&mut out, p)?;
        }
    } else {
        write!(out, "{}", pfkey::render::policy_list(&policies)).map_err(out_err)?;
    }
    finish(out)
}

pub(crate) fn add(k: &mut dyn Kernel, a: &AddArgs) -> Result<(), CliError> {
    let id = a.id.id();
    let natt = args::natt_some(a.natt);
    if natt.is_some() && id.satype != SaType::Esp {
        return Err(CliError::Usage("--natt (UDP encapsulation) is for ESP SAs only".into()));
    }
    let mode: Mode = a.mode.into();
    if let Some(i) = &a.inner
        && mode != Mode::Beet
    {
        return Err(CliError::Usage(format!("--inner {}-{} is for BEET SAs (--mode beet)", i.src, i.dst)));
    }
    let sa = SaSpec {
        inner: a.inner.map(|i| BeetInner::new(i.src, i.dst)),
        satype: id.satype,
        spi: id.spi,
        src: id.src,
        dst: id.dst,
        mode,
        reqid: a.reqid,
        replay: a.replay,
        flags: if a.movable { SADB_SAFLAGS_MOVABLE } else { 0 },
        state: SaState::Mature,
        auth: a.auth.clone(),
        encrypt: a.enc.clone().or_else(|| a.comp.clone()),
        hard: None,
        soft: None,
        natt,
    };
    k.add_sa(&sa)?;
    tracing::debug!(spi = format!("{:#010x}", sa.spi), "SA added");
    Ok(())
}

pub(crate) fn delete(k: &mut dyn Kernel, a: &SaIdArgs) -> Result<(), CliError> {
    k.delete_sa(&a.id())?;
    Ok(())
}

pub(crate) fn get(k: &mut dyn Kernel, a: &GetArgs) -> Result<(), CliError> {
    let e: SaEntry = k.get_sa(&a.id.id())?;
    let mut out = stdout();
    if a.json {
        json_line(&mut out, &e)?;
    } else {
        write!(out, "{}", pfkey::render::sa_entry(&e.spec, e.current.as_ref())).map_err(out_err)?;
    }
    finish(out)
}

pub(crate) fn flush(k: &mut dyn Kernel, a: &FlushArgs) -> Result<(), CliError> {
    if a.policies {
        k.flush_policies()?
    } else {
        k.flush_sas(a.satype.into())?
    }
    Ok(())
}

pub(crate) fn spdadd(k: &mut dyn Kernel, a: &SpdAddArgs, update: bool) -> Result<(), CliError> {
    let p = a.policy()?;
    let id = if update { k.update_policy(&p)? } else { k.add_policy(&p)? };
    tracing::debug!(id, update, "policy installed");
    let mut out = stdout();
    if a.json {
        json_line(&mut out, &serde_json::json!({ "id": id }))?;
    } else {
        writeln!(out, "spid={id}").map_err(out_err)?;
    }
    finish(out)
}

pub(crate) fn spddelete(k: &mut dyn Kernel, a: &SpdDeleteArgs) -> Result<(), CliError> {
    match (a.id, a.src, a.dst) {
        (Some(id), _, _) => k.delete_policy_by_id(id, a.dir.into())?,
        (None, Some(src), Some(dst)) => {
            let sel = args::selector(src, dst, a.ulproto).map_err(CliError::Usage)?;
            k.delete_policy(&sel, a.dir.into())?
        }
        _ => return Err(CliError::Usage("give --src and --dst, or --id".into())),
    }
    Ok(())
}

fn print_outcome(o: &MoveOutcome, json: bool) -> Result<(), CliError> {
    let mut out = stdout();
    if json {
        json_line(&mut out, o)?;
    } else {
        writeln!(out, "{}", outcome_text(o)).map_err(out_err)?;
    }
    finish(out)
}

pub(crate) fn migrate(k: &mut dyn Kernel, a: &MigrateArgs) -> Result<(), CliError> {
    let m = a.migrate()?;
    let o = k.migrate(&m)?;
    print_outcome(&o, a.json)
}

pub(crate) fn update_addresses(k: &mut dyn Kernel, a: &UpdateAddressesArgs) -> Result<(), CliError> {
    let u = UpdateAddresses {
        satype: a.satype.into(),
        spi: a.spi,
        src: a.src,
        dst: a.dst,
        mode: a.mode.into(),
        reqid: a.reqid,
        new_src: a.new_src,
        new_dst: a.new_dst,
        natt: a.natt,
    };
    let pf_key = k.backend() != "xfrm";
    let o = k.update_addresses(&u).map_err(|e| match e.errno() {
        Some(libc::EINVAL) if pf_key => CliError::Runtime(format!(
            "{e} (a kernel without SADB_X_EXT_NEW_ADDRESS_SRC/DST, such as stock Linux, reads this as a plain \
             SADB_UPDATE without keys and answers EINVAL)"
        )),
        _ => CliError::Kernel(e),
    })?;
    print_outcome(&o, a.json)
}

/// `monitor`: promiscuous mode, then every message as it arrives.
pub(crate) fn monitor(session: Session, a: &MonitorArgs) -> Result<(), CliError> {
    let mut k = match session {
        Session::AfKey(k) => k,
        Session::Xfrm(k) => return monitor_xfrm(k, a),
        Session::Model(_) => return Err(CliError::Runtime(MONITOR_ON_MODEL.into())),
    };
    k.promisc(true)?;
    if k.pending_events() > 0 {
        tracing::debug!(
            count = k.pending_events(),
            "messages that arrived while turning promiscuous mode on are not shown"
        );
    }
    // Read the socket itself (not through the tap: --trace would show every message twice).
    let mut sock = k.into_channel().into_parts().0;
    let shown = watch(&mut sock, a, &mut io::stdout().lock())?;
    tracing::debug!(shown, "monitor done");
    Ok(())
}

/// `monitor` on XFRM netlink: joins every group that carries SAD/SPD changes and key-manager
/// events, and prints each as the PF_KEY backend would report it.
fn monitor_xfrm(mut k: XfrmKernel, a: &MonitorArgs) -> Result<(), CliError> {
    k.promisc(true)?;
    k.register(SaType::Unspec)?;
    let deadline = a.timeout.map(|s| Instant::now() + Duration::from_secs(s));
    let mut out = io::stdout().lock();
    let mut shown = 0u64;
    while a.count.is_none_or(|n| shown < n) {
        let wait = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if wait.is_some_and(|w| w.is_zero()) {
            break;
        }
        let Some(ev) = k.next_event(wait)? else { break };
        if shown > 0 && !a.json {
            writeln!(out).map_err(out_err)?;
        }
        write_event(&mut out, &ev, a.json)?;
        out.flush().map_err(out_err)?;
        shown += 1;
    }
    tracing::debug!(shown, malformed = k.malformed_count(), "monitor done");
    Ok(())
}

/// One event: a PF_KEY message as `decode` renders it, or the typed event.
fn write_event(out: &mut impl Write, ev: &KernelEvent, json: bool) -> Result<(), CliError> {
    use serde_json::json;
    let v = match ev {
        KernelEvent::Other(m) if json => return json_line(out, m),
        KernelEvent::Other(m) => {
            return write!(out, "{}", pfkey::render::Rendered::new(m, Dialect::Linux)).map_err(out_err);
        }
        KernelEvent::Acquire { seq, satype, src, dst, policy_id } => {
            json!({"event": "acquire", "seq": seq, "satype": satype, "src": src, "dst": dst, "policy_id": policy_id})
        }
        KernelEvent::Expire { id, hard, current } => {
            json!({"event": "expire", "sa": id, "hard": hard, "current": current})
        }
        KernelEvent::Migrate { migrate, seq, pid } => {
            json!({"event": "migrate", "migrate": migrate, "seq": seq, "pid": pid})
        }
        KernelEvent::NewMapping { satype, spi, old, new } => {
            json!({"event": "new_mapping", "satype": satype, "spi": spi, "old": old, "new": new})
        }
        KernelEvent::SpdExpire(p) => json!({"event": "spd_expire", "policy": p}),
        other => json!({"event": format!("{other:?}")}),
    };
    if json {
        json_line(out, &v)
    } else {
        writeln!(out, "{}", serde_json::to_string_pretty(&v).unwrap_or_default()).map_err(out_err)
    }
}

/// Prints every message `sock` receives (each back-to-back duplicate once) until `--count`
/// messages were shown or `--timeout` passed; returns how many were shown.
fn watch(sock: &mut impl Channel, a: &MonitorArgs, out: &mut impl Write) -> Result<u64, CliError> {
    let deadline = a.timeout.map(|s| Instant::now() + Duration::from_secs(s));
    let mut buf = Vec::new();
    let mut last = Vec::new();
    let mut shown = 0u64;
    while a.count.is_none_or(|n| shown < n) {
        let wait = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if wait.is_some_and(|w| w.is_zero()) || !sock.recv(&mut buf, wait)? {
            break;
        }
        // Linux delivers a message meant for a promiscuous socket twice, back to back.
        if buf == last {
            continue;
        }
        last.clone_from(&buf);
        if shown > 0 && !a.json {
            writeln!(out).map_err(out_err)?;
        }
        match Message::parse(&buf, Dialect::Linux) {
            Ok(m) if a.json => json_line(out, &m)?,
            Ok(m) => write!(out, "{}", pfkey::render::Rendered::new(&m, Dialect::Linux)).map_err(out_err)?,
            Err(e) => {
                tracing::warn!(len = buf.len(), error = %e, "unparseable PF_KEY message");
                if !a.json {
                    let text = crate::show::datagram(Direction::Received, &buf, crate::show::Detail::Full);
                    write!(out, "{}", text.trim_start_matches("← ")).map_err(out_err)?;
                }
            }
        }
        out.flush().map_err(out_err)?;
        shown += 1;
    }
    Ok(shown)
}

/// Why `monitor` does not work on the model.
pub(crate) const MONITOR_ON_MODEL: &str = "monitor needs a real PF_KEY socket: the model kernel lives inside one \
     pfkey process, so no other program's messages ever reach it; use --trace on the other commands to see their \
     messages, or `pfkey demo`";

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use pfkey::kernel::KernelError;
    use pfkey::message::build;

    /// A channel that hands out queued datagrams, then times out.
    struct Queue(VecDeque<Vec<u8>>);

    impl Channel for Queue {
        fn pid(&self) -> u32 {
            1
        }
        fn send(&mut self, _msg: &[u8]) -> Result<(), KernelError> {
            Ok(())
        }
        fn recv(&mut self, buf: &mut Vec<u8>, _timeout: Option<Duration>) -> Result<bool, KernelError> {
            buf.clear();
            Ok(self.0.pop_front().map(|m| buf.extend_from_slice(&m)).is_some())
        }
        fn backend_name(&self) -> &'static str {
            "queue"
        }
    }

    fn msg(seq: u32) -> Vec<u8> {
        build::flush(SaType::Esp).with_seq(seq).to_bytes(Dialect::Linux).unwrap()
    }

    #[test]
    fn monitor_shows_each_message_once_and_stops_at_the_count() {
        let mut q = Queue([msg(1), msg(1), msg(2), vec![2, 9, 0], msg(3), msg(4)].into());
        let a = MonitorArgs { count: Some(4), timeout: None, json: false };
        let mut out = Vec::new();
        assert_eq!(watch(&mut q, &a, &mut out).unwrap(), 4);
        let text = String::from_utf8(out).unwrap();
        let headers: Vec<&str> = text.lines().filter(|l| l.starts_with("SADB_FLUSH")).collect();
        assert_eq!(headers.len(), 3, "the duplicate of seq 1 is dropped: {text}");
        assert!(headers[2].contains("seq=3"), "{text}");
        assert!(text.contains("\n\nunparseable 3-byte datagram: "), "{text}");
        assert_eq!(q.0.len(), 1, "stopped after four messages");
    }

    #[test]
    fn monitor_json_is_one_object_per_message_and_ends_when_the_channel_times_out() {
        let mut q = Queue([msg(1), msg(2)].into());
        let a = MonitorArgs { count: None, timeout: Some(60), json: true };
        let mut out = Vec::new();
        assert_eq!(watch(&mut q, &a, &mut out).unwrap(), 2);
        let lines: Vec<serde_json::Value> =
            String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (lines[1]["type"].as_str(), lines[1]["seq"].as_u64()),
            (Some("SADB_FLUSH"), Some(2)),
            "{:?}",
            lines[1]
        );
    }
}

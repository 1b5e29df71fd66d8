//! `ikev2d`: the IKEv2 daemon and its control tool.
//!
//! ```text
//! ikev2d run --config FILE [--backend auto|afkey|xfrm|model] [--control PATH]
//! ikev2d check --config FILE [--json]
//! ikev2d ctl [--control PATH | --config FILE] [--json] status|list|sas|stop
//! ikev2d ctl [--control PATH | --config FILE] [--json] initiate|terminate|rekey-child|rekey-ike|dpd NAME
//! ```
//!
//! Exit status: 0 success, 1 failure (bad configuration, daemon unreachable or refusing, a
//! startup error), 2 usage error. Logs go to stderr (`RUST_LOG`, default `info` for `run`).

use std::io::{self, IsTerminal, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ikev2d::codec::TrafficSelector;
use ikev2d::config::{Config, EspProposal, IkeProposal, TsConfig, identity_text};
use ikev2d::crypto::EncrAlg;
use ikev2d::daemon::{BackendKind, DaemonError, Request, RunOptions, control, load_config};
use ikev2d::engine::range_prefixes;
use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

/// A reference IKEv2 daemon (RFC 7296): PSK authentication, tunnel-mode ESP Child SAs installed
/// through PF_KEY, XFRM netlink or an in-memory kernel model.
#[derive(Debug, Parser)]
#[command(name = "ikev2d", version, propagate_version = true)]
#[command(after_help = "Exit status: 0 ok, 1 failure, 2 usage error. Logs: RUST_LOG=debug (stderr).")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the daemon in the foreground until `ikev2d ctl stop`, SIGTERM or SIGINT.
    ///
    /// Opens the kernel backend, a UDP socket on the IKE port and one on the NAT-T port for
    /// every local address of the connections, and the control socket; initiates the
    /// connections marked `start = true`.
    Run(RunArgs),
    /// Parse and check a configuration file and print its connections.
    Check(CheckArgs),
    /// Talk to a running daemon over its control socket.
    Ctl(CtlArgs),
}

/// The kernel backend (`--backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    /// PF_KEY when the kernel has it, else XFRM netlink.
    Auto,
    /// A real PF_KEY socket (CAP_NET_ADMIN, a kernel with af_key).
    Afkey,
    /// XFRM netlink (CAP_NET_ADMIN).
    Xfrm,
    /// The in-memory kernel model (no privileges; see it with `ikev2d ctl sas`).
    Model,
}

impl From<BackendArg> for BackendKind {
    fn from(b: BackendArg) -> BackendKind {
        match b {
            BackendArg::Auto => BackendKind::Auto,
            BackendArg::Afkey => BackendKind::AfKey,
            BackendArg::Xfrm => BackendKind::Xfrm,
            BackendArg::Model => BackendKind::Model,
        }
    }
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The configuration file (TOML).
    #[arg(long, short, value_name = "FILE")]
    config: PathBuf,
    /// The kernel backend [default: the configuration's `backend`, else auto].
    #[arg(long, value_enum, value_name = "BACKEND")]
    backend: Option<BackendArg>,
    /// The control socket [default: the configuration's `control`, else /run/ikev2d.sock].
    #[arg(long, value_name = "PATH")]
    control: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The configuration file (TOML).
    #[arg(long, short, value_name = "FILE")]
    config: PathBuf,
    /// Print the parsed configuration as JSON (pre-shared keys left out).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct CtlArgs {
    /// The daemon's control socket [default: /run/ikev2d.sock].
    #[arg(long, value_name = "PATH", global = true)]
    control: Option<PathBuf>,
    /// Take the control socket's path from this configuration file.
    #[arg(long, value_name = "FILE", global = true, conflicts_with = "control")]
    config: Option<PathBuf>,
    /// Print the daemon's JSON answer as it is.
    #[arg(long, global = true)]
    json: bool,
    /// How long to wait for the answer (seconds).
    #[arg(long, value_name = "SECS", default_value_t = 5.0, global = true)]
    timeout: f64,
    #[command(subcommand)]
    command: CtlCmd,
}

#[derive(Debug, Subcommand)]
enum CtlCmd {
    /// The IKE SAs (SPIs, endpoints, NAT, proposal, setup time) and their Child SAs (SPIs,
    /// reqid, traffic selectors), and the counters.
    Status,
    /// The connections and whether each is up.
    List,
    /// The ESP SAs and the policies in the daemon's kernel backend (for the model backend the
    /// only view of its in-process kernel).
    Sas,
    /// Bring a connection up.
    Initiate(Conn),
    /// Take a connection down (INFORMATIONAL deletes).
    Terminate(Conn),
    /// Rekey a connection's Child SAs now.
    RekeyChild(Conn),
    /// Rekey a connection's IKE SA now.
    RekeyIke(Conn),
    /// Send a liveness check now.
    Dpd(Conn),
    /// Terminate every connection and stop the daemon.
    Stop,
}

#[derive(Debug, Args)]
struct Conn {
    /// The connection's name.
    name: String,
}

impl CtlCmd {
    fn request(&self) -> Request {
        match self {
            CtlCmd::Status => Request::Status,
            CtlCmd::List => Request::List,
            CtlCmd::Sas => Request::Sas,
            CtlCmd::Stop => Request::Stop,
            CtlCmd::Initiate(c) => Request::Initiate { conn: c.name.clone() },
            CtlCmd::Terminate(c) => Request::Terminate { conn: c.name.clone() },
            CtlCmd::RekeyChild(c) => Request::RekeyChild { conn: c.name.clone() },
            CtlCmd::RekeyIke(c) => Request::RekeyIke { conn: c.name.clone() },
            CtlCmd::Dpd(c) => Request::Dpd { conn: c.name.clone() },
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_filter = if matches!(cli.command, Cmd::Run(_)) { "info" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_env_filter(filter)
        .with_ansi(io::stderr().is_terminal())
        .init();
    let (name, result) = match &cli.command {
        Cmd::Run(a) => ("run", run(a)),
        Cmd::Check(a) => ("check", check(a)),
        Cmd::Ctl(a) => ("ctl", ctl(a)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ikev2d {name}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(a: &RunArgs) -> Result<(), DaemonError> {
    let config = load_config(&a.config)?;
    let opts = RunOptions { backend: a.backend.map(Into::into), control: a.control.clone() };
    ikev2d::daemon::run(config, opts)
}

fn check(a: &CheckArgs) -> Result<(), DaemonError> {
    let config = load_config(&a.config)?;
    if a.json {
        print_json(&config_json(&config));
    } else {
        print_config(&config);
    }
    Ok(())
}

fn ctl(a: &CtlArgs) -> Result<(), DaemonError> {
    let path = match (&a.control, &a.config) {
        (Some(p), _) => p.clone(),
        (None, Some(cfg)) => load_config(cfg)?.daemon.control,
        (None, None) => PathBuf::from("/run/ikev2d.sock"),
    };
    let timeout = Duration::try_from_secs_f64(a.timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| DaemonError::Setting(format!("--timeout {}: not a positive number of seconds", a.timeout)))?;
    let answer = control::request(&path, &a.command.request(), timeout)?;
    if a.json {
        print_json(&answer);
        return Ok(());
    }
    let text = match a.command {
        CtlCmd::Status => status_text(&answer),
        CtlCmd::List => list_text(&answer),
        CtlCmd::Sas => sas_text(&answer),
        CtlCmd::Stop => "stopping\n".to_string(),
        _ => "ok\n".to_string(),
    };
    print_text(&text);
    Ok(())
}

fn print_json(v: &Value) {
    print_text(&format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())));
}

fn print_text(s: &str) {
    // A closed stdout (`| head`) is not an error worth a message.
    let _ = io::stdout().lock().write_all(s.as_bytes());
}

// ---- check ----

fn encr_text(e: &EncrAlg) -> String {
    match e {
        EncrAlg::AesGcm16 { key_bits } => format!("aes{key_bits}gcm16"),
        EncrAlg::AesCbc { key_bits } => format!("aes{key_bits}"),
    }
}

fn ike_text(p: &IkeProposal) -> String {
    let integ = p.integ.map(|i| format!("-{i:?}")).unwrap_or_default();
    format!("{}{integ}-{:?}-{:?}", encr_text(&p.encr), p.prf, p.dh)
}

fn esp_text(p: &EspProposal) -> String {
    let integ = p.integ.map(|i| format!("-{i:?}")).unwrap_or_default();
    let dh = p.dh.map(|d| format!("-{d:?}")).unwrap_or_default();
    format!("{}{integ}{dh}", encr_text(&p.encr))
}

fn ts_config_text(t: &TsConfig) -> String {
    let extra = if t.proto == 0 && t.port == 0 { String::new() } else { format!("[{}/{}]", t.proto, t.port) };
    format!("{}/{}{extra}", t.addr, t.prefix)
}

fn print_config(c: &Config) {
    let d = &c.daemon;
    let mut s = format!(
        "daemon: backend {}, control {}, ports {}/{} (NAT-T), retransmit {} ms x {}\n",
        d.backend,
        d.control.display(),
        d.port,
        d.nat_port,
        d.retransmit_ms,
        d.retransmit_tries
    );
    s += &format!("{} connection{}\n", c.connections.len(), if c.connections.len() == 1 { "" } else { "s" });
    for conn in &c.connections {
        let remote = conn.remote.map_or_else(|| "%any".to_string(), |r| format!("{r}:{}", conn.remote_port));
        s += &format!("{}: {} -> {}{}\n", conn.name, conn.local, remote, if conn.start { "  (start)" } else { "" });
        s += &format!("  ids        {} -> {}\n", identity_text(&conn.local_id), identity_text(&conn.remote_id));
        s += &format!("  ike        {}\n", conn.ike.iter().map(ike_text).collect::<Vec<_>>().join(", "));
        s += &format!("  esp        {}\n", conn.esp.iter().map(esp_text).collect::<Vec<_>>().join(", "));
        s += &format!(
            "  ts         {} === {}\n",
            conn.local_ts.iter().map(ts_config_text).collect::<Vec<_>>().join(","),
            conn.remote_ts.iter().map(ts_config_text).collect::<Vec<_>>().join(",")
        );
        s += &format!(
            "  timers     rekey child {} s, rekey IKE {} s, DPD {} s\n",
            conn.rekey_child_s, conn.rekey_ike_s, conn.dpd_s
        );
    }
    print_text(&s);
}

fn config_json(c: &Config) -> Value {
    let conns: Vec<Value> = c
        .connections
        .iter()
        .map(|conn| {
            json!({
                "name": conn.name,
                "local": conn.local,
                "remote": conn.remote.map_or_else(|| "%any".to_string(), |r| r.to_string()),
                "remote_port": conn.remote_port,
                "remote_nat_port": conn.remote_nat_port,
                "local_id": identity_text(&conn.local_id),
                "remote_id": identity_text(&conn.remote_id),
                "ike": conn.ike,
                "esp": conn.esp,
                "local_ts": conn.local_ts,
                "remote_ts": conn.remote_ts,
                "start": conn.start,
                "rekey_child_s": conn.rekey_child_s,
                "rekey_ike_s": conn.rekey_ike_s,
                "dpd_s": conn.dpd_s,
            })
        })
        .collect();
    json!({ "daemon": c.daemon, "connections": conns })
}

// ---- ctl renderings (from the daemon's JSON) ----

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("?")
}

fn u64_of(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn arr<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// A kernel constant's name without its C prefix: `IPSEC_MODE_TUNNEL` -> `tunnel`,
/// `SADB_X_EALG_AES_GCM_ICV16` -> `aes-gcm-icv16`.
fn short(name: &str) -> String {
    const PREFIXES: [&str; 7] =
        ["IPSEC_MODE_", "IPSEC_DIR_", "SADB_X_EALG_", "SADB_EALG_", "SADB_X_AALG_", "SADB_AALG_", "IPSEC_POLICY_"];
    let rest = PREFIXES.iter().find_map(|p| name.strip_prefix(p)).unwrap_or(name);
    rest.to_ascii_lowercase().replace('_', "-")
}

/// `{"AesGcm16":{"key_bits":256}}` -> `AesGcm16-256`; a kernel constant's name shortened.
fn alg_text(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') => short(s),
        Value::String(s) => s.clone(),
        Value::Object(m) if m.len() == 1 => {
            let (k, inner) = m.iter().next().expect("one entry");
            match inner.get("key_bits").and_then(Value::as_u64) {
                Some(bits) => format!("{k}-{bits}"),
                None => format!("{k}({inner})"),
            }
        }
        Value::Null => "none".into(),
        other => other.to_string(),
    }
}

fn ts_text(v: &Value) -> String {
    let parsed: Option<TrafficSelector> = (|| {
        Some(TrafficSelector {
            ip_protocol: u8::try_from(v.get("ip_protocol")?.as_u64()?).ok()?,
            start_port: u16::try_from(v.get("start_port")?.as_u64()?).ok()?,
            end_port: u16::try_from(v.get("end_port")?.as_u64()?).ok()?,
            start: v.get("start")?.as_str()?.parse::<IpAddr>().ok()?,
            end: v.get("end")?.as_str()?.parse::<IpAddr>().ok()?,
        })
    })();
    let Some(t) = parsed else { return v.to_string() };
    let range = match range_prefixes(t.start, t.end).as_slice() {
        [(a, l)] => format!("{a}/{l}"),
        _ => format!("{}-{}", t.start, t.end),
    };
    let ports = match (t.start_port, t.end_port) {
        (0, 65535) => String::new(),
        (s, e) if s == e => format!(":{s}"),
        (s, e) => format!(":{s}-{e}"),
    };
    if t.ip_protocol == 0 && ports.is_empty() { range } else { format!("{range}[{}{ports}]", t.ip_protocol) }
}

fn ts_list(v: &Value, k: &str) -> String {
    arr(v, k).iter().map(ts_text).collect::<Vec<_>>().join(",")
}

fn status_text(v: &Value) -> String {
    let stats = v.get("stats").cloned().unwrap_or(Value::Null);
    let daemon = v.get("daemon").cloned().unwrap_or(Value::Null);
    let sas = arr(v, "ike_sas");
    let mut s = format!(
        "backend {}, up {:.1} s; datagrams received {}, sent {}, dropped {}, retransmitted {}; kernel errors {}\n",
        str_of(v, "backend"),
        u64_of(v, "uptime_ms") as f64 / 1000.0,
        u64_of(&stats, "received"),
        u64_of(&stats, "sent"),
        u64_of(&stats, "dropped"),
        u64_of(&stats, "retransmitted"),
        u64_of(&daemon, "kernel_errors"),
    );
    if sas.is_empty() {
        s += "no IKE SAs\n";
    }
    for sa in sas {
        let role = if sa.get("initiator").and_then(Value::as_bool) == Some(true) { "initiator" } else { "responder" };
        s += &format!(
            "{}: {}  {} <-> {}  ({role})\n",
            str_of(sa, "conn"),
            str_of(sa, "state"),
            str_of(sa, "local"),
            str_of(sa, "remote")
        );
        let nat = if sa.get("nat").and_then(Value::as_bool) == Some(true) { "yes" } else { "no" };
        s += &format!("  IKE SPIs   {}_i {}_r   NAT {nat}\n", str_of(sa, "spi_i"), str_of(sa, "spi_r"));
        s += &format!("  proposal   {}\n", sa.get("proposal").and_then(Value::as_str).unwrap_or("(not yet)"));
        match sa.get("setup_ms").and_then(Value::as_u64) {
            Some(0) => s += "  setup      (by a rekey)\n",
            Some(ms) => s += &format!("  setup      {ms} ms\n"),
            None => {}
        }
        for c in arr(sa, "children") {
            let p = c.get("proposal").cloned().unwrap_or(Value::Null);
            let integ =
                p.get("integ").filter(|i| !i.is_null()).map(|i| format!("/{}", alg_text(i))).unwrap_or_default();
            let encap = match c.get("udp_encap").and_then(Value::as_array) {
                Some(ports) if ports.len() == 2 => format!("  UDP {}->{}", ports[0], ports[1]),
                _ => String::new(),
            };
            let rekeyed = if c.get("rekeyed").and_then(Value::as_bool) == Some(true) { "  (rekeyed)" } else { "" };
            s += &format!(
                "  Child SA   reqid {}  in {:#010x}  out {:#010x}  {}{integ}{encap}{rekeyed}\n",
                u64_of(c, "reqid"),
                u64_of(c, "spi_in"),
                u64_of(c, "spi_out"),
                alg_text(p.get("encr").unwrap_or(&Value::Null)),
            );
            s += &format!("             {} === {}\n", ts_list(c, "ts_local"), ts_list(c, "ts_remote"));
        }
    }
    s
}

fn list_text(v: &Value) -> String {
    let mut s = String::new();
    for c in arr(v, "connections") {
        let up = if c.get("up").and_then(Value::as_bool) == Some(true) {
            let n = u64_of(c, "child_sas");
            format!("up, {n} Child SA{}", if n == 1 { "" } else { "s" })
        } else {
            "down".into()
        };
        s += &format!("{:<16} {} -> {}  {up}\n", str_of(c, "name"), str_of(c, "local"), str_of(c, "remote"));
    }
    if s.is_empty() {
        s = "no connections\n".into();
    }
    s
}

fn addr_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(m)) => match (m.get("addr").or_else(|| m.get("ip")), m.get("port")) {
            (Some(a), Some(p)) if p.as_u64().is_some_and(|p| p != 0) => format!("{}:{p}", a.as_str().unwrap_or("?")),
            (Some(a), _) => a.as_str().unwrap_or("?").to_string(),
            _ => Value::Object(m.clone()).to_string(),
        },
        Some(other) => other.to_string(),
        None => "?".into(),
    }
}

fn key_alg_text(v: Option<&Value>) -> Option<String> {
    let v = v.filter(|v| !v.is_null())?;
    let bits = v.get("key").and_then(Value::as_str).map_or(0, |k| k.len() * 4);
    Some(format!("{} ({bits}-bit key)", alg_text(v.get("alg").unwrap_or(&Value::Null))))
}

fn sas_text(v: &Value) -> String {
    let sas = arr(v, "sas");
    let policies = arr(v, "policies");
    let mut s = format!("ESP SAs in the {} kernel: {}\n", str_of(v, "backend"), sas.len());
    for e in sas {
        let sa = e.get("spec").unwrap_or(e);
        let algs: Vec<String> =
            [key_alg_text(sa.get("encrypt")), key_alg_text(sa.get("auth"))].into_iter().flatten().collect();
        let natt = match sa.get("natt") {
            Some(n) if !n.is_null() => format!("  UDP {}->{}", u64_of(n, "sport"), u64_of(n, "dport")),
            _ => String::new(),
        };
        s += &format!(
            "  spi {:#010x}  {} -> {}  {} reqid {}  {}{natt}\n",
            u64_of(sa, "spi"),
            addr_text(sa.get("src")),
            addr_text(sa.get("dst")),
            alg_text(sa.get("mode").unwrap_or(&Value::Null)),
            u64_of(sa, "reqid"),
            algs.join(", "),
        );
    }
    s += &format!("policies: {}\n", policies.len());
    for p in policies {
        let sel = p.get("selector").cloned().unwrap_or(Value::Null);
        let tmpl = arr(p, "templates")
            .iter()
            .map(|t| {
                let ends = t
                    .get("endpoints")
                    .filter(|e| !e.is_null())
                    .map(|e| format!(" {} -> {}", addr_text(e.get("src")), addr_text(e.get("dst"))))
                    .unwrap_or_default();
                format!("{}{ends} reqid {}", alg_text(t.get("mode").unwrap_or(&Value::Null)), u64_of(t, "reqid"))
            })
            .collect::<Vec<_>>()
            .join("; ");
        let action = match alg_text(p.get("policy_type").unwrap_or(&Value::Null)).as_str() {
            _ if !tmpl.is_empty() => tmpl,
            "none" => "bypass".to_string(),
            other => other.to_string(),
        };
        // XFRM also lists per-socket policies (the daemon's own IKE bypass among them), whose
        // directions PF_KEY has no name for.
        let dir = match p.get("dir").and_then(Value::as_str) {
            Some(d @ ("IPSEC_DIR_INBOUND" | "IPSEC_DIR_OUTBOUND" | "IPSEC_DIR_FWD")) => short(d),
            _ => "socket".to_string(),
        };
        s += &format!(
            "  {}/{} -> {}/{}  {dir:<8} {action}\n",
            addr_text(sel.get("src")),
            u64_of(&sel, "src_prefixlen"),
            addr_text(sel.get("dst")),
            u64_of(&sel, "dst_prefixlen"),
        );
    }
    s
}

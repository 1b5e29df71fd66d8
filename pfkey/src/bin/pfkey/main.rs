//! `pfkey`: a `setkey`-like tool for PF_KEY v2 (RFC 2367) with the MOBIKE mobility extensions.
//!
//! ```text
//! pfkey decode [FILE] [--hex] [--json] [--dialect linux|freebsd]
//! pfkey encode [FILE] [--hex] [--dialect linux|freebsd]
//! pfkey [KERNEL OPTIONS] dump [--satype esp|ah|ipcomp|any] [--json]
//! pfkey [KERNEL OPTIONS] spddump [--json]
//! pfkey [KERNEL OPTIONS] monitor [--count N] [--timeout SECS] [--json]
//! pfkey [KERNEL OPTIONS] add SATYPE --spi SPI --src A --dst B [--mode M] [--reqid N] [--enc ALG:KEY] [--auth ALG:KEY] ...
//! pfkey [KERNEL OPTIONS] get|delete SATYPE --spi SPI --src A --dst B
//! pfkey [KERNEL OPTIONS] flush [--satype T | --policies]
//! pfkey [KERNEL OPTIONS] spdadd|spdupdate --src P --dst P --dir D [--tunnel A-B] [--reqid N] ...
//! pfkey [KERNEL OPTIONS] spddelete (--src P --dst P | --id N) --dir D
//! pfkey [KERNEL OPTIONS] migrate --src P --dst P --dir D --old A-B --new C-D [--km L-R] [--natt S:D] ...
//! pfkey [KERNEL OPTIONS] update-addresses --spi SPI --src A --dst B [--new-src C] [--new-dst D] ...
//! pfkey demo
//! ```
//!
//! Kernel options: `--backend afkey|xfrm|auto|model` (default: a real PF_KEY socket; `auto`:
//! PF_KEY when the kernel has it, else XFRM netlink), `--model`,
//! `--model-state FILE`, `--model-config stock|patched|default`, `--trace`.
//!
//! Exit status: 0 success, 1 runtime failure (I/O, a kernel error), 2 usage error or bad input.
//! Errors are one line: `pfkey spdadd: SADB_X_SPDADD: EEXIST (17)`. Logs go to stderr through
//! `tracing` (`RUST_LOG`, default `warn`).

mod args;
mod codec;
mod commands;
mod demo;
mod error;
mod session;
mod show;

use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

use crate::args::ModelConfigArg;
use crate::error::CliError;
use crate::session::{KernelOptions, Session};

/// Tools for PF_KEY v2 (RFC 2367) messages and kernels, Linux/KAME and FreeBSD dialects, with
/// the MOBIKE mobility extensions (SADB_X_MIGRATE, the per-SA address update).
#[derive(Debug, Parser)]
#[command(name = "pfkey", version, propagate_version = true)]
#[command(after_help = "Exit status: 0 ok, 1 runtime error (I/O, kernel errno), 2 usage error or bad input.\n\
Logs: RUST_LOG=debug (stderr).\n\
Model state: --model-state FILE, else $PFKEY_MODEL_STATE, else ${XDG_RUNTIME_DIR:-/tmp}/pfkey-model-<uid>.json.")]
struct Cli {
    /// Kernel backend for the commands that talk to a kernel [default: afkey].
    #[arg(long, global = true, value_enum, value_name = "BACKEND", help_heading = "Kernel options")]
    backend: Option<Backend>,

    /// Shorthand for `--backend model`.
    #[arg(long, global = true, conflicts_with = "backend", help_heading = "Kernel options")]
    model: bool,

    /// Where the model keeps its SAD and SPD between commands (JSON, mode 0600: it holds keys)
    /// [default: $PFKEY_MODEL_STATE, else ${XDG_RUNTIME_DIR:-/tmp}/pfkey-model-<uid>.json].
    #[arg(long, global = true, value_name = "FILE", help_heading = "Kernel options")]
    model_state: Option<PathBuf>,

    /// Which kernel the model imitates (kept in the state file once set) [default: the state
    /// file's, else `default`].
    #[arg(long, global = true, value_enum, value_name = "KERNEL", help_heading = "Kernel options")]
    model_config: Option<ModelConfigArg>,

    /// Print every PF_KEY message exchanged with the kernel to stderr (→ sent, ← received); on
    /// the XFRM backend, every XFRM request and answer (its debug log).
    #[arg(long, global = true, help_heading = "Kernel options")]
    trace: bool,

    #[command(subcommand)]
    command: Command,
}

/// Which kernel the kernel commands talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    /// A real PF_KEY socket (needs CAP_NET_ADMIN and a kernel with af_key).
    Afkey,
    /// XFRM netlink (needs CAP_NET_ADMIN; every Linux kernel with CONFIG_XFRM_USER), with the
    /// same semantics and errnos as PF_KEY where the kernel allows.
    Xfrm,
    /// PF_KEY when this kernel has it, else XFRM netlink.
    Auto,
    /// The in-memory kernel model (Linux semantics; no privileges needed), kept in a state file.
    Model,
}

impl Cli {
    /// The backend the user chose, if any (`--model` or `--backend`).
    fn backend(&self) -> Option<Backend> {
        if self.model { Some(Backend::Model) } else { self.backend }
    }

    fn kernel_options(&self) -> KernelOptions {
        KernelOptions {
            backend: self.backend(),
            model_state: self.model_state.clone(),
            model_config: self.model_config.map(Into::into),
            trace: self.trace,
        }
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Decode PF_KEY messages into a readable rendering or JSON lines.
    ///
    /// Input (FILE or stdin) is a stream of concatenated messages as raw bytes, or with --hex one
    /// hex-encoded message per line (blank lines and lines starting with '#' are skipped).
    Decode(codec::DecodeArgs),
    /// Encode JSON lines (as `decode --json` writes them) into PF_KEY messages.
    ///
    /// Writes the messages as raw concatenated bytes, or with --hex one hex line per message.
    /// `pfkey decode --hex --json | pfkey encode --hex` reproduces its input byte for byte.
    Encode(codec::EncodeArgs),
    /// List the SAD (SADB_DUMP), as `setkey -D` does.
    Dump(commands::DumpArgs),
    /// List the SPD (SADB_X_SPDDUMP), as `setkey -DP` does.
    Spddump(commands::SpdDumpArgs),
    /// Show every PF_KEY message any program exchanges with the kernel (SADB_X_PROMISC), as
    /// `setkey -x` does. Real PF_KEY only: the model lives inside one process.
    Monitor(commands::MonitorArgs),
    /// Add an SA (SADB_ADD).
    ///
    /// Example: pfkey add esp --spi 0x1000 --src 192.0.2.10 --dst 198.51.100.1 --mode tunnel
    /// --reqid 1 --enc aes-cbc:00112233445566778899aabbccddeeff --auth hmac-sha256:<64 hex digits>
    Add(commands::AddArgs),
    /// Delete an SA (SADB_DELETE).
    Delete(commands::SaIdArgs),
    /// Show one SA (SADB_GET), keys included.
    Get(commands::GetArgs),
    /// Flush the SAD (SADB_FLUSH), or with --policies the SPD (SADB_X_SPDFLUSH).
    Flush(commands::FlushArgs),
    /// Add a policy (SADB_X_SPDADD); prints the id the kernel gave it.
    ///
    /// Example: pfkey spdadd --src 10.1.0.0/16 --dst 10.2.0.0/16 --dir out
    /// --tunnel 192.0.2.10-198.51.100.1 --reqid 1
    Spdadd(commands::SpdAddArgs),
    /// Add or replace a policy (SADB_X_SPDUPDATE); prints its id.
    Spdupdate(commands::SpdAddArgs),
    /// Delete a policy by selector and direction (SADB_X_SPDDELETE) or by id (SADB_X_SPDDELETE2).
    Spddelete(commands::SpdDeleteArgs),
    /// Move a policy's template and its SAs to new tunnel endpoints (SADB_X_MIGRATE).
    ///
    /// Example: pfkey migrate --src 10.1.0.0/16 --dst 10.2.0.0/16 --dir out
    /// --old 192.0.2.10-198.51.100.1 --new 203.0.113.7-198.51.100.1 --reqid 1
    /// --km 203.0.113.7-198.51.100.1
    Migrate(commands::MigrateArgs),
    /// Move one SA to new addresses, keeping SPI, keys, counters and replay state
    /// (SADB_UPDATE + SADB_X_EXT_NEW_ADDRESS_SRC/DST). Policies are not touched.
    ///
    /// Example: pfkey update-addresses --spi 0x1000 --src 203.0.113.7 --dst 198.51.100.1
    /// --new-src 100.64.0.5
    UpdateAddresses(commands::UpdateAddressesArgs),
    /// Show a mobile host's tunnel moving twice (MIGRATE, then the per-SA address update) on the
    /// in-memory model, with every PF_KEY message. Needs no root and no kernel support; ignores
    /// the kernel options.
    Demo,
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Decode(_) => "decode",
            Command::Encode(_) => "encode",
            Command::Dump(_) => "dump",
            Command::Spddump(_) => "spddump",
            Command::Monitor(_) => "monitor",
            Command::Add(_) => "add",
            Command::Delete(_) => "delete",
            Command::Get(_) => "get",
            Command::Flush(_) => "flush",
            Command::Spdadd(_) => "spdadd",
            Command::Spdupdate(_) => "spdupdate",
            Command::Spddelete(_) => "spddelete",
            Command::Migrate(_) => "migrate",
            Command::UpdateAddresses(_) => "update-addresses",
            Command::Demo => "demo",
        }
    }

    /// Whether the command can change the kernel's state (so the model's state is saved after it).
    fn mutates(&self) -> bool {
        matches!(
            self,
            Command::Add(_)
                | Command::Delete(_)
                | Command::Flush(_)
                | Command::Spdadd(_)
                | Command::Spdupdate(_)
                | Command::Spddelete(_)
                | Command::Migrate(_)
                | Command::UpdateAddresses(_)
        )
    }

    fn run(&self, opts: &KernelOptions) -> Result<(), CliError> {
        tracing::debug!(command = self.name(), backend = ?opts.backend, "start");
        match self {
            Command::Decode(a) => return codec::decode(a),
            Command::Encode(a) => return codec::encode(a),
            Command::Demo => return demo::run(),
            Command::Monitor(_) if opts.wants_model() => {
                return Err(CliError::Runtime(commands::MONITOR_ON_MODEL.into()));
            }
            _ => {}
        }
        let mut session = Session::open(opts)?;
        let result = match self {
            // Handled above: they need no kernel.
            Command::Decode(_) | Command::Encode(_) | Command::Demo => Ok(()),
            Command::Monitor(a) => return commands::monitor(session, a),
            Command::Dump(a) => commands::dump(session.kernel(), a),
            Command::Spddump(a) => commands::spddump(session.kernel(), a),
            Command::Add(a) => commands::add(session.kernel(), a),
            Command::Delete(a) => commands::delete(session.kernel(), a),
            Command::Get(a) => commands::get(session.kernel(), a),
            Command::Flush(a) => commands::flush(session.kernel(), a),
            Command::Spdadd(a) => commands::spdadd(session.kernel(), a, false),
            Command::Spdupdate(a) => commands::spdadd(session.kernel(), a, true),
            Command::Spddelete(a) => commands::spddelete(session.kernel(), a),
            Command::Migrate(a) => commands::migrate(session.kernel(), a),
            Command::UpdateAddresses(a) => commands::update_addresses(session.kernel(), a),
        };
        // The model changes all or nothing, so saving after a kernel error keeps what it had; an
        // explicit --model-config is kept even by a command that changes nothing else. A usage
        // error reached no kernel: nothing to save.
        let used = !matches!(result, Err(CliError::Usage(_)));
        if used && (self.mutates() || opts.model_config.is_some()) {
            match (session.save(), &result) {
                (Err(e), Ok(())) => return Err(e),
                // The command's own error says more; the failed save is logged.
                (Err(e), Err(_)) => tracing::warn!(error = %e, "model state not saved"),
                (Ok(()), _) => {}
            }
        }
        result
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // --trace on the XFRM backend is its debug log (the PF_KEY tap shows PF_KEY messages).
    let default_filter = if cli.trace { "warn,pfkey::kernel::xfrm=debug" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_env_filter(filter)
        .with_target(false)
        .without_time()
        .with_ansi(io::stderr().is_terminal())
        .init();
    match cli.command.run(&cli.kernel_options()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Stdout(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pfkey {}: {e}", cli.command.name());
            ExitCode::from(e.exit_code())
        }
    }
}

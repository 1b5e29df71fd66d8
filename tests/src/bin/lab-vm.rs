//! `lab-vm`: run one command inside a lab kernel in QEMU.
//!
//! ```text
//! lab-vm [--kernel stock|patched|PATH] [--timeout SECS] [--mem MIB] [--keep] -- CMD [ARGS...]
//! ```
//! Prints the command's stdout and stderr, reports the boot and run times, and exits with the
//! command's status (125 when the VM itself failed: missing QEMU or kernel, timeout, panic).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use lab::vm::{KernelImage, VmRun};

#[derive(Debug, Parser)]
#[command(name = "lab-vm")]
struct Cli {
    /// `stock`, `patched` (built by `make kernel` / scripts/build-kernel.sh) or a bzImage path.
    #[arg(long, default_value = "stock")]
    kernel: String,
    /// Guest-side limit for the command, in seconds (the host kills QEMU 60 s after it).
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 1024)]
    mem: u32,
    /// Print the serial console (kernel log from boot on) after the output.
    #[arg(long)]
    console: bool,
    /// Environment for the command, KEY=VALUE (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// The command and its arguments (absolute paths: the host root is the guest's root).
    #[arg(trailing_var_arg = true, required = true)]
    command: Vec<String>,
}

fn main() -> ExitCode {
    lab::init_logging();
    let cli = Cli::parse();
    let mut run =
        VmRun::new(KernelImage::parse(&cli.kernel), &cli.command).with_timeout(Duration::from_secs(cli.timeout));
    run.memory_mib = cli.mem;
    for kv in &cli.env {
        if let Some((k, v)) = kv.split_once('=') {
            run = run.with_env(k, v);
        }
    }
    match run.run() {
        Ok(out) => {
            let _ = std::io::stdout().write_all(out.stdout.as_bytes());
            let _ = std::io::stderr().write_all(out.stderr.as_bytes());
            if cli.console {
                eprintln!("--- console ---\n{}", out.console);
            }
            eprintln!(
                "lab-vm: status {} after {:.1} s (kernel booted in {} s); results in {}",
                out.status,
                out.elapsed.as_secs_f64(),
                out.guest_boot_secs.map_or("?".into(), |s| format!("{s:.1}")),
                out.results_dir.display()
            );
            ExitCode::from(u8::try_from(out.status).unwrap_or(1))
        }
        Err(e) => {
            eprintln!("lab-vm: {e}");
            ExitCode::from(125)
        }
    }
}

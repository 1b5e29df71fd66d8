//! `lab-guest`: the lab's programs that run inside the VM.
//!
//! ```text
//! lab-guest suite --socket-test PATH [--xfrm-test PATH] --cli PATH [--out DIR]
//!                                                              af_key + XFRM checks; DIR/suite.json
//! lab-guest differential [--cases N]                         af_key vs XFRM shim vs model
//! lab-guest scale [--tunnels 1000,10000] [--out DIR]          the scale benchmark; DIR/scale.{json,md}
//! lab-guest scale-one --mechanism M --tunnels N              one measurement, as JSON
//! lab-guest capture [--out DIR]                                real kernel messages → DIR/*.hex
//! ```
//! `DIR` defaults to `$LAB_RESULTS` (the VM's results share). Exit status: 0 when every check
//! that is not a known gap passed, 1 otherwise, 2 on a usage error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lab::guest;

#[derive(Debug, Parser)]
#[command(name = "lab-guest")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// The af_key checks: `socket_pfkey` on the real socket and the `pfkey` CLI with `--backend afkey`.
    Suite {
        /// The kernel the host booted, which tells what the capability probe must find.
        #[arg(long, value_enum)]
        expect: guest::Expect,
        /// The series' kselftests (`pfkey_mobility`, `pfkey_beet`, built with the patched kernel;
        /// repeatable).
        #[arg(long)]
        selftest: Vec<PathBuf>,
        /// The `socket_pfkey` integration-test executable.
        #[arg(long)]
        socket_test: PathBuf,
        /// The `xfrm_host` integration-test executable (the XFRM backend with ESP SAs).
        #[arg(long)]
        xfrm_test: Option<PathBuf>,
        /// The `pfkey` CLI.
        #[arg(long)]
        cli: PathBuf,
        /// Where suite.json goes [default: $LAB_RESULTS].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Only the differential suite (af_key, the XFRM shim and the model compared), printed.
    Differential {
        /// How many generated sequences to run.
        #[arg(long, default_value_t = lab::differential::GENERATED_CASES)]
        cases: u32,
    },
    /// The scale benchmark: every mechanism at every size, each in a child process; prints the
    /// table and writes DIR/scale.json and DIR/scale.md.
    Scale {
        /// Tunnel counts (comma-separated).
        #[arg(long, value_delimiter = ',', default_values_t = [1000u32, 10000])]
        tunnels: Vec<u32>,
        /// Where the results go [default: $LAB_RESULTS].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// One measurement of the scale benchmark in this process (prints it as JSON).
    ScaleOne {
        /// The mechanism.
        #[arg(long, value_enum)]
        mechanism: lab::scale::Mechanism,
        /// Tunnels to install and move.
        #[arg(long)]
        tunnels: u32,
    },
    /// ikev2d's interop cases (ikev2d and strongSwan's charon, both roles) on this kernel;
    /// writes DIR/interop.json.
    Interop {
        /// The ikev2d binary.
        #[arg(long)]
        ikev2d: PathBuf,
        /// Run only these cases (by name; repeatable).
        #[arg(long)]
        only: Vec<String>,
        /// ikev2d's kernel backend in every case (default: each case's own).
        #[arg(long, value_parser = ["auto", "afkey", "xfrm"])]
        backend: Option<String>,
        /// Where interop.json goes [default: $LAB_RESULTS].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Capture real kernel messages as vectors.
    Capture {
        /// Where the .hex files go [default: $LAB_RESULTS/vectors].
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn results_dir() -> PathBuf {
    std::env::var_os("LAB_RESULTS").map_or_else(|| PathBuf::from("."), PathBuf::from)
}

fn main() -> ExitCode {
    lab::init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Suite { expect, selftest, socket_test, xfrm_test, cli, out } => {
            guest::run_suite(expect, &selftest, &socket_test, xfrm_test.as_deref(), &cli).and_then(|checks| {
                let out = out.unwrap_or_else(results_dir);
                guest::write_checks(&out.join("suite.json"), &checks)?;
                let failed = checks.iter().filter(|c| !c.passed && !c.known_gap).count();
                let gaps = checks.iter().filter(|c| !c.passed && c.known_gap).count();
                for c in &checks {
                    let mark = match (c.passed, c.known_gap) {
                        (true, _) => "ok",
                        (false, true) => "KNOWN GAP",
                        (false, false) => "FAILED",
                    };
                    println!(
                        "{mark:>9}  {}{}",
                        c.name,
                        if c.detail.is_empty() { String::new() } else { format!(": {}", c.detail) }
                    );
                }
                println!("{} passed, {} failed, {} known gaps", checks.len() - failed - gaps, failed, gaps);
                Ok(failed == 0)
            })
        }
        Cmd::Differential { cases } => guest::run_differential(cases).map(|checks| {
            for c in &checks {
                println!("{}  {}: {}", if c.passed { "ok" } else { "FAILED" }, c.name, c.detail);
                if !c.passed && !c.stdout.is_empty() {
                    println!("{}", c.stdout);
                }
            }
            checks.iter().all(|c| c.passed)
        }),
        Cmd::Scale { tunnels, out } => guest::run_scale(&tunnels, &out.unwrap_or_else(results_dir)).map(|()| true),
        Cmd::ScaleOne { mechanism, tunnels } => match lab::scale::run_one(mechanism, tunnels) {
            Ok(run) => {
                println!("{}", serde_json::to_string(&run).unwrap_or_default());
                Ok(true)
            }
            Err(e) => {
                eprintln!("lab-guest scale-one: {e}");
                Ok(false)
            }
        },
        Cmd::Interop { ikev2d, only, backend, out } => {
            let backend: Option<&'static str> = match backend.as_deref() {
                Some("afkey") => Some("afkey"),
                Some("xfrm") => Some("xfrm"),
                Some("auto") => Some("auto"),
                _ => None,
            };
            let reports = lab::interop::run_all(&ikev2d, &only, backend);
            let path = out.unwrap_or_else(results_dir).join("interop.json");
            match serde_json::to_string_pretty(&reports).map(|j| std::fs::write(&path, j)) {
                Ok(Ok(())) => Ok(!reports.is_empty() && reports.iter().all(|r| r.passed)),
                other => {
                    eprintln!("lab-guest interop: writing {}: {other:?}", path.display());
                    Ok(false)
                }
            }
        }
        Cmd::Capture { out } => {
            let out = out.unwrap_or_else(|| results_dir().join("vectors"));
            guest::capture(&out).map(|files| {
                for f in &files {
                    println!("{}", f.display());
                }
                true
            })
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("lab-guest: {e}");
            ExitCode::FAILURE
        }
    }
}

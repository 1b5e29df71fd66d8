//! `lab-harness`: the atomicity harness, run inside the VM (as root, on the lab kernel).
//!
//! ```text
//! lab-harness [--scenarios DIR] [--only NAME]... [--out DIR]
//! ```
//! Runs every scenario under `DIR` (default: the workspace's `tests/scenarios`), writes
//! `OUT/harness/<scenario>.json` (everything measured) and `OUT/harness.json` (the checks), and
//! prints the checks as a table. `OUT` defaults to `$LAB_RESULTS`. Exit status: 0 when no check
//! failed (known gaps and scenarios not applicable on this kernel do not fail the run), 1
//! otherwise, 2 when the scenarios cannot be read.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use lab::harness::{report, runner, scenario};

#[derive(Debug, Parser)]
#[command(name = "lab-harness")]
struct Cli {
    /// The scenarios' folder.
    #[arg(long)]
    scenarios: Option<PathBuf>,
    /// Run only these scenarios (by folder name).
    #[arg(long)]
    only: Vec<String>,
    /// Where the JSON results go [default: $LAB_RESULTS].
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    lab::init_logging();
    let cli = Cli::parse();
    let dir = cli.scenarios.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"));
    let out =
        cli.out.unwrap_or_else(|| std::env::var_os("LAB_RESULTS").map_or_else(|| PathBuf::from("."), PathBuf::from));
    let mut all = match scenario::load_all(&dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lab-harness: {e}");
            return ExitCode::from(2);
        }
    };
    if !cli.only.is_empty() {
        all.retain(|s| cli.only.contains(&s.name));
    }
    if all.is_empty() {
        eprintln!("lab-harness: no scenario to run in {}", dir.display());
        return ExitCode::from(2);
    }
    let per = out.join("harness");
    if let Err(e) = std::fs::create_dir_all(&per) {
        eprintln!("lab-harness: creating {}: {e}", per.display());
        return ExitCode::from(2);
    }
    let mut checks = Vec::new();
    for s in &all {
        let r = runner::run(s);
        let path = per.join(format!("{}.json", s.name));
        match serde_json::to_string_pretty(&r) {
            Ok(j) => {
                if let Err(e) = std::fs::write(&path, j) {
                    eprintln!("lab-harness: writing {}: {e}", path.display());
                }
            }
            Err(e) => eprintln!("lab-harness: serialising {}: {e}", s.name),
        }
        println!(
            "{}: {:.1} s{}",
            s.name,
            r.duration_s,
            r.error.as_ref().map_or(String::new(), |e| format!(", stopped: {e}"))
        );
        checks.extend(r.checks);
    }
    let path = out.join("harness.json");
    if let Err(e) =
        serde_json::to_string_pretty(&checks).map_err(std::io::Error::other).and_then(|j| std::fs::write(&path, j))
    {
        eprintln!("lab-harness: writing {}: {e}", path.display());
    }
    print!("{}", report::table(&checks));
    let (passed, failed, gaps) = report::tally(&checks);
    let na = report::not_applicable(&checks);
    println!(
        "harness: {passed} passed, {failed} failed, {gaps} known gaps, {na} scenarios not applicable on this kernel"
    );
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

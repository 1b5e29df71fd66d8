//! The atomicity harness: real ESP traffic (plain or inside UDP) through a real tunnel on the lab
//! kernel while the mobile peer's endpoints move with `SADB_X_MIGRATE` or with the per-SA update
//! and `SADB_X_SPDUPDATE`, and the measured contract.
//!
//! - [`scenario`]: scenarios as data (`tests/scenarios/<name>/`);
//! - [`topology`]: the namespaces, links and addresses;
//! - [`tunnel`]: SAs and policies on both peers through `pfkey`'s `AfKey`, the moves (MIGRATE,
//!   or per-SA update then SPDUPDATE; NAT-T per uplink);
//! - [`traffic`]: sequence-numbered UDP both ways and the loss analysis;
//! - [`capture`]: `AF_PACKET` captures on every link (leaks, ESP SPIs and sequence numbers);
//! - [`xfrm`]: the SAD and SPD read directly over XFRM netlink;
//! - [`runner`]: runs one scenario and judges every check ([`report`]).
//!
//! Everything here needs root and the lab kernel (PF_KEY, ESP): it runs inside the VM, from the
//! `lab-harness` binary that `make vm-test` starts.

pub mod capture;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod topology;
pub mod traffic;
pub mod tunnel;
pub mod xfrm;

/// A failure that stops a scenario (a failed check is a result, not an error).
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A system call or file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// An `ip` command failed.
    #[error("`{command}` failed: {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its standard error.
        stderr: String,
    },
    /// A PF_KEY operation failed.
    #[error("PF_KEY: {0}")]
    Kernel(#[from] pfkey::kernel::KernelError),
    /// A traffic or capture thread failed.
    #[error("{0}")]
    Thread(String),
    /// A scenario could not be read.
    #[error(transparent)]
    Scenario(#[from] scenario::ScenarioError),
}

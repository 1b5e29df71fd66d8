//! A failed command and its exit status.

use std::fmt;
use std::io;

use pfkey::kernel::KernelError;

use crate::codec::Location;

/// A failed command: bad input or usage (exit 2) or a runtime failure (exit 1).
#[derive(Debug)]
pub(crate) enum CliError {
    /// The input is malformed: where, and what rule it breaks.
    Input { source: String, at: Location, what: String },
    /// The command was used wrongly in a way clap cannot see.
    Usage(String),
    /// Writing stdout failed (a closed pipe, as in `| head`, ends the command quietly).
    Stdout(io::Error),
    /// I/O or another runtime failure.
    Runtime(String),
    /// The kernel refused or failed an operation (its message names the operation and errno).
    Kernel(KernelError),
    /// Checks of the demo failed (each was already reported on stdout).
    Checks(usize),
}

impl CliError {
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::Input { .. } | CliError::Usage(_) => 2,
            CliError::Stdout(_) | CliError::Runtime(_) | CliError::Kernel(_) | CliError::Checks(_) => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Input { source, at, what } => write!(f, "{source}, {at}: {what}"),
            CliError::Stdout(e) => write!(f, "writing stdout: {e}"),
            CliError::Usage(s) | CliError::Runtime(s) => f.write_str(s),
            CliError::Kernel(e) => write!(f, "{e}"),
            CliError::Checks(n) => write!(f, "{n} check(s) failed"),
        }
    }
}

impl From<KernelError> for CliError {
    fn from(e: KernelError) -> Self {
        CliError::Kernel(e)
    }
}

pub(crate) fn out_err(e: io::Error) -> CliError {
    CliError::Stdout(e)
}

//! `pfkey demo`.

use crate::error::CliError;

pub(crate) fn run() -> Result<(), CliError> {
    Err(CliError::Runtime("not yet".into()))
}

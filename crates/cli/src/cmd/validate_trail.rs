//! `kms-audit validate-trail`: check CloudTrail digest files and the log files they cover.

use anyhow::{bail, Result};

/// Validate CloudTrail digest files and log files over a period.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<u8> {
    bail!("not implemented yet")
}

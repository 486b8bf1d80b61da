//! `kms-audit verify`: prove sampled objects are encrypted under the expected key.

use anyhow::{bail, Result};

/// Verify a reproducible sample of objects end to end.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<u8> {
    bail!("not implemented yet")
}

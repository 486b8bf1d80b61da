//! `kms-audit expectations`: what the SageMaker jobs were configured to do.

use anyhow::{bail, Result};

/// Build expectations.json from SageMaker (live) or from saved describe outputs.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<u8> {
    bail!("not implemented yet")
}

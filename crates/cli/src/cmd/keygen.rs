//! `kms-audit keygen`: create a local keyring key file.

use anyhow::{bail, Result};

/// Create a local 256-bit wrapping key file for the local keyring.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<u8> {
    bail!("not implemented yet")
}

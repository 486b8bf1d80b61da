//! `kms-audit demo`: the whole pipeline on a generated sample world, no AWS needed.

use anyhow::{bail, Result};

/// Build a sample world in a folder and run ingest, reconcile, verify and export on it.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<u8> {
    bail!("not implemented yet")
}

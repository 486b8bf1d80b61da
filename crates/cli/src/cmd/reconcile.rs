//! `kms-audit reconcile`: observed key use against expected job use.

use anyhow::{bail, Result};

/// Reconcile kms_events with expectations and report findings.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<u8> {
    bail!("not implemented yet")
}

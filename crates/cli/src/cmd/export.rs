//! `kms-audit export` and `export-verify`: the auditor bundle.

use anyhow::{bail, Result};

/// Export an auditor bundle (CSV, JSON, HTML report, signed SHA-256 manifest).
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<u8> {
    bail!("not implemented yet")
}

/// Check an export bundle's hashes and signature; names any file that changed.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {}

pub fn verify(_args: VerifyArgs) -> Result<u8> {
    bail!("not implemented yet")
}

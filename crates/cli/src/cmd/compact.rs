//! `kms-audit compact`: merge each partition-day into one sorted, deduplicated file.

use anyhow::{bail, Result};

/// Merge the files of each kms_events partition into one file sorted by event_time.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> Result<u8> {
    bail!("not implemented yet")
}

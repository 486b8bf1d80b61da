//! `kms-audit generate-trail`: a synthetic CloudTrail trail for tests, benchmarks and demos.

use std::path::PathBuf;

use anyhow::{Context, Result};
use synth::{generate_trail, TrailSpec};

use crate::EXIT_OK;

/// Write a synthetic CloudTrail trail (KMS and other events) in the S3 delivery layout.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output folder (AWSLogs/… is created below it).
    #[arg(long)]
    out: PathBuf,
    /// Records in total, duplicates included.
    #[arg(long, default_value_t = 10_000)]
    records: usize,
    /// Number of log files.
    #[arg(long, default_value_t = 20)]
    files: usize,
    /// Share of KMS events among the records.
    #[arg(long, default_value_t = 0.6)]
    kms_fraction: f64,
    /// Share of KMS events delivered twice.
    #[arg(long, default_value_t = 0.01)]
    duplicate_fraction: f64,
    /// Days the events span.
    #[arg(long, default_value_t = 3)]
    days: u32,
    /// Random seed (same seed, same trail).
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

pub fn run(args: &Args) -> Result<u8> {
    let spec = TrailSpec {
        records: args.records,
        files: args.files,
        kms_fraction: args.kms_fraction.clamp(0.0, 1.0),
        duplicate_fraction: args.duplicate_fraction.clamp(0.0, 1.0),
        days: args.days,
        seed: args.seed,
        ..TrailSpec::default()
    };
    let stats =
        generate_trail(&spec, &args.out).with_context(|| format!("writing the trail under {}", args.out.display()))?;
    eprintln!(
        "generate-trail: {} files, {} records ({} KMS, {} redelivered duplicates), {} bytes of JSON under {}",
        stats.files.len(),
        stats.records,
        stats.kms_records,
        stats.duplicates,
        stats.json_bytes,
        args.out.display()
    );
    Ok(EXIT_OK)
}

//! `kms-audit compact`: merge each partition-day into one sorted, deduplicated file.

use anyhow::{Context, Result};
use lake::compact::{compact, CompactOptions};

use crate::{location, EXIT_FAILURE, EXIT_OK};

/// Merge the files of each kms_events partition into one file sorted by event_time and
/// deduplicated on (account_id, event_id).
///
/// The merged file is written before its inputs are deleted, so readers never miss rows
/// (duplicates can be visible for a moment). Safe to rerun; late files are folded in by the
/// next run. Exit status: 0 ok; 1 when some partition could not be compacted (its files are
/// untouched; rerun).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Lake root: a local folder or s3://bucket/prefix.
    #[arg(long)]
    lake: String,
    /// Only this day (YYYY-MM-DD); default: every day.
    #[arg(long, value_parser = parse_day)]
    dt: Option<String>,
    /// Only days before this one (YYYY-MM-DD), e.g. today to leave the day being written.
    #[arg(long, value_parser = parse_day, conflicts_with = "dt")]
    before: Option<String>,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

fn parse_day(s: &str) -> Result<String, String> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| d.format("%Y-%m-%d").to_string())
        .map_err(|_| format!("{s:?} is not YYYY-MM-DD"))
}

pub fn run(args: &Args) -> Result<u8> {
    let lake = location::open(&args.lake)?;
    let started = std::time::Instant::now();
    let report = compact(&*lake.store, &CompactOptions { dt: args.dt.clone(), before: args.before.clone() })
        .with_context(|| format!("compacting the lake at {}", args.lake))?;
    let s = &report.summary;
    if args.json {
        println!("{}", serde_json::to_string(s).expect("summary serializes"));
    }
    eprintln!(
        "compact: {} partitions, {} compacted: {} files ({} rows) → {} files ({} rows, {} duplicates dropped) in {:.2?}",
        s.partitions,
        s.compacted,
        s.input_files,
        s.input_rows,
        s.output_files,
        s.output_rows,
        s.duplicates,
        started.elapsed()
    );
    for f in &report.failures {
        eprintln!("compact: {}: {}{}", f.partition, f.reason, if f.retryable { " (retryable)" } else { "" });
    }
    Ok(if report.failures.is_empty() { EXIT_OK } else { EXIT_FAILURE })
}

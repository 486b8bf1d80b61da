//! `kms-audit ingest`: CloudTrail log files → the `kms_events` lake.

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use lake::{IngestOptions, Ingestor};

use crate::{location, EXIT_OK, EXIT_QUARANTINED};

/// Ingest CloudTrail log files into the kms_events Parquet lake.
///
/// Exit status: 0 when every input was read; 3 when some input was quarantined (everything
/// else landed; see LAKE/_quarantine/); 1 when the lake could not be written; 2 on usage errors.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Log files (.json.gz or .json) or folders searched recursively. Digest, Insight and
    /// NetworkActivity files are skipped and counted as skipped.
    #[arg(required = true)]
    sources: Vec<String>,
    /// Lake root: a local folder (created if missing).
    #[arg(long)]
    lake: String,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Estimated decompressed MiB of log files processed together (one output file per
    /// partition per window).
    #[arg(long, default_value_t = 192)]
    window_mib: u64,
}

pub fn run(args: Args) -> Result<u8> {
    let lake = location::open(&args.lake)?;
    let mut sources = Vec::new();
    for s in &args.sources {
        sources.extend(location::sources(s)?);
    }
    let opts = IngestOptions { window_bytes: args.window_mib << 20, ..IngestOptions::default() };
    let mut ingestor = Ingestor::new(lake.store.clone(), opts);
    let bar = ProgressBar::new(sources.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} ingest [{bar:30}] {pos}/{len} files {elapsed}")
            .expect("valid template"),
    );
    let started = std::time::Instant::now();
    let report = ingestor
        .ingest(sources, &|done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .with_context(|| format!("writing the lake at {}", args.lake))?;
    bar.finish_and_clear();
    let s = &report.summary;
    if args.json {
        println!("{}", serde_json::to_string(s).expect("summary serializes"));
    }
    eprintln!(
        "ingest: {} files ({} skipped), {} records, {} KMS events in {} rows, {} duplicates dropped, {} quarantined ({} files, {} records), {} lake files written in {:.2?}",
        s.files, s.skipped, s.records, s.kms_events, s.rows, s.duplicates, s.quarantined, s.quarantined_files, s.quarantined_records, s.output_files, started.elapsed()
    );
    for f in &report.failures {
        eprintln!("ingest: {}: {}{}", f.object, f.reason, if f.retryable { " (retryable)" } else { " (quarantined)" });
    }
    Ok(if s.quarantined > 0 || !report.failures.is_empty() { EXIT_QUARANTINED } else { EXIT_OK })
}

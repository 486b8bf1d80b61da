//! `kms-audit ingest`: CloudTrail log files → the `kms_events` lake.
//!
//! Sources are local files/folders or `s3://bucket/prefix` (a backfill from the trail bucket),
//! or CloudTrail LookupEvents (`--lookup-events`). All of them go through the same
//! `lake::Ingestor`.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use lake::{IngestOptions, IngestReport, IngestSummary, Ingestor, Source, Store};

use crate::{location, timearg, EXIT_OK, EXIT_QUARANTINED};

/// Ingest CloudTrail log files into the kms_events Parquet lake.
///
/// Sources and the lake may be local paths or s3://bucket/prefix URLs (AWS configuration from
/// the standard chain; AWS_ENDPOINT_URL and KMS_AUDIT_S3_FORCE_PATH_STYLE=true for local S3).
///
/// Exit status: 0 when every input was read; 3 when some input was quarantined (everything
/// else landed; see LAKE/_quarantine/); 1 when the lake could not be written; 2 on usage errors.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Log files (.json.gz or .json), folders searched recursively, or s3://bucket/prefix.
    /// Digest, Insight and NetworkActivity files are skipped and counted as skipped.
    #[arg(required_unless_present = "lookup_events", conflicts_with = "lookup_events")]
    sources: Vec<String>,
    /// Lake root: a local folder (created if missing) or s3://bucket/prefix.
    #[arg(long)]
    lake: String,
    /// Read KMS events from CloudTrail LookupEvents instead of log files (last 90 days only;
    /// 2 requests/s, 50 events per request).
    #[arg(long, requires_all = ["start", "end"])]
    lookup_events: bool,
    /// Start of the LookupEvents period (RFC 3339, or YYYY-MM-DD for midnight UTC).
    #[arg(long, value_parser = timearg::value)]
    start: Option<DateTime<Utc>>,
    /// End of the LookupEvents period (RFC 3339, or YYYY-MM-DD for midnight UTC).
    #[arg(long, value_parser = timearg::value)]
    end: Option<DateTime<Utc>>,
    /// Region of the LookupEvents calls (default: the configured region).
    #[arg(long)]
    region: Option<String>,
    /// LookupEvents pages ingested together (one lake file per partition per group).
    #[arg(long, default_value_t = 200)]
    pages_per_batch: usize,
    /// S3 objects fetched concurrently ahead of parsing (S3 latency hides behind parsing
    /// only with many more objects in flight than cores).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// MiB of S3 objects held in memory ahead of parsing at most.
    #[arg(long, default_value_t = 256)]
    read_ahead_mib: u64,
    /// Register the partitions of the written files in this Glue database (table --glue-table).
    #[arg(long)]
    glue_database: Option<String>,
    /// Glue table of the events.
    #[arg(long, default_value = "kms_events")]
    glue_table: String,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Estimated decompressed MiB of log files processed together (one output file per
    /// partition per window).
    #[arg(long, default_value_t = 192)]
    window_mib: u64,
    /// Ingest only log files that validate against the trail's signed digest files; the others
    /// are quarantined with the reason (docs/integrity.md).
    #[arg(long, conflicts_with = "lookup_events")]
    require_valid_digests: bool,
    /// Public keys for --require-valid-digests, as `aws cloudtrail list-public-keys` prints
    /// them (default: CloudTrail ListPublicKeys).
    #[arg(long, requires = "require_valid_digests")]
    public_keys: Option<std::path::PathBuf>,
}

pub fn run(args: &Args) -> Result<u8> {
    let lake = location::open(&args.lake)?;
    let opts = IngestOptions { window_bytes: args.window_mib << 20, ..IngestOptions::default() };
    let mut ingestor = Ingestor::new(lake.store.clone(), opts);
    let started = std::time::Instant::now();
    let report = if args.lookup_events {
        lookup(args, &mut ingestor)?
    } else {
        let mut sources = Vec::new();
        for s in &args.sources {
            let found = if location::is_s3(s) {
                location::sources_read_ahead(s, args.concurrency.max(1), args.read_ahead_mib << 20)?
            } else {
                location::sources(s)?
            };
            sources.extend(found);
        }
        let mut refused = Vec::new();
        if args.require_valid_digests {
            let gate = crate::cmd::validate_trail::gate_sources(sources, args.public_keys.as_deref(), &*lake.store)?;
            (sources, refused) = gate;
        }
        let mut report = files(args, &mut ingestor, sources)?;
        crate::cmd::validate_trail::add_refused(&mut report, refused);
        report
    };
    let elapsed = started.elapsed();
    if let Some(db) = &args.glue_database {
        register(&lake.store, db, &args.glue_table, &report.written)?;
    }
    let s = &report.summary;
    if args.json {
        let mut v = serde_json::to_value(s).expect("summary serializes");
        v["seconds"] = serde_json::json!(elapsed.as_secs_f64());
        println!("{v}");
    }
    eprintln!(
        "ingest: {} files ({} skipped), {} records, {} KMS events in {} rows, {} duplicates dropped, {} quarantined ({} files, {} records), {} lake files written in {:.2?} ({:.0} events/s)",
        s.files, s.skipped, s.records, s.kms_events, s.rows, s.duplicates, s.quarantined, s.quarantined_files, s.quarantined_records, s.output_files, elapsed,
        s.kms_events as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    for f in &report.failures {
        let outcome = match (f.retryable, f.data_fault) {
            (true, _) => " (retryable)",
            (false, true) => " (quarantined)",
            (false, false) => " (not quarantined: not the data's fault; fix the cause and rerun)",
        };
        eprintln!("ingest: {}: {}{outcome}", f.object, f.reason);
    }
    Ok(if s.quarantined > 0 || !report.failures.is_empty() { EXIT_QUARANTINED } else { EXIT_OK })
}

fn files(args: &Args, ingestor: &mut Ingestor, sources: Vec<Source>) -> Result<IngestReport> {
    let bar = ProgressBar::new(sources.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} ingest [{bar:30}] {pos}/{len} files {elapsed} ({per_sec}, eta {eta})")
            .expect("valid template"),
    );
    let report = ingestor
        .ingest(sources, &|done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .with_context(|| format!("writing the lake at {}", args.lake))?;
    bar.finish_and_clear();
    Ok(report)
}

/// LookupEvents pages, ingested `pages_per_batch` at a time as log files named after the
/// period and the page number (`cloudtrail-lookup://<region>/<start>--<end>/page-000001.json`).
fn lookup(args: &Args, ingestor: &mut Ingestor) -> Result<IngestReport> {
    let (Some(start), Some(end)) = (args.start, args.end) else { bail!("--lookup-events needs --start and --end") };
    if end <= start {
        bail!("--end must be after --start");
    }
    let b = aws::config::blocking();
    let client = aws::config::cloudtrail_client(b.config(), args.region.as_deref());
    let region = client.config().region().map(|r| r.to_string()).unwrap_or_else(|| "unknown-region".into());
    let mut pager = aws::cloudtrail::LookupPager::new(client, aws::cloudtrail::LookupOptions::new(start, end));
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} lookup-events {msg} {elapsed}").expect("valid template"));
    let mut total = IngestReport::default();
    let mut events = 0u64;
    let mut pages = 0u64;
    let mut finished = false;
    while !finished {
        // A fresh page store per group keeps memory to one group of pages.
        let store = Arc::new(aws::cloudtrail::PageStore::new(&region, start, end));
        let as_store: Arc<dyn Store> = store.clone();
        let mut sources = Vec::new();
        while sources.len() < args.pages_per_batch.max(1) {
            match b.block_on(pager.next_page()).context("CloudTrail LookupEvents")? {
                Some(page) => {
                    events += page.events;
                    pages += 1;
                    let (key, size) = store.add(page);
                    sources.push(Source { store: as_store.clone(), key, size, etag: None });
                    bar.set_message(format!("{pages} pages, {events} events, {} requests", pager.requests));
                    bar.tick();
                }
                None => {
                    finished = true;
                    break;
                }
            }
        }
        if sources.is_empty() {
            break;
        }
        let report =
            ingestor.ingest(sources, &|_, _| {}).with_context(|| format!("writing the lake at {}", args.lake))?;
        merge(&mut total, report);
    }
    bar.finish_and_clear();
    eprintln!(
        "lookup-events: {pages} pages, {events} events, {} requests ({} retried) in {region}",
        pager.requests, pager.retries
    );
    Ok(total)
}

fn merge(total: &mut IngestReport, report: IngestReport) {
    let (t, s): (&mut IngestSummary, IngestSummary) = (&mut total.summary, report.summary);
    t.files += s.files;
    t.skipped += s.skipped;
    t.records += s.records;
    t.kms_events += s.kms_events;
    t.rows += s.rows;
    t.duplicates += s.duplicates;
    t.quarantined += s.quarantined;
    t.quarantined_files += s.quarantined_files;
    t.quarantined_records += s.quarantined_records;
    t.trail_log_reads += s.trail_log_reads;
    t.dry_runs += s.dry_runs;
    t.output_files += s.output_files;
    t.input_bytes += s.input_bytes;
    total.failures.extend(report.failures);
    total.written.extend(report.written);
}

/// Registers the partitions of `written` in Glue (needs an S3 lake: Athena reads S3).
fn register(lake: &Arc<dyn Store>, database: &str, table: &str, written: &[String]) -> Result<()> {
    if !lake.root().starts_with("s3://") {
        bail!("--glue-database needs an s3:// lake");
    }
    let b = aws::config::blocking();
    let glue = aws::glue::GlueTable::new(aws::config::glue_client(b.config()), database, table);
    let partitions = aws::glue::partitions_of(written);
    let r = b.block_on(glue.register(&partitions)).context("registering Glue partitions")?;
    eprintln!("glue: {} partitions created, {} already registered in {database}.{table}", r.created, r.existing);
    Ok(())
}

//! `kms-audit reconcile`: observed key use against expected job use.
//!
//! Reads `LAKE/kms_events` — only the `dt` partitions of `[--from, --to)` (the `dt` of a row is
//! the UTC day of its own `eventTime`, so no row of the range lives elsewhere) and only the
//! reconciler's `REQUIRED_COLUMNS` — on every core: each worker folds whole files into its own
//! clone of the reconciler, and the clones are merged before `finish` (the findings do not
//! depend on the split). Then it writes the findings as a JSON array (`--out`) and as Parquet
//! (`LAKE/findings/dt=<day>/<run>.parquet`), replaces the expectations tables the Athena SQL
//! joins against (`LAKE/expectations*/`), and prints a table.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use lake::read::{list_event_files, EventFilter};
use lake::Store;
use reconcile::{tables, Expectations, Finding, Options, Reconciler, Severity, REQUIRED_COLUMNS};

use crate::cmd::expectations::parse_since;
use crate::location;

/// Exit status: no finding reaches --fail-on.
pub const EXIT_CLEAN: u8 = 0;
/// Exit status: a finding at or above --fail-on.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit status: the reconcile could not run (bad input, unreadable lake, …).
pub const EXIT_ERROR: u8 = 2;

/// Reconcile kms_events with expectations and report findings.
///
/// Output: the findings as a JSON array (--out), the same rows as Parquet under
/// LAKE/findings/dt=<day>/<run>.parquet, the expectations tables under LAKE/expectations/,
/// LAKE/expectations_allow/ and LAKE/expectations_keys/ (for the Athena SQL in
/// queries/reconcile/), and a table of findings on stdout (on stderr when --out is `-`).
///
/// Exit status: 0 when no finding reaches --fail-on; 1 when one does; 2 on errors.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Lake root: a local folder or s3://bucket/prefix.
    #[arg(long)]
    lake: String,
    /// expectations.json (from `kms-audit expectations`).
    #[arg(long)]
    expectations: PathBuf,
    /// Start of the period (inclusive): RFC 3339, YYYY-MM-DD, or a duration ago (7d).
    #[arg(long, value_parser = parse_since)]
    from: Option<DateTime<Utc>>,
    /// End of the period (exclusive): RFC 3339, YYYY-MM-DD, or a duration ago.
    #[arg(long, value_parser = parse_since)]
    to: Option<DateTime<Utc>>,
    /// Widening of every job window on both sides, and arrival allowance for missing-usage.
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    slack: Duration,
    /// The lake is complete up to here ("as of"; default: now): missing-usage is decided only
    /// for windows whose end + slack is at or before it.
    #[arg(long, value_parser = parse_since)]
    watermark: Option<DateTime<Utc>>,
    /// Exit 1 when a finding has at least this severity (`none`: never).
    #[arg(long, default_value = "high", value_parser = parse_fail_on)]
    fail_on: FailOn,
    /// Where to write the findings JSON array (`-` for stdout).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run id recorded in every finding and naming the Parquet files (default: the start time,
    /// e.g. 20250317T060000Z). A rerun with the same id replaces that run's files.
    #[arg(long)]
    run_id: Option<String>,
    /// Worker threads (default: every core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Do not write findings and expectations tables to the lake (read-only lakes).
    #[arg(long)]
    no_write: bool,
    /// Findings listed in the table at most (the JSON and Parquet have all of them).
    #[arg(long, default_value_t = 50)]
    max_rows: usize,
}

/// `--fail-on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    At(Severity),
    Never,
}

fn parse_fail_on(s: &str) -> Result<FailOn, String> {
    if s == "none" {
        return Ok(FailOn::Never);
    }
    s.parse::<Severity>().map(FailOn::At).map_err(|e| format!("{e} or none"))
}

pub fn run(args: &Args) -> Result<u8> {
    match reconcile_cmd(args) {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("kms-audit reconcile: error: {e:#}");
            Ok(EXIT_ERROR)
        }
    }
}

/// What one reconcile run produced.
#[derive(Debug)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub files: usize,
    pub rows: u64,
    pub stats: reconcile::Stats,
    pub lake_keys: Vec<String>,
}

/// Runs the reconciler over the lake on `threads` workers (0: every core) and, unless
/// `write` is false, writes the findings and expectations tables to it.
pub fn reconcile_lake(
    store: &dyn Store,
    exp: &Expectations,
    opts: Options,
    threads: usize,
    write: bool,
) -> Result<Outcome> {
    let run_id = opts.run_id.clone();
    let filter = EventFilter {
        from_ms: opts.from.map(|t| t.timestamp_millis()),
        to_ms: opts.to.map(|t| t.timestamp_millis()),
        ..Default::default()
    };
    let base = Reconciler::new(exp, opts).context("indexing the expectations")?;
    let files =
        list_event_files(store, &filter).with_context(|| format!("listing {}", store.location("kms_events")))?;
    if files.is_empty() {
        eprintln!(
            "kms-audit reconcile: warning: no kms_events files in the period under {} (missing-usage may fire for every job)",
            store.root()
        );
    }
    let columns =
        EventFilter { columns: Some(REQUIRED_COLUMNS.iter().map(|c| (*c).to_owned()).collect()), ..Default::default() };
    let (workers, rows) = lake::findings::fold_event_files(
        store,
        &files,
        &columns,
        threads,
        || base.clone(),
        |r: &mut Reconciler, file, batch| -> Result<()> {
            r.observe(&batch).with_context(|| store.location(&file.object.key))?;
            Ok(())
        },
    )?;
    let mut merged: Option<Reconciler> = None;
    for w in workers {
        match &mut merged {
            None => merged = Some(w),
            Some(m) => m.merge(w),
        }
    }
    let r = merged.unwrap_or(base);
    let stats = r.stats().clone();
    let findings = r.finish();
    let mut lake_keys = Vec::new();
    if write {
        let batch = tables::findings_batch(&findings);
        let today = Utc::now().format("%Y-%m-%d").to_string();
        lake_keys.extend(lake::findings::write_findings(store, &run_id, &batch, "event_time", &today)?);
        for (table, batch) in [
            ("expectations", tables::expectations_batch(exp)),
            ("expectations_allow", tables::allow_batch(exp)),
            ("expectations_keys", tables::keys_batch(exp)),
        ] {
            lake_keys.push(lake::findings::write_table(store, table, &batch)?);
        }
    }
    Ok(Outcome { findings, files: files.len(), rows, stats, lake_keys })
}

fn reconcile_cmd(args: &Args) -> Result<u8> {
    let started = Instant::now();
    let text = std::fs::read_to_string(&args.expectations)
        .with_context(|| format!("reading {}", args.expectations.display()))?;
    let exp = Expectations::from_json(&text).with_context(|| args.expectations.display().to_string())?;
    if let (Some(f), Some(t)) = (args.from, args.to) {
        if t <= f {
            bail!("--to must be after --from");
        }
    }
    if !location::is_s3(&args.lake) && !std::path::Path::new(&args.lake).is_dir() {
        bail!("{}: no such lake folder", args.lake);
    }
    let lake = location::open(&args.lake)?;
    let now = Utc::now();
    let run_id = args.run_id.clone().unwrap_or_else(|| now.format("%Y%m%dT%H%M%SZ").to_string());
    let opts = Options {
        from: args.from,
        to: args.to,
        slack: args.slack,
        watermark: args.watermark.unwrap_or(now),
        run_id: run_id.clone(),
    };
    let store: Arc<dyn Store> = lake.store.clone();
    let outcome = reconcile_lake(&*store, &exp, opts, args.threads, !args.no_write)?;
    let findings = &outcome.findings;

    let json = serde_json::to_string_pretty(findings).expect("findings serialize");
    let to_stdout = args.out.as_ref().is_some_and(|p| p.as_os_str() == "-");
    match &args.out {
        Some(p) if !to_stdout => {
            std::fs::write(p, json + "\n").with_context(|| format!("writing {}", p.display()))?;
        }
        Some(_) => {
            let mut out = std::io::stdout().lock();
            out.write_all(json.as_bytes())?;
            out.write_all(b"\n")?;
        }
        None => {}
    }
    let table = render_table(findings, args.max_rows);
    if to_stdout {
        eprint!("{table}");
    } else {
        print!("{table}");
    }
    let elapsed = started.elapsed();
    eprintln!(
        "reconcile: run {run_id}: {} files, {} rows ({} in the period, {} dry-run, {} trail reads, {} denied), {} jobs, {} findings in {:.2?}{}",
        outcome.files,
        outcome.rows,
        outcome.stats.in_range,
        outcome.stats.dry_run,
        outcome.stats.trail_reads,
        outcome.stats.denied,
        exp.jobs.len(),
        findings.len(),
        elapsed,
        if outcome.lake_keys.is_empty() {
            String::new()
        } else {
            format!("; wrote {} lake objects under {}", outcome.lake_keys.len(), store.root())
        }
    );
    let fail = match args.fail_on {
        FailOn::Never => false,
        FailOn::At(s) => findings.iter().any(|f| f.severity >= s),
    };
    Ok(if fail { EXIT_FINDINGS } else { EXIT_CLEAN })
}

fn short_arn(a: Option<&str>) -> String {
    match a {
        None => "-".into(),
        Some(a) => a.rsplit_once(':').map_or(a, |(_, r)| r).to_owned(),
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// Counts by rule and severity, then the most severe findings first (up to `max_rows`).
pub fn render_table(findings: &[Finding], max_rows: usize) -> String {
    let mut out = String::new();
    if findings.is_empty() {
        out.push_str("no findings\n");
        return out;
    }
    let mut counts: BTreeMap<(std::cmp::Reverse<Severity>, &str), usize> = BTreeMap::new();
    for f in findings {
        *counts.entry((std::cmp::Reverse(f.severity), f.rule.name())).or_default() += 1;
    }
    out.push_str(&format!("{:<8} {:<22} {:>7}\n", "SEVERITY", "RULE", "COUNT"));
    for ((sev, rule), n) in &counts {
        out.push_str(&format!("{:<8} {:<22} {:>7}\n", sev.0.as_str(), rule, n));
    }
    out.push('\n');
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.event_time.cmp(&b.event_time)));
    let rows: Vec<[String; 7]> = sorted
        .iter()
        .take(max_rows)
        .map(|f| {
            [
                f.severity.as_str().to_owned(),
                f.rule.name().to_owned(),
                f.event_time.map_or_else(|| "-".into(), |t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
                clip(&short_arn(f.principal_arn.as_deref()), 40),
                clip(&short_arn(f.key_arn.as_deref()), 40),
                clip(&short_arn(f.job_arn.as_deref()), 36),
                clip(&f.detail, 80),
            ]
        })
        .collect();
    let head = ["SEVERITY", "RULE", "TIME", "PRINCIPAL", "KEY", "JOB", "DETAIL"];
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                l.push_str(c);
                l.push_str(&" ".repeat(w - c.chars().count() + 2));
            }
        }
        l.push('\n');
        l
    };
    out.push_str(&line(head.to_vec()));
    for r in &rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    if findings.len() > max_rows {
        out.push_str(&format!("… {} more (see --out)\n", findings.len() - max_rows));
    }
    out
}

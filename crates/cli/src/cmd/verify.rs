//! `kms-audit verify`: prove sampled objects are encrypted under the expected key.
//!
//! The per-object rules live in `envelope::verify`; this command lists PREFIX, draws the
//! reproducible sample (`envelope::sample`), fetches and verifies objects with bounded
//! concurrency, and — with `--lake` — confirms that each of its own KMS `Decrypt` calls reached
//! the `kms_events` table (`audit-gap` otherwise).
//!
//! # Audit-gap matching
//!
//! A `Decrypt` the verifier made (`envelope::DecryptCall`: key ARN, encryption context, start
//! time) is confirmed by a `kms_events` row with `event_name = Decrypt`, no `error_code`, the
//! same key ARN, exactly the same encryption context, and an `event_time` within
//! [`CLOCK_SKEW`] of the call (CloudTrail times are the service's clock, to the second). Each
//! row confirms one call. The principal is *not* compared: kms-audit does not call STS
//! `GetCallerIdentity` (aws-sdk-sts is not a dependency), so the verifier does not know its
//! principal ARN; the principal of the matching row is reported instead. `--confirm-within` is
//! how long CloudTrail delivery and ingest may take: the lake is polled (every `--poll-every`)
//! until every call is confirmed or that long has passed since the last call; what is still
//! missing then is an `audit-gap` finding. Only KMS calls are checked: the local keyring makes
//! no KMS calls and leaves no CloudTrail record, so the check is reported as not applicable.
//! Failed `Decrypt`s are not required to be found (their records may name no key).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, TimestampMillisecondType};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use envelope::verify::Summary;
use envelope::{
    key_id_of, key_matches, sample, verify_object, DecryptCall, EncryptionContext, ErrorKind, Manifest, ObjectReport,
    ObjectUnderTest, Options, ReportFormat, Verdict, VerificationReport, VerifyPolicy,
};
use indicatif::{ProgressBar, ProgressStyle};
use lake::read::{for_each_event_batch, EventFilter};
use lake::{LocalStore, Store};
use reconcile::{Finding, Rule};
use serde::Serialize;

use crate::cmd::crypt::{from_store_meta, CliKeyring, KeyringSpec};
use crate::{location, EXIT_FAILURE, EXIT_OK};

/// How far a CloudTrail `eventTime` may be from the verifier's clock at the call.
pub const CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);

/// Verify a reproducible sample of objects end to end.
///
/// Each sampled object: SSE-KMS → the key S3 reports must be expected; a client-side envelope
/// (simple or s3ec-v2) → the data key is unwrapped through the keyring, its key must be
/// expected, the body must authenticate (and match --manifest); anything else fails. Exit 1 when
/// any object fails or (with --lake) any of the verifier's Decrypts is missing from the lake.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// s3://bucket/prefix, or a local folder (object metadata in FILE.meta.json sidecars).
    prefix: String,
    /// How many objects to sample (all of them when there are fewer).
    #[arg(long, default_value_t = 100)]
    sample: usize,
    /// Sampling seed; default: random (it is printed and recorded in the report, so the same
    /// sample can be drawn again).
    #[arg(long)]
    seed: Option<u64>,
    /// Expected keys: key ARNs (matched exactly), key ids, aliases (resolved with DescribeKey),
    /// or local:<name>. Any of them is accepted.
    #[arg(long = "expect-key", value_name = "KEY", required = true, num_args = 1..)]
    expect_key: Vec<String>,
    /// `sha256sum` output for the plaintexts; each sampled object must match its entry.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// `kms` (the default for s3://) or local:FILE (the default for folders: local: alone
    /// means $KMS_AUDIT_LOCAL_KEY or ~/.config/kms-audit/local-key.json).
    #[arg(long)]
    keyring: Option<KeyringSpec>,
    /// Objects fetched and verified at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Confirm the verifier's own KMS Decrypts in this lake (local folder or s3://).
    #[arg(long)]
    lake: Option<String>,
    /// How long CloudTrail delivery + ingest may take before a Decrypt missing from the lake is
    /// an audit gap.
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    confirm_within: Duration,
    /// How often to look in the lake while waiting.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    poll_every: Duration,
    /// Write the report as JSON here (with --lake it is first written before waiting, with
    /// `audit.status` = `pending`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the report as JSON on stdout instead of the table.
    #[arg(long)]
    json: bool,
}

/// One object in the report: envelope's verdict plus its CloudTrail confirmation.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectEntry {
    #[serde(flatten)]
    pub report: ObjectReport,
    /// The `kms_events` row that confirmed this object's Decrypt (with --lake).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloudtrail: Option<Confirmation>,
}

/// A lake row that confirmed a Decrypt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Confirmation {
    pub event_id: String,
    pub event_time: DateTime<Utc>,
    pub principal_arn: Option<String>,
}

/// An `audit-gap` finding (the reconciler's `Finding`, plus what identifies the call).
#[derive(Debug, Clone, Serialize)]
pub struct AuditGap {
    #[serde(flatten)]
    pub finding: Finding,
    pub object: String,
    pub encryption_context: EncryptionContext,
}

/// State of the lake check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditStatus {
    /// No --lake.
    NotRequested,
    /// The local keyring makes no KMS calls.
    NotApplicable,
    /// Written before waiting for the lake.
    Pending,
    /// Done: see `confirmed` / `missing`.
    Checked,
}

#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    pub status: AuditStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lake: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm_within: Option<String>,
    /// Successful KMS Decrypts the verifier made.
    pub decrypts: usize,
    pub confirmed: usize,
    pub missing: usize,
    /// How calls are matched to lake rows.
    pub matching: &'static str,
}

/// Run statistics.
#[derive(Debug, Clone, Serialize)]
pub struct RunStats {
    pub started_at: DateTime<Utc>,
    pub elapsed_ms: u64,
    pub objects_per_sec: f64,
    pub concurrency: usize,
    /// Most objects in flight at once (never above `concurrency`).
    pub max_in_flight: usize,
}

/// The whole report (`--out`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub prefix: String,
    pub keyring: &'static str,
    pub expected_keys: Vec<String>,
    pub seed: u64,
    /// Objects under the prefix.
    pub population: usize,
    pub sample_size: usize,
    pub run: RunStats,
    pub objects: Vec<ObjectEntry>,
    pub summary: Summary,
    pub audit: Audit,
    pub audit_gaps: Vec<AuditGap>,
}

const MATCHING: &str = "kms_events row with event_name Decrypt, no error_code, the same key ARN, the same encryption \
                        context and event_time within 5 minutes of the call; the principal is not compared";

struct Source {
    store: Arc<dyn Store>,
    key: String,
    s3: bool,
}

fn open_source(prefix: &str) -> Result<Source> {
    if location::is_s3(prefix) {
        let loc = location::open(prefix)?;
        return Ok(Source { store: loc.store, key: loc.key, s3: true });
    }
    let path = std::path::Path::new(prefix);
    if !path.is_dir() {
        bail!("{prefix}: not a folder (give a local folder or s3://bucket/prefix)");
    }
    let path = path.canonicalize().with_context(|| format!("resolving {prefix}"))?;
    Ok(Source { store: Arc::new(LocalStore::new(path)), key: String::new(), s3: false })
}

// main.rs hands every command its Args by value.
pub fn run(args: &Args) -> Result<u8> {
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if args.sample == 0 {
        bail!("--sample must be at least 1");
    }
    let manifest = match &args.manifest {
        Some(p) => Some(
            Manifest::parse(&std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)
                .with_context(|| format!("parsing the manifest {}", p.display()))?,
        ),
        None => None,
    };
    let source = open_source(&args.prefix)?;
    let spec = match &args.keyring {
        Some(k) => k.clone(),
        None if source.s3 => KeyringSpec::Kms,
        None => KeyringSpec::default_local()?,
    };
    let objects = source.store.list(&source.key).with_context(|| format!("listing {}", args.prefix))?;
    if objects.is_empty() {
        bail!("{}: no objects to verify", args.prefix);
    }
    let names: Vec<String> = objects.iter().map(|o| o.key.clone()).collect();
    let seed = args.seed.unwrap_or_else(rand_seed);
    let sampled = sample(&names, args.sample, seed);
    eprintln!(
        "verify: {} of {} objects under {} (seed {seed}, {} keyring, concurrency {})",
        sampled.len(),
        names.len(),
        args.prefix,
        spec_kind(&spec),
        args.concurrency
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.concurrency.clamp(1, 4))
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = rt.block_on(verify_all(args, &spec, source, manifest, sampled, names.len(), seed))?;
    print_report(&report, args.json)?;
    Ok(if report.summary.failed > 0 || !report.audit_gaps.is_empty() || report.summary.total == 0 {
        EXIT_FAILURE
    } else {
        EXIT_OK
    })
}

fn spec_kind(spec: &KeyringSpec) -> &'static str {
    match spec {
        KeyringSpec::Kms => "kms",
        KeyringSpec::Local(_) => "local",
    }
}

fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.finish()
}

enum Fetched {
    Object(ObjectUnderTest),
    Failed(ObjectReport),
}

fn failed(object: String, reason: String, kind: Option<ErrorKind>) -> ObjectReport {
    ObjectReport {
        object,
        format: ReportFormat::None,
        key_arn: None,
        verdict: Verdict::Fail,
        reason,
        error_kind: kind,
        plaintext_sha256: None,
        decrypt: None,
    }
}

/// HeadObject + GetObject (or the file and its sidecar). Blocking.
fn fetch(store: &dyn Store, key: &str, max_body: u64) -> Fetched {
    let name = store.location(key);
    let (info, meta) = match store.head(key) {
        Ok(Some(found)) => found,
        Ok(None) => return Fetched::Failed(failed(name, "object disappeared before it was read".into(), None)),
        Err(e) => {
            let kind = if e.op == "parse sidecar" { ErrorKind::InvalidSidecar } else { ErrorKind::Io };
            return Fetched::Failed(failed(name, format!("cannot read the object's metadata: {e}"), Some(kind)));
        }
    };
    if info.size > max_body {
        let e = envelope::Error::BodyTooLarge { size: info.size, limit: max_body };
        return Fetched::Failed(failed(name, e.to_string(), Some(e.kind())));
    }
    let body = match store.get_bytes(key) {
        Ok(b) => b,
        Err(e) => return Fetched::Failed(failed(name, format!("cannot read the object: {e}"), Some(ErrorKind::Io))),
    };
    Fetched::Object(ObjectUnderTest::from_sidecar(name, from_store_meta(meta), body))
}

async fn verify_all(
    args: &Args,
    spec: &KeyringSpec,
    source: Source,
    manifest: Option<Manifest>,
    sampled: Vec<String>,
    population: usize,
    seed: u64,
) -> Result<Report> {
    let started_at = Utc::now();
    let started = Instant::now();
    let keyring = Arc::new(CliKeyring::open(spec).await?);
    let expected = keyring.resolve_expected(&args.expect_key).await?;
    let policy = Arc::new(VerifyPolicy { expected_keys: expected.clone(), manifest, options: Options::default() });
    let bar = ProgressBar::new(sampled.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} verify [{bar:30}] {pos}/{len} objects {per_sec} {elapsed}")
            .expect("valid template"),
    );
    let semaphore = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for key in sampled {
        let (semaphore, in_flight, max_in_flight) = (semaphore.clone(), in_flight.clone(), max_in_flight.clone());
        let (keyring, policy, store, bar) = (keyring.clone(), policy.clone(), source.store.clone(), bar.clone());
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await.expect("semaphore open");
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            max_in_flight.fetch_max(now, Ordering::SeqCst);
            let max_body = policy.options.max_body_bytes;
            let name = store.location(&key);
            let fetched = tokio::task::spawn_blocking(move || fetch(&*store, &key, max_body)).await;
            let report = match fetched {
                Ok(Fetched::Object(mut obj)) => {
                    resolve_sse_key(&keyring, &mut obj).await;
                    verify_object(&obj, &*keyring, &policy).await
                }
                Ok(Fetched::Failed(r)) => r,
                Err(e) => failed(name, format!("reading the object failed: {e}"), Some(ErrorKind::Io)),
            };
            in_flight.fetch_sub(1, Ordering::SeqCst);
            bar.inc(1);
            report
        });
    }
    let mut reports = Vec::new();
    while let Some(r) = tasks.join_next().await {
        reports.push(r.context("a verification task failed")?);
    }
    bar.finish_and_clear();
    reports.sort_by(|a, b| a.object.cmp(&b.object));
    let elapsed = started.elapsed();
    let summary = VerificationReport::new(reports.clone()).summary;
    let run = RunStats {
        started_at,
        elapsed_ms: elapsed.as_millis() as u64,
        objects_per_sec: reports.len() as f64 / elapsed.as_secs_f64().max(1e-9),
        concurrency: args.concurrency,
        max_in_flight: max_in_flight.load(Ordering::SeqCst),
    };
    let mut report = Report {
        prefix: args.prefix.clone(),
        keyring: keyring.kind(),
        expected_keys: expected,
        seed,
        population,
        sample_size: reports.len(),
        run,
        objects: reports.into_iter().map(|report| ObjectEntry { report, cloudtrail: None }).collect(),
        summary,
        audit: Audit {
            status: AuditStatus::NotRequested,
            reason: None,
            lake: None,
            confirm_within: None,
            decrypts: 0,
            confirmed: 0,
            missing: 0,
            matching: MATCHING,
        },
        audit_gaps: Vec::new(),
    };
    if let Some(lake) = &args.lake {
        audit(args, lake, &mut report, keyring.kms().is_some()).await?;
    }
    if let Some(out) = &args.out {
        write_report(out, &report)?;
    }
    Ok(report)
}

/// S3 may report the SSE-KMS key as given at upload (an alias or key id, e.g. the moto server):
/// resolve it to an ARN through KMS so it can be compared.
async fn resolve_sse_key(keyring: &CliKeyring, obj: &mut ObjectUnderTest) {
    let (Some(kms), Some(k)) = (keyring.kms(), obj.sse_kms_key_id.as_deref()) else { return };
    if k.starts_with("arn:") && !aws::kms::is_alias(k) {
        return;
    }
    if let Ok(arn) = kms.resolve_key(k).await {
        obj.sse_kms_key_id = Some(arn);
    }
}

fn write_report(path: &std::path::Path, report: &Report) -> Result<()> {
    let mut text = serde_json::to_string_pretty(report).context("serializing the report")?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

async fn audit(args: &Args, lake: &str, report: &mut Report, kms: bool) -> Result<()> {
    report.audit.lake = Some(lake.to_owned());
    report.audit.confirm_within = Some(humantime::format_duration(args.confirm_within).to_string());
    if !kms {
        report.audit.status = AuditStatus::NotApplicable;
        report.audit.reason = Some(
            "the local keyring makes no KMS calls, so there is nothing in CloudTrail to confirm; the audit-gap \
             check applies to the KMS keyring only"
                .into(),
        );
        return Ok(());
    }
    let calls: Vec<(usize, DecryptCall)> = report
        .objects
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.report.decrypt.clone().filter(|d| d.succeeded && d.key_arn.is_some()).map(|d| (i, d)))
        .collect();
    report.audit.decrypts = calls.len();
    if calls.is_empty() {
        report.audit.status = AuditStatus::Checked;
        report.audit.reason = Some("no KMS Decrypt was made (no client-side envelope was unwrapped)".into());
        return Ok(());
    }
    report.audit.status = AuditStatus::Pending;
    if let Some(out) = &args.out {
        write_report(out, report)?;
    }
    let lake_url = lake.to_owned();
    let store = tokio::task::spawn_blocking(move || location::open(&lake_url).map(|l| l.store))
        .await
        .context("opening the lake")??;
    let last = calls.iter().map(|(_, c)| c.at).max().expect("calls not empty");
    let within = TimeDelta::from_std(args.confirm_within).unwrap_or(TimeDelta::MAX);
    let deadline = last.checked_add_signed(within).unwrap_or(DateTime::<Utc>::MAX_UTC);
    let filter = lake_filter(&calls);
    let mut last_missing = usize::MAX;
    let matches = loop {
        let (store, filter) = (store.clone(), filter.clone());
        let events = tokio::task::spawn_blocking(move || read_lake_decrypts(&*store, &filter))
            .await
            .context("reading the lake")??;
        let matches = match_calls(&calls, &events);
        let missing = matches.iter().filter(|m| m.is_none()).count();
        let now = Utc::now();
        if missing == 0 || now >= deadline {
            break matches;
        }
        if missing != last_missing {
            eprintln!(
                "verify: {missing} of {} Decrypts not in the lake yet; looking every {} until {}",
                calls.len(),
                humantime::format_duration(args.poll_every),
                deadline.to_rfc3339_opts(SecondsFormat::Secs, true)
            );
            last_missing = missing;
        }
        let wait = (deadline - now).to_std().unwrap_or_default().min(args.poll_every);
        tokio::time::sleep(wait).await;
    };
    let run_id = format!("verify-{}-{}", report.run.started_at.format("%Y%m%dT%H%M%SZ"), report.seed);
    for ((i, call), m) in calls.iter().zip(matches) {
        match m {
            Some(c) => {
                report.audit.confirmed += 1;
                report.objects[*i].cloudtrail = Some(c);
            }
            None => {
                let object = report.objects[*i].report.object.clone();
                let key_arn = call.key_arn.clone();
                let detail = format!(
                    "verify's KMS Decrypt of {object} under {} at {} (encryption context {}) is not in kms_events within {}",
                    key_arn.as_deref().unwrap_or("?"),
                    call.at.to_rfc3339_opts(SecondsFormat::Millis, true),
                    call.encryption_context.canonical_json(),
                    humantime::format_duration(args.confirm_within)
                );
                report.audit_gaps.push(AuditGap {
                    finding: Finding {
                        rule: Rule::AuditGap,
                        severity: Rule::AuditGap.severity(),
                        account_id: key_arn.as_deref().and_then(arn_account),
                        key_arn,
                        principal_arn: None,
                        event_id: None,
                        event_time: Some(call.at),
                        job_arn: None,
                        detail,
                        event_name: Some("Decrypt".into()),
                        run_id: run_id.clone(),
                    },
                    object,
                    encryption_context: call.encryption_context.clone(),
                });
            }
        }
    }
    report.audit.missing = report.audit_gaps.len();
    report.audit.status = AuditStatus::Checked;
    Ok(())
}

fn arn_account(arn: &str) -> Option<String> {
    arn.split(':').nth(4).filter(|a| !a.is_empty()).map(str::to_owned)
}

/// Keys and time bounds of the lake read for `calls`.
fn lake_filter(calls: &[(usize, DecryptCall)]) -> EventFilter {
    let key_ids: BTreeSet<String> =
        calls.iter().filter_map(|(_, c)| c.key_arn.as_deref()).map(|k| key_id_of(k).to_owned()).collect();
    let first = calls.iter().map(|(_, c)| c.at).min().unwrap_or_default();
    let last = calls.iter().map(|(_, c)| c.at).max().unwrap_or_default();
    EventFilter {
        key_ids: Some(key_ids.into_iter().collect()),
        from_ms: Some((first - CLOCK_SKEW).timestamp_millis()),
        to_ms: Some((last + CLOCK_SKEW).timestamp_millis() + 1),
        columns: Some(
            ["event_id", "event_time", "event_name", "key_arn", "encryption_context", "principal_arn", "error_code"]
                .map(str::to_owned)
                .to_vec(),
        ),
    }
}

/// A successful `Decrypt` row of `kms_events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeDecrypt {
    pub event_id: String,
    pub event_time: DateTime<Utc>,
    pub key_arn: Option<String>,
    pub context: BTreeMap<String, String>,
    pub principal_arn: Option<String>,
}

fn read_lake_decrypts(store: &dyn Store, filter: &EventFilter) -> Result<Vec<LakeDecrypt>> {
    let mut out = Vec::new();
    for_each_event_batch(store, filter, |_, batch| {
        decrypt_rows(&batch, &mut out);
        Ok(())
    })
    .with_context(|| format!("reading kms_events in {}", store.root()))?;
    Ok(out)
}

fn string_column(batch: &RecordBatch, name: &str) -> Option<arrow::array::StringArray> {
    let col = batch.column_by_name(name)?;
    let col = if col.data_type() == &DataType::Utf8 {
        col.clone()
    } else {
        arrow::compute::cast(col, &DataType::Utf8).ok()?
    };
    Some(col.as_string::<i32>().clone())
}

fn decrypt_rows(batch: &RecordBatch, out: &mut Vec<LakeDecrypt>) {
    let (Some(ids), Some(names), Some(times)) = (
        string_column(batch, "event_id"),
        string_column(batch, "event_name"),
        batch.column_by_name("event_time").and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>()),
    ) else {
        return;
    };
    let keys = string_column(batch, "key_arn");
    let principals = string_column(batch, "principal_arn");
    let errors = string_column(batch, "error_code");
    let contexts = batch.column_by_name("encryption_context").and_then(|c| c.as_map_opt());
    let opt = |a: &Option<arrow::array::StringArray>, i: usize| {
        a.as_ref().filter(|a| !a.is_null(i)).map(|a| a.value(i).to_owned()).filter(|s| !s.is_empty())
    };
    for i in 0..batch.num_rows() {
        if names.is_null(i) || names.value(i) != "Decrypt" || times.is_null(i) || opt(&errors, i).is_some() {
            continue;
        }
        let Some(event_time) = DateTime::from_timestamp_millis(times.value(i)) else { continue };
        let mut context = BTreeMap::new();
        if let Some(map) = contexts.filter(|m| !m.is_null(i)) {
            let entries = map.value(i);
            let k = arrow::compute::cast(entries.column(0), &DataType::Utf8).ok();
            let v = arrow::compute::cast(entries.column(1), &DataType::Utf8).ok();
            if let (Some(k), Some(v)) = (k, v) {
                let (k, v) = (k.as_string::<i32>(), v.as_string::<i32>());
                for j in 0..k.len() {
                    context.insert(
                        k.value(j).to_owned(),
                        if v.is_null(j) { String::new() } else { v.value(j).to_owned() },
                    );
                }
            }
        }
        out.push(LakeDecrypt {
            event_id: ids.value(i).to_owned(),
            event_time,
            key_arn: opt(&keys, i),
            context,
            principal_arn: opt(&principals, i),
        });
    }
}

/// Matches each call to a distinct lake row (see the module docs): calls in time order, each
/// taking the earliest unused row that fits.
pub fn match_calls(calls: &[(usize, DecryptCall)], events: &[LakeDecrypt]) -> Vec<Option<Confirmation>> {
    let mut order: Vec<usize> = (0..calls.len()).collect();
    order.sort_by_key(|&i| calls[i].1.at);
    let mut by_time: Vec<&LakeDecrypt> = events.iter().collect();
    by_time.sort_by(|a, b| (a.event_time, &a.event_id).cmp(&(b.event_time, &b.event_id)));
    let mut used: BTreeSet<&str> = BTreeSet::new();
    let mut out = vec![None; calls.len()];
    for i in order {
        let call = &calls[i].1;
        let Some(key) = call.key_arn.as_deref() else { continue };
        let found = by_time.iter().find(|e| {
            !used.contains(e.event_id.as_str())
                && e.key_arn.as_deref().is_some_and(|k| k == key || key_matches(k, key) || key_matches(key, k))
                && (e.event_time - call.at).abs() <= CLOCK_SKEW
                && e.context == *call.encryption_context.as_map()
        });
        if let Some(e) = found {
            used.insert(e.event_id.as_str());
            out[i] = Some(Confirmation {
                event_id: e.event_id.clone(),
                event_time: e.event_time,
                principal_arn: e.principal_arn.clone(),
            });
        }
    }
    out
}

fn print_report(report: &Report, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report).context("serializing the report")?);
    } else {
        let rows: Vec<[String; 5]> = report
            .objects
            .iter()
            .map(|o| {
                let r = &o.report;
                [
                    match r.verdict {
                        Verdict::Ok => "ok".into(),
                        Verdict::Fail => "FAIL".into(),
                    },
                    r.format.as_str().to_owned(),
                    r.key_arn.clone().unwrap_or_else(|| "-".into()),
                    r.object.clone(),
                    r.reason.clone(),
                ]
            })
            .collect();
        let header = ["VERDICT", "FORMAT", "KEY", "OBJECT", "REASON"].map(str::to_owned);
        let mut widths = [0usize; 4];
        for row in std::iter::once(&header).chain(&rows) {
            for (w, cell) in widths.iter_mut().zip(row.iter()) {
                *w = (*w).max(cell.chars().count());
            }
        }
        for row in std::iter::once(&header).chain(&rows) {
            println!(
                "{:w0$}  {:w1$}  {:w2$}  {:w3$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3]
            );
        }
        for gap in &report.audit_gaps {
            println!("audit-gap  {}", gap.finding.detail);
        }
    }
    let s = &report.summary;
    let audit = match report.audit.status {
        AuditStatus::NotRequested => String::new(),
        AuditStatus::NotApplicable => "; audit-gap check not applicable (local keyring)".into(),
        _ => format!(
            "; {} of {} Decrypts confirmed in the lake, {} audit gaps",
            report.audit.confirmed, report.audit.decrypts, report.audit.missing
        ),
    };
    eprintln!(
        "verify: {} objects ({} of {} sampled with seed {}): {} ok, {} failed in {:.2}s ({:.1} objects/s, at most {} at once){audit}",
        s.total,
        report.sample_size,
        report.population,
        report.seed,
        s.ok,
        s.failed,
        report.run.elapsed_ms as f64 / 1000.0,
        report.run.objects_per_sec,
        report.run.max_in_flight,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn call(at: DateTime<Utc>, ctx: &[(&str, &str)]) -> DecryptCall {
        DecryptCall {
            key_arn: Some(KEY.into()),
            encryption_context: ctx.iter().map(|(k, v)| (*k, *v)).collect(),
            at,
            succeeded: true,
        }
    }

    fn event(id: &str, at: DateTime<Utc>, ctx: &[(&str, &str)]) -> LakeDecrypt {
        LakeDecrypt {
            event_id: id.into(),
            event_time: at,
            key_arn: Some(KEY.into()),
            context: ctx.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            principal_arn: Some("arn:aws:iam::111122223333:role/verifier".into()),
        }
    }

    #[test]
    fn matching_is_one_to_one_on_key_context_and_time() {
        let t: DateTime<Utc> = "2025-03-01T10:00:00.400Z".parse().unwrap();
        let calls = vec![
            (0, call(t, &[("a", "1")])),
            (1, call(t + TimeDelta::seconds(1), &[("a", "1")])),
            (2, call(t, &[("a", "2")])),
            (3, call(t, &[("b", "1")])),
        ];
        let events = vec![
            // CloudTrail truncates to the second: before the call's own timestamp.
            event("e1", "2025-03-01T10:00:00Z".parse().unwrap(), &[("a", "1")]),
            event("e2", t + TimeDelta::seconds(10), &[("a", "2")]),
            // Same context as call 3 but far outside the skew.
            event("e3", t + TimeDelta::hours(1), &[("b", "1")]),
        ];
        let m = match_calls(&calls, &events);
        assert_eq!(m[0].as_ref().unwrap().event_id, "e1");
        assert!(m[1].is_none(), "e1 already confirms call 0");
        assert_eq!(m[2].as_ref().unwrap().event_id, "e2");
        assert!(m[3].is_none());
        // Another key does not match.
        let mut other = event("e4", t, &[("a", "1")]);
        other.key_arn = Some(KEY.replace("1234abcd", "99999999"));
        assert!(match_calls(&calls[..1], &[other])[0].is_none());
    }
}

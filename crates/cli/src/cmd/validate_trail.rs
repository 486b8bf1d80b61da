//! `kms-audit validate-trail`: check CloudTrail digest files and the log files they cover.
//!
//! The validation itself is `trail::digest::validate_trail`; this command chooses the trail
//! store (a local folder with sidecars, or `aws::integrity::S3TrailObjects`), the public keys
//! (`--public-keys FILE` or CloudTrail `ListPublicKeys`), prints the report and sets the exit
//! status. It also holds the digest gate of `ingest --require-valid-digests` ([`gate_sources`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, NaiveDateTime, Utc};
use lake::{LocalStore, Source, Store};
use trail::digest::{
    validate_trail, IntegrityReport, PublicKeyList, StoreError, TrailObject, TrailObjects, ValidationOptions,
};

use crate::{location, timearg, EXIT_FAILURE, EXIT_OK};

/// Validate CloudTrail digest files and log files over a period (like `aws cloudtrail
/// validate-logs`).
///
/// Per log file: valid, changed, missing, not-covered; per digest: valid, bad-signature, moved,
/// chain-broken. Exit 1 when anything is not valid (or no digest covers the period).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The trail root (the folder or s3://bucket/prefix holding AWSLogs/). A local folder keeps
    /// each digest's signature in the sidecar DIGEST.meta.json ({"metadata": {"signature": …}}).
    trail: String,
    /// Start of the period, UTC: RFC 3339 (2024-03-01T00:00:00Z) or a date (midnight).
    #[arg(long, value_parser = timearg::value)]
    start: DateTime<Utc>,
    /// End of the period (inclusive), same forms; default: now.
    #[arg(long, value_parser = timearg::value)]
    end: Option<DateTime<Utc>>,
    /// Public keys as printed by `aws cloudtrail list-public-keys`; default: CloudTrail
    /// ListPublicKeys for the period.
    #[arg(long)]
    public_keys: Option<PathBuf>,
    /// Only this region's logs and digests (also the region ListPublicKeys is asked in).
    #[arg(long)]
    region: Option<String>,
    /// Only this account's logs and digests (repeatable).
    #[arg(long)]
    account: Vec<String>,
    /// Print the integrity report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// A trail in a local folder: files, with each object's S3 user metadata in the sidecar
/// `F.meta.json` (the project-wide convention; only its `"metadata"` object is read here).
/// A sidecar that cannot be parsed counts as no metadata (so the digest is `bad-signature`).
#[derive(Debug, Clone)]
pub struct LocalTrail {
    root: PathBuf,
    store: LocalStore,
}

impl LocalTrail {
    /// The trail rooted at `root` (the folder holding `AWSLogs/`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        LocalTrail { store: LocalStore::new(root.clone()), root }
    }
}

impl TrailObjects for LocalTrail {
    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.store.list(prefix).map_err(Box::new)?.into_iter().map(|o| o.key).collect())
    }

    fn get(&self, key: &str) -> Result<Option<TrailObject>, StoreError> {
        let path = self.root.join(key);
        let file = match std::fs::File::open(&path) {
            Ok(f) if f.metadata().is_ok_and(|m| m.is_file()) => f,
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Box::new(e)),
        };
        let metadata = match std::fs::read_to_string(envelope::sidecar_path(&path)) {
            Ok(text) => envelope::read_sidecar(&text).map(|m| m.metadata).unwrap_or_default(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(Box::new(e)),
        };
        Ok(Some(TrailObject::new(std::io::BufReader::new(file), metadata)))
    }

    fn display_key(&self, key: &str) -> String {
        self.root.join(key).display().to_string()
    }
}

/// A trail location opened for validation.
pub enum OpenedTrail {
    Local(LocalTrail),
    S3(aws::integrity::S3TrailObjects),
}

impl OpenedTrail {
    /// Opens a local folder (which must exist) or `s3://bucket/prefix`.
    pub fn open(trail: &str) -> Result<Self> {
        if location::is_s3(trail) {
            let b = aws::config::blocking();
            let (bucket, prefix) = aws::integrity::parse_s3_url(trail)?;
            return Ok(OpenedTrail::S3(aws::integrity::S3TrailObjects::new(
                b.s3(),
                bucket,
                &prefix,
                b.handle().clone(),
            )));
        }
        let path = Path::new(trail);
        if !path.is_dir() {
            bail!("{trail}: not a folder (give the folder holding AWSLogs/, or s3://bucket/prefix)");
        }
        Ok(OpenedTrail::Local(LocalTrail::new(path.canonicalize().with_context(|| format!("resolving {trail}"))?)))
    }

    /// Validates it. Blocking; must not run inside an async task.
    pub fn validate(&self, keys: &PublicKeyList, options: &ValidationOptions) -> Result<IntegrityReport> {
        Ok(match self {
            OpenedTrail::Local(t) => validate_trail(t, keys, options)?,
            OpenedTrail::S3(t) => validate_trail(t, keys, options)?,
        })
    }
}

/// Public keys from `file` (the `aws cloudtrail list-public-keys` JSON) or, without a file,
/// from CloudTrail `ListPublicKeys` in each of `regions` (the SDK's region when empty) for
/// `[start, end]`.
pub fn load_public_keys(
    file: Option<&Path>,
    regions: &BTreeSet<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<PublicKeyList> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        return PublicKeyList::from_list_public_keys_json(&text)
            .with_context(|| format!("parsing the public keys in {}", file.display()));
    }
    let b = aws::config::blocking();
    let end = end.min(Utc::now());
    let start = start.min(end);
    let mut all = PublicKeyList::new(Vec::new());
    let regions: Vec<Option<&str>> =
        if regions.is_empty() { vec![None] } else { regions.iter().map(|r| Some(r.as_str())).collect() };
    for region in regions {
        let client = aws::config::cloudtrail_client(b.config(), region);
        let keys = b
            .block_on(aws::integrity::list_public_keys(&client, Some(start), Some(end)))
            .with_context(|| format!("CloudTrail ListPublicKeys in {}", region.unwrap_or("the default region")))?;
        for k in keys.iter() {
            if all.get(k.fingerprint()).is_none() {
                all.push(k.clone());
            }
        }
    }
    Ok(all)
}

pub fn run(args: &Args) -> Result<u8> {
    let end = args.end.unwrap_or_else(Utc::now);
    if args.start > end {
        bail!("--start {} is after --end {}", args.start, end);
    }
    let trail = OpenedTrail::open(&args.trail)?;
    let mut options = ValidationOptions::new(args.start, end);
    if let Some(r) = &args.region {
        options = options.region(r.clone());
    }
    for a in &args.account {
        options = options.account(a.clone());
    }
    let regions: BTreeSet<String> = args.region.iter().cloned().collect();
    let keys = load_public_keys(args.public_keys.as_deref(), &regions, args.start, end + options.digest_window)?;
    let report = trail.validate(&keys, &options).with_context(|| format!("validating {}", args.trail))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).context("serializing the report")?);
    } else {
        print_human(&report);
    }
    let s = report.summary();
    eprintln!(
        "validate-trail: {} digests ({} valid, {} bad-signature, {} moved, {} chain-broken); {} log files ({} valid, {} changed, {} missing, {} not-covered){}",
        report.digests.len(),
        s.digests_valid,
        s.digests_bad_signature,
        s.digests_moved,
        s.digests_chain_broken,
        report.log_files.len(),
        s.log_files_valid,
        s.log_files_changed,
        s.log_files_missing,
        s.log_files_not_covered,
        if report.digests.is_empty() { "; no digest in the period: nothing is proven" } else { "" }
    );
    Ok(if report.is_valid() { EXIT_OK } else { EXIT_FAILURE })
}

fn print_human(report: &IntegrityReport) {
    println!(
        "Trail integrity {} .. {}{}",
        report.start.format("%Y-%m-%dT%H:%M:%SZ"),
        report.end.format("%Y-%m-%dT%H:%M:%SZ"),
        report
            .covered
            .map(|c| format!(
                " (digests cover {} .. {})",
                c.start.format("%Y-%m-%dT%H:%M:%SZ"),
                c.end.format("%Y-%m-%dT%H:%M:%SZ")
            ))
            .unwrap_or_default()
    );
    for d in &report.digests {
        println!("digest    {:<13}  {}{}", d.status.as_str(), d.object, reason(d.reason.as_deref()));
    }
    for l in &report.log_files {
        println!("log file  {:<13}  {}{}", l.status.as_str(), l.object, reason(l.reason.as_deref()));
    }
    println!("{}", if report.is_valid() { "VALID" } else { "NOT VALID" });
}

fn reason(r: Option<&str>) -> String {
    r.map(|r| format!("  ({r})")).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// ingest --require-valid-digests

/// A log file the digest gate refused, already quarantined in the lake.
#[derive(Debug, Clone)]
pub struct Refused {
    pub source: Source,
    pub reason: String,
}

/// The time encoded in a CloudTrail log file name
/// (`<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz`).
fn log_name_time(key: &str) -> Option<DateTime<Utc>> {
    let name = key.rsplit('/').next()?;
    name.split('_').find_map(|part| NaiveDateTime::parse_from_str(part, "%Y%m%dT%H%MZ").ok()).map(|t| t.and_utc())
}

/// The region folder of `AWSLogs/[o-…/]<acct>/CloudTrail/<region>/…`.
fn log_region(rel: &str) -> Option<&str> {
    let mut parts = rel.split('/');
    parts.by_ref().find(|p| *p == "CloudTrail")?;
    parts.next().filter(|r| !r.is_empty())
}

/// Splits a log file location into the trail root (before `AWSLogs/`) and the key below it.
fn split_trail_root(location: &str) -> Option<(String, String)> {
    if let Some(rest) = location.strip_prefix("AWSLogs/") {
        return Some((String::new(), format!("AWSLogs/{rest}")));
    }
    let i = location.rfind("/AWSLogs/")?;
    Some((location[..i].to_owned(), location[i + 1..].to_owned()))
}

/// The digest gate of `ingest --require-valid-digests`: validates the trails the log files
/// among `sources` belong to (over the span of their file-name times) and returns the sources
/// to ingest. Log files whose status is not `valid` — or that are not in a CloudTrail delivery
/// layout (`…/AWSLogs/…`), so that no digest can vouch for them — are refused: each is written
/// to the lake's quarantine (`_quarantine/`) with the reason, and returned as refused.
/// Objects the ingest skips anyway (digests, sidecars, …) pass through untouched.
pub fn gate_sources(
    sources: Vec<Source>,
    public_keys: Option<&Path>,
    lake: &dyn Store,
) -> Result<(Vec<Source>, Vec<Refused>)> {
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    // Trail root → its log files (key below the root, source).
    let mut trails: BTreeMap<String, Vec<(String, Source)>> = BTreeMap::new();
    for source in sources {
        if trail::ObjectKind::of(&source.key).skip_reason().is_some() {
            accepted.push(source);
            continue;
        }
        match split_trail_root(&source.location()) {
            Some((root, rel)) if log_name_time(&rel).is_some() => trails.entry(root).or_default().push((rel, source)),
            _ => refused.push(Refused {
                reason: "digest validation: not a CloudTrail log file in its delivery layout \
                         (…/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<name>), so no digest can vouch for it"
                    .into(),
                source,
            }),
        }
    }
    for (root, files) in trails {
        let times: Vec<DateTime<Utc>> = files.iter().filter_map(|(rel, _)| log_name_time(rel)).collect();
        let start = times.iter().min().copied().expect("log files have times");
        let end = times.iter().max().copied().expect("log files have times");
        let regions: BTreeSet<String> =
            files.iter().filter_map(|(rel, _)| log_region(rel)).map(str::to_owned).collect();
        let shown = if root.is_empty() { "." } else { root.as_str() };
        let trail = OpenedTrail::open(if root.is_empty() { "." } else { &root })?;
        let options = ValidationOptions::new(start, end);
        let keys = load_public_keys(public_keys, &regions, start, end + options.digest_window)?;
        let report = trail.validate(&keys, &options).with_context(|| format!("validating the trail at {shown}"))?;
        let s = report.summary();
        eprintln!(
            "ingest: digest validation of {shown} ({} .. {}): {} of {} log files valid, {} digests ({} valid)",
            start.format("%Y-%m-%dT%H:%MZ"),
            end.format("%Y-%m-%dT%H:%MZ"),
            s.log_files_valid,
            report.log_files.len(),
            report.digests.len(),
            s.digests_valid
        );
        for (rel, source) in files {
            match report.log_file(&rel) {
                Some(l) if l.status == trail::digest::LogFileStatus::Valid => accepted.push(source),
                Some(l) => refused.push(Refused {
                    reason: format!(
                        "digest validation: {}{}",
                        l.status,
                        l.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
                    ),
                    source,
                }),
                None => refused.push(Refused {
                    reason: "digest validation: not covered: the validation of its period did not see it".into(),
                    source,
                }),
            }
        }
    }
    for r in &refused {
        quarantine(lake, r)?;
    }
    Ok((accepted, refused))
}

/// Counts the refused log files in an ingest report as quarantined files and lists them as
/// failures (not retryable: the file itself is at fault).
pub fn add_refused(report: &mut lake::IngestReport, refused: Vec<Refused>) {
    let n = refused.len() as u64;
    report.summary.quarantined_files += n;
    report.summary.quarantined += n;
    report.failures.extend(refused.into_iter().map(|r| lake::SourceFailure {
        object: r.source.location(),
        key: r.source.key,
        reason: r.reason,
        retryable: false,
        data_fault: true,
    }));
}

fn quarantine(lake: &dyn Store, refused: &Refused) -> Result<()> {
    let location = refused.source.location();
    tracing::error!(object = %location, reason = %refused.reason, "log file refused by digest validation");
    let identity = trail::digest::sha256_hex(format!("digest-gate\0{location}\0{}", refused.source.size).as_bytes());
    let entry = lake::quarantine::QuarantineEntry {
        object: location,
        reason: Some(refused.reason.clone()),
        records: Vec::new(),
        quarantined_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    lake::quarantine::write_entry(lake, &identity[..32], &entry).context("writing the quarantine entry")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_locations() {
        let key = "p/AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/111122223333_CloudTrail_us-east-1_20240301T0105Z_abc.json.gz";
        let (root, rel) = split_trail_root(&format!("s3://b/{key}")).unwrap();
        assert_eq!(root, "s3://b/p");
        assert!(rel.starts_with("AWSLogs/111122223333/"));
        assert_eq!(log_region(&rel), Some("us-east-1"));
        assert_eq!(log_name_time(&rel).unwrap().to_rfc3339(), "2024-03-01T01:05:00+00:00");
        assert_eq!(split_trail_root("AWSLogs/1/x").unwrap().0, "");
        assert!(split_trail_root("/tmp/x.json.gz").is_none());
    }
}

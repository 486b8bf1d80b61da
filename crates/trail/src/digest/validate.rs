//! Validation of a trail over a time range: find the digests, verify them and their chain, hash
//! the log files they list, and find log files no digest lists.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};

use super::error::DigestError;
use super::file::{
    gunzip_digest, hash_uncompressed, sha256_hex, DigestFile, HashFailure, DEFAULT_MAX_DIGEST_BYTES, HASH_ALGORITHM,
};
use super::keys::PublicKeyList;
use super::objects::{TrailObjects, SIGNATURE_ALGORITHM, SIGNATURE_ALGORITHM_METADATA, SIGNATURE_METADATA};
use super::paths::{day_prefixes, digest_name, is_account, is_ignored, is_organization, log_name_time, DigestName};
use super::report::{CoveredRange, DigestResult, DigestStatus, IntegrityReport, LogFileResult, LogFileStatus};

/// What to validate.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ValidationOptions {
    /// Start of the period (inclusive): log files whose name time is at or after it, digests
    /// whose end time is at or after it.
    pub start: DateTime<Utc>,
    /// End of the period (inclusive) for log files.
    pub end: DateTime<Utc>,
    /// How far past `end` digests are read (default 2 h): a log file written just before `end`
    /// is delivered minutes later and listed by the digest of the hour after its delivery.
    pub digest_window: TimeDelta,
    /// Only these accounts (`None`: every account folder under `AWSLogs/`).
    pub accounts: Option<BTreeSet<String>>,
    /// Only these regions (`None`: every region folder).
    pub regions: Option<BTreeSet<String>>,
    /// Objects read at once (default: available parallelism).
    pub threads: usize,
    /// Largest uncompressed digest file accepted (default [`DEFAULT_MAX_DIGEST_BYTES`]).
    pub max_digest_bytes: u64,
}

impl ValidationOptions {
    /// Validate `[start, end]`, every account and region, with the defaults above.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        ValidationOptions {
            start,
            end,
            digest_window: TimeDelta::hours(2),
            accounts: None,
            regions: None,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_digest_bytes: DEFAULT_MAX_DIGEST_BYTES,
        }
    }

    /// Restricts validation to a region (may be called several times).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.regions.get_or_insert_with(BTreeSet::new).insert(region.into());
        self
    }

    /// Restricts validation to an account (may be called several times).
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.accounts.get_or_insert_with(BTreeSet::new).insert(account.into());
        self
    }

    /// Sets how many objects are read at once (at least 1).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }
}

/// A digest as read from the store.
struct Loaded {
    key: String,
    name: Option<DigestName>,
    /// Chain the digest belongs to: `<account folder><region>/|<trail>|<home region>`.
    group: Option<String>,
    /// Hex SHA-256 of the uncompressed bytes; `None` when they could not be inflated.
    sha256: Option<String>,
    signature: Option<String>,
    signature_algorithm: Option<String>,
    /// The parsed digest, or why it could not be read.
    file: Result<DigestFile, String>,
}

impl Loaded {
    fn end(&self) -> Option<DateTime<Utc>> {
        self.file.as_ref().ok().and_then(DigestFile::end_time).or_else(|| self.name.as_ref().map(|n| n.end))
    }
}

/// The checks on one in-range digest.
#[derive(Default)]
struct Verdict {
    /// Signature verified: the contents are CloudTrail's.
    trusted: bool,
    bad: Option<String>,
    moved: Option<String>,
    chain: Vec<String>,
    /// Key prefix and bucket that turn the S3 locations the digest names into store keys.
    base: String,
    bucket: String,
}

impl Verdict {
    fn to_store_key(&self, bucket: &str, s3_key: &str) -> Result<String, String> {
        if bucket != self.bucket {
            return Err(format!("is in bucket {bucket}, outside this trail location (bucket {})", self.bucket));
        }
        s3_key
            .strip_prefix(self.base.as_str())
            .map(str::to_owned)
            .ok_or_else(|| format!("is outside this trail location (key prefix {:?})", self.base))
    }
}

/// Validates the trail in `objects` over `options.start ..= options.end` with `keys`, following
/// the CloudTrail User Guide ("Custom implementations of CloudTrail log file integrity
/// validation") and the AWS CLI's `validate-logs`:
///
/// 1. Digests are found under `AWSLogs/[o-…/]<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/`
///    for digest end times in `[start, end + digest_window]`; log files under
///    `…/CloudTrail/<region>/YYYY/MM/DD/` for name times in `[start, end]`.
/// 2. Each digest is gunzipped, parsed and checked: found where it says it was delivered
///    (`moved`); its `signature` metadata verifies (SHA256withRSA) over the data-signing string
///    with the key its `digestPublicKeyFingerprint` names (`bad-signature`).
/// 3. Each chain (per account folder, region, trail and home region; backfill digests stand
///    alone) is walked from the newest digest back through `previousDigestS3Object`: the
///    previous digest must exist, hash to `previousDigestHashValue`, carry the signature
///    `previousDigestSignature` and be older; and it must be the digest just before in the
///    chain — no digest of the period may be skipped (`chain-broken`). The oldest digest's
///    predecessor is read even when it lies before the period. A starting digest (null
///    previous fields) begins a chain: CloudTrail writes one whenever logging or validation is
///    (re)started.
/// 4. Every log file that a validly signed digest lists (whatever that digest's other
///    problems: its signature proves the listing is CloudTrail's) is streamed, gunzipped and
///    hashed (`valid`, `changed`, `missing`). Log files of the period that no validly signed
///    digest lists are `not-covered`; log files listed only by digests that fail their
///    signature are not trusted.
///
/// # Errors
/// [`DigestError::InvalidRange`] when `start > end`; [`DigestError::Store`] when the store
/// fails to list or read (an integrity finding is never an error).
pub fn validate_trail<O>(
    objects: &O,
    keys: &PublicKeyList,
    options: &ValidationOptions,
) -> Result<IntegrityReport, DigestError>
where
    O: TrailObjects + Sync + ?Sized,
{
    if options.start > options.end {
        return Err(DigestError::InvalidRange { start: options.start, end: options.end });
    }
    let threads = options.threads.max(1);
    let digest_until = options.end + options.digest_window;

    // 1. Discovery.
    let (digest_keys, log_keys) = discover(objects, options, digest_until)?;

    // 2. Load and check each digest.
    let loaded = parallel_map(&digest_keys, threads, |(key, location)| {
        load_digest(objects, key, Some(location), options.max_digest_bytes)
    });
    let mut digests: Vec<Loaded> = Vec::with_capacity(loaded.len());
    for result in loaded {
        if let Some(d) = result? {
            digests.push(d);
        }
    }
    let origin = objects.origin();
    let origin_prefix = origin.normalized_prefix();
    let mut verdicts: Vec<Verdict> = digests
        .iter()
        .map(|d| check_digest(objects, d, keys, origin.bucket.as_deref(), origin_prefix.as_deref()))
        .collect();

    // 3. Chains.
    check_chains(objects, &digests, &mut verdicts, options.max_digest_bytes)?;

    // 4. Log files.
    struct Expected<'a> {
        hash: &'a str,
        algorithm: &'a str,
        digest: usize,
    }
    let mut listed: BTreeMap<String, Vec<Expected<'_>>> = BTreeMap::new();
    let mut untrusted: BTreeMap<String, usize> = BTreeMap::new();
    let mut log_results: BTreeMap<String, LogFileResult> = BTreeMap::new();
    for (i, d) in digests.iter().enumerate() {
        let Ok(file) = &d.file else { continue };
        for entry in &file.log_files {
            match verdicts[i].to_store_key(&entry.s3_bucket, &entry.s3_object) {
                Ok(key) if verdicts[i].trusted => listed.entry(key).or_default().push(Expected {
                    hash: &entry.hash_value,
                    algorithm: &entry.hash_algorithm,
                    digest: i,
                }),
                Ok(key) => {
                    untrusted.entry(key).or_insert(i);
                }
                Err(reason) if verdicts[i].trusted => {
                    let key = format!("s3://{}/{}", entry.s3_bucket, entry.s3_object);
                    log_results.entry(key.clone()).or_insert_with(|| LogFileResult {
                        object: key.clone(),
                        key,
                        status: LogFileStatus::Missing,
                        reason: Some(format!("listed by digest {}, but {reason}", objects.display_key(&d.key))),
                        digest: Some(objects.display_key(&d.key)),
                    });
                }
                Err(_) => {}
            }
        }
    }
    let work: Vec<&String> = listed.keys().collect();
    let hashes = parallel_map(&work, threads, |key| hash_object(objects, key));
    for (key, outcome) in work.into_iter().zip(hashes) {
        let expected = &listed[key];
        let first = objects.display_key(&digests[expected[0].digest].key);
        let (status, reason) = match outcome? {
            None => (LogFileStatus::Missing, Some(format!("listed by digest {first}, but the object is not there"))),
            Some(Err(reason)) => (LogFileStatus::Changed, Some(format!("no longer decompresses ({reason})"))),
            Some(Ok(actual)) => {
                let mismatch = expected.iter().find_map(|e| {
                    let digest = objects.display_key(&digests[e.digest].key);
                    if !e.algorithm.eq_ignore_ascii_case(HASH_ALGORITHM) {
                        Some(format!("digest {digest} records an unsupported hash algorithm {:?}", e.algorithm))
                    } else if !e.hash.trim().eq_ignore_ascii_case(&actual) {
                        Some(format!("uncompressed SHA-256 is {actual}, digest {digest} records {}", e.hash))
                    } else {
                        None
                    }
                });
                match mismatch {
                    Some(reason) => (LogFileStatus::Changed, Some(reason)),
                    None => (LogFileStatus::Valid, None),
                }
            }
        };
        log_results.insert(
            key.clone(),
            LogFileResult { object: objects.display_key(key), key: key.clone(), status, reason, digest: Some(first) },
        );
    }
    for key in &log_keys {
        if listed.contains_key(key) {
            continue;
        }
        let reason = match untrusted.get(key) {
            Some(&i) => {
                format!("listed only by digest {}, which is not validly signed", objects.display_key(&digests[i].key))
            }
            None => format!(
                "not listed by any validly signed digest delivered between {} and {}",
                options.start.format("%Y-%m-%dT%H:%M:%SZ"),
                digest_until.format("%Y-%m-%dT%H:%M:%SZ")
            ),
        };
        log_results.insert(
            key.clone(),
            LogFileResult {
                object: objects.display_key(key),
                key: key.clone(),
                status: LogFileStatus::NotCovered,
                reason: Some(reason),
                digest: None,
            },
        );
    }

    // 5. Report.
    let mut covered: Option<CoveredRange> = None;
    let mut digest_results = Vec::with_capacity(digests.len());
    for (d, v) in digests.iter().zip(verdicts.iter_mut()) {
        let file = d.file.as_ref().ok();
        if v.trusted {
            if let (Some(s), Some(e)) = (file.and_then(DigestFile::start_time), file.and_then(DigestFile::end_time)) {
                let c = covered.get_or_insert(CoveredRange { start: s, end: e });
                c.start = c.start.min(s);
                c.end = c.end.max(e);
            }
        }
        let (status, mut reasons) = if let Some(bad) = v.bad.take() {
            (DigestStatus::BadSignature, vec![bad])
        } else if let Some(moved) = v.moved.take() {
            (DigestStatus::Moved, vec![moved])
        } else if !v.chain.is_empty() {
            (DigestStatus::ChainBroken, Vec::new())
        } else {
            (DigestStatus::Valid, Vec::new())
        };
        reasons.extend(v.moved.take());
        reasons.append(&mut v.chain);
        digest_results.push(DigestResult {
            object: objects.display_key(&d.key),
            key: d.key.clone(),
            status,
            reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
            digest_start_time: file.map(|f| f.digest_start_time.clone()),
            digest_end_time: file.map(|f| f.digest_end_time.clone()),
        });
    }
    digest_results.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(IntegrityReport {
        start: options.start,
        end: options.end,
        covered,
        log_files: log_results.into_values().collect(),
        digests: digest_results,
    })
}

/// What discovery finds: digest keys with their chain location (`<account folder><region>/`),
/// and log-file keys.
type Discovered = (Vec<(String, String)>, BTreeSet<String>);

/// The digest and log-file keys of the period.
fn discover<O: TrailObjects + ?Sized>(
    objects: &O,
    options: &ValidationOptions,
    digest_until: DateTime<Utc>,
) -> Result<Discovered, DigestError> {
    let mut digest_keys = Vec::new();
    let mut log_keys = BTreeSet::new();
    for (root, region) in locations(objects, options)? {
        let digest_base = format!("{root}CloudTrail-Digest/{region}/");
        for prefix in day_prefixes(&digest_base, options.start.date_naive(), digest_until.date_naive()) {
            for key in objects.list(&prefix).map_err(|e| DigestError::store(&prefix, e))? {
                let in_range = digest_name(&key).is_none_or(|n| n.end >= options.start && n.end <= digest_until);
                if in_range && !is_ignored(&key) {
                    digest_keys.push((key, format!("{root}{region}/")));
                }
            }
        }
        let log_base = format!("{root}CloudTrail/{region}/");
        for prefix in day_prefixes(&log_base, options.start.date_naive(), options.end.date_naive()) {
            for key in objects.list(&prefix).map_err(|e| DigestError::store(&prefix, e))? {
                let in_range = log_name_time(&key).is_none_or(|t| t >= options.start && t <= options.end);
                if in_range && !is_ignored(&key) {
                    log_keys.insert(key);
                }
            }
        }
    }
    digest_keys.sort();
    digest_keys.dedup_by(|a, b| a.0 == b.0);
    Ok((digest_keys, log_keys))
}

/// Walks each chain of the period's digests and records link problems in `verdicts`.
fn check_chains<O: TrailObjects + ?Sized>(
    objects: &O,
    digests: &[Loaded],
    verdicts: &mut [Verdict],
    max_digest_bytes: u64,
) -> Result<(), DigestError> {
    let index: BTreeMap<&str, usize> = digests.iter().enumerate().map(|(i, d)| (d.key.as_str(), i)).collect();
    let mut chains: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, d) in digests.iter().enumerate() {
        if let (Some(group), Some(name)) = (&d.group, &d.name) {
            if !name.backfill && verdicts[i].moved.is_none() {
                chains.entry(group.as_str()).or_default().push(i);
            }
        }
    }
    let mut outside: BTreeMap<String, Option<Loaded>> = BTreeMap::new();
    for members in chains.values_mut() {
        members.sort_by(|&a, &b| {
            (digests[a].name.as_ref().map(|n| n.end), &digests[a].key)
                .cmp(&(digests[b].name.as_ref().map(|n| n.end), &digests[b].key))
        });
        for (pos, &i) in members.iter().enumerate() {
            if !verdicts[i].trusted {
                continue;
            }
            let Ok(file) = &digests[i].file else { continue };
            let Some(prev_object) = file.previous_digest_s3_object.as_deref() else {
                continue;
            };
            let prev_bucket = file.previous_digest_s3_bucket.as_deref().unwrap_or(&file.digest_s3_bucket);
            let prev_key = match verdicts[i].to_store_key(prev_bucket, prev_object) {
                Ok(k) => k,
                Err(reason) => {
                    verdicts[i].chain.push(format!("previous digest s3://{prev_bucket}/{prev_object} {reason}"));
                    continue;
                }
            };
            let prev: Option<&Loaded> = match index.get(prev_key.as_str()) {
                Some(&p) => Some(&digests[p]),
                None => {
                    if !outside.contains_key(&prev_key) {
                        let p = load_digest(objects, &prev_key, None, max_digest_bytes)?;
                        outside.insert(prev_key.clone(), p);
                    }
                    outside.get(&prev_key).and_then(Option::as_ref)
                }
            };
            let earlier = pos.checked_sub(1).map(|p| &digests[members[p]]);
            let problems = check_link(objects, &digests[i], file, &prev_key, prev, earlier);
            verdicts[i].chain.extend(problems);
        }
    }
    Ok(())
}

/// The `(account folder, region)` pairs of the trail: `AWSLogs/<account>/` and
/// `AWSLogs/o-…/<account>/`, regions from both `CloudTrail-Digest/` and `CloudTrail/`.
fn locations<O: TrailObjects + ?Sized>(
    objects: &O,
    options: &ValidationOptions,
) -> Result<Vec<(String, String)>, DigestError> {
    let dirs = |prefix: &str| objects.list_dirs(prefix).map_err(|e| DigestError::store(prefix, e));
    let mut roots = Vec::new();
    for entry in dirs("AWSLogs/")? {
        if is_organization(&entry) {
            for account in dirs(&format!("AWSLogs/{entry}/"))? {
                if is_account(&account) {
                    roots.push((format!("AWSLogs/{entry}/{account}/"), account));
                }
            }
        } else if is_account(&entry) {
            roots.push((format!("AWSLogs/{entry}/"), entry));
        }
    }
    let mut out = Vec::new();
    for (root, account) in roots {
        if options.accounts.as_ref().is_some_and(|a| !a.contains(&account)) {
            continue;
        }
        let mut regions: BTreeSet<String> = dirs(&format!("{root}CloudTrail-Digest/"))?.into_iter().collect();
        regions.extend(dirs(&format!("{root}CloudTrail/"))?);
        for region in regions {
            if options.regions.as_ref().is_none_or(|r| r.contains(&region)) {
                out.push((root.clone(), region));
            }
        }
    }
    Ok(out)
}

/// Reads a digest object. `Ok(None)` when it does not exist; a malformed body is recorded in
/// `file`, not returned as an error.
fn load_digest<O: TrailObjects + ?Sized>(
    objects: &O,
    key: &str,
    location: Option<&str>,
    max_bytes: u64,
) -> Result<Option<Loaded>, DigestError> {
    let Some(object) = objects.get(key).map_err(|e| DigestError::store(key, e))? else {
        return Ok(None);
    };
    let signature = object.metadata_value(SIGNATURE_METADATA).map(|s| s.trim().to_ascii_lowercase());
    let signature_algorithm = object.metadata_value(SIGNATURE_ALGORITHM_METADATA).map(|s| s.trim().to_owned());
    let name = digest_name(key);
    let group = match (location, &name) {
        (Some(location), Some(n)) => Some(format!("{location}|{}|{}", n.trail, n.home_region)),
        _ => None,
    };
    let display = objects.display_key(key);
    let (sha256, file) = match gunzip_digest(&display, object.body, max_bytes) {
        Ok(bytes) => {
            let file = DigestFile::from_json(&display, &bytes).map_err(|e| match e {
                DigestError::Malformed { reason, .. } => reason,
                other => other.to_string(),
            });
            (Some(sha256_hex(&bytes)), file)
        }
        Err(DigestError::Malformed { reason, .. }) => (None, Err(reason)),
        Err(e) => return Err(e),
    };
    Ok(Some(Loaded { key: key.to_owned(), name, group, sha256, signature, signature_algorithm, file }))
}

/// Location and signature checks of one digest.
fn check_digest<O: TrailObjects + ?Sized>(
    objects: &O,
    d: &Loaded,
    keys: &PublicKeyList,
    origin_bucket: Option<&str>,
    origin_prefix: Option<&str>,
) -> Verdict {
    let file = match &d.file {
        Ok(f) => f,
        Err(reason) => {
            return Verdict {
                bad: Some(format!("malformed digest, cannot be authenticated: {reason}")),
                ..Verdict::default()
            };
        }
    };
    let claimed = file.digest_s3_object.as_str();
    let base = match origin_prefix {
        Some(p) => p.to_owned(),
        None => infer_prefix(claimed, &d.key),
    };
    let mut verdict =
        Verdict { base, bucket: origin_bucket.unwrap_or(&file.digest_s3_bucket).to_owned(), ..Verdict::default() };
    let mut moved = Vec::new();
    if let Some(bucket) = origin_bucket {
        if file.digest_s3_bucket != bucket {
            moved.push(format!("found in bucket {bucket}"));
        }
    }
    if format!("{}{}", verdict.base, d.key) != claimed {
        moved.push(format!("found at {}", objects.display_key(&d.key)));
    }
    if !moved.is_empty() {
        verdict.moved =
            Some(format!("delivered to s3://{}/{claimed} but {}", file.digest_s3_bucket, moved.join(" and ")));
    }
    match verify(d, file, keys) {
        Ok(()) => verdict.trusted = true,
        Err(reason) => verdict.bad = Some(reason),
    }
    verdict
}

/// The key prefix of a digest's claimed S3 key, given where it was found: what precedes the
/// store key in `claimed` (at a `/` boundary); for a digest found elsewhere, what precedes
/// `AWSLogs/` in `claimed`.
fn infer_prefix(claimed: &str, key: &str) -> String {
    if let Some(head) = claimed.strip_suffix(key) {
        if head.is_empty() || head.ends_with('/') {
            return head.to_owned();
        }
    }
    let mut from = 0;
    while let Some(i) = claimed[from..].find("AWSLogs/") {
        let at = from + i;
        if at == 0 || claimed.as_bytes()[at - 1] == b'/' {
            return claimed[..at].to_owned();
        }
        from = at + 1;
    }
    String::new()
}

/// Verifies a digest's signature as CloudTrail defines it.
fn verify(d: &Loaded, file: &DigestFile, keys: &PublicKeyList) -> Result<(), String> {
    if let Some(algorithm) = &file.digest_signature_algorithm {
        if algorithm != SIGNATURE_ALGORITHM {
            return Err(format!("digestSignatureAlgorithm {algorithm:?} is not {SIGNATURE_ALGORITHM}"));
        }
    }
    let signature = d.signature.as_deref().ok_or_else(|| format!("no `{SIGNATURE_METADATA}` metadata"))?;
    match d.signature_algorithm.as_deref() {
        Some(SIGNATURE_ALGORITHM) => {}
        Some(other) => {
            return Err(format!("`{SIGNATURE_ALGORITHM_METADATA}` metadata is {other:?}, not {SIGNATURE_ALGORITHM}"))
        }
        None => return Err(format!("no `{SIGNATURE_ALGORITHM_METADATA}` metadata")),
    }
    let fingerprint = &file.digest_public_key_fingerprint;
    let key = keys
        .get(fingerprint)
        .ok_or_else(|| format!("no public key with fingerprint {fingerprint} in the public key list"))?;
    let sha256 = d.sha256.as_deref().ok_or("digest bytes could not be read")?;
    key.verify(file.string_to_sign(sha256).as_bytes(), signature)
}

/// Checks the link from digest `d` to the previous digest it names (`prev`, at `prev_key`);
/// `earlier` is the digest just before `d` in its chain among the period's digests.
fn check_link<O: TrailObjects + ?Sized>(
    objects: &O,
    d: &Loaded,
    file: &DigestFile,
    prev_key: &str,
    prev: Option<&Loaded>,
    earlier: Option<&Loaded>,
) -> Vec<String> {
    let shown = objects.display_key(prev_key);
    let Some(prev) = prev else {
        return vec![format!("previous digest {shown} is missing")];
    };
    let mut problems = Vec::new();
    match (prev.sha256.as_deref(), file.previous_digest_hash_value.as_deref()) {
        (_, None) => problems.push("previousDigestHashValue is null".to_owned()),
        (None, Some(_)) => problems.push(format!("previous digest {shown} cannot be decompressed")),
        (Some(actual), Some(expected)) if !actual.eq_ignore_ascii_case(expected.trim()) => problems
            .push(format!("previous digest {shown} has SHA-256 {actual}, previousDigestHashValue is {expected}")),
        _ => {}
    }
    if let Some(algorithm) = file.previous_digest_hash_algorithm.as_deref() {
        if !algorithm.eq_ignore_ascii_case(HASH_ALGORITHM) {
            problems.push(format!("previousDigestHashAlgorithm {algorithm:?} is not {HASH_ALGORITHM}"));
        }
    }
    match (prev.signature.as_deref(), file.previous_digest_signature.as_deref()) {
        (_, None) => problems.push("previousDigestSignature is null".to_owned()),
        (None, Some(_)) => problems.push(format!("previous digest {shown} has no `{SIGNATURE_METADATA}` metadata")),
        (Some(actual), Some(expected)) if !actual.eq_ignore_ascii_case(expected.trim()) => {
            problems.push(format!("signature of previous digest {shown} is not previousDigestSignature"))
        }
        _ => {}
    }
    if let (Some(prev_end), Some(end)) = (prev.end(), d.end()) {
        if prev_end >= end {
            problems.push(format!(
                "previous digest {shown} ends at {}, not before this digest ({})",
                prev_end.format("%Y-%m-%dT%H:%M:%SZ"),
                end.format("%Y-%m-%dT%H:%M:%SZ")
            ));
        }
    }
    if let Some(earlier) = earlier {
        let prev_named = prev.name.as_ref().map(|n| n.end);
        let earlier_named = earlier.name.as_ref().map(|n| n.end);
        if earlier.key != prev_key && prev_named.is_none_or(|p| earlier_named.is_some_and(|e| e > p)) {
            problems.push(format!(
                "the chain skips digest {}: this digest names {shown} as its previous digest",
                objects.display_key(&earlier.key)
            ));
        }
    }
    problems
}

/// Hashes one log file: `Ok(None)` when absent, `Ok(Some(Err(reason)))` when it does not
/// decompress.
fn hash_object<O: TrailObjects + ?Sized>(
    objects: &O,
    key: &str,
) -> Result<Option<Result<String, String>>, DigestError> {
    let Some(object) = objects.get(key).map_err(|e| DigestError::store(key, e))? else {
        return Ok(None);
    };
    match hash_uncompressed(object.body) {
        Ok(hash) => Ok(Some(Ok(hash))),
        Err(HashFailure::Decode(reason)) => Ok(Some(Err(reason))),
        Err(HashFailure::Read(e)) => Err(DigestError::store(key, Box::new(e))),
    }
}

/// `f` over `items` on up to `threads` scoped threads; results in input order.
fn parallel_map<T, R, F>(items: &[T], threads: usize, f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    if threads <= 1 || items.len() <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads.min(items.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let result = f(item);
                *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
            });
        }
    });
    slots
        .into_iter()
        .map(|slot| slot.into_inner().unwrap_or_else(|e| e.into_inner()).expect("every item was processed"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_inference() {
        assert_eq!(infer_prefix("AWSLogs/1/x", "AWSLogs/1/x"), "");
        assert_eq!(infer_prefix("p/q/AWSLogs/1/x", "AWSLogs/1/x"), "p/q/");
        assert_eq!(infer_prefix("pAWSLogs/1/x", "AWSLogs/1/x"), "");
        assert_eq!(infer_prefix("p/AWSLogs/1/y", "AWSLogs/1/x"), "p/");
        assert_eq!(infer_prefix("xAWSLogs/p/AWSLogs/1/y", "AWSLogs/1/x"), "xAWSLogs/p/");
    }

    #[test]
    fn parallel_map_keeps_order() {
        let items: Vec<u32> = (0..100).collect();
        assert_eq!(parallel_map(&items, 4, |x| x * 2), items.iter().map(|x| x * 2).collect::<Vec<_>>());
        assert_eq!(parallel_map(&items, 1, |x| x + 1)[99], 100);
    }

    // -- Validator tests on an in-memory trail signed here (the end-to-end tests against the
    // -- independent Python producer are in tests/digest_trail.rs).

    use crate::digest::{
        sha256_hex, MemoryObjects, PublicKey, TrailOrigin, SIGNATURE_ALGORITHM, SIGNATURE_ALGORITHM_METADATA,
        SIGNATURE_METADATA,
    };
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::rsa::KeySize;
    use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair, RSA_PKCS1_SHA256};
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use serde_json::json;
    use std::io::Write;
    use std::sync::OnceLock;

    const ACCOUNT: &str = "111122223333";
    const BUCKET: &str = "bkt";

    fn pair() -> &'static (RsaKeyPair, String) {
        static PAIR: OnceLock<(RsaKeyPair, String)> = OnceLock::new();
        PAIR.get_or_init(|| {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
            let fingerprint = sha256_hex(pair.public_key().as_ref())[..32].to_owned();
            (pair, fingerprint)
        })
    }

    fn keys() -> PublicKeyList {
        let (pair, fingerprint) = pair();
        PublicKeyList::new(vec![
            PublicKey::new(fingerprint.clone(), pair.public_key().as_ref().to_vec(), None, None).unwrap()
        ])
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn t(hour: u32, minute: u32) -> DateTime<Utc> {
        format!("2024-05-01T{hour:02}:{minute:02}:00Z").parse().unwrap()
    }

    fn digest_key(trail: &str, end: DateTime<Utc>, backfill: bool) -> String {
        format!(
            "AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/{}/{ACCOUNT}_CloudTrail-Digest_us-east-1_{trail}_us-east-1_{}{}.json.gz",
            end.format("%Y/%m/%d"),
            end.format("%Y%m%dT%H%M%SZ"),
            if backfill { "_backfill" } else { "" }
        )
    }

    fn log_key(at: DateTime<Utc>, unique: &str) -> String {
        format!(
            "AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/{}/{ACCOUNT}_CloudTrail_us-east-1_{}_{unique}.json.gz",
            at.format("%Y/%m/%d"),
            at.format("%Y%m%dT%H%MZ")
        )
    }

    /// A signed digest: (store key, sha256, signature).
    struct Signed {
        key: String,
        sha256: String,
        signature: String,
    }

    struct Trail {
        store: MemoryObjects,
        prefix: String,
    }

    impl Trail {
        fn new(prefix: &str) -> Self {
            Trail { store: MemoryObjects::new(), prefix: prefix.to_owned() }
        }

        /// A log file; returns (store key, bucket, S3 key, hash).
        fn log(&mut self, at: DateTime<Utc>, unique: &str) -> (String, String) {
            let key = log_key(at, unique);
            let content = format!("{{\"Records\":[{{\"eventID\":\"{unique}\"}}]}}");
            self.store.insert(key.clone(), gz(content.as_bytes()), BTreeMap::new());
            (key, sha256_hex(content.as_bytes()))
        }

        #[allow(clippy::too_many_arguments)]
        fn digest(
            &mut self,
            trail: &str,
            start: DateTime<Utc>,
            end: DateTime<Utc>,
            backfill: bool,
            previous: Option<&Signed>,
            logs: &[(&str, &str, &str)], // (bucket, store key, hash)
            previous_signature_override: Option<&str>,
        ) -> Signed {
            let key = digest_key(trail, end, backfill);
            let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
            let p = &self.prefix;
            let body = json!({
                "awsAccountId": ACCOUNT,
                "digestStartTime": fmt(start),
                "digestEndTime": fmt(end),
                "digestS3Bucket": BUCKET,
                "digestS3Object": format!("{p}{key}"),
                "digestPublicKeyFingerprint": pair().1,
                "digestSignatureAlgorithm": SIGNATURE_ALGORITHM,
                "newestEventTime": null,
                "oldestEventTime": null,
                "previousDigestS3Bucket": previous.map(|_| BUCKET),
                "previousDigestS3Object": previous.map(|s| format!("{p}{}", s.key)),
                "previousDigestHashValue": previous.map(|s| s.sha256.clone()),
                "previousDigestHashAlgorithm": previous.map(|_| "SHA-256"),
                "previousDigestSignature": previous_signature_override
                    .map(str::to_owned)
                    .or_else(|| previous.map(|s| s.signature.clone())),
                "logFiles": logs.iter().map(|(bucket, key, hash)| json!({
                    "s3Bucket": bucket, "s3Object": format!("{p}{key}"), "hashValue": hash,
                    "hashAlgorithm": "SHA-256", "newestEventTime": null, "oldestEventTime": null,
                })).collect::<Vec<_>>(),
            });
            let raw = serde_json::to_vec(&body).unwrap();
            let file = DigestFile::from_json("test", &raw).unwrap();
            let sha256 = sha256_hex(&raw);
            let mut signature = vec![0u8; pair().0.public_modulus_len()];
            pair()
                .0
                .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), file.string_to_sign(&sha256).as_bytes(), &mut signature)
                .unwrap();
            let signature = hex::encode(signature);
            let metadata = BTreeMap::from([
                (SIGNATURE_METADATA.to_owned(), signature.clone()),
                (SIGNATURE_ALGORITHM_METADATA.to_owned(), SIGNATURE_ALGORITHM.to_owned()),
            ]);
            self.store.insert(key.clone(), gz(&raw), metadata);
            Signed { key, sha256, signature }
        }

        fn validate(&self) -> IntegrityReport {
            validate_trail(&self.store, &keys(), &ValidationOptions::new(t(0, 0), t(4, 0)).threads(2)).unwrap()
        }
    }

    fn status(report: &IntegrityReport, key: &str) -> DigestStatus {
        report.digest(key).unwrap().status
    }

    #[test]
    fn backfill_digests_stand_outside_the_chain() {
        let mut trail = Trail::new("");
        let (l1, h1) = trail.log(t(0, 30), "one");
        let (late, hl) = trail.log(t(0, 40), "late");
        let d1 = trail.digest("main", t(0, 1), t(1, 1), false, None, &[(BUCKET, &l1, &h1)], None);
        let d2 = trail.digest("main", t(1, 1), t(2, 1), false, Some(&d1), &[], None);
        let b = trail.digest("main", t(0, 1), t(1, 31), true, None, &[(BUCKET, &late, &hl)], None);
        let report = trail.validate();
        assert!(report.is_valid(), "{report:#?}");
        assert_eq!(status(&report, &b.key), DigestStatus::Valid);
        assert_eq!(status(&report, &d2.key), DigestStatus::Valid);
        assert!(report.is_log_file_valid(&late));
    }

    #[test]
    fn two_trails_in_one_folder_have_separate_chains() {
        let mut trail = Trail::new("");
        let a1 = trail.digest("a", t(0, 1), t(1, 1), false, None, &[], None);
        let b1 = trail.digest("b", t(0, 31), t(1, 31), false, None, &[], None);
        let _a2 = trail.digest("a", t(1, 1), t(2, 1), false, Some(&a1), &[], None);
        let _b2 = trail.digest("b", t(1, 31), t(2, 31), false, Some(&b1), &[], None);
        let report = trail.validate();
        assert!(report.is_valid(), "{report:#?}");
        assert_eq!(report.digests.len(), 4);
        // Pointing across trails skips the other trail's digest of the chain.
        let mut trail = Trail::new("");
        let a1 = trail.digest("a", t(0, 1), t(1, 1), false, None, &[], None);
        let _a2 = trail.digest("a", t(1, 1), t(2, 1), false, Some(&a1), &[], None);
        let a3 = trail.digest("a", t(2, 1), t(3, 1), false, Some(&a1), &[], None);
        let report = trail.validate();
        assert_eq!(status(&report, &a3.key), DigestStatus::ChainBroken, "{report:#?}");
    }

    #[test]
    fn previous_signature_must_match() {
        let mut trail = Trail::new("");
        let d1 = trail.digest("main", t(0, 1), t(1, 1), false, None, &[], None);
        let d2 = trail.digest("main", t(1, 1), t(2, 1), false, Some(&d1), &[], Some("abcd"));
        let report = trail.validate();
        assert_eq!(status(&report, &d1.key), DigestStatus::Valid);
        assert_eq!(status(&report, &d2.key), DigestStatus::ChainBroken);
        let reason = report.digest(&d2.key).unwrap().reason.clone().unwrap();
        assert!(reason.contains("is not previousDigestSignature"), "{reason}");
    }

    #[test]
    fn log_files_outside_the_trail_location_are_missing() {
        let mut trail = Trail::new("");
        let (l1, h1) = trail.log(t(0, 30), "one");
        let d1 = trail.digest("main", t(0, 1), t(1, 1), false, None, &[("other-bucket", &l1, &h1)], None);
        let report = trail.validate();
        assert_eq!(status(&report, &d1.key), DigestStatus::Valid);
        let elsewhere = format!("s3://other-bucket/{l1}");
        let verdict = report.log_file(&elsewhere).unwrap();
        assert_eq!(verdict.status, LogFileStatus::Missing);
        assert!(verdict.reason.as_deref().unwrap().contains("outside this trail location"));
        // The object in this bucket is listed by no digest.
        assert_eq!(report.log_file(&l1).unwrap().status, LogFileStatus::NotCovered);
    }

    #[test]
    fn known_origin_prefix_is_checked() {
        let mut trail = Trail::new("logs/");
        let (l1, h1) = trail.log(t(0, 30), "one");
        let d1 = trail.digest("main", t(0, 1), t(1, 1), false, None, &[(BUCKET, &l1, &h1)], None);
        trail.store = std::mem::take(&mut trail.store).with_origin(TrailOrigin::s3(BUCKET, "logs"));
        assert!(trail.validate().is_valid());
        trail.store = std::mem::take(&mut trail.store).with_origin(TrailOrigin::s3(BUCKET, "other/"));
        let report = trail.validate();
        assert_eq!(status(&report, &d1.key), DigestStatus::Moved, "{report:#?}");
        // Inferred (unknown origin): the claimed key ends with the store key.
        trail.store = std::mem::take(&mut trail.store).with_origin(TrailOrigin::default());
        assert!(trail.validate().is_valid());
    }

    #[test]
    fn an_empty_store_is_not_valid() {
        let report = Trail::new("").validate();
        assert!(report.digests.is_empty() && report.log_files.is_empty());
        assert!(!report.is_valid());
    }
}

//! The result of a validation: one verdict per log file and per digest file.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Verdict on one log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFileStatus {
    /// Its uncompressed SHA-256 matches what a validly signed digest records.
    Valid,
    /// It differs from what a validly signed digest records (or no longer decompresses).
    Changed,
    /// A validly signed digest lists it, but it is not there.
    Missing,
    /// It is in the trail for the validated period, but no validly signed digest lists it.
    NotCovered,
}

/// Verdict on one digest file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DigestStatus {
    /// Signed by the key it names, found where it was delivered, linked to its predecessor.
    Valid,
    /// The signature is missing, does not verify, or was made with a key that is not in the
    /// public-key list; also a digest that cannot be decompressed or parsed (it cannot be
    /// authenticated). Its contents are not trusted.
    BadSignature,
    /// Validly signed, but found at a path other than the `digestS3Bucket`/`digestS3Object` it
    /// was delivered to.
    Moved,
    /// Validly signed, but the previous digest it names is missing, or its hash, signature or
    /// place in time does not match: a digest was deleted, replaced or reordered.
    ChainBroken,
}

impl LogFileStatus {
    /// The status as written in the report (`valid`, `changed`, `missing`, `not-covered`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogFileStatus::Valid => "valid",
            LogFileStatus::Changed => "changed",
            LogFileStatus::Missing => "missing",
            LogFileStatus::NotCovered => "not-covered",
        }
    }
}

impl DigestStatus {
    /// The status as written in the report (`valid`, `bad-signature`, `moved`, `chain-broken`).
    pub fn as_str(self) -> &'static str {
        match self {
            DigestStatus::Valid => "valid",
            DigestStatus::BadSignature => "bad-signature",
            DigestStatus::Moved => "moved",
            DigestStatus::ChainBroken => "chain-broken",
        }
    }
}

impl fmt::Display for LogFileStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for DigestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict on one log file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogFileResult {
    /// The object as a person finds it (local path or `s3://` URL).
    pub object: String,
    /// The store key (relative to the trail root). For a log file a digest places outside the
    /// trail location, the S3 key the digest names.
    pub key: String,
    /// The verdict.
    pub status: LogFileStatus,
    /// Why, for anything but `valid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The digest that lists it (display name), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// The verdict on one digest file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestResult {
    /// The object as a person finds it (local path or `s3://` URL).
    pub object: String,
    /// The store key (relative to the trail root).
    pub key: String,
    /// The verdict.
    pub status: DigestStatus,
    /// Why, for anything but `valid` (several problems are joined with `; `).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `digestStartTime`, when the digest could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest_start_time: Option<String>,
    /// `digestEndTime`, when the digest could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest_end_time: Option<String>,
}

/// The delivery-time span the validly signed digests cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoveredRange {
    /// Earliest `digestStartTime`.
    pub start: DateTime<Utc>,
    /// Latest `digestEndTime`.
    pub end: DateTime<Utc>,
}

/// Counts per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Log files `valid`.
    pub log_files_valid: usize,
    /// Log files `changed`.
    pub log_files_changed: usize,
    /// Log files `missing`.
    pub log_files_missing: usize,
    /// Log files `not-covered`.
    pub log_files_not_covered: usize,
    /// Digests `valid`.
    pub digests_valid: usize,
    /// Digests `bad-signature`.
    pub digests_bad_signature: usize,
    /// Digests `moved`.
    pub digests_moved: usize,
    /// Digests `chain-broken`.
    pub digests_chain_broken: usize,
}

/// The outcome of validating a trail over a time range (also what `trail-integrity.json`
/// holds; it deserializes back). Serializes as
/// `{"start", "end", "covered"?, "log_files": [{"object", "key", "status", "reason"?, "digest"?}],
/// "digests": [{"object", "key", "status", "reason"?, "digest_start_time"?, "digest_end_time"?}]}`,
/// both lists sorted by key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrityReport {
    /// Requested start.
    pub start: DateTime<Utc>,
    /// Requested end.
    pub end: DateTime<Utc>,
    /// What the validly signed digests cover, if any verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub covered: Option<CoveredRange>,
    /// One verdict per log file.
    pub log_files: Vec<LogFileResult>,
    /// One verdict per digest file of the period.
    pub digests: Vec<DigestResult>,
}

impl IntegrityReport {
    /// Whether everything validated: at least one digest, every digest `valid` and every log
    /// file `valid`. A period without any digest is not valid: CloudTrail delivers a digest
    /// every hour, even when nothing happened, so none at all proves nothing.
    pub fn is_valid(&self) -> bool {
        !self.digests.is_empty()
            && self.digests.iter().all(|d| d.status == DigestStatus::Valid)
            && self.log_files.iter().all(|l| l.status == LogFileStatus::Valid)
    }

    /// Store keys of the log files that validated: the set `ingest --require-valid-digests`
    /// accepts.
    pub fn valid_log_files(&self) -> BTreeSet<&str> {
        self.log_files.iter().filter(|l| l.status == LogFileStatus::Valid).map(|l| l.key.as_str()).collect()
    }

    /// The verdict on the log file at store key `key`, if the report has one.
    pub fn log_file(&self, key: &str) -> Option<&LogFileResult> {
        self.log_files.binary_search_by(|l| l.key.as_str().cmp(key)).ok().map(|i| &self.log_files[i])
    }

    /// Whether the log file at store key `key` validated.
    pub fn is_log_file_valid(&self, key: &str) -> bool {
        self.log_file(key).is_some_and(|l| l.status == LogFileStatus::Valid)
    }

    /// The verdict on the digest at store key `key`, if the report has one.
    pub fn digest(&self, key: &str) -> Option<&DigestResult> {
        self.digests.binary_search_by(|d| d.key.as_str().cmp(key)).ok().map(|i| &self.digests[i])
    }

    /// Counts per status.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for l in &self.log_files {
            *match l.status {
                LogFileStatus::Valid => &mut s.log_files_valid,
                LogFileStatus::Changed => &mut s.log_files_changed,
                LogFileStatus::Missing => &mut s.log_files_missing,
                LogFileStatus::NotCovered => &mut s.log_files_not_covered,
            } += 1;
        }
        for d in &self.digests {
            *match d.status {
                DigestStatus::Valid => &mut s.digests_valid,
                DigestStatus::BadSignature => &mut s.digests_bad_signature,
                DigestStatus::Moved => &mut s.digests_moved,
                DigestStatus::ChainBroken => &mut s.digests_chain_broken,
            } += 1;
        }
        s
    }
}

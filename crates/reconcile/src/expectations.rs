//! What the SageMaker jobs were configured to do: the input of the reconciler.
//!
//! The JSON form is documented in `crates/reconcile/README.md` and in the JSON Schema
//! `crates/reconcile/expectations.schema.json`.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::arn;

/// Current version of the expectations format.
pub const FORMAT_VERSION: u32 = 1;

/// Jobs with their keys and windows, plus the allow-list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expectations {
    /// Format version, currently 1.
    #[serde(default = "default_version")]
    pub version: u32,
    /// When the expectations were produced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<DateTime<Utc>>,
    /// Where they came from.
    #[serde(default)]
    pub source: Source,
    /// The jobs, endpoints and notebook instances.
    #[serde(default)]
    pub jobs: Vec<Job>,
    /// Principals allowed to use keys outside jobs.
    #[serde(default)]
    pub allow: Vec<AllowEntry>,
    /// Further key ARNs under audit besides the jobs' keys (a use of one of these by a principal
    /// that is neither a job role nor allow-listed is `unexpected-principal`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// Aliases resolved while building (`alias/name` or alias ARN → key ARN); lets the reconciler
    /// resolve a record that names its key only by alias.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<String, String>,
}

fn default_version() -> u32 {
    FORMAT_VERSION
}

impl Default for Expectations {
    fn default() -> Self {
        Self {
            version: FORMAT_VERSION,
            generated_at: None,
            source: Source::default(),
            jobs: Vec::new(),
            allow: Vec::new(),
            keys: Vec::new(),
            aliases: BTreeMap::new(),
        }
    }
}

/// Provenance of an expectations file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// `sagemaker` (live List/Describe), `describe` (saved describe outputs), `synth`, `manual`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Region queried, when live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Account, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Input documents (file names) for `describe`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<String>,
}

/// Kind of SageMaker resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Training,
    Processing,
    Transform,
    Endpoint,
    Notebook,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Training => "training",
            JobKind::Processing => "processing",
            JobKind::Transform => "transform",
            JobKind::Endpoint => "endpoint",
            JobKind::Notebook => "notebook",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a job uses a key for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// ML storage volume of a training/processing/transform job (EBS through SageMaker).
    Volume,
    /// S3 output (model artifacts, processing outputs, transform results).
    Output,
    /// Endpoint storage volume (`DescribeEndpointConfig.KmsKeyId`).
    Endpoint,
    /// Endpoint data capture to S3.
    DataCapture,
    /// Notebook instance storage volume.
    Notebook,
    /// Default key of a bucket the job reads or writes (`buckets[].keys`).
    Bucket,
}

impl Purpose {
    pub const ALL: [Purpose; 6] =
        [Purpose::Volume, Purpose::Output, Purpose::Endpoint, Purpose::DataCapture, Purpose::Notebook, Purpose::Bucket];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Volume => "volume",
            Purpose::Output => "output",
            Purpose::Endpoint => "endpoint",
            Purpose::DataCapture => "data_capture",
            Purpose::Notebook => "notebook",
            Purpose::Bucket => "bucket",
        }
    }

    /// Storage volumes are encrypted by EBS on SageMaker's behalf; the identity those calls carry is
    /// not documented, so an AWS service principal's call on the key also counts as usage.
    pub fn is_volume_like(self) -> bool {
        matches!(self, Purpose::Volume | Purpose::Endpoint | Purpose::Notebook)
    }

    /// Exercised by S3 (SSE-KMS); with S3 Bucket Keys such calls can be absent from a window.
    pub fn is_s3(self) -> bool {
        matches!(self, Purpose::Output | Purpose::DataCapture | Purpose::Bucket)
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Keys configured on a job, by purpose, as key ARNs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobKeys {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_capture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notebook: Option<String>,
}

impl JobKeys {
    /// `(purpose, key)` for every configured key, in a fixed order.
    pub fn iter(&self) -> impl Iterator<Item = (Purpose, &str)> {
        [
            (Purpose::Volume, &self.volume),
            (Purpose::Output, &self.output),
            (Purpose::Endpoint, &self.endpoint),
            (Purpose::DataCapture, &self.data_capture),
            (Purpose::Notebook, &self.notebook),
        ]
        .into_iter()
        .filter_map(|(p, k)| k.as_deref().map(|k| (p, k)))
    }

    fn slot(&mut self, p: Purpose) -> Option<&mut Option<String>> {
        match p {
            Purpose::Volume => Some(&mut self.volume),
            Purpose::Output => Some(&mut self.output),
            Purpose::Endpoint => Some(&mut self.endpoint),
            Purpose::DataCapture => Some(&mut self.data_capture),
            Purpose::Notebook => Some(&mut self.notebook),
            Purpose::Bucket => None,
        }
    }

    /// Sets the key for a purpose (`Bucket` is not a job key and is ignored).
    pub fn set(&mut self, p: Purpose, key: Option<String>) {
        if let Some(s) = self.slot(p) {
            *s = key;
        }
    }
}

/// Active window of a job: `[start, end]`; `end: null` is open (endpoints, notebooks, running jobs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: DateTime<Utc>,
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
}

/// A bucket a job reads or writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// `arn:aws:s3:::name`.
    pub arn: String,
    /// S3 Bucket Keys on: S3 calls KMS with the bucket ARN as context, and far less often.
    #[serde(default)]
    pub bucket_key_enabled: bool,
    /// Keys the bucket's objects are encrypted with (its default key, keys of input data): the job
    /// role using them is expected within the job's window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
}

/// One SageMaker job, endpoint or notebook instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub kind: JobKind,
    pub name: String,
    pub arn: String,
    /// Execution role ARN (any path).
    pub role_arn: String,
    #[serde(default)]
    pub keys: JobKeys,
    pub window: Window,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<Bucket>,
    /// SageMaker status when known (`Completed`, `Failed`, `Stopped`, `InService`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl Job {
    /// Every `(purpose, key ARN)` the job is expected to use, bucket keys included.
    pub fn expected_keys(&self) -> Vec<(Purpose, &str)> {
        let mut v: Vec<(Purpose, &str)> = self.keys.iter().collect();
        for b in &self.buckets {
            for k in &b.keys {
                v.push((Purpose::Bucket, k.as_str()));
            }
        }
        v
    }

    /// At least one bucket, and every bucket uses S3 Bucket Keys.
    pub fn all_buckets_use_bucket_keys(&self) -> bool {
        !self.buckets.is_empty() && self.buckets.iter().all(|b| b.bucket_key_enabled)
    }

    /// Failed or stopped jobs may never have touched their keys; `missing-usage` skips them.
    pub fn status_excuses_missing_usage(&self) -> bool {
        matches!(self.status.as_deref(), Some("Failed" | "Stopped" | "Stopping"))
    }

    /// Whether `missing-usage` asks this job to show a call on a key used for `purpose`
    /// (window and watermark conditions aside). See the README's policy table.
    pub fn requires_usage(&self, purpose: Purpose) -> bool {
        if self.status_excuses_missing_usage() {
            return false;
        }
        let by_kind = matches!(
            (self.kind, purpose),
            (JobKind::Training, Purpose::Volume | Purpose::Output)
                | (JobKind::Processing, Purpose::Volume)
                | (JobKind::Transform, Purpose::Volume | Purpose::Output)
                | (JobKind::Endpoint, Purpose::Endpoint)
                | (JobKind::Notebook, Purpose::Notebook)
        );
        by_kind && !(purpose.is_s3() && self.all_buckets_use_bucket_keys())
    }
}

/// A principal allowed to use keys outside jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowEntry {
    /// An ARN (a role ARN matches the role whatever its path), `service:<host>`, or a prefix
    /// ending in `*` (`arn:aws:iam::111122223333:role/admins/*`; `*` alone is everyone).
    pub principal: String,
    /// Key ARNs, or `["*"]` for any key.
    pub keys: Vec<String>,
    /// KMS operations (event names), or `["*"]`.
    pub operations: Vec<String>,
    /// Why; shown to the auditor.
    #[serde(default)]
    pub reason: String,
}

impl AllowEntry {
    /// Prefix when the principal is a `…*` pattern.
    pub fn principal_prefix(&self) -> Option<&str> {
        self.principal.strip_suffix('*')
    }
}

/// A problem in an expectations document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {problem}")]
pub struct ValidationError {
    /// JSON-path-like location, e.g. `jobs[3].keys.output`.
    pub location: String,
    pub problem: String,
}

impl Expectations {
    /// Parses JSON and validates.
    pub fn from_json(text: &str) -> Result<Self, crate::Error> {
        let e: Expectations =
            serde_json::from_str(text).map_err(|err| crate::Error::Expectations(format!("invalid JSON: {err}")))?;
        e.validate().map_err(|errs| crate::Error::Expectations(join_errors(&errs)))?;
        Ok(e)
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("expectations serialize")
    }

    /// Checks ARNs, windows and patterns; returns every problem found.
    pub fn validate(&self) -> Result<(), Vec<ValidationError>> {
        let mut errs = Vec::new();
        let mut err = |location: String, problem: String| errs.push(ValidationError { location, problem });
        if self.version != FORMAT_VERSION {
            err("version".into(), format!("unsupported version {} (expected {FORMAT_VERSION})", self.version));
        }
        let mut seen = HashSet::new();
        for (i, j) in self.jobs.iter().enumerate() {
            let at = |f: &str| format!("jobs[{i}] ({}).{f}", j.name);
            if j.name.is_empty() {
                err(at("name"), "empty".into());
            }
            if arn::parse(&j.arn).is_none() {
                err(at("arn"), format!("not an ARN: {:?}", j.arn));
            } else if !seen.insert(j.arn.as_str()) {
                err(at("arn"), format!("duplicate job ARN {}", j.arn));
            }
            if arn::role_key(&j.role_arn).is_none() {
                err(at("role_arn"), format!("not an IAM role ARN: {:?}", j.role_arn));
            }
            for (p, k) in j.keys.iter() {
                if !arn::is_key_arn(k) {
                    err(at(&format!("keys.{p}")), format!("not a key ARN (resolve aliases and key IDs first): {k:?}"));
                }
            }
            for (b, bucket) in j.buckets.iter().enumerate() {
                if !matches!(arn::parse(&bucket.arn), Some(a) if a.service == "s3") {
                    err(at(&format!("buckets[{b}].arn")), format!("not an S3 ARN: {:?}", bucket.arn));
                }
                for (n, k) in bucket.keys.iter().enumerate() {
                    if !arn::is_key_arn(k) {
                        err(at(&format!("buckets[{b}].keys[{n}]")), format!("not a key ARN: {k:?}"));
                    }
                }
            }
            if let Some(end) = j.window.end {
                if end < j.window.start {
                    err(at("window"), format!("end {end} before start {}", j.window.start));
                }
            }
        }
        for (i, a) in self.allow.iter().enumerate() {
            let at = |f: &str| format!("allow[{i}].{f}");
            let p = &a.principal;
            let star = p.find('*');
            if p.is_empty() {
                err(at("principal"), "empty".into());
            } else if star.is_some_and(|s| s != p.len() - 1) {
                err(at("principal"), format!("`*` is only allowed at the end: {p:?}"));
            }
            if a.keys.is_empty() {
                err(at("keys"), "empty (use [\"*\"] for any key)".into());
            }
            for (n, k) in a.keys.iter().enumerate() {
                if k != "*" && !arn::is_key_arn(k) {
                    err(at(&format!("keys[{n}]")), format!("not a key ARN or \"*\": {k:?}"));
                }
            }
            if a.operations.is_empty() {
                err(at("operations"), "empty (use [\"*\"] for any operation)".into());
            }
        }
        for (n, k) in self.keys.iter().enumerate() {
            if !arn::is_key_arn(k) {
                err(format!("keys[{n}]"), format!("not a key ARN: {k:?}"));
            }
        }
        for (alias, k) in &self.aliases {
            if !arn::is_key_arn(k) {
                err(format!("aliases[{alias:?}]"), format!("not a key ARN: {k:?}"));
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }

    /// The aliases as the reconciler resolves them: every entry as written, plus, for an alias ARN,
    /// its short `alias/name` form unless that is already taken (first in key order wins).
    pub fn alias_map(&self) -> BTreeMap<String, String> {
        let mut m = self.aliases.clone();
        for (alias, k) in &self.aliases {
            if let Some(p) = alias.find(":alias/") {
                m.entry(alias[p + 1..].to_owned()).or_insert_with(|| k.clone());
            }
        }
        m
    }

    /// Appends another document's jobs, allow entries, keys and aliases (e.g. `--allow FILE`).
    pub fn merge(&mut self, other: Expectations) {
        self.jobs.extend(other.jobs);
        self.allow.extend(other.allow);
        self.keys.extend(other.keys);
        self.aliases.extend(other.aliases);
        self.source.documents.extend(other.source.documents);
    }
}

pub(crate) fn join_errors(errs: &[ValidationError]) -> String {
    errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

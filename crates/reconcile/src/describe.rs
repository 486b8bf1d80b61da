//! Expectations from saved `aws sagemaker describe-*` outputs (JSON as the AWS CLI prints it).
//!
//! Recognised documents, by a field only that response has:
//!
//! | document | detected by | gives |
//! |---|---|---|
//! | `describe-training-job` | `TrainingJobArn` (without `ProcessingJobArn`) | job: `RoleArn`, `ResourceConfig.VolumeKmsKeyId`, `OutputDataConfig.KmsKeyId`, `TrainingStartTime`‥`TrainingEndTime` |
//! | `describe-processing-job` | `ProcessingJobArn` | job: `RoleArn`, `ProcessingResources.ClusterConfig.VolumeKmsKeyId`, `ProcessingOutputConfig.KmsKeyId`, `ProcessingStartTime`‥`ProcessingEndTime` |
//! | `describe-transform-job` | `TransformJobArn` | job: role of `ModelName`, `TransformResources.VolumeKmsKeyId`, `TransformOutput.KmsKeyId`, `DataCaptureConfig.KmsKeyId`, `TransformStartTime`‥`TransformEndTime` |
//! | `describe-endpoint` | `EndpointArn` | job (open window from `CreationTime`): keys of `EndpointConfigName`, role of its variants' models |
//! | `describe-endpoint-config` | `EndpointConfigArn` | `KmsKeyId` (endpoint volume), `DataCaptureConfig.KmsKeyId`, `AsyncInferenceConfig.OutputConfig.KmsKeyId`, `ProductionVariants[].ModelName`, `ExecutionRoleArn` |
//! | `describe-model` | `ModelArn` | `ExecutionRoleArn` |
//! | `describe-notebook-instance` | `NotebookInstanceArn` | job (open window from `CreationTime`): `RoleArn`, `KmsKeyId` |
//!
//! Timestamps may be numbers (epoch seconds, AWS CLI v1) or ISO 8601 strings (CLI v2). A job
//! without a start time starts at `CreationTime`; a job in a final state (`Completed`, `Failed`,
//! `Stopped`) without an end time ends at `LastModifiedTime`; otherwise its window is open.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::arn;
use crate::expectations::{Bucket, Expectations, Job, JobKeys, JobKind, Source, Window};

/// Resolves a key reference that is not a key ARN (key ID, `alias/name`, alias ARN) to a key ARN,
/// e.g. through KMS `DescribeKey`. Synchronous; `None` when it cannot.
pub trait KeyResolver {
    fn resolve(&self, key_ref: &str) -> Option<String>;
}

/// A resolver from fixed data (tests, offline use): aliases map to key IDs or ARNs, and bare key
/// IDs become ARNs in `region`/`account`.
#[derive(Debug, Clone, Default)]
pub struct MapResolver {
    pub partition: String,
    pub region: String,
    pub account: String,
    /// `alias/name` (or an alias ARN) → key ID or key ARN.
    pub aliases: BTreeMap<String, String>,
    /// Per-region accounts, `region → account`, for alias ARNs and IDs of other regions.
    pub accounts: BTreeMap<String, String>,
}

impl MapResolver {
    pub fn new(region: &str, account: &str) -> Self {
        MapResolver { partition: "aws".into(), region: region.into(), account: account.into(), ..Default::default() }
    }

    /// Adds an alias.
    pub fn alias(mut self, alias: &str, key: &str) -> Self {
        self.aliases.insert(alias.into(), key.into());
        self
    }

    fn id_to_arn(&self, region: &str, account: &str, id: &str) -> String {
        format!("arn:{}:kms:{region}:{account}:key/{id}", self.partition)
    }
}

impl KeyResolver for MapResolver {
    fn resolve(&self, key_ref: &str) -> Option<String> {
        if arn::is_key_arn(key_ref) {
            return Some(key_ref.to_owned());
        }
        if let Some(a) = arn::parse(key_ref).filter(|a| a.service == "kms") {
            // alias ARN
            let name = a.resource;
            let target = self.aliases.get(key_ref).or_else(|| self.aliases.get(name))?;
            return Some(if arn::is_key_arn(target) {
                target.clone()
            } else {
                self.id_to_arn(a.region, a.account, target)
            });
        }
        if key_ref.starts_with("alias/") {
            let target = self.aliases.get(key_ref)?;
            return Some(if arn::is_key_arn(target) {
                target.clone()
            } else {
                self.id_to_arn(&self.region, &self.account, target)
            });
        }
        looks_like_key_id(key_ref).then(|| self.id_to_arn(&self.region, &self.account, key_ref))
    }
}

/// A resolver from a precomputed table (`key reference → key ARN`), e.g. the answers of KMS
/// `DescribeKey` fetched before building (see [`ExpectationsBuilder::key_refs`]).
impl KeyResolver for BTreeMap<String, String> {
    fn resolve(&self, key_ref: &str) -> Option<String> {
        self.get(key_ref).cloned()
    }
}

fn looks_like_key_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') && s.contains('-')
}

/// A problem in one describe document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeError {
    /// The document's name (file name) as given to the builder.
    pub document: String,
    /// The field concerned (`ResourceConfig.VolumeKmsKeyId`), or `-`.
    pub field: String,
    pub problem: String,
}

impl fmt::Display for DescribeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.document, self.field, self.problem)
    }
}

impl std::error::Error for DescribeError {}

/// Every problem found while building.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeErrors(pub Vec<DescribeError>);

impl fmt::Display for DescribeErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DescribeErrors {}

/// Kind of describe document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Training,
    Processing,
    Transform,
    Endpoint,
    EndpointConfig,
    Model,
    Notebook,
}

/// Detects the kind of a describe document from its fields.
pub fn detect(doc: &Value) -> Option<DocKind> {
    let has = |f: &str| doc.get(f).is_some_and(|v| !v.is_null());
    Some(if has("ProcessingJobArn") {
        DocKind::Processing
    } else if has("TransformJobArn") {
        DocKind::Transform
    } else if has("TrainingJobArn") {
        DocKind::Training
    } else if has("EndpointConfigArn") {
        DocKind::EndpointConfig
    } else if has("EndpointArn") {
        DocKind::Endpoint
    } else if has("ModelArn") {
        DocKind::Model
    } else if has("NotebookInstanceArn") {
        DocKind::Notebook
    } else {
        return None;
    })
}

/// Builds [`Expectations`] from describe documents.
pub struct ExpectationsBuilder<'r> {
    resolver: &'r dyn KeyResolver,
    docs: Vec<(String, Value)>,
    bucket_keys: BTreeSet<String>,
    /// bucket name → default SSE-KMS key ARN
    bucket_default_keys: BTreeMap<String, String>,
    errors: Vec<DescribeError>,
    source: Option<Source>,
}

impl fmt::Debug for ExpectationsBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExpectationsBuilder")
            .field("docs", &self.docs.len())
            .field("bucket_keys", &self.bucket_keys)
            .field("bucket_default_keys", &self.bucket_default_keys)
            .finish()
    }
}

fn path<'v>(doc: &'v Value, field: &str) -> Option<&'v Value> {
    field.split('.').try_fold(doc, |v, f| v.get(f)).filter(|v| !v.is_null())
}

fn s3_bucket(uri: &str) -> Option<&str> {
    let rest = uri.strip_prefix("s3://")?;
    let b = rest.split('/').next()?;
    (!b.is_empty()).then_some(b)
}

impl<'r> ExpectationsBuilder<'r> {
    pub fn new(resolver: &'r dyn KeyResolver) -> Self {
        ExpectationsBuilder {
            resolver,
            docs: Vec::new(),
            bucket_keys: BTreeSet::new(),
            bucket_default_keys: BTreeMap::new(),
            errors: Vec::new(),
            source: None,
        }
    }

    /// The same builder with another resolver (e.g. a table filled from [`Self::key_refs`]).
    pub fn with_resolver<'s>(self, resolver: &'s dyn KeyResolver) -> ExpectationsBuilder<'s> {
        ExpectationsBuilder {
            resolver,
            docs: self.docs,
            bucket_keys: self.bucket_keys,
            bucket_default_keys: self.bucket_default_keys,
            errors: self.errors,
            source: self.source,
        }
    }

    /// Replaces the `source` recorded in the expectations (default: kind `describe` with the
    /// document names).
    pub fn source(&mut self, source: Source) -> &mut Self {
        self.source = Some(source);
        self
    }

    /// Every key reference in the documents that is not already a key ARN (key IDs, `alias/…`,
    /// alias ARNs), plus the buckets' default keys given as references: what the resolver will
    /// be asked. Lets an async caller resolve them all first (KMS `DescribeKey`) and build with a
    /// table (`BTreeMap<String, String>` is a [`KeyResolver`]).
    pub fn key_refs(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (_, doc) in &self.docs {
            let fields: &[&str] = match detect(doc) {
                Some(DocKind::Training) => &["ResourceConfig.VolumeKmsKeyId", "OutputDataConfig.KmsKeyId"],
                Some(DocKind::Processing) => {
                    &["ProcessingResources.ClusterConfig.VolumeKmsKeyId", "ProcessingOutputConfig.KmsKeyId"]
                }
                Some(DocKind::Transform) => {
                    &["TransformResources.VolumeKmsKeyId", "TransformOutput.KmsKeyId", "DataCaptureConfig.KmsKeyId"]
                }
                Some(DocKind::Endpoint) => &["DataCaptureConfig.KmsKeyId"],
                Some(DocKind::EndpointConfig) => {
                    &["KmsKeyId", "DataCaptureConfig.KmsKeyId", "AsyncInferenceConfig.OutputConfig.KmsKeyId"]
                }
                Some(DocKind::Notebook) => &["KmsKeyId"],
                Some(DocKind::Model) | None => &[],
            };
            for f in fields {
                if let Some(Value::String(k)) = path(doc, f) {
                    if !k.is_empty() && !arn::is_key_arn(k) {
                        out.insert(k.clone());
                    }
                }
            }
        }
        out.extend(self.bucket_default_keys.values().filter(|k| !arn::is_key_arn(k)).cloned());
        out
    }

    /// Names of the S3 buckets the documents' jobs read or write (inputs, outputs, checkpoints,
    /// data capture): the buckets whose encryption ([`Self::bucket_encryption`]) matters.
    pub fn bucket_names(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (_, doc) in &self.docs {
            let mut uris: Vec<Option<&Value>> = Vec::new();
            match detect(doc) {
                Some(DocKind::Training) => {
                    uris.extend([path(doc, "OutputDataConfig.S3OutputPath"), path(doc, "CheckpointConfig.S3Uri")]);
                    if let Some(Value::Array(chs)) = path(doc, "InputDataConfig") {
                        uris.extend(chs.iter().map(|c| path(c, "DataSource.S3DataSource.S3Uri")));
                    }
                }
                Some(DocKind::Processing) => {
                    if let Some(Value::Array(ins)) = path(doc, "ProcessingInputs") {
                        uris.extend(ins.iter().map(|c| path(c, "S3Input.S3Uri")));
                    }
                    if let Some(Value::Array(outs)) = path(doc, "ProcessingOutputConfig.Outputs") {
                        uris.extend(outs.iter().map(|c| path(c, "S3Output.S3Uri")));
                    }
                }
                Some(DocKind::Transform) => uris.extend([
                    path(doc, "TransformInput.DataSource.S3DataSource.S3Uri"),
                    path(doc, "TransformOutput.S3OutputPath"),
                    path(doc, "DataCaptureConfig.DestinationS3Uri"),
                ]),
                Some(DocKind::Endpoint) => uris.push(path(doc, "DataCaptureConfig.DestinationS3Uri")),
                Some(DocKind::EndpointConfig) => uris.extend([
                    path(doc, "DataCaptureConfig.DestinationS3Uri"),
                    path(doc, "AsyncInferenceConfig.OutputConfig.S3OutputPath"),
                ]),
                Some(DocKind::Model | DocKind::Notebook) | None => {}
            }
            for v in uris.into_iter().flatten() {
                if let Some(b) = v.as_str().and_then(s3_bucket) {
                    out.insert(b.to_owned());
                }
            }
        }
        out
    }

    /// Declares a bucket's default encryption (S3 `GetBucketEncryption`): its SSE-KMS key (key ARN,
    /// key ID or alias, resolved like the jobs' keys; the job role may use it within the job's
    /// window, `buckets[].keys`) and whether S3 Bucket Keys are on.
    pub fn bucket_encryption(
        &mut self,
        bucket: &str,
        default_key: Option<&str>,
        bucket_key_enabled: bool,
    ) -> &mut Self {
        let name = bucket.strip_prefix("arn:aws:s3:::").unwrap_or(bucket);
        let name = name.split('/').next().unwrap_or(name).to_owned();
        if bucket_key_enabled {
            self.bucket_keys.insert(name.clone());
        }
        if let Some(k) = default_key.filter(|k| !k.is_empty()) {
            self.bucket_default_keys.insert(name, k.to_owned());
        }
        self
    }

    /// Adds a parsed document under a name (its file name) used in errors.
    pub fn add(&mut self, name: impl Into<String>, doc: Value) -> &mut Self {
        self.docs.push((name.into(), doc));
        self
    }

    /// Parses and adds a document; an invalid JSON text is reported by `build`.
    pub fn add_json(&mut self, name: impl Into<String>, text: &str) -> &mut Self {
        let name = name.into();
        match serde_json::from_str::<Value>(text) {
            Ok(v) => {
                self.docs.push((name, v));
            }
            Err(e) => self.errors.push(DescribeError {
                document: name,
                field: "-".into(),
                problem: format!("invalid JSON at line {} column {}: {e}", e.line(), e.column()),
            }),
        }
        self
    }

    /// Declares that a bucket (name or `arn:aws:s3:::name`) uses S3 Bucket Keys.
    pub fn bucket_key_enabled(&mut self, bucket: &str) -> &mut Self {
        let name = bucket.strip_prefix("arn:aws:s3:::").unwrap_or(bucket);
        self.bucket_keys.insert(name.split('/').next().unwrap_or(name).to_owned());
        self
    }

    /// Builds the expectations, or every problem found.
    pub fn build(self) -> Result<Expectations, DescribeErrors> {
        let mut b = Build {
            resolver: self.resolver,
            bucket_keys: &self.bucket_keys,
            bucket_default_keys: &self.bucket_default_keys,
            errors: self.errors,
            aliases: BTreeMap::new(),
            models: BTreeMap::new(),
            configs: BTreeMap::new(),
        };
        let mut kinds = Vec::new();
        for (name, doc) in &self.docs {
            match detect(doc) {
                Some(DocKind::Model) => {
                    if let Some(m) = path(doc, "ModelName").and_then(Value::as_str) {
                        b.models.insert(m.to_owned(), (name.clone(), doc));
                    } else {
                        b.err(name, "ModelName", "missing");
                    }
                }
                Some(DocKind::EndpointConfig) => {
                    if let Some(c) = path(doc, "EndpointConfigName").and_then(Value::as_str) {
                        b.configs.insert(c.to_owned(), (name.clone(), doc));
                    } else {
                        b.err(name, "EndpointConfigName", "missing");
                    }
                }
                Some(k) => kinds.push((k, name, doc)),
                None => b.err(
                    name,
                    "-",
                    "not a recognised describe output (expected describe-training-job, \
                     describe-processing-job, describe-transform-job, describe-endpoint, \
                     describe-endpoint-config, describe-model or describe-notebook-instance)",
                ),
            }
        }
        let mut jobs = Vec::new();
        for (kind, name, doc) in kinds {
            if let Some(j) = b.job(kind, name, doc) {
                jobs.push(j);
            }
        }
        if !b.errors.is_empty() {
            return Err(DescribeErrors(b.errors));
        }
        jobs.sort_by(|a, b| a.arn.cmp(&b.arn));
        let e = Expectations {
            generated_at: Some(Utc::now()),
            source: self.source.clone().unwrap_or_else(|| Source {
                kind: "describe".into(),
                documents: self.docs.iter().map(|(n, _)| n.clone()).collect(),
                ..Default::default()
            }),
            jobs,
            aliases: b.aliases,
            ..Default::default()
        };
        e.validate().map_err(|errs| {
            DescribeErrors(
                errs.into_iter()
                    .map(|v| DescribeError { document: "expectations".into(), field: v.location, problem: v.problem })
                    .collect(),
            )
        })?;
        Ok(e)
    }
}

struct Build<'a> {
    resolver: &'a dyn KeyResolver,
    bucket_keys: &'a BTreeSet<String>,
    bucket_default_keys: &'a BTreeMap<String, String>,
    errors: Vec<DescribeError>,
    aliases: BTreeMap<String, String>,
    models: BTreeMap<String, (String, &'a Value)>,
    configs: BTreeMap<String, (String, &'a Value)>,
}

fn parse_time(v: &Value) -> Result<DateTime<Utc>, String> {
    match v {
        Value::Number(n) => {
            let secs = n.as_f64().ok_or("not a number")?;
            DateTime::from_timestamp_millis((secs * 1000.0).round() as i64)
                .ok_or_else(|| format!("epoch seconds out of range: {secs}"))
        }
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| format!("not an ISO 8601 timestamp {s:?}: {e}")),
        other => Err(format!("expected a timestamp, found {other}")),
    }
}

impl<'a> Build<'a> {
    fn err(&mut self, doc: &str, field: &str, problem: impl Into<String>) {
        self.errors.push(DescribeError { document: doc.to_owned(), field: field.to_owned(), problem: problem.into() });
    }

    fn string(&mut self, doc_name: &str, doc: &Value, field: &str) -> Option<String> {
        match path(doc, field) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(other) => {
                self.err(doc_name, field, format!("expected a string, found {other}"));
                None
            }
            None => {
                self.err(doc_name, field, "missing");
                None
            }
        }
    }

    fn opt_string(&mut self, doc_name: &str, doc: &Value, field: &str) -> Option<String> {
        match path(doc, field) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::String(_)) | None => None,
            Some(other) => {
                self.err(doc_name, field, format!("expected a string, found {other}"));
                None
            }
        }
    }

    fn time(&mut self, doc_name: &str, doc: &Value, field: &str) -> Option<DateTime<Utc>> {
        let v = path(doc, field)?;
        match parse_time(v) {
            Ok(t) => Some(t),
            Err(e) => {
                self.err(doc_name, field, e);
                None
            }
        }
    }

    /// Resolves a key reference found in `field` of a document describing `job_arn`.
    fn key(&mut self, doc_name: &str, field: &str, key_ref: &str, job_arn: &str) -> Option<String> {
        if arn::is_key_arn(key_ref) {
            return Some(key_ref.to_owned());
        }
        let resolved = self.resolver.resolve(key_ref).or_else(|| {
            // A bare key ID can only name a key of the job's own account and Region.
            let a = arn::parse(job_arn)?;
            looks_like_key_id(key_ref)
                .then(|| format!("arn:{}:kms:{}:{}:key/{key_ref}", a.partition, a.region, a.account))
        });
        match resolved {
            Some(k) if arn::is_key_arn(&k) => {
                if key_ref.starts_with("alias/") || arn::is_alias_arn(key_ref) {
                    self.aliases.insert(key_ref.to_owned(), k.clone());
                }
                Some(k)
            }
            Some(k) => {
                self.err(doc_name, field, format!("resolver returned {k:?} for {key_ref:?}, not a key ARN"));
                None
            }
            None => {
                self.err(doc_name, field, format!("cannot resolve key reference {key_ref:?} to a key ARN"));
                None
            }
        }
    }

    fn key_field(&mut self, doc_name: &str, doc: &Value, field: &str, job_arn: &str) -> Option<String> {
        let r = self.opt_string(doc_name, doc, field)?;
        self.key(doc_name, field, &r, job_arn)
    }

    fn buckets(&mut self, job_arn: &str, uris: &[Option<&Value>]) -> Vec<Bucket> {
        let partition = arn::parse(job_arn).map_or("aws", |a| a.partition).to_owned();
        let mut names = BTreeSet::new();
        for v in uris.iter().flatten() {
            if let Some(b) = v.as_str().and_then(s3_bucket) {
                names.insert(b.to_owned());
            }
        }
        let mut out = Vec::new();
        for n in names {
            let keys = match self.bucket_default_keys.get(&n) {
                Some(k) => {
                    let k = k.clone();
                    self.key(&format!("bucket {n}"), "default encryption key", &k, job_arn).into_iter().collect()
                }
                None => Vec::new(),
            };
            out.push(Bucket {
                bucket_key_enabled: self.bucket_keys.contains(&n),
                arn: format!("arn:{partition}:s3:::{n}"),
                keys,
            });
        }
        out
    }

    fn model_role(&mut self, doc_name: &str, field: &str, model: &str) -> Option<String> {
        let Some((mname, mdoc)) = self.models.get(model).cloned() else {
            self.err(
                doc_name,
                field,
                format!("the role comes from model {model:?}, but no describe-model output for it was given"),
            );
            return None;
        };
        self.string(&mname, mdoc, "ExecutionRoleArn")
    }

    fn window(
        &mut self,
        doc_name: &str,
        doc: &Value,
        start_f: &str,
        end_f: Option<&str>,
        status: Option<&str>,
    ) -> Option<Window> {
        let start = match self.time(doc_name, doc, start_f) {
            Some(t) => t,
            None => match self.time(doc_name, doc, "CreationTime") {
                Some(t) => t,
                None => {
                    self.err(doc_name, start_f, "missing, and no CreationTime either");
                    return None;
                }
            },
        };
        let mut end = end_f.and_then(|f| self.time(doc_name, doc, f));
        if end.is_none() && end_f.is_some() && matches!(status, Some("Completed" | "Failed" | "Stopped")) {
            end = self.time(doc_name, doc, "LastModifiedTime");
        }
        Some(Window { start, end })
    }

    fn job(&mut self, kind: DocKind, name: &str, doc: &Value) -> Option<Job> {
        let (jk, name_f, arn_f, status_f) = match kind {
            DocKind::Training => (JobKind::Training, "TrainingJobName", "TrainingJobArn", "TrainingJobStatus"),
            DocKind::Processing => {
                (JobKind::Processing, "ProcessingJobName", "ProcessingJobArn", "ProcessingJobStatus")
            }
            DocKind::Transform => (JobKind::Transform, "TransformJobName", "TransformJobArn", "TransformJobStatus"),
            DocKind::Endpoint => (JobKind::Endpoint, "EndpointName", "EndpointArn", "EndpointStatus"),
            DocKind::Notebook => {
                (JobKind::Notebook, "NotebookInstanceName", "NotebookInstanceArn", "NotebookInstanceStatus")
            }
            DocKind::Model | DocKind::EndpointConfig => return None,
        };
        let job_name = self.string(name, doc, name_f);
        let job_arn = self.string(name, doc, arn_f)?;
        let status = self.opt_string(name, doc, status_f);
        let mut keys = JobKeys::default();
        let (role, window, buckets) = match kind {
            DocKind::Training => {
                let role = self.string(name, doc, "RoleArn");
                keys.volume = self.key_field(name, doc, "ResourceConfig.VolumeKmsKeyId", &job_arn);
                keys.output = self.key_field(name, doc, "OutputDataConfig.KmsKeyId", &job_arn);
                let w = self.window(name, doc, "TrainingStartTime", Some("TrainingEndTime"), status.as_deref());
                let mut uris = vec![path(doc, "OutputDataConfig.S3OutputPath"), path(doc, "CheckpointConfig.S3Uri")];
                if let Some(Value::Array(chs)) = path(doc, "InputDataConfig") {
                    uris.extend(chs.iter().map(|c| path(c, "DataSource.S3DataSource.S3Uri")));
                }
                (role, w, self.buckets(&job_arn, &uris))
            }
            DocKind::Processing => {
                let role = self.string(name, doc, "RoleArn");
                keys.volume = self.key_field(name, doc, "ProcessingResources.ClusterConfig.VolumeKmsKeyId", &job_arn);
                keys.output = self.key_field(name, doc, "ProcessingOutputConfig.KmsKeyId", &job_arn);
                let w = self.window(name, doc, "ProcessingStartTime", Some("ProcessingEndTime"), status.as_deref());
                let mut uris = Vec::new();
                if let Some(Value::Array(ins)) = path(doc, "ProcessingInputs") {
                    uris.extend(ins.iter().map(|c| path(c, "S3Input.S3Uri")));
                }
                if let Some(Value::Array(outs)) = path(doc, "ProcessingOutputConfig.Outputs") {
                    uris.extend(outs.iter().map(|c| path(c, "S3Output.S3Uri")));
                }
                (role, w, self.buckets(&job_arn, &uris))
            }
            DocKind::Transform => {
                let role = match self.string(name, doc, "ModelName") {
                    Some(m) => self.model_role(name, "ModelName", &m),
                    None => None,
                };
                keys.volume = self.key_field(name, doc, "TransformResources.VolumeKmsKeyId", &job_arn);
                keys.output = self.key_field(name, doc, "TransformOutput.KmsKeyId", &job_arn);
                keys.data_capture = self.key_field(name, doc, "DataCaptureConfig.KmsKeyId", &job_arn);
                let w = self.window(name, doc, "TransformStartTime", Some("TransformEndTime"), status.as_deref());
                let uris = [
                    path(doc, "TransformInput.DataSource.S3DataSource.S3Uri"),
                    path(doc, "TransformOutput.S3OutputPath"),
                    path(doc, "DataCaptureConfig.DestinationS3Uri"),
                ];
                (role, w, self.buckets(&job_arn, &uris))
            }
            DocKind::Endpoint => {
                let cfg_name = self.string(name, doc, "EndpointConfigName")?;
                let Some((cname, cdoc)) = self.configs.get(&cfg_name).cloned() else {
                    self.err(
                        name,
                        "EndpointConfigName",
                        format!("no describe-endpoint-config output for {cfg_name:?} was given"),
                    );
                    return None;
                };
                keys.endpoint = self.key_field(&cname, cdoc, "KmsKeyId", &job_arn);
                keys.data_capture = self
                    .key_field(&cname, cdoc, "DataCaptureConfig.KmsKeyId", &job_arn)
                    .or_else(|| self.key_field(name, doc, "DataCaptureConfig.KmsKeyId", &job_arn));
                keys.output = self.key_field(&cname, cdoc, "AsyncInferenceConfig.OutputConfig.KmsKeyId", &job_arn);
                // Role: the variants' models; else the config's own (inference components).
                let mut roles = BTreeSet::new();
                let mut models = Vec::new();
                if let Some(Value::Array(vs)) = path(cdoc, "ProductionVariants") {
                    for (i, v) in vs.iter().enumerate() {
                        if let Some(m) = path(v, "ModelName").and_then(Value::as_str) {
                            models.push((format!("ProductionVariants[{i}].ModelName"), m.to_owned()));
                        }
                    }
                }
                for (field, m) in &models {
                    if let Some(r) = self.model_role(&cname, field, m) {
                        roles.insert(r);
                    }
                }
                if models.is_empty() {
                    if let Some(r) = self.opt_string(&cname, cdoc, "ExecutionRoleArn") {
                        roles.insert(r);
                    }
                }
                let role = match roles.len() {
                    1 => roles.into_iter().next(),
                    0 => {
                        if models.is_empty() {
                            self.err(
                                &cname,
                                "ProductionVariants",
                                "no variant names a model and there is no ExecutionRoleArn",
                            );
                        }
                        None
                    }
                    _ => {
                        self.err(
                            &cname,
                            "ProductionVariants",
                            format!("variants' models use different execution roles ({roles:?}); one role per endpoint is supported"),
                        );
                        None
                    }
                };
                let w = self.window(name, doc, "CreationTime", None, None);
                let uris = [
                    path(cdoc, "DataCaptureConfig.DestinationS3Uri"),
                    path(doc, "DataCaptureConfig.DestinationS3Uri"),
                    path(cdoc, "AsyncInferenceConfig.OutputConfig.S3OutputPath"),
                ];
                (role, w, self.buckets(&job_arn, &uris))
            }
            DocKind::Notebook => {
                let role = self.string(name, doc, "RoleArn");
                keys.notebook = self.key_field(name, doc, "KmsKeyId", &job_arn);
                let w = self.window(name, doc, "CreationTime", None, None);
                (role, w, Vec::new())
            }
            DocKind::Model | DocKind::EndpointConfig => return None,
        };
        Some(Job { kind: jk, name: job_name?, arn: job_arn, role_arn: role?, keys, window: window?, buckets, status })
    }
}

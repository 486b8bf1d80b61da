//! What SageMaker says the jobs were configured to do, fetched live: the raw material of
//! `kms-audit expectations --from-sagemaker` and of the scheduled reconcile Lambda.
//!
//! No business rules here: [`collect`] lists and describes training, processing and transform
//! jobs, endpoints (with their endpoint configs and the configs' models), transform jobs'
//! models and notebook instances, and returns each response as the JSON document the AWS CLI
//! prints for the matching `aws sagemaker describe-*` call (the fields kms-audit reads; times
//! as ISO 8601). `reconcile::ExpectationsBuilder` turns those documents into expectations —
//! exactly as it does for saved describe outputs (`--from-describe`), so both paths agree.
//! [`resolve_keys`] answers the builder's key references (IDs, aliases) with KMS `DescribeKey`,
//! and [`bucket_encryption`] reads the default encryption (SSE-KMS key, S3 Bucket Keys) of the
//! buckets the jobs use with S3 `GetBucketEncryption`.
//!
//! Lists are paginated; describes run `concurrency` at a time (the SDK's standard retry mode
//! absorbs SageMaker's throttling). `--since`: jobs are listed with `LastModifiedTimeAfter`
//! (a job that ran after `since` was modified after it); endpoints and notebook instances are
//! always listed whole, since a long-lived one is active whatever its age.
//!
//! Resources that vanish or cannot be described (a transform job whose model was deleted, an
//! endpoint whose config was deleted, a job deleted between list and describe) are reported in
//! [`Collected::skipped`] with the reason, never silently dropped.

use std::collections::{BTreeMap, BTreeSet};

use aws_config::SdkConfig;
use aws_sdk_sagemaker::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::date_time::Format;
use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use serde_json::{json, Map, Value};

pub use aws_sdk_sagemaker::Client;

use crate::config::classify;

/// A SageMaker, KMS or S3 call that failed as a whole.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{op}: {message}")]
pub struct SageMakerError {
    /// The operation (`ListTrainingJobs`, `DescribeEndpoint e1`, …).
    pub op: String,
    pub message: String,
    /// Throttling, 5xx, timeouts: a later retry can succeed.
    pub retryable: bool,
}

fn sdk_error<E>(op: impl Into<String>, e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> SageMakerError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let c = classify(e);
    SageMakerError { op: op.into(), message: c.message, retryable: c.kind == lake::StoreErrorKind::Transient }
}

/// Whether a describe failure means "it does not exist (any more)".
fn is_not_found<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> bool
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = e.code().unwrap_or_default();
    let msg = e.message().unwrap_or_default().to_ascii_lowercase();
    code == "ResourceNotFound"
        || code == "ResourceNotFoundException"
        || (code == "ValidationException" && (msg.contains("could not find") || msg.contains("does not exist")))
}

/// What to list.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    /// Only jobs modified after this (endpoints and notebook instances: all).
    pub since: Option<DateTime<Utc>>,
    /// Describe calls in flight at once.
    pub concurrency: usize,
    /// Items per List* page (`None`: the service's default, 10 for most SageMaker lists).
    pub page_size: Option<i32>,
}

impl Default for CollectOptions {
    fn default() -> Self {
        CollectOptions { since: None, concurrency: 8, page_size: None }
    }
}

/// Describe documents, named `sagemaker:<resource-type>/<name>`.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    pub documents: Vec<(String, Value)>,
    /// Resources left out, each with the reason (`transform-job/x: model m no longer exists`).
    pub skipped: Vec<String>,
    /// Counts by resource type (`training-job` → n), for the summary.
    pub counts: BTreeMap<&'static str, usize>,
}

/// The clients [`collect`], [`resolve_keys`] and [`bucket_encryption`] need.
#[derive(Debug, Clone)]
pub struct SageMakerSource {
    pub sagemaker: Client,
    pub kms: aws_sdk_kms::Client,
    pub s3: aws_sdk_s3::Client,
}

impl SageMakerSource {
    /// Clients from `config`, for `region` when given (SageMaker and KMS are regional). S3 uses
    /// path-style addressing when [`crate::config::force_path_style`] says so.
    pub fn from_config(config: &SdkConfig, region: Option<&str>) -> Self {
        let mut sm = aws_sdk_sagemaker::config::Builder::from(config);
        let mut kms = aws_sdk_kms::config::Builder::from(config);
        if let Some(r) = region {
            sm = sm.region(aws_sdk_sagemaker::config::Region::new(r.to_owned()));
            kms = kms.region(aws_sdk_kms::config::Region::new(r.to_owned()));
        }
        SageMakerSource {
            sagemaker: Client::from_conf(sm.build()),
            kms: aws_sdk_kms::Client::from_conf(kms.build()),
            s3: crate::config::s3_client(config),
        }
    }

    /// Like [`Self::from_config`] with path-style S3 forced on or off (tests).
    pub fn from_config_path_style(config: &SdkConfig, path_style: bool) -> Self {
        let mut s = SageMakerSource::from_config(config, None);
        s.s3 = crate::config::s3_client_path_style(config, path_style);
        s
    }

    /// The Region of the SageMaker client.
    pub fn region(&self) -> Option<String> {
        self.sagemaker.config().region().map(|r| r.to_string())
    }
}

/// ISO 8601 (`2025-03-14T09:03:12.123Z`), as AWS CLI v2 prints times.
fn time(t: Option<&aws_smithy_types::DateTime>) -> Value {
    t.and_then(|t| t.fmt(Format::DateTime).ok()).map_or(Value::Null, Value::String)
}

fn s(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |v| Value::String(v.to_owned()))
}

fn smithy(t: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_millis(t.timestamp_millis())
}

/// Removes `null` members (the CLI omits absent fields).
fn compact(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let m: Map<String, Value> =
                m.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, compact(v))).collect();
            Value::Object(m)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(compact).collect()),
        other => other,
    }
}

/// `DescribeTrainingJob` as `aws sagemaker describe-training-job` prints it (the fields used).
pub fn training_json(o: &aws_sdk_sagemaker::operation::describe_training_job::DescribeTrainingJobOutput) -> Value {
    let channels: Vec<Value> = o
        .input_data_config()
        .iter()
        .map(|c| {
            json!({
                "ChannelName": c.channel_name(),
                "DataSource": { "S3DataSource": {
                    "S3Uri": s(c.data_source().and_then(|d| d.s3_data_source()).and_then(|d| d.s3_uri())) } }
            })
        })
        .collect();
    compact(json!({
        "TrainingJobName": s(o.training_job_name()),
        "TrainingJobArn": s(o.training_job_arn()),
        "TrainingJobStatus": s(o.training_job_status().map(|x| x.as_str())),
        "RoleArn": s(o.role_arn()),
        "InputDataConfig": channels,
        "OutputDataConfig": o.output_data_config().map(|c| json!({
            "KmsKeyId": s(c.kms_key_id()), "S3OutputPath": s(c.s3_output_path()) })),
        "ResourceConfig": o.resource_config().map(|c| json!({ "VolumeKmsKeyId": s(c.volume_kms_key_id()) })),
        "CheckpointConfig": o.checkpoint_config().map(|c| json!({ "S3Uri": s(c.s3_uri()) })),
        "CreationTime": time(o.creation_time()),
        "TrainingStartTime": time(o.training_start_time()),
        "TrainingEndTime": time(o.training_end_time()),
        "LastModifiedTime": time(o.last_modified_time()),
    }))
}

/// `DescribeProcessingJob` as the CLI prints it (the fields used).
pub fn processing_json(
    o: &aws_sdk_sagemaker::operation::describe_processing_job::DescribeProcessingJobOutput,
) -> Value {
    let inputs: Vec<Value> = o
        .processing_inputs()
        .iter()
        .map(
            |i| json!({ "InputName": i.input_name(), "S3Input": i.s3_input().map(|x| json!({ "S3Uri": x.s3_uri() })) }),
        )
        .collect();
    compact(json!({
        "ProcessingJobName": s(o.processing_job_name()),
        "ProcessingJobArn": s(o.processing_job_arn()),
        "ProcessingJobStatus": s(o.processing_job_status().map(|x| x.as_str())),
        "RoleArn": s(o.role_arn()),
        "ProcessingInputs": inputs,
        "ProcessingOutputConfig": o.processing_output_config().map(|c| json!({
            "KmsKeyId": s(c.kms_key_id()),
            "Outputs": c.outputs().iter().map(|x| json!({
                "OutputName": x.output_name(),
                "S3Output": x.s3_output().map(|y| json!({ "S3Uri": y.s3_uri() })) })).collect::<Vec<_>>(),
        })),
        "ProcessingResources": o.processing_resources().and_then(|r| r.cluster_config()).map(|c| json!({
            "ClusterConfig": { "VolumeKmsKeyId": s(c.volume_kms_key_id()) } })),
        "CreationTime": time(o.creation_time()),
        "ProcessingStartTime": time(o.processing_start_time()),
        "ProcessingEndTime": time(o.processing_end_time()),
        "LastModifiedTime": time(o.last_modified_time()),
    }))
}

/// `DescribeTransformJob` as the CLI prints it (the fields used).
pub fn transform_json(o: &aws_sdk_sagemaker::operation::describe_transform_job::DescribeTransformJobOutput) -> Value {
    compact(json!({
        "TransformJobName": s(o.transform_job_name()),
        "TransformJobArn": s(o.transform_job_arn()),
        "TransformJobStatus": s(o.transform_job_status().map(|x| x.as_str())),
        "ModelName": s(o.model_name()),
        "TransformInput": o.transform_input().and_then(|i| i.data_source()).and_then(|d| d.s3_data_source()).map(|d| json!({
            "DataSource": { "S3DataSource": { "S3Uri": d.s3_uri() } } })),
        "TransformOutput": o.transform_output().map(|x| json!({
            "S3OutputPath": s(x.s3_output_path()), "KmsKeyId": s(x.kms_key_id()) })),
        "DataCaptureConfig": o.data_capture_config().map(|x| json!({
            "DestinationS3Uri": s(x.destination_s3_uri()), "KmsKeyId": s(x.kms_key_id()) })),
        "TransformResources": o.transform_resources().map(|x| json!({ "VolumeKmsKeyId": s(x.volume_kms_key_id()) })),
        "CreationTime": time(o.creation_time()),
        "TransformStartTime": time(o.transform_start_time()),
        "TransformEndTime": time(o.transform_end_time()),
    }))
}

/// `DescribeEndpoint` as the CLI prints it (the fields used).
pub fn endpoint_json(o: &aws_sdk_sagemaker::operation::describe_endpoint::DescribeEndpointOutput) -> Value {
    compact(json!({
        "EndpointName": s(o.endpoint_name()),
        "EndpointArn": s(o.endpoint_arn()),
        "EndpointConfigName": s(o.endpoint_config_name()),
        "EndpointStatus": s(o.endpoint_status().map(|x| x.as_str())),
        "DataCaptureConfig": o.data_capture_config().map(|x| json!({
            "DestinationS3Uri": s(x.destination_s3_uri()), "KmsKeyId": s(x.kms_key_id()) })),
        "CreationTime": time(o.creation_time()),
        "LastModifiedTime": time(o.last_modified_time()),
    }))
}

/// `DescribeEndpointConfig` as the CLI prints it (the fields used).
pub fn endpoint_config_json(
    o: &aws_sdk_sagemaker::operation::describe_endpoint_config::DescribeEndpointConfigOutput,
) -> Value {
    compact(json!({
        "EndpointConfigName": s(o.endpoint_config_name()),
        "EndpointConfigArn": s(o.endpoint_config_arn()),
        "KmsKeyId": s(o.kms_key_id()),
        "ExecutionRoleArn": s(o.execution_role_arn()),
        "ProductionVariants": o.production_variants().iter().map(|v| json!({
            "VariantName": v.variant_name(), "ModelName": s(v.model_name()) })).collect::<Vec<_>>(),
        "DataCaptureConfig": o.data_capture_config().map(|x| json!({
            "DestinationS3Uri": s(x.destination_s3_uri()), "KmsKeyId": s(x.kms_key_id()) })),
        "AsyncInferenceConfig": o.async_inference_config().and_then(|a| a.output_config()).map(|x| json!({
            "OutputConfig": { "KmsKeyId": s(x.kms_key_id()), "S3OutputPath": s(x.s3_output_path()) } })),
        "CreationTime": time(o.creation_time()),
    }))
}

/// `DescribeModel` as the CLI prints it (the fields used).
pub fn model_json(o: &aws_sdk_sagemaker::operation::describe_model::DescribeModelOutput) -> Value {
    compact(json!({
        "ModelName": s(o.model_name()),
        "ModelArn": s(o.model_arn()),
        "ExecutionRoleArn": s(o.execution_role_arn()),
        "CreationTime": time(o.creation_time()),
    }))
}

/// `DescribeNotebookInstance` as the CLI prints it (the fields used).
pub fn notebook_json(
    o: &aws_sdk_sagemaker::operation::describe_notebook_instance::DescribeNotebookInstanceOutput,
) -> Value {
    compact(json!({
        "NotebookInstanceName": s(o.notebook_instance_name()),
        "NotebookInstanceArn": s(o.notebook_instance_arn()),
        "NotebookInstanceStatus": s(o.notebook_instance_status().map(|x| x.as_str())),
        "RoleArn": s(o.role_arn()),
        "KmsKeyId": s(o.kms_key_id()),
        "CreationTime": time(o.creation_time()),
        "LastModifiedTime": time(o.last_modified_time()),
    }))
}

/// Outcome of one describe: the document, or "gone", or a failure.
enum Described {
    Doc(Value),
    Gone(String),
}

async fn describe_all<F, Fut>(
    names: Vec<String>,
    concurrency: usize,
    f: F,
) -> Result<Vec<(String, Described)>, SageMakerError>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<Described, SageMakerError>>,
{
    let results: Vec<(String, Result<Described, SageMakerError>)> = stream::iter(names)
        .map(|n| {
            let fut = f(n.clone());
            async move { (n, fut.await) }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    results.into_iter().map(|(n, r)| r.map(|d| (n, d))).collect()
}

macro_rules! describe_fn {
    ($client:expr, $op:literal, $call:ident, $setter:ident, $to_json:path) => {{
        let client = $client.clone();
        move |name: String| {
            let client = client.clone();
            async move {
                match client.$call().$setter(&name).send().await {
                    Ok(o) => Ok(Described::Doc($to_json(&o))),
                    Err(e) if is_not_found(&e) => Ok(Described::Gone(format!("{}: {}", $op, crate::config::chain(&e)))),
                    Err(e) => Err(sdk_error(format!("{} {name}", $op), &e)),
                }
            }
        }
    }};
}

/// Every name a List* request's paginator yields (all pages).
macro_rules! list_names {
    ($request:expr, $op:literal, $name:ident) => {{
        let mut names = Vec::new();
        let mut pages = $request.into_paginator().items().send();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| sdk_error($op, &e))?;
            names.extend(item.$name().map(str::to_owned));
        }
        names
    }};
}

/// Lists and describes everything (see the module docs).
pub async fn collect(client: &Client, opts: &CollectOptions) -> Result<Collected, SageMakerError> {
    let since = opts.since.map(smithy);
    let n = opts.concurrency;
    let mut out = Collected::default();

    // Training jobs.
    let names = list_names!(
        client.list_training_jobs().set_max_results(opts.page_size).set_last_modified_time_after(since),
        "ListTrainingJobs",
        training_job_name
    );
    let r = describe_all(
        names,
        n,
        describe_fn!(client, "DescribeTrainingJob", describe_training_job, training_job_name, training_json),
    )
    .await?;
    push(&mut out, "training-job", r);

    // Processing jobs.
    let names = list_names!(
        client.list_processing_jobs().set_max_results(opts.page_size).set_last_modified_time_after(since),
        "ListProcessingJobs",
        processing_job_name
    );
    let r = describe_all(
        names,
        n,
        describe_fn!(client, "DescribeProcessingJob", describe_processing_job, processing_job_name, processing_json),
    )
    .await?;
    push(&mut out, "processing-job", r);

    // Transform jobs (their role is their model's).
    let names = list_names!(
        client.list_transform_jobs().set_max_results(opts.page_size).set_last_modified_time_after(since),
        "ListTransformJobs",
        transform_job_name
    );
    let r = describe_all(
        names,
        n,
        describe_fn!(client, "DescribeTransformJob", describe_transform_job, transform_job_name, transform_json),
    )
    .await?;
    let mut transform_docs: Vec<(String, Value)> = Vec::new();
    for (name, d) in r {
        match d {
            Described::Doc(v) => transform_docs.push((name, v)),
            Described::Gone(why) => out.skipped.push(format!("transform-job/{name}: no longer exists ({why})")),
        }
    }

    // Endpoints, their configs, and the configs' models.
    let names = list_names!(client.list_endpoints().set_max_results(opts.page_size), "ListEndpoints", endpoint_name);
    let r = describe_all(
        names,
        n,
        describe_fn!(client, "DescribeEndpoint", describe_endpoint, endpoint_name, endpoint_json),
    )
    .await?;
    let mut endpoint_docs: Vec<(String, Value)> = Vec::new();
    for (name, d) in r {
        match d {
            Described::Doc(v) => endpoint_docs.push((name, v)),
            Described::Gone(why) => out.skipped.push(format!("endpoint/{name}: no longer exists ({why})")),
        }
    }
    let config_names: BTreeSet<String> = endpoint_docs
        .iter()
        .filter_map(|(_, d)| d.get("EndpointConfigName").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let r = describe_all(
        config_names.into_iter().collect(),
        n,
        describe_fn!(
            client,
            "DescribeEndpointConfig",
            describe_endpoint_config,
            endpoint_config_name,
            endpoint_config_json
        ),
    )
    .await?;
    let mut configs: BTreeMap<String, Value> = BTreeMap::new();
    let mut missing_configs = BTreeSet::new();
    for (name, d) in r {
        match d {
            Described::Doc(v) => {
                configs.insert(name, v);
            }
            Described::Gone(_) => {
                missing_configs.insert(name);
            }
        }
    }
    let mut model_names: BTreeSet<String> = transform_docs
        .iter()
        .filter_map(|(_, d)| d.get("ModelName").and_then(Value::as_str).map(str::to_owned))
        .collect();
    for c in configs.values() {
        model_names.extend(config_models(c));
    }
    let r = describe_all(
        model_names.into_iter().collect(),
        n,
        describe_fn!(client, "DescribeModel", describe_model, model_name, model_json),
    )
    .await?;
    let mut models: BTreeMap<String, Value> = BTreeMap::new();
    for (name, d) in r {
        if let Described::Doc(v) = d {
            models.insert(name, v);
        }
    }
    let mut used_models = BTreeSet::new();
    for (name, d) in transform_docs {
        let model = d.get("ModelName").and_then(Value::as_str).unwrap_or_default().to_owned();
        if models.contains_key(&model) {
            used_models.insert(model);
            *out.counts.entry("transform-job").or_default() += 1;
            out.documents.push((format!("sagemaker:transform-job/{name}"), d));
        } else {
            out.skipped.push(format!(
                "transform-job/{name}: its model {model:?} no longer exists, so its execution role is unknown"
            ));
        }
    }
    let mut used_configs = BTreeSet::new();
    for (name, d) in endpoint_docs {
        let cfg = d.get("EndpointConfigName").and_then(Value::as_str).unwrap_or_default().to_owned();
        let Some(c) = configs.get(&cfg) else {
            let why = if missing_configs.contains(&cfg) { "was deleted" } else { "could not be described" };
            out.skipped.push(format!("endpoint/{name}: its endpoint config {cfg:?} {why}, so its keys are unknown"));
            continue;
        };
        let missing: Vec<String> = config_models(c).into_iter().filter(|m| !models.contains_key(m)).collect();
        if !missing.is_empty() {
            out.skipped.push(format!(
                "endpoint/{name}: model(s) {missing:?} of its config no longer exist, so its execution role is unknown"
            ));
            continue;
        }
        used_models.extend(config_models(c));
        used_configs.insert(cfg);
        *out.counts.entry("endpoint").or_default() += 1;
        out.documents.push((format!("sagemaker:endpoint/{name}"), d));
    }
    for (name, c) in configs {
        if used_configs.contains(&name) {
            *out.counts.entry("endpoint-config").or_default() += 1;
            out.documents.push((format!("sagemaker:endpoint-config/{name}"), c));
        }
    }
    for (name, m) in models {
        if used_models.contains(&name) {
            *out.counts.entry("model").or_default() += 1;
            out.documents.push((format!("sagemaker:model/{name}"), m));
        }
    }

    // Notebook instances.
    let names = list_names!(
        client.list_notebook_instances().set_max_results(opts.page_size),
        "ListNotebookInstances",
        notebook_instance_name
    );
    let r = describe_all(
        names,
        n,
        describe_fn!(
            client,
            "DescribeNotebookInstance",
            describe_notebook_instance,
            notebook_instance_name,
            notebook_json
        ),
    )
    .await?;
    push(&mut out, "notebook-instance", r);
    Ok(out)
}

fn push(out: &mut Collected, kind: &'static str, results: Vec<(String, Described)>) {
    for (name, d) in results {
        match d {
            Described::Doc(v) => {
                *out.counts.entry(kind).or_default() += 1;
                out.documents.push((format!("sagemaker:{kind}/{name}"), v));
            }
            Described::Gone(why) => out.skipped.push(format!("{kind}/{name}: no longer exists ({why})")),
        }
    }
}

fn config_models(c: &Value) -> Vec<String> {
    c.get("ProductionVariants")
        .and_then(Value::as_array)
        .map(|vs| vs.iter().filter_map(|v| v.get("ModelName").and_then(Value::as_str).map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Key references resolved through KMS `DescribeKey`.
#[derive(Debug, Clone, Default)]
pub struct KeyResolution {
    /// reference (key ID, `alias/…`, alias ARN) → key ARN
    pub resolved: BTreeMap<String, String>,
    /// reference → why it could not be resolved (`NotFoundException: …`)
    pub failed: BTreeMap<String, String>,
}

/// Resolves key references to key ARNs with `DescribeKey` (which accepts key IDs, key ARNs,
/// alias names and alias ARNs). A reference KMS does not know, or the caller may not describe,
/// lands in `failed`; transient failures are errors.
pub async fn resolve_keys(
    kms: &aws_sdk_kms::Client,
    refs: impl IntoIterator<Item = String>,
    concurrency: usize,
) -> Result<KeyResolution, SageMakerError> {
    /// (reference, key ARN or (why, retryable))
    type Answer = (String, Result<String, (String, bool)>);
    let results: Vec<Answer> = stream::iter(refs)
        .map(|r| {
            let kms = kms.clone();
            async move {
                let res = match kms.describe_key().key_id(&r).send().await {
                    Ok(o) => match o.key_metadata().and_then(|m| m.arn()) {
                        Some(arn) => Ok(arn.to_owned()),
                        None => Err(("DescribeKey returned no key ARN".to_owned(), false)),
                    },
                    Err(e) => {
                        let c = classify(&e);
                        Err((c.message, c.kind == lake::StoreErrorKind::Transient))
                    }
                };
                (r, res)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut out = KeyResolution::default();
    for (r, res) in results {
        match res {
            Ok(arn) => {
                out.resolved.insert(r, arn);
            }
            Err((message, true)) => {
                return Err(SageMakerError { op: format!("DescribeKey {r}"), message, retryable: true })
            }
            Err((message, false)) => {
                out.failed.insert(r, message);
            }
        }
    }
    Ok(out)
}

/// A bucket's default encryption, as `GetBucketEncryption` reports its first rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketEncryption {
    /// `aws:kms`, `aws:kms:dsse`, `AES256`.
    pub sse_algorithm: Option<String>,
    /// `KMSMasterKeyID` as configured (key ARN, key ID, alias), for SSE-KMS.
    pub kms_key: Option<String>,
    /// S3 Bucket Keys on (meaningful for SSE-KMS only).
    pub bucket_key_enabled: bool,
}

impl BucketEncryption {
    /// SSE-KMS (or DSSE-KMS) by default.
    pub fn is_kms(&self) -> bool {
        self.sse_algorithm.as_deref().is_some_and(|a| a.starts_with("aws:kms"))
    }
}

/// Default encryption of each bucket. Buckets that cannot be read (another account's, access
/// denied, deleted) land in the second map with the reason; their jobs are then treated as not
/// using Bucket Keys (the conservative choice: `missing-usage` may fire).
pub async fn bucket_encryption(
    s3: &aws_sdk_s3::Client,
    buckets: impl IntoIterator<Item = String>,
    concurrency: usize,
) -> (BTreeMap<String, BucketEncryption>, BTreeMap<String, String>) {
    let results: Vec<(String, Result<BucketEncryption, String>)> = stream::iter(buckets)
        .map(|b| {
            let s3 = s3.clone();
            async move {
                let res = match s3.get_bucket_encryption().bucket(&b).send().await {
                    Ok(o) => {
                        let rule = o.server_side_encryption_configuration().and_then(|c| c.rules().first());
                        let default = rule.and_then(|r| r.apply_server_side_encryption_by_default());
                        Ok(BucketEncryption {
                            sse_algorithm: default.map(|d| d.sse_algorithm().as_str().to_owned()),
                            kms_key: default.and_then(|d| d.kms_master_key_id()).map(str::to_owned),
                            bucket_key_enabled: rule.and_then(|r| r.bucket_key_enabled()).unwrap_or(false),
                        })
                    }
                    Err(e) if e.code() == Some("ServerSideEncryptionConfigurationNotFoundError") => {
                        Ok(BucketEncryption::default())
                    }
                    Err(e) => Err(classify(&e).message),
                };
                (b, res)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut ok = BTreeMap::new();
    let mut failed = BTreeMap::new();
    for (b, r) in results {
        match r {
            Ok(e) => {
                ok.insert(b, e);
            }
            Err(why) => {
                failed.insert(b, why);
            }
        }
    }
    (ok, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_drops_nulls_deeply() {
        let v = compact(json!({"a": null, "b": {"c": null, "d": 1}, "e": [{"f": null}]}));
        assert_eq!(v, json!({"b": {"d": 1}, "e": [{}]}));
    }

    #[test]
    fn times_are_iso() {
        let t = aws_smithy_types::DateTime::from_millis(1_741_942_992_123);
        assert_eq!(time(Some(&t)), json!("2025-03-14T09:03:12.123Z"));
        assert_eq!(time(None), Value::Null);
    }
}

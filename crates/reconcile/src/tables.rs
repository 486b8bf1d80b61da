//! Expectations flattened into the tables the Athena SQL joins against
//! (`queries/reconcile/expectations_ddl.sql`). The caller writes these batches as Parquet under
//! `LAKE/expectations/`, `LAKE/expectations_allow/` and `LAKE/expectations_keys/`.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int32Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::expectations::Expectations;
use crate::finding::Finding;

/// One row of `expectations`: a (job, key, purpose); a job with no key has one row with
/// `key_arn`/`purpose` null (it still defines an active window for its role).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectationRow {
    pub job_arn: String,
    pub job_name: String,
    pub job_kind: String,
    pub role_arn: String,
    pub key_arn: Option<String>,
    pub purpose: Option<String>,
    pub window_start: DateTime<Utc>,
    pub window_end: Option<DateTime<Utc>>,
    pub status: Option<String>,
    /// The job has buckets and all use S3 Bucket Keys.
    pub all_buckets_bucket_key: bool,
}

/// One row of `expectations_allow`: an (entry, key, operation); `*` stays `*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowRow {
    pub entry: i32,
    pub principal: String,
    pub key_arn: String,
    pub operation: String,
    pub reason: String,
}

/// One row of `expectations_keys`: `kind` `scope` (a key under audit) or `alias` (`alias` → key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRow {
    pub kind: String,
    pub key_arn: String,
    pub alias: Option<String>,
}

/// Rows of `expectations`, in job order then purpose order.
pub fn expectation_rows(e: &Expectations) -> Vec<ExpectationRow> {
    let mut out = Vec::new();
    for j in &e.jobs {
        let row = |key: Option<&str>, purpose: Option<&str>| ExpectationRow {
            job_arn: j.arn.clone(),
            job_name: j.name.clone(),
            job_kind: j.kind.as_str().to_owned(),
            role_arn: j.role_arn.clone(),
            key_arn: key.map(str::to_owned),
            purpose: purpose.map(str::to_owned),
            window_start: j.window.start,
            window_end: j.window.end,
            status: j.status.clone(),
            all_buckets_bucket_key: j.all_buckets_use_bucket_keys(),
        };
        let keys = j.expected_keys();
        if keys.is_empty() {
            out.push(row(None, None));
        }
        for (p, k) in keys {
            out.push(row(Some(k), Some(p.as_str())));
        }
    }
    out
}

/// Rows of `expectations_allow`.
pub fn allow_rows(e: &Expectations) -> Vec<AllowRow> {
    let mut out = Vec::new();
    for (i, a) in e.allow.iter().enumerate() {
        for k in &a.keys {
            for o in &a.operations {
                out.push(AllowRow {
                    entry: i as i32,
                    principal: a.principal.clone(),
                    key_arn: k.clone(),
                    operation: o.clone(),
                    reason: a.reason.clone(),
                });
            }
        }
    }
    out
}

/// Rows of `expectations_keys`.
pub fn key_rows(e: &Expectations) -> Vec<KeyRow> {
    let mut out: Vec<KeyRow> =
        e.keys.iter().map(|k| KeyRow { kind: "scope".into(), key_arn: k.clone(), alias: None }).collect();
    for (alias, k) in e.alias_map() {
        out.push(KeyRow { kind: "alias".into(), key_arn: k, alias: Some(alias) });
    }
    out
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// Schema of `expectations`.
pub fn expectations_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("job_arn", DataType::Utf8, false),
        Field::new("job_name", DataType::Utf8, false),
        Field::new("job_kind", DataType::Utf8, false),
        Field::new("role_arn", DataType::Utf8, false),
        Field::new("key_arn", DataType::Utf8, true),
        Field::new("purpose", DataType::Utf8, true),
        Field::new("window_start", ts(), false),
        Field::new("window_end", ts(), true),
        Field::new("status", DataType::Utf8, true),
        Field::new("all_buckets_bucket_key", DataType::Boolean, false),
    ]))
}

/// Schema of `expectations_allow`.
pub fn allow_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("entry", DataType::Int32, false),
        Field::new("principal", DataType::Utf8, false),
        Field::new("key_arn", DataType::Utf8, false),
        Field::new("operation", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
    ]))
}

/// Schema of `expectations_keys`.
pub fn keys_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("kind", DataType::Utf8, false),
        Field::new("key_arn", DataType::Utf8, false),
        Field::new("alias", DataType::Utf8, true),
    ]))
}

fn strs<'a>(it: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(it.collect::<StringArray>())
}

/// `expectations` as one batch.
pub fn expectations_batch(e: &Expectations) -> RecordBatch {
    let rows = expectation_rows(e);
    let cols: Vec<ArrayRef> = vec![
        strs(rows.iter().map(|r| Some(r.job_arn.as_str()))),
        strs(rows.iter().map(|r| Some(r.job_name.as_str()))),
        strs(rows.iter().map(|r| Some(r.job_kind.as_str()))),
        strs(rows.iter().map(|r| Some(r.role_arn.as_str()))),
        strs(rows.iter().map(|r| r.key_arn.as_deref())),
        strs(rows.iter().map(|r| r.purpose.as_deref())),
        Arc::new(
            rows.iter()
                .map(|r| Some(r.window_start.timestamp_millis()))
                .collect::<TimestampMillisecondArray>()
                .with_timezone("UTC"),
        ),
        Arc::new(
            rows.iter()
                .map(|r| r.window_end.map(|t| t.timestamp_millis()))
                .collect::<TimestampMillisecondArray>()
                .with_timezone("UTC"),
        ),
        strs(rows.iter().map(|r| r.status.as_deref())),
        Arc::new(rows.iter().map(|r| Some(r.all_buckets_bucket_key)).collect::<BooleanArray>()),
    ];
    RecordBatch::try_new(expectations_schema(), cols).expect("expectations batch matches its schema")
}

/// `expectations_allow` as one batch.
pub fn allow_batch(e: &Expectations) -> RecordBatch {
    let rows = allow_rows(e);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(rows.iter().map(|r| Some(r.entry)).collect::<Int32Array>()),
        strs(rows.iter().map(|r| Some(r.principal.as_str()))),
        strs(rows.iter().map(|r| Some(r.key_arn.as_str()))),
        strs(rows.iter().map(|r| Some(r.operation.as_str()))),
        strs(rows.iter().map(|r| Some(r.reason.as_str()))),
    ];
    RecordBatch::try_new(allow_schema(), cols).expect("allow batch matches its schema")
}

/// `expectations_keys` as one batch.
pub fn keys_batch(e: &Expectations) -> RecordBatch {
    let rows = key_rows(e);
    let cols: Vec<ArrayRef> = vec![
        strs(rows.iter().map(|r| Some(r.kind.as_str()))),
        strs(rows.iter().map(|r| Some(r.key_arn.as_str()))),
        strs(rows.iter().map(|r| r.alias.as_deref())),
    ];
    RecordBatch::try_new(keys_schema(), cols).expect("keys batch matches its schema")
}

/// Schema of the `findings` table (`LAKE/findings/dt=<YYYY-MM-DD>/<run>.parquet`): the fields of
/// [`Finding`], `event_time` as a UTC millisecond timestamp.
pub fn findings_schema() -> SchemaRef {
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    Arc::new(Schema::new(vec![
        s("rule", false),
        s("severity", false),
        s("key_arn", true),
        s("principal_arn", true),
        s("event_id", true),
        Field::new("event_time", ts(), true),
        s("job_arn", true),
        s("detail", false),
        s("event_name", true),
        s("account_id", true),
        s("run_id", false),
    ]))
}

/// Findings as one batch of the `findings` table.
pub fn findings_batch(findings: &[Finding]) -> RecordBatch {
    let f = findings;
    let cols: Vec<ArrayRef> = vec![
        strs(f.iter().map(|x| Some(x.rule.name()))),
        strs(f.iter().map(|x| Some(x.severity.as_str()))),
        strs(f.iter().map(|x| x.key_arn.as_deref())),
        strs(f.iter().map(|x| x.principal_arn.as_deref())),
        strs(f.iter().map(|x| x.event_id.as_deref())),
        Arc::new(
            f.iter()
                .map(|x| x.event_time.map(|t| t.timestamp_millis()))
                .collect::<TimestampMillisecondArray>()
                .with_timezone("UTC"),
        ),
        strs(f.iter().map(|x| x.job_arn.as_deref())),
        strs(f.iter().map(|x| Some(x.detail.as_str()))),
        strs(f.iter().map(|x| x.event_name.as_deref())),
        strs(f.iter().map(|x| x.account_id.as_deref())),
        strs(f.iter().map(|x| Some(x.run_id.as_str()))),
    ];
    RecordBatch::try_new(findings_schema(), cols).expect("findings batch matches its schema")
}

//! The scheduled reconcile Lambda (`kms-audit-reconcile`): once a day, refresh the expectations
//! from SageMaker, reconcile the previous day(s) of `kms_events`, write the findings to the S3
//! lake (Glue table `findings`) and publish every finding at or above a severity to SNS.
//!
//! # Period
//!
//! `to` is midnight UTC of the day `now − slack` falls in (a run at 01:40 with 15 minutes of
//! slack reconciles up to today 00:00); the **reported** days are the `RECONCILE_DAYS` days
//! before `to`. The reconciler reads `RECONCILE_LOOKBACK_DAYS` more days before them, so a job
//! that started the day before its end is still checked for `missing-usage` (which needs the
//! job's whole window inside the period); findings before the reported days are dropped (the
//! previous run reported them). The watermark is `now`. A payload may override the period:
//! `{"from": T, "to": T, "report_from": T, "watermark": T}` (RFC 3339); any other payload (the
//! EventBridge scheduled event) means the default.
//!
//! # Expectations
//!
//! Refreshed at every run from the SageMaker API (`aws::sagemaker::collect`; jobs modified in
//! the `EXPECTATIONS_SINCE_DAYS` days before the period, every endpoint and notebook instance),
//! key references resolved with KMS `DescribeKey`, buckets' default encryption from S3
//! `GetBucketEncryption`; an allow-list JSON (`ALLOW_LIST_URL`, `s3://…`) is merged. The
//! expectations used are saved with the run (`LAKE/_reconcile/<run>/expectations.json`) and as
//! the expectations tables the Athena SQL joins against (`LAKE/expectations*/`).
//!
//! # Output
//!
//! `LAKE/findings/dt=<day>/<run>.parquet` (run id `<from>--<to>` of the reported days, so a
//! retried or repeated run replaces its own files), `LAKE/_reconcile/<run>/summary.json`, and up
//! to `NOTIFY_MAX_MESSAGES` SNS messages (one per finding at or above `NOTIFY_SEVERITY`, then
//! one summary message for the rest), each with `severity`, `rule` and `run_id` attributes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws::s3::S3Store;
use aws::sagemaker::{CollectOptions, SageMakerSource};
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use lake::read::{list_event_files, EventFilter};
use lake::{LakeError, Store};
use reconcile::{tables, Expectations, ExpectationsBuilder, Finding, Options, Reconciler, Severity, Source};
use serde::Serialize;
use tokio::runtime::Handle;

use crate::error::ConfigError;

/// Settings of the reconcile function (see [`ReconcileSettings::from_env`]).
#[derive(Debug, Clone)]
pub struct ReconcileSettings {
    /// `s3://bucket/prefix` of the lake (`LAKE_URL`).
    pub lake_url: String,
    /// SNS topic for findings (`FINDINGS_TOPIC_ARN`; unset: no notifications).
    pub topic_arn: Option<String>,
    /// Findings at or above this are published (`NOTIFY_SEVERITY`, default `high`).
    pub notify_severity: Severity,
    /// Messages per run at most (`NOTIFY_MAX_MESSAGES`, default 50), the last one a summary.
    pub max_messages: usize,
    /// Window widening and arrival allowance (`RECONCILE_SLACK_SECONDS`, default 900).
    pub slack: Duration,
    /// Days reported per run (`RECONCILE_DAYS`, default 1).
    pub days: u32,
    /// Extra days read before them (`RECONCILE_LOOKBACK_DAYS`, default 1).
    pub lookback_days: u32,
    /// Jobs modified this many days before the period are listed (`EXPECTATIONS_SINCE_DAYS`,
    /// default 30): a role whose last job ended then is still a job role.
    pub since_days: u32,
    /// Allow-list JSON on S3 (`ALLOW_LIST_URL`): an array of allow entries or an
    /// expectations-shaped document; a missing object means no allow-list (logged).
    pub allow_url: Option<String>,
    /// Concurrent SageMaker/KMS/S3 describe calls (`SAGEMAKER_CONCURRENCY`, default 8).
    pub concurrency: usize,
}

impl ReconcileSettings {
    /// Reads the settings; `LAKE_URL` is required.
    pub fn from_env() -> Result<Self, ConfigError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let num = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match var(name) {
                None => Ok(default),
                Some(v) => v.trim().parse().map_err(|_| ConfigError::Invalid { name, value: v }),
            }
        };
        let lake_url = var("LAKE_URL").ok_or(ConfigError::Missing("LAKE_URL"))?;
        if aws::s3::parse_url(&lake_url).is_none() {
            return Err(ConfigError::Invalid { name: "LAKE_URL", value: lake_url });
        }
        let notify_severity = match var("NOTIFY_SEVERITY") {
            None => Severity::High,
            Some(v) => v
                .trim()
                .to_ascii_lowercase()
                .parse()
                .map_err(|_| ConfigError::Invalid { name: "NOTIFY_SEVERITY", value: v })?,
        };
        let allow_url = var("ALLOW_LIST_URL");
        if let Some(u) = &allow_url {
            if aws::s3::parse_url(u).is_none_or(|(_, k)| k.is_empty()) {
                return Err(ConfigError::Invalid { name: "ALLOW_LIST_URL", value: u.clone() });
            }
        }
        Ok(ReconcileSettings {
            lake_url,
            topic_arn: var("FINDINGS_TOPIC_ARN"),
            notify_severity,
            max_messages: num("NOTIFY_MAX_MESSAGES", 50)? as usize,
            slack: Duration::from_secs(num("RECONCILE_SLACK_SECONDS", 900)?),
            days: num("RECONCILE_DAYS", 1)?.max(1) as u32,
            lookback_days: num("RECONCILE_LOOKBACK_DAYS", 1)? as u32,
            since_days: num("EXPECTATIONS_SINCE_DAYS", 30)? as u32,
            allow_url,
            concurrency: num("SAGEMAKER_CONCURRENCY", 8)?.max(1) as usize,
        })
    }

    /// Settings for a lake URL with the defaults (tests, tools).
    pub fn for_lake(lake_url: &str) -> Self {
        ReconcileSettings {
            lake_url: lake_url.to_owned(),
            topic_arn: None,
            notify_severity: Severity::High,
            max_messages: 50,
            slack: Duration::from_secs(900),
            days: 1,
            lookback_days: 1,
            since_days: 30,
            allow_url: None,
            concurrency: 8,
        }
    }
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("bad invocation payload: {0}")]
    Payload(String),
    #[error("SageMaker: {0}")]
    SageMaker(#[from] aws::sagemaker::SageMakerError),
    #[error("expectations: {0}")]
    Expectations(String),
    #[error("allow-list {url}: {message}")]
    AllowList { url: String, message: String, retryable: bool },
    #[error("lake: {0}")]
    Lake(#[from] LakeError),
    #[error("reconcile: {0}")]
    Reconcile(#[from] reconcile::Error),
    #[error("SNS: {0}")]
    Sns(#[from] aws::sns::SnsError),
    #[error("the reconcile thread panicked: {0}")]
    Panicked(String),
}

impl ReconcileError {
    /// Whether running again may help (throttling, 5xx, timeouts).
    pub fn is_retryable(&self) -> bool {
        match self {
            ReconcileError::SageMaker(e) => e.retryable,
            ReconcileError::AllowList { retryable, .. } => *retryable,
            ReconcileError::Lake(e) => e.is_retryable(),
            ReconcileError::Sns(e) => e.retryable,
            ReconcileError::Payload(_)
            | ReconcileError::Expectations(_)
            | ReconcileError::Reconcile(_)
            | ReconcileError::Panicked(_) => false,
        }
    }
}

/// The period of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Period {
    /// Start of what is read (reported days plus lookback).
    pub from: DateTime<Utc>,
    /// Start of what is reported.
    pub report_from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub watermark: DateTime<Utc>,
}

impl Period {
    /// Run id: the reported days, `20250316T000000Z--20250317T000000Z`.
    pub fn run_id(&self) -> String {
        let f = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
        format!("{}--{}", f(self.report_from), f(self.to))
    }
}

/// The period `payload` asks for, `now` being the invocation time (see the module docs).
pub fn period(
    payload: &serde_json::Value,
    now: DateTime<Utc>,
    s: &ReconcileSettings,
) -> Result<Period, ReconcileError> {
    let time = |name: &str| -> Result<Option<DateTime<Utc>>, ReconcileError> {
        match payload.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(v)) => DateTime::parse_from_rfc3339(v)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| ReconcileError::Payload(format!("{name}: {v:?} is not RFC 3339"))),
            Some(other) => Err(ReconcileError::Payload(format!("{name}: {other} is not a string"))),
        }
    };
    let slack = chrono::Duration::from_std(s.slack).unwrap_or_else(|_| chrono::Duration::minutes(15));
    let day0 = (now - slack).date_naive().and_hms_opt(0, 0, 0).expect("midnight");
    let to = time("to")?.unwrap_or_else(|| Utc.from_utc_datetime(&day0));
    let report_from = match (time("report_from")?, time("from")?) {
        (Some(r), _) => r,
        (None, Some(f)) => f,
        (None, None) => to - chrono::Duration::days(i64::from(s.days)),
    };
    let from = time("from")?.unwrap_or_else(|| report_from - chrono::Duration::days(i64::from(s.lookback_days)));
    let watermark = time("watermark")?.unwrap_or(now);
    if !(from <= report_from && report_from < to) {
        return Err(ReconcileError::Payload(format!(
            "the period must satisfy from <= report_from < to (from {from}, report_from {report_from}, to {to})"
        )));
    }
    Ok(Period { from, report_from, to, watermark })
}

/// What a run did (the invocation's response, also saved as `summary.json`).
#[derive(Debug, Clone, Serialize)]
pub struct ReconcileSummary {
    pub run_id: String,
    pub period: Period,
    pub jobs: usize,
    pub skipped_resources: Vec<String>,
    pub files: usize,
    pub rows: u64,
    pub findings: usize,
    /// Findings by rule.
    pub by_rule: BTreeMap<String, usize>,
    /// Findings at or above the notification severity.
    pub notable: usize,
    pub published: usize,
    pub publish_failures: usize,
    pub lake_objects: Vec<String>,
    pub duration_ms: u64,
}

/// The reconcile function's clients and settings, built once per container.
#[derive(Debug)]
pub struct ReconcileHandler {
    lake: Arc<S3Store>,
    s3: aws::s3::Client,
    source: SageMakerSource,
    sns: Option<aws::sns::Client>,
    settings: ReconcileSettings,
}

impl ReconcileHandler {
    /// A handler over injected clients; `handle` is the runtime the sync lake calls block on.
    pub fn new(
        s3: aws::s3::Client,
        source: SageMakerSource,
        sns: Option<aws::sns::Client>,
        settings: ReconcileSettings,
        handle: Handle,
    ) -> Result<Self, ConfigError> {
        let lake = S3Store::from_url(s3.clone(), &settings.lake_url, handle)
            .ok_or_else(|| ConfigError::Invalid { name: "LAKE_URL", value: settings.lake_url.clone() })?;
        Ok(ReconcileHandler { lake: Arc::new(lake), s3, source, sns, settings })
    }

    /// Clients from the standard AWS configuration chain and settings from the environment.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = ReconcileSettings::from_env()?;
        let config = aws::config::load().await;
        let s3 = aws::config::s3_client(&config);
        let source = SageMakerSource::from_config(&config, None);
        let sns = settings.topic_arn.as_ref().map(|_| aws::sns::client(&config));
        ReconcileHandler::new(s3, source, sns, settings, Handle::current())
    }

    pub fn lake(&self) -> &S3Store {
        &self.lake
    }

    /// Expectations from SageMaker as of now, plus the allow-list.
    pub async fn expectations(&self, since: DateTime<Utc>) -> Result<(Expectations, Vec<String>), ReconcileError> {
        let n = self.settings.concurrency;
        let collected = aws::sagemaker::collect(
            &self.source.sagemaker,
            &CollectOptions { since: Some(since), concurrency: n, page_size: None },
        )
        .await?;
        for s in &collected.skipped {
            tracing::warn!(resource = %s, "left out of the expectations");
        }
        let none = reconcile::MapResolver::default();
        let mut b = ExpectationsBuilder::new(&none);
        for (name, doc) in &collected.documents {
            b.add(name.clone(), doc.clone());
        }
        let (buckets, failed) = aws::sagemaker::bucket_encryption(&self.source.s3, b.bucket_names(), n).await;
        for (bucket, why) in &failed {
            tracing::warn!(bucket = %bucket, reason = %why, "bucket encryption unknown; treated as without S3 Bucket Keys");
        }
        for (bucket, enc) in &buckets {
            if enc.is_kms() {
                b.bucket_encryption(bucket, enc.kms_key.as_deref(), enc.bucket_key_enabled);
            }
        }
        let resolution = aws::sagemaker::resolve_keys(&self.source.kms, b.key_refs(), n).await?;
        for (r, why) in &resolution.failed {
            tracing::warn!(key_ref = %r, reason = %why, "key reference not resolved by KMS DescribeKey");
        }
        b.source(Source {
            kind: "sagemaker".into(),
            region: self.source.region(),
            account: None,
            documents: collected.documents.iter().map(|(n, _)| n.clone()).collect(),
        });
        let b = b.with_resolver(&resolution.resolved);
        let mut exp = b.build().map_err(|e| ReconcileError::Expectations(e.to_string()))?;
        if let Some(url) = &self.settings.allow_url {
            let other = self.allow_list(url).await?;
            exp.merge(other);
            exp.validate().map_err(|errs| {
                ReconcileError::Expectations(errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
            })?;
        }
        Ok((exp, collected.skipped))
    }

    async fn allow_list(&self, url: &str) -> Result<Expectations, ReconcileError> {
        let (bucket, key) = aws::s3::parse_url(url).expect("validated ALLOW_LIST_URL");
        let store = S3Store::new(self.s3.clone(), bucket, "", Handle::current());
        let bytes = match store.get_bytes_async(&key).await {
            Ok(b) => b,
            Err(e) if e.is_not_found() => {
                tracing::warn!(url = %url, "no allow-list at ALLOW_LIST_URL; reconciling without one");
                return Ok(Expectations::default());
            }
            Err(e) => {
                return Err(ReconcileError::AllowList {
                    url: url.to_owned(),
                    message: e.to_string(),
                    retryable: e.is_retryable(),
                })
            }
        };
        let bad = |m: String| ReconcileError::AllowList { url: url.to_owned(), message: m, retryable: false };
        let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| bad(format!("invalid JSON: {e}")))?;
        let mut e = if v.is_array() {
            Expectations {
                allow: serde_json::from_value(v).map_err(|e| bad(format!("not an array of allow entries: {e}")))?,
                ..Default::default()
            }
        } else {
            serde_json::from_value(v).map_err(|e| bad(format!("not an expectations document: {e}")))?
        };
        e.source.documents = vec![url.to_owned()];
        Ok(e)
    }

    /// One run (see the module docs).
    pub async fn handle(&self, payload: serde_json::Value) -> Result<ReconcileSummary, ReconcileError> {
        let started = Instant::now();
        let s = &self.settings;
        let p = period(&payload, Utc::now(), s)?;
        let run_id = p.run_id();
        let since = p.from - chrono::Duration::days(i64::from(s.since_days));
        let (exp, skipped) = self.expectations(since).await?;
        tracing::info!(run_id = %run_id, jobs = exp.jobs.len(), skipped = skipped.len(), "expectations refreshed");

        let lake: Arc<dyn Store> = self.lake.clone();
        let opts = Options {
            from: Some(p.from),
            to: Some(p.to),
            slack: s.slack,
            watermark: p.watermark,
            run_id: run_id.clone(),
        };
        let exp2 = exp.clone();
        let report_from = p.report_from;
        let (findings, files, rows, mut lake_objects) =
            tokio::task::spawn_blocking(move || run_reconcile(&*lake, &exp2, opts, report_from))
                .await
                .map_err(|e| ReconcileError::Panicked(e.to_string()))??;
        let record = format!("_reconcile/{}/expectations.json", lake::findings::run_file_stem(&run_id));
        self.lake.put_async(&record, exp.to_json().into_bytes().into(), None).await.map_err(LakeError::from)?;
        lake_objects.push(record);

        let notable: Vec<&Finding> = findings.iter().filter(|f| f.severity >= s.notify_severity).collect();
        let (mut published, mut publish_failures) = (0, 0);
        if let (Some(client), Some(topic)) = (&self.sns, &s.topic_arn) {
            let messages = messages(&notable, s.max_messages, &run_id, s.notify_severity, &self.lake.root());
            let report = aws::sns::publish(client, topic, &messages).await?;
            published = report.published;
            publish_failures = report.failed.len();
            for (i, why) in &report.failed {
                tracing::error!(message = i, reason = %why, "SNS rejected a message");
            }
        }
        let mut by_rule = BTreeMap::new();
        for f in &findings {
            *by_rule.entry(f.rule.name().to_owned()).or_insert(0) += 1;
        }
        let summary = ReconcileSummary {
            run_id: run_id.clone(),
            period: p,
            jobs: exp.jobs.len(),
            skipped_resources: skipped,
            files,
            rows,
            findings: findings.len(),
            by_rule,
            notable: notable.len(),
            published,
            publish_failures,
            lake_objects,
            duration_ms: started.elapsed().as_millis() as u64,
        };
        let key = format!("_reconcile/{}/summary.json", lake::findings::run_file_stem(&run_id));
        let body = serde_json::to_vec_pretty(&summary).expect("summary serializes");
        self.lake.put_async(&key, body.into(), None).await.map_err(LakeError::from)?;
        tracing::info!(
            run_id = %run_id,
            files = summary.files,
            rows = summary.rows,
            findings = summary.findings,
            notable = summary.notable,
            published = summary.published,
            duration_ms = summary.duration_ms,
            "reconcile done"
        );
        Ok(summary)
    }
}

/// Reconciles the lake on every core, keeps the findings from `report_from` on, and writes
/// them and the expectations tables. Runs on a blocking thread.
fn run_reconcile(
    lake: &dyn Store,
    exp: &Expectations,
    opts: Options,
    report_from: DateTime<Utc>,
) -> Result<(Vec<Finding>, usize, u64, Vec<String>), ReconcileError> {
    let run_id = opts.run_id.clone();
    let filter = EventFilter {
        from_ms: opts.from.map(|t| t.timestamp_millis()),
        to_ms: opts.to.map(|t| t.timestamp_millis()),
        ..Default::default()
    };
    let base = Reconciler::new(exp, opts)?;
    let files = list_event_files(lake, &filter)?;
    let columns = EventFilter {
        columns: Some(reconcile::REQUIRED_COLUMNS.iter().map(|c| (*c).to_owned()).collect()),
        ..Default::default()
    };
    let (workers, rows) = lake::findings::fold_event_files(
        lake,
        &files,
        &columns,
        0,
        || base.clone(),
        |r: &mut Reconciler, _, batch| r.observe(&batch).map_err(ReconcileError::from),
    )?;
    let mut merged: Option<Reconciler> = None;
    for w in workers {
        match &mut merged {
            None => merged = Some(w),
            Some(m) => m.merge(w),
        }
    }
    let r = merged.unwrap_or(base);
    let findings: Vec<Finding> =
        r.finish().into_iter().filter(|f| f.event_time.is_none_or(|t| t >= report_from)).collect();
    let batch = tables::findings_batch(&findings);
    let day = report_from.format("%Y-%m-%d").to_string();
    let mut keys = lake::findings::write_findings(lake, &run_id, &batch, "event_time", &day)?;
    for (table, batch) in [
        ("expectations", tables::expectations_batch(exp)),
        ("expectations_allow", tables::allow_batch(exp)),
        ("expectations_keys", tables::keys_batch(exp)),
    ] {
        keys.push(lake::findings::write_table(lake, table, &batch)?);
    }
    Ok((findings, files.len(), rows, keys))
}

fn short(a: Option<&str>) -> &str {
    a.map_or("-", |a| a.rsplit_once(':').map_or(a, |(_, r)| r))
}

/// SNS messages for the notable findings: one per finding up to `max - 1`, then one summary of
/// the rest (or one per finding when they fit).
pub fn messages(
    notable: &[&Finding],
    max: usize,
    run_id: &str,
    severity: Severity,
    lake_root: &str,
) -> Vec<aws::sns::Message> {
    let max = max.max(1);
    let attrs = |sev: &str, rule: &str| -> BTreeMap<String, String> {
        [("severity", sev), ("rule", rule), ("run_id", run_id)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    };
    let individual = if notable.len() <= max { notable.len() } else { max - 1 };
    let mut out: Vec<aws::sns::Message> = notable[..individual]
        .iter()
        .map(|f| aws::sns::Message {
            subject: format!(
                "kms-audit {} {}: {} on {}",
                f.severity,
                f.rule,
                short(f.principal_arn.as_deref()),
                short(f.key_arn.as_deref())
            ),
            body: serde_json::to_string_pretty(f).expect("finding serializes"),
            attributes: attrs(f.severity.as_str(), f.rule.name()),
        })
        .collect();
    if individual < notable.len() {
        let rest = &notable[individual..];
        let mut by_rule: BTreeMap<&str, usize> = BTreeMap::new();
        for f in rest {
            *by_rule.entry(f.rule.name()).or_default() += 1;
        }
        let top = rest.iter().map(|f| f.severity).max().unwrap_or(severity);
        out.push(aws::sns::Message {
            subject: format!("kms-audit: {} more findings at or above {severity} (run {run_id})", rest.len()),
            body: serde_json::to_string_pretty(&serde_json::json!({
                "run_id": run_id,
                "more_findings": rest.len(),
                "by_rule": by_rule,
                "findings_table": format!("{lake_root}/findings/ (run_id = '{run_id}')"),
                "generated_at": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
            }))
            .expect("summary serializes"),
            attributes: attrs(top.as_str(), "summary"),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_period_is_yesterday_with_lookback() {
        let s = ReconcileSettings::for_lake("s3://b/l");
        let now = Utc.with_ymd_and_hms(2025, 3, 17, 1, 40, 0).unwrap();
        let p = period(&json!({"source": "aws.events"}), now, &s).unwrap();
        assert_eq!(p.to, Utc.with_ymd_and_hms(2025, 3, 17, 0, 0, 0).unwrap());
        assert_eq!(p.report_from, Utc.with_ymd_and_hms(2025, 3, 16, 0, 0, 0).unwrap());
        assert_eq!(p.from, Utc.with_ymd_and_hms(2025, 3, 15, 0, 0, 0).unwrap());
        assert_eq!(p.watermark, now);
        assert_eq!(p.run_id(), "20250316T000000Z--20250317T000000Z");
        // Within the slack after midnight, the day before is not complete yet.
        let early = Utc.with_ymd_and_hms(2025, 3, 17, 0, 10, 0).unwrap();
        assert_eq!(period(&json!({}), early, &s).unwrap().to, Utc.with_ymd_and_hms(2025, 3, 16, 0, 0, 0).unwrap());
        let p = period(&json!({"from": "2025-03-01T00:00:00Z", "to": "2025-03-02T00:00:00Z"}), now, &s).unwrap();
        assert_eq!((p.from, p.report_from), (p.report_from, Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap()));
        assert!(period(&json!({"from": "2025-03-03T00:00:00Z", "to": "2025-03-02T00:00:00Z"}), now, &s).is_err());
        assert!(period(&json!({"to": 3}), now, &s).is_err());
    }

    #[test]
    fn messages_are_capped_with_a_summary() {
        let f = |i: usize| Finding {
            rule: reconcile::Rule::UnexpectedPrincipal,
            severity: Severity::High,
            key_arn: Some("arn:aws:kms:us-east-1:1:key/k".into()),
            principal_arn: Some(format!("arn:aws:iam::1:role/r{i}")),
            event_id: Some(format!("e{i}")),
            event_time: None,
            job_arn: None,
            detail: "d".into(),
            event_name: Some("Decrypt".into()),
            account_id: Some("1".into()),
            run_id: "r".into(),
        };
        let fs: Vec<Finding> = (0..5).map(f).collect();
        let refs: Vec<&Finding> = fs.iter().collect();
        let m = messages(&refs, 10, "r", Severity::High, "s3://b/l");
        assert_eq!(m.len(), 5);
        assert_eq!(m[0].subject, "kms-audit high unexpected-principal: role/r0 on key/k");
        assert_eq!(m[0].attributes["severity"], "high");
        let m = messages(&refs, 3, "r", Severity::High, "s3://b/l");
        assert_eq!(m.len(), 3);
        assert!(m[2].subject.contains("3 more findings"), "{}", m[2].subject);
        assert_eq!(m[2].attributes["rule"], "summary");
    }
}

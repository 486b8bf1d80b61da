//! The scheduled compaction Lambda: merges each partition-day of the lake into one file.
//!
//! Invoked daily by an EventBridge schedule; compacts every partition of the days *before*
//! today (UTC), late files included (they land in old days' partitions and are folded in the
//! next run). A payload `{"dt":"YYYY-MM-DD"}` compacts one day, `{"before":"YYYY-MM-DD"}` moves
//! the cut-off; any other payload (the scheduled event) means the default. Safe to rerun and to
//! overlap with ingest (see `lake::compact`).

use std::sync::Arc;
use std::time::Instant;

use aws::s3::S3Store;
use lake::compact::{CompactOptions, CompactSummary};
use lake::Store;
use tokio::runtime::Handle;

use crate::error::{ConfigError, HandlerError};

/// The compaction function's lake.
#[derive(Debug)]
pub struct CompactHandler {
    lake: Arc<S3Store>,
}

impl CompactHandler {
    pub fn new(s3: aws::s3::Client, lake_url: &str, handle: Handle) -> Result<Self, ConfigError> {
        let lake = S3Store::from_url(s3, lake_url, handle)
            .ok_or_else(|| ConfigError::Invalid { name: "LAKE_URL", value: lake_url.to_owned() })?;
        Ok(CompactHandler { lake: Arc::new(lake) })
    }

    /// From `LAKE_URL` and the standard AWS configuration chain.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let lake_url =
            std::env::var("LAKE_URL").ok().filter(|v| !v.is_empty()).ok_or(ConfigError::Missing("LAKE_URL"))?;
        let config = aws::config::load().await;
        CompactHandler::new(aws::config::s3_client(&config), &lake_url, Handle::current())
    }

    /// Compacts what `payload` asks for (see the module docs).
    pub async fn handle(&self, payload: serde_json::Value) -> Result<CompactSummary, HandlerError> {
        let opts = options(&payload, chrono::Utc::now().date_naive())?;
        let started = Instant::now();
        let lake: Arc<dyn Store> = self.lake.clone();
        let o = opts.clone();
        let report = tokio::task::spawn_blocking(move || lake::compact::compact(&*lake, &o))
            .await
            .map_err(|e| HandlerError::Panicked(e.to_string()))??;
        let s = &report.summary;
        tracing::info!(
            lake = %self.lake.root(),
            dt = opts.dt.as_deref().unwrap_or(""),
            before = opts.before.as_deref().unwrap_or(""),
            partitions = s.partitions,
            compacted = s.compacted,
            input_files = s.input_files,
            input_rows = s.input_rows,
            output_rows = s.output_rows,
            duplicates = s.duplicates,
            failed = report.failures.len(),
            duration_ms = started.elapsed().as_millis() as u64,
            "compaction done"
        );
        if let Some(first) = report.failures.first() {
            return Err(HandlerError::Compaction {
                failed: report.failures.len(),
                first: format!("{}: {}", first.partition, first.reason),
                retryable: report.failures.iter().all(|f| f.retryable),
            });
        }
        Ok(report.summary)
    }
}

/// The options a payload asks for, with `today` as the default cut-off.
pub fn options(payload: &serde_json::Value, today: chrono::NaiveDate) -> Result<CompactOptions, HandlerError> {
    let day = |name: &str| -> Result<Option<String>, HandlerError> {
        match payload.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|d| Some(d.format("%Y-%m-%d").to_string()))
                .map_err(|_| HandlerError::Payload(format!("{name}: {s:?} is not YYYY-MM-DD"))),
            Some(other) => Err(HandlerError::Payload(format!("{name}: {other} is not a string"))),
        }
    };
    let dt = day("dt")?;
    let before = day("before")?;
    Ok(match (dt, before) {
        (Some(dt), before) => CompactOptions { dt: Some(dt), before },
        (None, Some(before)) => CompactOptions { dt: None, before: Some(before) },
        (None, None) => CompactOptions { dt: None, before: Some(today.format("%Y-%m-%d").to_string()) },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payloads() {
        let today = chrono::NaiveDate::from_ymd_opt(2025, 3, 14).unwrap();
        let scheduled = json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
        let o = options(&scheduled, today).unwrap();
        assert_eq!((o.dt, o.before.as_deref()), (None, Some("2025-03-14")));
        let o = options(&json!({"dt": "2025-03-01"}), today).unwrap();
        assert_eq!(o.dt.as_deref(), Some("2025-03-01"));
        assert!(options(&json!({"dt": "yesterday"}), today).is_err());
    }
}

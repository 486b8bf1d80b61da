//! CloudTrail `LookupEvents` for backfills: the KMS events of the last 90 days, straight from
//! CloudTrail, without a trail bucket.
//!
//! Each returned event carries the full record as a JSON string (`CloudTrailEvent`), so a page
//! is rewritten as a log file, `{"Records":[…]}`, and goes through the same pipeline as a file
//! from the trail bucket (`trail::read_log_bytes` via `lake::Ingestor`). A `CloudTrailEvent`
//! that is not a JSON object is kept as a JSON string element, so the ingest quarantines that
//! record alone instead of the whole page.
//!
//! LookupEvents allows 2 requests per second per account and region: [`LookupPager`] spaces
//! every request, retries included, by [`LookupOptions::min_interval`] (500 ms), retries
//! throttling, timeouts and 5xx itself with exponential backoff (the SDK's retries are off for
//! this call, so they cannot burst past the quota), and filters on
//! `EventSource = kms.amazonaws.com`.

pub use aws_sdk_cloudtrail::Client;
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_smithy_types::DateTime as SmithyDateTime;
use chrono::{DateTime, Utc};
use lake::{ObjectInfo, ObjectMetadata, Store, StoreError, StoreErrorKind};

use crate::config::classify;

/// The `EventSource` of KMS calls.
pub const KMS_EVENT_SOURCE: &str = "kms.amazonaws.com";

/// What to look up and how politely.
#[derive(Debug, Clone)]
pub struct LookupOptions {
    /// Inclusive start of the period.
    pub start: DateTime<Utc>,
    /// Exclusive end of the period (CloudTrail treats it as inclusive to the second).
    pub end: DateTime<Utc>,
    /// Least time between two requests (LookupEvents: 2 requests/s per account and region).
    pub min_interval: Duration,
    /// Retries of a throttled or transiently failed request, with doubling backoff.
    pub max_retries: u32,
    /// First backoff; doubles up to [`LookupOptions::max_backoff`].
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Events per page (LookupEvents allows at most 50).
    pub page_size: i32,
}

impl LookupOptions {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        LookupOptions {
            start,
            end,
            min_interval: Duration::from_millis(500),
            max_retries: 8,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
            page_size: 50,
        }
    }
}

/// A LookupEvents failure after the retries.
#[derive(Debug, thiserror::Error)]
#[error("cloudtrail LookupEvents (page {page}): {message}")]
pub struct LookupError {
    pub page: u64,
    pub message: String,
    pub retryable: bool,
}

/// One page, rewritten as a CloudTrail log file.
#[derive(Debug, Clone)]
pub struct LookupPage {
    /// 1-based page number.
    pub number: u64,
    /// Events on the page.
    pub events: u64,
    /// Events without a `CloudTrailEvent` string (not ingestible; counted, logged).
    pub missing_records: u64,
    /// `{"Records":[…]}`.
    pub body: Vec<u8>,
}

/// Pages through LookupEvents for KMS events in a period.
#[derive(Debug)]
pub struct LookupPager {
    client: aws_sdk_cloudtrail::Client,
    opts: LookupOptions,
    next_token: Option<String>,
    done: bool,
    pages: u64,
    last_request: Option<Instant>,
    /// Requests sent (retries included).
    pub requests: u64,
    /// Requests that were throttled or failed transiently and were retried.
    pub retries: u64,
}

impl LookupPager {
    pub fn new(client: aws_sdk_cloudtrail::Client, opts: LookupOptions) -> Self {
        LookupPager {
            client,
            opts,
            next_token: None,
            done: false,
            pages: 0,
            last_request: None,
            requests: 0,
            retries: 0,
        }
    }

    /// The next page, or `None` after the last one.
    pub async fn next_page(&mut self) -> Result<Option<LookupPage>, LookupError> {
        use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
        if self.done {
            return Ok(None);
        }
        let attribute = LookupAttribute::builder()
            .attribute_key(LookupAttributeKey::EventSource)
            .attribute_value(KMS_EVENT_SOURCE)
            .build()
            .map_err(|e| LookupError { page: self.pages + 1, message: e.to_string(), retryable: false })?;
        let mut attempt = 0u32;
        let mut backoff = self.opts.backoff;
        let out = loop {
            if let Some(last) = self.last_request {
                let wait = self.opts.min_interval.saturating_sub(last.elapsed());
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
            self.requests += 1;
            let result = self
                .client
                .lookup_events()
                .lookup_attributes(attribute.clone())
                .start_time(SmithyDateTime::from_millis(self.opts.start.timestamp_millis()))
                .end_time(SmithyDateTime::from_millis(self.opts.end.timestamp_millis()))
                .max_results(self.opts.page_size)
                .set_next_token(self.next_token.clone())
                .customize()
                // Retries are ours (below), so that they too respect the request spacing.
                .config_override(
                    aws_sdk_cloudtrail::config::Builder::default()
                        .retry_config(aws_sdk_cloudtrail::config::retry::RetryConfig::standard().with_max_attempts(1)),
                )
                .send()
                .await;
            // Spacing counts from the answer, so that arrivals at CloudTrail are at least
            // `min_interval` apart even when a request took long to get there.
            self.last_request = Some(Instant::now());
            match result {
                Ok(out) => break out,
                Err(e) => {
                    let c = classify(&e);
                    let retryable = c.kind == StoreErrorKind::Transient;
                    if retryable && attempt < self.opts.max_retries {
                        attempt += 1;
                        self.retries += 1;
                        tracing::warn!(page = self.pages + 1, attempt, error = %c.message, backoff_ms = backoff.as_millis() as u64, "LookupEvents retry");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(self.opts.max_backoff);
                        continue;
                    }
                    return Err(LookupError { page: self.pages + 1, message: c.message, retryable });
                }
            }
        };
        self.pages += 1;
        self.next_token = out.next_token().filter(|t| !t.is_empty()).map(str::to_owned);
        self.done = self.next_token.is_none();
        let mut body = Vec::with_capacity(64 << 10);
        body.extend_from_slice(b"{\"Records\":[");
        let mut events = 0u64;
        let mut missing = 0u64;
        for event in out.events() {
            events += 1;
            let Some(record) = event.cloud_trail_event() else {
                missing += 1;
                tracing::warn!(
                    event_id = event.event_id().unwrap_or(""),
                    "LookupEvents event without CloudTrailEvent: not ingested"
                );
                continue;
            };
            if events - missing > 1 {
                body.push(b',');
            }
            let trimmed = record.trim();
            if trimmed.starts_with('{') && serde_json::from_str::<&serde_json::value::RawValue>(trimmed).is_ok() {
                body.extend_from_slice(trimmed.as_bytes());
            } else {
                // Kept as a string so the ingest quarantines this record and keeps the page.
                body.extend_from_slice(serde_json::to_string(record).expect("string serializes").as_bytes());
            }
        }
        body.extend_from_slice(b"]}");
        Ok(Some(LookupPage { number: self.pages, events, missing_records: missing, body }))
    }
}

/// Lookup pages held in memory as a [`Store`], so they are ingested like log files.
///
/// Locations are `cloudtrail-lookup://<region>/<start>--<end>/page-000001.json`: deterministic
/// for a period, so a rerun over the same events names the same sources (and the lake files
/// derived from them). A page is dropped from memory once read.
#[derive(Debug)]
pub struct PageStore {
    root: String,
    pages: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl PageStore {
    /// A store for the pages of one lookup.
    pub fn new(region: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        PageStore {
            root: format!("cloudtrail-lookup://{region}/{}--{}/", fmt(start), fmt(end)),
            pages: Mutex::new(BTreeMap::new()),
        }
    }

    /// The key of page `number`.
    pub fn page_key(number: u64) -> String {
        format!("page-{number:06}.json")
    }

    /// Adds a page; returns its key and size.
    pub fn add(&self, page: LookupPage) -> (String, u64) {
        let key = Self::page_key(page.number);
        let size = page.body.len() as u64;
        self.pages.lock().expect("page store").insert(key.clone(), page.body);
        (key, size)
    }

    fn missing(&self, op: &'static str, key: &str) -> StoreError {
        StoreError { op, location: self.location(key), message: "no such page".into(), kind: StoreErrorKind::NotFound }
    }

    fn read_only(&self, op: &'static str, key: &str) -> StoreError {
        StoreError {
            op,
            location: self.location(key),
            message: "lookup pages are read-only".into(),
            kind: StoreErrorKind::Permanent,
        }
    }
}

impl Store for PageStore {
    fn root(&self) -> String {
        self.root.trim_end_matches('/').to_owned()
    }
    fn location(&self, key: &str) -> String {
        format!("{}{key}", self.root)
    }
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let pages = self.pages.lock().expect("page store");
        Ok(pages
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| ObjectInfo { key: k.clone(), size: v.len() as u64, etag: None })
            .collect())
    }
    fn get(&self, key: &str) -> Result<Box<dyn Read + Send>, StoreError> {
        Ok(Box::new(std::io::Cursor::new(self.get_bytes(key)?)))
    }
    fn get_bytes(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        self.pages.lock().expect("page store").remove(key).ok_or_else(|| self.missing("get", key))
    }
    fn head(&self, key: &str) -> Result<Option<(ObjectInfo, ObjectMetadata)>, StoreError> {
        let pages = self.pages.lock().expect("page store");
        Ok(pages
            .get(key)
            .map(|v| (ObjectInfo { key: key.to_owned(), size: v.len() as u64, etag: None }, ObjectMetadata::default())))
    }
    fn put(&self, key: &str, _body: &[u8]) -> Result<(), StoreError> {
        Err(self.read_only("put", key))
    }
    fn put_with_metadata(&self, key: &str, _body: &[u8], _meta: &ObjectMetadata) -> Result<(), StoreError> {
        Err(self.read_only("put", key))
    }
    fn put_if_absent(&self, key: &str, _body: &[u8]) -> Result<bool, StoreError> {
        Err(self.read_only("put", key))
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        Err(self.read_only("delete", key))
    }
}

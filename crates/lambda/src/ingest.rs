//! The ingest Lambda: SQS messages announcing new trail objects in, lake files and Glue
//! partitions out, failures back to SQS as partial batch failures.
//!
//! One invocation handles one SQS batch (up to 10 000 messages with a batching window): every
//! log file of the batch goes through **one** [`lake::Ingestor::ingest`] call, so the batch
//! writes one file per partition (per ~192 MiB window), whatever the number of messages. The
//! file names derive from the batch's source objects (bucket, key, ETag), so a replayed batch
//! rewrites the same objects with the same bytes.
//!
//! Failures never fail the whole batch and never disappear: each failed object's message is
//! returned in `batchItemFailures`, so SQS redelivers it and, after `maxReceiveCount`, moves it
//! to the dead-letter queue; a file that is bad (not a transient read failure) is also
//! quarantined in the lake by the ingestor with its reason. Test events and objects that are not
//! log files (digests, Insights, …) are skipped on purpose and logged.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use aws::glue::GlueTable;
use aws::s3::{ReadAhead, ReadAheadStore, S3Store};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lake::{IngestOptions, Ingestor, Source, Store};
use tokio::runtime::Handle;

use crate::error::{ConfigError, HandlerError, ItemError};
use crate::notification::{self, Notification, ObjectRef};

/// Settings of the ingest function, from the environment (see [`IngestSettings::from_env`]).
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// `s3://bucket/prefix` of the lake (`LAKE_URL`).
    pub lake_url: String,
    /// Glue database to register partitions in (`GLUE_DATABASE`; unset: no registration).
    pub glue_database: Option<String>,
    /// Glue table (`GLUE_TABLE`, default `kms_events`).
    pub glue_table: String,
    /// Objects fetched ahead of parsing (`INGEST_READ_AHEAD`, default 4).
    pub read_ahead: usize,
    /// Bytes fetched ahead at most (`INGEST_READ_AHEAD_MIB`; default from the memory, see
    /// [`read_ahead_mib_for`]).
    pub read_ahead_bytes: u64,
    /// Estimated decompressed MiB per ingest window (`INGEST_WINDOW_MIB`; default from the
    /// memory, see [`window_mib_for`]): the files of one window are parsed together and written
    /// as one file per partition.
    pub window_mib: u64,
    /// Log files up to this many compressed MiB are inflated whole; larger ones stream in
    /// bounded memory (`INGEST_WHOLE_FILE_MIB`; default from the memory, see
    /// [`whole_file_mib_for`]).
    pub whole_file_mib: u64,
}

impl IngestSettings {
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
        let memory = memory_mb();
        Ok(IngestSettings {
            lake_url,
            glue_database: var("GLUE_DATABASE"),
            glue_table: var("GLUE_TABLE").unwrap_or_else(|| lake::partition::KMS_EVENTS_TABLE.to_owned()),
            read_ahead: num("INGEST_READ_AHEAD", 4)? as usize,
            read_ahead_bytes: num("INGEST_READ_AHEAD_MIB", read_ahead_mib_for(memory))? << 20,
            window_mib: num("INGEST_WINDOW_MIB", window_mib_for(memory))?,
            whole_file_mib: num("INGEST_WHOLE_FILE_MIB", whole_file_mib_for(memory))?,
        })
    }

    /// Settings for a lake URL with the defaults (tests, tools).
    pub fn for_lake(lake_url: &str) -> Self {
        IngestSettings {
            lake_url: lake_url.to_owned(),
            glue_database: None,
            glue_table: lake::partition::KMS_EVENTS_TABLE.to_owned(),
            read_ahead: 4,
            read_ahead_bytes: read_ahead_mib_for(None) << 20,
            window_mib: window_mib_for(None),
            whole_file_mib: whole_file_mib_for(None),
        }
    }
}

/// The function's memory in MB (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, set by Lambda), if known.
fn memory_mb() -> Option<u64> {
    std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").ok().and_then(|v| v.trim().parse().ok())
}

/// Default window: a quarter of the function's memory, 32 to 96 MiB (96 when unknown). A
/// window's log files are inflated whole and parsed together, so it is most of the peak memory
/// (bench/lambda-rss.sh); a small function has a fraction of a vCPU and gains nothing from
/// parsing several files at once.
pub fn window_mib_for(memory_mb: Option<u64>) -> u64 {
    share_of_memory(memory_mb, 4, 32, 96)
}

/// Default whole-file bound: compressed MiB = the function's memory / 128, 1 to 8 (8 when
/// unknown). An inflated file is ~10× its compressed size and its rows another few times that,
/// so at 256 MB a 5 MB log file streams (bench/lambda-rss.sh) while ordinary ones (< 1 MB)
/// are parsed whole and together.
pub fn whole_file_mib_for(memory_mb: Option<u64>) -> u64 {
    share_of_memory(memory_mb, 128, 1, 8)
}

/// Default read-ahead: an eighth of the function's memory, 16 to 48 MiB (48 when unknown).
pub fn read_ahead_mib_for(memory_mb: Option<u64>) -> u64 {
    share_of_memory(memory_mb, 8, 16, 48)
}

/// `memory_mb / divisor`, clamped to `min..=max`; `max` when the memory is unknown (outside
/// Lambda), where nothing smaller is called for.
fn share_of_memory(memory_mb: Option<u64>, divisor: u64, min: u64, max: u64) -> u64 {
    memory_mb.map_or(max, |m| (m / divisor).clamp(min, max))
}

/// The ingest function's clients and settings, built once per container.
#[derive(Debug)]
pub struct IngestHandler {
    lake: Arc<S3Store>,
    s3: aws::s3::Client,
    glue: Option<GlueTable>,
    settings: IngestSettings,
    handle: Handle,
}

impl IngestHandler {
    /// A handler over injected clients. `handle` is the runtime the sync store calls run on
    /// (the Lambda's own); the ingest itself runs on a blocking thread.
    pub fn new(
        s3: aws::s3::Client,
        glue: Option<aws::glue::Client>,
        settings: IngestSettings,
        handle: Handle,
    ) -> Result<Self, ConfigError> {
        let lake = S3Store::from_url(s3.clone(), &settings.lake_url, handle.clone())
            .ok_or_else(|| ConfigError::Invalid { name: "LAKE_URL", value: settings.lake_url.clone() })?;
        let glue = match (glue, &settings.glue_database) {
            (Some(client), Some(db)) => Some(GlueTable::new(client, db.clone(), settings.glue_table.clone())),
            _ => None,
        };
        Ok(IngestHandler { lake: Arc::new(lake), s3, glue, settings, handle })
    }

    /// Clients from the standard AWS configuration chain and settings from the environment.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = IngestSettings::from_env()?;
        let config = aws::config::load().await;
        let s3 = aws::config::s3_client(&config);
        let glue = settings.glue_database.as_ref().map(|_| aws::config::glue_client(&config));
        IngestHandler::new(s3, glue, settings, Handle::current())
    }

    pub fn lake(&self) -> &S3Store {
        &self.lake
    }

    pub fn glue(&self) -> Option<&GlueTable> {
        self.glue.as_ref()
    }

    /// Handles one SQS batch. `Err` only when the batch cannot be handled at all (the ingest
    /// thread panicked); every other failure is a batch item failure.
    pub async fn handle(&self, event: SqsEvent) -> Result<SqsBatchResponse, HandlerError> {
        let started = Instant::now();
        let mut failed: BTreeMap<String, ItemError> = BTreeMap::new();
        // Object location → ids of the messages announcing it.
        let mut announced: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut objects: BTreeMap<String, ObjectRef> = BTreeMap::new();
        let mut messages = 0u64;
        let mut skipped_messages = 0u64;
        for (n, message) in event.records.iter().enumerate() {
            messages += 1;
            let id = message.message_id.clone().unwrap_or_else(|| format!("#{n}"));
            let body = message.body.as_deref().unwrap_or("");
            match notification::parse(body) {
                Ok(Notification::Skip(reason)) => {
                    skipped_messages += 1;
                    tracing::info!(message_id = %id, reason = %reason, "message skipped on purpose");
                }
                Ok(Notification::Objects { objects: refs, skipped }) => {
                    for s in skipped {
                        tracing::info!(message_id = %id, reason = %s, "record skipped on purpose");
                    }
                    for o in refs {
                        tracing::info!(message_id = %id, bucket = %o.bucket, key = %o.key, size = o.size, "object announced");
                        announced.entry(o.location()).or_default().push(id.clone());
                        objects.entry(o.location()).or_insert(o);
                    }
                }
                Err(e) => {
                    tracing::error!(message_id = %id, error = %e, retryable = false, "message not understood: failed, SQS will dead-letter it");
                    failed.insert(id, ItemError::Unrecognised(e.to_string()));
                }
            }
        }

        let mut summary = lake::IngestSummary::default();
        let mut partitions = BTreeSet::new();
        if !objects.is_empty() {
            match self.ingest(objects.into_values().collect()).await {
                Ok((report, sizes_missing)) => {
                    for (location, e) in sizes_missing {
                        fail_object(&announced, &location, &e, &mut failed);
                    }
                    for f in &report.failures {
                        let (bucket, key) = split_location(&f.object);
                        tracing::error!(bucket, key, reason = %f.reason, retryable = f.retryable, "object not ingested: its message is reported as failed");
                        let e = ItemError::Source {
                            object: f.object.clone(),
                            reason: f.reason.clone(),
                            retryable: f.retryable,
                        };
                        fail_object(&announced, &f.object, &e, &mut failed);
                    }
                    partitions = aws::glue::partitions_of(&report.written);
                    summary = report.summary;
                    if let Some(glue) = &self.glue {
                        if let Err(e) = glue.register(&partitions).await {
                            tracing::error!(error = %e, retryable = e.retryable, "glue partitions not registered: the batch is reported as failed");
                            for ids in announced.values() {
                                for id in ids {
                                    failed.entry(id.clone()).or_insert_with(|| ItemError::Glue(e.to_string()));
                                }
                            }
                        }
                    }
                }
                Err(HandlerError::Lake(e)) => {
                    tracing::error!(error = %e, retryable = e.is_retryable(), "lake not written: every message of the batch is reported as failed");
                    for ids in announced.values() {
                        for id in ids {
                            failed.entry(id.clone()).or_insert_with(|| ItemError::Lake(e.to_string()));
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }

        let response = SqsBatchResponse {
            batch_item_failures: failed.keys().map(|id| BatchItemFailure { item_identifier: id.clone() }).collect(),
        };
        tracing::info!(
            messages,
            skipped_messages,
            objects = announced.len(),
            files = summary.files,
            skipped_objects = summary.skipped,
            records = summary.records,
            kms_events = summary.kms_events,
            rows = summary.rows,
            duplicates = summary.duplicates,
            quarantined_files = summary.quarantined_files,
            quarantined_records = summary.quarantined_records,
            output_files = summary.output_files,
            partitions = partitions.len(),
            input_bytes = summary.input_bytes,
            failed_messages = response.batch_item_failures.len(),
            duration_ms = started.elapsed().as_millis() as u64,
            "batch ingested"
        );
        Ok(response)
    }

    /// Ingests the objects in one `Ingestor::ingest` call on a blocking thread. Objects whose
    /// size is unknown are HEADed first; those that cannot be are returned as failures.
    async fn ingest(
        &self,
        objects: Vec<ObjectRef>,
    ) -> Result<(lake::IngestReport, Vec<(String, ItemError)>), HandlerError> {
        let mut by_bucket: BTreeMap<String, Vec<ObjectRef>> = BTreeMap::new();
        let mut missing = Vec::new();
        for mut o in objects {
            if o.size.is_none() {
                let store = S3Store::new(self.s3.clone(), &o.bucket, "", self.handle.clone());
                match store.head_async(&o.key).await {
                    Ok(Some((info, _))) => {
                        o.size = Some(info.size);
                        o.etag = o.etag.or(info.etag);
                    }
                    Ok(None) => {
                        missing.push((
                            o.location(),
                            ItemError::Source {
                                object: o.location(),
                                reason: "object not found".into(),
                                retryable: true,
                            },
                        ));
                        continue;
                    }
                    Err(e) => {
                        missing.push((
                            o.location(),
                            ItemError::Source {
                                object: o.location(),
                                reason: e.to_string(),
                                retryable: e.is_retryable(),
                            },
                        ));
                        continue;
                    }
                }
            }
            by_bucket.entry(o.bucket.clone()).or_default().push(o);
        }
        let opts = IngestOptions {
            window_bytes: self.settings.window_mib << 20,
            in_memory_max: self.settings.whole_file_mib << 20,
            ..IngestOptions::default()
        };
        let mut sources = Vec::new();
        for (bucket, objs) in by_bucket {
            let store = S3Store::new(self.s3.clone(), &bucket, "", self.handle.clone());
            let mut plan: Vec<(String, u64)> = objs
                .iter()
                .filter(|o| {
                    trail::ObjectKind::of(&o.key).skip_reason().is_none() && o.size.unwrap_or(0) <= opts.in_memory_max
                })
                .map(|o| (o.key.clone(), o.size.unwrap_or(0)))
                .collect();
            plan.sort();
            let store: Arc<dyn Store> = if self.settings.read_ahead > 1 && !plan.is_empty() {
                let ahead = ReadAhead::new(store, plan, self.settings.read_ahead, self.settings.read_ahead_bytes);
                ahead.prime();
                Arc::new(ReadAheadStore(ahead))
            } else {
                Arc::new(store)
            };
            for o in objs {
                sources.push(Source { store: store.clone(), key: o.key, size: o.size.unwrap_or(0), etag: o.etag });
            }
        }
        let lake: Arc<dyn Store> = self.lake.clone();
        let report = tokio::task::spawn_blocking(move || {
            let mut ingestor = Ingestor::new(lake, opts);
            ingestor.ingest(sources, &|_, _| {})
        })
        .await
        .map_err(|e| HandlerError::Panicked(e.to_string()))??;
        Ok((report, missing))
    }
}

fn fail_object(
    announced: &BTreeMap<String, Vec<String>>,
    location: &str,
    error: &ItemError,
    failed: &mut BTreeMap<String, ItemError>,
) {
    match announced.get(location) {
        Some(ids) => {
            for id in ids {
                failed.entry(id.clone()).or_insert_with(|| error.clone());
            }
        }
        // Cannot happen: every source comes from a message. Fail loudly in the log.
        None => tracing::error!(object = %location, "failed object maps to no message"),
    }
}

/// `s3://bucket/key` → (bucket, key), for log fields.
fn split_location(location: &str) -> (&str, &str) {
    location.strip_prefix("s3://").and_then(|r| r.split_once('/')).unwrap_or(("", location))
}

/// Message ids of a response, for tests and logs.
pub fn failed_ids(response: &SqsBatchResponse) -> Vec<String> {
    response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect()
}

#[cfg(test)]
mod memory_defaults_tests {
    use super::*;

    #[test]
    fn window_and_read_ahead_scale_with_the_function_memory() {
        assert_eq!((window_mib_for(Some(256)), read_ahead_mib_for(Some(256))), (64, 32));
        assert_eq!((window_mib_for(Some(128)), read_ahead_mib_for(Some(128))), (32, 16));
        assert_eq!((window_mib_for(Some(3008)), read_ahead_mib_for(Some(3008))), (96, 48));
        assert_eq!((window_mib_for(None), read_ahead_mib_for(None)), (96, 48));
        assert_eq!([256, 1024, 3008].map(|m| whole_file_mib_for(Some(m))), [2, 8, 8]);
        assert_eq!(whole_file_mib_for(None), 8);
    }
}

//! Reading `kms_events` back: partition pruning on `key_id` and `dt`, column projection, and
//! a time filter, file by file so memory stays bounded by one file's batches.

use arrow::array::{Array, AsArray, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::TimestampMillisecondType;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use crate::partition::{encode_value, Partition, KMS_EVENTS_TABLE};
use crate::schema::col;
use crate::store::{ObjectInfo, Store};
use crate::LakeError;

const DAY_MS: i64 = 86_400_000;

/// Which events to read.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Key ids (the `key_id` partition value, un-encoded: a UUID, `mrk-…` or `_none`);
    /// `None` reads every key.
    pub key_ids: Option<Vec<String>>,
    /// Inclusive lower bound on `event_time` (ms since the epoch).
    pub from_ms: Option<i64>,
    /// Exclusive upper bound on `event_time` (ms since the epoch).
    pub to_ms: Option<i64>,
    /// Columns to read (names from [`crate::schema::col`]); `None` reads all.
    pub columns: Option<Vec<String>>,
}

/// A lake file with its partition.
#[derive(Debug, Clone)]
pub struct EventFile {
    pub object: ObjectInfo,
    pub partition: Partition,
}

/// Lists the `kms_events` files the filter can match, pruning on key and day.
pub fn list_event_files(lake: &dyn Store, filter: &EventFilter) -> Result<Vec<EventFile>, LakeError> {
    let prefixes: Vec<String> = match &filter.key_ids {
        Some(keys) => keys.iter().map(|k| format!("{KMS_EVENTS_TABLE}/key_id={}/", encode_value(k))).collect(),
        None => vec![format!("{KMS_EVENTS_TABLE}/")],
    };
    let first_day = filter.from_ms.map(|t| day_string(t.div_euclid(DAY_MS)));
    let last_day = filter.to_ms.map(|t| day_string((t - 1).div_euclid(DAY_MS)));
    let mut out = Vec::new();
    for prefix in prefixes {
        for object in lake.list(&prefix)? {
            if !object.key.ends_with(".parquet") {
                continue;
            }
            let Some(partition) = Partition::from_path(&object.key) else { continue };
            // `dt` values are ISO dates, so string order is date order.
            if first_day.as_ref().is_some_and(|d| partition.dt < *d)
                || last_day.as_ref().is_some_and(|d| partition.dt > *d)
            {
                continue;
            }
            out.push(EventFile { object, partition });
        }
    }
    out.sort_by(|a, b| a.object.key.cmp(&b.object.key));
    Ok(out)
}

/// Reads one file's rows that pass the filter, as batches of the projected columns.
pub fn read_event_file(
    lake: &dyn Store,
    file: &EventFile,
    filter: &EventFilter,
) -> Result<Vec<RecordBatch>, LakeError> {
    let bytes = Bytes::from(lake.get_bytes(&file.object.key)?);
    read_event_bytes(bytes, filter)
}

/// Decodes Parquet bytes of a `kms_events` file with the filter's projection and time bounds.
pub fn read_event_bytes(bytes: Bytes, filter: &EventFilter) -> Result<Vec<RecordBatch>, LakeError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
    let time_filter = filter.from_ms.is_some() || filter.to_ms.is_some();
    let builder = match &filter.columns {
        Some(columns) => {
            let schema = builder.parquet_schema();
            let wanted: Vec<usize> = (0..schema.num_columns())
                .filter(|&i| {
                    let root = schema.get_column_root(i).name();
                    columns.iter().any(|c| c == root) || (time_filter && root == col::EVENT_TIME)
                })
                .collect();
            let mask = ProjectionMask::leaves(schema, wanted);
            builder.with_projection(mask)
        }
        None => builder,
    };
    let reader = builder.with_batch_size(8192).build()?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch?;
        let batch = if time_filter { filter_time(&batch, filter)? } else { batch };
        if batch.num_rows() > 0 {
            out.push(batch);
        }
    }
    Ok(out)
}

fn filter_time(batch: &RecordBatch, filter: &EventFilter) -> Result<RecordBatch, LakeError> {
    let times =
        batch.column_by_name(col::EVENT_TIME).expect("event_time projected").as_primitive::<TimestampMillisecondType>();
    let from = filter.from_ms.unwrap_or(i64::MIN);
    let to = filter.to_ms.unwrap_or(i64::MAX);
    if times.null_count() == 0 && times.values().iter().all(|&t| t >= from && t < to) {
        return Ok(batch.clone());
    }
    let keep: BooleanArray = times.iter().map(|t| Some(t.is_some_and(|t| t >= from && t < to))).collect();
    Ok(filter_record_batch(batch, &keep)?)
}

fn day_string(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0).unwrap_or_default().format("%Y-%m-%d").to_string()
}

/// Calls `f` with every batch of every matching file, files decoded in parallel (bounded by
/// the number of cores) and delivered in key order.
pub fn for_each_event_batch<F>(lake: &dyn Store, filter: &EventFilter, mut f: F) -> Result<u64, LakeError>
where
    F: FnMut(&EventFile, RecordBatch) -> Result<(), LakeError>,
{
    use rayon::prelude::*;
    let files = list_event_files(lake, filter)?;
    let chunk = rayon::current_num_threads().max(1) * 2;
    let mut rows = 0u64;
    for group in files.chunks(chunk) {
        let decoded: Vec<Result<Vec<RecordBatch>, LakeError>> =
            group.par_iter().map(|file| read_event_file(lake, file, filter)).collect();
        for (file, batches) in group.iter().zip(decoded) {
            for batch in batches? {
                rows += batch.num_rows() as u64;
                f(file, batch)?;
            }
        }
    }
    Ok(rows)
}

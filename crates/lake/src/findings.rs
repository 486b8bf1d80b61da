//! The reconcile side of the lake: reading `kms_events` in parallel for a consumer that folds
//! batches (the reconciler), and writing what it produces — findings and the expectations
//! tables the Athena SQL joins against — as Parquet with explicit writer properties.
//!
//! Layout (DESIGN.md §2 and `queries/reconcile/expectations_ddl.sql`):
//!
//! | table | object |
//! |---|---|
//! | `findings` | `LAKE/findings/dt=<YYYY-MM-DD>/<run>.parquet` (one file per UTC day of `event_time` per run) |
//! | `expectations` | `LAKE/expectations/expectations.parquet` (replaced whole at each run) |
//! | `expectations_allow` | `LAKE/expectations_allow/expectations_allow.parquet` |
//! | `expectations_keys` | `LAKE/expectations_keys/expectations_keys.parquet` |
//!
//! The crate knows nothing of the reconciler: batches come in and go out with their own schema.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use arrow::array::{Array, AsArray, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::{DataType, SchemaRef, TimeUnit, TimestampMillisecondType};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};

use crate::partition::encode_value;
use crate::read::{EventFile, EventFilter};
use crate::store::Store;
use crate::LakeError;

/// Folder of the `findings` table.
pub const FINDINGS_TABLE: &str = "findings";
/// Folders (and file stems) of the expectations tables.
pub const EXPECTATIONS_TABLES: [&str; 3] = ["expectations", "expectations_allow", "expectations_keys"];

/// Rows per row group of findings and expectations files (they are small; one group per file
/// in practice).
pub const MAX_ROW_GROUP_ROWS: usize = 1_000_000;

/// Rows per decoded batch when reading `kms_events` for a fold: large enough that per-batch
/// overheads vanish, small enough that two workers' batches stay a few MiB.
pub const READ_BATCH_ROWS: usize = 32 * 1024;

/// Writer properties of findings and expectations files: ZSTD level 3 (small, rarely written
/// files), chunk statistics, Parquet 1.0 pages (Athena engine v3, DuckDB, Spark all read them),
/// and, when the schema has one, `sorted_by` on the time column the rows are sorted by.
pub fn writer_properties(schema: &SchemaRef, sorted_by: Option<&str>) -> WriterProperties {
    let sorting = sorted_by
        .and_then(|c| schema.index_of(c).ok())
        .map(|i| vec![SortingColumn { column_idx: i as i32, descending: false, nulls_first: true }]);
    WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("valid zstd level")))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_max_row_group_size(MAX_ROW_GROUP_ROWS)
        .set_sorting_columns(sorting)
        .set_created_by(format!("kms-audit {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Encodes one batch as a Parquet file in memory.
pub fn encode(batch: &RecordBatch, sorted_by: Option<&str>) -> Result<Vec<u8>, LakeError> {
    let schema = batch.schema();
    let mut out = Vec::with_capacity(batch.get_array_memory_size() / 4 + 1024);
    let mut writer = ArrowWriter::try_new(&mut out, schema.clone(), Some(writer_properties(&schema, sorted_by)))?;
    writer.write(batch)?;
    writer.close()?;
    Ok(out)
}

/// A run id made safe for an object name: every byte outside `[A-Za-z0-9._-]` percent-encoded.
pub fn run_file_stem(run_id: &str) -> String {
    encode_value(run_id)
}

/// Key of a run's findings file for one day: `findings/dt=<day>/<run>.parquet`.
pub fn findings_key(day: &str, run_id: &str) -> String {
    format!("{FINDINGS_TABLE}/dt={}/{}.parquet", encode_value(day), run_file_stem(run_id))
}

/// Key of an expectations table's file: `<table>/<table>.parquet`.
pub fn table_key(table: &str) -> String {
    format!("{table}/{table}.parquet")
}

/// Writes findings (rows in the `findings` schema, `event_time` a UTC timestamp column) as one
/// file per UTC day of `event_time` under `findings/dt=<day>/<run>.parquet`; rows without a time
/// go to `default_day`. Rows keep their order within a day (the reconciler's order, by time).
/// A rerun with the same run id replaces its files. Returns the keys written (none for no rows).
pub fn write_findings(
    store: &dyn Store,
    run_id: &str,
    findings: &RecordBatch,
    time_column: &str,
    default_day: &str,
) -> Result<Vec<String>, LakeError> {
    let mut by_day: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    let days = day_of_rows(findings, time_column)?;
    for (i, d) in days.into_iter().enumerate() {
        by_day.entry(d.unwrap_or_else(|| default_day.to_owned())).or_default().push(i as u32);
    }
    let mut written = Vec::new();
    for (day, rows) in by_day {
        let part = take_record_batch(findings, &UInt32Array::from(rows))?;
        let key = findings_key(&day, run_id);
        store.put(&key, &encode(&part, Some(time_column))?)?;
        written.push(key);
    }
    Ok(written)
}

/// UTC day (`YYYY-MM-DD`) of each row's timestamp; `None` for nulls.
fn day_of_rows(batch: &RecordBatch, time_column: &str) -> Result<Vec<Option<String>>, LakeError> {
    let col = batch
        .column_by_name(time_column)
        .ok_or_else(|| LakeError::Arrow(arrow::error::ArrowError::SchemaError(format!("no column {time_column:?}"))))?;
    let ms = match col.data_type() {
        DataType::Timestamp(TimeUnit::Millisecond, _) => col.clone(),
        DataType::Timestamp(_, tz) => {
            arrow::compute::cast(col, &DataType::Timestamp(TimeUnit::Millisecond, tz.clone()))?
        }
        other => {
            return Err(LakeError::Arrow(arrow::error::ArrowError::SchemaError(format!(
                "column {time_column:?} is {other}, not a timestamp"
            ))))
        }
    };
    let ms = ms.as_primitive::<TimestampMillisecondType>();
    Ok((0..ms.len())
        .map(|i| {
            (!ms.is_null(i)).then(|| {
                chrono::DateTime::from_timestamp_millis(ms.value(i)).unwrap_or_default().format("%Y-%m-%d").to_string()
            })
        })
        .collect())
}

/// Writes (replaces) one expectations table's file, `<table>/<table>.parquet`. Returns its key.
pub fn write_table(store: &dyn Store, table: &str, batch: &RecordBatch) -> Result<String, LakeError> {
    let key = table_key(table);
    store.put(&key, &encode(batch, None)?)?;
    Ok(key)
}

/// Streams one `kms_events` file's batches, projected to `columns` (all when `None`), to `f`:
/// memory is one decoded batch plus the file's bytes, not the whole decoded file.
pub fn for_each_file_batch<E, F>(
    store: &dyn Store,
    file: &EventFile,
    columns: Option<&[String]>,
    mut f: F,
) -> Result<u64, E>
where
    E: From<LakeError>,
    F: FnMut(RecordBatch) -> Result<(), E>,
{
    let loc = || store.location(&file.object.key);
    let pq = |e: parquet::errors::ParquetError| {
        LakeError::Parquet(parquet::errors::ParquetError::General(format!("{}: {e}", loc())))
    };
    let bytes = Bytes::from(store.get_bytes(&file.object.key).map_err(LakeError::from)?);
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(pq)?;
    let builder = match columns {
        Some(columns) => {
            let schema = builder.parquet_schema();
            let wanted: Vec<usize> = (0..schema.num_columns())
                .filter(|&i| columns.iter().any(|c| c == schema.get_column_root(i).name()))
                .collect();
            let mask = ProjectionMask::leaves(schema, wanted);
            builder.with_projection(mask)
        }
        None => builder,
    };
    let reader = builder.with_batch_size(READ_BATCH_ROWS).build().map_err(pq)?;
    let mut rows = 0u64;
    for batch in reader {
        let batch =
            batch.map_err(|e| LakeError::Arrow(arrow::error::ArrowError::ParseError(format!("{}: {e}", loc()))))?;
        rows += batch.num_rows() as u64;
        f(batch)?;
    }
    Ok(rows)
}

/// Folds every batch of `files` on `threads` worker threads (0: one per available core). Each
/// worker starts from `init()`, takes the next file (largest first, so the tail is short),
/// streams its batches (projected to `filter.columns`) into `fold`, and returns its
/// accumulator; the caller merges the accumulators (one per worker that got a file, in worker
/// order). The first error stops every worker and is returned.
///
/// `filter` is only used for its columns here: prune files with
/// [`crate::read::list_event_files`] first, and leave row-level time bounds to the consumer.
pub fn fold_event_files<T, E, I, F>(
    store: &dyn Store,
    files: &[EventFile],
    filter: &EventFilter,
    threads: usize,
    init: I,
    fold: F,
) -> Result<(Vec<T>, u64), E>
where
    T: Send,
    E: From<LakeError> + Send,
    I: Fn() -> T + Sync,
    F: Fn(&mut T, &EventFile, RecordBatch) -> Result<(), E> + Sync,
{
    let threads = if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads };
    let threads = threads.min(files.len()).max(1);
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by(|&a, &b| files[b].object.size.cmp(&files[a].object.size).then(a.cmp(&b)));
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let first_error: Mutex<Option<E>> = Mutex::new(None);
    let columns = filter.columns.as_deref();
    let results: Vec<Option<(T, u64)>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut acc: Option<T> = None;
                    let mut rows = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&fi) = order.get(i) else { break };
                        let file = &files[fi];
                        let a = acc.get_or_insert_with(&init);
                        match for_each_file_batch(store, file, columns, |b| fold(a, file, b)) {
                            Ok(n) => rows += n,
                            Err(e) => {
                                stop.store(true, Ordering::Relaxed);
                                let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                                slot.get_or_insert(e);
                                break;
                            }
                        }
                    }
                    acc.map(|a| (a, rows))
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    });
    if let Some(e) = first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut total = 0u64;
    let accs = results
        .into_iter()
        .flatten()
        .map(|(a, n)| {
            total += n;
            a
        })
        .collect();
    Ok((accs, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{StringArray, TimestampMillisecondArray};
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn findings(times: &[Option<i64>]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("rule", DataType::Utf8, false),
            Field::new("event_time", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["r"; times.len()])),
                Arc::new(TimestampMillisecondArray::from(times.to_vec()).with_timezone("UTC")),
            ],
        )
        .unwrap()
    }

    #[test]
    fn findings_split_by_day_and_replace() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::LocalStore::new(dir.path());
        // 2025-03-10T23:59:59.999Z, 2025-03-11T00:00:00Z, null
        let b = findings(&[Some(1_741_651_199_999), Some(1_741_651_200_000), None]);
        let keys = write_findings(&store, "2025-03-17T06:00:00Z", &b, "event_time", "2025-03-17").unwrap();
        assert_eq!(
            keys,
            vec![
                "findings/dt=2025-03-10/2025-03-17T06%3A00%3A00Z.parquet",
                "findings/dt=2025-03-11/2025-03-17T06%3A00%3A00Z.parquet",
                "findings/dt=2025-03-17/2025-03-17T06%3A00%3A00Z.parquet",
            ]
        );
        let again = write_findings(&store, "2025-03-17T06:00:00Z", &b, "event_time", "2025-03-17").unwrap();
        assert_eq!(keys, again);
        assert_eq!(crate::Store::list(&store, "findings/").unwrap().len(), 3);
        let bytes = std::fs::read(store.path(&keys[0])).unwrap();
        let r = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes)).unwrap();
        let md = r.metadata().clone();
        assert_eq!(md.file_metadata().num_rows(), 1);
        let col = md.row_group(0).column(0);
        assert!(matches!(col.compression(), Compression::ZSTD(_)));
        assert!(col.statistics().is_some());
        assert_eq!(md.row_group(0).sorting_columns().map(|s| s[0].column_idx), Some(1));
    }

    #[test]
    fn empty_findings_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::LocalStore::new(dir.path());
        assert!(write_findings(&store, "r", &findings(&[]), "event_time", "2025-03-17").unwrap().is_empty());
    }
}

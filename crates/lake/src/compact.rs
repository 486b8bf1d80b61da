//! Compaction: each `kms_events` partition's files merged into one file, sorted by
//! `event_time` and deduplicated on (`account_id`, `event_id`).
//!
//! Why: the ingest writes one file per partition per batch (a Lambda batch, a CLI window), so a
//! busy partition-day collects hundreds of small files, and Athena scans of many small files
//! are tens of times slower than of one large file.
//!
//! How, per partition with two or more files:
//! 1. read the input files and merge them (a streaming k-way merge: every file the ingest writes
//!    is already sorted, so memory is one small batch per input plus the encoded output; a file
//!    found unsorted is sorted in memory instead);
//! 2. write the merged file under a deterministic name derived from the inputs
//!    (`compacted-<hash>.parquet`), **then** delete the inputs.
//!
//! So a reader never sees a partition with rows missing: before step 2 it sees the inputs,
//! between the write and the deletes it sees the inputs *and* the merged file (duplicates are
//! visible for that moment: readers that need exact counts deduplicate on
//! (`account_id`, `event_id`), as the queries do), afterwards only the merged file. A crash
//! between the two steps leaves exactly that state, and the next run merges the merged file
//! with the leftovers into a new one: reruns are safe and converge. A partition with one file
//! is left alone, so a second run changes nothing.
//!
//! Late events: an ingest that lands rows of an already compacted day writes a new file into
//! that partition; the next compaction folds it in.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap, HashSet};

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::compute::{concat_batches, interleave_record_batch, lexsort_to_indices, take_record_batch, SortColumn};
use arrow::datatypes::TimestampMillisecondType;
use bytes::Bytes;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ArrowWriter;
use rayon::prelude::*;
use xxhash_rust::xxh3::Xxh3;

use crate::partition::{Partition, KMS_EVENTS_TABLE};
use crate::schema::{col, kms_events_schema};
use crate::store::{ObjectInfo, Store};
use crate::writer::writer_properties;
use crate::LakeError;

/// What compacting one partition gave: the merged file's key and its counts.
type PartitionOutcome = Result<(String, CompactSummary), LakeError>;

/// Name prefix of merged files.
pub const COMPACTED_PREFIX: &str = "compacted-";
/// Rows decoded at once across all inputs of a partition (split between the inputs).
const MERGE_ROWS_BUDGET: usize = 128 * 1024;
/// Rows per output batch handed to the Parquet writer.
const OUTPUT_BATCH_ROWS: usize = 8192;

/// Which partitions to compact.
#[derive(Debug, Clone, Default)]
pub struct CompactOptions {
    /// Only partitions of this day (`YYYY-MM-DD`).
    pub dt: Option<String>,
    /// Only partitions of days strictly before this one (`YYYY-MM-DD`): the scheduled run uses
    /// today, so the day still being written is left alone.
    pub before: Option<String>,
}

/// What a compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CompactSummary {
    /// Partitions that matched the options.
    pub partitions: u64,
    /// Partitions merged (those with two or more files).
    pub compacted: u64,
    pub input_files: u64,
    pub input_bytes: u64,
    pub input_rows: u64,
    pub output_files: u64,
    pub output_bytes: u64,
    pub output_rows: u64,
    /// Rows dropped as duplicates of (`account_id`, `event_id`).
    pub duplicates: u64,
    /// Partitions with an input that was not sorted, merged after sorting each input in memory.
    pub resorted: u64,
}

/// A partition that could not be compacted; its files are untouched (or, if the failure came
/// after the merged file was written, still all there next to it).
#[derive(Debug, Clone)]
pub struct CompactFailure {
    /// Partition folder relative to the lake root.
    pub partition: String,
    pub reason: String,
    pub retryable: bool,
}

/// Outcome of [`compact`].
#[derive(Debug, Default)]
pub struct CompactReport {
    pub summary: CompactSummary,
    /// Merged files written (lake keys).
    pub written: Vec<String>,
    pub failures: Vec<CompactFailure>,
}

/// Compacts every matching partition of the lake, partitions in parallel. A failing partition
/// is reported and the others go on; `Err` only when the lake cannot be listed.
pub fn compact(lake: &dyn Store, opts: &CompactOptions) -> Result<CompactReport, LakeError> {
    let mut partitions: BTreeMap<Partition, Vec<ObjectInfo>> = BTreeMap::new();
    for object in lake.list(&format!("{KMS_EVENTS_TABLE}/"))? {
        if !object.key.ends_with(".parquet") {
            continue;
        }
        let Some(p) = Partition::from_path(&object.key) else { continue };
        // Only files directly in the partition folder.
        if object.key[p.dir().len().min(object.key.len())..].contains('/') || !object.key.starts_with(&p.dir()) {
            continue;
        }
        if opts.dt.as_ref().is_some_and(|d| p.dt != *d) || opts.before.as_ref().is_some_and(|b| p.dt >= *b) {
            continue;
        }
        partitions.entry(p).or_default().push(object);
    }
    let mut report = CompactReport::default();
    report.summary.partitions = partitions.len() as u64;
    let work: Vec<(Partition, Vec<ObjectInfo>)> = partitions.into_iter().filter(|(_, files)| files.len() > 1).collect();
    let results: Vec<(String, PartitionOutcome)> =
        work.into_par_iter().map(|(p, files)| (p.dir(), compact_partition(lake, &p, &files))).collect();
    for (dir, result) in results {
        match result {
            Ok((key, s)) => {
                report.written.push(key);
                let t = &mut report.summary;
                t.compacted += 1;
                t.input_files += s.input_files;
                t.input_bytes += s.input_bytes;
                t.input_rows += s.input_rows;
                t.output_files += s.output_files;
                t.output_bytes += s.output_bytes;
                t.output_rows += s.output_rows;
                t.duplicates += s.duplicates;
                t.resorted += s.resorted;
            }
            Err(e) => {
                tracing::error!(partition = %dir, error = %e, "partition not compacted");
                report.failures.push(CompactFailure {
                    partition: dir,
                    reason: e.to_string(),
                    retryable: e.is_retryable(),
                });
            }
        }
    }
    Ok(report)
}

/// Name of the merged file of `inputs` (sorted by key): a hash of their keys, sizes and ETags.
pub fn merged_key(partition: &Partition, inputs: &[ObjectInfo]) -> String {
    let mut h = Xxh3::new();
    for o in inputs {
        h.update(o.key.as_bytes());
        h.update(&[0]);
        h.update(&o.size.to_le_bytes());
        h.update(o.etag.as_deref().unwrap_or("").as_bytes());
        h.update(&[0]);
    }
    format!("{}{COMPACTED_PREFIX}{:032x}.parquet", partition.dir(), h.digest128())
}

/// Merges one partition's `files` into one file, then deletes them. Returns the merged key.
pub fn compact_partition(
    lake: &dyn Store,
    partition: &Partition,
    files: &[ObjectInfo],
) -> Result<(String, CompactSummary), LakeError> {
    let mut files = files.to_vec();
    files.sort_by(|a, b| a.key.cmp(&b.key));
    let out_key = merged_key(partition, &files);
    let mut summary = CompactSummary { input_files: files.len() as u64, ..CompactSummary::default() };
    let mut bodies = Vec::with_capacity(files.len());
    for f in &files {
        let body = Bytes::from(lake.get_bytes(&f.key)?);
        summary.input_bytes += body.len() as u64;
        bodies.push(body);
    }
    let batch_rows = (MERGE_ROWS_BUDGET / files.len().max(1)).clamp(128, OUTPUT_BATCH_ROWS);
    let merged = match merge(&bodies, batch_rows, false, &mut summary) {
        Err(MergeError::Unsorted) => {
            summary.input_rows = 0;
            summary.duplicates = 0;
            summary.output_rows = 0;
            summary.resorted = 1;
            tracing::warn!(partition = %partition.dir(), "an input is not sorted by event_time: sorting in memory");
            merge(&bodies, batch_rows, true, &mut summary)
        }
        other => other,
    };
    let bytes = match merged {
        Ok(bytes) => bytes,
        Err(MergeError::Lake(e)) => return Err(e),
        Err(MergeError::Unsorted) => unreachable!("inputs are sorted in memory on the second pass"),
    };
    drop(bodies);
    summary.output_bytes = bytes.len() as u64;
    summary.output_files = 1;
    lake.put(&out_key, &bytes)?;
    for f in &files {
        if f.key != out_key {
            lake.delete(&f.key)?;
        }
    }
    tracing::info!(
        partition = %partition.dir(),
        inputs = summary.input_files,
        rows = summary.output_rows,
        duplicates = summary.duplicates,
        output = %out_key,
        "partition compacted"
    );
    Ok((out_key, summary))
}

enum MergeError {
    /// An input is not sorted by the merge order: retry with inputs sorted in memory.
    Unsorted,
    Lake(LakeError),
}

impl<E: Into<LakeError>> From<E> for MergeError {
    fn from(e: E) -> Self {
        MergeError::Lake(e.into())
    }
}

/// The merge order of a row: (`event_time`, `event_id`, `account_id`, `source_object`).
/// Owned, so a heap can hold it; compaction is not the hot path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RowKey {
    time: i64,
    event_id: String,
    account: Option<String>,
    source: String,
}

/// One input file being merged: its batches, the current one and the row cursor.
struct Input {
    batches: Box<dyn Iterator<Item = Result<RecordBatch, LakeError>> + Send>,
    current: Option<RecordBatch>,
    /// Slot of `current` among the batches the pending output rows refer to.
    slot: usize,
    row: usize,
    last: Option<RowKey>,
}

impl Input {
    /// Loads the next non-empty batch; `false` at the end.
    fn advance_batch(&mut self) -> Result<bool, LakeError> {
        self.current = None;
        self.row = 0;
        for batch in self.batches.by_ref() {
            let batch = batch?;
            if batch.num_rows() > 0 {
                self.current = Some(batch);
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn key(&self) -> Option<RowKey> {
        let b = self.current.as_ref()?;
        let i = self.row;
        let times = b.column_by_name(col::EVENT_TIME)?.as_primitive::<TimestampMillisecondType>();
        let ids = b.column_by_name(col::EVENT_ID)?.as_string::<i32>();
        let accounts = b.column_by_name(col::ACCOUNT_ID)?.as_string::<i32>();
        let sources = b.column_by_name(col::SOURCE_OBJECT)?.as_string::<i32>();
        Some(RowKey {
            time: times.value(i),
            event_id: ids.value(i).to_owned(),
            account: (!accounts.is_null(i)).then(|| accounts.value(i).to_owned()),
            source: sources.value(i).to_owned(),
        })
    }
}

fn decode(body: &Bytes, batch_rows: usize) -> Result<ParquetRecordBatchReader, LakeError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(body.clone())?;
    if builder.schema().fields() != kms_events_schema().fields() {
        return Err(LakeError::Arrow(arrow::error::ArrowError::SchemaError(
            "file does not have the kms_events schema".into(),
        )));
    }
    Ok(builder.with_batch_size(batch_rows).build()?)
}

/// A whole file decoded and sorted by the merge order.
fn sorted_in_memory(body: &Bytes) -> Result<RecordBatch, LakeError> {
    let batches: Vec<RecordBatch> = decode(body, OUTPUT_BATCH_ROWS)?.collect::<Result<_, _>>()?;
    let all = concat_batches(&kms_events_schema(), &batches)?;
    let by =
        |name: &str| SortColumn { values: all.column_by_name(name).expect("kms_events column").clone(), options: None };
    let idx = lexsort_to_indices(
        &[by(col::EVENT_TIME), by(col::EVENT_ID), by(col::ACCOUNT_ID), by(col::SOURCE_OBJECT)],
        None,
    )?;
    Ok(take_record_batch(&all, &idx)?)
}

/// Merges the inputs into Parquet bytes, keeping the first row of each (account, event id)
/// in merge order. With `sort_each`, every input is first sorted in memory.
fn merge(
    bodies: &[Bytes],
    batch_rows: usize,
    sort_each: bool,
    summary: &mut CompactSummary,
) -> Result<Vec<u8>, MergeError> {
    let mut inputs = Vec::with_capacity(bodies.len());
    for body in bodies {
        let batches: Box<dyn Iterator<Item = Result<RecordBatch, LakeError>> + Send> = if sort_each {
            let sorted = sorted_in_memory(body)?;
            let slices: Vec<RecordBatch> = (0..sorted.num_rows())
                .step_by(batch_rows)
                .map(|at| sorted.slice(at, batch_rows.min(sorted.num_rows() - at)))
                .collect();
            Box::new(slices.into_iter().map(Ok))
        } else {
            Box::new(decode(body, batch_rows)?.map(|b| b.map_err(LakeError::from)))
        };
        inputs.push(Input { batches, current: None, slot: 0, row: 0, last: None });
    }

    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, kms_events_schema(), Some(writer_properties()))?;
    // Batches the pending output rows point into, and the pending rows as (slot, row).
    let mut pinned: Vec<RecordBatch> = Vec::new();
    let mut pending: Vec<(usize, usize)> = Vec::with_capacity(OUTPUT_BATCH_ROWS);
    let mut heap: BinaryHeap<Reverse<(RowKey, usize)>> = BinaryHeap::new();
    let mut seen: HashSet<u128> = HashSet::new();

    for (i, input) in inputs.iter_mut().enumerate() {
        if input.advance_batch()? {
            input.slot = pinned.len();
            pinned.push(input.current.clone().expect("current batch"));
            heap.push(Reverse((input.key().ok_or(MergeError::Unsorted)?, i)));
        }
    }
    while let Some(Reverse((key, i))) = heap.pop() {
        summary.input_rows += 1;
        let input = &mut inputs[i];
        if input.last.as_ref().is_some_and(|last| key.cmp(last) == Ordering::Less) {
            return Err(MergeError::Unsorted);
        }
        let mut h = Xxh3::new();
        h.update(key.account.as_deref().unwrap_or("").as_bytes());
        h.update(&[0]);
        h.update(key.event_id.as_bytes());
        if seen.insert(h.digest128()) {
            pending.push((input.slot, input.row));
        } else {
            summary.duplicates += 1;
        }
        input.last = Some(key);
        input.row += 1;
        let exhausted = input.current.as_ref().is_none_or(|b| input.row >= b.num_rows());
        if exhausted && input.advance_batch()? {
            input.slot = pinned.len();
            pinned.push(input.current.clone().expect("current batch"));
        }
        if input.current.is_some() {
            heap.push(Reverse((input.key().ok_or(MergeError::Unsorted)?, i)));
        }
        if pending.len() >= OUTPUT_BATCH_ROWS {
            flush(&mut writer, &mut pinned, &mut pending, &mut inputs, summary)?;
        }
    }
    flush(&mut writer, &mut pinned, &mut pending, &mut inputs, summary)?;
    writer.close()?;
    Ok(out)
}

/// Writes the pending rows and re-pins only the inputs' current batches.
fn flush(
    writer: &mut ArrowWriter<&mut Vec<u8>>,
    pinned: &mut Vec<RecordBatch>,
    pending: &mut Vec<(usize, usize)>,
    inputs: &mut [Input],
    summary: &mut CompactSummary,
) -> Result<(), MergeError> {
    if !pending.is_empty() {
        let refs: Vec<&RecordBatch> = pinned.iter().collect();
        let batch = interleave_record_batch(&refs, pending)?;
        summary.output_rows += batch.num_rows() as u64;
        writer.write(&batch)?;
        pending.clear();
    }
    pinned.clear();
    for input in inputs.iter_mut() {
        if let Some(b) = &input.current {
            input.slot = pinned.len();
            pinned.push(b.clone());
        }
    }
    Ok(())
}

/// Sanity helper for tests and tools: whether `event_time` never decreases in `batch`.
pub fn is_time_sorted(batch: &RecordBatch) -> bool {
    let Some(t) = batch.column_by_name(col::EVENT_TIME) else { return true };
    let t = t.as_primitive::<TimestampMillisecondType>();
    t.values().windows(2).all(|w| w[0] <= w[1])
}

/// `source_object` values of a batch (used by tests).
pub fn source_objects(batch: &RecordBatch) -> Option<&StringArray> {
    batch.column_by_name(col::SOURCE_OBJECT).map(|c| c.as_string::<i32>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LocalStore;
    use crate::testdata::batch;
    use crate::writer::encode_parquet;

    fn put(lake: &LocalStore, p: &Partition, name: &str, rows: &[(i64, &str, Option<&str>, &str)]) {
        lake.put(&format!("{}{name}", p.dir()), &encode_parquet(&[batch(rows)]).unwrap()).unwrap();
    }

    fn read_all(lake: &LocalStore, key: &str) -> RecordBatch {
        let body = Bytes::from(lake.get_bytes(key).unwrap());
        let batches: Vec<RecordBatch> = decode(&body, 1024).unwrap().collect::<Result<_, _>>().unwrap();
        concat_batches(&kms_events_schema(), &batches).unwrap()
    }

    fn ids(b: &RecordBatch) -> Vec<String> {
        b.column_by_name(col::EVENT_ID).unwrap().as_string::<i32>().iter().map(|s| s.unwrap().to_owned()).collect()
    }

    fn snapshot(lake: &LocalStore) -> Vec<(String, Vec<u8>)> {
        lake.list("").unwrap().into_iter().map(|o| (o.key.clone(), lake.get_bytes(&o.key).unwrap())).collect()
    }

    #[test]
    fn merges_sorted_deduplicated_and_reruns_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LocalStore::new(dir.path());
        let p = Partition::new(Some("k1"), "arn:aws:iam::1:root", "2025-03-10");
        let other_day = Partition::new(Some("k1"), "arn:aws:iam::1:root", "2025-03-11");
        put(&lake, &p, "a.parquet", &[(1, "e1", Some("1"), "s3://t/a"), (5, "e5", Some("1"), "s3://t/a")]);
        // e1 redelivered in another file (another source object); e3 from another account
        // shares an event id with an account-less record.
        put(
            &lake,
            &p,
            "b.parquet",
            &[(1, "e1", Some("1"), "s3://t/b"), (3, "e3", None, "s3://t/b"), (3, "e3", Some("2"), "s3://t/b")],
        );
        put(&lake, &p, "c.parquet", &[(2, "e2", Some("1"), "s3://t/c")]);
        put(&lake, &other_day, "only.parquet", &[(9, "e9", Some("1"), "s3://t/c")]);

        let report = compact(&lake, &CompactOptions::default()).unwrap();
        assert!(report.failures.is_empty());
        let s = &report.summary;
        assert_eq!((s.partitions, s.compacted, s.input_files, s.output_files), (2, 1, 3, 1));
        assert_eq!((s.input_rows, s.output_rows, s.duplicates), (6, 5, 1));
        let files = lake.list(&p.dir()).unwrap();
        assert_eq!(files.len(), 1);
        assert!(files[0].key.rsplit('/').next().unwrap().starts_with(COMPACTED_PREFIX));
        let merged = read_all(&lake, &files[0].key);
        assert!(is_time_sorted(&merged));
        assert_eq!(ids(&merged), vec!["e1", "e2", "e3", "e3", "e5"]);
        // The first copy in merge order is kept: s3://t/a sorts before s3://t/b.
        assert_eq!(source_objects(&merged).unwrap().value(0), "s3://t/a");
        // The single-file partition is untouched.
        assert_eq!(lake.list(&other_day.dir()).unwrap()[0].key, format!("{}only.parquet", other_day.dir()));

        let before = snapshot(&lake);
        let again = compact(&lake, &CompactOptions::default()).unwrap();
        assert_eq!(again.summary.compacted, 0);
        assert_eq!(snapshot(&lake), before);
    }

    #[test]
    fn a_crash_between_write_and_delete_converges_and_late_files_fold_in() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LocalStore::new(dir.path());
        let p = Partition::new(Some("k1"), "p", "2025-03-10");
        put(&lake, &p, "a.parquet", &[(1, "e1", Some("1"), "s3://t/a")]);
        put(&lake, &p, "b.parquet", &[(2, "e2", Some("1"), "s3://t/b")]);
        // Simulate the crash: the merged file exists next to its inputs.
        let inputs = lake.list(&p.dir()).unwrap();
        let merged = merged_key(&p, &inputs);
        put(
            &lake,
            &p,
            merged.rsplit('/').next().unwrap(),
            &[(1, "e1", Some("1"), "s3://t/a"), (2, "e2", Some("1"), "s3://t/b")],
        );
        let r = compact(&lake, &CompactOptions { dt: Some("2025-03-10".into()), before: None }).unwrap();
        assert_eq!((r.summary.input_rows, r.summary.output_rows, r.summary.duplicates), (4, 2, 2));
        let files = lake.list(&p.dir()).unwrap();
        assert_eq!(files.len(), 1);
        // A late file lands in the compacted day and is folded in by the next run.
        put(&lake, &p, "late.parquet", &[(0, "e0", Some("1"), "s3://t/late")]);
        let r = compact(&lake, &CompactOptions { dt: None, before: Some("2025-03-11".into()) }).unwrap();
        assert_eq!(r.summary.compacted, 1);
        let files = lake.list(&p.dir()).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(ids(&read_all(&lake, &files[0].key)), vec!["e0", "e1", "e2"]);
        // Options select days.
        put(&lake, &p, "late2.parquet", &[(7, "e7", Some("1"), "s3://t/late")]);
        assert_eq!(
            compact(&lake, &CompactOptions { dt: Some("2025-03-09".into()), before: None }).unwrap().summary.compacted,
            0
        );
        assert_eq!(
            compact(&lake, &CompactOptions { dt: None, before: Some("2025-03-10".into()) }).unwrap().summary.compacted,
            0
        );
        assert_eq!(lake.list(&p.dir()).unwrap().len(), 2);
    }

    #[test]
    fn unsorted_inputs_are_sorted_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LocalStore::new(dir.path());
        let p = Partition::new(Some("k1"), "p", "2025-03-10");
        put(&lake, &p, "a.parquet", &[(5, "e5", Some("1"), "x"), (1, "e1", Some("1"), "x"), (3, "e3", Some("1"), "x")]);
        put(&lake, &p, "b.parquet", &[(2, "e2", Some("1"), "y"), (1, "e1", Some("1"), "y")]);
        let r = compact(&lake, &CompactOptions::default()).unwrap();
        assert_eq!(r.summary.resorted, 1);
        assert_eq!((r.summary.input_rows, r.summary.output_rows, r.summary.duplicates), (5, 4, 1));
        let files = lake.list(&p.dir()).unwrap();
        let merged = read_all(&lake, &files[0].key);
        assert_eq!(ids(&merged), vec!["e1", "e2", "e3", "e5"]);
    }

    #[test]
    fn many_small_batches_merge_correctly() {
        // Tiny decode batches and several output batches exercise the cursor and pinning logic.
        let n_inputs = 7;
        let per_input = 3000;
        let bodies: Vec<Bytes> = (0..n_inputs)
            .map(|i| {
                let ids: Vec<String> = (0..per_input).map(|r| format!("e{:06}", r * n_inputs + i)).collect();
                let rows: Vec<(i64, &str, Option<&str>, &str)> = ids
                    .iter()
                    .enumerate()
                    .map(|(r, id)| (((r * n_inputs + i) / 3) as i64, id.as_str(), Some("1"), "s"))
                    .collect();
                Bytes::from(encode_parquet(&[batch(&rows)]).unwrap())
            })
            .collect();
        let mut summary = CompactSummary::default();
        let out = match merge(&bodies, 7, false, &mut summary) {
            Ok(out) => out,
            Err(_) => panic!("merge failed"),
        };
        assert_eq!(summary.output_rows, (n_inputs * per_input) as u64);
        let batches: Vec<RecordBatch> = decode(&Bytes::from(out), 4096).unwrap().collect::<Result<_, _>>().unwrap();
        let all = concat_batches(&kms_events_schema(), &batches).unwrap();
        assert!(is_time_sorted(&all));
        let got = ids(&all);
        let mut want = got.clone();
        want.sort();
        assert_eq!(got, want, "ties on time are ordered by event id");
    }
}

//! Parquet encoding of `kms_events` files: explicit writer properties, rows sorted by time.

use std::sync::OnceLock;

use arrow::array::{Array, AsArray};
use arrow::compute::interleave_record_batch;
use arrow::datatypes::TimestampMillisecondType;
use arrow::record_batch::RecordBatch;
use parquet::arrow::{ArrowSchemaConverter, ArrowWriter};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesBuilder, WriterVersion};
use parquet::schema::types::ColumnPath;

use crate::schema::{col, kms_events_schema};
use crate::LakeError;

/// Rows per row group. ~128 MiB of typical KMS rows; files are bounded well below this by the
/// ingest flush budget, so a row group is usually a whole file.
pub const MAX_ROW_GROUP_ROWS: usize = 400_000;

/// Writer properties of every `kms_events` file. ZSTD level 1: within a few percent of level
/// 3's size on these columns at a fraction of the CPU. No dictionary encoding: ZSTD already folds
/// the repeated ARNs, and on the bench trail plain pages are smaller (its 450 ingest files 11.6 →
/// 10.9 MB; all its rows in one file 5.51 → 5.50 MB with pyarrow), while a dictionary page is one more ZSTD
/// context per column chunk, the largest cost of writing many small files.
pub fn writer_properties() -> WriterProperties {
    properties_builder().build()
}

fn properties_builder() -> WriterPropertiesBuilder {
    let schema = kms_events_schema();
    let time_idx = schema.index_of(col::EVENT_TIME).expect("event_time column");
    WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("valid zstd level")))
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_max_row_group_size(MAX_ROW_GROUP_ROWS)
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: time_idx as i32,
            descending: false,
            nulls_first: false,
        }]))
        .set_created_by(format!("kms-audit {}", env!("CARGO_PKG_VERSION")))
}

/// [`writer_properties`] for one file of `batches`, except that a column null in every row is
/// stored uncompressed: its chunk is a few bytes of null levels, and compressing it would only
/// cost a ZSTD context (contexts, not bytes, dominate the cost of small files).
fn properties_for(batches: &[RecordBatch]) -> WriterProperties {
    static LEAVES: OnceLock<Vec<Vec<ColumnPath>>> = OnceLock::new();
    let leaves = LEAVES.get_or_init(|| {
        let schema = kms_events_schema();
        let parquet = ArrowSchemaConverter::new().convert(&schema).expect("kms_events converts to Parquet");
        let mut leaves = vec![Vec::new(); schema.fields().len()];
        for (i, leaf) in parquet.columns().iter().enumerate() {
            leaves[parquet.get_column_root_idx(i)].push(leaf.path().clone());
        }
        leaves
    });
    let mut builder = properties_builder();
    for (root, paths) in leaves.iter().enumerate() {
        let all_null = batches.iter().all(|b| b.column(root).null_count() == b.num_rows());
        if all_null {
            for path in paths {
                builder = builder.set_column_compression(path.clone(), Compression::UNCOMPRESSED);
            }
        }
    }
    builder.build()
}

/// Sorts rows by (`event_time`, `event_id`, `account_id`): a total order on distinct rows of a
/// partition, so the same rows always produce the same bytes.
pub fn sort_by_time(batch: &RecordBatch) -> Result<RecordBatch, LakeError> {
    gather_by_time(&[batch], (0..batch.num_rows()).map(|row| (0, row)).collect())
}

/// Gathers `rows` (batch index, row index) of `batches` into one batch in time order (see
/// [`sort_by_time`]): one copy of each row, however many batches they come from.
pub fn gather_by_time(batches: &[&RecordBatch], mut rows: Vec<(usize, usize)>) -> Result<RecordBatch, LakeError> {
    let columns: Vec<_> = batches
        .iter()
        .map(|b| {
            let column = |name: &str| b.column_by_name(name).expect("kms_events column");
            (
                column(col::EVENT_TIME).as_primitive::<TimestampMillisecondType>(),
                column(col::EVENT_ID).as_string::<i32>(),
                column(col::ACCOUNT_ID).as_string::<i32>(),
            )
        })
        .collect();
    let key = |&(b, r): &(usize, usize)| {
        let (time, id, account) = columns[b];
        let account = if account.is_null(r) { None } else { Some(account.value(r)) };
        (time.value(r), id.value(r), account)
    };
    // Ties only between identical keys; (batch, row) breaks them so the order never depends on
    // the sort algorithm.
    rows.sort_unstable_by(|a, b| key(a).cmp(&key(b)).then(a.cmp(b)));
    Ok(interleave_record_batch(batches, &rows)?)
}

/// Encodes batches (already sorted) into one Parquet file in memory.
pub fn encode_parquet(batches: &[RecordBatch]) -> Result<Vec<u8>, LakeError> {
    let mut out = Vec::with_capacity(batches.iter().map(RecordBatch::get_array_memory_size).sum::<usize>() / 4);
    let mut writer = ArrowWriter::try_new(&mut out, kms_events_schema(), Some(properties_for(batches)))?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.close()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use arrow::compute::concat_batches;
    use bytes::Bytes;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::basic::Encoding;

    use super::*;
    use crate::testdata::batch;

    fn ids(b: &RecordBatch) -> Vec<(i64, String, Option<String>)> {
        let time = b.column_by_name(col::EVENT_TIME).unwrap().as_primitive::<TimestampMillisecondType>();
        let id = b.column_by_name(col::EVENT_ID).unwrap().as_string::<i32>();
        let account = b.column_by_name(col::ACCOUNT_ID).unwrap().as_string::<i32>();
        (0..b.num_rows())
            .map(|r| (time.value(r), id.value(r).to_owned(), account.is_valid(r).then(|| account.value(r).to_owned())))
            .collect()
    }

    #[test]
    fn gather_orders_rows_of_many_batches_by_time_id_and_account() {
        let a = batch(&[(30, "e3", Some("2"), "a"), (10, "e1", Some("1"), "a"), (20, "e2", Some("1"), "a")]);
        let b = batch(&[(20, "e2", None, "b"), (10, "e0", Some("9"), "b"), (40, "e4", Some("1"), "b")]);
        // Every row but a's last: a gather takes any subset, in any order.
        let rows = vec![(1, 2), (0, 0), (1, 0), (0, 1), (1, 1)];
        let gathered = gather_by_time(&[&a, &b], rows).unwrap();
        assert_eq!(
            ids(&gathered),
            vec![
                (10, "e0".into(), Some("9".into())),
                (10, "e1".into(), Some("1".into())),
                (20, "e2".into(), None),
                (30, "e3".into(), Some("2".into())),
                (40, "e4".into(), Some("1".into())),
            ]
        );
        // The same order as sorting the concatenation of the rows.
        let both = concat_batches(&kms_events_schema(), [&a, &b]).unwrap();
        let sorted = sort_by_time(&both).unwrap();
        let mut expected = ids(&sorted);
        expected.retain(|r| r.1 != "e2" || r.2.is_none());
        assert_eq!(ids(&gathered), expected);
    }

    #[test]
    fn files_are_zstd_without_dictionaries_and_null_columns_stay_raw() {
        let rows = batch(&[(10, "e1", Some("1"), "s3://b/k1"), (20, "e2", None, "s3://b/k2")]);
        let body = Bytes::from(encode_parquet(std::slice::from_ref(&rows)).unwrap());
        let reader = ParquetRecordBatchReaderBuilder::try_new(body).unwrap();
        let meta = reader.metadata().clone();
        let row_group = meta.row_group(0);
        let mut compressed = Vec::new();
        for chunk in row_group.columns() {
            let path = chunk.column_path().string();
            assert!(
                !chunk.encodings().any(|e| matches!(e, Encoding::PLAIN_DICTIONARY | Encoding::RLE_DICTIONARY)),
                "{path} is dictionary-encoded"
            );
            match chunk.compression() {
                Compression::ZSTD(_) => compressed.push(path),
                Compression::UNCOMPRESSED => {
                    let root = path.split('.').next().unwrap();
                    assert_eq!(rows.column_by_name(root).unwrap().null_count(), 2, "{path} has values but is raw");
                }
                other => panic!("{path} compressed with {other:?}"),
            }
        }
        // The batch fills exactly these columns (account_id has one value, one null).
        let mut expected: Vec<String> =
            [col::EVENT_ID, col::EVENT_TIME, col::ACCOUNT_ID, col::PRINCIPAL_ARN, col::SOURCE_OBJECT]
                .map(String::from)
                .to_vec();
        expected.sort();
        compressed.sort();
        assert_eq!(compressed, expected);
        let back: Vec<RecordBatch> = reader.build().unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(concat_batches(&kms_events_schema(), &back).unwrap(), rows);
    }
}

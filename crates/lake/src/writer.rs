//! Parquet encoding of `kms_events` files: explicit writer properties, rows sorted by time.

use arrow::compute::{lexsort_to_indices, take_record_batch, SortColumn};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};

use crate::schema::{col, kms_events_schema};
use crate::LakeError;

/// Rows per row group. ~128 MiB of typical KMS rows; files are bounded well below this by the
/// ingest flush budget, so a row group is usually a whole file.
pub const MAX_ROW_GROUP_ROWS: usize = 400_000;

/// Writer properties of every `kms_events` file. ZSTD level 1: within a few percent of level
/// 3's size on these columns (dictionary-encoded ARNs dominate) at a fraction of the CPU.
pub fn writer_properties() -> WriterProperties {
    let schema = kms_events_schema();
    let time_idx = schema.index_of(col::EVENT_TIME).expect("event_time column");
    WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("valid zstd level")))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_max_row_group_size(MAX_ROW_GROUP_ROWS)
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: time_idx as i32,
            descending: false,
            nulls_first: false,
        }]))
        .set_created_by(format!("kms-audit {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Sorts rows by (`event_time`, `event_id`, `account_id`): a total order on distinct rows of a
/// partition, so the same rows always produce the same bytes.
pub fn sort_by_time(batch: &RecordBatch) -> Result<RecordBatch, LakeError> {
    let by = |name: &str| SortColumn {
        values: batch.column_by_name(name).expect("kms_events column").clone(),
        options: None,
    };
    let indices = lexsort_to_indices(&[by(col::EVENT_TIME), by(col::EVENT_ID), by(col::ACCOUNT_ID)], None)?;
    Ok(take_record_batch(batch, &indices)?)
}

/// Encodes batches (already sorted) into one Parquet file in memory.
pub fn encode_parquet(batches: &[RecordBatch]) -> Result<Vec<u8>, LakeError> {
    let mut out = Vec::with_capacity(batches.iter().map(RecordBatch::get_array_memory_size).sum::<usize>() / 4);
    let mut writer = ArrowWriter::try_new(&mut out, kms_events_schema(), Some(writer_properties()))?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.close()?;
    Ok(out)
}

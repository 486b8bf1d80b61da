//! Small `kms_events` batches for the crate's unit tests.

use std::sync::Arc;

use arrow::array::{new_null_array, ArrayRef, RecordBatch, StringArray, TimestampMillisecondArray};

use crate::schema::{col, kms_events_schema};

/// A `kms_events` batch of (time, event id, account, source) rows, other columns null.
pub(crate) fn batch(rows: &[(i64, &str, Option<&str>, &str)]) -> RecordBatch {
    let schema = kms_events_schema();
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| -> ArrayRef {
            match f.name().as_str() {
                col::EVENT_TIME => Arc::new(
                    TimestampMillisecondArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>()).with_timezone("UTC"),
                ),
                col::EVENT_ID => Arc::new(StringArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
                col::ACCOUNT_ID => Arc::new(StringArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
                col::SOURCE_OBJECT => Arc::new(StringArray::from(rows.iter().map(|r| r.3).collect::<Vec<_>>())),
                col::PRINCIPAL_ARN => Arc::new(StringArray::from(vec!["arn:aws:iam::1:root"; rows.len()])),
                _ => new_null_array(f.data_type(), rows.len()),
            }
        })
        .collect();
    RecordBatch::try_new(schema, columns).unwrap()
}

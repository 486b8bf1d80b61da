//! `usage.csv`: calls and errors per (key, principal, operation, day), with first and last seen.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::TimestampMillisecondType;
use lake::read::{for_each_event_batch, EventFilter};
use lake::schema::col;
use lake::Store;
use serde::Serialize;

use crate::Error;

/// Header of `usage.csv`: the fields of [`UsageRow`], in order.
pub const USAGE_COLUMNS: &[&str] =
    &["key_arn", "principal_arn", "operation", "day", "calls", "errors", "first_seen", "last_seen"];

/// One line of `usage.csv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageRow {
    pub key_arn: String,
    pub principal_arn: String,
    pub operation: String,
    pub day: String,
    pub calls: u64,
    pub errors: u64,
    pub first_seen: String,
    pub last_seen: String,
}

/// A lake file that was read, for the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LakeFile {
    pub key: String,
    pub bytes: u64,
}

#[derive(Default)]
struct Acc {
    calls: u64,
    errors: u64,
    first: i64,
    last: i64,
}

/// Aggregates `kms_events` over `[from_ms, to_ms)`; rows sorted by day, key, principal, operation.
pub fn usage(lake: &dyn Store, from_ms: i64, to_ms: i64) -> Result<(Vec<UsageRow>, Vec<LakeFile>), Error> {
    let columns = [col::KEY_ARN, col::PRINCIPAL_ARN, col::EVENT_NAME, col::EVENT_TIME, col::ERROR_CODE];
    let filter = EventFilter {
        from_ms: Some(from_ms),
        to_ms: Some(to_ms),
        columns: Some(columns.iter().map(|c| (*c).to_owned()).collect()),
        ..EventFilter::default()
    };
    let mut acc: BTreeMap<(String, String, String, String), Acc> = BTreeMap::new();
    let mut files: BTreeMap<String, u64> = BTreeMap::new();
    for_each_event_batch(lake, &filter, |file, batch| {
        files.insert(file.object.key.clone(), file.object.size);
        let s = |name: &str| batch.column_by_name(name).expect("projected").as_string::<i32>().clone();
        let (keys, principals, names, errors) =
            (s(col::KEY_ARN), s(col::PRINCIPAL_ARN), s(col::EVENT_NAME), s(col::ERROR_CODE));
        let times =
            batch.column_by_name(col::EVENT_TIME).expect("projected").as_primitive::<TimestampMillisecondType>();
        for i in 0..batch.num_rows() {
            let t = times.value(i);
            let k = (
                day(t),
                if keys.is_null(i) { String::new() } else { keys.value(i).to_owned() },
                principals.value(i).to_owned(),
                if names.is_null(i) { String::new() } else { names.value(i).to_owned() },
            );
            let a = acc.entry(k).or_insert(Acc { first: i64::MAX, last: i64::MIN, ..Acc::default() });
            a.calls += 1;
            a.errors += u64::from(!errors.is_null(i));
            a.first = a.first.min(t);
            a.last = a.last.max(t);
        }
        Ok(())
    })?;
    let rows = acc
        .into_iter()
        .map(|((day, key_arn, principal_arn, operation), a)| UsageRow {
            key_arn,
            principal_arn,
            operation,
            day,
            calls: a.calls,
            errors: a.errors,
            first_seen: rfc3339(a.first),
            last_seen: rfc3339(a.last),
        })
        .collect();
    Ok((rows, files.into_iter().map(|(key, bytes)| LakeFile { key, bytes }).collect()))
}

fn day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().format("%Y-%m-%d").to_string()
}

pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

//! Typed, allocation-free access to the `kms_events` columns the rules read.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, LargeStringArray, MapArray, StringArray, StringViewArray, TimestampMillisecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, TimeUnit};
use arrow::record_batch::RecordBatch;

use crate::Error;

/// Columns of `kms_events` (DESIGN.md §2) the reconciler reads; a reader should project these.
pub const REQUIRED_COLUMNS: &[&str] = &[
    "event_id",
    "event_time",
    "event_name",
    "account_id",
    "key_arn",
    "key_alias",
    "principal_arn",
    "principal_type",
    "access_key_id",
    "invoked_by",
    "source_ip",
    "encryption_context",
    "error_code",
    "tls_version",
    "grantee_principal",
];

/// A string column in any of Arrow's string layouts (dictionaries are cast to `Utf8` once per
/// batch).
#[derive(Debug)]
pub(crate) enum StrCol<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> StrCol<'a> {
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            StrCol::Utf8(a) => (!a.is_null(i)).then(|| a.value(i)),
            StrCol::Large(a) => (!a.is_null(i)).then(|| a.value(i)),
            StrCol::View(a) => (!a.is_null(i)).then(|| a.value(i)),
        }
    }

    /// Like `get`, with the empty string read as null.
    #[inline]
    pub(crate) fn get_nonempty(&self, i: usize) -> Option<&'a str> {
        self.get(i).filter(|s| !s.is_empty())
    }

    fn of(name: &'static str, a: &'a ArrayRef) -> Result<Self, Error> {
        let any = a.as_any();
        if let Some(s) = any.downcast_ref::<StringArray>() {
            Ok(StrCol::Utf8(s))
        } else if let Some(s) = any.downcast_ref::<LargeStringArray>() {
            Ok(StrCol::Large(s))
        } else if let Some(s) = any.downcast_ref::<StringViewArray>() {
            Ok(StrCol::View(s))
        } else {
            Err(Error::Column { column: name, problem: format!("expected a string column, found {}", a.data_type()) })
        }
    }
}

/// The `encryption_context` column: `map<string,string>` as specified, or its JSON text.
#[derive(Debug)]
pub(crate) enum CtxCol<'a> {
    Map { map: &'a MapArray, keys: StrCol<'a> },
    Json(StrCol<'a>),
}

impl CtxCol<'_> {
    /// Whether the row's context has the key `k`.
    #[inline]
    pub(crate) fn has_key(&self, i: usize, k: &str) -> bool {
        match self {
            CtxCol::Map { map, keys } => {
                if map.is_null(i) {
                    return false;
                }
                let off = map.value_offsets();
                let (s, e) = (off[i] as usize, off[i + 1] as usize);
                (s..e).any(|j| keys.get(j) == Some(k))
            }
            CtxCol::Json(s) => s.get(i).is_some_and(|t| {
                // `"k":` with the key quoted exactly as JSON writes it.
                t.match_indices(k)
                    .any(|(p, _)| p > 0 && t.as_bytes()[p - 1] == b'"' && t[p + k.len()..].starts_with('"'))
            }),
        }
    }
}

/// Arrays of one batch, normalised (owned so the typed views can borrow them).
#[derive(Debug)]
pub(crate) struct Prepared {
    arrays: Vec<ArrayRef>,
    time: TimestampMillisecondArray,
}

pub(crate) const C_EVENT_ID: usize = 0;
pub(crate) const C_EVENT_NAME: usize = 2;
pub(crate) const C_ACCOUNT_ID: usize = 3;
pub(crate) const C_KEY_ARN: usize = 4;
pub(crate) const C_KEY_ALIAS: usize = 5;
pub(crate) const C_PRINCIPAL_ARN: usize = 6;
pub(crate) const C_PRINCIPAL_TYPE: usize = 7;
pub(crate) const C_ACCESS_KEY_ID: usize = 8;
pub(crate) const C_INVOKED_BY: usize = 9;
pub(crate) const C_SOURCE_IP: usize = 10;
pub(crate) const C_CTX: usize = 11;
pub(crate) const C_ERROR_CODE: usize = 12;
pub(crate) const C_TLS: usize = 13;
pub(crate) const C_GRANTEE: usize = 14;

impl Prepared {
    pub(crate) fn new(batch: &RecordBatch) -> Result<Self, Error> {
        let mut arrays = Vec::with_capacity(REQUIRED_COLUMNS.len());
        let mut time = None;
        for (ci, &name) in REQUIRED_COLUMNS.iter().enumerate() {
            let a = batch
                .column_by_name(name)
                .ok_or_else(|| Error::Column { column: name, problem: "missing from the batch".into() })?;
            let a = match a.data_type() {
                DataType::Timestamp(unit, tz) if name == "event_time" => {
                    let ms: ArrayRef = if *unit == TimeUnit::Millisecond {
                        Arc::clone(a)
                    } else {
                        cast(a, &DataType::Timestamp(TimeUnit::Millisecond, tz.clone()))?
                    };
                    let t = ms.as_any().downcast_ref::<TimestampMillisecondArray>().expect("cast to ms").clone();
                    time = Some(t);
                    ms
                }
                _ if name == "event_time" => {
                    return Err(Error::Column {
                        column: name,
                        problem: format!("expected a timestamp, found {}", a.data_type()),
                    })
                }
                DataType::Map(_, _) if ci == C_CTX => Arc::clone(a),
                DataType::Dictionary(_, _) => cast(a, &DataType::Utf8)?,
                _ => Arc::clone(a),
            };
            arrays.push(a);
        }
        Ok(Prepared { arrays, time: time.expect("event_time present") })
    }

    pub(crate) fn time(&self) -> &TimestampMillisecondArray {
        &self.time
    }

    pub(crate) fn str(&self, ci: usize) -> Result<StrCol<'_>, Error> {
        StrCol::of(REQUIRED_COLUMNS[ci], &self.arrays[ci])
    }

    pub(crate) fn ctx(&self) -> Result<CtxCol<'_>, Error> {
        let a = &self.arrays[C_CTX];
        if let Some(map) = a.as_any().downcast_ref::<MapArray>() {
            let keys = map.keys();
            let keys = StrCol::of("encryption_context", keys).map_err(|_| Error::Column {
                column: "encryption_context",
                problem: format!("map keys must be strings, found {}", keys.data_type()),
            })?;
            Ok(CtxCol::Map { map, keys })
        } else {
            Ok(CtxCol::Json(StrCol::of("encryption_context", a).map_err(|_| Error::Column {
                column: "encryption_context",
                problem: format!("expected map<string,string>, found {}", a.data_type()),
            })?))
        }
    }
}

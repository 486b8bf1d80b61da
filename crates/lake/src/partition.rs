//! Partition layout: `kms_events/key_id=<key>/principal=<principal>/dt=<YYYY-MM-DD>/`.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Table folder of the events.
pub const KMS_EVENTS_TABLE: &str = "kms_events";
/// `key_id` of calls that name no key (ListAliases, ListKeys, a failed CreateKey).
pub const NO_KEY: &str = "_none";

/// Every byte outside `[A-Za-z0-9._-]` is percent-encoded: path-safe on S3 and local disks,
/// reversible, and decoded back by Hive-style readers (DuckDB, Spark).
const PATH_UNSAFE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'.').remove(b'_').remove(b'-');

/// Encodes a partition value for the path.
pub fn encode_value(value: &str) -> String {
    let encoded = utf8_percent_encode(value, PATH_UNSAFE).to_string();
    // `.` and `..` are path segments of their own; encode them so no value walks the tree.
    match encoded.as_str() {
        "." => "%2E".into(),
        ".." => "%2E%2E".into(),
        "" => "%00".into(),
        _ => encoded,
    }
}

/// Decodes a partition value from the path.
pub fn decode_value(encoded: &str) -> String {
    if encoded == "%00" {
        return String::new();
    }
    percent_decode_str(encoded).decode_utf8_lossy().into_owned()
}

/// One partition of `kms_events`, with its values already path-encoded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Partition {
    pub key_id: String,
    pub principal: String,
    pub dt: String,
}

impl Partition {
    /// Builds a partition from raw values (`key_id` of `None` → `_none`).
    pub fn new(key_id: Option<&str>, principal: &str, dt: &str) -> Self {
        Partition {
            key_id: key_id.map_or_else(|| NO_KEY.to_owned(), encode_value),
            principal: encode_value(principal),
            dt: encode_value(dt),
        }
    }

    /// Folder of the partition, relative to the lake root, with a trailing `/`.
    pub fn dir(&self) -> String {
        format!("{KMS_EVENTS_TABLE}/key_id={}/principal={}/dt={}/", self.key_id, self.principal, self.dt)
    }

    /// Parses the partition of a file path relative to the lake root.
    pub fn from_path(path: &str) -> Option<Self> {
        let mut parts = path.split('/');
        if parts.next()? != KMS_EVENTS_TABLE {
            return None;
        }
        let key_id = parts.next()?.strip_prefix("key_id=")?.to_owned();
        let principal = parts.next()?.strip_prefix("principal=")?.to_owned();
        let dt = parts.next()?.strip_prefix("dt=")?.to_owned();
        Some(Partition { key_id, principal, dt })
    }

    /// The un-encoded principal.
    pub fn principal_decoded(&self) -> String {
        decode_value(&self.principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_stay_in_their_folder() {
        for v in [
            "arn:aws:iam::111122223333:role/service-role/X",
            "service:s3.amazonaws.com",
            "..",
            ".",
            "a/b",
            "ünï code",
            "",
            "%41",
        ] {
            let e = encode_value(v);
            assert!(e.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-%".contains(&b)), "{e}");
            assert!(!e.contains('/') && e != "." && e != "..", "{e}");
            assert_eq!(decode_value(&e), v);
        }
        let p = Partition::new(Some("mrk-1"), "arn:aws:iam::1:root", "2025-03-14");
        assert_eq!(p.dir(), "kms_events/key_id=mrk-1/principal=arn%3Aaws%3Aiam%3A%3A1%3Aroot/dt=2025-03-14/");
        assert_eq!(Partition::from_path(&format!("{}x.parquet", p.dir())), Some(p));
        assert_eq!(Partition::new(None, "p", "d").key_id, NO_KEY);
    }
}

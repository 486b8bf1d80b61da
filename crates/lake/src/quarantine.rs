//! Quarantine: bad files and bad records are listed under `LAKE/_quarantine/`, never dropped.

use serde::Serialize;

use crate::store::Store;
use crate::LakeError;

/// Folder of quarantine entries.
pub const QUARANTINE_PREFIX: &str = "_quarantine/";
/// Bytes of a bad record kept in its entry (the source object keeps the rest).
pub const EXCERPT_BYTES: usize = 1024;

/// One quarantined object: the whole file, or the records of it that could not be used.
#[derive(Debug, Clone, Serialize)]
pub struct QuarantineEntry {
    /// `s3://bucket/key` or local path of the source.
    pub object: String,
    /// Why the whole file was refused; `None` when only some records were.
    pub reason: Option<String>,
    /// Records set aside from an otherwise good file.
    pub records: Vec<QuarantinedRecord>,
    /// When the object was first quarantined (RFC 3339, UTC). Re-ingesting the same object
    /// keeps the first entry, so a rerun leaves the lake unchanged.
    pub quarantined_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct QuarantinedRecord {
    /// Index in the file's `Records` array.
    pub index: u64,
    pub reason: String,
    /// The record's first bytes.
    pub excerpt: String,
}

/// Key of the entry for `object` whose content identity is `identity_hex`. Both count: the
/// same object re-ingested keeps its one entry, and two objects with the same bytes (ten
/// zero-byte files, say) each get their own, so no bad object goes unnamed.
pub fn entry_key(object: &str, identity_hex: &str) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(object.as_bytes());
    h.update(&[0]);
    h.update(identity_hex.as_bytes());
    format!("{QUARANTINE_PREFIX}{:032x}.json", h.digest128())
}

/// Writes an entry unless one already exists for the same object and content.
pub fn write_entry(lake: &dyn Store, identity_hex: &str, entry: &QuarantineEntry) -> Result<(), LakeError> {
    let body = serde_json::to_vec_pretty(entry).expect("quarantine entry serializes");
    lake.put_if_absent(&entry_key(&entry.object, identity_hex), &body)?;
    Ok(())
}

/// The first `EXCERPT_BYTES` of `text`, cut on a character boundary.
pub fn excerpt(text: &str) -> String {
    let mut end = text.len().min(EXCERPT_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

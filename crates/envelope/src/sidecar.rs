//! Sidecar metadata for objects kept as local files (the project-wide convention).
//!
//! Object file `F` has its S3-equivalent metadata in `F.meta.json`:
//!
//! ```json
//! {
//!   "metadata": { "x-amz-key": "…", "x-amz-context": "{\"purpose\":\"train\"}" },
//!   "server_side_encryption": null,
//!   "sse_kms_key_id": null
//! }
//! ```
//!
//! * `metadata`: user metadata, names lowercase and without the `x-amz-meta-` prefix (as the S3
//!   SDKs return them). Reading lowercases names and strips such a prefix if present; a name
//!   that then appears twice is an error. Values must be strings. Absent = `{}`.
//! * `server_side_encryption`: `null`, `"aws:kms"`, `"aws:kms:dsse"` or `"AES256"` (S3's
//!   `x-amz-server-side-encryption`). Absent = `null`.
//! * `sse_kms_key_id`: the KMS key ARN S3 reports for SSE-KMS, else `null`. Absent = `null`.
//!
//! Unknown top-level fields are ignored (room for later additions).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Suffix of a sidecar file name.
pub const SIDECAR_SUFFIX: &str = ".meta.json";

/// What S3 would return about an object besides its body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// User metadata (lowercase names, no `x-amz-meta-` prefix).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// `aws:kms`, `aws:kms:dsse`, `AES256`, or `None`.
    #[serde(default)]
    pub server_side_encryption: Option<String>,
    /// KMS key ARN for SSE-KMS.
    #[serde(default)]
    pub sse_kms_key_id: Option<String>,
}

/// Parses a sidecar file's text, normalizing metadata names.
pub fn read_sidecar(json: &str) -> Result<ObjectMeta> {
    let bad = |e: serde_json::Error| Error::InvalidSidecar { reason: e.to_string() };
    // Through a Value so that only a JSON object is accepted (serde also takes arrays for structs).
    let value: serde_json::Value = serde_json::from_str(json).map_err(bad)?;
    if !value.is_object() {
        return Err(Error::InvalidSidecar { reason: "expected a JSON object".into() });
    }
    let raw: ObjectMeta = serde_json::from_value(value).map_err(bad)?;
    let mut metadata = BTreeMap::new();
    for (k, v) in raw.metadata {
        let lower = k.to_ascii_lowercase();
        let name = lower.strip_prefix("x-amz-meta-").map(str::to_owned).unwrap_or(lower);
        if metadata.insert(name.clone(), v).is_some() {
            return Err(Error::InvalidSidecar {
                reason: format!("metadata name {name:?} appears twice after normalization"),
            });
        }
    }
    Ok(ObjectMeta { metadata, server_side_encryption: raw.server_side_encryption, sse_kms_key_id: raw.sse_kms_key_id })
}

/// Serializes a sidecar (pretty JSON with a trailing newline; `null`s written out).
pub fn write_sidecar(meta: &ObjectMeta) -> String {
    // Serializing string maps and options cannot fail.
    let mut s = serde_json::to_string_pretty(meta).unwrap_or_default();
    s.push('\n');
    s
}

/// The sidecar path of an object file: `F` → `F.meta.json`.
pub fn sidecar_path(object: &Path) -> PathBuf {
    let mut s = object.as_os_str().to_owned();
    s.push(SIDECAR_SUFFIX);
    PathBuf::from(s)
}

/// Whether `path` names a sidecar (so directory walks can skip it as an object).
pub fn is_sidecar(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(SIDECAR_SUFFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_normalization() {
        let meta = ObjectMeta {
            metadata: [("x-amz-key".to_owned(), "00ff".to_owned())].into(),
            server_side_encryption: Some("aws:kms".into()),
            sse_kms_key_id: Some("arn:aws:kms:us-east-1:1:key/k".into()),
        };
        let text = write_sidecar(&meta);
        assert!(text.ends_with('\n'));
        assert_eq!(read_sidecar(&text).unwrap(), meta);

        let m = read_sidecar(r#"{"metadata":{"X-Amz-Meta-X-Amz-Key":"00"}}"#).unwrap();
        assert_eq!(m.metadata["x-amz-key"], "00");
        assert_eq!(m.server_side_encryption, None);
        let none = write_sidecar(&ObjectMeta::default());
        assert!(none.contains("\"server_side_encryption\": null"));

        assert!(read_sidecar(r#"{"metadata":{"a":"1","A":"2"}}"#).is_err());
        assert!(read_sidecar(r#"{"metadata":{"a":1}}"#).is_err());
        assert!(read_sidecar("[]").is_err());
    }

    #[test]
    fn paths() {
        let p = sidecar_path(Path::new("/d/obj.bin"));
        assert_eq!(p, Path::new("/d/obj.bin.meta.json"));
        assert!(is_sidecar(&p));
        assert!(!is_sidecar(Path::new("/d/obj.bin")));
    }
}

//! The object-store abstraction the validator reads a trail through, and an in-memory store.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{Cursor, Read};
use std::sync::Arc;

use super::error::StoreError;

/// S3 user-metadata name of a digest file's signature (header `x-amz-meta-signature`):
/// lowercase hex of the RSA signature.
pub const SIGNATURE_METADATA: &str = "signature";
/// S3 user-metadata name of a digest file's signature algorithm (header
/// `x-amz-meta-signature-algorithm`), whose value is [`SIGNATURE_ALGORITHM`].
pub const SIGNATURE_ALGORITHM_METADATA: &str = "signature-algorithm";
/// The only signature algorithm CloudTrail uses: RSA PKCS #1 v1.5 over SHA-256.
pub const SIGNATURE_ALGORITHM: &str = "SHA256withRSA";

/// One object of a trail: a streaming body and its user metadata.
///
/// `metadata` holds S3 *user* metadata as the S3 API returns it: names without the
/// `x-amz-meta-` prefix, lowercase (`signature`, `signature-algorithm`). For a local folder the
/// metadata comes from the sidecar `<object>.meta.json` (its `"metadata"` object). Names are
/// matched case-insensitively and a leading `x-amz-meta-` is tolerated.
pub struct TrailObject {
    /// The object's bytes, as stored (gzip for CloudTrail objects).
    pub body: Box<dyn Read + Send>,
    /// User metadata, without the `x-amz-meta-` prefix.
    pub metadata: BTreeMap<String, String>,
}

impl TrailObject {
    /// An object from a body and its metadata.
    pub fn new(body: impl Read + Send + 'static, metadata: BTreeMap<String, String>) -> Self {
        TrailObject { body: Box::new(body), metadata }
    }

    /// The value of user-metadata entry `name` (case-insensitive; `x-amz-meta-` tolerated).
    pub fn metadata_value(&self, name: &str) -> Option<&str> {
        metadata_value(&self.metadata, name)
    }
}

pub(crate) fn metadata_value<'a>(metadata: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    metadata.iter().find_map(|(k, v)| {
        let k = k.trim();
        let bare = match k.get(..11) {
            Some(head) if head.eq_ignore_ascii_case("x-amz-meta-") => &k[11..],
            _ => k,
        };
        bare.eq_ignore_ascii_case(name).then_some(v.as_str())
    })
}

impl fmt::Debug for TrailObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrailObject").field("metadata", &self.metadata).finish_non_exhaustive()
    }
}

/// Where the trail store sits in S3, when known: the bucket and the key prefix that store keys
/// are relative to. Used to check that a digest was found where it says it was delivered
/// (`digestS3Bucket` / `digestS3Object`) and to turn the S3 keys a digest names (previous
/// digest, log files) into store keys.
///
/// Unknown parts are inferred: with no `bucket`, the bucket a digest names is not checked (the
/// log files it lists must still be in that same bucket); with no `prefix`, each digest's
/// `digestS3Object` must end with the store key at a `/` boundary, and what precedes it is taken
/// as the prefix for the keys that digest names. That is what a local folder synced from
/// `s3://bucket/prefix/` gives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrailOrigin {
    /// The S3 bucket of the trail, if known.
    pub bucket: Option<String>,
    /// The key prefix store keys are relative to (`""` for the bucket root), if known. A
    /// missing trailing `/` is added.
    pub prefix: Option<String>,
}

impl TrailOrigin {
    /// The origin `s3://bucket/prefix` (prefix may be empty).
    pub fn s3(bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        TrailOrigin { bucket: Some(bucket.into()), prefix: Some(prefix.into()) }
    }

    /// The prefix, normalised: no leading `/`, a trailing `/` unless empty.
    pub(crate) fn normalized_prefix(&self) -> Option<String> {
        self.prefix.as_deref().map(|p| {
            let p = p.trim_start_matches('/');
            if p.is_empty() || p.ends_with('/') {
                p.to_owned()
            } else {
                format!("{p}/")
            }
        })
    }
}

/// Read access to the objects of one trail location (a local folder or `s3://bucket/prefix`).
///
/// Keys are `/`-separated and relative to the trail root, the folder that holds `AWSLogs/`
/// (for S3: relative to the prefix the store was opened at). The validator does no other I/O.
///
/// Implementations must be `Sync` to be validated: the validator reads log files from several
/// threads at once.
pub trait TrailObjects {
    /// Every key that starts with `prefix` (recursively), in any order. Local implementations
    /// should leave out metadata sidecars (`*.meta.json`; the validator
    /// ignores them, and hidden files, anyway).
    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;

    /// The object at `key`, or `Ok(None)` when there is none.
    fn get(&self, key: &str) -> Result<Option<TrailObject>, StoreError>;

    /// The names of the immediate "sub-folders" of `prefix` (which ends with `/`), without the
    /// trailing `/`: what S3 `ListObjectsV2` with delimiter `/` returns as common prefixes.
    ///
    /// The default lists everything under `prefix`; stores where that is expensive (S3)
    /// should override it with a delimiter listing.
    fn list_dirs(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut dirs = BTreeSet::new();
        for key in self.list(prefix)? {
            if let Some(rest) = key.strip_prefix(prefix) {
                if let Some((dir, _)) = rest.split_once('/') {
                    if !dir.is_empty() {
                        dirs.insert(dir.to_owned());
                    }
                }
            }
        }
        Ok(dirs.into_iter().collect())
    }

    /// Where this store sits in S3, as far as it knows. The default knows nothing (a local
    /// folder); see [`TrailOrigin`].
    fn origin(&self) -> TrailOrigin {
        TrailOrigin::default()
    }

    /// How to name `key` to a person in the report: a local path or an `s3://` URL. The
    /// default is the key itself.
    fn display_key(&self, key: &str) -> String {
        key.to_owned()
    }
}

impl<T: TrailObjects + ?Sized> TrailObjects for &T {
    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        (**self).list(prefix)
    }
    fn get(&self, key: &str) -> Result<Option<TrailObject>, StoreError> {
        (**self).get(key)
    }
    fn list_dirs(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        (**self).list_dirs(prefix)
    }
    fn origin(&self) -> TrailOrigin {
        (**self).origin()
    }
    fn display_key(&self, key: &str) -> String {
        (**self).display_key(key)
    }
}

/// A stored object: shared body and user metadata.
type Stored = (Arc<[u8]>, BTreeMap<String, String>);

/// An in-memory [`TrailObjects`], for tests and for callers that already hold the bytes.
#[derive(Debug, Clone, Default)]
pub struct MemoryObjects {
    objects: BTreeMap<String, Stored>,
    origin: TrailOrigin,
}

impl MemoryObjects {
    /// An empty store with an unknown origin.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets what [`TrailObjects::origin`] reports.
    pub fn with_origin(mut self, origin: TrailOrigin) -> Self {
        self.origin = origin;
        self
    }

    /// Stores (or replaces) an object.
    pub fn insert(&mut self, key: impl Into<String>, body: impl Into<Vec<u8>>, metadata: BTreeMap<String, String>) {
        self.objects.insert(key.into(), (Arc::from(body.into()), metadata));
    }

    /// Removes an object; returns its body and metadata.
    pub fn remove(&mut self, key: &str) -> Option<(Vec<u8>, BTreeMap<String, String>)> {
        self.objects.remove(key).map(|(body, metadata)| (body.to_vec(), metadata))
    }

    /// The body and metadata of an object.
    pub fn object(&self, key: &str) -> Option<(&[u8], &BTreeMap<String, String>)> {
        self.objects.get(key).map(|(body, metadata)| (&body[..], metadata))
    }

    /// All keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.objects.keys().map(String::as_str)
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

impl TrailObjects for MemoryObjects {
    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .objects
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }

    fn get(&self, key: &str) -> Result<Option<TrailObject>, StoreError> {
        Ok(self
            .objects
            .get(key)
            .map(|(body, metadata)| TrailObject::new(Cursor::new(ArcBytes(Arc::clone(body))), metadata.clone())))
    }

    fn origin(&self) -> TrailOrigin {
        self.origin.clone()
    }
}

/// Shared bytes readable through a `Cursor` without copying.
struct ArcBytes(Arc<[u8]>);

impl AsRef<[u8]> for ArcBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_lists_by_prefix_and_dirs() {
        let mut m = MemoryObjects::new();
        m.insert("AWSLogs/1/a/x", b"1".to_vec(), BTreeMap::new());
        m.insert("AWSLogs/1/b/y", b"2".to_vec(), BTreeMap::new());
        m.insert("AWSLogs/2/c", b"3".to_vec(), BTreeMap::new());
        m.insert("Other", b"4".to_vec(), BTreeMap::new());
        assert_eq!(m.list("AWSLogs/1/").unwrap(), vec!["AWSLogs/1/a/x", "AWSLogs/1/b/y"]);
        assert_eq!(m.list_dirs("AWSLogs/").unwrap(), vec!["1", "2"]);
        assert_eq!(m.list_dirs("AWSLogs/1/").unwrap(), vec!["a", "b"]);
        let mut body = String::new();
        m.get("AWSLogs/2/c").unwrap().unwrap().body.read_to_string(&mut body).unwrap();
        assert_eq!(body, "3");
        assert!(m.get("nope").unwrap().is_none());
    }

    #[test]
    fn metadata_lookup_is_case_insensitive_and_tolerates_prefix() {
        let mut md = BTreeMap::new();
        md.insert("X-Amz-Meta-Signature".to_owned(), "ab".to_owned());
        md.insert("signature-algorithm".to_owned(), "SHA256withRSA".to_owned());
        assert_eq!(metadata_value(&md, SIGNATURE_METADATA), Some("ab"));
        assert_eq!(metadata_value(&md, SIGNATURE_ALGORITHM_METADATA), Some("SHA256withRSA"));
        assert_eq!(metadata_value(&md, "other"), None);
    }

    #[test]
    fn origin_prefix_is_normalized() {
        assert_eq!(TrailOrigin::s3("b", "").normalized_prefix().as_deref(), Some(""));
        assert_eq!(TrailOrigin::s3("b", "/p").normalized_prefix().as_deref(), Some("p/"));
        assert_eq!(TrailOrigin::s3("b", "p/q/").normalized_prefix().as_deref(), Some("p/q/"));
        assert_eq!(TrailOrigin::default().normalized_prefix(), None);
    }
}

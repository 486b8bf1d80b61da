//! Where lake files and trail objects live: a local directory or (in the `aws` crate) S3,
//! behind one synchronous trait so the pipeline is written once.
//!
//! Keys are `/`-separated and relative to the store's root. Writes are atomic: a reader sees
//! the old object or the new one, never a partial file (local: write a temporary file in the
//! same folder, fsync, rename; S3: a PUT is atomic).

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// An object in a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Key relative to the store root.
    pub key: String,
    pub size: u64,
    /// Content identity when the store has one cheaply (S3 ETag); `None` locally.
    pub etag: Option<String>,
}

/// What went wrong with a store operation, on which object, and whether a retry can help.
#[derive(Debug, thiserror::Error)]
#[error("{op} {location}: {message}")]
pub struct StoreError {
    pub op: &'static str,
    /// `s3://bucket/key` or a local path.
    pub location: String,
    pub message: String,
    pub kind: StoreErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    NotFound,
    /// Throttling, timeouts, 5xx: worth retrying.
    Transient,
    /// Access denied, bad request, local permission errors: retrying will not help.
    Permanent,
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        self.kind == StoreErrorKind::Transient
    }
    pub fn is_not_found(&self) -> bool {
        self.kind == StoreErrorKind::NotFound
    }
    fn io(op: &'static str, path: &Path, e: &io::Error) -> Self {
        let kind = match e.kind() {
            io::ErrorKind::NotFound => StoreErrorKind::NotFound,
            io::ErrorKind::Interrupted | io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                StoreErrorKind::Transient
            }
            _ => StoreErrorKind::Permanent,
        };
        StoreError { op, location: path.display().to_string(), message: e.to_string(), kind }
    }
}

/// Server-side encryption and user metadata of an object, as S3 reports them.
/// Locally this is the sidecar `<object>.meta.json` ([`SIDECAR_SUFFIX`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMetadata {
    /// User metadata: lowercase names without the `x-amz-meta-` prefix.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// `aws:kms`, `aws:kms:dsse`, `AES256`, or `None` (unencrypted / unknown).
    #[serde(default)]
    pub server_side_encryption: Option<String>,
    #[serde(default)]
    pub sse_kms_key_id: Option<String>,
}

/// Reads of an object's body before giving up: a body cut mid-way (a dropped connection) is read
/// again from its start, whole (`aws::s3::S3Store::get_bytes_async`) or streamed (the ingest of
/// a large file, whose parts of a failed attempt are taken back).
pub const BODY_ATTEMPTS: u32 = 3;

/// Suffix of the local sidecar that carries an object's [`ObjectMetadata`].
pub const SIDECAR_SUFFIX: &str = ".meta.json";

/// A place objects are read from and written to.
pub trait Store: Send + Sync + fmt::Debug {
    /// `s3://bucket/prefix` or the local root, for messages.
    fn root(&self) -> String;
    /// Full location of a key, for messages and the `source_object` column.
    fn location(&self, key: &str) -> String;
    /// Every object under `prefix` (recursive), sorted by key. Sidecars are not listed.
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError>;
    /// Streams an object's body.
    fn get(&self, key: &str) -> Result<Box<dyn Read + Send>, StoreError>;
    /// Reads a whole object (callers bound the size first).
    fn get_bytes(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::new();
        self.get(key)?.read_to_end(&mut out).map_err(|e| StoreError {
            op: "read",
            location: self.location(key),
            message: e.to_string(),
            kind: StoreErrorKind::Transient,
        })?;
        Ok(out)
    }
    /// Metadata of an object; `Ok(None)` when it does not exist.
    fn head(&self, key: &str) -> Result<Option<(ObjectInfo, ObjectMetadata)>, StoreError>;
    /// Writes an object atomically, replacing any previous one.
    fn put(&self, key: &str, body: &[u8]) -> Result<(), StoreError>;
    /// Writes an object with metadata atomically.
    fn put_with_metadata(&self, key: &str, body: &[u8], meta: &ObjectMetadata) -> Result<(), StoreError>;
    /// Writes only if no object exists at `key`; `Ok(false)` when one did.
    fn put_if_absent(&self, key: &str, body: &[u8]) -> Result<bool, StoreError>;
    /// Deletes an object; deleting a missing object is success.
    fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// A store rooted at a local directory.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalStore { root: root.into() }
    }

    pub fn path(&self, key: &str) -> PathBuf {
        if key.is_empty() {
            self.root.clone()
        } else {
            self.root.join(key)
        }
    }

    fn write_atomic(&self, key: &str, body: &[u8]) -> Result<(), StoreError> {
        let path = self.path(key);
        let dir = path.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir).map_err(|e| StoreError::io("create folder", dir, &e))?;
        let mut tmp = tempfile_in(dir, &path)?;
        tmp.1.write_all(body).and_then(|()| tmp.1.sync_data()).map_err(|e| StoreError::io("write", &tmp.0, &e))?;
        fs::rename(&tmp.0, &path).map_err(|e| {
            let _ = fs::remove_file(&tmp.0);
            StoreError::io("rename", &path, &e)
        })
    }
}

/// A uniquely named temporary file beside `target` (dot-prefixed, so listings skip it).
fn tempfile_in(dir: &Path, target: &Path) -> Result<(PathBuf, fs::File), StoreError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    for _ in 0..16 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
        match fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(StoreError::io("create", &tmp, &e)),
        }
    }
    Err(StoreError {
        op: "create",
        location: dir.display().to_string(),
        message: "no free temporary name".into(),
        kind: StoreErrorKind::Transient,
    })
}

impl Store for LocalStore {
    fn root(&self) -> String {
        self.root.display().to_string()
    }

    fn location(&self, key: &str) -> String {
        self.path(key).display().to_string()
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let start = self.path(prefix);
        let mut out = Vec::new();
        let meta = match fs::metadata(&start) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(StoreError::io("stat", &start, &e)),
        };
        if meta.is_file() {
            out.push(ObjectInfo { key: prefix.to_owned(), size: meta.len(), etag: None });
            return Ok(out);
        }
        let mut stack = vec![start];
        while let Some(dir) = stack.pop() {
            let entries = fs::read_dir(&dir).map_err(|e| StoreError::io("list", &dir, &e))?;
            for entry in entries {
                let entry = entry.map_err(|e| StoreError::io("list", &dir, &e))?;
                let path = entry.path();
                let name = entry.file_name();
                let name = name.to_string_lossy();
                // Temporary files of in-flight atomic writes and hidden files are not objects.
                if name.starts_with('.') {
                    continue;
                }
                let file_type = entry.file_type().map_err(|e| StoreError::io("stat", &path, &e))?;
                if file_type.is_dir() {
                    stack.push(path);
                } else if file_type.is_file() && !name.ends_with(SIDECAR_SUFFIX) {
                    let size = entry.metadata().map_err(|e| StoreError::io("stat", &path, &e))?.len();
                    let rel = path.strip_prefix(&self.root).unwrap_or(&path);
                    let key = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
                    out.push(ObjectInfo { key, size, etag: None });
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn get(&self, key: &str) -> Result<Box<dyn Read + Send>, StoreError> {
        let path = self.path(key);
        let file = fs::File::open(&path).map_err(|e| StoreError::io("open", &path, &e))?;
        Ok(Box::new(file))
    }

    fn get_bytes(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path(key);
        fs::read(&path).map_err(|e| StoreError::io("read", &path, &e))
    }

    fn head(&self, key: &str) -> Result<Option<(ObjectInfo, ObjectMetadata)>, StoreError> {
        let path = self.path(key);
        let size = match fs::metadata(&path) {
            Ok(m) if m.is_file() => m.len(),
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io("stat", &path, &e)),
        };
        let sidecar = sidecar_path(&path);
        let meta = match fs::read(&sidecar) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError {
                op: "parse sidecar",
                location: sidecar.display().to_string(),
                message: e.to_string(),
                kind: StoreErrorKind::Permanent,
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => ObjectMetadata::default(),
            Err(e) => return Err(StoreError::io("read", &sidecar, &e)),
        };
        Ok(Some((ObjectInfo { key: key.to_owned(), size, etag: None }, meta)))
    }

    fn put(&self, key: &str, body: &[u8]) -> Result<(), StoreError> {
        self.write_atomic(key, body)
    }

    fn put_with_metadata(&self, key: &str, body: &[u8], meta: &ObjectMetadata) -> Result<(), StoreError> {
        let json = serde_json::to_vec_pretty(meta).expect("metadata serializes");
        self.write_atomic(&format!("{key}{SIDECAR_SUFFIX}"), &json)?;
        self.write_atomic(key, body)
    }

    fn put_if_absent(&self, key: &str, body: &[u8]) -> Result<bool, StoreError> {
        let path = self.path(key);
        if path.exists() {
            return Ok(false);
        }
        self.write_atomic(key, body)?;
        Ok(true)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io("delete", &path, &e)),
        }
    }
}

fn sidecar_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(SIDECAR_SUFFIX);
    PathBuf::from(s)
}

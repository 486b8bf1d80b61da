//! Turning a command-line location (a local path or `s3://bucket/prefix`) into a store and key.
//!
//! `s3://` locations use the standard AWS configuration chain (`AWS_ENDPOINT_URL`, profiles,
//! roles) and path-style addressing when `KMS_AUDIT_S3_FORCE_PATH_STYLE=true`; see `aws::config`.
//! S3 stores are synchronous bridges over one process-wide runtime: call them from ordinary
//! threads (the CLI has no async code of its own).

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use aws::s3::{ReadAhead, ReadAheadStore, S3Store};
use lake::{LocalStore, Source, Store};

/// A location: the store holding it and the key (prefix or object) within that store.
#[derive(Debug, Clone)]
pub struct Location {
    pub store: Arc<dyn Store>,
    pub key: String,
}

/// Whether `location` is an `s3://` URL.
pub fn is_s3(location: &str) -> bool {
    location.starts_with("s3://")
}

/// Opens an `s3://bucket/prefix` URL as a store rooted at the prefix.
pub fn open_s3(location: &str) -> Result<S3Store> {
    match S3Store::open_blocking(location) {
        Some(store) => Ok(store),
        None => bail!("{location}: not an s3://bucket/prefix URL"),
    }
}

/// Opens a location for reading and writing: a store rooted at the location, key empty.
/// Local paths are created if missing and made absolute so the `source_object` column does not
/// depend on the working directory; `s3://bucket/prefix` gives an S3 store rooted at `prefix`.
pub fn open(location: &str) -> Result<Location> {
    if is_s3(location) {
        let store = open_s3(location)?;
        return Ok(Location { store: Arc::new(store), key: String::new() });
    }
    let path = Path::new(location);
    if !path.exists() {
        std::fs::create_dir_all(path).with_context(|| format!("creating {location}"))?;
    }
    let path = path.canonicalize().with_context(|| format!("resolving {location}"))?;
    Ok(Location { store: Arc::new(LocalStore::new(path)), key: String::new() })
}

/// Lists the objects under a source location (a file or a folder, searched recursively; on S3
/// an object or a prefix).
pub fn sources(location: &str) -> Result<Vec<Source>> {
    if is_s3(location) {
        let (store, objects) = list_s3(location)?;
        let store: Arc<dyn Store> = Arc::new(store);
        return Ok(objects
            .into_iter()
            .map(|o| Source { store: store.clone(), key: o.key, size: o.size, etag: o.etag })
            .collect());
    }
    let path = Path::new(location);
    let meta = std::fs::metadata(path).with_context(|| format!("{location}: cannot read"))?;
    if meta.is_file() {
        let abs = path.canonicalize().with_context(|| format!("resolving {location}"))?;
        let parent = abs.parent().unwrap_or(Path::new("/")).to_path_buf();
        let name = abs.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let store: Arc<dyn Store> = Arc::new(LocalStore::new(parent));
        return Ok(vec![Source { store, key: name, size: meta.len(), etag: None }]);
    }
    let loc = open(location)?;
    let objects = loc.store.list(&loc.key).with_context(|| format!("listing {location}"))?;
    Ok(objects
        .into_iter()
        .map(|o| Source { store: loc.store.clone(), key: o.key, size: o.size, etag: o.etag })
        .collect())
}

/// Like [`sources`], but S3 objects of up to `max_bytes` are fetched ahead of the ingest,
/// `depth` at a time, so S3 latency overlaps with parsing (see `aws::s3::ReadAhead`).
pub fn sources_read_ahead(location: &str, depth: usize, max_bytes: u64) -> Result<Vec<Source>> {
    if !is_s3(location) {
        return sources(location);
    }
    let (store, objects) = list_s3(location)?;
    // The ingest reads log files in key order (all keys share one store, so location order
    // is key order); objects it skips (digests, …) are not fetched.
    // Objects the ingest streams (larger than its whole-buffer bound) are not fetched ahead.
    let in_memory_max = lake::IngestOptions::default().in_memory_max;
    let mut plan: Vec<(String, u64)> = objects
        .iter()
        .filter(|o| trail::ObjectKind::of(&o.key).skip_reason().is_none() && o.size <= in_memory_max)
        .map(|o| (o.key.clone(), o.size))
        .collect();
    plan.sort();
    let ahead: Arc<dyn Store> = Arc::new(ReadAheadStore(ReadAhead::new(store, plan, depth, max_bytes)));
    Ok(objects.into_iter().map(|o| Source { store: ahead.clone(), key: o.key, size: o.size, etag: o.etag }).collect())
}

/// The bucket-rooted store of an `s3://` source and the objects under its prefix (or the one
/// object it names).
fn list_s3(location: &str) -> Result<(S3Store, Vec<lake::ObjectInfo>)> {
    let url = open_s3(location)?;
    // Root the store at the bucket so a URL naming one object works too; keys stay full keys.
    let store = S3Store::new(url.client().clone(), url.bucket(), "", url.handle().clone());
    let prefix = location.trim_start_matches("s3://").split_once('/').map_or("", |(_, p)| p).trim_start_matches('/');
    let objects = store.list(prefix).with_context(|| format!("listing {location}"))?;
    if objects.is_empty() {
        bail!("{location}: no objects found");
    }
    Ok((store, objects))
}

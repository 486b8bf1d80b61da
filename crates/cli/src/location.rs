//! Turning a command-line location (a local path or `s3://bucket/prefix`) into a store and key.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use lake::{LocalStore, Source, Store};

/// A location: the store holding it and the key (prefix or object) within that store.
#[derive(Debug, Clone)]
pub struct Location {
    pub store: Arc<dyn Store>,
    pub key: String,
}

/// Opens a location for reading and writing. Local paths are made absolute so the
/// `source_object` column does not depend on the working directory.
pub fn open(location: &str) -> Result<Location> {
    if location.starts_with("s3://") {
        bail!("{location}: s3:// locations need the AWS build of kms-audit (not available yet)");
    }
    let path = Path::new(location);
    if !path.exists() {
        std::fs::create_dir_all(path).with_context(|| format!("creating {location}"))?;
    }
    let path = path.canonicalize().with_context(|| format!("resolving {location}"))?;
    Ok(Location { store: Arc::new(LocalStore::new(path)), key: String::new() })
}

/// Lists the objects under a source location (a file or a folder, searched recursively).
pub fn sources(location: &str) -> Result<Vec<Source>> {
    if !location.starts_with("s3://") {
        let path = Path::new(location);
        let meta = std::fs::metadata(path).with_context(|| format!("{location}: cannot read"))?;
        if meta.is_file() {
            let abs = path.canonicalize().with_context(|| format!("resolving {location}"))?;
            let parent = abs.parent().unwrap_or(Path::new("/")).to_path_buf();
            let name = abs.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let store: Arc<dyn Store> = Arc::new(LocalStore::new(parent));
            return Ok(vec![Source { store, key: name, size: meta.len(), etag: None }]);
        }
    }
    let loc = open(location)?;
    let objects = loc.store.list(&loc.key).with_context(|| format!("listing {location}"))?;
    Ok(objects
        .into_iter()
        .map(|o| Source { store: loc.store.clone(), key: o.key, size: o.size, etag: o.etag })
        .collect())
}

//! Helpers shared by the lake integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use lake::read::{for_each_event_batch, EventFilter};
use lake::{IngestOptions, IngestReport, Ingestor, LocalStore, Source, Store};

pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

pub fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel)
}

/// Sources for every file under `dir` (or the file itself).
pub fn sources(path: &Path) -> Vec<Source> {
    if path.is_file() {
        let store: Arc<dyn Store> = Arc::new(LocalStore::new(path.parent().unwrap()));
        let key = path.file_name().unwrap().to_string_lossy().into_owned();
        return vec![Source { store, key, size: std::fs::metadata(path).unwrap().len(), etag: None }];
    }
    let store: Arc<dyn Store> = Arc::new(LocalStore::new(path));
    store
        .list("")
        .unwrap()
        .into_iter()
        .map(|o| Source { store: store.clone(), key: o.key, size: o.size, etag: o.etag })
        .collect()
}

/// Options that send every file through the streaming reader, with small flushes (more parts).
pub fn streaming_options() -> IngestOptions {
    IngestOptions {
        limits: trail::ReadLimits { whole_buffer_max: 1024, ..trail::ReadLimits::default() },
        in_memory_max: 1024,
        flush_bytes: 64 << 10,
        window_bytes: 1,
    }
}

pub fn ingest(lake: &Path, sources: Vec<Source>, opts: IngestOptions) -> IngestReport {
    let store: Arc<dyn Store> = Arc::new(LocalStore::new(lake));
    Ingestor::new(store, opts).ingest(sources, &|_, _| {}).expect("lake writable")
}

/// One landed row, as read back from the lake (a subset of columns).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Row {
    pub event_id: String,
    pub key_id: String,
    pub principal: String,
    pub dt: String,
    pub event_name: String,
    pub principal_arn: String,
    pub account_id: Option<String>,
    pub key_arn: Option<String>,
}

pub fn read_rows(lake: &Path) -> Vec<Row> {
    let store = LocalStore::new(lake);
    let mut rows = Vec::new();
    for_each_event_batch(&store, &EventFilter::default(), |file, batch| {
        let s = |name: &str| batch.column_by_name(name).unwrap().as_string::<i32>().clone();
        let (ids, names, principals, accounts, keys) =
            (s("event_id"), s("event_name"), s("principal_arn"), s("account_id"), s("key_arn"));
        for i in 0..batch.num_rows() {
            rows.push(Row {
                event_id: ids.value(i).to_owned(),
                key_id: lake::partition::decode_value(&file.partition.key_id),
                principal: file.partition.principal_decoded(),
                dt: file.partition.dt.clone(),
                event_name: names.value(i).to_owned(),
                principal_arn: principals.value(i).to_owned(),
                account_id: (!accounts.is_null(i)).then(|| accounts.value(i).to_owned()),
                key_arn: (!keys.is_null(i)).then(|| keys.value(i).to_owned()),
            });
        }
        Ok(())
    })
    .unwrap();
    rows.sort();
    rows
}

/// Every file under `dir` with its bytes, for byte-for-byte comparisons.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let store = LocalStore::new(dir);
    store.list("").unwrap().into_iter().map(|o| (o.key.clone(), store.get_bytes(&o.key).unwrap())).collect()
}

//! The ingest pipeline on good input: the published KMS record shapes land where DESIGN.md §2
//! says, a generated trail lands with exact counts, reruns change nothing, and the streaming
//! path gives the same lake as the whole-buffer path.

mod common;

use std::collections::BTreeMap;

use common::*;
use lake::IngestOptions;

const ROLE: &str = "arn:aws:iam::111122223333:role/service-role/AmazonSageMaker-ExecutionRole-20250101T000000";
const KEY_A: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
const KEY_B: &str = "0987dcba-09fe-87dc-65ba-ab0987654321";

#[test]
fn published_record_shapes_land_in_the_right_partitions() {
    let lake = tempfile::tempdir().unwrap();
    let report =
        ingest(lake.path(), sources(&repo_file("tests/data/cloudtrail/kms-examples.json")), IngestOptions::default());
    assert!(report.failures.is_empty());
    assert_eq!(report.summary.kms_events, 12);
    assert_eq!(report.summary.rows, 13, "ReEncrypt lands once per key");
    let rows = read_rows(lake.path());
    let find = |name: &str| rows.iter().filter(|r| r.event_name == name).collect::<Vec<_>>();

    let decrypt = find("Decrypt");
    let s3_decrypt = decrypt.iter().find(|r| r.key_id == KEY_A).unwrap();
    assert_eq!(s3_decrypt.principal, ROLE, "S3 calling KMS for a job role: the role is the principal");
    assert_eq!(s3_decrypt.dt, "2025-03-14");

    let re = find("ReEncrypt");
    assert_eq!(re.len(), 2);
    assert_eq!(re.iter().map(|r| r.key_id.as_str()).collect::<std::collections::BTreeSet<_>>(), [KEY_B, KEY_A].into());
    assert_eq!(re[0].event_id, re[1].event_id);

    let rotate = find("RotateKey");
    assert_eq!(rotate[0].principal, "aws-internal");
    let gdk = find("GenerateDataKey");
    assert!(gdk[0].key_id.starts_with("mrk-"), "multi-region key id kept whole: {}", gdk[0].key_id);
    assert!(find("ScheduleKeyDeletion")[0].principal.contains(":user/"));
    for r in &rows {
        assert_eq!(r.key_arn.as_deref().map(trail::event::key_id_of), Some(r.key_id.as_str()), "{r:?}");
    }
}

/// Counts per (key id, principal, day, event name) straight from the generated JSON, through
/// serde_json::Value and rules written here independently of the pipeline.
fn independent_counts(trail_dir: &std::path::Path) -> BTreeMap<(String, String, String, String), u64> {
    let mut seen = std::collections::HashSet::new();
    let mut counts = BTreeMap::new();
    for src in sources(trail_dir) {
        let path = trail_dir.join(&src.key);
        let gz = flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap());
        let doc: serde_json::Value = serde_json::from_reader(gz).unwrap();
        for r in doc["Records"].as_array().unwrap() {
            if r["eventSource"] != "kms.amazonaws.com" {
                continue;
            }
            let ui = &r["userIdentity"];
            let principal = match ui["type"].as_str() {
                Some("AssumedRole") => ui["sessionContext"]["sessionIssuer"]["arn"].as_str().unwrap().to_owned(),
                Some("AWSService") => format!("service:{}", ui["invokedBy"].as_str().unwrap()),
                Some(_) => ui["arn"].as_str().unwrap().to_owned(),
                None => "aws-internal".to_owned(),
            };
            let day = r["eventTime"].as_str().unwrap()[..10].to_owned();
            let name = r["eventName"].as_str().unwrap().to_owned();
            let mut keys: Vec<String> = r["resources"]
                .as_array()
                .map(|rs| {
                    rs.iter().map(|x| x["ARN"].as_str().unwrap().rsplit('/').next().unwrap().to_owned()).collect()
                })
                .unwrap_or_default();
            keys.dedup();
            if keys.is_empty() {
                keys.push("_none".into());
            }
            for key in keys {
                if seen.insert((r["eventID"].as_str().unwrap().to_owned(), key.clone())) {
                    *counts.entry((key, principal.clone(), day.clone(), name.clone())).or_default() += 1;
                }
            }
        }
    }
    counts
}

fn generated_trail(records: usize, files: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let spec = synth::TrailSpec { records, files, seed: 11, ..Default::default() };
    synth::generate_trail(&spec, dir.path()).unwrap();
    dir
}

#[test]
fn generated_trail_lands_with_exact_counts() {
    let trail = generated_trail(6_000, 12);
    let lake = tempfile::tempdir().unwrap();
    let report = ingest(lake.path(), sources(trail.path()), IngestOptions::default());
    assert!(report.failures.is_empty());
    assert!(report.summary.duplicates > 0, "the generator redelivers some events");
    let want = independent_counts(trail.path());
    let mut got = BTreeMap::new();
    for r in read_rows(lake.path()) {
        *got.entry((r.key_id, r.principal, r.dt, r.event_name)).or_insert(0u64) += 1;
    }
    assert_eq!(got, want);
    assert_eq!(report.summary.rows, want.values().sum::<u64>());
}

#[test]
fn rerun_leaves_the_lake_byte_for_byte_the_same() {
    let trail = generated_trail(3_000, 6);
    let lake = tempfile::tempdir().unwrap();
    ingest(lake.path(), sources(trail.path()), IngestOptions::default());
    let first = snapshot(lake.path());
    let report = ingest(lake.path(), sources(trail.path()), IngestOptions::default());
    assert_eq!(snapshot(lake.path()), first, "same input, same files, same bytes");
    assert_eq!(report.summary.output_files as usize, first.len());
}

#[test]
fn streaming_and_small_windows_give_the_same_rows() {
    let trail = generated_trail(4_000, 4);
    let whole = tempfile::tempdir().unwrap();
    ingest(whole.path(), sources(trail.path()), IngestOptions::default());
    // Force every file through the streaming reader and tiny flushes: more part files, same rows.
    let streamed = tempfile::tempdir().unwrap();
    let opts = streaming_options();
    let report = ingest(streamed.path(), sources(trail.path()), opts);
    assert!(report.failures.is_empty());
    assert_eq!(read_rows(streamed.path()), read_rows(whole.path()));
    assert!(snapshot(streamed.path()).len() > snapshot(whole.path()).len(), "small flushes write more parts");
}

/// A lake that cannot be written, for a window of files and while a large file streams: the
/// write error ends the ingest and names the lake. Found hanging by this test: encoders waited
/// forever on putters that had stopped at the first failed write once more files than the
/// hand-over queue holds were encoded; and the streaming reader thread must be drained, not left
/// blocked.
#[test]
fn a_failed_write_ends_the_ingest_with_the_error() {
    let trail = generated_trail(4_000, 2);
    let dir = tempfile::tempdir().unwrap();
    // The lake root is a file: no folder can be created under it.
    let lake = dir.path().join("lake");
    std::fs::write(&lake, b"not a folder").unwrap();
    for opts in [IngestOptions::default(), streaming_options()] {
        let store: std::sync::Arc<dyn lake::Store> = std::sync::Arc::new(lake::LocalStore::new(&lake));
        let err = lake::Ingestor::new(store, opts).ingest(sources(trail.path()), &|_, _| {}).unwrap_err();
        assert!(err.to_string().contains(&*lake.to_string_lossy()), "the error names the lake: {err}");
    }
}

/// The real local store, except that the first `cuts` reads of each object's body fail part-way
/// like a dropped connection (no real part here can cut a body mid-way on demand).
#[derive(Debug)]
struct CutBodies {
    inner: lake::LocalStore,
    cuts: u32,
    gets: std::sync::Mutex<std::collections::HashMap<String, u32>>,
}

/// Where [`CutBodies`] cuts a body: past the first parts a streamed file writes.
const CUT_AT: usize = 600_000;

/// A body that fails with a connection reset after `left` bytes.
struct CutAfter {
    inner: Box<dyn std::io::Read + Send>,
    left: usize,
}

impl std::io::Read for CutAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection cut mid-body"));
        }
        let n = buf.len().min(self.left);
        let n = self.inner.read(&mut buf[..n])?;
        self.left -= n;
        Ok(n)
    }
}

impl lake::Store for CutBodies {
    fn root(&self) -> String {
        self.inner.root()
    }
    fn location(&self, key: &str) -> String {
        self.inner.location(key)
    }
    fn list(&self, prefix: &str) -> Result<Vec<lake::ObjectInfo>, lake::StoreError> {
        self.inner.list(prefix)
    }
    fn get(&self, key: &str) -> Result<Box<dyn std::io::Read + Send>, lake::StoreError> {
        let body = self.inner.get(key)?;
        let mut gets = self.gets.lock().unwrap();
        let n = gets.entry(key.to_owned()).or_default();
        *n += 1;
        Ok(if *n <= self.cuts { Box::new(CutAfter { inner: body, left: CUT_AT }) } else { body })
    }
    fn head(&self, key: &str) -> Result<Option<(lake::ObjectInfo, lake::ObjectMetadata)>, lake::StoreError> {
        self.inner.head(key)
    }
    fn put(&self, key: &str, body: &[u8]) -> Result<(), lake::StoreError> {
        self.inner.put(key, body)
    }
    fn put_with_metadata(&self, key: &str, body: &[u8], meta: &lake::ObjectMetadata) -> Result<(), lake::StoreError> {
        self.inner.put_with_metadata(key, body, meta)
    }
    fn put_if_absent(&self, key: &str, body: &[u8]) -> Result<bool, lake::StoreError> {
        self.inner.put_if_absent(key, body)
    }
    fn delete(&self, key: &str) -> Result<(), lake::StoreError> {
        self.inner.delete(key)
    }
}

/// A streamed (large) object whose body is cut mid-way is read again from its start: with one
/// cut it lands exactly as an uncut read would, parts of the failed attempt taken back; cut on
/// every attempt it is reported retryable, not quarantined, and nothing of it lands.
#[test]
fn a_streamed_body_cut_mid_way_is_read_again() {
    let trail = generated_trail(12_000, 1);
    // An ETag, as S3 gives: the object's identity needs no read of its own.
    let with_etag = |store: std::sync::Arc<dyn lake::Store>| -> Vec<lake::Source> {
        store
            .list("")
            .unwrap()
            .into_iter()
            .map(|o| lake::Source { store: store.clone(), key: o.key, size: o.size, etag: Some("e1".into()) })
            .collect()
    };
    let uncut = tempfile::tempdir().unwrap();
    let objects = with_etag(std::sync::Arc::new(lake::LocalStore::new(trail.path())));
    assert!(objects[0].size > 2 * CUT_AT as u64, "the cut falls mid-body");
    let report = ingest(uncut.path(), objects, streaming_options());
    assert!(report.summary.output_files > 3, "parts are written before the cut, then taken back");
    for (cuts, lands) in [(1, true), (lake::store::BODY_ATTEMPTS, false)] {
        let store = std::sync::Arc::new(CutBodies {
            inner: lake::LocalStore::new(trail.path()),
            cuts,
            gets: Default::default(),
        });
        let lake_dir = tempfile::tempdir().unwrap();
        let report = ingest(lake_dir.path(), with_etag(store.clone()), streaming_options());
        let gets: u32 = store.gets.lock().unwrap().values().sum();
        if lands {
            assert!(report.failures.is_empty(), "{:?}", report.failures);
            assert_eq!(gets, 2, "one cut read, one whole");
            assert_eq!(snapshot(lake_dir.path()), snapshot(uncut.path()), "the same files, the same bytes");
        } else {
            assert_eq!(gets, lake::store::BODY_ATTEMPTS);
            assert_eq!(report.failures.len(), 1);
            let failure = &report.failures[0];
            assert!(failure.retryable && !failure.data_fault, "{failure:?}");
            assert!(failure.reason.contains("attempts"), "{}", failure.reason);
            assert_eq!(report.summary.quarantined_files, 0);
            assert!(snapshot(lake_dir.path()).is_empty(), "nothing of a failed object stays");
        }
    }
}

#[test]
fn digest_and_insight_files_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let put = |rel: &str| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::copy(repo_file("tests/data/cloudtrail/kms-examples.json"), p).unwrap();
    };
    put("AWSLogs/1/CloudTrail/us-east-1/2025/03/14/log.json");
    put("AWSLogs/1/CloudTrail-Digest/us-east-1/2025/03/14/1_CloudTrail-Digest_us-east-1_x.json.gz");
    put("AWSLogs/1/CloudTrail-Insight/us-east-1/2025/03/14/insight.json.gz");
    put("AWSLogs/1/CloudTrail-NetworkActivity/us-east-1/2025/03/14/net.json.gz");
    put("README.txt");
    let lake = tempfile::tempdir().unwrap();
    let report = ingest(lake.path(), sources(dir.path()), IngestOptions::default());
    assert_eq!(report.summary.files, 1);
    assert_eq!(report.summary.skipped, 4);
}

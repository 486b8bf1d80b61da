//! LookupEvents backfill against a local stand-in: moto 5.2.1 does not implement CloudTrail
//! `LookupEvents` (it answers HTTP 500), so `tests/stand-ins/cloudtrail_lookup.py` serves the
//! records of a generated trail over the same JSON 1.1 protocol, with throttling on demand.
//!
//! Checks: every KMS event of the period lands (same rows as ingesting the trail's files),
//! the client stays within 2 requests/s, and throttled requests are retried.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws::cloudtrail::{LookupOptions, LookupPager, PageStore};
use chrono::{TimeZone, Utc};
use lake::{IngestOptions, Ingestor, LocalStore, Source, Store};

/// The stand-in process, killed on drop.
struct StandIn {
    child: Child,
    port: u16,
}

impl StandIn {
    fn start(records: &Path, extra: &[&str]) -> StandIn {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/stand-ins/cloudtrail_lookup.py");
        let port = testkit::free_port();
        let ready = tempfile::NamedTempFile::new().unwrap().into_temp_path();
        std::fs::remove_file(&ready).ok();
        let child = Command::new("python3")
            .arg(&script)
            .args(["--port", &port.to_string(), "--records"])
            .arg(records)
            .arg("--ready-file")
            .arg(&ready)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs the stand-in");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready.exists() {
            assert!(Instant::now() < deadline, "stand-in did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        StandIn { child, port }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn trail(dir: &Path) -> (synth::TrailSpec, Vec<PathBuf>) {
    let spec = synth::TrailSpec { records: 700, files: 4, days: 2, ..synth::TrailSpec::default() };
    let stats = synth::generate_trail(&spec, dir).unwrap();
    (spec, stats.files)
}

#[test]
fn lookup_pages_land_like_the_trail_files_within_the_rate_and_through_throttling() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, files) = trail(dir.path());
    let log = dir.path().join("requests.jsonl");
    let stand_in = StandIn::start(dir.path(), &["--throttle-every", "3", "--request-log", log.to_str().unwrap()]);

    // Reference: the trail's files ingested directly.
    let reference_lake = tempfile::tempdir().unwrap();
    let src = LocalStore::new(dir.path());
    let sources: Vec<Source> = files
        .iter()
        .map(|f| {
            let key = f.strip_prefix(dir.path()).unwrap().to_string_lossy().into_owned();
            Source { store: Arc::new(src.clone()), size: std::fs::metadata(f).unwrap().len(), key, etag: None }
        })
        .collect();
    let reference = Ingestor::new(Arc::new(LocalStore::new(reference_lake.path())), IngestOptions::default())
        .ingest(sources, &|_, _| {})
        .unwrap();

    // The period covers the trail, late events included.
    let start = spec.start - chrono::Duration::days(1);
    let end = spec.start + chrono::Duration::days(i64::from(spec.days) + 1);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = rt.block_on(aws::config::local(&stand_in.endpoint(), "us-east-1"));
    let client = aws::config::cloudtrail_client(&config, None);
    let mut opts = LookupOptions::new(start, end);
    opts.backoff = Duration::from_millis(200);
    let mut pager = LookupPager::new(client, opts);
    let pages = Arc::new(PageStore::new("us-east-1", start, end));
    let pages_dyn: Arc<dyn Store> = pages.clone();
    let mut sources = Vec::new();
    let mut events = 0;
    while let Some(page) = rt.block_on(pager.next_page()).unwrap() {
        assert!(page.events <= 50);
        events += page.events;
        let (key, size) = pages.add(page);
        sources.push(Source { store: pages_dyn.clone(), key, size, etag: None });
    }
    assert!(sources.len() >= 5, "several pages: {}", sources.len());
    assert_eq!(
        sources[0].location(),
        format!(
            "cloudtrail-lookup://us-east-1/{}--{}/page-000001.json",
            start.format("%Y-%m-%dT%H:%M:%SZ"),
            end.format("%Y-%m-%dT%H:%M:%SZ")
        )
    );

    let lake_dir = tempfile::tempdir().unwrap();
    let report = Ingestor::new(Arc::new(LocalStore::new(lake_dir.path())), IngestOptions::default())
        .ingest(sources, &|_, _| {})
        .unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.summary.records, events, "every looked-up event is a record");
    assert_eq!(report.summary.kms_events, reference.summary.kms_events);
    assert_eq!(report.summary.rows, reference.summary.rows);

    // Manners: at most 2 requests per second, throttled requests retried.
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let throttled = lines.iter().filter(|l| l["throttled"] == true).count() as u64;
    assert!(throttled > 0);
    assert_eq!(pager.retries, throttled, "every throttled request retried once by us");
    assert_eq!(pager.requests, lines.len() as u64);
    let times: Vec<f64> = lines.iter().map(|l| l["time"].as_f64().unwrap()).collect();
    for w in times.windows(2) {
        assert!(w[1] - w[0] >= 0.45, "requests {:.3}s apart", w[1] - w[0]);
    }
}

#[test]
fn a_rate_limited_endpoint_sees_no_throttling_and_bad_records_are_quarantined_alone() {
    let dir = tempfile::tempdir().unwrap();
    // Three records: two KMS events, one whose CloudTrailEvent will not be a JSON object.
    let t = Utc.with_ymd_and_hms(2025, 3, 10, 12, 0, 0).unwrap();
    let record = |id: &str, secs: i64| {
        serde_json::json!({
            "eventVersion": "1.08", "eventID": id, "eventTime": (t + chrono::Duration::seconds(secs)).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "eventSource": "kms.amazonaws.com", "eventName": "Decrypt", "awsRegion": "us-east-1",
            "recipientAccountId": "111122223333",
            "userIdentity": {"type": "AWSService", "invokedBy": "s3.amazonaws.com"},
            "resources": [{"type": "AWS::KMS::Key", "ARN": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}],
            "requestParameters": {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
        })
    };
    let records = serde_json::json!([record("e-1", 1), record("e-2", 2), {"eventTime": "2025-03-10T12:00:03Z", "eventSource": "kms.amazonaws.com"}]);
    let file = dir.path().join("records.json");
    std::fs::write(&file, records.to_string()).unwrap();
    // CloudTrail's quota: 2/s. The stand-in throttles anything faster.
    let stand_in = StandIn::start(&file, &["--rate-limit", "2.05"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = rt.block_on(aws::config::local(&stand_in.endpoint(), "us-east-1"));
    let mut opts = LookupOptions::new(t, t + chrono::Duration::hours(1));
    opts.page_size = 1;
    let mut pager = LookupPager::new(aws::config::cloudtrail_client(&config, None), opts);
    let pages = Arc::new(PageStore::new("us-east-1", t, t + chrono::Duration::hours(1)));
    let pages_dyn: Arc<dyn Store> = pages.clone();
    let mut sources = Vec::new();
    while let Some(page) = rt.block_on(pager.next_page()).unwrap() {
        assert_eq!(page.events, 1);
        let (key, size) = pages.add(page);
        sources.push(Source { store: pages_dyn.clone(), key, size, etag: None });
    }
    assert_eq!(sources.len(), 3);
    assert_eq!(pager.retries, 0, "a client within 2 req/s is never throttled");
    // The record without an eventID is quarantined alone; its neighbours land. It is alone in
    // its page (page size 1), so that page has no usable record and is refused as a whole.
    let lake_dir = tempfile::tempdir().unwrap();
    let report = Ingestor::new(Arc::new(LocalStore::new(lake_dir.path())), IngestOptions::default())
        .ingest(sources, &|_, _| {})
        .unwrap();
    assert_eq!(report.summary.rows, 2);
    assert_eq!(report.summary.quarantined_files, 1);
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    let failure = &report.failures[0];
    assert!(failure.object.starts_with("cloudtrail-lookup://us-east-1/"), "{failure:?}");
    assert!(
        failure.reason.contains("none of its 1 records is usable") && failure.reason.contains("eventID"),
        "{failure:?}"
    );
    assert!(!failure.retryable);
}

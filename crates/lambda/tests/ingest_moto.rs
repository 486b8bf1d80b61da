//! The ingest handler against real parts: the moto server as S3 (trail bucket and lake) and
//! Glue. Generated log files are uploaded, SQS-shaped notifications (S3 → SQS and EventBridge
//! → SQS) are delivered to the handler, and the lake objects and Glue partitions are checked.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws::glue::GlueTable;
use aws::s3::S3Store;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use lake::{IngestOptions, Ingestor, LocalStore, Source};
use lambda::ingest::{failed_ids, IngestHandler, IngestSettings};
use serde_json::json;
use testkit::MotoServer;

const TRAIL: &str = "trail-bucket";
const LAKE: &str = "lake-bucket";

struct World {
    moto: MotoServer,
    config: aws::config::SdkConfig,
    s3: aws::s3::Client,
    dir: tempfile::TempDir,
    /// Trail keys of the generated log files.
    keys: Vec<String>,
}

async fn world(records: usize, files: usize, days: u32) -> World {
    world_of(synth::TrailSpec { records, files, days, ..synth::TrailSpec::default() }).await
}

/// A moto server with the trail and lake buckets, the generated trail uploaded, and the Glue table.
async fn world_of(spec: synth::TrailSpec) -> World {
    use futures::StreamExt as _;
    let moto = MotoServer::start();
    let config = aws::config::local(&moto.endpoint(), "us-east-1").await;
    let s3 = aws::config::s3_client_path_style(&config, true);
    for b in [TRAIL, LAKE] {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let stats = synth::generate_trail(&spec, dir.path()).unwrap();
    let trail = S3Store::new(s3.clone(), TRAIL, "", tokio::runtime::Handle::current());
    let keys: Vec<String> =
        stats.files.iter().map(|f| f.strip_prefix(dir.path()).unwrap().to_string_lossy().into_owned()).collect();
    futures::stream::iter(&keys)
        .for_each_concurrent(16, |key| {
            let (trail, path) = (&trail, dir.path().join(key));
            async move { trail.put_async(key, std::fs::read(path).unwrap().into(), None).await.unwrap() }
        })
        .await;
    let glue = GlueTable::new(aws::config::glue_client(&config), "kms_audit", "kms_events");
    glue.create_kms_events_table(&format!("s3://{LAKE}/audit/kms_events/")).await.unwrap();
    World { moto, config, s3, dir, keys }
}

impl World {
    fn handler(&self) -> IngestHandler {
        let mut settings = IngestSettings::for_lake(&format!("s3://{LAKE}/audit"));
        settings.glue_database = Some("kms_audit".into());
        IngestHandler::new(
            self.s3.clone(),
            Some(aws::config::glue_client(&self.config)),
            settings,
            tokio::runtime::Handle::current(),
        )
        .unwrap()
    }

    fn trail(&self) -> S3Store {
        S3Store::new(self.s3.clone(), TRAIL, "", tokio::runtime::Handle::current())
    }

    fn lake(&self) -> S3Store {
        S3Store::new(self.s3.clone(), LAKE, "audit", tokio::runtime::Handle::current())
    }

    async fn size_etag(&self, key: &str) -> (u64, String) {
        let (info, _) = self.trail().head_async(key).await.unwrap().unwrap();
        (info.size, info.etag.unwrap())
    }

    /// Everything in the lake bucket: key → bytes.
    async fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        let lake = S3Store::new(self.s3.clone(), LAKE, "", tokio::runtime::Handle::current());
        let mut out = BTreeMap::new();
        for o in lake.list_async("").await.unwrap() {
            let body = lake.get_bytes_async(&o.key).await.unwrap();
            out.insert(o.key, body.to_vec());
        }
        out
    }
}

/// An S3 event notification as S3 sends it to SQS (key URL-encoded, `+` for spaces).
fn s3_body(key: &str, size: u64, etag: &str) -> String {
    let encoded: String = key
        .split('/')
        .map(|seg| {
            percent_encoding::utf8_percent_encode(seg, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
                .replace("%2E", ".")
                .replace("%5F", "_")
                .replace("%2D", "-")
                .replace("%20", "+")
        })
        .collect::<Vec<_>>()
        .join("/");
    json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2025-03-10T12:05:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AROAEXAMPLE:regionalDeliverySession"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "kms-audit",
               "bucket": {"name": TRAIL, "arn": format!("arn:aws:s3:::{TRAIL}")},
               "object": {"key": encoded, "size": size, "eTag": etag, "sequencer": "0055AED6DCD90281E5"}}
    }]})
    .to_string()
}

/// An EventBridge "Object Created" event delivered through SQS.
fn eventbridge_body(key: &str, size: u64, etag: &str) -> String {
    json!({
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103", "detail-type": "Object Created",
        "source": "aws.s3", "account": "111122223333", "time": "2025-03-10T12:05:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{TRAIL}")],
        "detail": {"version": "0", "bucket": {"name": TRAIL},
                   "object": {"key": key, "size": size, "etag": etag, "sequencer": "617f08299329d189"},
                   "request-id": "N4N7GDK58NMKJ12R", "requester": "cloudtrail.amazonaws.com", "reason": "PutObject"}
    })
    .to_string()
}

fn message(id: &str, body: String) -> SqsMessage {
    SqsMessage {
        message_id: Some(id.to_owned()),
        receipt_handle: Some(format!("rh-{id}")),
        body: Some(body),
        event_source: Some("aws:sqs".into()),
        event_source_arn: Some("arn:aws:sqs:us-east-1:111122223333:kms-audit-ingest".into()),
        ..SqsMessage::default()
    }
}

fn event(messages: Vec<SqsMessage>) -> SqsEvent {
    SqsEvent { records: messages }
}

fn lake_files(snapshot: &BTreeMap<String, Vec<u8>>) -> Vec<&String> {
    snapshot.keys().filter(|k| k.starts_with("audit/kms_events/")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_lands_with_poison_quarantined_and_replay_changes_nothing() {
    let w = world(4000, 6, 3).await;
    let trail = w.trail();
    // A key with a space and a plus: arrives URL-encoded in the notification.
    let odd_key = "AWSLogs/111122223333/CloudTrail/us-east-1/2025/03/10/odd name+plus.json.gz".to_owned();
    trail.put_async(&odd_key, std::fs::read(w.dir.path().join(&w.keys[5])).unwrap().into(), None).await.unwrap();
    // Poison: a truncated gzip. Plus a digest file, which is skipped on purpose.
    let good = std::fs::read(w.dir.path().join(&w.keys[0])).unwrap();
    let poison_key = "AWSLogs/111122223333/CloudTrail/us-east-1/2025/03/10/111122223333_CloudTrail_us-east-1_20250310T1200Z_POISON.json.gz";
    trail.put_async(poison_key, good[..good.len() / 2].to_vec().into(), None).await.unwrap();
    let digest_key = "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2025/03/10/111122223333_CloudTrail-Digest_us-east-1_x_20250310T120000Z.json.gz";
    trail.put_async(digest_key, b"{}".to_vec().into(), None).await.unwrap();

    let mut messages = Vec::new();
    for (i, key) in w.keys[..5].iter().enumerate() {
        let (size, etag) = w.size_etag(key).await;
        let body = if i == 4 { eventbridge_body(key, size, &etag) } else { s3_body(key, size, &etag) };
        messages.push(message(&format!("m{i}"), body));
    }
    let (size, etag) = w.size_etag(&odd_key).await;
    messages.push(message("m-odd", s3_body(&odd_key, size, &etag)));
    let (size, etag) = w.size_etag(poison_key).await;
    messages.push(message("m-poison", s3_body(poison_key, size, &etag)));
    messages
        .push(message("m-test", json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": TRAIL}).to_string()));
    let (size, etag) = w.size_etag(digest_key).await;
    messages.push(message("m-digest", s3_body(digest_key, size, &etag)));
    messages.push(message("m-garbage", "this is not a notification".into()));
    let batch = event(messages);

    let handler = w.handler();
    let response = handler.handle(batch.clone()).await.unwrap();
    assert_eq!(failed_ids(&response), vec!["m-garbage".to_owned(), "m-poison".to_owned()]);

    // The reference: the same six good files ingested from disk in one run.
    let local = tempfile::tempdir().unwrap();
    let src = LocalStore::new(w.dir.path());
    let mut sources: Vec<Source> = w.keys[..6]
        .iter()
        .map(|k| Source { store: Arc::new(src.clone()), key: k.clone(), size: 0, etag: None })
        .collect();
    for s in &mut sources {
        s.size = std::fs::metadata(w.dir.path().join(&s.key)).unwrap().len();
    }
    let reference = Ingestor::new(Arc::new(LocalStore::new(local.path())), IngestOptions::default())
        .ingest(sources, &|_, _| {})
        .unwrap();

    let snapshot = w.snapshot().await;
    let files = lake_files(&snapshot);
    assert!(!files.is_empty());
    // One file per partition for the whole batch.
    let partitions: BTreeSet<lake::Partition> =
        files.iter().map(|k| lake::Partition::from_path(k.strip_prefix("audit/").unwrap()).unwrap()).collect();
    assert_eq!(partitions.len(), files.len(), "one file per partition per batch");
    // Same rows as the reference.
    let mut rows = 0u64;
    let mut sources_seen = BTreeSet::new();
    // The lake reader is sync: run it where blocking is allowed.
    tokio::task::block_in_place(|| {
        lake::read::for_each_event_batch(&w.lake(), &lake::read::EventFilter::default(), |_, b| {
            rows += b.num_rows() as u64;
            for s in lake::compact::source_objects(&b).unwrap().iter().flatten() {
                sources_seen.insert(s.to_owned());
            }
            Ok(())
        })
    })
    .unwrap();
    assert_eq!(rows, reference.summary.rows);
    assert!(sources_seen.contains(&format!("s3://{TRAIL}/{odd_key}")), "the decoded key was read");
    assert!(!sources_seen.iter().any(|s| s.contains("POISON")));

    // The poison file is quarantined with its reason.
    let quarantine: Vec<(&String, &Vec<u8>)> =
        snapshot.iter().filter(|(k, _)| k.starts_with("audit/_quarantine/")).collect();
    assert_eq!(quarantine.len(), 1);
    let entry: serde_json::Value = serde_json::from_slice(quarantine[0].1).unwrap();
    assert_eq!(entry["object"], format!("s3://{TRAIL}/{poison_key}"));
    assert!(entry["reason"].as_str().unwrap().contains("gzip"), "{entry}");

    // Glue has exactly the lake's partitions, at the lake's folders.
    let glue = GlueTable::new(aws::config::glue_client(&w.config), "kms_audit", "kms_events");
    let registered = glue.list_partitions().await.unwrap();
    assert_eq!(registered.len(), partitions.len());
    for p in &partitions {
        let location = format!("s3://{LAKE}/audit/{}", p.dir());
        assert!(registered.iter().any(|(_, l)| *l == location), "{location} registered");
    }

    // Replay: the same batch (a fresh container, too) rewrites the same objects, same bytes.
    let again = handler.handle(batch.clone()).await.unwrap();
    assert_eq!(failed_ids(&again), failed_ids(&response));
    assert_eq!(w.snapshot().await, snapshot, "replay changed the lake");
    let fresh = w.handler();
    let third = fresh.handle(batch).await.unwrap();
    assert_eq!(failed_ids(&third), failed_ids(&response));
    assert_eq!(w.snapshot().await, snapshot, "replay in a new container changed the lake");
    assert_eq!(glue.list_partitions().await.unwrap(), registered);
    drop(w.moto);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_object_is_retried_not_quarantined_and_empty_batches_are_fine() {
    let w = world(600, 2, 3).await;
    let (size, etag) = w.size_etag(&w.keys[0]).await;
    let handler = w.handler();
    let gone = "AWSLogs/111122223333/CloudTrail/us-east-1/2025/03/10/deleted.json.gz";
    let batch = event(vec![
        message("ok", s3_body(&w.keys[0], size, &etag)),
        message("gone", s3_body(gone, 100, "abc")),
        // EventBridge events for other operations are skipped on purpose.
        message("deleted", eventbridge_body(&w.keys[1], 1, "x").replace("Object Created", "Object Deleted")),
    ]);
    let response = handler.handle(batch).await.unwrap();
    assert_eq!(failed_ids(&response), vec!["gone".to_owned()]);
    let snapshot = w.snapshot().await;
    assert!(!snapshot.keys().any(|k| k.contains("_quarantine/")), "a missing object is not the data's fault");
    assert!(!lake_files(&snapshot).is_empty());

    let response = handler.handle(event(Vec::new())).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_merges_batches_into_one_file_per_partition() {
    let w = world(3000, 6, 1).await;
    let handler = w.handler();
    // Three batches of two files: up to three files per partition.
    for (n, pair) in w.keys.chunks(2).enumerate() {
        let mut messages = Vec::new();
        for (i, key) in pair.iter().enumerate() {
            let (size, etag) = w.size_etag(key).await;
            messages.push(message(&format!("b{n}-{i}"), s3_body(key, size, &etag)));
        }
        assert!(handler.handle(event(messages)).await.unwrap().batch_item_failures.is_empty());
    }
    let before = w.snapshot().await;
    let files_before = lake_files(&before).len();
    let compact = lambda::compact::CompactHandler::new(
        w.s3.clone(),
        &format!("s3://{LAKE}/audit"),
        tokio::runtime::Handle::current(),
    )
    .unwrap();
    let summary = compact.handle(json!({"before": "2100-01-01"})).await.unwrap();
    assert!(summary.compacted > 0, "{summary:?} ({files_before} files before)");
    let after = w.snapshot().await;
    let files = lake_files(&after);
    let partitions: BTreeSet<lake::Partition> =
        files.iter().map(|k| lake::Partition::from_path(k.strip_prefix("audit/").unwrap()).unwrap()).collect();
    assert_eq!(files.len(), partitions.len(), "one file per partition");
    assert!(files.len() < files_before);
    assert_eq!(summary.output_rows + summary.duplicates, summary.input_rows);
    // Rerun: nothing to do, nothing changes.
    let again = compact.handle(json!({"before": "2100-01-01"})).await.unwrap();
    assert_eq!(again.compacted, 0);
    assert_eq!(w.snapshot().await, after);
}

/// Gzips `data` as CloudTrail delivers log files.
fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// The five kinds of poison file of the load test, each with what its quarantine reason says.
fn poison_file(kind: usize, good_gz: &[u8]) -> (&'static str, Vec<u8>, &'static str) {
    match kind {
        0 => ("truncated", good_gz[..good_gz.len() / 2].to_vec(), "gzip"),
        1 => ("invalid", gzip(br#"{"Records": [{"eventVersion": "1.08", "eventTime": 2025-03-10}]}"#), "invalid JSON"),
        2 => ("not-cloudtrail", gzip(br#"{"hello": "world", "items": [1, 2, 3]}"#), "no Records"),
        3 => ("zero-bytes", Vec::new(), "empty"),
        _ => {
            let record = json!({
                "eventVersion": "1.08", "eventSource": "kms.amazonaws.com", "eventName": "Decrypt",
                "eventTime": "2025-03-10T12:00:00Z", "eventID": "11111111-2222-4333-8444-555555555555",
                "awsRegion": "us-east-1", "recipientAccountId": "111122223333",
                "userIdentity": {"type": "AWSService", "invokedBy": "s3.amazonaws.com"},
                // Over CloudTrail's 256 KiB event limit, under the 1 MiB a record may take in memory.
                "requestParameters": {"encryptionContext": {"padding": "x".repeat(512 << 10)}},
            });
            ("huge-record", gzip(json!({"Records": [record]}).to_string().as_bytes()), "exceeds")
        }
    }
}

/// Load: 1,000 SQS messages in batches of 10 through the handler, 5% of them announcing poison
/// files (truncated, invalid JSON, not CloudTrail, zero bytes, one huge record). Every good file
/// lands exactly once (same rows per source file as one local ingest of the good files), every
/// poison file is quarantined with its reason and comes back in `batchItemFailures` each time
/// SQS redelivers it (so it ends in the DLQ), and redeliveries change nothing in the lake.
/// Glue registration is off here (the first test covers it): this measures the file path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_messages_with_five_percent_poison() {
    const MESSAGES: usize = 1000;
    const POISON_EVERY: usize = 20;
    let good_files = MESSAGES - MESSAGES / POISON_EVERY;
    let w = world_of(synth::TrailSpec {
        records: good_files * 8,
        files: good_files,
        days: 1,
        keys: 2,
        roles: 2,
        duplicate_fraction: 0.0,
        ..synth::TrailSpec::default()
    })
    .await;
    assert_eq!(w.keys.len(), good_files);
    let (s3, dir, trail) = (&w.s3, &w.dir, w.trail());
    let good_keys = w.keys.clone();
    let mut poison: BTreeMap<String, &'static str> = BTreeMap::new();
    for (n, good) in good_keys.iter().take(MESSAGES / POISON_EVERY).enumerate() {
        let (kind, body, reason) = poison_file(n % 5, &std::fs::read(dir.path().join(good)).unwrap());
        let key = format!("AWSLogs/111122223333/CloudTrail/us-east-1/2025/03/10/111122223333_CloudTrail_us-east-1_20250310T1200Z_{kind}-{n:03}.json.gz");
        trail.put_async(&key, body.into(), None).await.unwrap();
        poison.insert(key, reason);
    }
    let mut sizes: BTreeMap<&String, (u64, String)> = BTreeMap::new();
    for key in good_keys.iter().chain(poison.keys()) {
        sizes.insert(key, w.size_etag(key).await);
    }

    // Message order: a poison file every POISON_EVERY messages, so most batches carry one.
    let mut order: Vec<&String> = good_keys.iter().collect();
    for (n, key) in poison.keys().enumerate() {
        order.insert((n * POISON_EVERY + 7).min(order.len()), key);
    }
    let messages: Vec<SqsMessage> = order
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let (size, etag) = &sizes[key];
            message(&format!("msg-{i:04}"), s3_body(key, *size, etag))
        })
        .collect();
    let id_of: BTreeMap<String, &String> =
        messages.iter().zip(&order).map(|(m, k)| (m.message_id.clone().unwrap(), *k)).collect();

    let handler = IngestHandler::new(
        s3.clone(),
        None,
        IngestSettings::for_lake(&format!("s3://{LAKE}/audit")),
        tokio::runtime::Handle::current(),
    )
    .unwrap();
    let mut failed: BTreeSet<String> = BTreeSet::new();
    let started = std::time::Instant::now();
    for batch in messages.chunks(10) {
        let response = handler.handle(event(batch.to_vec())).await.unwrap();
        failed.extend(failed_ids(&response));
    }
    eprintln!("{MESSAGES} messages in {:.1} s", started.elapsed().as_secs_f64());
    let failed_keys: BTreeSet<&String> = failed.iter().map(|id| id_of[id]).collect();
    let poison_keys: BTreeSet<&String> = poison.keys().collect();
    assert_eq!(failed_keys, poison_keys, "exactly the poison files fail their messages");

    // Every poison file is quarantined with its reason.
    let lake_root = S3Store::new(s3.clone(), LAKE, "", tokio::runtime::Handle::current());
    let mut quarantined: BTreeMap<String, String> = BTreeMap::new();
    for o in lake_root.list_async("audit/_quarantine/").await.unwrap() {
        let entry: serde_json::Value =
            serde_json::from_slice(&lake_root.get_bytes_async(&o.key).await.unwrap()).unwrap();
        quarantined.insert(entry["object"].as_str().unwrap().to_owned(), entry["reason"].as_str().unwrap().to_owned());
    }
    assert_eq!(quarantined.len(), poison.len(), "{quarantined:?}");
    for (key, fragment) in &poison {
        let reason = &quarantined[&format!("s3://{TRAIL}/{key}")];
        assert!(reason.contains(fragment), "{key}: reason {reason:?} lacks {fragment:?}");
    }

    // Every good file landed exactly once: the same rows per source as one local ingest.
    let local = tempfile::tempdir().unwrap();
    let src = LocalStore::new(dir.path());
    let sources: Vec<Source> = good_keys
        .iter()
        .map(|k| Source {
            store: Arc::new(src.clone()),
            key: k.clone(),
            size: std::fs::metadata(dir.path().join(k)).unwrap().len(),
            etag: None,
        })
        .collect();
    let reference = Ingestor::new(Arc::new(LocalStore::new(local.path())), IngestOptions::default())
        .ingest(sources, &|_, _| {})
        .unwrap();
    assert!(reference.failures.is_empty());
    let rows_per_source = |store: &dyn lake::Store, prefix: &str| {
        let mut per: BTreeMap<String, u64> = BTreeMap::new();
        lake::read::for_each_event_batch(store, &lake::read::EventFilter::default(), |_, b| {
            for s in lake::compact::source_objects(&b).unwrap().iter().flatten() {
                *per.entry(s.trim_start_matches(prefix).to_owned()).or_default() += 1;
            }
            Ok(())
        })
        .unwrap();
        per
    };
    let lake = S3Store::new(s3.clone(), LAKE, "audit", tokio::runtime::Handle::current());
    let landed = tokio::task::block_in_place(|| rows_per_source(&lake, &format!("s3://{TRAIL}/")));
    let want = rows_per_source(&LocalStore::new(local.path()), &format!("{}/", dir.path().display()));
    assert_eq!(landed.values().sum::<u64>(), reference.summary.rows);
    assert_eq!(landed, want, "rows per source file");

    // SQS redelivers the failed messages (maxReceiveCount times): they fail again, the lake
    // does not change, and SQS moves them to the DLQ.
    let before = lake_root.list_async("audit/").await.unwrap();
    let retry: Vec<SqsMessage> =
        messages.iter().filter(|m| failed.contains(m.message_id.as_deref().unwrap())).cloned().collect();
    for batch in retry.chunks(10) {
        let response = handler.handle(event(batch.to_vec())).await.unwrap();
        assert_eq!(failed_ids(&response).len(), batch.len());
    }
    let after = lake_root.list_async("audit/").await.unwrap();
    let names = |l: &[lake::ObjectInfo]| l.iter().map(|o| (o.key.clone(), o.size)).collect::<Vec<_>>();
    assert_eq!(names(&after), names(&before), "redelivered poison changed the lake");
    drop(w.moto);
}

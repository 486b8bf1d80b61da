//! `aws::s3::S3Store` against a real local S3 (the moto server): every `lake::Store`
//! operation, pagination, streaming, metadata, conditional writes, error kinds, and a whole
//! ingest into an S3 lake read back.

use std::io::Read;
use std::sync::Arc;

use aws::s3::{ReadAhead, ReadAheadStore, S3Store};
use lake::{ObjectMetadata, Source, Store, StoreErrorKind};
use testkit::MotoServer;

struct Env {
    _moto: MotoServer,
    rt: tokio::runtime::Runtime,
    client: aws::s3::Client,
}

impl Env {
    fn new() -> Env {
        let moto = MotoServer::start();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let config = rt.block_on(aws::config::local(&moto.endpoint(), "us-east-1"));
        let client = aws::config::s3_client_path_style(&config, true);
        Env { _moto: moto, rt, client }
    }

    fn bucket(&self, name: &str) {
        self.rt.block_on(self.client.create_bucket().bucket(name).send()).unwrap();
    }

    fn store(&self, url: &str) -> S3Store {
        S3Store::from_url(self.client.clone(), url, self.rt.handle().clone()).unwrap()
    }
}

#[test]
fn store_operations_round_trip() {
    let env = Env::new();
    env.bucket("lake");
    let store = env.store("s3://lake/root/prefix");
    assert_eq!(store.root(), "s3://lake/root/prefix");
    assert_eq!(store.location("a/b.json"), "s3://lake/root/prefix/a/b.json");

    // put / get / get_bytes
    store.put("a/one.json", b"hello").unwrap();
    assert_eq!(store.get_bytes("a/one.json").unwrap(), b"hello");
    let mut s = String::new();
    store.get("a/one.json").unwrap().read_to_string(&mut s).unwrap();
    assert_eq!(s, "hello");

    // streaming a body of several network chunks, byte for byte
    let big: Vec<u8> = (0..6_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    store.put("big.bin", &big).unwrap();
    let mut reader = store.get("big.bin").unwrap();
    let mut back = Vec::new();
    let mut buf = [0u8; 7919];
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        back.extend_from_slice(&buf[..n]);
    }
    assert!(back == big, "streamed body differs");

    // the object is under the prefix in the bucket
    let root = env.store("s3://lake");
    assert_eq!(root.get_bytes("root/prefix/a/one.json").unwrap(), b"hello");

    // head: size, ETag without quotes, metadata (lowercased), SSE
    let meta = ObjectMetadata {
        metadata: [("x-amz-key".to_owned(), "00ff".to_owned()), ("Mixed-Case".to_owned(), "v".to_owned())]
            .into_iter()
            .collect(),
        server_side_encryption: Some("aws:kms".into()),
        sse_kms_key_id: Some("arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab".into()),
    };
    store.put_with_metadata("enc/obj", b"ciphertext", &meta).unwrap();
    let (info, got) = store.head("enc/obj").unwrap().expect("object exists");
    assert_eq!(info.size, 10);
    let etag = info.etag.expect("etag");
    assert!(!etag.contains('"'), "{etag}");
    assert_eq!(got.metadata.get("x-amz-key").map(String::as_str), Some("00ff"));
    assert_eq!(got.metadata.get("mixed-case").map(String::as_str), Some("v"));
    assert_eq!(got.server_side_encryption.as_deref(), Some("aws:kms"));
    assert_eq!(got.sse_kms_key_id, meta.sse_kms_key_id);
    assert!(store.head("missing").unwrap().is_none());

    // put_if_absent: a conditional PUT (If-None-Match: *)
    assert!(store.put_if_absent("once", b"first").unwrap());
    assert!(!store.put_if_absent("once", b"second").unwrap());
    assert_eq!(store.get_bytes("once").unwrap(), b"first");

    // list: recursive, sorted, relative keys; a prefix names a folder, not a string prefix
    store.put("a/b/c.json", b"1").unwrap();
    store.put("a/bc.json", b"2").unwrap();
    let keys: Vec<String> = store.list("a/b").unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(keys, vec!["a/b/c.json"]);
    let keys: Vec<String> = store.list("a/").unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(keys, vec!["a/b/c.json", "a/bc.json", "a/one.json"]);
    let all = store.list("").unwrap();
    assert_eq!(all.len(), 6);
    assert!(all.windows(2).all(|w| w[0].key < w[1].key));
    assert_eq!(store.list("a/one.json").unwrap().len(), 1, "a prefix naming one object lists it");

    // delete: missing is success
    store.delete("a/one.json").unwrap();
    store.delete("a/one.json").unwrap();
    let e = store.get_bytes("a/one.json").unwrap_err();
    assert_eq!(e.kind, StoreErrorKind::NotFound, "{e}");
    assert_eq!(e.location, "s3://lake/root/prefix/a/one.json");
}

#[test]
fn list_follows_continuation_tokens() {
    let env = Env::new();
    env.bucket("many");
    let store = env.store("s3://many/p");
    // moto pages at 1000 keys, like S3.
    let keys: Vec<String> = (0..1234).map(|i| format!("k/{i:05}")).collect();
    env.rt.block_on(async {
        let mut tasks = Vec::new();
        for chunk in keys.chunks(100) {
            let store = store.clone();
            let chunk = chunk.to_vec();
            tasks.push(tokio::spawn(async move {
                for k in chunk {
                    store.put_async(&k, bytes::Bytes::from_static(b"x"), None).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    let listed: Vec<String> = store.list("k/").unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(listed, keys);
}

#[test]
fn errors_carry_location_and_kind() {
    let env = Env::new();
    // No such bucket: permanent or not-found, never transient, and located.
    let store = env.store("s3://no-such-bucket/x");
    let e = store.put("k", b"v").unwrap_err();
    assert_eq!(e.location, "s3://no-such-bucket/x/k");
    assert_ne!(e.kind, StoreErrorKind::Transient, "{e}");
    // Nothing listens: a dispatch failure, transient.
    let port = testkit::free_port();
    let config = env.rt.block_on(aws::config::local(&format!("http://127.0.0.1:{port}"), "us-east-1"));
    let dead = S3Store::new(aws::config::s3_client_path_style(&config, true), "b", "", env.rt.handle().clone());
    let e = dead.get_bytes("k").unwrap_err();
    assert_eq!(e.kind, StoreErrorKind::Transient, "{e}");
    assert_eq!(e.location, "s3://b/k");
}

#[test]
fn read_ahead_serves_planned_objects_and_passes_the_rest_through() {
    let env = Env::new();
    env.bucket("trail");
    let store = env.store("s3://trail");
    let mut plan = Vec::new();
    for i in 0..20 {
        let body = format!("object {i}").repeat(i + 1);
        store.put(&format!("o/{i:02}"), body.as_bytes()).unwrap();
        plan.push((format!("o/{i:02}"), body.len() as u64));
    }
    // Small byte budget: the read-ahead must still make progress one object at a time.
    let ahead = ReadAhead::new(store.clone(), plan.clone(), 4, 64);
    ahead.prime();
    let view = ReadAheadStore(ahead);
    // Read out of order from several threads.
    std::thread::scope(|s| {
        for t in 0..4 {
            let view = view.clone();
            let plan = &plan;
            s.spawn(move || {
                for (i, (key, _)) in plan.iter().enumerate().filter(|(i, _)| i % 4 == t).rev() {
                    let body = view.get_bytes(key).unwrap();
                    assert_eq!(body, format!("object {i}").repeat(i + 1).as_bytes());
                }
            });
        }
    });
    // A second read of a planned key and an unplanned key go to S3.
    assert_eq!(view.get_bytes("o/03").unwrap(), "object 3".repeat(4).as_bytes());
    store.put("other", b"x").unwrap();
    assert_eq!(view.get_bytes("other").unwrap(), b"x");
    assert_eq!(view.location("o/01"), "s3://trail/o/01");
}

#[test]
fn ingest_into_an_s3_lake_from_an_s3_trail() {
    let env = Env::new();
    env.bucket("trail");
    env.bucket("lake");
    let dir = tempfile::tempdir().unwrap();
    let spec = synth::TrailSpec { records: 3000, files: 6, ..synth::TrailSpec::default() };
    let stats = synth::generate_trail(&spec, dir.path()).unwrap();
    let trail = env.store("s3://trail");
    for f in &stats.files {
        let key = f.strip_prefix(dir.path()).unwrap().to_string_lossy().into_owned();
        trail.put(&key, &std::fs::read(f).unwrap()).unwrap();
    }
    // The same files ingested from disk, as the reference.
    let local_lake = tempfile::tempdir().unwrap();
    let local_store: Arc<dyn Store> = Arc::new(lake::LocalStore::new(local_lake.path()));
    let local_src = lake::LocalStore::new(dir.path());
    let local_sources: Vec<Source> = local_src
        .list("")
        .unwrap()
        .into_iter()
        .map(|o| Source { store: Arc::new(local_src.clone()), key: o.key, size: o.size, etag: None })
        .collect();
    let reference =
        lake::Ingestor::new(local_store, lake::IngestOptions::default()).ingest(local_sources, &|_, _| {}).unwrap();

    let lake_store: Arc<dyn Store> = Arc::new(env.store("s3://lake/audit"));
    let objects = trail.list("AWSLogs/").unwrap();
    assert_eq!(objects.len(), 6);
    let sources: Vec<Source> = objects
        .into_iter()
        .map(|o| Source { store: Arc::new(trail.clone()), key: o.key, size: o.size, etag: o.etag })
        .collect();
    let report =
        lake::Ingestor::new(lake_store.clone(), lake::IngestOptions::default()).ingest(sources, &|_, _| {}).unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.summary.kms_events, reference.summary.kms_events);
    assert_eq!(report.summary.rows, reference.summary.rows);
    assert_eq!(report.written.len(), reference.written.len());
    // Read back through the lake reader: rows and source objects are S3 locations.
    let filter = lake::read::EventFilter::default();
    let mut rows = 0u64;
    lake::read::for_each_event_batch(&*lake_store, &filter, |_, batch| {
        let sources = lake::compact::source_objects(&batch).unwrap();
        assert!(sources.iter().all(|s| s.unwrap().starts_with("s3://trail/AWSLogs/")));
        rows += batch.num_rows() as u64;
        Ok(())
    })
    .unwrap();
    assert_eq!(rows, report.summary.rows);
    // Keys are under the lake prefix in the bucket.
    let raw = env.store("s3://lake");
    assert!(raw.list("audit/kms_events/").unwrap().len() == report.written.len());
}

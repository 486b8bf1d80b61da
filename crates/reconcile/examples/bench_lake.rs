//! Writes a benchmark lake: `kms_events` Parquet files in the real layout
//! (`kms_events/key_id=…/principal=…/dt=…/`, every column of DESIGN.md §2, lake's writer
//! properties, rows sorted by time, one file per partition-day as after compaction) straight
//! from synthetic Arrow batches, plus the matching `expectations.json`.
//!
//! ```text
//! cargo run --release -p reconcile --example bench_lake -- OUT [EVENTS] [JOBS] [DAYS]
//! ```
//!
//! Defaults: 10,000,000 events, 10,000 training jobs over 200 shared execution roles (with
//! paths) and 20 keys, 14 days from 2025-03-01. Job roles call KMS through S3 inside their
//! windows (the bulk); a small share is not clean — another principal (0.5 % of runs), uses
//! outside every window (0.3 %), denied calls (0.05 %), direct calls (0.05 %), TLS 1.1
//! (0.02 %) — so the rules find something (≈ 1 % of events). Deterministic (ChaCha8, seed 1).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, ListBuilder, MapBuilder, StringArray, StringBuilder, TimestampMillisecondArray,
};
use arrow::record_batch::RecordBatch;
use chrono::{TimeZone, Utc};
use lake::partition::Partition;
use lake::schema::kms_events_schema;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use reconcile::{Expectations, Source};

#[path = "../benches/synthetic/mod.rs"]
mod synthetic;

use synthetic::{key, role, A, KEYS, ROLES};

const DAY_MS: i64 = 86_400_000;
const HOSTS: [&str; 3] = ["fas.s3.amazonaws.com", "s3.amazonaws.com", "internal.amazonaws.com"];

/// One event, compactly; strings are made when the partition's batch is built.
#[derive(Clone, Copy)]
struct Ev {
    t: i64,
    id: u64,
    decrypt: bool,
    host: u8, // index in HOSTS; 255 = none (direct call)
    denied: bool,
    weak_tls: bool,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = PathBuf::from(args.get(1).expect("usage: bench_lake OUT [EVENTS] [JOBS] [DAYS]"));
    let events: usize = args.get(2).map_or(10_000_000, |v| v.parse().expect("EVENTS"));
    let jobs_n: usize = args.get(3).map_or(10_000, |v| v.parse().expect("JOBS"));
    let days: i64 = args.get(4).map_or(14, |v| v.parse().expect("DAYS"));
    let started = std::time::Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let t0 = Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap();
    let base = t0.timestamp_millis();
    let span = days * DAY_MS;

    let (jobs, windows) = synthetic::training_jobs(&mut rng, jobs_n, t0, span);

    // Events by partition (key, principal, day). Principal ROLES = the analyst.
    let mut parts: BTreeMap<(usize, usize, i64), Vec<Ev>> = BTreeMap::new();
    let mut n = 0usize;
    while n < events {
        let run = rng.random_range(50..2000).min(events - n);
        let (start, end, r) = windows[rng.random_range(0..jobs_n)];
        let principal = if rng.random_bool(0.005) { ROLES } else { r };
        let k = if rng.random_bool(0.5) { r % KEYS } else { (r + 7) % KEYS };
        let host = rng.random_range(0..3u8);
        for _ in 0..run {
            let t = if rng.random_bool(0.997) { rng.random_range(start..=end) } else { rng.random_range(0..span) };
            let ev = Ev {
                t: base + t,
                id: n as u64,
                decrypt: rng.random_bool(0.7),
                host: if rng.random_bool(0.9995) { host } else { 255 },
                denied: rng.random_bool(0.0005),
                weak_tls: rng.random_bool(0.0002),
            };
            parts.entry((k, principal, t / DAY_MS)).or_default().push(ev);
            n += 1;
        }
    }
    let kms = kms_events_schema();
    let dir = out.join("lake");
    let parts: Vec<_> = parts.into_iter().collect();
    let bytes: u64 = parts
        .par_iter()
        .map(|((k, p, d), evs)| {
            let principal = if *p == ROLES { format!("arn:aws:iam::{A}:role/Analyst") } else { role(*p) };
            let day = (t0 + chrono::Duration::days(*d)).format("%Y-%m-%d").to_string();
            let key_arn = key(*k);
            let key_id = key_arn.rsplit('/').next().unwrap();
            let batch = batch(&kms, evs, &key_arn, &principal);
            let sorted = lake::writer::sort_by_time(&batch).unwrap();
            let body = lake::writer::encode_parquet(&[sorted]).unwrap();
            let part = Partition::new(Some(key_id), &principal, &day);
            let path = dir.join(part.dir()).join("bench-0000.parquet");
            write(&path, &body);
            body.len() as u64
        })
        .sum();
    let e = Expectations {
        generated_at: Some(t0 + chrono::Duration::days(days)),
        source: Source { kind: "synth".into(), ..Default::default() },
        jobs,
        ..Default::default()
    };
    write(&out.join("expectations.json"), e.to_json().as_bytes());
    let to = t0 + chrono::Duration::days(days);
    let meta = serde_json::json!({
        "events": events, "jobs": jobs_n, "days": days, "files": parts.len(), "bytes": bytes,
        "from": t0.to_rfc3339(), "to": to.to_rfc3339(), "watermark": to.to_rfc3339(),
    });
    write(&out.join("bench.json"), meta.to_string().as_bytes());
    eprintln!("bench_lake: {meta} in {:.1?}", started.elapsed());
}

fn write(path: &Path, body: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
}

/// Every `kms_events` column for one partition's events.
fn batch(schema: &arrow::datatypes::SchemaRef, evs: &[Ev], key_arn: &str, principal: &str) -> RecordBatch {
    let rows = evs.len();
    let role_name = principal.rsplit('/').next().unwrap();
    let session = format!("arn:aws:sts::{A}:assumed-role/{role_name}/SageMaker");
    let str_col =
        |f: &dyn Fn(&Ev) -> Option<String>| -> ArrayRef { Arc::new(evs.iter().map(f).collect::<StringArray>()) };
    let konst = |v: Option<&str>| -> ArrayRef { Arc::new(StringArray::from(vec![v; rows])) };
    let mut ctx =
        MapBuilder::new(Some(lake::schema::context_map_field_names()), StringBuilder::new(), StringBuilder::new());
    for e in evs {
        ctx.keys().append_value("aws:s3:arn");
        ctx.values().append_value(format!("arn:aws:s3:::ml-data-{A}/train/part-{:05}.csv", e.id % 100_000));
        ctx.append(true).unwrap();
    }
    let arrow::datatypes::DataType::List(element) = lake::schema::string_list_type() else { unreachable!() };
    let mut grants = ListBuilder::new(StringBuilder::new()).with_field(element);
    for _ in evs {
        grants.append_null();
    }
    let name = |e: &Ev| if e.decrypt { "Decrypt" } else { "GenerateDataKey" };
    let host = |e: &Ev| (e.host != 255).then(|| HOSTS[e.host as usize].to_owned());
    let cols: Vec<ArrayRef> = vec![
        str_col(&|e| Some(format!("{:08x}-{:04x}-4000-8000-{:012x}", e.id >> 16, e.id & 0xffff, e.id))),
        Arc::new(TimestampMillisecondArray::from(evs.iter().map(|e| e.t).collect::<Vec<_>>()).with_timezone("UTC")),
        str_col(&|e| Some(name(e).to_owned())),
        konst(Some("1.11")),
        konst(Some("us-east-1")),
        konst(Some(A)),
        konst(Some(key_arn)),
        konst(None),
        konst(Some(principal)),
        konst(Some("AssumedRole")),
        konst(Some(&session)),
        konst(Some("SageMaker")),
        konst(None),
        konst(Some("ASIAEXAMPLEEXAMPLE01")),
        str_col(&host),
        str_col(&|e| host(e).or_else(|| Some("10.0.12.34".into()))),
        str_col(&|e| host(e).or_else(|| Some("Boto3/1.35.0 md/Botocore#1.35.0".into()))),
        Arc::new(ctx.finish()),
        str_col(&|e| e.decrypt.then(|| "SYMMETRIC_DEFAULT".to_owned())),
        konst(None),
        Arc::new(grants.finish()),
        str_col(&|e| e.denied.then(|| "AccessDenied".to_owned())),
        str_col(&|e| e.denied.then(|| "User is not authorized to perform kms:Decrypt".to_owned())),
        str_col(&|e| Some(format!("{:032x}", e.id.wrapping_mul(0x9e37_79b9_7f4a_7c15)))),
        Arc::new(evs.iter().map(|e| Some(e.decrypt)).collect::<BooleanArray>()),
        konst(None),
        konst(None),
        str_col(&|e| Some(if e.weak_tls { "TLSv1.1" } else { "TLSv1.3" }.to_owned())),
        str_col(&|e| Some(if e.weak_tls { "ECDHE-RSA-AES128-SHA" } else { "TLS_AES_128_GCM_SHA256" }.to_owned())),
        str_col(&|e| {
            Some(format!(
                "{{\"encryptionAlgorithm\":\"SYMMETRIC_DEFAULT\",\"encryptionContext\":{{\"aws:s3:arn\":\"arn:aws:s3:::ml-data-{A}/train/part-{:05}.csv\"}}}}",
                e.id % 100_000
            ))
        }),
        konst(None),
        konst(Some("s3://trail-bucket/AWSLogs/111122223333/CloudTrail/us-east-1/2025/03/01/bench.json.gz")),
    ];
    RecordBatch::try_new(schema.clone(), cols).expect("columns match the kms_events schema")
}

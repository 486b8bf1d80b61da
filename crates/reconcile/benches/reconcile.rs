//! Reconciler throughput on synthetic `kms_events` batches: 10,000 jobs over 200 shared roles and
//! 20 keys, a month of events (mostly job roles through S3 inside their windows, some outside,
//! some other principals), 64 Ki rows per batch, only the required columns.
//!
//! `cargo bench -p reconcile` (set `RECONCILE_BENCH_EVENTS` to change the event count, default 1M).

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, MapBuilder, StringArray, StringBuilder, TimestampMillisecondArray};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reconcile::{Expectations, Options, Reconciler, REQUIRED_COLUMNS};

mod synthetic;

use synthetic::{key, role, A, KEYS};

const JOBS: usize = 10_000;
const BATCH: usize = 64 * 1024;

struct Setup {
    expectations: Expectations,
    batches: Vec<RecordBatch>,
    options: Options,
}

/// `dirty`: 2% of runs by an analyst role, 3% of times outside the job's window (~4% findings);
/// otherwise a clean lake (job roles through S3 inside their windows only, no findings).
fn setup(events: usize, dirty: bool) -> Setup {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let t0 = Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).unwrap();
    let month_ms: i64 = 30 * 24 * 3600 * 1000;
    let (jobs, windows) = synthetic::training_jobs(&mut rng, JOBS, t0, month_ms);
    let expectations = Expectations { jobs, ..Default::default() };
    let base = t0.timestamp_millis();
    let mut batches = Vec::new();
    let mut left = events;
    let mut n = 0usize;
    let hosts = ["fas.s3.amazonaws.com", "s3.amazonaws.com", "internal.amazonaws.com"];
    while left > 0 {
        let rows = left.min(BATCH);
        left -= rows;
        // Ingest writes files per (key, principal, day): long runs of one principal and key.
        let mut ids = Vec::with_capacity(rows);
        let mut times = Vec::with_capacity(rows);
        let mut names = Vec::with_capacity(rows);
        let mut keys = Vec::with_capacity(rows);
        let mut principals = Vec::with_capacity(rows);
        let mut invoked = Vec::with_capacity(rows);
        let mut errors = Vec::with_capacity(rows);
        let mut ctx =
            MapBuilder::new(Some(lake::schema::context_map_field_names()), StringBuilder::new(), StringBuilder::new());
        let mut i = 0;
        while i < rows {
            let run = rng.random_range(50..2000).min(rows - i);
            let (start, end, r) = windows[rng.random_range(0..JOBS)];
            let outsider = dirty && rng.random_bool(0.02);
            let principal = if outsider { format!("arn:aws:iam::{A}:role/Analyst") } else { role(r) };
            let k = key(if rng.random_bool(0.5) { r % KEYS } else { (r + 7) % KEYS });
            let host = hosts[rng.random_range(0..3)];
            for _ in 0..run {
                let t = if !dirty || rng.random_bool(0.97) {
                    rng.random_range(start..=end)
                } else {
                    rng.random_range(0..month_ms)
                };
                ids.push(format!("{n:016x}-0000-4000-8000-000000000000"));
                n += 1;
                times.push(base + t);
                names.push(if rng.random_bool(0.7) { "Decrypt" } else { "GenerateDataKey" });
                keys.push(k.clone());
                principals.push(principal.clone());
                invoked.push(if !dirty || rng.random_bool(0.999) { Some(host) } else { None });
                errors.push(if dirty && rng.random_bool(0.001) { Some("AccessDenied") } else { None });
                ctx.keys().append_value("aws:s3:arn");
                ctx.values().append_value("arn:aws:s3:::ml-data/train/part-00000.csv");
                ctx.append(true).unwrap();
            }
            i += run;
        }
        let nulls = || -> ArrayRef { Arc::new(StringArray::from(vec![None::<&str>; rows])) };
        let cols: Vec<(&str, ArrayRef)> = vec![
            ("event_id", Arc::new(StringArray::from(ids))),
            ("event_time", Arc::new(TimestampMillisecondArray::from(times).with_timezone("UTC"))),
            ("event_name", Arc::new(StringArray::from(names))),
            ("account_id", Arc::new(StringArray::from(vec![A; rows]))),
            ("key_arn", Arc::new(StringArray::from(keys))),
            ("key_alias", nulls()),
            ("principal_arn", Arc::new(StringArray::from(principals))),
            ("principal_type", Arc::new(StringArray::from(vec!["AssumedRole"; rows]))),
            ("access_key_id", Arc::new(StringArray::from(vec!["ASIAEXAMPLE"; rows]))),
            ("invoked_by", Arc::new(StringArray::from(invoked.clone()))),
            ("source_ip", Arc::new(StringArray::from(invoked))),
            ("encryption_context", Arc::new(ctx.finish())),
            ("error_code", Arc::new(StringArray::from(errors))),
            ("tls_version", nulls()),
            ("grantee_principal", nulls()),
        ];
        assert_eq!(cols.len(), REQUIRED_COLUMNS.len());
        let schema =
            Schema::new(cols.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect::<Vec<_>>());
        let arrays = cols.into_iter().map(|(_, a)| a).collect();
        batches.push(RecordBatch::try_new(Arc::new(schema), arrays).unwrap());
    }
    Setup {
        expectations,
        batches,
        options: Options {
            from: Some(t0),
            to: Some(t0 + chrono::Duration::days(31)),
            slack: Duration::from_secs(900),
            watermark: t0 + chrono::Duration::days(31),
            run_id: "bench".into(),
        },
    }
}

fn bench(c: &mut Criterion) {
    let events = std::env::var("RECONCILE_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let mut g = c.benchmark_group("reconcile");
    g.sample_size(10);
    g.throughput(Throughput::Elements(events as u64));
    for (label, dirty) in [("clean", false), ("4% findings", true)] {
        let s = setup(events, dirty);
        g.bench_function(format!("{events} events x {JOBS} jobs, {label}"), |b| {
            b.iter(|| {
                let mut r = Reconciler::new(&s.expectations, s.options.clone()).unwrap();
                for batch in &s.batches {
                    r.observe(batch).unwrap();
                }
                r.finish().len()
            })
        });
        if !dirty {
            g.bench_function(format!("index {JOBS} jobs"), |b| {
                b.iter(|| Reconciler::new(&s.expectations, s.options.clone()).unwrap())
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

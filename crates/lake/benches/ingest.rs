//! Criterion benches of the ingest hot path on one generated log file held in memory:
//! gunzip + parse + normalise + Arrow (`read_log_bytes` into the pipeline's builders through
//! `Ingestor` on an in-memory-backed local store), and the JSON parse alone.
//! Run: `cargo bench -p lake --bench ingest`. Numbers: README "Performance".

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lake::{IngestOptions, Ingestor, LocalStore, Source, Store};
use trail::{read_log_bytes, ReadLimits, RecordOutcome};

fn trail_file() -> (tempfile::TempDir, Vec<u8>, u64) {
    let dir = tempfile::tempdir().unwrap();
    let spec = synth::TrailSpec { records: 20_000, files: 1, seed: 3, ..Default::default() };
    let stats = synth::generate_trail(&spec, dir.path()).unwrap();
    let bytes = std::fs::read(&stats.files[0]).unwrap();
    (dir, bytes, stats.json_bytes)
}

fn bench(c: &mut Criterion) {
    let (dir, gz, json_bytes) = trail_file();
    let limits = ReadLimits::default();
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Bytes(json_bytes));
    group.sample_size(10);

    group.bench_function(BenchmarkId::new("gunzip+parse+normalise", "20k records"), |b| {
        b.iter(|| {
            let mut kms = 0u64;
            read_log_bytes(&gz, &limits, |r| {
                if let RecordOutcome::Kms(_) = r.outcome(&limits) {
                    kms += 1;
                }
            })
            .unwrap();
            kms
        })
    });

    let src: Arc<dyn Store> = Arc::new(LocalStore::new(dir.path()));
    let sources: Vec<Source> = src
        .list("")
        .unwrap()
        .into_iter()
        .map(|o| Source { store: src.clone(), key: o.key, size: o.size, etag: None })
        .collect();
    group.bench_function(BenchmarkId::new("whole file to Parquet lake", "20k records"), |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |lake| {
                let store: Arc<dyn Store> = Arc::new(LocalStore::new(lake.path()));
                Ingestor::new(store, IngestOptions::default()).ingest(sources.clone(), &|_, _| {}).unwrap().summary.rows
            },
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

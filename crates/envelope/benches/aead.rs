//! Decrypt + authenticate throughput of the envelope crate, per backend and body size.
//!
//! `envelope/open`: a simple-format body through `Envelope::open` (what `verify` does after the
//! keyring call). `aead/open`: the raw AES-256-GCM open, for comparison with
//! `openssl speed -evp aes-256-gcm -decrypt`.
//!
//! cargo bench -p envelope --features aws-lc --bench aead

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use envelope::aead::{self, Backend};
use envelope::{seal, DataKey, EncryptionContext, Envelope, Format, Options, SealMaterials};

const SIZES: [(usize, &str); 2] = [(64 * 1024, "64KiB"), (1024 * 1024, "1MiB")];

fn sealed_simple(key: &DataKey, plaintext: &[u8]) -> (BTreeMap<String, String>, Vec<u8>) {
    let ctx = EncryptionContext::new();
    seal(
        &SealMaterials {
            format: Format::Simple,
            data_key: key,
            wrapped_key: &[0xaa; 69],
            wrap_algorithm: envelope::WRAP_ALG_LOCAL_CONTEXT,
            kms_context: &ctx,
        },
        [3; 12],
        plaintext,
        &Options::default(),
    )
    .expect("seal")
}

fn bench(c: &mut Criterion) {
    let key = DataKey::from_array([7; 32]);
    for (size, label) in SIZES {
        let plaintext: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let (metadata, body) = sealed_simple(&key, &plaintext);
        let envelope = Envelope::parse(&metadata).unwrap().unwrap();
        let raw = aead::seal(Backend::default(), &key, &[3; 12], b"", &plaintext).unwrap();

        let mut group = c.benchmark_group(format!("decrypt/{label}"));
        group.throughput(Throughput::Bytes(size as u64));
        for &backend in Backend::available() {
            let options = Options { backend, ..Options::default() };
            group.bench_with_input(BenchmarkId::new("envelope-open", backend.name()), &body, |b, body| {
                b.iter(|| envelope.open(&key, black_box(body), &options).unwrap())
            });
            group.bench_with_input(BenchmarkId::new("aead-open", backend.name()), &raw, |b, raw| {
                b.iter(|| aead::open(backend, &key, &[3; 12], b"", black_box(raw)).unwrap())
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

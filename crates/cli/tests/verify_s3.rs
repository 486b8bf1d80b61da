//! `kms-audit verify s3://…` against the moto server (S3 + KMS), on objects written by the
//! independent Python producer `tests/envelope/produce_s3_simple.py` (boto3 + `cryptography`
//! AESGCM, following the documented simple format by hand) and by boto3 with SSE-KMS.
//!
//! Moto quirk (LOCAL-PARTS.md): a Decrypt naming the wrong `KeyId` is answered with
//! `AccessDeniedException` (AWS says `IncorrectKeyException`), so a wrong expected key shows
//! here as `kms-denied` rather than `wrong-key`; both are failures.

mod verify_support;

use lake::Store;
use serde_json::Value;
use testkit::MotoServer;
use verify_support::*;

fn verify(moto: &MotoServer, prefix: &str, extra: &[&str], out: &std::path::Path, code: i32) -> Value {
    run_expect(
        kms_audit(Some(moto)).args(["verify", prefix, "--out"]).arg(out).args(extra).args(["--concurrency", "3"]),
        code,
    );
    read_json(out)
}

#[test]
fn python_simple_objects_verify_and_tampering_fails() {
    let moto = MotoServer::start();
    let aws = Aws::new(&moto);
    let key = aws.create_key();
    let other = aws.create_key();
    aws.create_alias("alias/training-data", &key);
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("sha256s.txt");
    let endpoint = moto.endpoint();
    python(
        "tests/envelope/produce_s3_simple.py",
        &[
            "--endpoint",
            &endpoint,
            "--bucket",
            "data",
            "--prefix",
            "simple/",
            "--key-id",
            &key,
            "--count",
            "8",
            "--size",
            "3000",
            "--manifest",
            manifest.to_str().unwrap(),
        ],
        None,
    );

    // A reproducible sample of 5 of the 8, every one verified under the expected key, against
    // the manifest.
    let out = dir.path().join("report.json");
    let report = verify(
        &moto,
        "s3://data/simple/",
        &["--sample", "5", "--seed", "7", "--expect-key", &key, "--manifest", manifest.to_str().unwrap()],
        &out,
        0,
    );
    // Sampled by name relative to the prefix.
    let names: Vec<String> = (0..8).map(|i| format!("obj-{i:05}.bin")).collect();
    let want: Vec<String> =
        envelope::sample(&names, 5, 7).into_iter().map(|n| format!("s3://data/simple/{n}")).collect();
    let got: Vec<String> = objects_by_name(&report).into_keys().collect();
    assert_eq!(got, want, "the sample is envelope::sample over the keys under the prefix");
    assert_eq!(report["seed"], 7);
    assert_eq!(report["population"], 8);
    assert_eq!(report["summary"]["ok"], 5);
    assert!(report["run"]["max_in_flight"].as_u64().unwrap() <= 3);
    for o in report["objects"].as_array().unwrap() {
        assert_eq!(o["verdict"], "ok", "{o}");
        assert_eq!(o["format"], "simple");
        assert_eq!(o["key_arn"], key.as_str());
        assert!(o["reason"].as_str().unwrap().contains("manifest"), "{o}");
        assert_eq!(o["decrypt"]["key_arn"], key.as_str());
        assert_eq!(o["decrypt"]["encryption_context"]["purpose"], "training-data");
    }
    // The same seed draws the same sample again; the alias resolves to the key.
    let again = verify(
        &moto,
        "s3://data/simple/",
        &["--sample", "5", "--seed", "7", "--expect-key", "alias/training-data"],
        &out,
        0,
    );
    assert_eq!(objects_by_name(&again).into_keys().collect::<Vec<_>>(), want);
    assert_eq!(again["expected_keys"][0], key.as_str());

    // Against another key: every object fails.
    let wrong = verify(&moto, "s3://data/simple/", &["--sample", "8", "--expect-key", &other], &out, 1);
    assert_eq!(wrong["summary"]["failed"], 8);
    for o in wrong["objects"].as_array().unwrap() {
        let kind = o["error_kind"].as_str().unwrap();
        assert!(kind == "kms-denied" || kind == "wrong-key", "{o}");
    }

    // Tamper with one body byte and drop another object's context: those two fail with their
    // own kinds, the rest still verify.
    let store = aws.bucket("data");
    let (mut body, meta) = get(&store, "simple/obj-00002.bin");
    body[20] ^= 0x01;
    store.put_with_metadata("simple/obj-00002.bin", &body, &meta).unwrap();
    let (body, mut meta) = get(&store, "simple/obj-00004.bin");
    meta.metadata.remove("x-amz-context");
    store.put_with_metadata("simple/obj-00004.bin", &body, &meta).unwrap();
    let tampered = verify(&moto, "s3://data/simple/", &["--sample", "8", "--expect-key", &key], &out, 1);
    let by = objects_by_name(&tampered);
    assert_eq!(by["s3://data/simple/obj-00002.bin"]["error_kind"], "authentication");
    assert_eq!(by["s3://data/simple/obj-00004.bin"]["error_kind"], "context-mismatch");
    assert_eq!(tampered["summary"]["ok"], 6);
    assert_eq!(tampered["summary"]["failed"], 2);
}

#[test]
fn sse_kms_objects_verify_against_the_right_key_only() {
    let moto = MotoServer::start();
    let aws = Aws::new(&moto);
    let key = aws.create_key();
    let other = aws.create_key();
    let endpoint = moto.endpoint();
    for (mode, prefix, count) in [("sse-kms", "sse/", "4"), ("sse-s3", "s3managed/", "2"), ("plain", "plain/", "2")] {
        python(
            "tests/envelope/produce_s3_simple.py",
            &[
                "--endpoint",
                &endpoint,
                "--bucket",
                "data",
                "--prefix",
                prefix,
                "--mode",
                mode,
                "--key-id",
                &key,
                "--count",
                count,
            ],
            None,
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");

    let ok = verify(&moto, "s3://data/sse/", &["--sample", "10", "--expect-key", &key], &out, 0);
    assert_eq!(ok["summary"]["total"], 4);
    for o in ok["objects"].as_array().unwrap() {
        assert_eq!(o["format"], "sse-kms");
        assert_eq!(o["verdict"], "ok");
        assert_eq!(o["key_arn"], key.as_str());
        assert!(o.get("decrypt").is_none(), "SSE-KMS needs no Decrypt by the verifier");
    }
    let bad = verify(&moto, "s3://data/sse/", &["--sample", "10", "--expect-key", &other], &out, 1);
    for o in bad["objects"].as_array().unwrap() {
        assert_eq!(o["verdict"], "fail");
        assert_eq!(o["error_kind"], "wrong-key");
    }
    // SSE-S3 and unencrypted objects fail whatever the key.
    let all = verify(&moto, "s3://data/", &["--sample", "100", "--expect-key", &key], &out, 1);
    let by = objects_by_name(&all);
    assert_eq!(by.len(), 8);
    for (name, o) in &by {
        let want = if name.contains("/sse/") {
            ("sse-kms", "ok")
        } else if name.contains("/s3managed/") {
            ("sse-s3", "fail")
        } else {
            ("none", "fail")
        };
        assert_eq!((o["format"].as_str().unwrap(), o["verdict"].as_str().unwrap()), want, "{name}: {o}");
    }
    assert_eq!(all["summary"]["by_format"]["sse-s3"], 2);
}

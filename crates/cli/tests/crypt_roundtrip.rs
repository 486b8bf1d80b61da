//! `kms-audit keygen` / `encrypt` / `decrypt` round trips, and `verify` of what `encrypt`
//! wrote: with KMS on the moto server (S3 objects, both formats) and with the local keyring on a
//! local folder (no AWS at all).

mod verify_support;

use std::fs;

use testkit::MotoServer;
use verify_support::*;

#[test]
fn encrypt_verify_decrypt_on_s3_with_kms_in_both_formats() {
    let moto = MotoServer::start();
    let aws = Aws::new(&moto);
    let key = aws.create_key();
    aws.create_alias("alias/ml", &key);
    let _ = aws.bucket("enc");
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.bin");
    let data: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(&plain, &data).unwrap();

    for (format, name) in [("s3ec-v2", "v2.bin"), ("simple", "simple.bin")] {
        let url = format!("s3://enc/objects/{name}");
        run_expect(
            kms_audit(Some(&moto)).arg("encrypt").arg(&plain).arg(&url).args([
                "--format",
                format,
                "--key",
                "alias/ml",
                "--context",
                "team=ml",
                "--context",
                "dataset=imagenet",
            ]),
            0,
        );
        let store = aws.bucket("enc");
        let (body, meta) = get(&store, &format!("objects/{name}"));
        assert_ne!(body, data);
        match format {
            "s3ec-v2" => {
                assert_eq!(meta.metadata["x-amz-wrap-alg"], "kms+context");
                assert!(meta.metadata["x-amz-matdesc"].contains("\"team\":\"ml\""));
            }
            _ => assert_eq!(meta.metadata["x-amz-context"], r#"{"dataset":"imagenet","team":"ml"}"#),
        }
        let out = dir.path().join(format!("{name}.out"));
        run_expect(kms_audit(Some(&moto)).arg("decrypt").arg(&url).arg(&out).args(["--expect-key", &key]), 0);
        assert_eq!(fs::read(&out).unwrap(), data);
        // To S3 as well.
        run_expect(kms_audit(Some(&moto)).arg("decrypt").arg(&url).arg(format!("s3://enc/plain/{name}")), 0);
        assert_eq!(get(&store, &format!("plain/{name}")).0, data);
    }

    let report = dir.path().join("report.json");
    run_expect(
        kms_audit(Some(&moto))
            .args(["verify", "s3://enc/objects/", "--sample", "10", "--expect-key", &key, "--out"])
            .arg(&report),
        0,
    );
    let report = read_json(&report);
    let by = objects_by_name(&report);
    assert_eq!(by["s3://enc/objects/v2.bin"]["format"], "s3ec-v2");
    assert_eq!(by["s3://enc/objects/simple.bin"]["format"], "simple");
    // KMS sees (and CloudTrail logs) the context the S3 Encryption Client adds.
    assert_eq!(
        by["s3://enc/objects/v2.bin"]["decrypt"]["encryption_context"]["aws:x-amz-cek-alg"],
        "AES/GCM/NoPadding"
    );
    for o in by.values() {
        assert_eq!(o["verdict"], "ok");
        assert_eq!(o["key_arn"], key.as_str());
    }

    // decrypt --expect-key with another key refuses.
    let other = aws.create_key();
    let out = dir.path().join("refused.out");
    run_expect(
        kms_audit(Some(&moto)).args(["decrypt", "s3://enc/objects/v2.bin"]).arg(&out).args(["--expect-key", &other]),
        1,
    );
    assert!(!out.exists());
}

#[test]
fn local_keyring_round_trip_and_verify_without_aws() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("team.key.json");
    let stdout = run_expect(kms_audit(None).arg("keygen").arg("--out").arg(&key).args(["--name", "team"]), 0);
    assert_eq!(stdout.trim(), "local:team");
    let text = fs::read_to_string(&key).unwrap();
    assert!(text.contains("kms-audit-local-key"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // keygen never overwrites.
    run_expect(kms_audit(None).arg("keygen").arg("--out").arg(&key), 1);
    assert_eq!(fs::read_to_string(&key).unwrap(), text);

    let objects = dir.path().join("objects");
    fs::create_dir_all(&objects).unwrap();
    let plain = dir.path().join("plain.txt");
    fs::write(&plain, b"training data, row 1\n").unwrap();
    let keyring = format!("local:{}", key.display());
    for (format, name) in [("simple", "a.bin"), ("s3ec-v2", "b.bin")] {
        run_expect(
            kms_audit(None).arg("encrypt").arg(&plain).arg(objects.join(name)).args([
                "--format",
                format,
                "--key",
                &keyring,
                "--context",
                "purpose=test",
            ]),
            0,
        );
        assert!(objects.join(format!("{name}.meta.json")).is_file());
        let out = dir.path().join(format!("{name}.out"));
        run_expect(
            kms_audit(None).arg("decrypt").arg(objects.join(name)).arg(&out).args([
                "--keyring",
                &keyring,
                "--expect-key",
                "local:team",
            ]),
            0,
        );
        assert_eq!(fs::read(&out).unwrap(), b"training data, row 1\n");
    }

    // verify on a folder defaults to the local keyring; KMS_AUDIT_LOCAL_KEY names the file.
    let report = dir.path().join("report.json");
    run_expect(
        kms_audit(None)
            .env("KMS_AUDIT_LOCAL_KEY", &key)
            .arg("verify")
            .arg(&objects)
            .args(["--sample", "5", "--expect-key", "local:team", "--lake"])
            .arg(dir.path().join("lake"))
            .arg("--out")
            .arg(&report),
        0,
    );
    let report = read_json(&report);
    assert_eq!(report["keyring"], "local");
    assert_eq!(report["summary"]["ok"], 2);
    assert_eq!(report["audit"]["status"], "not-applicable");
    assert_eq!(report["audit_gaps"].as_array().unwrap().len(), 0);

    // The wrong local key fails, with its kind.
    let other = dir.path().join("other.key.json");
    run_expect(kms_audit(None).arg("keygen").arg("--out").arg(&other).args(["--name", "other"]), 0);
    let table = run_expect(
        kms_audit(None)
            .arg("verify")
            .arg(&objects)
            .arg("--keyring")
            .arg(format!("local:{}", other.display()))
            .args(["--expect-key", "local:other"]),
        1,
    );
    assert!(table.contains("FAIL"), "{table}");
    assert!(table.contains("wrong key"), "{table}");
}

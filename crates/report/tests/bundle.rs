//! A bundle exported from a real lake: its numbers are the lake's, every byte is covered by the
//! manifest, a signature binds the manifest, and hostile strings cannot inject markup.

use std::path::Path;
use std::sync::Arc;

use lake::{IngestOptions, Ingestor, LocalStore, Source, Store};
use report::html::{FindingRow, VerificationRow};
use report::manifest::SignatureStatus;
use report::{export, verify_bundle, ExportInputs, LocalSigner};

const FROM: i64 = 1_741_564_800_000; // 2025-03-10T00:00:00Z
const TO: i64 = 1_741_824_000_000; // 2025-03-13T00:00:00Z

fn lake_with_trail() -> (tempfile::TempDir, u64) {
    let trail = tempfile::tempdir().unwrap();
    synth::generate_trail(&synth::TrailSpec { records: 3000, files: 6, seed: 21, ..Default::default() }, trail.path())
        .unwrap();
    let lake = tempfile::tempdir().unwrap();
    let src: Arc<dyn Store> = Arc::new(LocalStore::new(trail.path()));
    let sources = src
        .list("")
        .unwrap()
        .into_iter()
        .map(|o| Source { store: src.clone(), key: o.key, size: o.size, etag: None })
        .collect();
    let store: Arc<dyn Store> = Arc::new(LocalStore::new(lake.path()));
    let report = Ingestor::new(store, IngestOptions::default()).ingest(sources, &|_, _| {}).unwrap();
    (lake, report.summary.rows)
}

fn inputs<'a>(lake: &'a dyn Store, findings: Vec<FindingRow>) -> ExportInputs<'a> {
    ExportInputs {
        lake,
        from_ms: FROM,
        to_ms: TO,
        findings: Some(findings),
        verification: vec![VerificationRow {
            object: "data/x.bin".into(),
            format: "simple".into(),
            key_arn: Some("local:k".into()),
            verdict: "fail".into(),
            reason: "authentication failed".into(),
        }],
        trail_integrity: Some(serde_json::json!({"log_files": [{"object": "a", "status": "valid"}], "digests": []})),
        version: "test".into(),
    }
}

fn hostile_finding() -> FindingRow {
    FindingRow {
        rule: "unexpected-principal".into(),
        severity: "high".into(),
        key_arn: Some("arn:aws:kms:us-east-1:1:key/k".into()),
        principal_arn: Some("arn:aws:iam::1:role/<script>alert(1)</script>".into()),
        event_id: Some("e1".into()),
        event_time: Some("2025-03-11T00:00:00Z".into()),
        job_arn: None,
        detail: "\"quoted\" & <b>bold</b>".into(),
    }
}

#[test]
fn bundle_numbers_are_the_lake_and_every_file_is_covered() {
    let (lake_dir, rows) = lake_with_trail();
    let lake = LocalStore::new(lake_dir.path());
    let out = tempfile::tempdir().unwrap();
    let bundle = out.path().join("b");
    let summary = export(inputs(&lake, vec![hostile_finding()]), &bundle, None).unwrap();
    // The generated trail spans 2025-03-10 .. 2025-03-13 (plus a few late events a day early).
    assert!(summary.calls > 0 && summary.calls <= rows);
    let usage = std::fs::read_to_string(bundle.join("usage.csv")).unwrap();
    let mut calls = 0u64;
    let mut rdr = csv::Reader::from_reader(usage.as_bytes());
    for rec in rdr.records() {
        calls += rec.unwrap()[4].parse::<u64>().unwrap();
    }
    assert_eq!(calls, summary.calls);
    for f in [
        "usage.csv",
        "findings.csv",
        "findings.json",
        "verification.csv",
        "trail-integrity.json",
        "report.html",
        "manifest.json",
    ] {
        assert!(bundle.join(f).exists(), "{f}");
    }
    let check = verify_bundle(&bundle, None, false).unwrap();
    assert!(check.is_ok(), "{check:?}");
    assert_eq!(check.signature, SignatureStatus::Absent);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["lake_files"].as_array().unwrap().len(), summary.lake_files);

    let html = std::fs::read_to_string(bundle.join("report.html")).unwrap();
    assert!(!html.contains("<script>"), "hostile principal escaped");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&quot;quoted&quot; &amp; &lt;b&gt;"));
    for id in ["chart-daily", "chart-principals", "chart-findings"] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
}

fn flip_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn one_changed_byte_in_any_file_is_named() {
    let (lake_dir, _) = lake_with_trail();
    let lake = LocalStore::new(lake_dir.path());
    let out = tempfile::tempdir().unwrap();
    let bundle = out.path().join("b");
    export(inputs(&lake, vec![hostile_finding()]), &bundle, None).unwrap();
    for name in
        ["usage.csv", "findings.csv", "findings.json", "verification.csv", "trail-integrity.json", "report.html"]
    {
        let copy = out.path().join(format!("copy-{name}"));
        copy_dir(&bundle, &copy);
        flip_byte(&copy.join(name));
        let check = verify_bundle(&copy, None, false).unwrap();
        assert_eq!(check.changed, vec![name.to_owned()], "{name}");
        assert!(!check.is_ok());
    }
    let copy = out.path().join("extra");
    copy_dir(&bundle, &copy);
    std::fs::write(copy.join("notes.txt"), "added").unwrap();
    assert_eq!(verify_bundle(&copy, None, false).unwrap().unlisted, vec!["notes.txt".to_owned()]);
    std::fs::remove_file(copy.join("usage.csv")).unwrap();
    assert_eq!(verify_bundle(&copy, None, false).unwrap().missing, vec!["usage.csv".to_owned()]);
}

#[test]
fn signed_manifest_binds_the_bundle_to_the_key() {
    let (lake_dir, _) = lake_with_trail();
    let lake = LocalStore::new(lake_dir.path());
    let out = tempfile::tempdir().unwrap();
    let key_file = out.path().join("signing.json");
    let signer = LocalSigner::create(&key_file).unwrap();
    assert!(LocalSigner::create(&key_file).is_err(), "never overwrites a key");
    assert!(!format!("{signer:?}").contains("pkcs8"));
    let bundle = out.path().join("b");
    export(inputs(&lake, vec![]), &bundle, Some(&signer)).unwrap();
    let check = verify_bundle(&bundle, Some(&signer.key_id()), true).unwrap();
    assert!(matches!(check.signature, SignatureStatus::Valid { .. }), "{check:?}");

    // Another key is not the expected signer.
    let other = LocalSigner::create(&out.path().join("other.json")).unwrap();
    let check = verify_bundle(&bundle, Some(&other.key_id()), true).unwrap();
    assert!(matches!(check.signature, SignatureStatus::Invalid { .. }));

    // Rewriting the manifest to hide a change breaks the signature.
    let copy = out.path().join("copy");
    copy_dir(&bundle, &copy);
    flip_byte(&copy.join("report.html"));
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(copy.join("manifest.json")).unwrap()).unwrap();
    let html = std::fs::read(copy.join("report.html")).unwrap();
    for f in manifest["files"].as_array_mut().unwrap() {
        if f["path"] == "report.html" {
            f["sha256"] = report::manifest::sha256_hex(&html).into();
        }
    }
    std::fs::write(copy.join("manifest.json"), serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    let check = verify_bundle(&copy, None, false).unwrap();
    assert!(check.changed.is_empty());
    assert!(matches!(check.signature, SignatureStatus::Invalid { .. }), "{check:?}");
    assert!(!check.is_ok());

    // Unsigned when a signature is required.
    std::fs::remove_file(copy.join("manifest.sig.json")).unwrap();
    assert!(!verify_bundle(&copy, None, true).unwrap().is_ok());
}

#[test]
fn refuses_a_non_empty_folder() {
    let (lake_dir, _) = lake_with_trail();
    let lake = LocalStore::new(lake_dir.path());
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("x"), "x").unwrap();
    assert!(export(inputs(&lake, vec![]), out.path(), None).is_err());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn csv_headers_are_written_even_without_rows() {
    let (lake_dir, _) = lake_with_trail();
    let lake = LocalStore::new(lake_dir.path());
    let out = tempfile::tempdir().unwrap();
    let bundle = out.path().join("b");
    export(inputs(&lake, vec![]), &bundle, None).unwrap();
    let findings = std::fs::read_to_string(bundle.join("findings.csv")).unwrap();
    assert_eq!(findings.trim_end(), report::html::FINDING_COLUMNS.join(","));
    let usage = std::fs::read_to_string(bundle.join("usage.csv")).unwrap();
    assert!(usage.starts_with(&report::usage::USAGE_COLUMNS.join(",")));
}

//! Objects written by an independent Python producer (tests/envelope/produce_local.py, which
//! follows the documented simple format and local-keyring wrapping with `cryptography`) are
//! read through the sidecar helpers and verified. Requires python3 with `cryptography`: a
//! missing interpreter or module fails the test, it is not skipped.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{block_on, repo_root};
use envelope::sidecar::{is_sidecar, read_sidecar, sidecar_path};
use envelope::{
    sample, verify_object, ErrorKind, LocalKeyring, Manifest, ObjectUnderTest, Verdict, VerificationReport,
    VerifyPolicy,
};
use serde::Deserialize;

const SSE_KMS_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

#[derive(Debug, Deserialize)]
struct Expected {
    verdict: Verdict,
    format: String,
    error_kind: Option<ErrorKind>,
}

fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, root, out);
        } else if !is_sidecar(&path) {
            let rel = path.strip_prefix(root).unwrap();
            let name: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            out.push(name.join("/"));
        }
    }
}

#[test]
fn python_produced_objects_verify() {
    let script = repo_root().join("tests/envelope/produce_local.py");
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("python3")
        .arg(&script)
        .args(["--out"])
        .arg(out.path())
        .args(["--count", "8"])
        .output()
        .unwrap_or_else(|e| panic!("python3 is required for this test and could not be run: {e}"));
    assert!(
        status.status.success(),
        "produce_local.py failed (python3 with the `cryptography` package is required):\n{}",
        String::from_utf8_lossy(&status.stderr)
    );

    let keyring = LocalKeyring::load(&out.path().join("local-key.json")).unwrap();
    assert_eq!(keyring.key_id(), "local:producer");
    let manifest = Manifest::parse(&std::fs::read_to_string(out.path().join("sha256sums.txt")).unwrap()).unwrap();
    let expected: BTreeMap<String, Expected> =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("expected.json")).unwrap()).unwrap();

    let objects_dir = out.path().join("objects");
    let mut names = Vec::new();
    walk(&objects_dir, &objects_dir, &mut names);
    names.sort();
    assert_eq!(names.len(), expected.len(), "{names:?}");

    // Sampling everything returns everything; a smaller sample is a stable subset.
    assert_eq!(sample(&names, names.len(), 3), names);
    let some = sample(&names, 5, 3);
    assert_eq!(some, sample(&names, 5, 3));
    assert!(some.iter().all(|n| names.contains(n)));

    let policy = VerifyPolicy {
        expected_keys: vec!["local:producer".into(), SSE_KMS_ARN.into()],
        manifest: Some(manifest),
        ..VerifyPolicy::default()
    };
    let mut reports = Vec::new();
    for name in &names {
        let path = objects_dir.join(name);
        let meta = read_sidecar(&std::fs::read_to_string(sidecar_path(&path)).unwrap()).unwrap();
        let obj = ObjectUnderTest::from_sidecar(name.clone(), meta, std::fs::read(&path).unwrap());
        let report = block_on(verify_object(&obj, &keyring, &policy));
        let want = &expected[name];
        assert_eq!(report.verdict, want.verdict, "{name}: {}", report.reason);
        assert_eq!(report.format.as_str(), want.format, "{name}: {}", report.reason);
        if want.error_kind.is_some() {
            assert_eq!(report.error_kind, want.error_kind, "{name}: {}", report.reason);
        }
        if want.verdict == Verdict::Ok && want.format == "simple" {
            assert_eq!(report.key_arn.as_deref(), Some("local:producer"));
            assert!(report.decrypt.as_ref().is_some_and(|d| d.succeeded));
        }
        reports.push(report);
    }
    let report = VerificationReport::new(reports);
    let ok = expected.values().filter(|e| e.verdict == Verdict::Ok).count();
    assert_eq!(report.summary.ok, ok);
    assert!(ok >= 9, "the producer made at least 8 good client-side objects + 1 SSE-KMS");
    assert!(!report.all_ok());
}

//! `kms-audit validate-trail` on local folders made by the independent Python producer
//! `tests/integrity/make_trail.py` (signed digests, sidecar signatures): a clean trail exits 0,
//! and each tamper exits non-zero with its own status on the object it hit.

mod verify_support;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use verify_support::*;

struct Case {
    _dir: tempfile::TempDir,
    trail: PathBuf,
    manifest: Value,
}

fn copy_of_base() -> Case {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    copy_dir(base_trail(), &trail);
    let manifest = read_json(&trail.join("manifest.json"));
    Case { _dir: dir, trail, manifest }
}

/// Runs validate-trail --json; returns (exit code, report).
fn validate(trail: &Path, manifest: &Value) -> (i32, Value) {
    let out = run(kms_audit(None)
        .arg("validate-trail")
        .arg(trail)
        .args(["--start", manifest["start"].as_str().unwrap(), "--end", manifest["end"].as_str().unwrap()])
        .arg("--public-keys")
        .arg(trail.join("public-keys.json"))
        .arg("--json"));
    (out.status.code().unwrap(), serde_json::from_slice(&out.stdout).expect("--json prints the report"))
}

fn status_of<'a>(report: &'a Value, list: &str, key: &str) -> &'a str {
    report[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == key)
        .unwrap_or_else(|| panic!("{key} not in {list}: {report}"))["status"]
        .as_str()
        .unwrap()
}

fn digest_key(m: &Value, i: usize) -> String {
    m["digests"][i]["key"].as_str().unwrap().to_owned()
}

fn log_key(m: &Value, i: usize) -> String {
    m["log_files"][i].as_str().unwrap().to_owned()
}

#[test]
fn clean_trail_validates() {
    let c = copy_of_base();
    let (code, report) = validate(&c.trail, &c.manifest);
    assert_eq!(code, 0, "{report}");
    let digests = report["digests"].as_array().unwrap();
    assert_eq!(digests.len(), c.manifest["digests"].as_array().unwrap().len());
    assert!(digests.iter().all(|d| d["status"] == "valid"));
    let logs = report["log_files"].as_array().unwrap();
    assert_eq!(logs.len(), c.manifest["log_files"].as_array().unwrap().len());
    assert!(logs.iter().all(|l| l["status"] == "valid"));
    assert!(logs[0]["object"].as_str().unwrap().starts_with(c.trail.canonicalize().unwrap().to_str().unwrap()));

    // The human form says so too.
    let text = run_expect(
        kms_audit(None)
            .arg("validate-trail")
            .arg(&c.trail)
            .args(["--start", "2024-03-01", "--end", c.manifest["end"].as_str().unwrap()])
            .arg("--public-keys")
            .arg(c.trail.join("public-keys.json")),
        0,
    );
    assert!(text.contains("VALID"), "{text}");
}

#[test]
fn changed_byte_of_a_log_file_is_changed() {
    let c = copy_of_base();
    let key = log_key(&c.manifest, 0);
    let path = c.trail.join(&key);
    let mut bytes = fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    fs::write(&path, bytes).unwrap();
    let (code, report) = validate(&c.trail, &c.manifest);
    assert_eq!(code, 1);
    assert_eq!(status_of(&report, "log_files", &key), "changed");
}

#[test]
fn deleted_log_file_is_missing() {
    let c = copy_of_base();
    let key = log_key(&c.manifest, 1);
    fs::remove_file(c.trail.join(&key)).unwrap();
    let (code, report) = validate(&c.trail, &c.manifest);
    assert_eq!(code, 1);
    assert_eq!(status_of(&report, "log_files", &key), "missing");
}

#[test]
fn deleted_digest_breaks_the_chain() {
    let c = copy_of_base();
    let gone = digest_key(&c.manifest, 3);
    fs::remove_file(c.trail.join(&gone)).unwrap();
    fs::remove_file(c.trail.join(format!("{gone}.meta.json"))).unwrap();
    let (code, report) = validate(&c.trail, &c.manifest);
    assert_eq!(code, 1);
    assert_eq!(status_of(&report, "digests", &digest_key(&c.manifest, 4)), "chain-broken");
}

#[test]
fn digest_copied_to_another_path_is_moved() {
    let c = copy_of_base();
    let original = digest_key(&c.manifest, 0);
    let copy = original.replace("_kms-audit_", "_kms-copy_");
    assert_ne!(copy, original);
    fs::copy(c.trail.join(&original), c.trail.join(&copy)).unwrap();
    fs::copy(c.trail.join(format!("{original}.meta.json")), c.trail.join(format!("{copy}.meta.json"))).unwrap();
    let (code, report) = validate(&c.trail, &c.manifest);
    assert_eq!(code, 1);
    assert_eq!(status_of(&report, "digests", &copy), "moved");
    assert_eq!(status_of(&report, "digests", &original), "valid");
}

#[test]
fn log_file_no_digest_lists_is_not_covered() {
    let c = copy_of_base();
    let key = log_key(&c.manifest, 0);
    let extra = key
        .replace(".json.gz", "")
        .rsplit_once('_')
        .map(|(head, _)| format!("{head}_EXTRAEXTRAEXTRA1.json.gz"))
        .unwrap();
    fs::copy(c.trail.join(&key), c.trail.join(&extra)).unwrap();
    let (code, report) = validate(&c.trail, &c.manifest);
    assert_eq!(code, 1);
    assert_eq!(status_of(&report, "log_files", &extra), "not-covered");
    assert_eq!(status_of(&report, "log_files", &key), "valid");
}

#[test]
fn foreign_signature_and_reordered_chain() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("foreign");
    make_trail(&foreign, &["--foreign-signature", "2"]);
    let m = read_json(&foreign.join("manifest.json"));
    let (code, report) = validate(&foreign, &m);
    assert_eq!(code, 1);
    assert_eq!(status_of(&report, "digests", &digest_key(&m, 1)), "bad-signature");

    let reordered = dir.path().join("reordered");
    make_trail(&reordered, &["--reorder", "3"]);
    let m = read_json(&reordered.join("manifest.json"));
    let (code, report) = validate(&reordered, &m);
    assert_eq!(code, 1);
    let broken: Vec<&Value> =
        report["digests"].as_array().unwrap().iter().filter(|d| d["status"] == "chain-broken").collect();
    assert!(!broken.is_empty(), "{report}");
}

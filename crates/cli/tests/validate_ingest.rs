//! `kms-audit ingest --require-valid-digests`: log files that do not validate against the
//! trail's signed digests are refused and quarantined with the reason; valid ones land.

mod verify_support;

use std::fs;

use serde_json::Value;
use verify_support::*;

#[test]
fn changed_log_file_is_quarantined_and_valid_ones_land() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    copy_dir(base_trail(), &trail);
    let manifest = read_json(&trail.join("manifest.json"));
    let logs: Vec<&str> = manifest["log_files"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert!(logs.len() >= 3);
    // Change one byte of the uncompressed content (a character of an eventID, so the file still
    // parses): decompress, edit, recompress.
    let changed = trail.join(logs[1]);
    let status = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import gzip,sys; p=sys.argv[1]; d=bytearray(gzip.decompress(open(p,'rb').read())); \
             i=d.index(b'\"eventID\":\"')+11; d[i]=ord('f') if d[i]!=ord('f') else ord('e'); \
             open(p,'wb').write(gzip.compress(bytes(d), mtime=0))",
        )
        .arg(&changed)
        .status()
        .unwrap();
    assert!(status.success());

    let lake = dir.path().join("lake");
    let stdout = run_expect(
        kms_audit(None)
            .arg("ingest")
            .arg(trail.join("AWSLogs"))
            .arg("--lake")
            .arg(&lake)
            .arg("--require-valid-digests")
            .arg("--public-keys")
            .arg(trail.join("public-keys.json"))
            .arg("--json"),
        3,
    );
    let summary: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["quarantined_files"], 1, "{summary}");
    assert_eq!(summary["files"], (logs.len() - 1) as u64, "{summary}");
    assert!(summary["kms_events"].as_u64().unwrap() > 0);

    let entries: Vec<Value> =
        fs::read_dir(lake.join("_quarantine")).unwrap().map(|e| read_json(&e.unwrap().path())).collect();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry["object"], changed.canonicalize().unwrap().to_str().unwrap());
    let reason = entry["reason"].as_str().unwrap();
    assert!(reason.starts_with("digest validation: changed"), "{reason}");

    // Without the flag, the same file lands (the check is opt-in).
    let lake2 = dir.path().join("lake2");
    let stdout =
        run_expect(kms_audit(None).arg("ingest").arg(trail.join("AWSLogs")).arg("--lake").arg(&lake2).arg("--json"), 0);
    let summary: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["files"], logs.len() as u64);
}

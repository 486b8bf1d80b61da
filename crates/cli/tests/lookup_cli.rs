//! `kms-audit ingest --lookup-events` against a local stand-in for CloudTrail LookupEvents:
//! moto 5.2.1 does not implement LookupEvents (HTTP 500), so
//! `tests/stand-ins/cloudtrail_lookup.py` serves a generated trail over the same JSON 1.1
//! protocol. The CLI is configured only through AWS_ENDPOINT_URL and dummy credentials.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn lookup_events_backfill_lands_the_same_rows_as_the_trail_files() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    let spec = synth::TrailSpec { records: 500, files: 3, days: 1, ..synth::TrailSpec::default() };
    synth::generate_trail(&spec, &trail).unwrap();

    let port = testkit::free_port();
    let ready = dir.path().join("ready");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/stand-ins/cloudtrail_lookup.py");
    let mut stand_in = Command::new("python3")
        .arg(script)
        .args(["--port", &port.to_string(), "--throttle-every", "4", "--records"])
        .arg(&trail)
        .arg("--ready-file")
        .arg(&ready)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "stand-in did not start");
        std::thread::sleep(Duration::from_millis(50));
    }

    let bin = env!("CARGO_BIN_EXE_kms-audit");
    let reference = dir.path().join("reference");
    let out = Command::new(bin).args(["ingest", "--json", "--lake"]).arg(&reference).arg(&trail).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    let lake = dir.path().join("lake");
    let out = Command::new(bin)
        .args(["ingest", "--json", "--lookup-events", "--start", "2025-03-09", "--end", "2025-03-12T00:00:00Z"])
        .args(["--region", "us-east-1", "--pages-per-batch", "4", "--lake"])
        .arg(&lake)
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let _ = stand_in.kill();
    let _ = stand_in.wait();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["kms_events"], want["kms_events"], "{got} vs {want}");
    assert_eq!(got["rows"], want["rows"]);
    assert!(err.contains("retried"), "{err}");
    assert!(lake.join("kms_events").exists());

    // Usage: --lookup-events needs a period and takes no sources.
    let out = Command::new(bin).args(["ingest", "--lookup-events", "--lake"]).arg(&lake).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

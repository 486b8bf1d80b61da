//! `kms-audit validate-trail s3://…` on the moto server, with the public keys from CloudTrail
//! `ListPublicKeys`.
//!
//! The moto server does not implement `ListPublicKeys` (HTTP 500, LOCAL-PARTS.md), so the keys
//! come from a small local stand-in that speaks the same CloudTrail JSON 1.1 protocol,
//! `tests/integrity/list_public_keys_server.py`, reached through `AWS_ENDPOINT_URL_CLOUDTRAIL`
//! while S3 goes to moto. The trail is the Python producer's, uploaded the way CloudTrail stores
//! it (digest signatures in `x-amz-meta-signature`).

mod verify_support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use lake::Store;
use serde_json::Value;
use testkit::MotoServer;
use verify_support::*;

struct StandIn {
    child: Child,
    port: u16,
}

impl StandIn {
    fn start(public_keys: &Path, log: &Path) -> StandIn {
        let port = testkit::free_port();
        let mut child = Command::new("python3")
            .arg(repo().join("tests/integrity/list_public_keys_server.py"))
            .arg(public_keys)
            .args(["--port", &port.to_string(), "--log"])
            .arg(log)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 for the ListPublicKeys stand-in");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("listening"), "stand-in did not start: {line:?}");
        StandIn { child, port }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn validate(moto: &MotoServer, stand_in: &StandIn, manifest: &Value) -> (i32, Value) {
    let out = run(kms_audit(Some(moto))
        .env("AWS_ENDPOINT_URL_CLOUDTRAIL", format!("http://127.0.0.1:{}", stand_in.port))
        .args(["validate-trail", "s3://kms-audit-trail/logs/p"])
        .args(["--start", manifest["start"].as_str().unwrap(), "--end", manifest["end"].as_str().unwrap()])
        .args(["--region", "us-east-1", "--json"]));
    (out.status.code().unwrap(), serde_json::from_slice(&out.stdout).expect("--json prints the report"))
}

#[test]
fn s3_trail_validates_with_list_public_keys_and_tampering_is_found() {
    let moto = MotoServer::start();
    let dir = tempfile::tempdir().unwrap();
    // The trail as CloudTrail would deliver it to s3://kms-audit-trail/logs/p/.
    let trail = dir.path().join("trail");
    make_trail(&trail, &["--prefix", "logs/p"]);
    let manifest = read_json(&trail.join("manifest.json"));
    let endpoint = moto.endpoint();
    python(
        "tests/integrity/upload_trail.py",
        &[trail.to_str().unwrap(), "--bucket", "kms-audit-trail", "--prefix", "logs/p/", "--endpoint", &endpoint],
        None,
    );
    let log = dir.path().join("stand-in.log");
    let stand_in = StandIn::start(&trail.join("public-keys.json"), &log);

    let (code, report) = validate(&moto, &stand_in, &manifest);
    assert_eq!(code, 0, "{report}");
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(calls.contains("CloudTrail_20131101.ListPublicKeys"), "the keys came from ListPublicKeys: {calls}");
    let digests = report["digests"].as_array().unwrap();
    assert_eq!(digests.len(), manifest["digests"].as_array().unwrap().len());
    assert!(digests.iter().all(|d| d["status"] == "valid"));
    let logs = report["log_files"].as_array().unwrap();
    assert_eq!(logs.len(), manifest["log_files"].as_array().unwrap().len());
    for l in logs {
        assert_eq!(l["status"], "valid");
        assert!(l["object"].as_str().unwrap().starts_with("s3://kms-audit-trail/logs/p/AWSLogs/"), "{l}");
    }

    // Tamper in S3: replace a log file's bytes, copy a digest (with its signature) elsewhere.
    let aws = Aws::new(&moto);
    let store = aws.bucket("kms-audit-trail");
    let log_key = format!("logs/p/{}", manifest["log_files"][0].as_str().unwrap());
    let (mut body, meta) = get(&store, &log_key);
    let mid = body.len() / 2;
    body[mid] ^= 0x01;
    store.put_with_metadata(&log_key, &body, &meta).unwrap();
    let digest_key = format!("logs/p/{}", manifest["digests"][1]["key"].as_str().unwrap());
    let (body, meta) = get(&store, &digest_key);
    assert!(meta.metadata.contains_key("signature"));
    let copied = digest_key.replace("_kms-audit_", "_kms-copy_");
    store.put_with_metadata(&copied, &body, &meta).unwrap();

    let (code, report) = validate(&moto, &stand_in, &manifest);
    assert_eq!(code, 1);
    let status = |list: &str, key: &str| {
        report[list].as_array().unwrap().iter().find(|i| i["key"] == key).unwrap_or_else(|| panic!("{key}"))["status"]
            .clone()
    };
    assert_eq!(status("log_files", log_key.strip_prefix("logs/p/").unwrap()), "changed");
    assert_eq!(status("digests", copied.strip_prefix("logs/p/").unwrap()), "moved");
    assert_eq!(status("digests", digest_key.strip_prefix("logs/p/").unwrap()), "valid");

    // ingest --require-valid-digests from S3: the changed log file is quarantined, the rest land.
    let lake = dir.path().join("lake");
    let out = run(kms_audit(Some(&moto))
        .env("AWS_ENDPOINT_URL_CLOUDTRAIL", format!("http://127.0.0.1:{}", stand_in.port))
        .args(["ingest", "s3://kms-audit-trail/logs/p/AWSLogs/", "--require-valid-digests", "--json", "--lake"])
        .arg(&lake));
    assert_eq!(out.status.code(), Some(3));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let logs = manifest["log_files"].as_array().unwrap().len() as u64;
    assert_eq!(summary["quarantined_files"], 1, "{summary}");
    assert_eq!(summary["files"], logs - 1, "{summary}");
    let entry = read_json(&std::fs::read_dir(lake.join("_quarantine")).unwrap().next().unwrap().unwrap().path());
    assert_eq!(entry["object"], format!("s3://kms-audit-trail/{log_key}"));
    assert!(entry["reason"].as_str().unwrap().starts_with("digest validation: changed"), "{entry}");
}

//! `verify --lake`: the verifier's own KMS Decrypts must reach `kms_events`; the ones that do
//! not are reported as `audit-gap`.
//!
//! The moto server records no CloudTrail, so the test plays CloudTrail: while `verify` waits
//! for the lake (it writes its report with `audit.status = pending` first), the test writes a
//! CloudTrail-shaped log file from the report's Decrypt calls, leaving some out, and lands it
//! with `kms-audit ingest`. Exactly the left-out calls must come back as audit gaps.

mod verify_support;

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::MotoServer;
use verify_support::*;

const ACCOUNT: &str = "123456789012";
const ROLE: &str = "arn:aws:iam::123456789012:role/kms-audit-verifier";

/// A CloudTrail record of one of the verifier's Decrypts, as CloudTrail writes it (eventTime to
/// the second).
fn decrypt_record(i: usize, decrypt: &Value) -> Value {
    let at: chrono::DateTime<chrono::Utc> = decrypt["at"].as_str().unwrap().parse().unwrap();
    json!({
        "eventVersion": "1.10",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLE:verifier",
            "arn": "arn:aws:sts::123456789012:assumed-role/kms-audit-verifier/verifier",
            "accountId": ACCOUNT,
            "accessKeyId": "ASIAEXAMPLE",
            "sessionContext": {
                "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE", "arn": ROLE, "accountId": ACCOUNT, "userName": "kms-audit-verifier"},
                "attributes": {"creationDate": "2025-01-01T00:00:00Z", "mfaAuthenticated": "false"}
            }
        },
        "eventTime": at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "eventSource": "kms.amazonaws.com",
        "eventName": "Decrypt",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "192.0.2.10",
        "userAgent": "aws-sdk-rust/1.3 kms-audit",
        "requestParameters": {
            "encryptionContext": decrypt["encryption_context"],
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT"
        },
        "responseElements": null,
        "requestID": format!("req-{i}"),
        "eventID": format!("00000000-0000-4000-8000-{i:012}"),
        "readOnly": true,
        "resources": [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": decrypt["key_arn"]}],
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": "kms.us-east-1.amazonaws.com"}
    })
}

fn wait_for_pending(report: &Path, child: &mut std::process::Child) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(text) = fs::read_to_string(report) {
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                if v["audit"]["status"] == "pending" {
                    return v;
                }
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("verify exited ({status}) before waiting for the lake");
        }
        assert!(Instant::now() < deadline, "no pending report from verify");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn exactly_the_decrypts_missing_from_the_lake_are_audit_gaps() {
    let moto = MotoServer::start();
    let aws = Aws::new(&moto);
    let key = aws.create_key();
    let endpoint = moto.endpoint();
    python(
        "tests/envelope/produce_s3_simple.py",
        &["--endpoint", &endpoint, "--bucket", "data", "--prefix", "p/", "--key-id", &key, "--count", "6"],
        None,
    );
    // Two SSE-KMS objects: verified without a Decrypt of the verifier, so never audit gaps.
    python(
        "tests/envelope/produce_s3_simple.py",
        &[
            "--endpoint",
            &endpoint,
            "--bucket",
            "data",
            "--prefix",
            "p/sse-",
            "--mode",
            "sse-kms",
            "--key-id",
            &key,
            "--count",
            "2",
        ],
        None,
    );
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let report_path = dir.path().join("report.json");
    let mut child = kms_audit(Some(&moto))
        .args(["verify", "s3://data/p/", "--sample", "8", "--seed", "3", "--expect-key", &key])
        .arg("--lake")
        .arg(&lake)
        .args(["--confirm-within", "20s", "--poll-every", "300ms", "--json", "--out"])
        .arg(&report_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pending = wait_for_pending(&report_path, &mut child);
    let with_decrypt: Vec<&Value> =
        pending["objects"].as_array().unwrap().iter().filter(|o| o.get("decrypt").is_some()).collect();
    assert_eq!(with_decrypt.len(), 6, "one Decrypt per client-side object");
    assert_eq!(pending["audit"]["decrypts"], 6);

    // CloudTrail delivers all but two of them.
    let left_out = [1usize, 4];
    let records: Vec<Value> = with_decrypt
        .iter()
        .enumerate()
        .filter(|(i, _)| !left_out.contains(i))
        .map(|(i, o)| decrypt_record(i, &o["decrypt"]))
        .collect();
    let log = dir.path().join("trail").join("123456789012_CloudTrail_us-east-1_20250101T0000Z_test.json");
    fs::create_dir_all(log.parent().unwrap()).unwrap();
    fs::write(&log, serde_json::to_vec(&json!({ "Records": records })).unwrap()).unwrap();
    run_expect(kms_audit(None).arg("ingest").arg(&log).arg("--lake").arg(&lake), 0);

    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "audit gaps make verify fail");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report, read_json(&report_path), "--json and --out carry the same report");
    assert_eq!(report["summary"]["ok"], 8, "every object itself verified");
    assert_eq!(report["audit"]["status"], "checked");
    assert_eq!(report["audit"]["confirmed"], 4);
    assert_eq!(report["audit"]["missing"], 2);

    let missing: Vec<&str> = left_out.iter().map(|&i| with_decrypt[i]["object"].as_str().unwrap()).collect();
    let gaps = report["audit_gaps"].as_array().unwrap();
    let gap_objects: Vec<&str> = gaps.iter().map(|g| g["object"].as_str().unwrap()).collect();
    assert_eq!(gap_objects, missing);
    for (g, &i) in gaps.iter().zip(&left_out) {
        assert_eq!(g["rule"], "audit-gap");
        assert_eq!(g["severity"], "high");
        assert_eq!(g["key_arn"], key.as_str());
        assert_eq!(g["event_name"], "Decrypt");
        assert_eq!(g["encryption_context"], with_decrypt[i]["decrypt"]["encryption_context"]);
    }
    // The confirmed ones name the CloudTrail event and the principal that made the call.
    for (i, o) in with_decrypt.iter().enumerate() {
        let now = objects_by_name(&report)[o["object"].as_str().unwrap()].clone();
        if left_out.contains(&i) {
            assert!(now.get("cloudtrail").is_none());
        } else {
            assert_eq!(now["cloudtrail"]["event_id"], format!("00000000-0000-4000-8000-{i:012}"));
            assert_eq!(now["cloudtrail"]["principal_arn"], ROLE);
        }
    }
}

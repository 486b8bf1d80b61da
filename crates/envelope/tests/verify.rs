//! verify_object rules, one test per rule.

mod common;

use common::{block_on, ctx};
use envelope::{
    decrypt_object, encrypt_object, verify_object, ErrorKind, Format, Keyring, LocalKeyring, Manifest, ObjectReport,
    ObjectUnderTest, ReportFormat, Verdict, VerificationReport, VerifyPolicy,
};
use sha2::{Digest, Sha256};

const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const OTHER_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/99999999-0000-0000-0000-000000000000";
const PT: &[u8] = b"sampled object plaintext\n";

fn keyring() -> LocalKeyring {
    LocalKeyring::generate("verify").unwrap()
}

fn client_side(kr: &LocalKeyring, format: Format, name: &str) -> ObjectUnderTest {
    let c = ctx(&[("object", name)]);
    let enc = block_on(encrypt_object(format, kr, "local:verify", &c, PT)).unwrap();
    ObjectUnderTest { object: name.to_owned(), metadata: enc.metadata, body: enc.body, ..ObjectUnderTest::default() }
}

fn sse(name: &str, mode: Option<&str>, key: Option<&str>) -> ObjectUnderTest {
    ObjectUnderTest {
        object: name.to_owned(),
        server_side_encryption: mode.map(str::to_owned),
        sse_kms_key_id: key.map(str::to_owned),
        body: PT.to_vec(),
        ..ObjectUnderTest::default()
    }
}

fn policy(keys: &[&str]) -> VerifyPolicy {
    VerifyPolicy { expected_keys: keys.iter().map(|s| (*s).to_owned()).collect(), ..VerifyPolicy::default() }
}

fn run(obj: &ObjectUnderTest, kr: &LocalKeyring, p: &VerifyPolicy) -> ObjectReport {
    block_on(verify_object(obj, kr, p))
}

#[test]
fn client_side_ok_records_the_unwrap() {
    let kr = keyring();
    for (format, rf) in [(Format::Simple, ReportFormat::Simple), (Format::S3ecV2, ReportFormat::S3ecV2)] {
        let obj = client_side(&kr, format, "data/a.bin");
        let before = chrono::Utc::now();
        let r = run(&obj, &kr, &policy(&["local:verify"]));
        assert_eq!(r.verdict, Verdict::Ok, "{r:?}");
        assert_eq!(r.format, rf);
        assert_eq!(r.key_arn.as_deref(), Some("local:verify"));
        assert_eq!(r.plaintext_sha256.as_deref(), Some(hex::encode(Sha256::digest(PT)).as_str()));
        let call = r.decrypt.expect("unwrap recorded");
        assert!(call.succeeded);
        assert_eq!(call.key_arn.as_deref(), Some("local:verify"));
        assert_eq!(call.encryption_context.get("object"), Some("data/a.bin"));
        if format == Format::S3ecV2 {
            assert_eq!(
                call.encryption_context.get("aws:x-amz-cek-alg"),
                Some("AES/GCM/NoPadding"),
                "the context KMS sees includes the reserved entry"
            );
        }
        assert!(call.at >= before && call.at <= chrono::Utc::now());
    }
}

#[test]
fn client_side_wrong_or_missing_expected_key() {
    let kr = keyring();
    let obj = client_side(&kr, Format::Simple, "a");
    // One expected key, not ours: the keyring refuses (KMS would, given KeyId).
    let r = run(&obj, &kr, &policy(&["local:someone-else"]));
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(r.error_kind, Some(ErrorKind::WrongKey));
    let call = r.decrypt.unwrap();
    assert!(!call.succeeded);
    assert_eq!(call.key_arn.as_deref(), Some("local:someone-else"));
    // Several expected keys: the reported key is checked after the unwrap.
    let r = run(&obj, &kr, &policy(&[ARN, "local:verify"]));
    assert_eq!(r.verdict, Verdict::Ok, "{r:?}");
    let r = run(&obj, &kr, &policy(&[ARN, OTHER_ARN]));
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(r.error_kind, Some(ErrorKind::WrongKey));
    assert!(r.decrypt.unwrap().succeeded, "the unwrap itself happened");
    // No expected key at all.
    let r = run(&obj, &kr, &policy(&[]));
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(r.reason.contains("no expected key"), "{}", r.reason);
}

#[test]
fn client_side_tampered_fails_with_kind() {
    let kr = keyring();
    let mut obj = client_side(&kr, Format::S3ecV2, "a");
    obj.body[3] ^= 1;
    let r = run(&obj, &kr, &policy(&["local:verify"]));
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(r.error_kind, Some(ErrorKind::Authentication));
    assert_eq!(r.format, ReportFormat::S3ecV2);
    assert!(r.plaintext_sha256.is_none());
}

#[test]
fn sse_kms_rules() {
    let kr = keyring();
    let p = policy(&[ARN]);
    let r = run(&sse("o", Some("aws:kms"), Some(ARN)), &kr, &p);
    assert_eq!((r.verdict, r.format), (Verdict::Ok, ReportFormat::SseKms));
    assert_eq!(r.key_arn.as_deref(), Some(ARN));
    assert!(r.decrypt.is_none(), "SSE-KMS needs no keyring call");
    // Expected by bare key id.
    let by_id = policy(&["1234abcd-12ab-34cd-56ef-1234567890ab"]);
    assert_eq!(run(&sse("o", Some("aws:kms"), Some(ARN)), &kr, &by_id).verdict, Verdict::Ok);
    // DSSE counts as SSE-KMS.
    let r = run(&sse("o", Some("aws:kms:dsse"), Some(ARN)), &kr, &p);
    assert_eq!((r.verdict, r.format), (Verdict::Ok, ReportFormat::SseKms));
    // Another key, or no key reported.
    let r = run(&sse("o", Some("aws:kms"), Some(OTHER_ARN)), &kr, &p);
    assert_eq!((r.verdict, r.error_kind), (Verdict::Fail, Some(ErrorKind::WrongKey)));
    assert_eq!(r.key_arn.as_deref(), Some(OTHER_ARN));
    let r = run(&sse("o", Some("aws:kms"), None), &kr, &p);
    assert_eq!(r.verdict, Verdict::Fail);
}

#[test]
fn sse_s3_none_and_unknown_fail() {
    let kr = keyring();
    let p = policy(&[ARN]);
    let r = run(&sse("o", Some("AES256"), None), &kr, &p);
    assert_eq!((r.verdict, r.format), (Verdict::Fail, ReportFormat::SseS3));
    let r = run(&sse("o", None, None), &kr, &p);
    assert_eq!((r.verdict, r.format), (Verdict::Fail, ReportFormat::None));
    let r = run(&sse("o", Some("aws:fancy"), None), &kr, &p);
    assert_eq!((r.verdict, r.format), (Verdict::Fail, ReportFormat::None));
}

#[test]
fn client_side_plus_sse_kms_checks_both_keys() {
    let kr = keyring();
    let mut obj = client_side(&kr, Format::Simple, "a");
    obj.server_side_encryption = Some("aws:kms".into());
    obj.sse_kms_key_id = Some(OTHER_ARN.into());
    let r = run(&obj, &kr, &policy(&["local:verify", ARN]));
    assert_eq!((r.verdict, r.format), (Verdict::Fail, ReportFormat::Simple));
    obj.sse_kms_key_id = Some(ARN.into());
    let r = run(&obj, &kr, &policy(&["local:verify", ARN]));
    assert_eq!(r.verdict, Verdict::Ok, "{r:?}");
    // SSE-S3 under a client-side envelope is fine: the envelope is the claim.
    obj.server_side_encryption = Some("AES256".into());
    obj.sse_kms_key_id = None;
    assert_eq!(run(&obj, &kr, &policy(&["local:verify"])).verdict, Verdict::Ok);
}

#[test]
fn manifest_rules() {
    let kr = keyring();
    let obj = client_side(&kr, Format::Simple, "s3://bucket/data/a.bin");
    let good = hex::encode(Sha256::digest(PT));
    let mut m = Manifest::default();
    m.insert("data/a.bin", good.clone());
    let mut p = policy(&["local:verify"]);
    p.manifest = Some(m);
    let r = run(&obj, &kr, &p);
    assert_eq!(r.verdict, Verdict::Ok, "{r:?}");
    assert!(r.reason.contains("manifest"));

    let mut m = Manifest::default();
    m.insert("data/a.bin", "0".repeat(64));
    p.manifest = Some(m);
    let r = run(&obj, &kr, &p);
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(r.reason.contains("does not match"), "{}", r.reason);

    p.manifest = Some(Manifest::parse(&format!("{good}  other.bin\n")).unwrap());
    let r = run(&obj, &kr, &p);
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(r.reason.contains("no manifest entry"), "{}", r.reason);

    // SSE-KMS bodies are checked against the manifest too.
    let mut p = policy(&[ARN]);
    p.manifest = Some(Manifest::parse(&format!("{good}  o\n")).unwrap());
    assert_eq!(run(&sse("o", Some("aws:kms"), Some(ARN)), &kr, &p).verdict, Verdict::Ok);
    let mut bad = sse("o", Some("aws:kms"), Some(ARN));
    bad.body.push(b'!');
    assert_eq!(run(&bad, &kr, &p).verdict, Verdict::Fail);
}

#[test]
fn unusable_envelopes_fail_with_kind() {
    let kr = keyring();
    let mut obj = sse("legacy", Some("aws:kms"), Some(ARN));
    obj.metadata = common::md(&[("x-amz-key", "c29tZQ=="), ("x-amz-iv", "AAAA")]);
    let r = run(&obj, &kr, &policy(&[ARN]));
    assert_eq!(r.verdict, Verdict::Fail);
    assert_eq!(r.error_kind, Some(ErrorKind::UnsupportedFormat));
    assert_eq!(r.format, ReportFormat::SseKms);
    assert!(r.reason.contains("v1"), "{}", r.reason);
}

#[test]
fn report_json_contract() {
    let kr = keyring();
    let objs = [client_side(&kr, Format::Simple, "a"), sse("b", Some("AES256"), None)];
    let reports: Vec<ObjectReport> = objs.iter().map(|o| run(o, &kr, &policy(&["local:verify"]))).collect();
    let report = VerificationReport::new(reports);
    assert_eq!(report.summary.total, 2);
    assert_eq!(report.summary.ok, 1);
    assert_eq!(report.summary.by_format["sse-s3"], 1);
    assert_eq!(report.decrypt_calls().count(), 1);
    let v = serde_json::to_value(&report).unwrap();
    for item in v["objects"].as_array().unwrap() {
        for field in ["object", "format", "key_arn", "verdict", "reason"] {
            assert!(item.get(field).is_some(), "{field} missing in {item}");
        }
    }
    assert_eq!(v["objects"][0]["verdict"], "ok");
    assert_eq!(v["objects"][0]["format"], "simple");
    assert!(v["objects"][0]["decrypt"]["at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(v["objects"][1]["verdict"], "fail");
}

/// The async API is usable from multi-threaded runtimes: its futures are `Send`.
#[test]
fn futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    fn generic<K: Keyring>(kr: &K) {
        let obj = ObjectUnderTest::default();
        let p = VerifyPolicy::default();
        let c = envelope::EncryptionContext::new();
        let md = std::collections::BTreeMap::new();
        assert_send(&verify_object(&obj, kr, &p));
        assert_send(&encrypt_object(Format::Simple, kr, "k", &c, b""));
        assert_send(&decrypt_object(&md, b"", kr, None));
    }
    generic(&keyring());
    generic(&std::sync::Arc::new(keyring()));
}

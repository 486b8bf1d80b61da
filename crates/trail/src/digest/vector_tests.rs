//! The data-signing string and signature checked against fixed vectors produced by the
//! independent Python producer (`tests/integrity/make_trail.py`; see
//! `crates/trail/tests/data/digest/README.md`).

use super::*;

const KEYS: &str = include_str!("../../tests/data/digest/public-keys.json");
const DIGEST_1: &[u8] = include_bytes!("../../tests/data/digest/digest-1.json");
const DIGEST_2: &[u8] = include_bytes!("../../tests/data/digest/digest-2.json");
const STS_1: &str = include_str!("../../tests/data/digest/digest-1.string-to-sign.txt");
const STS_2: &str = include_str!("../../tests/data/digest/digest-2.string-to-sign.txt");
const SIG_1: &str = include_str!("../../tests/data/digest/digest-1.signature.hex");
const SIG_2: &str = include_str!("../../tests/data/digest/digest-2.signature.hex");

#[test]
fn string_to_sign_matches_the_vectors() {
    let d1 = DigestFile::from_json("digest-1", DIGEST_1).unwrap();
    assert!(d1.is_starting());
    assert_eq!(d1.string_to_sign(&sha256_hex(DIGEST_1)), STS_1);
    assert!(STS_1.ends_with("\nnull"), "a starting digest signs the literal null");

    let d2 = DigestFile::from_json("digest-2", DIGEST_2).unwrap();
    assert!(!d2.is_starting());
    assert_eq!(d2.string_to_sign(&sha256_hex(DIGEST_2)), STS_2);
    // The chain: digest 2 records digest 1's hash and signature.
    assert_eq!(d2.previous_digest_hash_value.as_deref(), Some(sha256_hex(DIGEST_1).as_str()));
    assert_eq!(d2.previous_digest_signature.as_deref(), Some(SIG_1.trim()));
    // Line by line, as documented.
    let lines: Vec<&str> = STS_2.split('\n').collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0], d2.digest_end_time);
    assert_eq!(lines[1], format!("{}/{}", d2.digest_s3_bucket, d2.digest_s3_object));
    assert!(lines[1].starts_with("kms-audit-trail/audit/AWSLogs/"));
    assert_eq!(lines[2], sha256_hex(DIGEST_2));
    assert_eq!(lines[3], SIG_1.trim());
}

#[test]
fn signatures_verify_with_the_listed_key_and_fail_when_anything_changes() {
    let keys = PublicKeyList::from_list_public_keys_json(KEYS).unwrap();
    assert_eq!(keys.len(), 2);
    let d1 = verify_digest("digest-1", DIGEST_1, SIG_1.trim(), &keys).unwrap();
    assert!(keys.get(&d1.digest_public_key_fingerprint.to_uppercase()).is_some());
    verify_digest("digest-2", DIGEST_2, SIG_2.trim(), &keys).unwrap();

    // One byte of the digest.
    let mut changed = DIGEST_2.to_vec();
    let at = changed.iter().position(|&b| b == b'7').unwrap();
    changed[at] = b'8';
    let err = verify_digest("digest-2", &changed, SIG_2.trim(), &keys).unwrap_err();
    assert!(matches!(err, DigestError::Signature { .. }), "{err}");
    // Another digest's signature.
    let err = verify_digest("digest-2", DIGEST_2, SIG_1.trim(), &keys).unwrap_err();
    assert!(err.to_string().contains("digest-2"), "{err}");
    // Not hex.
    assert!(verify_digest("digest-2", DIGEST_2, "zz", &keys).is_err());
    // A list without the signing key.
    let decoy_only: PublicKeyList =
        keys.iter().filter(|k| k.fingerprint() != d1.digest_public_key_fingerprint).cloned().collect();
    let err = verify_digest("digest-1", DIGEST_1, SIG_1.trim(), &decoy_only).unwrap_err();
    assert!(err.to_string().contains("no public key with fingerprint"), "{err}");
}

#[test]
fn key_list_times_are_epoch_seconds_in_the_vector() {
    let keys = PublicKeyList::from_list_public_keys_json(KEYS).unwrap();
    for key in keys.iter() {
        let (start, end) = (key.validity_start().unwrap(), key.validity_end().unwrap());
        assert_eq!((end - start).num_days(), 30);
    }
}

#[test]
fn documented_sample_key_list_parses() {
    // The CloudTrail User Guide's sample `list-public-keys` output (lowercase key, epoch
    // strings, and one key given as X.509 SubjectPublicKeyInfo rather than PKCS #1).
    let sample = r#"{"publicKeyList": [
      {"ValidityStartTime": "1436317441.0", "ValidityEndTime": "1438909441.0",
       "Value": "MIIBCgKCAQEAn11L2YZ9h7onug2ILi1MWyHiMRsTQjfWE+pHVRLk1QjfWhirG+lpOa8NrwQ/r7Ah5bNL6HepznOU9XTDSfmmnP97mqyc7z/upfZdS/AHhYcGaz7n6Wc/RRBU6VmiPCrAUojuSk6/GjvA8iOPFsYDuBtviXarvuLPlrT9kAd4Lb+rFfR5peEgBEkhlzc5HuWO7S0y+KunqxX6jQBnXGMtxmPBPP0FylgWGNdFtks/4YSKcgqwH0YDcawP9GGGDAeCIqPWIXDLG1jOjRRzWfCmD0iJUkz8vTsn4hq/5ZxRFE7UBAUiVcGbdnDdvVfhF9C3dQiDq3k7adQIziLT0cShgQIDAQAB",
       "Fingerprint": "8eba5db5bea9b640d1c96a77256fe7f2"},
      {"ValidityStartTime": "1434589370.0", "ValidityEndTime": "1437181370.0",
       "Value": "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqlzPJbvZJ42UdcmLfPUqXYNfOs6I8lCfao/tOs8CmzPOEdtLWugB9xoIUz78qVHdKIqxbaG4jWHfJBiOSSFBM0lt8cdVo4TnRa7oG9io5pysS6DJhBBAeXsicufsiFJR+wrUNh8RSLxL4k6G1+BhLX20tJkZ/erT97tDGBujAelqseGg3vPZbTx9SMfOLN65PdLFudLP7Gat0Z9p5jw/rjpclKfo9Bfc3heeBxWGKwBBOKnFAaN9V57pOaosCvPKmHd9bg7jsQkI9Xp22IzGLsTFJZYVA3KiTAElDMu80iFXPHEq9hKNbt9e4URFam+1utKVEiLkR2disdCmPTK0VQIDAQAB",
       "Fingerprint": "31e8b5433410dfb61a9dc45cc65b22ff"}
    ]}"#;
    let keys = PublicKeyList::from_list_public_keys_json(sample).unwrap();
    assert_eq!(keys.len(), 2);
    let k = keys.get("31E8B5433410DFB61A9DC45CC65B22FF").unwrap();
    assert_eq!(k.validity_start().unwrap().timestamp(), 1434589370);
}

//! Property tests of the digest-file parser (issue 8): arbitrary and mutated digest files, gzip
//! bodies and public-key lists never panic and end in a parsed value or a typed
//! [`DigestError`]; a digest whose bytes changed never verifies against the real signature.
//!
//! The real digests, signatures and key list are the checked-in vectors of
//! `crates/trail/tests/data/digest/` (made by `tests/integrity/make_trail.py`).

use std::io::{self, Read, Write};

use flate2::write::GzEncoder;
use flate2::Compression;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;
use trail::digest::{gunzip_digest, uncompressed_sha256, verify_digest, DigestError, DigestFile, PublicKeyList};

const KEYS: &str = include_str!("data/digest/public-keys.json");
const DIGEST_1: &[u8] = include_bytes!("data/digest/digest-1.json");
const DIGEST_2: &[u8] = include_bytes!("data/digest/digest-2.json");
const SIG_1: &str = include_str!("data/digest/digest-1.signature.hex");
const SIG_2: &str = include_str!("data/digest/digest-2.signature.hex");

fn keys() -> PublicKeyList {
    PublicKeyList::from_list_public_keys_json(KEYS).unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn typed(e: &DigestError) {
    assert!(!e.to_string().is_empty());
}

/// A reader failing with a connection reset after `at` bytes.
struct Failing<'a> {
    data: &'a [u8],
    pos: usize,
    at: usize,
}

impl Read for Failing<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.at {
            return Err(io::Error::new(io::ErrorKind::ConnectionReset, "cut"));
        }
        let n = buf.len().min(self.at - self.pos).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn digest_strategy() -> impl Strategy<Value = (&'static [u8], &'static str)> {
    prop_oneof![Just((DIGEST_1, SIG_1.trim())), Just((DIGEST_2, SIG_2.trim()))]
}

/// Replacement values for a top-level field of a digest (or of a `logFiles` entry).
fn replacement() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        any::<i64>().prop_map(|n| Some(Value::from(n))),
        any::<bool>().prop_map(|b| Some(Value::from(b))),
        ".{0,30}".prop_map(|s| Some(Value::from(s))),
        Just(Some(Value::from("2024-03-01T02:01:31+00:00"))),
        Just(Some(serde_json::json!([]))),
        Just(Some(serde_json::json!({"a": [1, {"b": null}]}))),
        (1usize..200).prop_map(|d| {
            let mut v = Value::from("x");
            for _ in 0..d {
                v = Value::Array(vec![v]);
            }
            Some(v)
        }),
    ]
}

#[test]
fn the_vectors_verify() {
    let keys = keys();
    verify_digest("d1", DIGEST_1, SIG_1.trim(), &keys).unwrap();
    verify_digest("d2", DIGEST_2, SIG_2.trim(), &keys).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_are_a_digest_or_a_malformed_error(data in prop::collection::vec(any::<u8>(), 0..1024)) {
        match DigestFile::from_json("fuzz", &data) {
            Ok(_) => {}
            Err(e @ DigestError::Malformed { .. }) => {
                typed(&e);
                prop_assert!(e.to_string().contains("fuzz"), "the error names the object: {}", e);
            }
            Err(e) => prop_assert!(false, "unexpected error kind {:?}", e),
        }
    }

    /// Flipped bytes in a real digest: parsed or malformed, and never verified by the real
    /// signature (it covers the SHA-256 of the exact bytes).
    #[test]
    fn flipped_digests_never_verify((digest, sig) in digest_strategy(),
                                    flips in prop::collection::vec((any::<Index>(), 1u8..=255), 1..6)) {
        let mut data = digest.to_vec();
        for (at, mask) in flips {
            let i = at.index(data.len());
            data[i] ^= mask;
        }
        let _ = DigestFile::from_json("d", &data).map_err(|e| typed(&e));
        let result = verify_digest("d", &data, sig, &keys());
        prop_assert!(result.is_err(), "a modified digest verified");
        typed(&result.unwrap_err());
    }

    /// A field of a real digest deleted or replaced with any JSON: parsed or a malformed error;
    /// never verified; a parse keeps the fields it did not touch.
    #[test]
    fn mutated_fields_are_parsed_or_refused((digest, sig) in digest_strategy(), field in any::<Index>(),
                                            in_log_file in any::<bool>(), with in replacement()) {
        let mut v: Value = serde_json::from_slice(digest).unwrap();
        let target = if in_log_file && !v["logFiles"].as_array().unwrap().is_empty() {
            &mut v["logFiles"][0]
        } else {
            &mut v
        };
        let obj = target.as_object_mut().unwrap();
        let key = obj.keys().nth(field.index(obj.len())).unwrap().clone();
        match with {
            None => { obj.remove(&key); }
            Some(new) => { obj.insert(key.clone(), new); }
        }
        let data = serde_json::to_vec(&v).unwrap();
        match DigestFile::from_json("d", &data) {
            Ok(parsed) => {
                let original = DigestFile::from_json("d", digest).unwrap();
                if key != "digestS3Bucket" && !in_log_file {
                    prop_assert_eq!(parsed.digest_s3_bucket, original.digest_s3_bucket);
                }
            }
            Err(e) => prop_assert!(matches!(e, DigestError::Malformed { .. }), "{:?}", e),
        }
        if data != digest {
            prop_assert!(verify_digest("d", &data, sig, &keys()).is_err());
        }
    }

    /// Signatures of any shape (not hex, wrong length, another digest's) never verify.
    #[test]
    fn wrong_signatures_never_verify((digest, sig) in digest_strategy(), other in ".{0,600}",
                                     flip in any::<Index>()) {
        prop_assert!(verify_digest("d", digest, &other, &keys()).is_err());
        let mut bytes = sig.as_bytes().to_vec();
        let i = flip.index(bytes.len());
        bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(bytes).unwrap();
        prop_assert!(verify_digest("d", digest, &flipped, &keys()).is_err());
    }

    /// gzip bodies: the real digest gzipped, truncated, flipped, or arbitrary bytes; an inflate
    /// bound; a body that fails to read. Always the bytes, a Malformed error, or (for the failing
    /// reader only) a Store error.
    #[test]
    fn gzip_bodies_end_in_bytes_or_a_typed_error(
        (digest, _) in digest_strategy(),
        cut in proptest::option::of(any::<Index>()),
        flip in proptest::option::of((any::<Index>(), 1u8..=255)),
        junk in prop::collection::vec(any::<u8>(), 0..256),
        use_junk in any::<bool>(),
        max in prop_oneof![Just(64u64 << 20), 0u64..4096],
        fail_at in proptest::option::of(any::<Index>()),
    ) {
        let mut body = if use_junk { junk } else { gzip(digest) };
        if let Some((at, mask)) = flip {
            if !body.is_empty() {
                let i = at.index(body.len());
                body[i] ^= mask;
            }
        }
        if let Some(at) = cut {
            if !body.is_empty() {
                body.truncate(at.index(body.len()));
            }
        }
        let result = match fail_at {
            Some(at) if !body.is_empty() => {
                let at = at.index(body.len());
                gunzip_digest("d", Failing { data: &body, pos: 0, at }, max)
            }
            _ => gunzip_digest("d", body.as_slice(), max),
        };
        match result {
            Ok(bytes) => {
                prop_assert!(bytes.len() as u64 <= max);
                if !use_junk && flip.is_none() && cut.is_none() && fail_at.is_none() {
                    prop_assert_eq!(bytes, digest.to_vec());
                }
            }
            Err(e @ DigestError::Malformed { .. }) => typed(&e),
            Err(e @ DigestError::Store { .. }) => {
                prop_assert!(fail_at.is_some(), "a store error without a failing reader: {}", e);
            }
            Err(e) => prop_assert!(false, "unexpected error kind {:?}", e),
        }
        let _ = uncompressed_sha256(body.as_slice());
    }

    /// `aws cloudtrail list-public-keys` output, mutated: a key list or a PublicKeys error.
    #[test]
    fn public_key_lists_end_in_keys_or_a_typed_error(
        flips in prop::collection::vec((any::<Index>(), any::<u8>()), 0..4),
        junk in ".{0,200}",
        use_junk in any::<bool>(),
    ) {
        let text = if use_junk {
            junk
        } else {
            let mut bytes = KEYS.as_bytes().to_vec();
            for (at, b) in flips {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            String::from_utf8_lossy(&bytes).into_owned()
        };
        match PublicKeyList::from_list_public_keys_json(&text) {
            Ok(_) => {}
            Err(e @ DigestError::PublicKeys { .. }) => typed(&e),
            Err(e) => prop_assert!(false, "unexpected error kind {:?}", e),
        }
    }
}

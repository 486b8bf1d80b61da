//! Digest files: any bytes parse to a digest or a Malformed error, gunzip ends in bytes within
//! the bound or a typed error, a public-key list parses or is refused, and nothing but the
//! checked-in digest verifies against its signature.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use trail::digest::{gunzip_digest, uncompressed_sha256, verify_digest, DigestError, DigestFile, PublicKeyList};

const KEYS: &str = include_str!("../../crates/trail/tests/data/digest/public-keys.json");
const DIGEST_2: &[u8] = include_bytes!("../../crates/trail/tests/data/digest/digest-2.json");
const SIG_2: &str = include_str!("../../crates/trail/tests/data/digest/digest-2.signature.hex");

fn keys() -> &'static PublicKeyList {
    static KEYS_LIST: OnceLock<PublicKeyList> = OnceLock::new();
    KEYS_LIST.get_or_init(|| PublicKeyList::from_list_public_keys_json(KEYS).unwrap())
}

fuzz_target!(|data: &[u8]| {
    match DigestFile::from_json("fuzz", data) {
        Ok(d) => {
            let _ = (d.start_time(), d.end_time(), d.is_starting(), d.string_to_sign("00"));
        }
        Err(e) => assert!(matches!(e, DigestError::Malformed { .. }), "{e:?}"),
    }
    match verify_digest("fuzz", data, SIG_2.trim(), keys()) {
        Ok(_) => assert_eq!(data, DIGEST_2, "a different digest verified"),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    match gunzip_digest("fuzz", data, 1 << 16) {
        Ok(bytes) => assert!(bytes.len() <= 1 << 16),
        Err(e) => assert!(matches!(e, DigestError::Malformed { .. }), "{e:?}"),
    }
    let _ = uncompressed_sha256(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = PublicKeyList::from_list_public_keys_json(text) {
            assert!(matches!(e, DigestError::PublicKeys { .. }), "{e:?}");
        }
    }
});

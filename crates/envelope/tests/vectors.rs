//! Test vectors produced by an independent implementation (tests/envelope/gen_vectors.py,
//! Python `cryptography`): every backend must decrypt them and reproduce them byte for byte.

mod common;

use std::collections::BTreeMap;

use common::{block_on, vectors_dir, StaticKeyring};
use envelope::aead::Backend;
use envelope::{
    decrypt_object_with, seal, DataKey, EncryptionContext, Envelope, Format, LocalKeyring, Options, SealMaterials,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct VectorFile {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    format: Format,
    data_key_hex: String,
    iv_hex: String,
    context: EncryptionContext,
    kms_context: EncryptionContext,
    wrapped_key_hex: String,
    key_arn: String,
    wrap_algorithm: String,
    local: Option<LocalMaterial>,
    plaintext_hex: String,
    body_hex: String,
    metadata: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct LocalMaterial {
    key_id: String,
    wrapping_key_hex: String,
    wrap_nonce_hex: String,
}

fn load(name: &str) -> VectorFile {
    let text = std::fs::read_to_string(vectors_dir().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn key(hex_str: &str) -> [u8; 32] {
    hex::decode(hex_str).unwrap().try_into().unwrap()
}

fn check_case(case: &Case, backend: Backend) {
    let label = format!("{} on {}", case.name, backend.name());
    let options = Options { backend, ..Options::default() };
    let wrapped = hex::decode(&case.wrapped_key_hex).unwrap();
    let plaintext = hex::decode(&case.plaintext_hex).unwrap();
    let body = hex::decode(&case.body_hex).unwrap();
    let iv: [u8; 12] = hex::decode(&case.iv_hex).unwrap().try_into().unwrap();

    // Parse.
    let env = Envelope::parse(&case.metadata).unwrap().unwrap();
    assert_eq!(env.format, case.format, "{label}");
    assert_eq!(env.wrapped_key, wrapped, "{label}");
    assert_eq!(env.kms_context, case.kms_context, "{label}");
    assert_eq!(env.user_context(), case.context, "{label}");

    // Decrypt through a keyring.
    let decrypted = match &case.local {
        Some(local) => {
            let kr = LocalKeyring::new(local.key_id.clone(), DataKey::from_array(key(&local.wrapping_key_hex)))
                .unwrap()
                .with_backend(backend);
            // The independent wrapping must be reproduced exactly too.
            let nonce: [u8; 12] = hex::decode(&local.wrap_nonce_hex).unwrap().try_into().unwrap();
            let rewrapped =
                kr.wrap_with_nonce(&DataKey::from_array(key(&case.data_key_hex)), &case.kms_context, nonce).unwrap();
            assert_eq!(rewrapped, wrapped, "{label}: local wrap");
            block_on(decrypt_object_with(&options, &case.metadata, &body, &kr, Some(&case.key_arn)))
        }
        None => {
            let mut kr = StaticKeyring::default();
            kr.add(wrapped.clone(), key(&case.data_key_hex), case.kms_context.clone(), &case.key_arn);
            block_on(decrypt_object_with(&options, &case.metadata, &body, &kr, Some(&case.key_arn)))
        }
    }
    .unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(decrypted.plaintext, plaintext, "{label}");
    assert_eq!(decrypted.format, case.format, "{label}");
    assert_eq!(decrypted.key_arn, case.key_arn, "{label}");
    assert_eq!(decrypted.context, case.kms_context, "{label}");

    // Produce: same metadata and body given the fixed IV.
    let data_key = DataKey::from_array(key(&case.data_key_hex));
    let (metadata, produced) = seal(
        &SealMaterials {
            format: case.format,
            data_key: &data_key,
            wrapped_key: &wrapped,
            wrap_algorithm: &case.wrap_algorithm,
            kms_context: &case.kms_context,
        },
        iv,
        &plaintext,
        &options,
    )
    .unwrap();
    assert_eq!(metadata, case.metadata, "{label}: metadata");
    assert_eq!(hex::encode(produced), case.body_hex, "{label}: body");
}

#[test]
fn simple_vectors_all_backends() {
    let file = load("simple.json");
    assert!(file.cases.len() >= 4);
    for case in &file.cases {
        assert_eq!(case.format, Format::Simple);
        for &b in Backend::available() {
            check_case(case, b);
        }
    }
}

#[test]
fn s3ec_v2_vectors_all_backends() {
    let file = load("s3ec-v2.json");
    assert!(file.cases.len() >= 4);
    for case in &file.cases {
        assert_eq!(case.format, Format::S3ecV2);
        for &b in Backend::available() {
            check_case(case, b);
        }
    }
}

#[derive(Debug, Deserialize)]
struct LocalFile {
    key_file: String,
    key_id: String,
    key_check_hex: String,
    cases: Vec<LocalCase>,
}

#[derive(Debug, Deserialize)]
struct LocalCase {
    context: EncryptionContext,
    canonical_context: String,
    data_key_hex: String,
    wrap_nonce_hex: String,
    wrapped_hex: String,
}

#[test]
fn local_keyring_vectors_all_backends() {
    let text = std::fs::read_to_string(vectors_dir().join("local-keyring.json")).unwrap();
    let file: LocalFile = serde_json::from_str(&text).unwrap();
    for &b in Backend::available() {
        let kr = LocalKeyring::from_key_file_json(&file.key_file, "local-keyring.json").unwrap().with_backend(b);
        assert_eq!(kr.key_id(), file.key_id);
        assert_eq!(hex::encode(kr.key_check()), file.key_check_hex);
        for case in &file.cases {
            assert_eq!(case.context.canonical_json(), case.canonical_context);
            let nonce: [u8; 12] = hex::decode(&case.wrap_nonce_hex).unwrap().try_into().unwrap();
            let dk = DataKey::from_array(key(&case.data_key_hex));
            let wrapped = kr.wrap_with_nonce(&dk, &case.context, nonce).unwrap();
            assert_eq!(hex::encode(&wrapped), case.wrapped_hex);
            let back = kr.unwrap(&wrapped, &case.context).unwrap();
            assert_eq!(hex::encode(back.expose_secret()), case.data_key_hex);
        }
    }
}

/// Vectors made by one backend open on every other one (cross-check beyond the files).
#[test]
fn backends_agree_on_random_inputs() {
    let dk = DataKey::generate().unwrap();
    for len in [0usize, 1, 15, 16, 17, 255, 4096, 65_537] {
        let pt: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let nonce = [7u8; 12];
        let sealed: Vec<Vec<u8>> =
            Backend::available().iter().map(|&b| envelope::aead::seal(b, &dk, &nonce, b"aad", &pt).unwrap()).collect();
        for s in &sealed {
            assert_eq!(s, &sealed[0]);
            for &b in Backend::available() {
                assert_eq!(envelope::aead::open(b, &dk, &nonce, b"aad", s).unwrap(), pt);
            }
        }
    }
}

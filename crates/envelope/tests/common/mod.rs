//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;

use envelope::{key_matches, DataKey, EncryptionContext, Error, GeneratedKey, Keyring, UnwrappedKey};

/// Metadata names the property tests draw from: every name an envelope format reads, near misses
/// (a prefix, the user-metadata spelling, another case) and an unrelated one.
pub const METADATA_NAMES: &[&str] = &[
    "x-amz-key",
    "x-amz-key-v2",
    "x-amz-iv",
    "x-amz-cek-alg",
    "x-amz-wrap-alg",
    "x-amz-matdesc",
    "x-amz-tag-len",
    "x-amz-unencrypted-content-length",
    "x-amz-context",
    "x-amz-3",
    "x-amz-c",
    "x-amz-d",
    "x-amz-meta-x-amz-key",
    "X-Amz-Key",
    "other",
];

/// Runs a future to completion (the crate has no runtime; our keyrings never wait).
pub fn block_on<F: Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn md(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

pub fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs.iter().copied().collect()
}

/// A stand-in for KMS: knows fixed wrapped blobs, checks the context exactly as KMS would, and
/// reports a fixed ARN.
#[derive(Debug, Default)]
pub struct StaticKeyring {
    entries: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    wrapped: Vec<u8>,
    key: [u8; 32],
    context: EncryptionContext,
    key_arn: String,
}

impl StaticKeyring {
    pub fn add(&mut self, wrapped: Vec<u8>, key: [u8; 32], context: EncryptionContext, arn: &str) {
        self.entries.push(Entry { wrapped, key, context, key_arn: arn.to_owned() });
    }
}

impl Keyring for StaticKeyring {
    async fn generate_data_key(&self, key_id: &str, _context: &EncryptionContext) -> envelope::Result<GeneratedKey> {
        Err(Error::KeyNotFound { key_id: key_id.to_owned() })
    }

    async fn decrypt_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
        expected_key_id: Option<&str>,
    ) -> envelope::Result<UnwrappedKey> {
        let e = self
            .entries
            .iter()
            .find(|e| e.wrapped == wrapped)
            .ok_or_else(|| Error::ContextMismatch { detail: "InvalidCiphertextException (unknown blob)".into() })?;
        if let Some(x) = expected_key_id {
            if !key_matches(x, &e.key_arn) {
                return Err(Error::WrongKey { expected: x.to_owned(), found: e.key_arn.clone() });
            }
        }
        if &e.context != context {
            return Err(Error::ContextMismatch { detail: "InvalidCiphertextException".into() });
        }
        Ok(UnwrappedKey { key: DataKey::from_array(e.key), key_arn: e.key_arn.clone() })
    }
}

/// Releases the same key for any blob and any context: lets fuzzing reach the body AEAD.
#[derive(Debug)]
pub struct PermissiveKeyring(pub [u8; 32]);

impl Keyring for PermissiveKeyring {
    async fn generate_data_key(&self, _key_id: &str, _context: &EncryptionContext) -> envelope::Result<GeneratedKey> {
        Ok(GeneratedKey {
            key: DataKey::from_array(self.0),
            wrapped: vec![1, 2, 3, 4],
            key_arn: "arn:aws:kms:us-east-1:111122223333:key/permissive".into(),
        })
    }

    async fn decrypt_data_key(
        &self,
        _wrapped: &[u8],
        _context: &EncryptionContext,
        _expected_key_id: Option<&str>,
    ) -> envelope::Result<UnwrappedKey> {
        Ok(UnwrappedKey {
            key: DataKey::from_array(self.0),
            key_arn: "arn:aws:kms:us-east-1:111122223333:key/permissive".into(),
        })
    }
}

//! The keyring abstraction: something that makes and unwraps data keys.

use std::future::Future;
use std::sync::Arc;

use crate::context::EncryptionContext;
use crate::error::Result;
use crate::format::WRAP_ALG_KMS_CONTEXT;
use crate::key::DataKey;

/// A new data key: plaintext (zeroized on drop), wrapped blob, and the key that wrapped it.
#[derive(Debug)]
pub struct GeneratedKey {
    /// The plaintext data key.
    pub key: DataKey,
    /// The wrapped key (KMS `CiphertextBlob`, or a local-keyring blob).
    pub wrapped: Vec<u8>,
    /// Full ARN (KMS) or `local:<name>` of the key that wrapped it.
    pub key_arn: String,
}

/// An unwrapped data key and the key that the keyring says unwrapped it.
#[derive(Debug)]
pub struct UnwrappedKey {
    /// The plaintext data key.
    pub key: DataKey,
    /// Full ARN (KMS `Decrypt` response `KeyId`) or `local:<name>`.
    pub key_arn: String,
}

/// Makes and unwraps data keys under a named key, binding an encryption context.
///
/// Implementations: [`crate::LocalKeyring`] here; the KMS keyring (`GenerateDataKey` /
/// `Decrypt` with the context) lives in the `aws` crate. Errors an implementation should map
/// to, so callers can tell them apart:
///
/// | situation | error |
/// |---|---|
/// | access denied, key disabled / pending deletion | [`Error::KmsDenied`](crate::Error::KmsDenied) |
/// | throttled (retryable) | [`Error::KmsThrottled`](crate::Error::KmsThrottled) |
/// | KMS internal / transport error | [`Error::Kms`](crate::Error::Kms) with `retryable` |
/// | `IncorrectKeyException`, or the returned ARN ≠ `expected_key_id` | [`Error::WrongKey`](crate::Error::WrongKey) |
/// | `InvalidCiphertextException` (context differs or blob corrupt) | [`Error::ContextMismatch`](crate::Error::ContextMismatch) |
/// | unknown key id (`NotFoundException`) | [`Error::KeyNotFound`](crate::Error::KeyNotFound) |
///
/// Use [`key_matches`] to compare a returned ARN with an expected key. Callers may wrap a
/// keyring in [`crate::Retrying`] to retry throttling with backoff.
///
/// Not object-safe (it returns `impl Future`); use it generically (`K: Keyring`).
pub trait Keyring: Send + Sync {
    /// New data key under `key_id`; returns plaintext key + wrapped blob + the key ARN that
    /// wrapped it.
    fn generate_data_key(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> impl Future<Output = Result<GeneratedKey>> + Send;

    /// Unwrap; returns plaintext key and the key ARN the keyring says it used. When
    /// `expected_key_id` is given, a key other than it must be reported as
    /// [`Error::WrongKey`](crate::Error::WrongKey) (KMS: pass it as `KeyId`).
    fn decrypt_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
        expected_key_id: Option<&str>,
    ) -> impl Future<Output = Result<UnwrappedKey>> + Send;

    /// The `x-amz-wrap-alg` this keyring writes and reads in the s3ec-v2 format:
    /// `kms+context` (the default, KMS) or `kms-audit-local+context` (local keyring).
    fn wrap_algorithm(&self) -> &str {
        WRAP_ALG_KMS_CONTEXT
    }
}

impl<K: Keyring> Keyring for &K {
    fn generate_data_key(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> impl Future<Output = Result<GeneratedKey>> + Send {
        (**self).generate_data_key(key_id, context)
    }
    fn decrypt_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
        expected_key_id: Option<&str>,
    ) -> impl Future<Output = Result<UnwrappedKey>> + Send {
        (**self).decrypt_data_key(wrapped, context, expected_key_id)
    }
    fn wrap_algorithm(&self) -> &str {
        (**self).wrap_algorithm()
    }
}

impl<K: Keyring> Keyring for Arc<K> {
    fn generate_data_key(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> impl Future<Output = Result<GeneratedKey>> + Send {
        (**self).generate_data_key(key_id, context)
    }
    fn decrypt_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
        expected_key_id: Option<&str>,
    ) -> impl Future<Output = Result<UnwrappedKey>> + Send {
        (**self).decrypt_data_key(wrapped, context, expected_key_id)
    }
    fn wrap_algorithm(&self) -> &str {
        (**self).wrap_algorithm()
    }
}

/// The key id of a KMS key ARN (`arn:aws:kms:<region>:<account>:key/<id>` → `<id>`); any other
/// string is returned unchanged.
pub fn key_id_of(key: &str) -> &str {
    if key.starts_with("arn:") {
        if let Some((_, id)) = key.rsplit_once(":key/") {
            return id;
        }
    }
    key
}

/// Whether the key a keyring or S3 reports (`actual`, normally a full ARN) is the `expected`
/// one. An expected full ARN must match exactly (region and account matter: a multi-Region
/// replica shares the `mrk-…` id). An expected bare key id (`1234abcd-…`, `mrk-…`) matches an
/// ARN with that id. `local:<name>` matches exactly. Aliases (`alias/…`) never match: resolve
/// them to key ARNs first.
pub fn key_matches(expected: &str, actual: &str) -> bool {
    let expected = expected.trim();
    let actual = actual.trim();
    if expected.is_empty() || actual.is_empty() {
        return false;
    }
    if expected == actual {
        return !expected.starts_with("alias/") && !expected.contains(":alias/");
    }
    if expected.starts_with("arn:") || expected.starts_with("alias/") {
        return false;
    }
    // A bare key id against the id part of an ARN.
    actual.starts_with("arn:") && key_id_of(actual) == expected
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn matching_rules() {
        assert!(key_matches(ARN, ARN));
        assert!(key_matches("1234abcd-12ab-34cd-56ef-1234567890ab", ARN));
        assert!(!key_matches("arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", ARN));
        assert!(!key_matches("1234abcd", ARN));
        assert!(!key_matches("alias/data", "alias/data"));
        assert!(!key_matches("", ""));
        assert!(key_matches("local:dev", "local:dev"));
        assert!(!key_matches("dev", "local:dev"));
        assert_eq!(key_id_of(ARN), "1234abcd-12ab-34cd-56ef-1234567890ab");
        assert_eq!(key_id_of("local:dev"), "local:dev");
    }
}

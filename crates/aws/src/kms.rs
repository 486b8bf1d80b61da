//! The KMS keyring ([`KmsKeyring`], an [`envelope::Keyring`]) and the KMS signing helpers.
//!
//! # Keyring
//!
//! * `generate_data_key` calls `GenerateDataKey` (`AES_256`) with the encryption context and
//!   returns the plaintext data key (as a zeroizing [`DataKey`]), the `CiphertextBlob` and the
//!   key ARN KMS reports.
//! * `decrypt_data_key` calls `Decrypt` with the encryption context and, when an expected key is
//!   given, that key as `KeyId` (so KMS itself refuses a blob made under another key). The ARN
//!   KMS returns must then match the expected key ([`envelope::key_matches`]). An expected key
//!   given as an alias (`alias/x` or an alias ARN) is first resolved to its key ARN with
//!   `DescribeKey` ([`KmsKeyring::resolve_key`], cached), since aliases never match an ARN.
//!
//! The plaintext `Plaintext` blob of a response goes straight into [`DataKey::try_from_vec`],
//! which zeroizes the vector; nothing here logs or formats key material (the SDK's own response
//! `Debug` redacts it too). Copies the SDK makes while deserializing the HTTP response are
//! outside this crate's reach.
//!
//! # Errors
//!
//! SDK errors map to [`envelope::Error`] kinds by their error code:
//!
//! | KMS error code | kind |
//! |---|---|
//! | `AccessDeniedException`, `DisabledException`, `KMSInvalidStateException`, `InvalidGrantTokenException` | `kms-denied` |
//! | `IncorrectKeyException` | `wrong-key` |
//! | `InvalidCiphertextException` | `context-mismatch` (see below) |
//! | `NotFoundException` | `key-not-found` |
//! | `ThrottlingException`, `LimitExceededException`, `TooManyRequestsException`, HTTP 429 | `kms-throttled` (retryable) |
//! | `KMSInternalException`, `DependencyTimeoutException`, `KeyUnavailableException`, HTTP 5xx, timeouts, connection failures | `kms`, retryable |
//! | anything else | `kms`, not retryable |
//!
//! Two ambiguities are inherent to KMS and are documented rather than guessed at:
//!
//! * `InvalidCiphertextException` means "the ciphertext or its encryption context does not
//!   authenticate": the context was changed, the blob was corrupted, or (when no `KeyId` is
//!   sent) the blob names no usable key. KMS does not say which; it is reported as
//!   `context-mismatch` with that explanation in the message. A blob made under another key
//!   is normally reported by AWS as `IncorrectKeyException` when a `KeyId` is sent.
//! * `AccessDeniedException` is reported as `kms-denied`. When an expected key was sent as
//!   `KeyId`, it can also mean the blob was made under another key the caller may not use: the
//!   moto server answers a wrong `KeyId` with `AccessDeniedException` (AWS says
//!   `IncorrectKeyException`), and AWS itself denies a blob under a key the caller has no grant
//!   on. The message says so.
//!
//! Throttling is retried by [`retrying`] (envelope's [`Retrying`] with `tokio::time::sleep`,
//! capped exponential backoff with full jitter), on top of the SDK's own retries.
//!
//! # Signing
//!
//! [`KmsKeyring::sign_digest`] / [`KmsKeyring::verify_digest`] sign and verify a SHA-256 digest
//! with an asymmetric RSA key (`RSASSA_PSS_SHA_256`, `MessageType=DIGEST`) through KMS `Sign` /
//! `Verify`; [`KmsKeyring::public_key`] returns the DER `SubjectPublicKeyInfo` from
//! `GetPublicKey` for offline checks. (The moto server ignores `MessageType=DIGEST` and signs the
//! digest bytes as a raw message, so a moto signature verifies through KMS `Verify` but not
//! offline as a pre-hashed PSS signature.)

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, MessageType, SigningAlgorithmSpec};
use envelope::{
    key_matches, DataKey, EncryptionContext, Error, GeneratedKey, Keyring, Result, RetryPolicy, Retrying, UnwrappedKey,
};

/// The signing algorithm of [`KmsKeyring::sign_digest`].
pub const SIGNING_ALGORITHM: &str = "RSASSA_PSS_SHA_256";

/// A keyring backed by AWS KMS.
///
/// `Debug` shows nothing secret (the client and the alias cache).
#[derive(Debug)]
pub struct KmsKeyring {
    client: aws_sdk_kms::Client,
    /// Alias (or alias ARN) → key ARN, from `DescribeKey`.
    resolved: Mutex<HashMap<String, String>>,
}

/// The KMS keyring wrapped in [`Retrying`] with `tokio::time::sleep`: what the CLI uses.
pub type RetryingKmsKeyring = Retrying<KmsKeyring, fn(Duration) -> tokio::time::Sleep>;

/// Wraps `keyring` so throttling (and other retryable KMS errors) is retried with capped
/// exponential backoff and full jitter.
pub fn retrying(keyring: KmsKeyring, policy: RetryPolicy) -> RetryingKmsKeyring {
    Retrying::new(keyring, policy, tokio::time::sleep as fn(Duration) -> tokio::time::Sleep)
}

/// A signature made by [`KmsKeyring::sign_digest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsSignature {
    /// The key ARN KMS reports.
    pub key_arn: String,
    /// The signature bytes.
    pub signature: Vec<u8>,
    /// Always [`SIGNING_ALGORITHM`].
    pub algorithm: String,
}

/// The public half of an asymmetric KMS key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsPublicKey {
    /// The key ARN (or id, as KMS reports it).
    pub key_id: String,
    /// DER `SubjectPublicKeyInfo`.
    pub der: Vec<u8>,
}

/// Whether `key` names an alias (`alias/…` or `arn:…:alias/…`).
pub fn is_alias(key: &str) -> bool {
    key.starts_with("alias/") || (key.starts_with("arn:") && key.contains(":alias/"))
}

impl KmsKeyring {
    /// A keyring over an existing client.
    pub fn new(client: aws_sdk_kms::Client) -> Self {
        KmsKeyring { client, resolved: Mutex::new(HashMap::new()) }
    }

    /// A keyring with a client built from `config` (honours `AWS_ENDPOINT_URL`).
    pub fn from_config(config: &SdkConfig) -> Self {
        Self::new(aws_sdk_kms::Client::new(config))
    }

    /// The underlying client.
    pub fn client(&self) -> &aws_sdk_kms::Client {
        &self.client
    }

    /// The key ARN of `key`: an alias or alias ARN is resolved with `DescribeKey` (cached per
    /// keyring); a bare key id is resolved too, so that it can be compared with what S3 or KMS
    /// report; a key ARN is returned as is, without a call.
    pub async fn resolve_key(&self, key: &str) -> Result<String> {
        let key = key.trim();
        if key.starts_with("arn:") && !is_alias(key) {
            return Ok(key.to_owned());
        }
        if let Some(arn) = self.resolved.lock().expect("alias cache").get(key) {
            return Ok(arn.clone());
        }
        let out = self.client.describe_key().key_id(key).send().await.map_err(|e| map_sdk_error(&e, key, None))?;
        let arn = out.key_metadata.and_then(|m| m.arn).ok_or_else(|| Error::Kms {
            code: "DescribeKey".into(),
            message: format!("DescribeKey of {key} returned no key ARN"),
            retryable: false,
        })?;
        self.resolved.lock().expect("alias cache").insert(key.to_owned(), arn.clone());
        Ok(arn)
    }

    /// Signs a SHA-256 `digest` with the asymmetric RSA key `key_id` (`RSASSA_PSS_SHA_256`,
    /// `MessageType=DIGEST`).
    pub async fn sign_digest(&self, key_id: &str, digest: &[u8; 32]) -> Result<KmsSignature> {
        let out = self
            .client
            .sign()
            .key_id(key_id)
            .message(Blob::new(digest.to_vec()))
            .message_type(MessageType::Digest)
            .signing_algorithm(SigningAlgorithmSpec::RsassaPssSha256)
            .send()
            .await
            .map_err(|e| map_sdk_error(&e, key_id, None))?;
        let signature = out.signature.map(Blob::into_inner).ok_or_else(|| Error::Kms {
            code: "Sign".into(),
            message: format!("Sign with {key_id} returned no signature"),
            retryable: false,
        })?;
        Ok(KmsSignature {
            key_arn: out.key_id.unwrap_or_else(|| key_id.to_owned()),
            signature,
            algorithm: SIGNING_ALGORITHM.to_owned(),
        })
    }

    /// Checks a signature made by [`KmsKeyring::sign_digest`] through KMS `Verify`. `Ok(false)`
    /// when the signature does not verify (KMS answers `KMSInvalidSignatureException`).
    pub async fn verify_digest(&self, key_id: &str, digest: &[u8; 32], signature: &[u8]) -> Result<bool> {
        let result = self
            .client
            .verify()
            .key_id(key_id)
            .message(Blob::new(digest.to_vec()))
            .message_type(MessageType::Digest)
            .signature(Blob::new(signature.to_vec()))
            .signing_algorithm(SigningAlgorithmSpec::RsassaPssSha256)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.signature_valid),
            Err(e) if e.code() == Some("KMSInvalidSignatureException") => Ok(false),
            Err(e) => Err(map_sdk_error(&e, key_id, None)),
        }
    }

    /// The DER `SubjectPublicKeyInfo` of an asymmetric key (`GetPublicKey`).
    pub async fn public_key(&self, key_id: &str) -> Result<KmsPublicKey> {
        let out =
            self.client.get_public_key().key_id(key_id).send().await.map_err(|e| map_sdk_error(&e, key_id, None))?;
        let der = out.public_key.map(Blob::into_inner).ok_or_else(|| Error::Kms {
            code: "GetPublicKey".into(),
            message: format!("GetPublicKey of {key_id} returned no key"),
            retryable: false,
        })?;
        Ok(KmsPublicKey { key_id: out.key_id.unwrap_or_else(|| key_id.to_owned()), der })
    }

    async fn expected_arn(&self, expected: Option<&str>) -> Result<Option<String>> {
        match expected {
            None => Ok(None),
            Some(e) if e.starts_with("local:") => Err(Error::WrongKey {
                expected: e.to_owned(),
                found: "a KMS-wrapped data key (the KMS keyring cannot use a local key)".into(),
            }),
            Some(e) if is_alias(e) => self.resolve_key(e).await.map(Some),
            Some(e) => Ok(Some(e.trim().to_owned())),
        }
    }
}

fn to_sdk_context(context: &EncryptionContext) -> Option<HashMap<String, String>> {
    if context.is_empty() {
        None
    } else {
        Some(context.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
    }
}

impl Keyring for KmsKeyring {
    async fn generate_data_key(&self, key_id: &str, context: &EncryptionContext) -> Result<GeneratedKey> {
        let out = self
            .client
            .generate_data_key()
            .key_id(key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(to_sdk_context(context))
            .send()
            .await
            .map_err(|e| map_sdk_error(&e, key_id, None))?;
        let missing = |what: &str| Error::Kms {
            code: "GenerateDataKey".into(),
            message: format!("GenerateDataKey with {key_id} returned no {what}"),
            retryable: false,
        };
        // Take the plaintext first so it is zeroized whatever else is missing.
        let key = DataKey::try_from_vec(out.plaintext.map(Blob::into_inner).ok_or_else(|| missing("Plaintext"))?)?;
        let wrapped = out.ciphertext_blob.map(Blob::into_inner).ok_or_else(|| missing("CiphertextBlob"))?;
        let key_arn = out.key_id.ok_or_else(|| missing("KeyId"))?;
        // A caller that named a key ARN or key id must get exactly that key.
        if !is_alias(key_id) && !key_matches(key_id, &key_arn) {
            return Err(Error::WrongKey { expected: key_id.to_owned(), found: key_arn });
        }
        Ok(GeneratedKey { key, wrapped, key_arn })
    }

    async fn decrypt_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
        expected_key_id: Option<&str>,
    ) -> Result<UnwrappedKey> {
        let expected = self.expected_arn(expected_key_id).await?;
        let out = self
            .client
            .decrypt()
            .ciphertext_blob(Blob::new(wrapped.to_vec()))
            .set_encryption_context(to_sdk_context(context))
            .set_key_id(expected.clone())
            .send()
            .await
            .map_err(|e| map_sdk_error(&e, expected_key_id.unwrap_or("unknown"), expected_key_id))?;
        let key = DataKey::try_from_vec(out.plaintext.map(Blob::into_inner).ok_or_else(|| Error::Kms {
            code: "Decrypt".into(),
            message: "Decrypt returned no Plaintext".into(),
            retryable: false,
        })?)?;
        let key_arn = out.key_id.ok_or_else(|| Error::Kms {
            code: "Decrypt".into(),
            message: "Decrypt returned no KeyId".into(),
            retryable: false,
        })?;
        if let Some(expected) = &expected {
            if !key_matches(expected, &key_arn) {
                return Err(Error::WrongKey { expected: expected.clone(), found: key_arn });
            }
        }
        Ok(UnwrappedKey { key, key_arn })
    }
}

/// Maps an SDK error of any KMS operation to an [`envelope::Error`] (see the module docs).
/// `key_id` names the key the call was about; `expected` is the expected key sent as `KeyId`,
/// if one was.
pub fn map_sdk_error<E, R>(err: &SdkError<E, R>, key_id: &str, expected: Option<&str>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HttpStatus,
{
    match err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status_code();
            classify(ctx.err().code(), ctx.err().message(), Some(status), key_id, expected)
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => Error::Kms {
            code: "transport".into(),
            message: aws_sdk_kms::error::DisplayErrorContext(err).to_string(),
            retryable: true,
        },
        _ => Error::Kms {
            code: "client".into(),
            message: aws_sdk_kms::error::DisplayErrorContext(err).to_string(),
            retryable: false,
        },
    }
}

/// The HTTP status of a raw response (implemented for the SDK's response type).
pub trait HttpStatus {
    /// The status code.
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_kms::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// The mapping of a KMS error code (and HTTP status) to an error kind; see the module docs.
pub fn classify(
    code: Option<&str>,
    message: Option<&str>,
    status: Option<u16>,
    key_id: &str,
    expected: Option<&str>,
) -> Error {
    let message = message.unwrap_or_default().to_owned();
    let code = code.unwrap_or_default();
    match code {
        "AccessDeniedException" | "DisabledException" | "KMSInvalidStateException" | "InvalidGrantTokenException" => {
            let mut message = format!("{code}: {message}");
            if code == "AccessDeniedException" && expected.is_some() {
                message.push_str(
                    " (with an expected key sent as KeyId this can also mean the data key is wrapped under \
                     another key: moto, and AWS for keys the caller has no access to, report it this way)",
                );
            }
            Error::KmsDenied { key_id: key_id.to_owned(), message }
        }
        "IncorrectKeyException" => Error::WrongKey {
            expected: expected.unwrap_or(key_id).to_owned(),
            found: format!("a data key wrapped under another KMS key (IncorrectKeyException: {message})"),
        },
        "InvalidCiphertextException" => Error::ContextMismatch {
            detail: format!(
                "KMS InvalidCiphertextException: the encryption context differs from the one the data key \
                 was wrapped with, or the wrapped key is corrupt (KMS does not say which): {message}"
            ),
        },
        "NotFoundException" => Error::KeyNotFound { key_id: key_id.to_owned() },
        "ThrottlingException" | "LimitExceededException" | "TooManyRequestsException" | "RequestLimitExceeded" => {
            Error::KmsThrottled { message: format!("{code}: {message}") }
        }
        _ if status == Some(429) => Error::KmsThrottled { message: format!("HTTP 429 {code}: {message}") },
        "KMSInternalException" | "DependencyTimeoutException" | "KeyUnavailableException" => {
            Error::Kms { code: code.to_owned(), message, retryable: true }
        }
        _ => Error::Kms {
            code: if code.is_empty() { format!("HTTP {}", status.unwrap_or(0)) } else { code.to_owned() },
            message,
            retryable: status.is_some_and(|s| s >= 500),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envelope::ErrorKind;

    #[test]
    fn error_codes_map_to_kinds() {
        let k = |code: &str, status: u16| classify(Some(code), Some("m"), Some(status), "k", Some("arn:k")).kind();
        assert_eq!(k("AccessDeniedException", 400), ErrorKind::KmsDenied);
        assert_eq!(k("DisabledException", 400), ErrorKind::KmsDenied);
        assert_eq!(k("KMSInvalidStateException", 400), ErrorKind::KmsDenied);
        assert_eq!(k("IncorrectKeyException", 400), ErrorKind::WrongKey);
        assert_eq!(k("InvalidCiphertextException", 400), ErrorKind::ContextMismatch);
        assert_eq!(k("NotFoundException", 400), ErrorKind::KeyNotFound);
        assert_eq!(k("ThrottlingException", 400), ErrorKind::KmsThrottled);
        assert_eq!(k("Whatever", 429), ErrorKind::KmsThrottled);
        assert!(classify(Some("ThrottlingException"), None, Some(400), "k", None).is_retryable());
        let internal = classify(Some("KMSInternalException"), None, Some(500), "k", None);
        assert_eq!(internal.kind(), ErrorKind::Kms);
        assert!(internal.is_retryable());
        assert!(classify(None, None, Some(503), "k", None).is_retryable());
        assert!(!classify(Some("ValidationException"), None, Some(400), "k", None).is_retryable());
        let denied = classify(Some("AccessDeniedException"), Some("no"), Some(400), "k", Some("arn:k")).to_string();
        assert!(denied.contains("another key"), "{denied}");
    }

    #[test]
    fn alias_detection() {
        assert!(is_alias("alias/data"));
        assert!(is_alias("arn:aws:kms:us-east-1:111122223333:alias/data"));
        assert!(!is_alias("arn:aws:kms:us-east-1:111122223333:key/1234"));
        assert!(!is_alias("1234abcd"));
    }
}

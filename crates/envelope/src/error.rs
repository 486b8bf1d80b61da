//! The crate's error type.
//!
//! Every variant names one distinct way an object can fail to verify, so a report (and a test)
//! can tell them apart by [`ErrorKind`] instead of parsing messages. No variant ever carries key
//! material: messages name keys by ARN / id / check value only.

use serde::{Deserialize, Serialize};

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while detecting, unwrapping, decrypting or verifying an object.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The data key is wrapped under a different key than expected, the keyring holds a
    /// different key, or the key a keyring (KMS) says it used is not the expected one.
    #[error("wrong key: expected {expected}, found {found}")]
    WrongKey {
        /// The key that was expected (ARN, key id or `local:<name>`).
        expected: String,
        /// The key that was actually found or reported.
        found: String,
    },

    /// The wrapped data key did not authenticate under the encryption context supplied (the
    /// context was changed, or the wrapped key blob was corrupted; KMS reports both as
    /// `InvalidCiphertextException`, and so does the local keyring).
    #[error("encryption context mismatch: {detail}")]
    ContextMismatch {
        /// What was checked.
        detail: String,
    },

    /// AES-GCM authentication of the body failed: the body, IV/nonce or tag was altered (or a
    /// different data key was used). No plaintext is released.
    #[error(
        "authentication failed: the body, IV or tag was altered, or the data key is not the one it was sealed with"
    )]
    Authentication,

    /// A metadata entry is present but unusable.
    #[error("malformed metadata {field}: {reason}")]
    MalformedMetadata {
        /// Metadata name (lowercase, without `x-amz-meta-`).
        field: String,
        /// Why it is unusable.
        reason: String,
    },

    /// A metadata entry the format needs is absent.
    #[error("missing metadata {field}: {reason}")]
    MissingMetadata {
        /// Metadata name (lowercase, without `x-amz-meta-`).
        field: String,
        /// Context for the reader.
        reason: String,
    },

    /// Content or key-wrapping algorithm this crate does not implement (e.g. `AES/CBC/PKCS5Padding`,
    /// wrap algorithm `kms` or `RSA-OAEP-SHA1`, a tag length other than 128).
    #[error("unsupported algorithm: {what}")]
    UnsupportedAlgorithm {
        /// The algorithm and where it was named.
        what: String,
    },

    /// A recognised envelope format this crate does not read (S3 Encryption Client v1, or the
    /// key-committing v3 metadata format).
    #[error("unsupported format: {what}")]
    UnsupportedFormat {
        /// The format and how it was recognised.
        what: String,
    },

    /// The wrapped data key blob is structurally invalid for the keyring that was asked to
    /// unwrap it (wrong length or version; e.g. a KMS blob handed to the local keyring).
    #[error("invalid wrapped data key: {reason}")]
    InvalidWrappedKey {
        /// Why.
        reason: String,
    },

    /// The keyring does not hold (or cannot find) the key named for a new data key.
    #[error("key not found: {key_id}")]
    KeyNotFound {
        /// The key asked for.
        key_id: String,
    },

    /// KMS refused the call (`AccessDeniedException`, a disabled key, a key policy or grant that
    /// does not allow it).
    #[error("KMS denied access to {key_id}: {message}")]
    KmsDenied {
        /// The key the call named (or `unknown`).
        key_id: String,
        /// KMS's message.
        message: String,
    },

    /// KMS throttled the call (`ThrottlingException`, request-rate quota). Retryable.
    #[error("KMS throttled the request: {message}")]
    KmsThrottled {
        /// KMS's message.
        message: String,
    },

    /// Any other KMS or transport failure; `retryable` says whether trying again may help.
    #[error("KMS error {code}: {message}")]
    Kms {
        /// KMS error code (e.g. `KMSInternalException`, `NotFoundException`) or `transport`.
        code: String,
        /// KMS's message.
        message: String,
        /// Whether a retry may succeed.
        retryable: bool,
    },

    /// The body is larger than the in-memory bound ([`crate::DEFAULT_MAX_BODY_BYTES`] unless
    /// configured).
    #[error("body of {size} bytes exceeds the in-memory bound of {limit} bytes")]
    BodyTooLarge {
        /// Body size.
        size: u64,
        /// Configured bound.
        limit: u64,
    },

    /// The body is shorter than the format requires (or than the length recorded in metadata).
    #[error("body truncated: {len} bytes, at least {min} required")]
    Truncated {
        /// Actual body length.
        len: u64,
        /// Minimum length the format (or the recorded plaintext length) requires.
        min: u64,
    },

    /// The caller's encryption context cannot be used (e.g. it uses a reserved entry).
    #[error("invalid encryption context: {reason}")]
    InvalidContext {
        /// Why.
        reason: String,
    },

    /// A local key file could not be parsed or is invalid (the message never includes key bytes).
    #[error("invalid key file {path}: {reason}")]
    KeyFile {
        /// Path (or `<memory>`).
        path: String,
        /// Why.
        reason: String,
    },

    /// A sidecar metadata file (`F.meta.json`) could not be parsed.
    #[error("invalid sidecar metadata: {reason}")]
    InvalidSidecar {
        /// Why.
        reason: String,
    },

    /// A `sha256sum`-format manifest line could not be parsed.
    #[error("invalid manifest line {line}: {reason}")]
    InvalidManifest {
        /// 1-based line number.
        line: usize,
        /// Why.
        reason: String,
    },

    /// File I/O failed (key files only; the crate does no other I/O).
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// The operating system's random number generator or the AEAD backend failed.
    #[error("crypto backend failure: {reason}")]
    Backend {
        /// Why.
        reason: String,
    },
}

/// The kind of an [`Error`], without its details: stable, comparable, serializable
/// (kebab-case, e.g. `"wrong-key"`), used in reports and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::WrongKey`]
    WrongKey,
    /// [`Error::ContextMismatch`]
    ContextMismatch,
    /// [`Error::Authentication`]
    Authentication,
    /// [`Error::MalformedMetadata`]
    MalformedMetadata,
    /// [`Error::MissingMetadata`]
    MissingMetadata,
    /// [`Error::UnsupportedAlgorithm`]
    UnsupportedAlgorithm,
    /// [`Error::UnsupportedFormat`]
    UnsupportedFormat,
    /// [`Error::InvalidWrappedKey`]
    InvalidWrappedKey,
    /// [`Error::KeyNotFound`]
    KeyNotFound,
    /// [`Error::KmsDenied`]
    KmsDenied,
    /// [`Error::KmsThrottled`]
    KmsThrottled,
    /// [`Error::Kms`]
    Kms,
    /// [`Error::BodyTooLarge`]
    BodyTooLarge,
    /// [`Error::Truncated`]
    Truncated,
    /// [`Error::InvalidContext`]
    InvalidContext,
    /// [`Error::KeyFile`]
    KeyFile,
    /// [`Error::InvalidSidecar`]
    InvalidSidecar,
    /// [`Error::InvalidManifest`]
    InvalidManifest,
    /// [`Error::Io`]
    Io,
    /// [`Error::Backend`]
    Backend,
}

impl ErrorKind {
    /// The kebab-case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::WrongKey => "wrong-key",
            ErrorKind::ContextMismatch => "context-mismatch",
            ErrorKind::Authentication => "authentication",
            ErrorKind::MalformedMetadata => "malformed-metadata",
            ErrorKind::MissingMetadata => "missing-metadata",
            ErrorKind::UnsupportedAlgorithm => "unsupported-algorithm",
            ErrorKind::UnsupportedFormat => "unsupported-format",
            ErrorKind::InvalidWrappedKey => "invalid-wrapped-key",
            ErrorKind::KeyNotFound => "key-not-found",
            ErrorKind::KmsDenied => "kms-denied",
            ErrorKind::KmsThrottled => "kms-throttled",
            ErrorKind::Kms => "kms",
            ErrorKind::BodyTooLarge => "body-too-large",
            ErrorKind::Truncated => "truncated",
            ErrorKind::InvalidContext => "invalid-context",
            ErrorKind::KeyFile => "key-file",
            ErrorKind::InvalidSidecar => "invalid-sidecar",
            ErrorKind::InvalidManifest => "invalid-manifest",
            ErrorKind::Io => "io",
            ErrorKind::Backend => "backend",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// The variant, without details.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::WrongKey { .. } => ErrorKind::WrongKey,
            Error::ContextMismatch { .. } => ErrorKind::ContextMismatch,
            Error::Authentication => ErrorKind::Authentication,
            Error::MalformedMetadata { .. } => ErrorKind::MalformedMetadata,
            Error::MissingMetadata { .. } => ErrorKind::MissingMetadata,
            Error::UnsupportedAlgorithm { .. } => ErrorKind::UnsupportedAlgorithm,
            Error::UnsupportedFormat { .. } => ErrorKind::UnsupportedFormat,
            Error::InvalidWrappedKey { .. } => ErrorKind::InvalidWrappedKey,
            Error::KeyNotFound { .. } => ErrorKind::KeyNotFound,
            Error::KmsDenied { .. } => ErrorKind::KmsDenied,
            Error::KmsThrottled { .. } => ErrorKind::KmsThrottled,
            Error::Kms { .. } => ErrorKind::Kms,
            Error::BodyTooLarge { .. } => ErrorKind::BodyTooLarge,
            Error::Truncated { .. } => ErrorKind::Truncated,
            Error::InvalidContext { .. } => ErrorKind::InvalidContext,
            Error::KeyFile { .. } => ErrorKind::KeyFile,
            Error::InvalidSidecar { .. } => ErrorKind::InvalidSidecar,
            Error::InvalidManifest { .. } => ErrorKind::InvalidManifest,
            Error::Io { .. } => ErrorKind::Io,
            Error::Backend { .. } => ErrorKind::Backend,
        }
    }

    /// Whether trying the same call again may succeed: KMS throttling, and KMS/transport errors
    /// marked retryable. Everything else (tampering, wrong key, denial) is final.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::KmsThrottled { .. } => true,
            Error::Kms { retryable, .. } => *retryable,
            _ => false,
        }
    }

    pub(crate) fn malformed(field: &str, reason: impl Into<String>) -> Self {
        Error::MalformedMetadata { field: field.to_owned(), reason: reason.into() }
    }

    pub(crate) fn missing(field: &str, reason: impl Into<String>) -> Self {
        Error::MissingMetadata { field: field.to_owned(), reason: reason.into() }
    }
}

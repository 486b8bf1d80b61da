//! Errors of digest-file validation.

use chrono::{DateTime, Utc};

/// What a [`TrailObjects`](super::TrailObjects) implementation returns when it cannot list or
/// read an object: its own error, boxed (an `std::io::Error`, an S3 SDK error, …).
pub type StoreError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why digest validation (or one of its building blocks) failed.
///
/// Integrity findings — a changed log file, a bad signature, a broken chain — are *not* errors:
/// they are statuses in the [`IntegrityReport`](super::IntegrityReport). An error means the
/// validation itself could not be carried out (the store failed, the input is unusable).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The object store failed to list a prefix or read an object. Not an integrity finding:
    /// a transient failure must not be reported as tampering, so validation stops instead.
    #[error("cannot read {key} from the trail store: {source}")]
    Store {
        /// The key (or listing prefix) that failed.
        key: String,
        /// The store's own error.
        #[source]
        source: StoreError,
    },
    /// A digest file could not be decompressed, is not JSON, or lacks a required field.
    #[error("malformed digest file {object}: {reason}")]
    Malformed {
        /// The digest object.
        object: String,
        /// What is wrong, with the byte or line/column position when known.
        reason: String,
    },
    /// A digest file's signature is absent, not hex, made with an unsupported algorithm, made
    /// with a key that is not in the public-key list, or does not verify.
    #[error("digest file {object} has a bad signature: {reason}")]
    Signature {
        /// The digest object.
        object: String,
        /// Why the signature was rejected.
        reason: String,
    },
    /// The public-key list is not what `aws cloudtrail list-public-keys` prints, or one of its
    /// keys is not a usable RSA public key.
    #[error("invalid public key list: {reason}")]
    PublicKeys {
        /// What is wrong (names the key's fingerprint when one is at fault).
        reason: String,
    },
    /// The requested time range is empty (start after end).
    #[error("invalid time range: start {start} is after end {end}")]
    InvalidRange {
        /// Requested start.
        start: DateTime<Utc>,
        /// Requested end.
        end: DateTime<Utc>,
    },
}

impl DigestError {
    pub(crate) fn store(key: impl Into<String>, source: StoreError) -> Self {
        DigestError::Store { key: key.into(), source }
    }
}

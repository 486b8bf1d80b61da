//! CloudTrail log-file integrity: digest files, their signatures and chain, and the log files
//! they vouch for.
//!
//! Every hour CloudTrail delivers a digest file listing the log files it delivered in that hour
//! with the SHA-256 of each (uncompressed), and the hash and signature of the previous digest.
//! The digest's own signature (RSA PKCS #1 v1.5 over SHA-256, `SHA256withRSA`) is in the S3
//! object's user metadata: `x-amz-meta-signature` (hex) and `x-amz-meta-signature-algorithm`.
//! [`validate_trail`] checks a trail the way `aws cloudtrail validate-logs` and the CloudTrail
//! User Guide ("Custom implementations of CloudTrail log file integrity validation") describe,
//! and adds the checks an offline audit needs (log files no digest covers, skipped digests).
//!
//! The crate does no I/O: the trail is read through [`TrailObjects`] (implemented elsewhere for
//! a local folder and for S3; [`MemoryObjects`] here). For a local folder the S3 metadata lives
//! in a sidecar `<object>.meta.json`:
//! `{"metadata": {"signature": "<hex>", "signature-algorithm": "SHA256withRSA"}, …}`.
//!
//! Public keys come from CloudTrail `ListPublicKeys`, or from the JSON `aws cloudtrail
//! list-public-keys` prints ([`PublicKeyList::from_list_public_keys_json`]). The key that
//! signed a digest is the one whose `Fingerprint` equals the digest's
//! `digestPublicKeyFingerprint` (CloudTrail does not document how the fingerprint is computed,
//! so it is matched, not recomputed).
//!
//! ```no_run
//! use trail::digest::{validate_trail, MemoryObjects, PublicKeyList, ValidationOptions};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let keys = PublicKeyList::from_list_public_keys_json(&std::fs::read_to_string("public-keys.json")?)?;
//! let store = MemoryObjects::new(); // or the local-folder / S3 store
//! let start = "2024-03-01T00:00:00Z".parse()?;
//! let end = "2024-03-02T00:00:00Z".parse()?;
//! let report = validate_trail(&store, &keys, &ValidationOptions::new(start, end))?;
//! println!("{}", serde_json::to_string_pretty(&report)?);
//! assert!(report.is_valid());
//! # Ok(()) }
//! ```

mod error;
mod file;
mod keys;
mod objects;
mod paths;
mod report;
mod validate;

pub use error::{DigestError, StoreError};
pub use file::{
    gunzip_digest, sha256_hex, string_to_sign, uncompressed_sha256, DigestFile, DigestLogFile,
    DEFAULT_MAX_DIGEST_BYTES, HASH_ALGORITHM,
};
pub use keys::{PublicKey, PublicKeyList};
pub use objects::{
    MemoryObjects, TrailObject, TrailObjects, TrailOrigin, SIGNATURE_ALGORITHM, SIGNATURE_ALGORITHM_METADATA,
    SIGNATURE_METADATA,
};
pub use report::{CoveredRange, DigestResult, DigestStatus, IntegrityReport, LogFileResult, LogFileStatus, Summary};
pub use validate::{validate_trail, ValidationOptions};

/// Verifies one digest on its own (no chain, no log files): parses its uncompressed bytes,
/// checks the signature algorithm and verifies `signature_hex` (the `signature` metadata) with
/// the key its `digestPublicKeyFingerprint` names. Returns the parsed digest.
///
/// # Errors
/// [`DigestError::Malformed`] when the bytes are not a digest; [`DigestError::Signature`] when
/// the key is unknown or the signature does not verify.
pub fn verify_digest(
    object: &str,
    uncompressed: &[u8],
    signature_hex: &str,
    keys: &PublicKeyList,
) -> Result<DigestFile, DigestError> {
    let file = DigestFile::from_json(object, uncompressed)?;
    let bad = |reason: String| DigestError::Signature { object: object.to_owned(), reason };
    if let Some(algorithm) = &file.digest_signature_algorithm {
        if algorithm != SIGNATURE_ALGORITHM {
            return Err(bad(format!("digestSignatureAlgorithm {algorithm:?} is not {SIGNATURE_ALGORITHM}")));
        }
    }
    let fingerprint = &file.digest_public_key_fingerprint;
    let key = keys
        .get(fingerprint)
        .ok_or_else(|| bad(format!("no public key with fingerprint {fingerprint} in the public key list")))?;
    let message = file.string_to_sign(&sha256_hex(uncompressed));
    key.verify(message.as_bytes(), signature_hex).map_err(bad)?;
    Ok(file)
}

#[cfg(test)]
mod vector_tests;

//! Envelope encryption for S3 objects, keyrings, and the logic that verifies objects are
//! encrypted under the expected KMS key.
//!
//! # Formats
//!
//! Metadata maps are S3 user metadata as the SDKs return it: names lowercase, without the
//! `x-amz-meta-` prefix. AES-256-GCM throughout, 12-byte IV, 16-byte tag, no AAD on bodies.
//!
//! **simple** ([`Format::Simple`])
//! * body = 12-byte nonce ‖ ciphertext ‖ 16-byte tag;
//! * `x-amz-key` = hex of the wrapped data key (the KMS `CiphertextBlob`, or a
//!   [local-keyring](LocalKeyring) blob);
//! * `x-amz-context` (optional) = the encryption context as a JSON object of strings (written
//!   in [canonical form](EncryptionContext::canonical_json); absent means `{}`).
//!
//! It is recognised only when `x-amz-key` is non-empty even-length hex and no S3 Encryption
//! Client name is present, because `x-amz-key` is also the legacy v1 client's name (base64
//! with `x-amz-iv`; reported as unsupported). See [`detect`].
//!
//! **S3 Encryption Client v2** ([`Format::S3ecV2`]), as the official Java/Go/.NET clients write
//! it with a KMS keyring:
//! * body = ciphertext ‖ 16-byte tag;
//! * `x-amz-key-v2` = base64 `CiphertextBlob`; `x-amz-iv` = base64 of the 12-byte IV;
//! * `x-amz-cek-alg` = `AES/GCM/NoPadding`; `x-amz-wrap-alg` = `kms+context`;
//!   `x-amz-tag-len` = `128`;
//! * `x-amz-matdesc` = JSON of the full KMS encryption context, which includes
//!   `aws:x-amz-cek-alg` = `AES/GCM/NoPadding` (the clients add it, and KMS sees it);
//! * `x-amz-unencrypted-content-length` (optional; written here, as the Go client does).
//!
//! Data keys wrapped by the local keyring are recorded with `x-amz-wrap-alg` =
//! `kms-audit-local+context` so that no one mistakes them for KMS blobs. Instruction files
//! (metadata stored in a separate `.instruction` object), CBC content and the key-committing
//! v3 metadata are not supported and are reported as such.
//!
//! Server-side modes (SSE-KMS, SSE-S3, none) are classified by [`verify`].
//!
//! # Threat model
//!
//! The verifier proves that an object's data key is wrapped by an expected key and that the
//! body authenticates under it. Bodies, IVs, tags, metadata and wrapped keys are attacker
//! controllable: every field is parsed strictly, any tampering yields a typed [`Error`]
//! ([`ErrorKind`] tells them apart) and never plaintext. GCM gives no key commitment, so the
//! guarantee is "authentic under the key the keyring released", which is exactly what is
//! checked. Data keys and wrapping keys are [`DataKey`]s: heap-held, zeroized on drop, never
//! printed (`Debug` is redacted, no `Display`/`Serialize`); no error message contains key
//! bytes. Plaintext is held in ordinary `Vec`s. Encryption contexts are not secret (KMS logs
//! them in CloudTrail).
//!
//! Bodies are processed whole in memory; the bound is [`DEFAULT_MAX_BODY_BYTES`] (1 GiB),
//! configurable in [`Options`]; larger bodies fail with [`Error::BodyTooLarge`] before any key
//! is unwrapped.
//!
//! # Keyrings
//!
//! [`Keyring`] is an async trait without a runtime dependency. [`LocalKeyring`] (a wrapping key
//! in a file; format in [`local`]) is implemented here; the KMS keyring lives in the `aws`
//! crate. [`Retrying`] adds backoff on throttling given a sleep function.
//!
//! # AEAD backends
//!
//! RustCrypto `aes-gcm` by default; with the cargo feature `aws-lc`, aws-lc-rs as well (and as
//! the default). Both are selectable at run time via [`aead::Backend`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod aead;
mod context;
mod error;
mod format;
mod key;
mod keyring;
pub mod local;
mod object;
mod retry;
pub mod sidecar;
pub mod verify;

pub use context::EncryptionContext;
pub use error::{Error, ErrorKind, Result};
pub use format::{
    detect, kms_context, names, seal, Envelope, Format, SealMaterials, CEK_ALG_AES_GCM, CONTEXT_CEK_ALG_KEY,
    WRAP_ALG_KMS_CONTEXT, WRAP_ALG_LOCAL_CONTEXT,
};
pub use key::DataKey;
pub use keyring::{key_id_of, key_matches, GeneratedKey, Keyring, UnwrappedKey};
pub use local::LocalKeyring;
pub use object::{
    decrypt_object, decrypt_object_with, encrypt_object, encrypt_object_with, Decrypted, Encrypted, Options,
    DEFAULT_MAX_BODY_BYTES,
};
pub use retry::{retry, RetryPolicy, Retrying};
pub use sidecar::{read_sidecar, sidecar_path, write_sidecar, ObjectMeta};
pub use verify::{
    sample, verify_object, DecryptCall, Manifest, ObjectReport, ObjectUnderTest, ReportFormat, Verdict,
    VerificationReport, VerifyPolicy,
};

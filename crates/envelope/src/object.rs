//! Whole-object encryption and decryption through a keyring.

use std::collections::BTreeMap;

use rand::TryRngCore;

use crate::aead::{Backend, NONCE_LEN};
use crate::context::EncryptionContext;
use crate::error::{Error, Result};
use crate::format::{self, names, Envelope, Format, SealMaterials};
use crate::keyring::{key_matches, Keyring};

/// Default in-memory bound on a stored body: 1 GiB. Bodies are processed whole; a larger object
/// is refused with [`Error::BodyTooLarge`] before any key is unwrapped.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1 << 30;

/// Tunables for sealing and opening.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// AES-GCM implementation.
    pub backend: Backend,
    /// Largest stored body accepted (plaintext + format overhead).
    pub max_body_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options { backend: Backend::default(), max_body_bytes: DEFAULT_MAX_BODY_BYTES }
    }
}

/// An encrypted object, ready to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encrypted {
    /// User metadata to store with it (lowercase names, without `x-amz-meta-`).
    pub metadata: BTreeMap<String, String>,
    /// The body to store.
    pub body: Vec<u8>,
    /// The key that wrapped the data key, as the keyring reported it.
    pub key_arn: String,
}

/// A decrypted, authenticated object.
///
/// `Debug` prints the plaintext's length, not its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// The envelope format it was stored in.
    pub format: Format,
    /// The key that unwrapped the data key, as the keyring reported it.
    pub key_arn: String,
    /// The encryption context sent to the keyring (for s3ec-v2 including `aws:x-amz-cek-alg`),
    /// i.e. what KMS logs in CloudTrail for the `Decrypt`.
    pub context: EncryptionContext,
}

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decrypted")
            .field("plaintext_len", &self.plaintext.len())
            .field("format", &self.format)
            .field("key_arn", &self.key_arn)
            .field("context", &self.context)
            .finish()
    }
}

/// Encrypts `plaintext` under a fresh data key from `keyring` (key `key_id`) with a random
/// nonce, in `format`, binding `context` (for s3ec-v2, plus `aws:x-amz-cek-alg`).
pub async fn encrypt_object<K: Keyring>(
    format: Format,
    keyring: &K,
    key_id: &str,
    context: &EncryptionContext,
    plaintext: &[u8],
) -> Result<Encrypted> {
    encrypt_object_with(&Options::default(), format, keyring, key_id, context, plaintext).await
}

/// [`encrypt_object`] with explicit [`Options`].
pub async fn encrypt_object_with<K: Keyring>(
    options: &Options,
    format: Format,
    keyring: &K,
    key_id: &str,
    context: &EncryptionContext,
    plaintext: &[u8],
) -> Result<Encrypted> {
    let size = plaintext.len() as u64 + 28;
    if size > options.max_body_bytes {
        return Err(Error::BodyTooLarge { size, limit: options.max_body_bytes });
    }
    let kms_context = format::kms_context(format, context)?;
    let generated = keyring.generate_data_key(key_id, &kms_context).await?;
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng
        .try_fill_bytes(&mut nonce)
        .map_err(|e| Error::Backend { reason: format!("OS random number generator: {e}") })?;
    let materials = SealMaterials {
        format,
        data_key: &generated.key,
        wrapped_key: &generated.wrapped,
        wrap_algorithm: keyring.wrap_algorithm(),
        kms_context: &kms_context,
    };
    let (metadata, body) = format::seal(&materials, nonce, plaintext, options)?;
    Ok(Encrypted { metadata, body, key_arn: generated.key_arn })
}

/// Decrypts and authenticates an object: detects the format from `metadata`, unwraps the data
/// key through `keyring` with the stored context, checks the key is `expected_key` (when
/// given, see [`key_matches`]), then opens the body. Never returns unauthenticated plaintext.
pub async fn decrypt_object<K: Keyring>(
    metadata: &BTreeMap<String, String>,
    body: &[u8],
    keyring: &K,
    expected_key: Option<&str>,
) -> Result<Decrypted> {
    decrypt_object_with(&Options::default(), metadata, body, keyring, expected_key).await
}

/// [`decrypt_object`] with explicit [`Options`].
pub async fn decrypt_object_with<K: Keyring>(
    options: &Options,
    metadata: &BTreeMap<String, String>,
    body: &[u8],
    keyring: &K,
    expected_key: Option<&str>,
) -> Result<Decrypted> {
    let envelope = prepare(options, metadata, body, keyring)?;
    let unwrapped = keyring.decrypt_data_key(&envelope.wrapped_key, &envelope.kms_context, expected_key).await?;
    check_expected(expected_key.as_slice(), &unwrapped.key_arn)?;
    let plaintext = envelope.open(&unwrapped.key, body, options)?;
    Ok(Decrypted { plaintext, format: envelope.format, key_arn: unwrapped.key_arn, context: envelope.kms_context })
}

/// Everything before the keyring call: size bound, envelope parse, body shape, and whether the
/// keyring can unwrap this wrap algorithm. Shared with `verify` so a bad object costs no unwrap.
pub(crate) fn prepare<K: Keyring>(
    options: &Options,
    metadata: &BTreeMap<String, String>,
    body: &[u8],
    keyring: &K,
) -> Result<Envelope> {
    let len = body.len() as u64;
    if len > options.max_body_bytes {
        return Err(Error::BodyTooLarge { size: len, limit: options.max_body_bytes });
    }
    let envelope = Envelope::parse(metadata)?
        .ok_or_else(|| Error::missing(names::KEY, "no client-side envelope metadata (x-amz-key or x-amz-key-v2)"))?;
    envelope.check_body(body, options)?;
    if let Some(wrap) = &envelope.wrap_algorithm {
        if wrap != keyring.wrap_algorithm() {
            return Err(Error::WrongKey {
                expected: format!("a data key wrapped with {}", keyring.wrap_algorithm()),
                found: format!("x-amz-wrap-alg {wrap}"),
            });
        }
    }
    Ok(envelope)
}

/// The keyring's reported key must be one of `expected` (no check when `expected` is empty).
pub(crate) fn check_expected<S: AsRef<str>>(expected: &[S], actual: &str) -> Result<()> {
    if expected.is_empty() || expected.iter().any(|e| key_matches(e.as_ref(), actual)) {
        return Ok(());
    }
    Err(Error::WrongKey {
        expected: expected.iter().map(|e| e.as_ref()).collect::<Vec<_>>().join(" or "),
        found: actual.to_owned(),
    })
}

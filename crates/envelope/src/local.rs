//! The local keyring: a 256-bit wrapping key in a file, the embedded default that needs no AWS.
//!
//! # Key file
//!
//! UTF-8 JSON, one object (whitespace free-form; this crate writes it pretty-printed with a
//! trailing newline, mode 0600 on Unix, and never overwrites an existing file):
//!
//! ```json
//! {
//!   "type": "kms-audit-local-key",
//!   "version": 1,
//!   "key_id": "local:<name>",
//!   "key_hex": "<64 hex digits: the 32-byte AES-256 wrapping key>"
//! }
//! ```
//!
//! `<name>` is 1–128 characters of `[A-Za-z0-9._-]`. `key_id` plays the role of the KMS key ARN:
//! it is what the keyring reports as the key that wrapped or unwrapped a data key.
//!
//! # Wrapped data key (69 bytes)
//!
//! | offset | length | content |
//! |---|---|---|
//! | 0 | 1 | version `0x01` |
//! | 1 | 8 | key check value: first 8 bytes of SHA-256(`"kms-audit/local-keyring/v1/key-check"` ‖ wrapping key) |
//! | 9 | 12 | random GCM nonce |
//! | 21 | 32 | AES-256-GCM ciphertext of the 32-byte data key under the wrapping key |
//! | 53 | 16 | GCM tag |
//!
//! The AAD is the [canonical JSON](crate::EncryptionContext::canonical_json) of the encryption
//! context as UTF-8 bytes: exactly Python's
//! `json.dumps(ctx, sort_keys=True, separators=(",", ":")).encode()` (`{}` when empty).
//!
//! Unwrapping reports: a blob of another length or version → `InvalidWrappedKey`; a check
//! value that is not this key's → `WrongKey`; a tag that does not verify (context changed or
//! blob corrupted) → `ContextMismatch`.

use std::path::Path;

use rand::TryRngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::aead::{self, Backend, NONCE_LEN, TAG_LEN};
use crate::context::EncryptionContext;
use crate::error::{Error, Result};
use crate::format::WRAP_ALG_LOCAL_CONTEXT;
use crate::key::DataKey;
use crate::keyring::{key_matches, GeneratedKey, Keyring, UnwrappedKey};

/// `type` field of a key file.
pub const KEY_FILE_TYPE: &str = "kms-audit-local-key";
/// Version byte of a wrapped blob (and `version` of a key file).
pub const WRAPPED_VERSION: u8 = 1;
/// Length of a wrapped blob.
pub const WRAPPED_LEN: usize = 1 + KCV_LEN + NONCE_LEN + DataKey::LEN + TAG_LEN;
/// Key-check-value length.
pub const KCV_LEN: usize = 8;
/// Domain-separation prefix of the key check value.
pub const KCV_DOMAIN: &[u8] = b"kms-audit/local-keyring/v1/key-check";

/// A keyring holding one AES-256 wrapping key, named `local:<name>`.
///
/// `Debug` shows the key id and check value only.
pub struct LocalKeyring {
    key_id: String,
    key: DataKey,
    kcv: [u8; KCV_LEN],
    backend: Backend,
}

impl std::fmt::Debug for LocalKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeyring")
            .field("key_id", &self.key_id)
            .field("key_check", &hex::encode(self.kcv))
            .field("backend", &self.backend)
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: String,
    version: u32,
    key_id: String,
    key_hex: String,
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        self.key_hex.zeroize();
    }
}

fn check_key_id(key_id: &str) -> std::result::Result<(), String> {
    let name = key_id.strip_prefix("local:").ok_or_else(|| format!("key id {key_id:?} must start with \"local:\""))?;
    if name.is_empty()
        || name.len() > 128
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(format!("key name {name:?} must be 1-128 characters of [A-Za-z0-9._-]"));
    }
    Ok(())
}

/// The key check value of a wrapping key (see the module docs).
pub fn key_check_value(wrapping_key: &DataKey) -> [u8; KCV_LEN] {
    let mut h = Sha256::new();
    h.update(KCV_DOMAIN);
    h.update(wrapping_key.expose_secret());
    let digest = h.finalize();
    let mut out = [0u8; KCV_LEN];
    out.copy_from_slice(&digest[..KCV_LEN]);
    out
}

impl LocalKeyring {
    /// A keyring over an existing wrapping key. `key_id` must be `local:<name>`.
    pub fn new(key_id: impl Into<String>, wrapping_key: DataKey) -> Result<Self> {
        let key_id = key_id.into();
        check_key_id(&key_id).map_err(|reason| Error::KeyFile { path: "<memory>".into(), reason })?;
        let kcv = key_check_value(&wrapping_key);
        Ok(LocalKeyring { key_id, key: wrapping_key, kcv, backend: Backend::default() })
    }

    /// A keyring with a fresh random wrapping key named `local:<name>`.
    pub fn generate(name: &str) -> Result<Self> {
        Self::new(format!("local:{name}"), DataKey::generate()?)
    }

    /// Uses `backend` for wrapping (default: [`Backend::default`]).
    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// `local:<name>`.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// This key's check value (non-secret; identifies the key in wrapped blobs).
    pub fn key_check(&self) -> [u8; KCV_LEN] {
        self.kcv
    }

    /// Parses key-file JSON. `origin` names the source in errors (a path or `<memory>`).
    pub fn from_key_file_json(text: &str, origin: &str) -> Result<Self> {
        let bad = |reason: String| Error::KeyFile { path: origin.to_owned(), reason };
        // Only the position goes into the message: serde's own text can quote input values.
        let file: KeyFile = serde_json::from_str(text).map_err(|e| {
            bad(format!("not a key file object (JSON error at line {} column {})", e.line(), e.column()))
        })?;
        if file.kind != KEY_FILE_TYPE {
            return Err(bad(format!("\"type\" must be {KEY_FILE_TYPE:?}")));
        }
        if file.version != u32::from(WRAPPED_VERSION) {
            return Err(bad(format!("unsupported version {}", file.version)));
        }
        check_key_id(&file.key_id).map_err(&bad)?;
        let hex_key = file.key_hex.trim();
        if hex_key.len() != 64 {
            return Err(bad("\"key_hex\" must be 64 hex digits".into()));
        }
        let mut raw = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(hex_key, &mut raw[..]).map_err(|_| bad("\"key_hex\" must be 64 hex digits".into()))?;
        let key = DataKey::try_from_slice(&raw[..])?;
        Self::new(file.key_id.clone(), key).map_err(|_| bad("invalid key id".into()))
    }

    /// Reads a key file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.display().to_string(), source })?,
        );
        Self::from_key_file_json(&text, &path.display().to_string())
    }

    /// The key-file JSON for this keyring (contains the key: zeroized when dropped).
    pub fn to_key_file_json(&self) -> Zeroizing<String> {
        let file = KeyFile {
            kind: KEY_FILE_TYPE.to_owned(),
            version: u32::from(WRAPPED_VERSION),
            key_id: self.key_id.clone(),
            key_hex: hex::encode(self.key.expose_secret()),
        };
        let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
        text.push('\n');
        Zeroizing::new(text)
    }

    /// Creates a new key file with a random key named `local:<name>` at `path` (fails if the
    /// file exists; mode 0600 on Unix) and returns its keyring.
    pub fn create_key_file(path: &Path, name: &str) -> Result<Self> {
        use std::io::Write as _;
        let keyring = Self::generate(name)?;
        let io = |source| Error::Io { path: path.display().to_string(), source };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(io)?;
        f.write_all(keyring.to_key_file_json().as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        Ok(keyring)
    }

    /// Wraps `data_key` under this key with a random nonce.
    pub fn wrap(&self, data_key: &DataKey, context: &EncryptionContext) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng
            .try_fill_bytes(&mut nonce)
            .map_err(|e| Error::Backend { reason: format!("OS random number generator: {e}") })?;
        self.wrap_with_nonce(data_key, context, nonce)
    }

    /// Wraps with a caller-chosen nonce: for test vectors only (a repeated nonce under one
    /// wrapping key breaks GCM).
    pub fn wrap_with_nonce(
        &self,
        data_key: &DataKey,
        context: &EncryptionContext,
        nonce: [u8; NONCE_LEN],
    ) -> Result<Vec<u8>> {
        let aad = context.canonical_json();
        let ct =
            aead::seal_raw(self.backend, self.key.expose_secret(), &nonce, aad.as_bytes(), data_key.expose_secret())?;
        let mut blob = Vec::with_capacity(WRAPPED_LEN);
        blob.push(WRAPPED_VERSION);
        blob.extend_from_slice(&self.kcv);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ct);
        debug_assert_eq!(blob.len(), WRAPPED_LEN);
        Ok(blob)
    }

    /// Unwraps a blob made by [`LocalKeyring::wrap`] under the same context.
    pub fn unwrap(&self, wrapped: &[u8], context: &EncryptionContext) -> Result<DataKey> {
        if wrapped.len() != WRAPPED_LEN {
            return Err(Error::InvalidWrappedKey {
                reason: format!(
                    "{} bytes, a local-keyring blob has {WRAPPED_LEN} (a KMS CiphertextBlob needs the KMS keyring)",
                    wrapped.len()
                ),
            });
        }
        if wrapped[0] != WRAPPED_VERSION {
            return Err(Error::InvalidWrappedKey {
                reason: format!("local-keyring blob version {} (expected 1)", wrapped[0]),
            });
        }
        let kcv = &wrapped[1..1 + KCV_LEN];
        if kcv != self.kcv {
            return Err(Error::WrongKey {
                expected: self.key_id.clone(),
                found: format!("a local key with check value {}", hex::encode(kcv)),
            });
        }
        let nonce: [u8; NONCE_LEN] = wrapped[1 + KCV_LEN..1 + KCV_LEN + NONCE_LEN]
            .try_into()
            .map_err(|_| Error::InvalidWrappedKey { reason: "short nonce".into() })?;
        let aad = context.canonical_json();
        let plain = aead::open_raw(
            self.backend,
            self.key.expose_secret(),
            &nonce,
            aad.as_bytes(),
            &wrapped[1 + KCV_LEN + NONCE_LEN..],
        )
        .map_err(|_| Error::ContextMismatch {
            detail: format!(
                "the wrapped data key does not authenticate under {} with this encryption context (context changed, or the wrapped key is corrupt)",
                self.key_id
            ),
        })?;
        DataKey::try_from_vec(plain)
    }
}

impl Keyring for LocalKeyring {
    async fn generate_data_key(&self, key_id: &str, context: &EncryptionContext) -> Result<GeneratedKey> {
        if !key_matches(key_id, &self.key_id) {
            return Err(Error::KeyNotFound { key_id: format!("{key_id} (this local keyring holds {})", self.key_id) });
        }
        let key = DataKey::generate()?;
        let wrapped = self.wrap(&key, context)?;
        Ok(GeneratedKey { key, wrapped, key_arn: self.key_id.clone() })
    }

    async fn decrypt_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
        expected_key_id: Option<&str>,
    ) -> Result<UnwrappedKey> {
        if let Some(expected) = expected_key_id {
            if !key_matches(expected, &self.key_id) {
                return Err(Error::WrongKey { expected: expected.to_owned(), found: self.key_id.clone() });
            }
        }
        let key = self.unwrap(wrapped, context)?;
        Ok(UnwrappedKey { key, key_arn: self.key_id.clone() })
    }

    fn wrap_algorithm(&self) -> &str {
        WRAP_ALG_LOCAL_CONTEXT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn wrap_unwrap_and_errors() {
        let kr = LocalKeyring::generate("t").unwrap();
        let other = LocalKeyring::generate("t").unwrap();
        let dk = DataKey::generate().unwrap();
        let mut ctx = EncryptionContext::new();
        ctx.insert("a", "1");
        let blob = kr.wrap(&dk, &ctx).unwrap();
        assert_eq!(blob.len(), WRAPPED_LEN);
        assert_eq!(kr.unwrap(&blob, &ctx).unwrap().expose_secret(), dk.expose_secret());
        assert_eq!(other.unwrap(&blob, &ctx).unwrap_err().kind(), ErrorKind::WrongKey);
        let mut ctx2 = ctx.clone();
        ctx2.insert("a", "2");
        assert_eq!(kr.unwrap(&blob, &ctx2).unwrap_err().kind(), ErrorKind::ContextMismatch);
        assert_eq!(kr.unwrap(&blob[..60], &ctx).unwrap_err().kind(), ErrorKind::InvalidWrappedKey);
        let mut v = blob;
        v[0] = 2;
        assert_eq!(kr.unwrap(&v, &ctx).unwrap_err().kind(), ErrorKind::InvalidWrappedKey);
    }

    #[test]
    fn key_file_roundtrip_and_validation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let kr = LocalKeyring::create_key_file(&path, "dev-1").unwrap();
        assert!(LocalKeyring::create_key_file(&path, "dev-1").is_err());
        let loaded = LocalKeyring::load(&path).unwrap();
        assert_eq!(loaded.key_id(), "local:dev-1");
        assert_eq!(loaded.key_check(), kr.key_check());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        for bad in [
            "",
            "{}",
            r#"{"type":"x","version":1,"key_id":"local:a","key_hex":"00"}"#,
            r#"{"type":"kms-audit-local-key","version":2,"key_id":"local:a","key_hex":"00"}"#,
            r#"{"type":"kms-audit-local-key","version":1,"key_id":"a","key_hex":"00"}"#,
            r#"{"type":"kms-audit-local-key","version":1,"key_id":"local:a/b","key_hex":"00"}"#,
            r#"{"type":"kms-audit-local-key","version":1,"key_id":"local:a","key_hex":"00"}"#,
        ] {
            let err = LocalKeyring::from_key_file_json(bad, "<t>").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::KeyFile, "{bad}");
        }
        // A key file error never echoes the key.
        let secret = "ab".repeat(31) + "zz";
        let text = format!(r#"{{"type":"kms-audit-local-key","version":1,"key_id":"local:a","key_hex":"{secret}"}}"#);
        let msg = LocalKeyring::from_key_file_json(&text, "<t>").unwrap_err().to_string();
        assert!(!msg.contains("abab"), "{msg}");
        let text = r#"{"type":"kms-audit-local-key","version":1,"key_id":"local:a","key_hex":12345678901}"#;
        let msg = LocalKeyring::from_key_file_json(text, "<t>").unwrap_err().to_string();
        assert!(!msg.contains("12345678901"), "{msg}");
    }

    #[test]
    fn debug_shows_no_key() {
        let kr = LocalKeyring::new("local:x", DataKey::from_array([0x5a; 32])).unwrap();
        let dbg = format!("{kr:?}");
        assert!(dbg.contains("local:x"));
        assert!(!dbg.contains("5a5a"), "{dbg}");
    }
}

//! AES-256-GCM with a 12-byte nonce and a 16-byte tag, from one of two backends.
//!
//! [`Backend::RustCrypto`] (the `aes-gcm` crate, pure Rust, uses AES-NI/CLMUL when the CPU has
//! them) is always compiled. With the cargo feature `aws-lc`, [`Backend::AwsLc`] (aws-lc-rs) is
//! compiled too and becomes the default. Both produce and accept exactly the same bytes.

use crate::error::{Error, Result};
use crate::key::DataKey;

/// Nonce (IV) length in bytes.
pub const NONCE_LEN: usize = 12;
/// Authentication tag length in bytes.
pub const TAG_LEN: usize = 16;

/// Which AES-GCM implementation to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// RustCrypto `aes-gcm`.
    RustCrypto,
    /// aws-lc-rs (feature `aws-lc`).
    #[cfg(feature = "aws-lc")]
    AwsLc,
}

impl Default for Backend {
    /// `AwsLc` when the `aws-lc` feature is on, else `RustCrypto`.
    fn default() -> Self {
        #[cfg(feature = "aws-lc")]
        {
            Backend::AwsLc
        }
        #[cfg(not(feature = "aws-lc"))]
        {
            Backend::RustCrypto
        }
    }
}

impl Backend {
    /// Every backend compiled into this build.
    pub fn available() -> &'static [Backend] {
        #[cfg(feature = "aws-lc")]
        {
            &[Backend::RustCrypto, Backend::AwsLc]
        }
        #[cfg(not(feature = "aws-lc"))]
        {
            &[Backend::RustCrypto]
        }
    }

    /// Short name: `rustcrypto` or `aws-lc`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::RustCrypto => "rustcrypto",
            #[cfg(feature = "aws-lc")]
            Backend::AwsLc => "aws-lc",
        }
    }
}

/// Encrypts `plaintext`; returns ciphertext ‖ tag.
///
/// Never call this twice with the same key and nonce: GCM loses both confidentiality and
/// integrity on nonce reuse. The crate's own callers always use fresh random nonces (and fresh
/// data keys); a fixed nonce is only for test vectors.
pub fn seal(backend: Backend, key: &DataKey, nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    seal_raw(backend, key.expose_secret(), nonce, aad, plaintext)
}

/// Authenticates and decrypts ciphertext ‖ tag. On any failure returns
/// [`Error::Authentication`] and releases no plaintext.
pub fn open(
    backend: Backend,
    key: &DataKey,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext_and_tag: &[u8],
) -> Result<Vec<u8>> {
    open_raw(backend, key.expose_secret(), nonce, aad, ciphertext_and_tag)
}

pub(crate) fn seal_raw(
    backend: Backend,
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    match backend {
        Backend::RustCrypto => rustcrypto::seal(key, nonce, aad, plaintext),
        #[cfg(feature = "aws-lc")]
        Backend::AwsLc => awslc::seal(key, nonce, aad, plaintext),
    }
}

pub(crate) fn open_raw(
    backend: Backend,
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext_and_tag: &[u8],
) -> Result<Vec<u8>> {
    if ciphertext_and_tag.len() < TAG_LEN {
        return Err(Error::Authentication);
    }
    match backend {
        Backend::RustCrypto => rustcrypto::open(key, nonce, aad, ciphertext_and_tag),
        #[cfg(feature = "aws-lc")]
        Backend::AwsLc => awslc::open(key, nonce, aad, ciphertext_and_tag),
    }
}

mod rustcrypto {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use aes_gcm::{Aes256Gcm, Key, Nonce};

    use super::NONCE_LEN;
    use crate::error::{Error, Result};

    pub(super) fn seal(key: &[u8; 32], nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        // The cipher's key schedule is zeroized on drop (aes-gcm's `zeroize` feature).
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
        cipher
            .encrypt(Nonce::from_slice(nonce), Payload { msg: plaintext, aad })
            .map_err(|_| Error::Backend { reason: "aes-gcm refused to encrypt (input too long)".into() })
    }

    pub(super) fn open(
        key: &[u8; 32],
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> Result<Vec<u8>> {
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
        cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext_and_tag, aad })
            .map_err(|_| Error::Authentication)
    }
}

#[cfg(feature = "aws-lc")]
mod awslc {
    use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    use zeroize::Zeroize as _;

    use super::NONCE_LEN;
    use crate::error::{Error, Result};

    fn key(key: &[u8; 32]) -> Result<LessSafeKey> {
        // aws-lc cleans its AEAD context (including the key schedule) when it is dropped.
        UnboundKey::new(&AES_256_GCM, key)
            .map(LessSafeKey::new)
            .map_err(|_| Error::Backend { reason: "aws-lc rejected the AES-256 key".into() })
    }

    pub(super) fn seal(k: &[u8; 32], nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let key = key(k)?;
        let mut buf = Vec::with_capacity(plaintext.len() + super::TAG_LEN);
        buf.extend_from_slice(plaintext);
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), &mut buf)
            .map_err(|_| Error::Backend { reason: "aws-lc refused to encrypt (input too long)".into() })?;
        Ok(buf)
    }

    pub(super) fn open(
        k: &[u8; 32],
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> Result<Vec<u8>> {
        let key = key(k)?;
        let mut buf = ciphertext_and_tag.to_vec();
        let opened = key
            .open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), &mut buf)
            .map(|plaintext| plaintext.len());
        match opened {
            Ok(len) => {
                buf.truncate(len);
                Ok(buf)
            }
            Err(_) => {
                // Whatever the buffer holds now was not authenticated: wipe it before freeing.
                buf.zeroize();
                Err(Error::Authentication)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // NIST GCM test vector (gcmEncryptExtIV256, Count 0 with 128-bit PT, from the McGrew/Viega
    // spec test case 14): key 0^256, IV 0^96, PT 0^128.
    #[test]
    fn known_answer_all_backends() {
        let key = DataKey::from_array([0; 32]);
        let nonce = [0u8; 12];
        let pt = [0u8; 16];
        let expected_ct = "cea7403d4d606b6e074ec5d3baf39d18";
        let expected_tag = "d0d1c8a799996bf0265b98b5d48ab919";
        for &b in Backend::available() {
            let out = seal(b, &key, &nonce, b"", &pt).unwrap();
            assert_eq!(hex::encode(&out[..16]), expected_ct, "{b:?}");
            assert_eq!(hex::encode(&out[16..]), expected_tag, "{b:?}");
            assert_eq!(open(b, &key, &nonce, b"", &out).unwrap(), pt);
            let mut bad = out.clone();
            bad[3] ^= 1;
            assert!(matches!(open(b, &key, &nonce, b"", &bad), Err(Error::Authentication)));
            assert!(matches!(open(b, &key, &nonce, b"x", &out), Err(Error::Authentication)));
            assert!(matches!(open(b, &key, &nonce, b"", &out[..10]), Err(Error::Authentication)));
        }
    }
}

//! Secret key material.

use rand::TryRngCore;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Error, Result};

/// A 256-bit AES key (a data key, or the local keyring's wrapping key).
///
/// The bytes live on the heap (so moves of the handle do not leave copies on the stack) and are
/// zeroized when the value is dropped. `Debug` prints `DataKey(<redacted>)`; there is
/// deliberately no `Display`, `Clone`, `Serialize` or `PartialEq`.
pub struct DataKey(Box<[u8; 32]>);

impl DataKey {
    /// Key length in bytes.
    pub const LEN: usize = 32;

    /// A fresh random key from the operating system's CSPRNG.
    pub fn generate() -> Result<Self> {
        let mut key = Box::new([0u8; 32]);
        rand::rngs::OsRng
            .try_fill_bytes(&mut key[..])
            .map_err(|e| Error::Backend { reason: format!("OS random number generator: {e}") })?;
        Ok(DataKey(key))
    }

    /// Copies the key out of `bytes`, which must be exactly 32 bytes long.
    ///
    /// The caller still owns (and should zeroize) `bytes`; prefer [`DataKey::try_from_vec`]
    /// when handing over a `Vec` (e.g. the `Plaintext` of a KMS response).
    pub fn try_from_slice(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != Self::LEN {
            return Err(Error::InvalidWrappedKey {
                reason: format!("unwrapped data key is {} bytes, expected {}", bytes.len(), Self::LEN),
            });
        }
        let mut key = Box::new([0u8; 32]);
        key.copy_from_slice(bytes);
        Ok(DataKey(key))
    }

    /// Takes the key out of `bytes` and zeroizes the vector, whatever its length.
    pub fn try_from_vec(mut bytes: Vec<u8>) -> Result<Self> {
        let key = Self::try_from_slice(&bytes);
        bytes.zeroize();
        key
    }

    /// Builds a key from an array and zeroizes the (moved-in) copy it was given.
    pub fn from_array(mut bytes: [u8; 32]) -> Self {
        let mut key = Box::new([0u8; 32]);
        key.copy_from_slice(&bytes);
        bytes.zeroize();
        DataKey(key)
    }

    /// The key bytes. Named so that every use is easy to find in review.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for DataKey {}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let key = DataKey::from_array([0xab; 32]);
        let dbg = format!("{key:?} {key:#?}");
        assert!(dbg.contains("DataKey(<redacted>)"));
        assert!(!dbg.to_lowercase().contains("ab"));
        assert!(!dbg.contains("171"));
    }

    #[test]
    fn wrong_length_rejected() {
        assert!(DataKey::try_from_slice(&[0; 16]).is_err());
        assert!(DataKey::try_from_vec(vec![1; 33]).is_err());
        assert_eq!(DataKey::try_from_vec(vec![7; 32]).unwrap().expose_secret(), &[7; 32]);
    }

    #[test]
    fn generated_keys_differ() {
        let a = DataKey::generate().unwrap();
        let b = DataKey::generate().unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
    }
}

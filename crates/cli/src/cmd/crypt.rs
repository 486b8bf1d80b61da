//! `kms-audit encrypt` / `decrypt`: envelope-encrypt or decrypt a file or object.

use anyhow::{bail, Result};

/// Envelope-encrypt a file or object (simple or S3 Encryption Client v2 format).
#[derive(Debug, clap::Args)]
pub struct EncryptArgs {}

/// Decrypt an envelope-encrypted file or object.
#[derive(Debug, clap::Args)]
pub struct DecryptArgs {}

pub fn encrypt(_args: EncryptArgs) -> Result<u8> {
    bail!("not implemented yet")
}

pub fn decrypt(_args: DecryptArgs) -> Result<u8> {
    bail!("not implemented yet")
}

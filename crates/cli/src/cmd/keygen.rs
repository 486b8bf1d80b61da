//! `kms-audit keygen`: create a local keyring key file.

use std::path::PathBuf;

use anyhow::{Context, Result};
use envelope::LocalKeyring;

use crate::cmd::crypt::default_local_key_file;
use crate::EXIT_OK;

/// Create a local 256-bit wrapping key file for the local keyring (the embedded default that
/// needs no AWS). The file is written with mode 0600 and never overwrites an existing file.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Key file to create. Default: $KMS_AUDIT_LOCAL_KEY, else
    /// $XDG_CONFIG_HOME/kms-audit/local-key.json (~/.config/kms-audit/local-key.json).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Key name: the key is then called `local:<name>` (1-128 characters of [A-Za-z0-9._-]).
    #[arg(long, default_value = "default")]
    name: String,
}

pub fn run(args: &Args) -> Result<u8> {
    let path = match &args.out {
        Some(p) => p.clone(),
        None => default_local_key_file().context("no --out given and no default key location (set HOME)")?,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let keyring = LocalKeyring::create_key_file(&path, &args.name)
        .with_context(|| format!("creating the key file {}", path.display()))?;
    println!("{}", keyring.key_id());
    eprintln!(
        "keygen: wrote {} ({}, key check {}); keep it secret, and back it up: objects encrypted under it cannot be read without it",
        path.display(),
        keyring.key_id(),
        keyring.key_check().iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    Ok(EXIT_OK)
}

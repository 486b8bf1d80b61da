//! The auditor bundle: what `kms-audit export` writes and `kms-audit export-verify` checks.
//!
//! A bundle is a folder: `usage.csv` (calls per key, principal, operation and day),
//! `findings.csv` / `findings.json`, `verification.csv` and `trail-integrity.json` when those
//! reports exist, `report.html` (one self-contained file, charts as inline SVG, no network), and
//! `manifest.json` with the SHA-256 of every file, the tool version, the period and every lake
//! file read. `manifest.sig.json` optionally signs the manifest's digest (Ed25519 with a local
//! key, or RSASSA-PSS-SHA-256 with a KMS asymmetric key) and carries the public key, so a bundle
//! verifies offline.

pub mod bundle;
pub mod html;
pub mod manifest;
pub mod usage;

pub use bundle::{export, ExportInputs, ExportSummary};
pub use manifest::{verify_bundle, BundleCheck, LocalSigner, Manifest, Signature, Signer};

/// Errors of building or checking a bundle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Lake(#[from] lake::LakeError),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("csv: {0}")]
    Csv(#[from] csv::Error),
}

impl Error {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io { path: path.display().to_string(), source }
    }
}

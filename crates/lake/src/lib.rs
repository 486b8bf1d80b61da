//! The kms-audit lake: Arrow schema, Parquet files, partition layout, stores, and ingest.
//!
//! Layout (DESIGN.md §2): `LAKE/kms_events/key_id=<key>/principal=<principal>/dt=<day>/<name>.parquet`,
//! quarantine entries under `LAKE/_quarantine/`. This crate knows nothing of AWS SDKs: S3 is
//! another [`store::Store`] implemented in the `aws` crate.

pub mod builder;
pub mod compact;
pub mod findings;
pub mod ingest;
pub mod partition;
pub mod quarantine;
pub mod read;
pub mod schema;
pub mod store;
#[cfg(test)]
mod testdata;
pub mod writer;

pub use ingest::{IngestOptions, IngestReport, IngestSummary, Ingestor, Source, SourceFailure};
pub use partition::Partition;
pub use store::{LocalStore, ObjectInfo, ObjectMetadata, Store, StoreError, StoreErrorKind};

/// Errors of the lake itself (not of the input: bad input is quarantined, not an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LakeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

impl LakeError {
    /// Whether retrying could help (a transient store failure).
    pub fn is_retryable(&self) -> bool {
        matches!(self, LakeError::Store(e) if e.is_retryable())
    }
}

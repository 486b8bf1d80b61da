//! Reconciles observed AWS KMS use (the `kms_events` lake table) with what SageMaker jobs were
//! configured to do, and reports findings.
//!
//! - [`Expectations`]: jobs, their keys by purpose, their windows and buckets, plus an allow-list
//!   ([`describe`] builds them from saved `aws sagemaker describe-*` outputs).
//! - [`Reconciler`]: streams Arrow [`RecordBatch`](arrow::record_batch::RecordBatch)es of
//!   `kms_events` rows ([`REQUIRED_COLUMNS`]) and returns [`Finding`]s.
//! - [`tables`]: the expectations flattened into the `expectations` / `expectations_allow` tables
//!   the Athena SQL in `queries/reconcile/` joins against.
//!
//! The crate does no I/O. Rule semantics are documented in the crate README.

mod arn;
mod columns;
pub mod describe;
mod engine;
pub mod expectations;
mod finding;
pub mod tables;
mod windows;

pub use arn::{is_aws_service_host, key_canon, role_key};
pub use columns::REQUIRED_COLUMNS;
pub use describe::{DescribeError, ExpectationsBuilder, KeyResolver, MapResolver};
pub use engine::{
    is_denied, Options, Reconciler, Stats, CLOUDTRAIL_CONTEXT_KEY, DRY_RUN_ERROR, LIFECYCLE_OPERATIONS, USE_OPERATIONS,
    WEAK_TLS_VERSIONS,
};
pub use expectations::{
    AllowEntry, Bucket, Expectations, Job, JobKeys, JobKind, Purpose, Source, ValidationError, Window,
};
pub use finding::{Finding, Rule, Severity};

/// Errors of the reconciler.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A batch lacks a column, or a column has an unusable type.
    #[error("kms_events column `{column}`: {problem}")]
    Column { column: &'static str, problem: String },
    /// The expectations are invalid.
    #[error("invalid expectations: {0}")]
    Expectations(String),
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
}

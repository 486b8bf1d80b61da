//! The Lambda functions of kms-audit: thin binaries in `src/bin/`, handlers here.
//!
//! - [`ingest`]: `kms-audit-ingest`, SQS batches of S3 notifications → lake + Glue partitions;
//! - [`compact`]: `kms-audit-compact`, the daily compaction of the previous days' partitions;
//! - [`reconcile`]: `kms-audit-reconcile`, the scheduled reconciliation.
//!
//! Each `main` builds its clients once per container and hands them to a handler that is a
//! plain async method over injected clients, so tests drive the same code against the moto
//! server. The lake pipeline itself is synchronous: handlers run it on a blocking thread
//! (`spawn_blocking`), whose store calls block on the Lambda's own runtime.

pub mod compact;
pub mod error;
pub mod ingest;
pub mod logging;
pub mod notification;
/// The reconcile function (`kms-audit-reconcile`), maintained by its owner.
pub mod reconcile;

pub use error::{ConfigError, HandlerError, ItemError};

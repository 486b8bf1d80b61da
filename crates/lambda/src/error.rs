//! Typed errors of the Lambda functions, each knowing whether a retry can help.
//!
//! SQS has no "do not retry" answer: a failed message is redelivered until `maxReceiveCount`,
//! then dead-lettered. So a non-retryable item failure is still reported (nothing is dropped);
//! the distinction shows in the logs (`retryable` field) and tells an operator whether to
//! redrive the dead-letter queue after a fix or inspect the quarantine.

use lake::LakeError;

/// Why the function cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name}: invalid value {value:?}")]
    Invalid { name: &'static str, value: String },
}

/// Why an invocation failed as a whole (the runtime reports it; SQS retries the whole batch,
/// a scheduled invocation is retried by Lambda's async retry policy).
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("lake: {0}")]
    Lake(#[from] LakeError),
    #[error("the ingest thread panicked: {0}")]
    Panicked(String),
    #[error("compaction failed for {failed} partitions (first: {first})")]
    Compaction { failed: usize, first: String, retryable: bool },
    #[error("bad invocation payload: {0}")]
    Payload(String),
}

impl HandlerError {
    pub fn is_retryable(&self) -> bool {
        match self {
            HandlerError::Lake(e) => e.is_retryable(),
            HandlerError::Panicked(_) => false,
            HandlerError::Compaction { retryable, .. } => *retryable,
            HandlerError::Payload(_) => false,
        }
    }
}

/// Why one SQS message is reported as failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ItemError {
    /// The body is not an S3/EventBridge notification: retrying will not help.
    #[error("unrecognised message: {0}")]
    Unrecognised(String),
    /// One of its objects could not be ingested (quarantined when not retryable).
    #[error("{object}: {reason}")]
    Source { object: String, reason: String, retryable: bool },
    /// The lake could not be written.
    #[error("lake: {0}")]
    Lake(String),
    /// The partitions could not be registered in Glue (the files landed; a retry re-registers).
    #[error("glue: {0}")]
    Glue(String),
}

impl ItemError {
    pub fn is_retryable(&self) -> bool {
        match self {
            ItemError::Unrecognised(_) => false,
            ItemError::Source { retryable, .. } => *retryable,
            ItemError::Lake(_) | ItemError::Glue(_) => true,
        }
    }
}

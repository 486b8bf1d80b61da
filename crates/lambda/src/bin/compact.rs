//! `kms-audit-compact`: the scheduled compaction Lambda (`provided.al2023`).
//!
//! Environment: `LAKE_URL` (s3://bucket/prefix, required), `RUST_LOG`; see `docs/deploy.md`.

use lake::compact::CompactSummary;
use lambda::compact::CompactHandler;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    allocator::init();
    lambda::logging::init();
    let handler = CompactHandler::from_env().await?;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let summary: Result<CompactSummary, Error> = handler.handle(event.payload).await.map_err(|e| {
            tracing::error!(error = %e, retryable = e.is_retryable(), "invocation failed");
            Error::from(e)
        });
        summary
    }))
    .await
}

//! `kms-audit-ingest`: the ingest Lambda (SQS event source, `provided.al2023`).
//!
//! Environment: `LAKE_URL` (s3://bucket/prefix, required), `GLUE_DATABASE`, `GLUE_TABLE`,
//! `INGEST_READ_AHEAD`, `INGEST_READ_AHEAD_MIB`, `INGEST_WINDOW_MIB`, `INGEST_WHOLE_FILE_MIB`, `RUST_LOG`; see
//! `docs/deploy.md`.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda::ingest::IngestHandler;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    allocator::init();
    lambda::logging::init();
    // Clients are built once per container and reused by every invocation.
    let handler = IngestHandler::from_env().await?;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let response: Result<SqsBatchResponse, Error> = handler.handle(event.payload).await.map_err(|e| {
            tracing::error!(error = %e, retryable = e.is_retryable(), "invocation failed");
            Error::from(e)
        });
        response
    }))
    .await
}

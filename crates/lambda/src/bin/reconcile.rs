//! `kms-audit-reconcile`: the scheduled reconcile Lambda (`provided.al2023`).
//!
//! Environment: `LAKE_URL` (s3://bucket/prefix, required), `FINDINGS_TOPIC_ARN`,
//! `NOTIFY_SEVERITY`, `NOTIFY_MAX_MESSAGES`, `RECONCILE_SLACK_SECONDS`, `RECONCILE_DAYS`,
//! `RECONCILE_LOOKBACK_DAYS`, `EXPECTATIONS_SINCE_DAYS`, `ALLOW_LIST_URL`,
//! `SAGEMAKER_CONCURRENCY`, `RUST_LOG`; see `docs/reconcile.md`.

use lambda::reconcile::{ReconcileHandler, ReconcileSummary};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    allocator::init();
    lambda::logging::init();
    let handler = ReconcileHandler::from_env().await?;
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let summary: Result<ReconcileSummary, Error> = handler.handle(event.payload).await.map_err(|e| {
            tracing::error!(error = %e, retryable = e.is_retryable(), "invocation failed");
            Error::from(e)
        });
        summary
    }))
    .await
}

//! Structured logs: one JSON object per line on stdout (CloudWatch Logs), fields flattened so
//! `bucket`, `key`, counts and `duration_ms` can be queried with Logs Insights.
//!
//! Level from `RUST_LOG`, else `AWS_LAMBDA_LOG_LEVEL` (the function's log-level setting), else
//! `info`.

/// Installs the JSON subscriber (once; later calls do nothing).
pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().map(|l| l.to_ascii_lowercase()))
        .unwrap_or_else(|| "info".into());
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "info".into()))
        .try_init();
}

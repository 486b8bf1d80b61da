//! SDK configuration shared by every client, the runtime that sync callers use, and the one
//! place SDK errors are classified as retryable or not.
//!
//! Clients come from the standard `aws-config` chain (environment, profile, IMDS/ECS/Lambda
//! role) and honour `AWS_ENDPOINT_URL` (and the per-service `AWS_ENDPOINT_URL_<SERVICE>`), so
//! every command works against a local endpoint such as the moto server with just
//! `AWS_ENDPOINT_URL`, `KMS_AUDIT_S3_FORCE_PATH_STYLE=true` and dummy credentials.
//!
//! # Sync callers
//!
//! The lake pipeline is synchronous (`lake::Store`). Code that is not already inside a tokio
//! runtime (the CLI) uses [`blocking`]: one process-wide multi-thread runtime and one
//! `SdkConfig`, built on first use. Async code (the Lambda) builds its own clients with
//! [`load`] and hands the sync parts its runtime [`tokio::runtime::Handle`]; the sync parts must
//! then run on a blocking thread (`tokio::task::spawn_blocking`) or a rayon thread, never inside
//! an async task (tokio panics with "Cannot start a runtime from within a runtime").

use std::error::Error as StdError;
use std::future::Future;
use std::sync::OnceLock;

use aws_config::BehaviorVersion;
pub use aws_config::SdkConfig;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use lake::StoreErrorKind;

/// Environment variable that turns on S3 path-style addressing (needed by local S3 endpoints).
pub const FORCE_PATH_STYLE_ENV: &str = "KMS_AUDIT_S3_FORCE_PATH_STYLE";

/// Environment variable: seconds one attempt of an AWS call may take before it is abandoned
/// and retried (default [`DEFAULT_ATTEMPT_TIMEOUT_SECS`]).
pub const ATTEMPT_TIMEOUT_ENV: &str = "KMS_AUDIT_AWS_ATTEMPT_TIMEOUT_SECS";
/// Long enough to upload a large Parquet file from a slow link; a silent server costs at most
/// this per attempt instead of hanging the run.
pub const DEFAULT_ATTEMPT_TIMEOUT_SECS: u64 = 120;
/// Attempts per AWS call (the SDK's default is 3) unless `AWS_MAX_ATTEMPTS` says otherwise: a
/// backfill meets bursts of S3 `SlowDown` that outlast three tries.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 6;

/// The SDK defaults every client of kms-audit starts from: timeouts and the retry budget.
fn defaults() -> aws_config::ConfigLoader {
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    use std::time::Duration;
    let attempt = std::env::var(ATTEMPT_TIMEOUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&s| s > 0)
        .unwrap_or(DEFAULT_ATTEMPT_TIMEOUT_SECS);
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(10))
            .operation_attempt_timeout(Duration::from_secs(attempt))
            .build(),
    );
    if std::env::var_os("AWS_MAX_ATTEMPTS").is_none() {
        loader = loader.retry_config(RetryConfig::standard().with_max_attempts(DEFAULT_MAX_ATTEMPTS));
    }
    loader
}

/// Loads the standard chain (environment, profile, IMDS/ECS/Lambda role), including
/// `AWS_ENDPOINT_URL` and `AWS_REGION`, with kms-audit's timeouts and retry budget.
pub async fn load() -> SdkConfig {
    defaults().load().await
}

/// A configuration for a local endpoint (the moto server, a stand-in) with dummy static
/// credentials, ignoring the environment: what tests use, so parallel tests can each talk to
/// their own server. Pair it with [`s3_client_path_style`].
pub async fn local(endpoint: &str, region: &str) -> SdkConfig {
    let creds =
        aws_sdk_s3::config::Credentials::new("testing", "testing", Some("testing".into()), None, "kms-audit-local");
    defaults()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(creds)
        .load()
        .await
}

/// An S3 client from `config` with path-style addressing forced on or off, whatever the
/// environment says.
pub fn s3_client_path_style(config: &SdkConfig, path_style: bool) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(config).force_path_style(path_style).build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Whether [`FORCE_PATH_STYLE_ENV`] asks for path-style S3 addressing.
pub fn force_path_style() -> bool {
    std::env::var(FORCE_PATH_STYLE_ENV).is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// An S3 client from `config`, path-style when [`force_path_style`] says so.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    s3_client_path_style(config, force_path_style())
}

/// A Glue client from `config`.
pub fn glue_client(config: &SdkConfig) -> aws_sdk_glue::Client {
    aws_sdk_glue::Client::new(config)
}

/// A CloudTrail client from `config`, for `region` when given (LookupEvents is regional).
pub fn cloudtrail_client(config: &SdkConfig, region: Option<&str>) -> aws_sdk_cloudtrail::Client {
    let mut builder = aws_sdk_cloudtrail::config::Builder::from(config);
    if let Some(region) = region {
        builder = builder.region(aws_sdk_cloudtrail::config::Region::new(region.to_owned()));
    }
    aws_sdk_cloudtrail::Client::from_conf(builder.build())
}

/// The process-wide runtime and SDK configuration of sync callers (see the module docs).
#[derive(Debug)]
pub struct Blocking {
    runtime: tokio::runtime::Runtime,
    config: SdkConfig,
    s3: OnceLock<aws_sdk_s3::Client>,
}

impl Blocking {
    /// Handle of the runtime, for the sync bridges ([`crate::s3::S3Store`]).
    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime.handle()
    }

    /// The SDK configuration loaded from the standard chain.
    pub fn config(&self) -> &SdkConfig {
        &self.config
    }

    /// Runs a future to completion on the runtime. Must not be called from an async task.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// The shared S3 client (connection pool reused by every store of the process).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        self.s3.get_or_init(|| s3_client(&self.config)).clone()
    }
}

/// The process-wide [`Blocking`] context, created on first use. Its runtime has a few worker
/// threads for I/O only: CPU work stays on the caller's threads (rayon).
pub fn blocking() -> &'static Blocking {
    static BLOCKING: OnceLock<Blocking> = OnceLock::new();
    BLOCKING.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kms-audit-aws")
            .enable_all()
            .build()
            .expect("tokio runtime for AWS calls");
        let config = runtime.block_on(load());
        Blocking { runtime, config, s3: OnceLock::new() }
    })
}

/// How an SDK failure should be treated, vector-style: throttling, 5xx, timeouts and
/// connection failures are transient; 404 / `NoSuchKey` / `NoSuchBucket` are "not found";
/// everything else (403, 400, malformed requests) is permanent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub kind: StoreErrorKind,
    /// `Code: message (HTTP status)`, or the transport error chain.
    pub message: String,
    pub status: Option<u16>,
    pub code: Option<String>,
}

/// Error codes that mean "slow down / try again" whatever the HTTP status.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "InternalServiceException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "ConcurrentModificationException",
    "OperationTimeoutException",
    "ConditionalRequestConflict",
];

const NOT_FOUND_CODES: &[&str] = &["NoSuchKey", "NoSuchBucket", "NotFound", "EntityNotFoundException"];

/// Classifies any SDK error (S3, Glue, CloudTrail, …: they share the HTTP response type).
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> Classified
where
    E: ProvideErrorMetadata + StdError + 'static,
{
    match err {
        SdkError::TimeoutError(_) => Classified {
            kind: StoreErrorKind::Transient,
            message: format!("timed out: {}", chain(err)),
            status: None,
            code: None,
        },
        SdkError::DispatchFailure(_) => Classified {
            kind: StoreErrorKind::Transient,
            message: format!("request not delivered: {}", chain(err)),
            status: None,
            code: None,
        },
        SdkError::ConstructionFailure(_) => Classified {
            kind: StoreErrorKind::Permanent,
            message: format!("request could not be built: {}", chain(err)),
            status: None,
            code: None,
        },
        _ => {
            let status = err.raw_response().map(|r| r.status().as_u16());
            let code = err.code().map(str::to_owned);
            let text = err.message().map(str::to_owned);
            let kind = match (status, code.as_deref()) {
                (_, Some(c)) if TRANSIENT_CODES.contains(&c) => StoreErrorKind::Transient,
                (_, Some(c)) if NOT_FOUND_CODES.contains(&c) => StoreErrorKind::NotFound,
                (Some(404), _) => StoreErrorKind::NotFound,
                (Some(408 | 429), _) => StoreErrorKind::Transient,
                (Some(s), _) if s >= 500 => StoreErrorKind::Transient,
                (None, None) => StoreErrorKind::Transient,
                _ => StoreErrorKind::Permanent,
            };
            let mut message = match (&code, &text) {
                (Some(c), Some(t)) => format!("{c}: {t}"),
                (Some(c), None) => c.clone(),
                (None, Some(t)) => t.clone(),
                (None, None) => chain(err),
            };
            if let Some(s) = status {
                message.push_str(&format!(" (HTTP {s})"));
            }
            Classified { kind, message, status, code }
        }
    }
}

/// An error and its sources, joined with `: ` (the SDK's `Display` alone says "service error").
pub fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

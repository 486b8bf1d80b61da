//! SDK configuration shared by every client.

use aws_config::{BehaviorVersion, SdkConfig};

/// Environment variable that turns on S3 path-style addressing (needed by local S3 endpoints).
pub const FORCE_PATH_STYLE_ENV: &str = "KMS_AUDIT_S3_FORCE_PATH_STYLE";

/// Loads the standard chain (environment, profile, IMDS/ECS/Lambda role), including
/// `AWS_ENDPOINT_URL` and `AWS_REGION`.
pub async fn load() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// Whether [`FORCE_PATH_STYLE_ENV`] asks for path-style S3 addressing.
pub fn force_path_style() -> bool {
    std::env::var(FORCE_PATH_STYLE_ENV).is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// An S3 client from `config`, path-style when [`force_path_style`] says so.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(config).force_path_style(force_path_style()).build();
    aws_sdk_s3::Client::from_conf(conf)
}

//! The only crate that talks to AWS: every `aws-sdk-*` call of kms-audit lives here, behind
//! the interfaces the library crates define (`lake::Store`, `envelope::Keyring`, …).
//!
//! Clients come from the standard `aws-config` chain and honour `AWS_ENDPOINT_URL`; S3 uses
//! path-style addressing when `KMS_AUDIT_S3_FORCE_PATH_STYLE=true` (local endpoints such as the
//! moto server need it). See [`config`].

pub mod cloudtrail;
pub mod config;
pub mod glue;
pub mod integrity;
pub mod kms;
pub mod s3;
pub mod sagemaker;
pub mod sns;

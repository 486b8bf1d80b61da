//! Trail integrity on AWS: the S3 implementation of [`trail::digest::TrailObjects`] and
//! CloudTrail `ListPublicKeys`.
//!
//! [`S3TrailObjects`] reads a trail at `s3://bucket/prefix` (the prefix that holds `AWSLogs/`):
//! `ListObjectsV2` for listings (with delimiter `/` for [`TrailObjects::list_dirs`], so the
//! validator walks account/region/day folders without listing whole trails), `GetObject` for
//! bodies, streamed, and the object's user metadata (`x-amz-meta-signature`,
//! `x-amz-meta-signature-algorithm`) as the digest signature. It reports its origin
//! (bucket + prefix), so the validator checks that each digest sits where CloudTrail delivered
//! it, and names objects as `s3://` URLs in the report.
//!
//! The validator is synchronous and reads from several threads; the SDK is async. Each call
//! blocks on the runtime [`Handle`] given at construction, so **call the validator from a
//! thread that is not a runtime worker** (a plain thread or `tokio::task::spawn_blocking`).
//!
//! [`list_public_keys`] calls CloudTrail `ListPublicKeys` for a time range (all pages) and turns
//! the answer into a [`PublicKeyList`] (`Value` is the DER PKCS #1 public key). Build its client
//! with [`crate::config::cloudtrail_client`] for the trail's region: the keys are regional.
//!
//! Sync callers (the CLI) pass the handle of [`crate::config::blocking`] and call the validator
//! from their main thread.

use std::collections::BTreeMap;
use std::io::Read;

use aws_config::SdkConfig;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::runtime::Handle;
use trail::digest::{PublicKey, PublicKeyList, StoreError, TrailObject, TrailObjects, TrailOrigin};

/// Errors of the CloudTrail calls made here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntegrityError {
    /// The SDK call failed.
    #[error("CloudTrail {op} failed: {message}")]
    Sdk {
        /// The operation.
        op: &'static str,
        /// The SDK's error, with its context.
        message: String,
    },
    /// A returned public key is unusable.
    #[error(transparent)]
    PublicKeys(#[from] trail::digest::DigestError),
    /// A location is not an `s3://bucket[/prefix]` URL.
    #[error("not an s3://bucket[/prefix] URL: {0}")]
    BadUrl(String),
}

/// Splits `s3://bucket/prefix` into bucket and prefix (`""` or ending with `/`).
pub fn parse_s3_url(url: &str) -> Result<(String, String), IntegrityError> {
    let rest = url.strip_prefix("s3://").ok_or_else(|| IntegrityError::BadUrl(url.to_owned()))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(IntegrityError::BadUrl(url.to_owned()));
    }
    let prefix = prefix.trim_start_matches('/');
    let prefix = if prefix.is_empty() || prefix.ends_with('/') { prefix.to_owned() } else { format!("{prefix}/") };
    Ok((bucket.to_owned(), prefix))
}

/// A trail in S3 (see the module docs).
#[derive(Debug, Clone)]
pub struct S3TrailObjects {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// `""` or ending with `/`.
    prefix: String,
    handle: Handle,
}

#[derive(Debug)]
struct Message(String);

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

fn store_error(what: String) -> StoreError {
    Box::new(Message(what))
}

impl S3TrailObjects {
    /// A trail at `s3://bucket/prefix` read with `client`; SDK calls block on `handle`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>, prefix: &str, handle: Handle) -> Self {
        let prefix = prefix.trim_start_matches('/');
        let prefix = if prefix.is_empty() || prefix.ends_with('/') { prefix.to_owned() } else { format!("{prefix}/") };
        S3TrailObjects { client, bucket: bucket.into(), prefix, handle }
    }

    /// A trail at `url` (`s3://bucket[/prefix]`), with an S3 client from `config`
    /// (path-style when [`crate::config::force_path_style`] says so).
    pub fn from_url(config: &SdkConfig, url: &str, handle: Handle) -> Result<Self, IntegrityError> {
        let (bucket, prefix) = parse_s3_url(url)?;
        Ok(Self::new(crate::config::s3_client(config), bucket, &prefix, handle))
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key prefix (`""` or ending with `/`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn list_with(&self, prefix: &str, delimiter: bool) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let full = format!("{}{prefix}", self.prefix);
        let mut keys = Vec::new();
        let mut dirs = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = self.client.list_objects_v2().bucket(&self.bucket).prefix(&full);
            if delimiter {
                req = req.delimiter("/");
            }
            let out = self.handle.block_on(req.set_continuation_token(token.take()).send()).map_err(|e| {
                store_error(format!("ListObjectsV2 s3://{}/{full}: {}", self.bucket, DisplayErrorContext(&e)))
            })?;
            for o in out.contents() {
                if let Some(k) = o.key().and_then(|k| k.strip_prefix(self.prefix.as_str())) {
                    keys.push(k.to_owned());
                }
            }
            for p in out.common_prefixes() {
                if let Some(d) = p.prefix().and_then(|d| d.strip_prefix(full.as_str())) {
                    let d = d.trim_end_matches('/');
                    if !d.is_empty() {
                        dirs.push(d.to_owned());
                    }
                }
            }
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok((keys, dirs))
    }
}

impl TrailObjects for S3TrailObjects {
    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.list_with(prefix, false).map(|(keys, _)| keys)
    }

    fn get(&self, key: &str) -> Result<Option<TrailObject>, StoreError> {
        let full = format!("{}{key}", self.prefix);
        let result = self.handle.block_on(self.client.get_object().bucket(&self.bucket).key(&full).send());
        let out = match result {
            Ok(out) => out,
            Err(e) if matches!(e.code(), Some("NoSuchKey") | Some("NotFound")) => return Ok(None),
            Err(e) => {
                return Err(store_error(format!("GetObject s3://{}/{full}: {}", self.bucket, DisplayErrorContext(&e))))
            }
        };
        let metadata: BTreeMap<String, String> = out
            .metadata
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| {
                let k = k.to_ascii_lowercase();
                (k.strip_prefix("x-amz-meta-").map(str::to_owned).unwrap_or(k), v)
            })
            .collect();
        let body = BlockingBody { stream: out.body, handle: self.handle.clone(), chunk: Bytes::new() };
        Ok(Some(TrailObject::new(body, metadata)))
    }

    fn list_dirs(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let (_, mut dirs) = self.list_with(prefix, true)?;
        dirs.sort();
        dirs.dedup();
        Ok(dirs)
    }

    fn origin(&self) -> TrailOrigin {
        TrailOrigin::s3(self.bucket.clone(), self.prefix.clone())
    }

    fn display_key(&self, key: &str) -> String {
        format!("s3://{}/{}{key}", self.bucket, self.prefix)
    }
}

/// A `GetObject` body read synchronously, chunk by chunk.
struct BlockingBody {
    stream: aws_sdk_s3::primitives::ByteStream,
    handle: Handle,
    chunk: Bytes,
}

impl Read for BlockingBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.handle.block_on(self.stream.try_next()) {
                Ok(Some(chunk)) => self.chunk = chunk,
                Ok(None) => return Ok(0),
                Err(e) => return Err(std::io::Error::other(e)),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        let _ = self.chunk.split_to(n);
        Ok(n)
    }
}

fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

fn to_smithy(t: DateTime<Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs(t.timestamp())
}

/// CloudTrail `ListPublicKeys` for `[start, end]` (all pages), as a [`PublicKeyList`].
/// CloudTrail public keys are regional: use a client for the trail's region.
pub async fn list_public_keys(
    client: &aws_sdk_cloudtrail::Client,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) -> Result<PublicKeyList, IntegrityError> {
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = client
            .list_public_keys()
            .set_start_time(start.map(to_smithy))
            .set_end_time(end.map(to_smithy))
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| IntegrityError::Sdk {
                op: "ListPublicKeys",
                message: aws_sdk_cloudtrail::error::DisplayErrorContext(&e).to_string(),
            })?;
        for k in out.public_key_list.unwrap_or_default() {
            let (Some(value), Some(fingerprint)) = (k.value, k.fingerprint) else { continue };
            keys.push(PublicKey::new(
                fingerprint,
                value.into_inner(),
                k.validity_start_time.as_ref().and_then(to_chrono),
                k.validity_end_time.as_ref().and_then(to_chrono),
            )?);
        }
        match out.next_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => break,
        }
    }
    Ok(PublicKeyList::new(keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls() {
        assert_eq!(parse_s3_url("s3://b").unwrap(), ("b".into(), String::new()));
        assert_eq!(parse_s3_url("s3://b/").unwrap(), ("b".into(), String::new()));
        assert_eq!(parse_s3_url("s3://b/p/q").unwrap(), ("b".into(), "p/q/".into()));
        assert_eq!(parse_s3_url("s3://b/p/").unwrap(), ("b".into(), "p/".into()));
        assert!(parse_s3_url("s3:///p").is_err());
        assert!(parse_s3_url("/tmp/x").is_err());
    }
}

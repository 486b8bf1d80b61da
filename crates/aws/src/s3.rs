//! S3 as a [`lake::Store`]: the same interface the lake uses for local folders, so every
//! `--lake` and SOURCE accepts `s3://bucket/prefix`.
//!
//! Each operation has an async form (`*_async`, for async callers such as the Lambda handler)
//! and the sync [`Store`] form, which runs the async one on the store's tokio runtime handle.
//! The sync form must be called from a thread that is not running an async task: a plain
//! thread, a rayon worker, or `tokio::task::spawn_blocking` (see [`crate::config`]).
//!
//! Errors become [`StoreError`]s whose location is `s3://bucket/key` and whose kind is
//! `Transient` for throttling, 5xx, timeouts and connection failures (see
//! [`crate::config::classify`]).
//!
//! ETags are stored without their surrounding quotes, as S3 event notifications spell them, so
//! an object listed by a backfill and the same object announced to the Lambda have the same
//! identity (and the lake the same file names).

pub use aws_sdk_s3::Client;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{self, Read};
use std::sync::{Arc, Condvar, Mutex};

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use bytes::Bytes;
use lake::{ObjectInfo, ObjectMetadata, Store, StoreError, StoreErrorKind};
use tokio::runtime::Handle;

use crate::config::classify;

/// `s3://bucket/prefix` split into bucket and prefix (prefix without a leading `/`, possibly
/// empty). `None` when `url` is not an `s3://` URL or names no bucket.
pub fn parse_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return None;
    }
    Some((bucket.to_owned(), prefix.trim_start_matches('/').to_owned()))
}

/// Strips the quotes S3 puts around ETags in responses.
pub fn normalize_etag(etag: &str) -> String {
    etag.trim().trim_matches('"').to_owned()
}

/// A [`Store`] over one S3 bucket, rooted at a prefix.
#[derive(Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// Empty, or ends with `/`.
    prefix: String,
    handle: Handle,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store").field("bucket", &self.bucket).field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl S3Store {
    /// A store for `bucket` rooted at `prefix` (a trailing `/` is added when missing). The sync
    /// methods run on `handle`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>, prefix: &str, handle: Handle) -> Self {
        S3Store { client, bucket: bucket.into(), prefix: normalize_prefix(prefix), handle }
    }

    /// A store for `s3://bucket/prefix`; `None` when `url` is not such a URL.
    pub fn from_url(client: aws_sdk_s3::Client, url: &str, handle: Handle) -> Option<Self> {
        let (bucket, prefix) = parse_url(url)?;
        Some(S3Store::new(client, bucket, &prefix, handle))
    }

    /// A store for `s3://bucket/prefix` on the process-wide [`crate::config::blocking`]
    /// runtime and shared client (for sync programs such as the CLI).
    pub fn open_blocking(url: &str) -> Option<Self> {
        let b = crate::config::blocking();
        S3Store::from_url(b.s3(), url, b.handle().clone())
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The root prefix: empty or ending with `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// A store on the same bucket rooted at `key` below this one.
    pub fn child(&self, key: &str) -> S3Store {
        S3Store { prefix: normalize_prefix(&self.full_key(key)), ..self.clone() }
    }

    /// The object key in the bucket of a store-relative key.
    pub fn full_key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    fn err<E>(&self, op: &'static str, key: &str, e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let c = classify(e);
        StoreError { op, location: self.location(key), message: c.message, kind: c.kind }
    }

    fn block<F: std::future::Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Every object under `prefix` (see [`Store::list`]), following continuation tokens.
    pub async fn list_async(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let full = self.full_key(prefix);
        let folder = if prefix.is_empty() || prefix.ends_with('/') { None } else { Some(format!("{full}/")) };
        let mut out = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(&full).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err("list", prefix, &e))?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                // `prefix` names a folder (or one object), as for local stores: `a/b` must not
                // match `a/bc`.
                if let Some(folder) = &folder {
                    if key != full && !key.starts_with(folder.as_str()) {
                        continue;
                    }
                }
                let Some(rel) = key.strip_prefix(&self.prefix) else { continue };
                if rel.is_empty() || rel.ends_with('/') || rel.ends_with(lake::store::SIDECAR_SUFFIX) {
                    continue;
                }
                out.push(ObjectInfo {
                    key: rel.to_owned(),
                    size: object.size().unwrap_or(0).max(0) as u64,
                    etag: object.e_tag().map(normalize_etag),
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Starts a GET and returns the body stream and its length.
    pub async fn get_stream_async(&self, key: &str) -> Result<(ByteStream, Option<u64>), StoreError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
            .map_err(|e| self.err("get", key, &e))?;
        let len = out.content_length().and_then(|l| u64::try_from(l).ok());
        Ok((out.body, len))
    }

    /// Reads a whole object. The SDK retries a GET only until its headers arrive; a body cut
    /// mid-way is fetched again here, [`lake::store::BODY_ATTEMPTS`] times at most, with backoff.
    pub async fn get_bytes_async(&self, key: &str) -> Result<Bytes, StoreError> {
        let mut attempt = 1;
        loop {
            let (body, _) = self.get_stream_async(key).await?;
            match body.collect().await {
                Ok(data) => return Ok(data.into_bytes()),
                Err(e) if attempt < lake::store::BODY_ATTEMPTS => {
                    tracing::warn!(object = %self.location(key), attempt, error = %crate::config::chain(&e), "body read failed; fetching again");
                    tokio::time::sleep(std::time::Duration::from_millis(200 << attempt)).await;
                    attempt += 1;
                }
                Err(e) => {
                    return Err(StoreError {
                        op: "read",
                        location: self.location(key),
                        message: format!("{} (after {attempt} attempts)", crate::config::chain(&e)),
                        kind: StoreErrorKind::Transient,
                    })
                }
            }
        }
    }

    /// Size, ETag, user metadata and server-side encryption of an object; `None` if missing.
    pub async fn head_async(&self, key: &str) -> Result<Option<(ObjectInfo, ObjectMetadata)>, StoreError> {
        let out = match self.client.head_object().bucket(&self.bucket).key(self.full_key(key)).send().await {
            Ok(out) => out,
            Err(e) => {
                let err = self.err("head", key, &e);
                return if err.is_not_found() { Ok(None) } else { Err(err) };
            }
        };
        let info = ObjectInfo {
            key: key.to_owned(),
            size: out.content_length().unwrap_or(0).max(0) as u64,
            etag: out.e_tag().map(normalize_etag),
        };
        let metadata: BTreeMap<String, String> = out
            .metadata()
            .map(|m| m.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect())
            .unwrap_or_default();
        let meta = ObjectMetadata {
            metadata,
            server_side_encryption: out.server_side_encryption().map(|s| s.as_str().to_owned()),
            sse_kms_key_id: out.ssekms_key_id().map(str::to_owned),
        };
        Ok(Some((info, meta)))
    }

    /// Writes an object (a PUT is atomic), with user metadata and server-side encryption when
    /// `meta` is given. Without `meta.server_side_encryption` the bucket's default applies.
    pub async fn put_async(&self, key: &str, body: Bytes, meta: Option<&ObjectMetadata>) -> Result<(), StoreError> {
        let mut req =
            self.client.put_object().bucket(&self.bucket).key(self.full_key(key)).body(ByteStream::from(body));
        if let Some(meta) = meta {
            for (k, v) in &meta.metadata {
                req = req.metadata(k, v);
            }
            if let Some(sse) = &meta.server_side_encryption {
                req = req.server_side_encryption(ServerSideEncryption::from(sse.as_str()));
            }
            if let Some(key_id) = &meta.sse_kms_key_id {
                req = req.ssekms_key_id(key_id);
            }
        }
        req.send().await.map_err(|e| self.err("put", key, &e))?;
        Ok(())
    }

    /// Writes an object unless one exists, with a conditional PUT (`If-None-Match: *`), which
    /// S3 and the moto server both honour: `Ok(false)` on `412 Precondition Failed`.
    pub async fn put_if_absent_async(&self, key: &str, body: Bytes) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => {
                let c = classify(&e);
                if c.status == Some(412) || c.code.as_deref() == Some("PreconditionFailed") {
                    Ok(false)
                } else {
                    Err(StoreError {
                        op: "put if absent",
                        location: self.location(key),
                        message: c.message,
                        kind: c.kind,
                    })
                }
            }
        }
    }

    /// Deletes an object; a missing object is success (S3 answers 204 either way).
    pub async fn delete_async(&self, key: &str) -> Result<(), StoreError> {
        match self.client.delete_object().bucket(&self.bucket).key(self.full_key(key)).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = self.err("delete", key, &e);
                if err.is_not_found() && classify(&e).code.as_deref() != Some("NoSuchBucket") {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }
}

fn normalize_prefix(prefix: &str) -> String {
    let p = prefix.trim_start_matches('/');
    if p.is_empty() || p.ends_with('/') {
        p.to_owned()
    } else {
        format!("{p}/")
    }
}

impl Store for S3Store {
    fn root(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix.trim_end_matches('/'))
    }

    fn location(&self, key: &str) -> String {
        format!("s3://{}/{}{}", self.bucket, self.prefix, key)
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        self.block(self.list_async(prefix))
    }

    fn get(&self, key: &str) -> Result<Box<dyn Read + Send>, StoreError> {
        let (body, _) = self.block(self.get_stream_async(key))?;
        Ok(Box::new(BodyReader {
            body,
            chunk: Bytes::new(),
            handle: self.handle.clone(),
            location: self.location(key),
        }))
    }

    fn get_bytes(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let bytes = self.block(self.get_bytes_async(key))?;
        // `Bytes` → `Vec` without a copy when the body arrived as one chunk.
        Ok(Vec::from(bytes))
    }

    fn head(&self, key: &str) -> Result<Option<(ObjectInfo, ObjectMetadata)>, StoreError> {
        self.block(self.head_async(key))
    }

    fn put(&self, key: &str, body: &[u8]) -> Result<(), StoreError> {
        self.block(self.put_async(key, Bytes::copy_from_slice(body), None))
    }

    fn put_with_metadata(&self, key: &str, body: &[u8], meta: &ObjectMetadata) -> Result<(), StoreError> {
        self.block(self.put_async(key, Bytes::copy_from_slice(body), Some(meta)))
    }

    fn put_if_absent(&self, key: &str, body: &[u8]) -> Result<bool, StoreError> {
        self.block(self.put_if_absent_async(key, Bytes::copy_from_slice(body)))
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.block(self.delete_async(key))
    }
}

/// A sync [`Read`] over an S3 body: each `read` takes from the current chunk and, when it is
/// used up, waits on the runtime for the next one. Memory is one network chunk.
struct BodyReader {
    body: ByteStream,
    chunk: Bytes,
    handle: Handle,
    location: String,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.handle.block_on(self.body.next()) {
                None => return Ok(0),
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => {
                    return Err(io::Error::other(format!("reading {}: {}", self.location, crate::config::chain(&e))))
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        bytes::Buf::advance(&mut self.chunk, n);
        Ok(n)
    }
}

/// Read-ahead over an [`S3Store`]: objects are fetched concurrently, ahead of the order the
/// ingest will ask for them, so S3 latency overlaps with parsing. The ingest parses one file per
/// core; with S3's ~20–100 ms first-byte latency that leaves the cores idle unless many more
/// objects are in flight than there are cores.
///
/// Reads of keys in the plan are served from the fetched bytes (each at most once, then
/// forgotten); anything else goes straight to the inner store. At most `depth` objects and
/// `max_bytes` bytes are in flight or waiting. Everything but `get_bytes` is passed through.
pub struct ReadAhead {
    inner: S3Store,
    plan: Vec<(String, u64)>,
    index: HashMap<String, usize>,
    depth: usize,
    max_bytes: u64,
    state: Mutex<AheadState>,
    ready: Condvar,
}

#[derive(Default)]
struct AheadState {
    /// Next plan position the read-ahead considers starting.
    next: usize,
    /// Per plan position: not started, started (maybe finished), or taken.
    status: Vec<Status>,
    /// Bytes started and not yet taken.
    held_bytes: u64,
    /// Fetches started and not yet taken.
    in_flight: usize,
    /// Finished fetches, by plan position.
    done: HashMap<usize, Result<Bytes, StoreError>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Status {
    #[default]
    Waiting,
    Started,
    Taken,
}

impl fmt::Debug for ReadAhead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadAhead")
            .field("inner", &self.inner)
            .field("planned", &self.plan.len())
            .field("depth", &self.depth)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl ReadAhead {
    /// Plans reads of `plan` (keys and sizes, in the order they will be read). Objects larger
    /// than `max_bytes` are not fetched ahead.
    pub fn new(inner: S3Store, plan: Vec<(String, u64)>, depth: usize, max_bytes: u64) -> Arc<Self> {
        let plan: Vec<(String, u64)> = plan.into_iter().filter(|(_, size)| *size <= max_bytes).collect();
        let index = plan.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect();
        let state = AheadState { status: vec![Status::Waiting; plan.len()], ..AheadState::default() };
        Arc::new(ReadAhead {
            inner,
            plan,
            index,
            depth: depth.max(1),
            max_bytes,
            state: Mutex::new(state),
            ready: Condvar::new(),
        })
    }

    pub fn inner(&self) -> &S3Store {
        &self.inner
    }

    /// Starts the first fetches now instead of at the first read.
    pub fn prime(self: &Arc<Self>) {
        let mut state = self.state.lock().expect("read-ahead state");
        self.fill(&mut state);
    }

    fn start(self: &Arc<Self>, state: &mut AheadState, i: usize) {
        state.status[i] = Status::Started;
        state.in_flight += 1;
        state.held_bytes += self.plan[i].1;
        let this = Arc::clone(self);
        self.inner.handle.spawn(async move {
            let result = this.inner.get_bytes_async(&this.plan[i].0).await;
            this.state.lock().expect("read-ahead state").done.insert(i, result);
            this.ready.notify_all();
        });
    }

    /// Starts fetches in plan order while within `depth` and `max_bytes` (one at least).
    fn fill(self: &Arc<Self>, state: &mut AheadState) {
        while state.next < self.plan.len() && state.in_flight < self.depth {
            let i = state.next;
            if state.status[i] == Status::Waiting {
                if state.in_flight > 0 && state.held_bytes + self.plan[i].1 > self.max_bytes {
                    break;
                }
                self.start(state, i);
            }
            state.next += 1;
        }
    }

    /// The bytes of plan position `i`; `None` when they were already taken.
    fn take(self: &Arc<Self>, i: usize) -> Option<Result<Bytes, StoreError>> {
        let mut state = self.state.lock().expect("read-ahead state");
        match state.status[i] {
            Status::Taken => return None,
            Status::Waiting => self.start(&mut state, i),
            Status::Started => {}
        }
        self.fill(&mut state);
        loop {
            if let Some(result) = state.done.remove(&i) {
                state.status[i] = Status::Taken;
                state.in_flight -= 1;
                state.held_bytes = state.held_bytes.saturating_sub(self.plan[i].1);
                self.fill(&mut state);
                return Some(result);
            }
            state = self.ready.wait(state).expect("read-ahead state");
        }
    }
}

/// A [`Store`] view of a shared [`ReadAhead`].
#[derive(Debug, Clone)]
pub struct ReadAheadStore(pub Arc<ReadAhead>);

impl Store for ReadAheadStore {
    fn root(&self) -> String {
        self.0.inner.root()
    }
    fn location(&self, key: &str) -> String {
        self.0.inner.location(key)
    }
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        self.0.inner.list(prefix)
    }
    fn get(&self, key: &str) -> Result<Box<dyn Read + Send>, StoreError> {
        // A planned object is served from its fetch (taken once), never fetched twice.
        if let Some(&i) = self.0.index.get(key) {
            if let Some(result) = self.0.take(i) {
                return result.map(|bytes| Box::new(io::Cursor::new(bytes)) as Box<dyn Read + Send>);
            }
        }
        self.0.inner.get(key)
    }
    fn get_bytes(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        match self.0.index.get(key) {
            Some(&i) => match self.0.take(i) {
                Some(result) => result.map(Vec::from),
                None => self.0.inner.get_bytes(key),
            },
            None => self.0.inner.get_bytes(key),
        }
    }
    fn head(&self, key: &str) -> Result<Option<(ObjectInfo, ObjectMetadata)>, StoreError> {
        self.0.inner.head(key)
    }
    fn put(&self, key: &str, body: &[u8]) -> Result<(), StoreError> {
        self.0.inner.put(key, body)
    }
    fn put_with_metadata(&self, key: &str, body: &[u8], meta: &ObjectMetadata) -> Result<(), StoreError> {
        self.0.inner.put_with_metadata(key, body, meta)
    }
    fn put_if_absent(&self, key: &str, body: &[u8]) -> Result<bool, StoreError> {
        self.0.inner.put_if_absent(key, body)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.0.inner.delete(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_bucket_and_prefix() {
        assert_eq!(parse_url("s3://b"), Some(("b".into(), String::new())));
        assert_eq!(parse_url("s3://b/"), Some(("b".into(), String::new())));
        assert_eq!(parse_url("s3://b/p/q"), Some(("b".into(), "p/q".into())));
        assert_eq!(parse_url("s3:///p"), None);
        assert_eq!(parse_url("/tmp/x"), None);
        assert_eq!(normalize_prefix("p/q"), "p/q/");
        assert_eq!(normalize_prefix(""), "");
        assert_eq!(normalize_etag("\"abc\""), "abc");
    }
}

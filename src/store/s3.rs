//! S3 and S3-compatible services through `object_store`: multipart uploads
//! of 8 MiB parts with at most two in flight, streamed downloads, listing,
//! deletes. Small objects go up in one conditional PUT (`If-None-Match: *`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, Checksum};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, RetryConfig,
    WriteMultipart,
};
use reqwest::header::{HeaderMap, HeaderValue};
use tokio_util::io::StreamReader;

use super::{BucketUri, Buckets, ObjectReader, ObjectWriter, PART, Store};
use crate::config::{LockMode, S3Config};
use crate::{Error, Result};

/// Parts uploading at once; memory per upload is about (this + 1) parts.
const IN_FLIGHT: usize = 2;

/// One configuration, one `object_store` client per bucket.
#[derive(Debug, Clone)]
pub struct S3Client {
    config: Arc<S3Config>,
    buckets: Arc<Mutex<HashMap<String, Arc<AmazonS3>>>>,
}

impl S3Client {
    pub fn new(config: &S3Config) -> Self {
        Self {
            config: Arc::new(config.clone()),
            buckets: Arc::default(),
        }
    }

    /// The client of `bucket`: config first, then `AWS_*` variables.
    fn bucket(&self, bucket: &str) -> Result<Arc<AmazonS3>> {
        let mut map = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(s) = map.get(bucket) {
            return Ok(s.clone());
        }
        let store = Arc::new(self.build(bucket, None)?);
        map.insert(bucket.to_string(), store.clone());
        Ok(store)
    }

    /// A client whose every request sets the Object Lock retention `until`
    /// (with the checksum S3 demands of such writes): one per locked write,
    /// since the date is part of its headers.
    fn locked(&self, bucket: &str, until: DateTime<Utc>) -> Result<Arc<AmazonS3>> {
        Ok(Arc::new(self.build(bucket, Some(until))?))
    }

    fn build(&self, bucket: &str, lock: Option<DateTime<Utc>>) -> Result<AmazonS3> {
        let c = &self.config;
        let mut options = ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(10))
            .with_timeout(Duration::from_mins(2));
        if let Some(until) = lock {
            options = options.with_default_headers(lock_headers(c.object_lock_mode, until)?);
        }
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 3,
                retry_timeout: Duration::from_secs(20),
            })
            .with_client_options(options);
        if lock.is_some() {
            b = b.with_checksum_algorithm(Checksum::SHA256);
        }
        if let Some(e) = &c.endpoint {
            b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
        }
        if c.path_style {
            b = b.with_virtual_hosted_style_request(false);
        }
        if let Some(r) = &c.region {
            b = b.with_region(r);
        }
        if let Some(k) = &c.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(k) = &c.secret_access_key {
            b = b.with_secret_access_key(k.expose());
        }
        if let Some(t) = &c.session_token {
            b = b.with_token(t.expose());
        }
        b.build().map_err(|e| {
            Error::precondition(format!(
                "the S3 client for bucket {bucket} cannot be built: {e}"
            ))
        })
    }
}

/// The headers that give a new object an Object Lock retention.
fn lock_headers(mode: LockMode, until: DateTime<Utc>) -> Result<HeaderMap> {
    let value = |s: &str| {
        HeaderValue::from_str(s)
            .map_err(|e| Error::internal(format!("an Object Lock header cannot hold {s:?}: {e}")))
    };
    let mut h = HeaderMap::new();
    h.insert("x-amz-object-lock-mode", value(mode.name())?);
    h.insert(
        "x-amz-object-lock-retain-until-date",
        value(&until.format("%Y-%m-%dT%H:%M:%SZ").to_string())?,
    );
    h.insert("x-amz-sdk-checksum-algorithm", value("SHA256")?);
    Ok(h)
}

impl Buckets for S3Client {
    fn open(&self, uri: &BucketUri) -> Result<Arc<dyn Store>> {
        Ok(Arc::new(S3Store {
            s3: self.bucket(&uri.bucket)?,
            uri: uri.clone(),
            client: self.clone(),
            lock: self.config.object_lock().ok().flatten(),
        }))
    }
}

/// A bucket and prefix in S3.
#[derive(Debug)]
struct S3Store {
    s3: Arc<AmazonS3>,
    uri: BucketUri,
    /// To build the per-write clients of locked writes.
    client: S3Client,
    /// `object-lock-days` (checked when the daemon's stores were set up).
    lock: Option<chrono::Duration>,
}

/// `object_store`'s errors in the daemon's taxonomy.
fn map(e: &object_store::Error, what: &str) -> Error {
    use object_store::Error as E;
    let msg = format!("S3 refused {what}: {e}");
    match e {
        E::NotFound { .. } => Error::not_found(msg),
        E::AlreadyExists { .. } | E::Precondition { .. } => Error::precondition(format!(
            "{what}: the object already exists; objects are written once and never replaced"
        )),
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => Error::denied(msg),
        E::InvalidPath { .. } => Error::invalid(msg),
        E::NotSupported { .. } | E::NotImplemented { .. } | E::UnknownConfigurationKey { .. } => {
            Error::internal(msg)
        }
        _ => Error::unavailable(msg),
    }
}

impl S3Store {
    fn path(&self, key: &str) -> Path {
        Path::from(self.uri.object(key))
    }
}

#[async_trait]
impl Store for S3Store {
    fn location(&self, key: &str) -> String {
        self.uri.location(key)
    }

    fn lock_period(&self) -> Option<chrono::Duration> {
        self.lock
    }

    async fn writer(&self, key: &str) -> Result<Box<dyn ObjectWriter>> {
        self.writer_locked(key, self.lock.map(super::retain_until))
            .await
    }

    async fn writer_locked(
        &self,
        key: &str,
        until: Option<DateTime<Utc>>,
    ) -> Result<Box<dyn ObjectWriter>> {
        let s3 = match until {
            Some(t) => self.client.locked(&self.uri.bucket, t)?,
            None => self.s3.clone(),
        };
        Ok(Box::new(S3Writer {
            s3,
            path: self.path(key),
            location: self.location(key),
            buf: BytesMut::new(),
            upload: None,
        }))
    }

    async fn reader(&self, key: &str) -> Result<ObjectReader> {
        let what = format!("reading {}", self.location(key));
        let got = self
            .s3
            .get(&self.path(key))
            .await
            .map_err(|e| map(&e, &what))?;
        let stream = got
            .into_stream()
            .map_err(move |e| std::io::Error::other(format!("{what}: {e}")));
        Ok(Box::new(StreamReader::new(stream)))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        // S3 answers a delete of a missing key with success: look first.
        let what = format!("deleting {}", self.location(key));
        let path = self.path(key);
        self.s3.head(&path).await.map_err(|e| map(&e, &what))?;
        self.s3.delete(&path).await.map_err(|e| map(&e, &what))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let what = format!("listing {}", self.location(prefix));
        let scope = self.uri.object("");
        let base = (!self.uri.prefix.is_empty()).then(|| Path::from(self.uri.prefix.as_str()));
        let metas: Vec<_> = self
            .s3
            .list(base.as_ref())
            .try_collect()
            .await
            .map_err(|e| map(&e, &what))?;
        let mut keys: Vec<String> = metas
            .iter()
            .filter_map(|m| m.location.as_ref().strip_prefix(&scope).map(str::to_string))
            .filter(|k| k.starts_with(prefix))
            .collect();
        keys.sort();
        Ok(keys)
    }
}

struct S3Writer {
    s3: Arc<AmazonS3>,
    path: Path,
    location: String,
    /// Bytes not yet handed to an upload: less than one part after `write`.
    buf: BytesMut,
    /// Started with the first full part; small objects never start one.
    upload: Option<WriteMultipart>,
}

impl S3Writer {
    /// Hands one whole part to the multipart upload (starting it), after
    /// waiting until fewer than [`IN_FLIGHT`] parts are uploading.
    async fn send(&mut self, part: Bytes) -> Result<()> {
        let what = format!("uploading {}", self.location);
        if self.upload.is_none() {
            let mp = self
                .s3
                .put_multipart(&self.path)
                .await
                .map_err(|e| map(&e, &what))?;
            self.upload = Some(WriteMultipart::new_with_chunk_size(mp, PART));
        }
        let Some(up) = self.upload.as_mut() else {
            return Err(Error::internal("the multipart upload vanished"));
        };
        up.wait_for_capacity(IN_FLIGHT)
            .await
            .map_err(|e| map(&e, &what))?;
        up.put(part);
        Ok(())
    }
}

#[async_trait]
impl ObjectWriter for S3Writer {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        self.buf.extend_from_slice(&chunk);
        // Keep at least one byte back, so the last part is never empty.
        while self.buf.len() > PART {
            let part = self.buf.split_to(PART).freeze();
            self.send(part).await?;
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        let what = format!("completing {}", self.location);
        let rest = std::mem::take(&mut self.buf).freeze();
        let Some(mut up) = self.upload.take() else {
            // One conditional PUT: S3 itself refuses to replace an object.
            let opts = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            return self
                .s3
                .put_opts(&self.path, rest.into(), opts)
                .await
                .map(drop)
                .map_err(|e| map(&e, &what));
        };
        up.put(rest);
        // object_store completes multipart uploads unconditionally: look
        // first, so an existing object is never replaced.
        match self.s3.head(&self.path).await {
            Ok(_) => {
                let _ = up.abort().await;
                return Err(Error::precondition(format!(
                    "{} already exists; objects are written once and never replaced",
                    self.location
                )));
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => {
                let _ = up.abort().await;
                return Err(map(&e, &what));
            }
        }
        if let Err(e) = up.finish().await {
            return Err(map(&e, &what));
        }
        Ok(())
    }

    async fn abort(mut self: Box<Self>) {
        self.buf.clear();
        if let Some(up) = self.upload.take()
            && let Err(e) = up.abort().await
        {
            tracing::warn!(object = %self.location, error = %e, "could not abort the multipart upload; it stays invisible until the bucket's lifecycle removes it");
        }
    }
}

//! S3 and S3-compatible services through `object_store`: multipart uploads
//! of 8 MiB parts with at most two in flight, streamed downloads, listing,
//! deletes. Every write is create-if-absent on the write itself: small
//! objects go up in one PUT and large ones complete, both with
//! `If-None-Match: *`, so S3 refuses to replace an object even in a race.

mod uploads;
mod writer;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, Checksum};
use object_store::path::Path;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};
use reqwest::header::{HeaderMap, HeaderValue};
use tokio_util::io::StreamReader;

use super::parts::Parts;
use super::{BucketUri, Buckets, ObjectReader, ObjectWriter, Store};
use crate::config::{LockMode, S3Config};
use crate::{Error, Result};

/// One configuration, one pair of `object_store` clients per bucket.
#[derive(Debug, Clone)]
pub struct S3Client {
    config: Arc<S3Config>,
    buckets: Arc<Mutex<HashMap<String, Clients>>>,
}

/// The two clients of one bucket (and Object Lock retention, if any).
#[derive(Debug, Clone)]
struct Clients {
    /// Every request but a multipart upload's completion.
    plain: Arc<AmazonS3>,
    /// Sends every request with `If-None-Match: *` (signed): used only to
    /// complete multipart uploads, which object_store 0.14 completes
    /// unconditionally. S3 then refuses (412) to complete over an object
    /// that appeared meanwhile, however close the race.
    create_only: Arc<AmazonS3>,
}

impl S3Client {
    pub fn new(config: &S3Config) -> Self {
        Self {
            config: Arc::new(config.clone()),
            buckets: Arc::default(),
        }
    }

    /// The clients of `bucket`: config first, then `AWS_*` variables.
    fn bucket(&self, bucket: &str) -> Result<Clients> {
        let mut map = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(s) = map.get(bucket) {
            return Ok(s.clone());
        }
        let clients = self.clients(bucket, None)?;
        map.insert(bucket.to_string(), clients.clone());
        Ok(clients)
    }

    /// Clients whose every request sets the Object Lock retention `until`
    /// (with the checksum S3 demands of such writes) when given: one pair
    /// per locked write, since the date is part of their headers.
    fn clients(&self, bucket: &str, lock: Option<DateTime<Utc>>) -> Result<Clients> {
        let mut headers = match lock {
            Some(until) => lock_headers(self.config.object_lock_mode, until)?,
            None => HeaderMap::new(),
        };
        let plain = Arc::new(self.build(bucket, lock.is_some(), headers.clone())?);
        headers.insert(
            reqwest::header::IF_NONE_MATCH,
            HeaderValue::from_static("*"),
        );
        let create_only = Arc::new(self.build(bucket, lock.is_some(), headers)?);
        Ok(Clients { plain, create_only })
    }

    fn build(&self, bucket: &str, locked: bool, headers: HeaderMap) -> Result<AmazonS3> {
        let c = &self.config;
        let options = ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(10))
            .with_timeout(Duration::from_mins(2))
            .with_default_headers(headers);
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: 3,
                retry_timeout: Duration::from_secs(20),
            })
            .with_client_options(options);
        if locked {
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
            clients: self.bucket(&uri.bucket)?,
            uri: uri.clone(),
            client: self.clone(),
            lock: self.config.object_lock().ok().flatten(),
        }))
    }
}

/// A bucket and prefix in S3.
#[derive(Debug)]
struct S3Store {
    clients: Clients,
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
        let clients = match until {
            Some(t) => self.client.clients(&self.uri.bucket, Some(t))?,
            None => self.clients.clone(),
        };
        Ok(Box::new(writer::S3Writer {
            clients,
            path: self.path(key),
            location: self.location(key),
            scope: self.uri.clone(),
            buf: Parts::default(),
            upload: None,
        }))
    }

    async fn reader(&self, key: &str) -> Result<ObjectReader> {
        let what = format!("reading {}", self.location(key));
        let got = self
            .clients
            .plain
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
        let s3 = &self.clients.plain;
        s3.head(&path).await.map_err(|e| map(&e, &what))?;
        s3.delete(&path).await.map_err(|e| map(&e, &what))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let what = format!("listing {}", self.location(prefix));
        let scope = self.uri.object("");
        let base = (!self.uri.prefix.is_empty()).then(|| Path::from(self.uri.prefix.as_str()));
        let metas: Vec<_> = self
            .clients
            .plain
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

    async fn abort_uploads(&self, prefix: &str, older_than: Duration) -> Result<Vec<String>> {
        uploads::abort_stale(&self.clients.plain, &self.uri, prefix, older_than).await
    }
}

//! Store: where dump bytes land. One trait for every destination, so the
//! pipeline never knows whether it writes a host directory or a bucket.
//! Writes are staged: nothing is visible under a key until `commit`, and a
//! committed key is never overwritten. Bucket stores are scoped to a prefix.

mod gcs;
pub(crate) mod local;
mod parts;
mod s3;
mod uri;

pub use gcs::GcsClient;
pub use local::LocalStore;
pub use s3::S3Client;
pub use uri::{BucketUri, scheme};

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::{Error, Result};

/// The size of one upload part of the bucket stores: a multiple of 256 KiB
/// (GCS) and above 5 MiB (S3). Memory per upload stays a few parts.
pub const PART: usize = 8 * 1024 * 1024;

/// How old an unfinished multipart upload under a store's prefix must be
/// before this daemon aborts it (at start-up, after a failed upload). S3
/// dates an upload by its start, not its last part, and another daemon
/// sharing the prefix may still be writing a young one: a day is longer
/// than any create runs, and short enough that abandoned parts are not
/// billed for long.
pub const STALE_UPLOAD: Duration = Duration::from_hours(24);

/// A reader of a stored object.
pub type ObjectReader = Box<dyn AsyncRead + Send + Unpin>;

/// A destination for dumps, scoped to one directory or bucket prefix.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Where `key` lives, as recorded in `location` (a path or a URI).
    fn location(&self, key: &str) -> String;

    /// Starts a staged write of `key`; a store with a [`Store::lock_period`]
    /// locks it for that long from now.
    async fn writer(&self, key: &str) -> Result<Box<dyn ObjectWriter>>;

    /// Starts a staged write of `key` that the bucket keeps immutable until
    /// `until` (S3 Object Lock, GCS retention). Stores without locks ignore
    /// `until`.
    async fn writer_locked(
        &self,
        key: &str,
        until: Option<DateTime<Utc>>,
    ) -> Result<Box<dyn ObjectWriter>> {
        let _ = until;
        self.writer(key).await
    }

    /// How long the bucket keeps each object this store writes immutable;
    /// `None` = objects can be deleted at once.
    fn lock_period(&self) -> Option<chrono::Duration> {
        None
    }

    /// Opens `key` for reading. NotFound when it is absent.
    async fn reader(&self, key: &str) -> Result<ObjectReader>;

    /// The object as an open host file, when the store is a host directory:
    /// an immutable object is then hashed and restored from one open file
    /// instead of being copied first. `None` (the default) for buckets.
    async fn open_file(&self, _key: &str) -> Result<Option<std::fs::File>> {
        Ok(None)
    }

    /// Removes `key`. NotFound when it was already absent.
    async fn delete(&self, key: &str) -> Result<()>;

    /// Keys under the store's scope that start with `prefix`, sorted.
    /// Bucket stores list recursively (`sub/x.dump` under a prefix).
    async fn list(&self, prefix: &str) -> Result<Vec<String>>;

    /// Aborts the unfinished uploads of keys starting with `prefix` (`""`:
    /// the whole scope) started more than `older_than` ago (see
    /// [`STALE_UPLOAD`]); returns their keys.
    /// Only S3 has any: a local write is a temp file the start-up sweep
    /// removes, and GCS resumable sessions cannot be listed (GCS drops them
    /// a week after they start, and they hold nothing visible meanwhile).
    ///
    /// # Errors
    /// Unavailable when the bucket cannot be asked.
    async fn abort_uploads(&self, prefix: &str, older_than: Duration) -> Result<Vec<String>> {
        let _ = (prefix, older_than);
        Ok(Vec::new())
    }

    /// Writes a small object in one go (staged, never overwriting).
    async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        self.put_locked(key, bytes, self.lock_period().map(retain_until))
            .await
    }

    /// [`Store::put`], locked until `until` as [`Store::writer_locked`].
    async fn put_locked(
        &self,
        key: &str,
        bytes: Bytes,
        until: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let mut w = self.writer_locked(key, until).await?;
        if let Err(e) = w.write(bytes).await {
            w.abort().await;
            return Err(e);
        }
        w.commit().await
    }

    /// Reads a small object whole; InvalidArgument past `limit` bytes.
    async fn get_small(&self, key: &str, limit: u64) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.reader(key)
            .await?
            .take(limit + 1)
            .read_to_end(&mut out)
            .await
            .map_err(|e| Error::unavailable(format!("reading {}: {e}", self.location(key))))?;
        if out.len() as u64 > limit {
            return Err(Error::invalid(format!(
                "{} is larger than {limit} bytes",
                self.location(key)
            )));
        }
        Ok(out)
    }
}

/// The retention of an object written now under a lock of `period`:
/// whole seconds, rounded up, so it reads back exactly from any bucket.
pub fn retain_until(period: chrono::Duration) -> DateTime<Utc> {
    let t = Utc::now() + period + chrono::Duration::seconds(1);
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// Opens stores inside the buckets of one service (GCS, S3): one client,
/// many bucket/prefix scopes.
pub trait Buckets: Send + Sync + std::fmt::Debug {
    /// A store scoped to `uri`'s bucket and prefix. Cheap; no request made.
    ///
    /// # Errors
    /// InvalidArgument when the client cannot address the bucket.
    fn open(&self, uri: &BucketUri) -> Result<Arc<dyn Store>>;
}

/// A staged object: invisible until committed, gone when aborted.
#[async_trait]
pub trait ObjectWriter: Send {
    async fn write(&mut self, chunk: Bytes) -> Result<()>;
    /// Makes the object durable and visible under its key.
    async fn commit(self: Box<Self>) -> Result<()>;
    /// Discards everything written.
    async fn abort(self: Box<Self>);
}

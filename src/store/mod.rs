//! Store: where dump bytes land. One trait for every destination, so the
//! pipeline never knows whether it writes a host directory or a bucket.
//! Writes are staged: nothing is visible under a key until `commit`.

pub(crate) mod local;

pub use local::LocalStore;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::AsyncRead;

use crate::Result;

/// A reader of a stored object.
pub type ObjectReader = Box<dyn AsyncRead + Send + Unpin>;

/// A destination for dumps, scoped to one directory or bucket prefix.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Where `key` lives, as recorded in `location` (a path or a URI).
    fn location(&self, key: &str) -> String;

    /// Starts a staged write of `key`.
    async fn writer(&self, key: &str) -> Result<Box<dyn ObjectWriter>>;

    /// Opens `key` for reading. NotFound when it is absent.
    async fn reader(&self, key: &str) -> Result<ObjectReader>;

    /// Removes `key`. NotFound when it was already absent.
    async fn delete(&self, key: &str) -> Result<()>;

    /// Keys under the store's scope that start with `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>>;
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

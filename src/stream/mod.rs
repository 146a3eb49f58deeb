//! Bytes flow once: from pg_dump's stdout through an ordered list of stages
//! (compress, encrypt: see [`Pipeline`]) and SHA-256 into a store, and back
//! through the inverse stages into pg_restore. Memory stays at a few buffers
//! whatever the dump's size. Create, restore and verify see only the
//! pipeline, never a codec: a new stage is one file here and one line in
//! [`pipeline`].

mod age;
mod archive;
mod config;
mod pipeline;
mod rows;
mod tap;
mod zstd;

pub use archive::RowCounts;

pub use config::{Compression, DumpConfig, DumpPolicy};
pub use pipeline::{Encoded, Keys, Pipeline, decode, hand_restore};

use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::store::ObjectWriter;
use crate::{Error, Result};

/// The block size of every copy on the byte path.
pub const CHUNK: usize = 256 * 1024;

/// What the bytes that passed were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    /// Lowercase hex SHA-256.
    pub sha256: String,
    pub size: u64,
}

/// A running SHA-256 and count.
#[derive(Default)]
pub struct Hasher {
    sha: Sha256,
    size: u64,
}

impl Hasher {
    pub fn update(&mut self, chunk: &[u8]) {
        self.sha.update(chunk);
        self.size += chunk.len() as u64;
    }
    pub fn finish(self) -> Digest {
        Digest {
            sha256: hex::encode(self.sha.finalize()),
            size: self.size,
        }
    }
}

/// Copies `reader` into `sink`, hashing on the way. Does not commit the sink.
///
/// # Errors
/// The reader's or the sink's error.
pub async fn pump<R: AsyncRead + Unpin + ?Sized>(
    reader: &mut R,
    sink: &mut dyn ObjectWriter,
) -> Result<Digest> {
    let mut h = Hasher::default();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = reader
            .read(&mut buf)
            .await
            .map_err(|e| Error::internal(format!("reading the dump stream: {e}")))?;
        if n == 0 {
            return Ok(h.finish());
        }
        h.update(&buf[..n]);
        // Exactly `n` bytes: a pipe read is often far smaller than the
        // buffer, and a sink that queues chunks must not hold whole buffers.
        sink.write(Bytes::copy_from_slice(&buf[..n])).await?;
    }
}

/// Copies `reader` into an async writer (a spool file, a child's stdin), hashing.
///
/// # Errors
/// The reader's or the writer's error.
pub async fn copy_hashed<R, W>(reader: &mut R, writer: &mut W) -> Result<Digest>
where
    R: AsyncRead + Unpin + ?Sized,
    W: tokio::io::AsyncWrite + Unpin + ?Sized,
{
    let mut h = Hasher::default();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            writer.flush().await?;
            return Ok(h.finish());
        }
        h.update(&buf[..n]);
        writer.write_all(&buf[..n]).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_what_passes() {
        let data = vec![7u8; CHUNK * 2 + 5];
        let mut out = Vec::new();
        let d = copy_hashed(&mut &data[..], &mut out).await.unwrap();
        assert_eq!(out, data);
        assert_eq!(d.size, data.len() as u64);
        assert_eq!(d.sha256, hex::encode(Sha256::digest(&data)));
    }
}

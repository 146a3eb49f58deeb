//! The integrity check before a restore: the stored bytes are hashed and
//! compared with the record before anything is decoded or any database is
//! touched. A local dump is immutable, so it is hashed in place and restored
//! from the same open file; a bucket dump is copied to a private spool file
//! while it is hashed, so the bytes restored are exactly the bytes checked.

use std::io::{Read as _, Seek as _};

use super::BackupService;
use super::operations::Progress;
use crate::catalog::Record;
use crate::store::ObjectReader;
use crate::stream::{self, Digest, Hasher};
use crate::{Error, Result};

/// Where the checked bytes are.
enum Source {
    /// The local store's own file, open since it was hashed.
    InPlace(std::fs::File),
    /// A private copy of a bucket object; removed on drop.
    Spool(tempfile::NamedTempFile),
}

/// A dump that passed its integrity check.
pub(super) struct Spool {
    source: Source,
    pub digest: Digest,
}

impl Spool {
    /// The stored bytes from the start.
    fn reader(&self) -> Result<tokio::fs::File> {
        let mut f = match &self.source {
            Source::InPlace(f) => f.try_clone()?,
            Source::Spool(t) => t.reopen()?,
        };
        f.rewind()?;
        Ok(tokio::fs::File::from_std(f))
    }
}

impl BackupService {
    /// Hashes the record's stored dump (in place when local, else into the
    /// spool) and compares it with the record.
    ///
    /// # Errors
    /// FailedPrecondition "integrity check failed" on a size or SHA-256
    /// mismatch; NotFound when the stored dump is gone.
    pub(super) async fn spool(&self, record: &Record, progress: &Progress) -> Result<Spool> {
        let store = self.store_of(record)?;
        let key = format!("{}.dump", record.id);
        let reading = |e: Error| e.context(format!("reading the stored dump of {}", record.id));
        let (source, digest) = if let Some(file) = store.open_file(&key).await? {
            let digest = hash_file(file.try_clone()?).await.map_err(reading)?;
            (Source::InPlace(file), digest)
        } else {
            let mut reader = progress.tap(store.reader(&key).await?);
            let file = tempfile::Builder::new()
                .prefix(".restore-")
                .tempfile_in(&self.inner.spool_dir)?;
            let mut out = tokio::fs::File::from_std(file.reopen()?);
            let digest = stream::copy_hashed(&mut reader, &mut out)
                .await
                .map_err(reading)?;
            (Source::Spool(file), digest)
        };
        if digest.sha256 != record.sha256.to_ascii_lowercase()
            || i64::try_from(digest.size).ok() != Some(record.size_bytes)
        {
            return Err(Error::precondition(format!(
                "integrity check failed for backup {}: the stored dump has SHA-256 {} ({} bytes) \
                 but the record says {} ({} bytes); nothing was restored",
                record.id, digest.sha256, digest.size, record.sha256, record.size_bytes
            )));
        }
        Ok(Spool { source, digest })
    }

    /// The archive pg_restore reads: the checked bytes with the record's
    /// stages undone. A key that does not fit fails here, before any
    /// database is touched.
    ///
    /// # Errors
    /// FailedPrecondition "cannot decrypt …" or an unknown stage.
    pub(super) async fn decoded(&self, record: &Record, spool: &Spool) -> Result<ObjectReader> {
        let stored: ObjectReader = Box::new(spool.reader()?);
        let keys = || self.inner.dump.keys(&record.username);
        stream::decode(&record.encoding, &record.location, stored, keys).await
    }

    /// The store a record's dump lives in.
    pub(super) fn store_of(
        &self,
        record: &Record,
    ) -> Result<std::sync::Arc<dyn crate::store::Store>> {
        self.inner.stores.for_record(record)
    }
}

/// SHA-256 of a whole file, read off the async runtime in large blocks.
async fn hash_file(mut file: std::fs::File) -> Result<Digest> {
    tokio::task::spawn_blocking(move || {
        let mut h = Hasher::default();
        let mut buf = vec![0u8; 1024 * 1024];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                return Ok(h.finish());
            }
            h.update(&buf[..n]);
        }
    })
    .await
    .map_err(|e| Error::internal(format!("hashing task failed: {e}")))?
}

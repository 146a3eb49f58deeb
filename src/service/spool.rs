//! The verified spool: a stored dump is copied to a private temporary file on
//! the daemon host while it is hashed, and compared with the record before
//! any database is touched. Restoring from the spool (not the store) means the
//! bytes restored are exactly the bytes checked.

use tokio::io::AsyncSeekExt;

use super::BackupService;
use super::operations::Progress;
use crate::catalog::Record;
use crate::stream::{self, Digest};
use crate::{Error, Result};

/// A dump that passed its integrity check; the file is removed on drop.
pub(super) struct Spool {
    file: tempfile::NamedTempFile,
    pub digest: Digest,
}

impl Spool {
    /// A reader positioned at the start.
    pub async fn reader(&self) -> Result<tokio::fs::File> {
        let mut f = tokio::fs::File::from_std(self.file.reopen()?);
        f.seek(std::io::SeekFrom::Start(0)).await?;
        Ok(f)
    }
}

impl BackupService {
    /// Copies the record's dump into the spool, hashing it.
    ///
    /// # Errors
    /// FailedPrecondition "integrity check failed" on a size or SHA-256
    /// mismatch; NotFound when the stored dump is gone.
    pub(super) async fn spool(&self, record: &Record, progress: &Progress) -> Result<Spool> {
        let store = self.store_of(record)?;
        let mut reader = progress.tap(store.reader(&format!("{}.dump", record.id)).await?);
        let file = tempfile::Builder::new()
            .prefix(".restore-")
            .tempfile_in(&self.inner.spool_dir)?;
        let mut out = tokio::fs::File::from_std(file.reopen()?);
        let digest = stream::copy_hashed(&mut reader, &mut out)
            .await
            .map_err(|e| e.context(format!("reading the stored dump of {}", record.id)))?;
        if digest.sha256 != record.sha256.to_ascii_lowercase()
            || i64::try_from(digest.size).ok() != Some(record.size_bytes)
        {
            return Err(Error::precondition(format!(
                "integrity check failed for backup {}: the stored dump has SHA-256 {} ({} bytes) \
                 but the record says {} ({} bytes); nothing was restored",
                record.id, digest.sha256, digest.size, record.sha256, record.size_bytes
            )));
        }
        Ok(Spool { file, digest })
    }

    /// The store a record's dump lives in.
    pub(super) fn store_of(
        &self,
        record: &Record,
    ) -> Result<std::sync::Arc<dyn crate::store::Store>> {
        self.inner.stores.for_record(record)
    }
}

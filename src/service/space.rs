//! The free-space floor: a local dump does not start on a backup disk that
//! is nearly full, because that disk also holds the sidecars and the audit
//! log. (A disk that fills mid-dump fails that dump; its partial file goes.)

use super::BackupService;
use crate::store::local::free_bytes;
use crate::{Error, Result};

impl BackupService {
    /// # Errors
    /// FailedPrecondition when the backup directory has less free space than
    /// `min-free-bytes` for `tenant`.
    pub(super) fn require_free_space(&self, tenant: &str) -> Result<()> {
        let floor = self.inner.dump.min_free_bytes(tenant);
        if floor == 0 {
            return Ok(());
        }
        let free = free_bytes(&self.inner.backup_dir)?;
        if free < floor {
            return Err(Error::precondition(format!(
                "the backup disk has {free} bytes free, below min-free-bytes = {floor}; \
                 no dump was started"
            )));
        }
        Ok(())
    }
}

//! Verify (restore test). Authentication, scope and visibility are checked
//! like every other write, so callers learn the same denials they will get
//! once the restore test itself exists.

use super::BackupService;
use crate::auth::{Credentials, Scope};
use crate::{Code, Error, Result};

impl BackupService {
    /// # Errors
    /// Unauthenticated, PermissionDenied, NotFound, then Unimplemented.
    pub async fn verify(
        &self,
        creds: &Credentials,
        id: String,
        target_tenant: String,
    ) -> Result<()> {
        let svc = self.clone();
        self.run("verify", creds, move |who, facts| async move {
            who.require(Scope::Write)?;
            facts.id(&id);
            let record = svc.visible(&who, &id)?;
            facts.record(&record);
            if target_tenant.is_empty() {
                return Err(Error::invalid("verify needs a target tenant"));
            }
            Err(Error::new(
                Code::Unimplemented,
                "verify is not available in this version of the daemon",
            ))
        })
        .await
    }
}

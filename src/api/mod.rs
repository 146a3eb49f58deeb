//! The wire-level API as one trait, [`Api`], spoken in proto types with the
//! caller's credentials. The daemon's [`BackupService`] implements it
//! in-process; the gRPC and REST clients implement it remotely. Every surface
//! (gRPC server, REST, MCP, CLI) is written against this trait, so none of
//! them can drift from the others.

mod convert;

pub use convert::*;

use async_trait::async_trait;

use crate::auth::Credentials;
use crate::proto;
use crate::service::BackupService;
use crate::{Error, Result};

#[async_trait]
pub trait Api: Send + Sync {
    async fn create_backup(
        &self,
        creds: &Credentials,
        req: proto::CreateBackupRequest,
    ) -> Result<proto::CreateBackupResponse>;
    async fn list_backups(
        &self,
        creds: &Credentials,
        req: proto::ListBackupsRequest,
    ) -> Result<proto::ListBackupsResponse>;
    async fn get_backup(
        &self,
        creds: &Credentials,
        req: proto::GetBackupRequest,
    ) -> Result<proto::GetBackupResponse>;
    async fn restore_backup(
        &self,
        creds: &Credentials,
        req: proto::RestoreBackupRequest,
    ) -> Result<proto::RestoreBackupResponse>;
    async fn verify_backup(
        &self,
        creds: &Credentials,
        req: proto::VerifyBackupRequest,
    ) -> Result<proto::VerifyBackupResponse>;
    async fn delete_backup(
        &self,
        creds: &Credentials,
        req: proto::DeleteBackupRequest,
    ) -> Result<proto::DeleteBackupResponse>;
    async fn prune_backups(
        &self,
        creds: &Credentials,
        req: proto::PruneBackupsRequest,
    ) -> Result<proto::PruneBackupsResponse>;
    async fn check_backups(
        &self,
        creds: &Credentials,
        req: proto::CheckBackupsRequest,
    ) -> Result<proto::CheckBackupsResponse>;
    /// Admin only: index the backups whose sidecars sit in a bucket.
    async fn rebuild_index(
        &self,
        creds: &Credentials,
        req: proto::RebuildIndexRequest,
    ) -> Result<proto::RebuildIndexResponse>;

    /// The answer to a request to `rpc` (its proto name) that could not be
    /// read: `invalid`, unless the caller is unauthenticated or may not call
    /// `rpc` at all, which wins. Remote implementations leave this to the
    /// server, which decides again.
    async fn reject(&self, creds: &Credentials, rpc: &'static str, invalid: Error) -> Error {
        let _ = (creds, rpc);
        invalid
    }
}

#[async_trait]
impl Api for BackupService {
    async fn create_backup(
        &self,
        creds: &Credentials,
        req: proto::CreateBackupRequest,
    ) -> Result<proto::CreateBackupResponse> {
        let req = self
            .convert(creds, "CreateBackup", create_from_proto(req))
            .await?;
        Ok(create_to_proto(&self.create(creds, req).await?))
    }

    async fn list_backups(
        &self,
        creds: &Credentials,
        req: proto::ListBackupsRequest,
    ) -> Result<proto::ListBackupsResponse> {
        let tenant = (!req.username.is_empty()).then_some(req.username);
        let page = crate::catalog::PageRequest {
            size: req.page_size,
            token: req.page_token,
        };
        Ok(list_to_proto(&self.list_page(creds, tenant, page).await?))
    }

    async fn get_backup(
        &self,
        creds: &Credentials,
        req: proto::GetBackupRequest,
    ) -> Result<proto::GetBackupResponse> {
        let record = self.get(creds, req.id).await?;
        Ok(proto::GetBackupResponse {
            record: Some(record_to_proto(&record)),
        })
    }

    async fn restore_backup(
        &self,
        creds: &Credentials,
        req: proto::RestoreBackupRequest,
    ) -> Result<proto::RestoreBackupResponse> {
        let req = self
            .convert(creds, "RestoreBackup", restore_from_proto(req))
            .await?;
        Ok(proto::RestoreBackupResponse {
            message: self.restore(creds, req).await?,
        })
    }

    async fn verify_backup(
        &self,
        creds: &Credentials,
        req: proto::VerifyBackupRequest,
    ) -> Result<proto::VerifyBackupResponse> {
        let req = crate::service::VerifyRequest {
            id: req.id,
            target_tenant: req.target_username,
            connection: self
                .convert(creds, "VerifyBackup", connection_from_proto(req.connection))
                .await?,
        };
        let (record, verification) = self.verify(creds, req).await?;
        let v = verification_to_proto(&verification);
        Ok(proto::VerifyBackupResponse {
            message: format!(
                "backup {} verification {} into {}",
                record.id,
                if v.result() == proto::VerificationResult::Passed {
                    "PASSED"
                } else {
                    "FAILED"
                },
                v.target_container
            ),
            verification: Some(v),
            record: Some(record_to_proto(&record)),
        })
    }

    async fn delete_backup(
        &self,
        creds: &Credentials,
        req: proto::DeleteBackupRequest,
    ) -> Result<proto::DeleteBackupResponse> {
        Ok(proto::DeleteBackupResponse {
            message: self.delete(creds, req.id).await?,
        })
    }

    async fn prune_backups(
        &self,
        creds: &Credentials,
        req: proto::PruneBackupsRequest,
    ) -> Result<proto::PruneBackupsResponse> {
        let req = self
            .convert(creds, "PruneBackups", prune_from_proto(&req))
            .await?;
        Ok(prune_to_proto(&self.prune(creds, req).await?))
    }

    async fn check_backups(
        &self,
        creds: &Credentials,
        req: proto::CheckBackupsRequest,
    ) -> Result<proto::CheckBackupsResponse> {
        let req = self
            .convert(creds, "CheckBackups", check_from_proto(&req))
            .await?;
        Ok(check_to_proto(&self.check(creds, req).await?))
    }

    async fn rebuild_index(
        &self,
        creds: &Credentials,
        req: proto::RebuildIndexRequest,
    ) -> Result<proto::RebuildIndexResponse> {
        let bucket = (!req.bucket.is_empty()).then_some(req.bucket);
        Ok(rebuild_to_proto(&self.rebuild_index(creds, bucket).await?))
    }

    async fn reject(&self, creds: &Credentials, rpc: &'static str, invalid: Error) -> Error {
        BackupService::reject(self, creds, rpc, invalid).await
    }
}

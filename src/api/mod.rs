//! The wire-level API as one trait, [`Api`], spoken in proto types with the
//! caller's credentials. The daemon's [`BackupService`] implements it
//! in-process; the gRPC and REST clients implement it remotely. Every surface
//! (gRPC server, REST, MCP, CLI) is written against this trait, so none of
//! them can drift from the others.

mod convert;
mod view;

pub use convert::*;
pub use view::{ForTenant, without_host_paths};

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::auth::Credentials;
use crate::proto;
use crate::service::BackupService;
use crate::{Error, Result};

/// The parts of a streamed ListBackups answer ([`Api::list_backups_streamed`]).
pub type ListStream = BoxStream<'static, Result<proto::ListBackupsResponse>>;

/// Records per part of a streamed unpaged list.
const STREAM_PAGE: i32 = 500;

/// A whole ListBackups answer as a stream of one part.
fn one_part(whole: proto::ListBackupsResponse) -> ListStream {
    Box::pin(futures::stream::once(async { Ok(whole) }))
}

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
    /// The running creates, restores and verifies the caller may see.
    async fn list_operations(
        &self,
        creds: &Credentials,
        req: proto::ListOperationsRequest,
    ) -> Result<proto::ListOperationsResponse>;

    /// ListBackups as a stream of partial answers, each holding the next
    /// records, the first also the warnings; their records together are the
    /// answer. What REST sends for an unpaged list, so that it streams
    /// instead of building 100 000 records at once. By default: the answer
    /// of [`Api::list_backups`], whole.
    async fn list_backups_streamed(
        &self,
        creds: &Credentials,
        req: proto::ListBackupsRequest,
    ) -> Result<ListStream> {
        Ok(one_part(self.list_backups(creds, req).await?))
    }

    /// The answer to a request to `rpc` (its proto name) that could not be
    /// read: `invalid`, unless the caller is unauthenticated or may not call
    /// `rpc` at all, which wins. Remote implementations leave this to the
    /// server, which decides again.
    async fn reject(&self, creds: &Credentials, rpc: &'static str, invalid: Error) -> Error {
        let _ = (creds, rpc);
        invalid
    }

    /// Whether `creds` may call `rpc` (its proto name) at all, decided before
    /// its request is decoded: Unauthenticated or PermissionDenied (audited),
    /// else Ok. Remote implementations leave this to the server.
    async fn gate(&self, creds: &Credentials, rpc: &str) -> Result<()> {
        let _ = (creds, rpc);
        Ok(())
    }
}

#[async_trait]
impl Api for BackupService {
    async fn create_backup(
        &self,
        creds: &Credentials,
        req: proto::CreateBackupRequest,
    ) -> Result<proto::CreateBackupResponse> {
        shown(self, creds, async move {
            let req = self
                .convert(creds, "CreateBackup", create_from_proto(req))
                .await?;
            Ok(create_to_proto(&self.create(creds, req).await?))
        })
        .await
    }

    async fn list_backups(
        &self,
        creds: &Credentials,
        req: proto::ListBackupsRequest,
    ) -> Result<proto::ListBackupsResponse> {
        shown(self, creds, async move {
            let tenant = (!req.username.is_empty()).then_some(req.username);
            let page = crate::catalog::PageRequest {
                size: req.page_size,
                token: req.page_token,
            };
            Ok(list_to_proto(&self.list_page(creds, tenant, page).await?))
        })
        .await
    }

    async fn get_backup(
        &self,
        creds: &Credentials,
        req: proto::GetBackupRequest,
    ) -> Result<proto::GetBackupResponse> {
        shown(self, creds, async move {
            let record = self.get(creds, req.id).await?;
            Ok(proto::GetBackupResponse {
                record: Some(record_to_proto(&record)),
            })
        })
        .await
    }

    async fn restore_backup(
        &self,
        creds: &Credentials,
        req: proto::RestoreBackupRequest,
    ) -> Result<proto::RestoreBackupResponse> {
        shown(self, creds, async move {
            let req = self
                .convert(creds, "RestoreBackup", restore_from_proto(req))
                .await?;
            Ok(proto::RestoreBackupResponse {
                message: self.restore(creds, req).await?,
            })
        })
        .await
    }

    async fn verify_backup(
        &self,
        creds: &Credentials,
        req: proto::VerifyBackupRequest,
    ) -> Result<proto::VerifyBackupResponse> {
        shown(self, creds, async move {
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
        })
        .await
    }

    async fn delete_backup(
        &self,
        creds: &Credentials,
        req: proto::DeleteBackupRequest,
    ) -> Result<proto::DeleteBackupResponse> {
        shown(self, creds, async move {
            Ok(proto::DeleteBackupResponse {
                message: self.delete(creds, req.id).await?,
            })
        })
        .await
    }

    async fn prune_backups(
        &self,
        creds: &Credentials,
        req: proto::PruneBackupsRequest,
    ) -> Result<proto::PruneBackupsResponse> {
        shown(self, creds, async move {
            let req = self
                .convert(creds, "PruneBackups", prune_from_proto(&req))
                .await?;
            Ok(prune_to_proto(&self.prune(creds, req).await?))
        })
        .await
    }

    async fn check_backups(
        &self,
        creds: &Credentials,
        req: proto::CheckBackupsRequest,
    ) -> Result<proto::CheckBackupsResponse> {
        shown(self, creds, async move {
            let req = self
                .convert(creds, "CheckBackups", check_from_proto(&req))
                .await?;
            Ok(check_to_proto(&self.check(creds, req).await?))
        })
        .await
    }

    async fn rebuild_index(
        &self,
        creds: &Credentials,
        req: proto::RebuildIndexRequest,
    ) -> Result<proto::RebuildIndexResponse> {
        shown(self, creds, async move {
            let bucket = (!req.bucket.is_empty()).then_some(req.bucket);
            Ok(rebuild_to_proto(&self.rebuild_index(creds, bucket).await?))
        })
        .await
    }

    async fn list_operations(
        &self,
        creds: &Credentials,
        req: proto::ListOperationsRequest,
    ) -> Result<proto::ListOperationsResponse> {
        shown(self, creds, async move {
            let tenant = (!req.username.is_empty()).then_some(req.username);
            let (ops, failures) = self.operations(creds, tenant).await?;
            Ok(operations_to_proto(&ops, &failures))
        })
        .await
    }

    async fn list_backups_streamed(
        &self,
        creds: &Credentials,
        req: proto::ListBackupsRequest,
    ) -> Result<ListStream> {
        if req.page_size != 0 || !req.page_token.is_empty() {
            return Ok(one_part(self.list_backups(creds, req).await?));
        }
        let tenant = (!req.username.is_empty()).then_some(req.username);
        let admin = self.authenticate(creds).is_ok_and(|p| p.admin);
        let lister = self
            .list_pages(creds, tenant)
            .await
            .map_err(|e| if admin { e } else { view::error_for_tenant(e) })?;
        // Each part is read when the one before it has been sent; the
        // state is the token to go on from (`None`: the end was sent).
        let parts = futures::stream::unfold(Some(String::new()), move |token| {
            let lister = lister.clone();
            async move {
                let req = crate::catalog::PageRequest {
                    size: STREAM_PAGE,
                    token: token?,
                };
                let read = tokio::task::spawn_blocking(move || lister.page(&req))
                    .await
                    .map_err(|e| Error::internal(format!("listing a page failed: {e}")))
                    .and_then(|r| r);
                Some(match read {
                    Ok(page) => {
                        let next = Some(page.next_page_token.clone()).filter(|t| !t.is_empty());
                        let mut part = list_to_proto(&page);
                        part.next_page_token.clear();
                        if !admin {
                            part.for_tenant();
                        }
                        (Ok(part), next)
                    }
                    Err(e) => (Err(e), None),
                })
            }
        });
        Ok(Box::pin(parts))
    }

    async fn reject(&self, creds: &Credentials, rpc: &'static str, invalid: Error) -> Error {
        BackupService::reject(self, creds, rpc, invalid).await
    }

    async fn gate(&self, creds: &Credentials, rpc: &str) -> Result<()> {
        BackupService::gate_rpc(self, creds, rpc).await
    }
}

/// Runs `op` and shows its outcome as the caller may see it: admins as is,
/// everyone else without host paths.
async fn shown<T: ForTenant>(
    svc: &BackupService,
    creds: &Credentials,
    op: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let admin = svc.authenticate(creds).is_ok_and(|p| p.admin);
    match op.await {
        Ok(v) if admin => Ok(v),
        Ok(mut v) => {
            v.for_tenant();
            Ok(v)
        }
        Err(e) if admin => Err(e),
        Err(e) => Err(view::error_for_tenant(e)),
    }
}

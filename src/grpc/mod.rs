//! The gRPC surface: `containarium.v1.BackupService` over tonic. Each call
//! is admitted from its metadata before its message is decoded ([`admit`]);
//! each method then reads the bearer token from the `authorization`
//! metadata, calls [`Api`], and maps the error in [`status`]. Nothing else
//! happens here.

mod admit;
mod status;

pub use status::{code_from_grpc, grpc_code, to_status};

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::api::Api;
use crate::auth::Credentials;
use crate::proto::{self, backup_service_server::BackupServiceServer};

/// tonic's view of the service.
pub struct Grpc {
    api: Arc<dyn Api>,
}

/// The tonic service to add to a server: a caller without credentials (or
/// without the RPC's scope) is refused before the request is decoded.
pub fn service(api: Arc<dyn Api>) -> admit::Admitted<BackupServiceServer<Grpc>> {
    admit::Admitted::new(BackupServiceServer::new(Grpc { api: api.clone() }), api)
}

/// Only the `authorization` key can carry identity.
fn creds<T>(req: &Request<T>) -> Credentials {
    Credentials::from_header(
        req.metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
    )
}

/// Every RPC is the same translation: token from metadata, call, map error.
macro_rules! rpcs {
    ($($name:ident: $req:ty => $resp:ty;)*) => {
        #[tonic::async_trait]
        impl proto::backup_service_server::BackupService for Grpc {
            $(
                async fn $name(&self, req: Request<$req>) -> Result<Response<$resp>, Status> {
                    let creds = creds(&req);
                    self.api
                        .$name(&creds, req.into_inner())
                        .await
                        .map(Response::new)
                        .map_err(to_status)
                }
            )*
        }
    };
}

rpcs! {
    create_backup: proto::CreateBackupRequest => proto::CreateBackupResponse;
    list_backups: proto::ListBackupsRequest => proto::ListBackupsResponse;
    get_backup: proto::GetBackupRequest => proto::GetBackupResponse;
    restore_backup: proto::RestoreBackupRequest => proto::RestoreBackupResponse;
    verify_backup: proto::VerifyBackupRequest => proto::VerifyBackupResponse;
    delete_backup: proto::DeleteBackupRequest => proto::DeleteBackupResponse;
    prune_backups: proto::PruneBackupsRequest => proto::PruneBackupsResponse;
    check_backups: proto::CheckBackupsRequest => proto::CheckBackupsResponse;
    rebuild_index: proto::RebuildIndexRequest => proto::RebuildIndexResponse;
    list_operations: proto::ListOperationsRequest => proto::ListOperationsResponse;
}

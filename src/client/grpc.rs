//! [`Api`] over gRPC: the generated tonic stub plus the bearer token as
//! `authorization` metadata. Each call clones the stub (cheap: one shared
//! HTTP/2 connection) so `&self` suffices.

use std::time::Duration;

use async_trait::async_trait;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use super::status::error_from_status;
use crate::api::Api;
use crate::auth::Credentials;
use crate::proto;
use crate::proto::backup_service_client::BackupServiceClient;
use crate::{Error, Result};

/// How long establishing the connection may take; calls themselves are not
/// time-limited, since a backup runs as long as its database needs.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A remote daemon reached over gRPC.
#[derive(Debug, Clone)]
pub struct GrpcClient {
    stub: BackupServiceClient<Channel>,
    /// For messages: which daemon could not be reached.
    server: String,
}

impl GrpcClient {
    /// A lazily connected client for `server` (`http://` or `https://`).
    /// `ca_pem` replaces the system roots when given.
    ///
    /// # Errors
    /// InvalidArgument for a malformed URL or TLS setting.
    pub fn new(server: &str, ca_pem: Option<&[u8]>) -> Result<Self> {
        let bad = |e: tonic::transport::Error| Error::invalid(format!("server {server:?}: {e}"));
        let mut endpoint = Endpoint::from_shared(server.to_string())
            .map_err(bad)?
            .connect_timeout(CONNECT_TIMEOUT);
        if server.starts_with("https://") {
            let tls = match ca_pem {
                Some(pem) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
                None => ClientTlsConfig::new().with_native_roots(),
            };
            endpoint = endpoint.tls_config(tls).map_err(bad)?;
        }
        Ok(Self {
            stub: BackupServiceClient::new(endpoint.connect_lazy()),
            server: server.to_string(),
        })
    }

    fn stub(&self) -> BackupServiceClient<Channel> {
        self.stub.clone()
    }
}

/// `req` with the caller's token attached as `authorization` metadata.
fn authorized<T>(creds: &Credentials, req: T) -> Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(req);
    if let Credentials::Bearer(token) = creds {
        let value = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| Error::invalid("the token contains characters not allowed in metadata"))?;
        request.metadata_mut().insert("authorization", value);
    }
    Ok(request)
}

impl GrpcClient {
    /// The response, or the status as an [`Error`]. A status with a `source`
    /// was made locally by the transport (the daemon never answered), so it
    /// names the server.
    fn answer<T>(&self, r: std::result::Result<tonic::Response<T>, tonic::Status>) -> Result<T> {
        r.map(tonic::Response::into_inner).map_err(|s| {
            let e = error_from_status(&s);
            if std::error::Error::source(&s).is_some() {
                e.context(format_args!("cannot reach {}", self.server))
            } else {
                e
            }
        })
    }
}

#[async_trait]
impl Api for GrpcClient {
    async fn create_backup(
        &self,
        creds: &Credentials,
        req: proto::CreateBackupRequest,
    ) -> Result<proto::CreateBackupResponse> {
        self.answer(self.stub().create_backup(authorized(creds, req)?).await)
    }

    async fn list_backups(
        &self,
        creds: &Credentials,
        req: proto::ListBackupsRequest,
    ) -> Result<proto::ListBackupsResponse> {
        self.answer(self.stub().list_backups(authorized(creds, req)?).await)
    }

    async fn get_backup(
        &self,
        creds: &Credentials,
        req: proto::GetBackupRequest,
    ) -> Result<proto::GetBackupResponse> {
        self.answer(self.stub().get_backup(authorized(creds, req)?).await)
    }

    async fn restore_backup(
        &self,
        creds: &Credentials,
        req: proto::RestoreBackupRequest,
    ) -> Result<proto::RestoreBackupResponse> {
        self.answer(self.stub().restore_backup(authorized(creds, req)?).await)
    }

    async fn verify_backup(
        &self,
        creds: &Credentials,
        req: proto::VerifyBackupRequest,
    ) -> Result<proto::VerifyBackupResponse> {
        self.answer(self.stub().verify_backup(authorized(creds, req)?).await)
    }

    async fn delete_backup(
        &self,
        creds: &Credentials,
        req: proto::DeleteBackupRequest,
    ) -> Result<proto::DeleteBackupResponse> {
        self.answer(self.stub().delete_backup(authorized(creds, req)?).await)
    }

    async fn prune_backups(
        &self,
        creds: &Credentials,
        req: proto::PruneBackupsRequest,
    ) -> Result<proto::PruneBackupsResponse> {
        self.answer(self.stub().prune_backups(authorized(creds, req)?).await)
    }

    async fn check_backups(
        &self,
        creds: &Credentials,
        req: proto::CheckBackupsRequest,
    ) -> Result<proto::CheckBackupsResponse> {
        self.answer(self.stub().check_backups(authorized(creds, req)?).await)
    }

    async fn rebuild_index(
        &self,
        creds: &Credentials,
        req: proto::RebuildIndexRequest,
    ) -> Result<proto::RebuildIndexResponse> {
        self.answer(self.stub().rebuild_index(authorized(creds, req)?).await)
    }

    async fn list_operations(
        &self,
        creds: &Credentials,
        req: proto::ListOperationsRequest,
    ) -> Result<proto::ListOperationsResponse> {
        self.answer(self.stub().list_operations(authorized(creds, req)?).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_travels_as_bearer_metadata() {
        let r = authorized(&Credentials::Bearer("abc".into()), ()).unwrap();
        assert_eq!(r.metadata().get("authorization").unwrap(), "Bearer abc");
        let r = authorized(&Credentials::None, ()).unwrap();
        assert!(r.metadata().get("authorization").is_none());
        assert!(authorized(&Credentials::Bearer("a\nb".into()), ()).is_err());
    }

    #[tokio::test]
    async fn an_absent_daemon_is_unavailable_with_the_cause() {
        // Port 1 on loopback: nothing listens there.
        let c = GrpcClient::new("http://127.0.0.1:1", None).unwrap();
        let e = c
            .get_backup(
                &Credentials::None,
                proto::GetBackupRequest { id: "x".into() },
            )
            .await
            .unwrap_err();
        assert_eq!(e.code, crate::Code::Unavailable);
        assert!(
            e.message.starts_with("cannot reach http://127.0.0.1:1: "),
            "{e}"
        );
        assert!(e.message.contains("Connection refused"), "{e}");
    }
}

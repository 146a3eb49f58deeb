//! The real daemon in-process: bound to 127.0.0.1:0 on both ports, JWT auth
//! with a test secret, stopped through its shutdown future.

use std::net::SocketAddr;

use containarium::auth::Authenticator;
use containarium::auth::jwt::{self, Claims, Keys};
use containarium::config::Config;
use containarium::proto::backup_service_client::BackupServiceClient;
use containarium::server::{self, Options};
use containarium::service::BackupService;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::Channel;

pub const SECRET: &[u8] = b"test-secret-0123456789abcdef-0123456789";

pub struct TestDaemon {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub keys: Keys,
    pub service: BackupService,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<containarium::Result<()>>>,
}

impl TestDaemon {
    pub async fn start(config: &Config) -> Self {
        let keys = Keys::new(SECRET).unwrap();
        Self::start_with(config, Authenticator::Jwt(keys)).await
    }

    /// With `auth` (e.g. `Authenticator::Disabled`, as `--insecure-no-auth`).
    pub async fn start_with(config: &Config, auth: Authenticator) -> Self {
        let keys = Keys::new(SECRET).unwrap();
        let service = BackupService::new(config, auth).unwrap();
        let grpc_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http_l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (grpc, http) = (grpc_l.local_addr().unwrap(), http_l.local_addr().unwrap());
        let (tx, rx) = oneshot::channel();
        let options = Options::from_config(config).unwrap();
        let handle = tokio::spawn(server::serve(
            service.clone(),
            grpc_l,
            http_l,
            options,
            async move {
                let _ = rx.await;
            },
        ));
        Self {
            grpc,
            http,
            keys,
            service,
            stop: Some(tx),
            handle: Some(handle),
        }
    }

    /// An access token for `username`, valid for an hour. `scopes: None`
    /// mints every scope (`*`), as `token mint` does without `--scopes`; a
    /// token with no scopes claim at all comes from [`Self::claims`].
    pub fn token(&self, username: &str, roles: &[&str], scopes: Option<&[&str]>) -> String {
        self.keys
            .mint(&Self::claims(
                username,
                roles,
                Some(scopes.unwrap_or(&["*"])),
            ))
            .unwrap()
    }

    /// A token whose claims have no `scopes` at all.
    pub fn token_without_scopes(&self, username: &str, roles: &[&str]) -> String {
        self.keys
            .mint(&Self::claims(username, roles, None))
            .unwrap()
    }

    pub fn claims(username: &str, roles: &[&str], scopes: Option<&[&str]>) -> Claims {
        jwt::access_claims(
            username,
            roles.iter().map(|r| (*r).to_string()).collect(),
            scopes.map(|s| s.iter().map(|x| (*x).to_string()).collect()),
            3600,
        )
    }

    pub fn admin(&self) -> String {
        self.token("root", &["admin"], None)
    }

    pub async fn grpc_client(&self) -> BackupServiceClient<Channel> {
        BackupServiceClient::connect(format!("http://{}", self.grpc))
            .await
            .unwrap()
    }

    /// Creates a local backup of `tenant`'s `database` over gRPC as `token`;
    /// its record.
    pub async fn backup(
        &self,
        tenant: &str,
        database: &str,
        token: &str,
    ) -> containarium::proto::BackupRecord {
        let req = containarium::proto::CreateBackupRequest {
            username: tenant.into(),
            connection: Some(containarium::proto::PgConnection {
                database: database.into(),
                ..Default::default()
            }),
            destination: containarium::proto::BackupDestination::Local.into(),
            ..Default::default()
        };
        let mut created = self
            .grpc_client()
            .await
            .create_backup(authed(req, token))
            .await
            .unwrap()
            .into_inner()
            .records;
        assert_eq!(created.len(), 1, "{created:?}");
        created.remove(0)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap().unwrap();
        }
    }
}

/// Adds a bearer token to a tonic request.
pub fn authed<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    if !token.is_empty() {
        r.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    r
}

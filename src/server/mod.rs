//! Serving: takes already-bound listeners and a shutdown future (tests bind
//! port 0 and never sleep). On shutdown both servers stop accepting, running
//! operations get `grace` to finish, and whatever cannot finish leaves only
//! temporary files that the next start sweeps — never a half-written record.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::Api;
use crate::auth::Credentials;
use crate::service::BackupService;
use crate::{Error, Result};

/// How to serve.
pub struct Options {
    pub max_body_bytes: usize,
    /// How long running operations may take after shutdown begins.
    pub grace: Duration,
}

/// The daemon's HTTP routes: REST, `/healthz`, `/openapi.json`.
pub fn http_router(service: &BackupService, max_body: usize) -> axum::Router {
    let api: Arc<dyn Api> = Arc::new(service.clone());
    crate::rest::router(api, max_body)
}

/// Serves gRPC on `grpc` and HTTP on `http` until `shutdown` resolves.
///
/// # Errors
/// Internal when a server fails.
pub async fn serve(
    service: BackupService,
    grpc: TcpListener,
    http: TcpListener,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let stop = CancellationToken::new();
    let api: Arc<dyn Api> = Arc::new(service.clone());

    let grpc_stop = stop.clone();
    let grpc_server = tonic::transport::Server::builder()
        .add_service(crate::grpc::service(api.clone()))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(grpc),
            async move { grpc_stop.cancelled().await },
        );

    let http_stop = stop.clone();
    let router = http_router(&service, options.max_body_bytes);
    let http_server = axum::serve(http, router)
        .with_graceful_shutdown(async move { http_stop.cancelled().await });

    let trigger = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: no new requests; waiting for running operations");
        trigger.cancel();
    });

    let servers = async {
        let (g, h) = tokio::join!(grpc_server, http_server);
        g.map_err(|e| Error::internal(format!("gRPC server: {e}")))?;
        h.map_err(|e| Error::internal(format!("HTTP server: {e}")))
    };
    tokio::pin!(servers);
    tokio::select! {
        r = &mut servers => { r?; }
        () = async { stop.cancelled().await; tokio::time::sleep(options.grace).await } => {
            tracing::warn!("grace period over; exiting with operations still running (no record is half-written)");
            return Ok(());
        }
    }
    if tokio::time::timeout(options.grace, service.drain())
        .await
        .is_err()
    {
        tracing::warn!("grace period over while draining operations");
    }
    Ok(())
}

/// Rejects a request whose bearer token does not authenticate (used in front
/// of surfaces that cannot carry per-call errors before a session exists).
///
/// # Errors
/// Unauthenticated.
pub fn authenticate(service: &BackupService, creds: &Credentials) -> Result<()> {
    service.authenticate(creds).map(drop)
}

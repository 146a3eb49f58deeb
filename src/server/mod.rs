//! Serving: takes already-bound listeners and a shutdown future (tests bind
//! port 0 and never sleep). On shutdown both servers stop accepting, running
//! operations get `grace` to finish, and whatever cannot finish leaves only
//! temporary files that the next start sweeps — never a half-written record.

mod dev;
mod guard;
mod http;
mod peer;
mod tls;

pub use guard::Limits;
pub use tls::Tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::response::IntoResponse;

use crate::api::Api;
use crate::auth::Credentials;
use crate::rest::ApiError;
use crate::service::BackupService;
use crate::{Error, Result};

/// How to serve.
pub struct Options {
    pub max_body_bytes: usize,
    /// How long running operations may take after shutdown begins.
    pub grace: Duration,
    /// TLS on both ports, when configured.
    pub tls: Option<Tls>,
    /// The connection cap and the header deadline, per port.
    pub limits: Limits,
}

impl Options {
    /// The options `config` asks for.
    ///
    /// # Errors
    /// As [`Tls::from_config`].
    pub fn from_config(config: &crate::config::Config) -> Result<Self> {
        Ok(Self {
            max_body_bytes: config.server.max_body_bytes,
            grace: Duration::from_secs(config.shutdown_grace_secs),
            tls: Tls::from_config(&config.server)?,
            limits: Limits {
                max_connections: config.server.max_connections,
                header_timeout: Duration::from_secs(config.server.header_timeout_secs),
            },
        })
    }
}

/// The daemon's HTTP routes: REST, `/healthz`, `/openapi.json`, `/metrics`,
/// the status page at `/ui`, and MCP at `/mcp` (where a request without a valid bearer token is
/// answered 401 before any MCP session exists).
pub fn http_router(
    service: &BackupService,
    max_body: usize,
    shutdown: CancellationToken,
) -> axum::Router {
    let api: Arc<dyn Api> = Arc::new(service.clone());
    let mcp = crate::mcp::http_service(
        api.clone(),
        crate::mcp::HttpOptions {
            // Tokens defeat DNS rebinding; without them, loopback names only.
            allowed_hosts: if service.auth_required() {
                vec![]
            } else {
                crate::mcp::HttpOptions::default().allowed_hosts
            },
            max_body_bytes: max_body,
            shutdown,
        },
    );
    let gate = axum::middleware::from_fn_with_state(service.clone(), require_token);
    let mcp = axum::Router::new().nest_service("/mcp", mcp).layer(gate);
    let router = crate::rest::router(api, max_body)
        .merge(mcp)
        .merge(crate::ui::router(service.freshness_config()))
        .route(
            "/metrics",
            axum::routing::get(metrics).with_state(service.clone()),
        );
    if service.auth_required() {
        router
    } else {
        router.layer(axum::middleware::from_fn(dev::loopback_json_only))
    }
}

async fn require_token(
    State(service): State<BackupService>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match service.admit("mcp", &credentials(req.headers())) {
        Ok(_) => next.run(req).await,
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn metrics(
    State(service): State<BackupService>,
    headers: HeaderMap,
) -> axum::response::Response {
    match service.metrics(&credentials(&headers)).await {
        Ok(text) => ([(CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn credentials(headers: &HeaderMap) -> Credentials {
    Credentials::from_header(headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()))
}

/// Aborts a background task when serving ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
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

    let limits = options.limits;
    let grpc_stop = stop.clone();
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &options.tls {
        builder = builder
            .tls_config(tls.grpc(limits.header_timeout))
            .map_err(|e| Error::invalid(format!("gRPC TLS: {e}")))?;
    }
    let grpc_server = builder
        .layer(peer::PeerLayer)
        .add_service(crate::grpc::service(api.clone()))
        .serve_with_incoming_shutdown(
            guard::Acceptor::new(grpc, limits).into_stream(),
            async move { grpc_stop.cancelled().await },
        );

    let router = http_router(&service, options.max_body_bytes, stop.clone());
    let tls = options.tls.as_ref().map(Tls::acceptor).transpose()?;
    let http_server = http::serve(
        guard::Acceptor::new(http, limits),
        tls,
        router,
        limits,
        stop.clone(),
    );

    // The freshness check alerts while the daemon serves, and stops with it.
    let watch = tokio::spawn(service.clone().watch_freshness());
    let heads = AbortOnDrop(tokio::spawn(service.clone().publish_chain_heads()));
    let trigger = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: no new requests; waiting for running operations");
        trigger.cancel();
    });

    let servers = async {
        let (g, ()) = tokio::join!(grpc_server, http_server);
        g.map_err(|e| Error::internal(format!("gRPC server: {e}")))
    };
    tokio::pin!(servers);
    let _watch = AbortOnDrop(watch);
    let _heads = heads;
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
    service.catalog().save_snapshot().await;
    Ok(())
}

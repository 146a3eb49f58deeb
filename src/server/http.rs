//! The HTTP port's accept loop, written out (rather than `axum::serve`) for
//! what a hostile client could otherwise hold: TLS handshakes run in each
//! connection's own task under the header deadline (a silent client never
//! stalls the next one's accept); an HTTP/1 request head must arrive within
//! the same deadline; connections are capped ([`super::guard`]); and each
//! request runs with its peer's address known to the service, which audits
//! unauthenticated requests per source.

use std::convert::Infallible;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio_rustls::TlsAcceptor;
use tokio_util::either::Either;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use super::guard::{Acceptor, Limits};

/// Serves `router` on `acceptor` until `stop`, then waits for open
/// connections to finish their requests.
pub async fn serve(
    acceptor: Acceptor,
    tls: Option<TlsAcceptor>,
    router: axum::Router,
    limits: Limits,
    stop: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    loop {
        let (tcp, addr) = tokio::select! {
            c = acceptor.accept() => c,
            () = stop.cancelled() => break,
        };
        let tls = tls.clone();
        let router = router.clone();
        let stop = stop.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let io = match tls {
                None => Either::Right(tcp),
                Some(tls) => {
                    let handshake = tokio::time::timeout(limits.header_timeout, tls.accept(tcp));
                    // A handshake still running at shutdown is abandoned.
                    let Some(done) = stop.run_until_cancelled(handshake).await else {
                        return;
                    };
                    match done {
                        Ok(Ok(s)) => Either::Left(s),
                        Ok(Err(e)) => {
                            return tracing::debug!(%addr, error = %e, "TLS handshake failed");
                        }
                        Err(_) => return tracing::debug!(%addr, "TLS handshake timed out"),
                    }
                }
            };
            let peer = addr.ip();
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let router = router.clone();
                crate::auth::PEER.scope(peer, async move {
                    Ok::<_, Infallible>(router.oneshot(req).await.unwrap_or_else(|e| match e {}))
                })
            });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            builder.http2().timer(TokioTimer::new());
            let conn = builder.serve_connection(TokioIo::new(io), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%addr, error = %e, "HTTP connection ended");
            }
        });
    }
    drop(acceptor);
    graceful.shutdown().await;
}

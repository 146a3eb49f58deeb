//! Tells the service which network peer sent a gRPC request (the HTTP port
//! does the same in its accept loop): unauthenticated requests are audited
//! at most once per source, so the source must be known.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

/// The tower layer to put in front of the tonic service.
#[derive(Debug, Clone, Copy)]
pub struct PeerLayer;

impl<S> tower::Layer<S> for PeerLayer {
    type Service = Peer<S>;

    fn layer(&self, inner: S) -> Peer<S> {
        Peer(inner)
    }
}

/// Runs each request with [`crate::auth::PEER`] set.
#[derive(Debug, Clone)]
pub struct Peer<S>(S);

impl<S, B> tower::Service<hyper::Request<B>> for Peer<S>
where
    S: tower::Service<hyper::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: hyper::Request<B>) -> Self::Future {
        let ext = req.extensions();
        let peer = ext
            .get::<TcpConnectInfo>()
            .and_then(TcpConnectInfo::remote_addr)
            .or_else(|| {
                ext.get::<TlsConnectInfo<TcpConnectInfo>>()
                    .and_then(|t| t.get_ref().remote_addr())
            });
        let fut = self.0.call(req);
        match peer {
            Some(p) => Box::pin(crate::auth::PEER.scope(p.ip(), fut)),
            None => Box::pin(fut),
        }
    }
}

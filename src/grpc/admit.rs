//! Authentication before decoding. tonic decodes a request message before
//! the method sees it, so a malformed body would answer InvalidArgument (or
//! Internal) to a caller with no credentials at all, telling them about the
//! message format. This tower service sits in front of the generated server
//! and asks [`Api::gate`] — token, scope, admin-only — from the path and the
//! metadata alone; the body is read only once the caller may call the RPC.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::{Request, Response};
use tonic::server::NamedService;

use super::status::to_status;
use crate::api::Api;
use crate::auth::Credentials;

/// `inner` (the generated server), behind the gate.
#[derive(Clone)]
pub struct Admitted<S> {
    inner: S,
    api: Arc<dyn Api>,
}

impl<S> Admitted<S> {
    pub fn new(inner: S, api: Arc<dyn Api>) -> Self {
        Self { inner, api }
    }
}

impl<S: NamedService> NamedService for Admitted<S> {
    const NAME: &'static str = S::NAME;
}

/// The method of a gRPC path (`/containarium.v1.BackupService/GetBackup`).
fn rpc_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or_default()
}

type Body = tonic::body::Body;

impl<S, B> tower::Service<Request<B>> for Admitted<S>
where
    S: tower::Service<Request<B>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The clone that was polled ready serves this request.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let api = self.api.clone();
        let rpc = rpc_of(req.uri().path()).to_string();
        let creds = Credentials::from_header(
            req.headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
        );
        Box::pin(async move {
            match api.gate(&creds, &rpc).await {
                Ok(()) => inner.call(req).await,
                Err(e) => Ok(to_status(e).into_http()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::rpc_of;

    #[test]
    fn the_method_is_the_last_path_segment() {
        assert_eq!(
            rpc_of("/containarium.v1.BackupService/GetBackup"),
            "GetBackup"
        );
        assert_eq!(rpc_of(""), "");
    }
}

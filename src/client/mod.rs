//! Remote implementations of [`Api`]: the CLI and the MCP stdio bridge talk to
//! a daemon through the same trait the daemon serves, over gRPC or over the
//! grpc-gateway REST routes, and get the same [`crate::Error`]s back.

mod grpc;
mod rest;
mod status;

use std::path::Path;
use std::sync::Arc;

pub use grpc::GrpcClient;
pub use rest::RestClient;
pub use status::error_from_rest;

use crate::api::Api;
use crate::error::Context as _;
use crate::{Error, Result};

/// The daemon's gRPC address when `--server` is not given.
pub const DEFAULT_GRPC_SERVER: &str = "http://127.0.0.1:50051";
/// The daemon's REST address when `--server` is not given and REST is chosen.
pub const DEFAULT_REST_SERVER: &str = "http://127.0.0.1:8080";

/// A client for `server`: REST when `http`, gRPC otherwise. `ca_cert` is a
/// PEM file trusted instead of the system roots for `https://` servers.
/// Nothing is sent yet; an unreachable server shows up as `Unavailable` on
/// the first call, so a long-lived caller (the MCP bridge) can start before
/// the daemon does.
///
/// # Errors
/// InvalidArgument for a malformed URL or an unusable CA file.
pub async fn connect(server: &str, http: bool, ca_cert: Option<&Path>) -> Result<Arc<dyn Api>> {
    let ca = match ca_cert {
        Some(p) => Some(
            tokio::fs::read(p)
                .await
                .ctx(format_args!("reading the CA certificate {}", p.display()))?,
        ),
        None => None,
    };
    let base = base_url(server)?;
    if http {
        Ok(Arc::new(RestClient::new(&base, ca.as_deref())?))
    } else {
        Ok(Arc::new(GrpcClient::new(&base, ca.as_deref())?))
    }
}

/// `server` without a trailing slash, checked to be an http(s) URL.
fn base_url(server: &str) -> Result<String> {
    let s = server.trim().trim_end_matches('/');
    if !(s.starts_with("http://") || s.starts_with("https://")) || s.contains(char::is_whitespace) {
        return Err(Error::invalid(format!(
            "server {server:?} is not a URL like http://127.0.0.1:50051 or https://host:port"
        )));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(base_url("http://h:1/").unwrap(), "http://h:1");
        assert_eq!(base_url(" https://h ").unwrap(), "https://h");
        assert!(base_url("h:1").is_err());
        assert!(base_url("ftp://h").is_err());
    }

    #[tokio::test]
    async fn connect_checks_its_inputs() {
        assert!(connect("http://127.0.0.1:1", false, None).await.is_ok());
        assert!(connect("http://127.0.0.1:1", true, None).await.is_ok());
        let e = connect("127.0.0.1:1", true, None).await.err().unwrap();
        assert_eq!(e.code, crate::Code::InvalidArgument);
        let e = connect("https://h", false, Some(Path::new("/nonexistent/ca.pem")))
            .await
            .err()
            .unwrap();
        assert!(e.message.contains("/nonexistent/ca.pem"), "{e}");
    }
}

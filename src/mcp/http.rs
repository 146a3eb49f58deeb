//! Streamable HTTP, stateless: each POST is served on its own with that
//! request's `Authorization` header, so nothing about a caller outlives its
//! request, daemon restarts break no session, and the 401 middleware in front
//! sees every call.

use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use super::Tools;
use crate::api::Api;

/// The tower service to nest at `/mcp` in the daemon's router.
pub type HttpService = StreamableHttpService<Tools, NeverSessionManager>;

/// How the HTTP endpoint is exposed.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// `Host` header values accepted (rmcp's DNS-rebinding guard); a name
    /// without a port accepts any port. Empty accepts every host: right when
    /// bearer tokens are required, since a rebinding page cannot present
    /// one. Default: loopback names only, right for dev mode.
    pub allowed_hosts: Vec<String>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Cancelled at shutdown, ending any open response stream.
    pub shutdown: CancellationToken,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            max_body_bytes: 1024 * 1024,
            shutdown: CancellationToken::new(),
        }
    }
}

/// The MCP endpoint over `api`, for `Router::nest_service("/mcp", …)`.
pub fn http_service(api: Arc<dyn Api>, options: HttpOptions) -> HttpService {
    let tools = Tools::new(api);
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_allowed_hosts(options.allowed_hosts)
        .with_max_request_body_bytes(options.max_body_bytes)
        .with_cancellation_token(options.shutdown);
    StreamableHttpService::new(
        move || Ok(tools.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    )
}

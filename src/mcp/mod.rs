//! The MCP surface: the backup tools over any [`Api`], served over streamable
//! HTTP inside the daemon ([`http_service`]) or over stdio by
//! `containarium mcp` ([`serve_stdio`]). A thin adapter: every decision is
//! the service's.

mod args;
mod http;
mod reply;
mod tools;

pub use http::{HttpOptions, HttpService, http_service};

use std::sync::Arc;

use axum::http::{header::AUTHORIZATION, request::Parts};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler, ServiceExt, tool_handler};

use crate::api::Api;
use crate::auth::Credentials;

/// `tracing` directive that keeps rmcp below the level at which it logs whole
/// requests: tool arguments carry database passwords and must never reach a
/// log. Add it to every subscriber's filter that can see rmcp's events.
pub const LOG_DIRECTIVE: &str = "rmcp=info";

/// The MCP server: the tools and whom they act as.
#[derive(Clone)]
pub struct Tools {
    api: Arc<dyn Api>,
    /// The stdio token, fixed for the process. `None` over HTTP, where each
    /// request's own `Authorization` header is the caller's identity.
    fixed: Option<Credentials>,
    tool_router: ToolRouter<Self>,
}

impl Tools {
    /// Tools whose callers authenticate per request (HTTP).
    pub fn new(api: Arc<dyn Api>) -> Self {
        Self::build(api, None)
    }

    /// Tools that act with one fixed credential (stdio).
    pub fn with_credentials(api: Arc<dyn Api>, creds: Credentials) -> Self {
        Self::build(api, Some(creds))
    }

    fn build(api: Arc<dyn Api>, fixed: Option<Credentials>) -> Self {
        Self {
            api,
            fixed,
            tool_router: Self::tool_router(),
        }
    }

    /// The fixed credential, else the bearer token of the HTTP request that
    /// carried this call (rmcp puts its `http::request::Parts` into the
    /// request context's extensions).
    fn credentials(&self, ctx: &RequestContext<RoleServer>) -> Credentials {
        if let Some(c) = &self.fixed {
            return c.clone();
        }
        let header = ctx
            .extensions
            .get::<Parts>()
            .and_then(|p| p.headers.get(AUTHORIZATION))
            .and_then(|v| v.to_str().ok());
        Credentials::from_header(header)
    }
}

#[tool_handler(
    router = self.tool_router,
    name = "containarium",
    instructions = "Database backups of tenant containers: create, list, get, restore, verify \
                    and delete pg_dump backups. Calls act as the bearer token's user; ids look \
                    like <tenant>-<database>-<yyyymmddThhmmssZ>."
)]
impl ServerHandler for Tools {}

/// Serves the tools over stdin/stdout until the client disconnects.
///
/// # Errors
/// When the transport fails to start or breaks.
pub async fn serve_stdio(api: Arc<dyn Api>, creds: Credentials) -> anyhow::Result<()> {
    let running = Tools::with_credentials(api, creds)
        .serve(rmcp::transport::stdio())
        .await?;
    running.waiting().await?;
    Ok(())
}

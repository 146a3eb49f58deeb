//! A daemon-shaped MCP endpoint for the tests: a real `BackupService` with JWT
//! auth behind `http_service` in an axum router on 127.0.0.1:0, and the
//! Python SDK client (`client.py`) run against it.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::Request;
use axum::http::{StatusCode, header::AUTHORIZATION};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use containarium::auth::{Authenticator, jwt};
use containarium::mcp::{HttpOptions, http_service};
use containarium::service::BackupService;
use serde_json::{Value, json};

use crate::support::{Tenant, config_for};

const SECRET: &[u8] = b"mcp-test-secret-0123456789abcdef!";

pub struct Daemon {
    pub url: String,
    pub service: BackupService,
    pub audit_log: PathBuf,
    keys: jwt::Keys,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// What the daemon's router puts in front of `/mcp`: no bearer token, 401.
/// (Whether the token is valid is the service's question.)
async fn require_bearer(req: Request, next: Next) -> Response {
    let bearer = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "));
    if bearer {
        next.run(req).await
    } else {
        StatusCode::UNAUTHORIZED.into_response()
    }
}

impl Daemon {
    /// Serves `/mcp` behind a 401 gate, as the daemon does.
    pub async fn start(tenants: &[(&str, &Tenant)]) -> Self {
        Self::start_with(tenants, true).await
    }

    /// Serves `/mcp` with nothing in front, so the service itself answers
    /// callers without a token.
    pub async fn start_ungated(tenants: &[(&str, &Tenant)]) -> Self {
        Self::start_with(tenants, false).await
    }

    async fn start_with(tenants: &[(&str, &Tenant)], gated: bool) -> Self {
        capture_logs();
        let dir = tempfile::tempdir().unwrap();
        let config = config_for(dir.path(), tenants);
        let keys = jwt::Keys::new(SECRET).unwrap();
        let service = BackupService::new(&config, Authenticator::Jwt(keys.clone())).unwrap();
        let api: Arc<dyn containarium::api::Api> = Arc::new(service.clone());
        let mut app =
            axum::Router::new().nest_service("/mcp", http_service(api, HttpOptions::default()));
        if gated {
            app = app.layer(axum::middleware::from_fn(require_bearer));
        }
        // Bound before serving: the client can connect as soon as this returns.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url,
            service,
            audit_log: config.audit_log(),
            keys,
            server,
            _dir: dir,
        }
    }

    /// An access token for `user`; `scopes: None` mints every scope (`*`),
    /// as `token mint` does without `--scopes`.
    pub fn token(&self, user: &str, admin: bool, scopes: Option<&[&str]>) -> String {
        let roles = if admin { vec!["admin".into()] } else { vec![] };
        let scopes = Some(
            scopes
                .unwrap_or(&["*"])
                .iter()
                .map(|x| (*x).to_string())
                .collect(),
        );
        self.keys
            .mint(&jwt::access_claims(user, roles, scopes, 600))
            .unwrap()
    }

    /// Runs `calls` through one client connection; returns one result per call.
    pub async fn calls(&self, token: Option<&str>, calls: Value) -> Vec<Value> {
        let out = self.session(token, "auto", calls).await;
        out["results"].as_array().unwrap().clone()
    }

    /// One call; its result.
    pub async fn call(&self, token: Option<&str>, tool: &str, args: Value) -> Value {
        let mut r = self
            .calls(token, json!([{ "tool": tool, "args": args }]))
            .await;
        r.remove(0)
    }

    /// The client's whole output, negotiating with `mode` (`auto`, `legacy`).
    pub async fn session(&self, token: Option<&str>, mode: &str, calls: Value) -> Value {
        let job = json!({ "token": token, "mode": mode, "calls": calls });
        run_client(std::slice::from_ref(&self.url), &job).await.0
    }
}

pub use crate::support::mcp_client::run_client;

/// The result's first text block.
pub fn text(result: &Value) -> &str {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text content: {result}"))
}

/// The structured content of a successful result.
pub fn ok(result: &Value) -> &Value {
    assert_eq!(result["isError"], false, "the call failed: {result}");
    &result["structuredContent"]
}

/// The text of a tool error.
pub fn err(result: &Value) -> &str {
    assert_eq!(result["isError"], true, "expected a tool error: {result}");
    text(result)
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static LOGS: OnceLock<Captured> = OnceLock::new();

/// Every event at every level, except what `mcp::LOG_DIRECTIVE` silences,
/// as the daemon's subscriber would be set up at its most verbose.
fn capture_logs() {
    LOGS.get_or_init(|| {
        let sink = Captured::default();
        let writer = sink.clone();
        let filter = format!("trace,{}", containarium::mcp::LOG_DIRECTIVE);
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(move || writer.clone())
            .init();
        sink
    });
}

/// Everything logged so far in this test binary.
pub fn logs() -> String {
    let sink = LOGS.get().expect("logs are captured once a daemon starts");
    String::from_utf8_lossy(&sink.0.lock().unwrap()).into_owned()
}

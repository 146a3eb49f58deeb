//! `containarium mcp`: the MCP tools over stdio, for agent hosts that launch
//! a command rather than dial a URL. Every call is forwarded to a daemon
//! (gRPC, or REST with `--http`) with the one token given at start; the
//! daemon decides everything, exactly as for `backup`.

use std::process::ExitCode;

use super::backup::remote::Remote;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which daemon and which token (`--output` has no effect here: results
    /// are MCP messages).
    #[command(flatten)]
    remote: Remote,
}

impl Args {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        log_to_stderr();
        let session = self.remote.session().await?;
        crate::mcp::serve_stdio(session.api, session.creds).await?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Stdout carries the protocol, so logs go to stderr (`RUST_LOG`, default
/// `warn`), with rmcp kept below the level that logs tool arguments.
fn log_to_stderr() {
    let base = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    let filter =
        tracing_subscriber::EnvFilter::new(format!("{base},{}", crate::mcp::LOG_DIRECTIVE));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

//! `containarium mcp`: MCP over stdio, forwarding to a daemon. (Being written.)

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {}

impl Args {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        anyhow::bail!("mcp is not built yet")
    }
}

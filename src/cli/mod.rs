//! Command-line entry: one file per subcommand, each an `Args` struct with a
//! `run`. This enum only matches and delegates.

mod audit;
pub mod backup;
mod completions;
mod daemon;
mod mcp;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Database backups of tenant containers.
#[derive(Debug, Parser)]
#[command(name = "containarium", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the backup daemon (gRPC, REST, MCP).
    Daemon(daemon::Args),
    /// Create, list, restore, verify and delete backups through a daemon.
    Backup(backup::Args),
    /// Mint API tokens (operators; reads the daemon's JWT secret).
    Token(token::Args),
    /// Serve the MCP tools over stdio, forwarding to a daemon (for agent hosts).
    Mcp(mcp::Args),
    /// Print shell completions.
    Completions(completions::Args),
    /// Check the audit log's tamper-evident chain.
    Audit(audit::Args),
}

/// Parses the command line, runs the command, and turns errors into one line
/// on stderr and a non-zero exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Daemon(a) => a.run().await,
            Command::Backup(a) => a.run().await,
            Command::Token(a) => a.run(),
            Command::Mcp(a) => a.run().await,
            Command::Completions(a) => Ok(a.run()),
            Command::Audit(a) => a.run(),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

//! `containarium backup index rebuild`: after the daemon host is lost, index
//! the backups whose sidecars are in the buckets (admin). Running it twice
//! changes nothing.

use std::process::ExitCode;

use super::format;
use super::remote::Session;
use crate::proto;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: IndexCommand,
}

#[derive(Debug, clap::Subcommand)]
enum IndexCommand {
    /// Rebuild the local index from the sidecars in the buckets.
    Rebuild(RebuildArgs),
}

#[derive(Debug, clap::Args)]
struct RebuildArgs {
    /// gs://bucket/prefix or s3://bucket/prefix; omitted = every default
    /// bucket the daemon is configured with.
    #[arg(long)]
    bucket: Option<String>,
}

impl Args {
    pub async fn run(self, s: &Session) -> anyhow::Result<ExitCode> {
        let IndexCommand::Rebuild(a) = self.command;
        let req = proto::RebuildIndexRequest {
            bucket: a.bucket.unwrap_or_default(),
        };
        let resp = s.api.rebuild_index(&s.creds, req).await?;
        s.print(&resp, || {
            let mut out = format!("{}\n", resp.message);
            if !resp.added.is_empty() {
                out.push_str(&format::records_table(&resp.added));
            }
            out
        })?;
        for w in &resp.warnings {
            eprintln!("skipped: {w}");
        }
        Ok(ExitCode::SUCCESS)
    }
}

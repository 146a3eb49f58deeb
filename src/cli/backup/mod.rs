//! `containarium backup …`: the daemon's client. One file per subcommand;
//! this enum only matches and delegates. Every subcommand speaks
//! [`crate::api::Api`] through [`crate::client`], over gRPC or (`--http`) REST.

mod check;
mod create;
mod db;
mod delete;
mod format;
mod get;
mod index;
mod list;
mod prune;
pub(crate) mod remote;
mod restore;
mod spinner;
mod verify;

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    remote: remote::Remote,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Back up one database, or every database, of a tenant.
    Create(create::Args),
    /// List backups, newest first (a non-admin always sees only their own).
    List(list::Args),
    /// Show every field of one backup.
    Get(get::Args),
    /// Restore a backup into its tenant's database.
    Restore(restore::Args),
    /// Prove a backup restores, into a scratch database of another tenant.
    Verify(verify::Args),
    /// Delete a backup and its stored dump.
    Delete(delete::Args),
    /// Delete what no keep rule keeps (restic-style retention).
    Prune(prune::Args),
    /// Exit non-zero when a backup or verification is too old.
    Check(check::Args),
    /// The local index: rebuild it from the buckets after losing the host.
    Index(index::Args),
}

/// Prints each partial failure on stderr; non-zero exit when there was any.
fn report_failures(failures: &[String]) -> ExitCode {
    for failure in failures {
        eprintln!("failed: {failure}");
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

impl Args {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let session = self.remote.session().await?;
        match self.command {
            Command::Create(a) => a.run(&session).await,
            Command::List(a) => a.run(&session).await,
            Command::Get(a) => a.run(&session).await,
            Command::Restore(a) => a.run(&session).await,
            Command::Verify(a) => a.run(&session).await,
            Command::Delete(a) => a.run(&session).await,
            Command::Prune(a) => a.run(&session).await,
            Command::Check(a) => a.run(&session).await,
            Command::Index(a) => a.run(&session).await,
        }
    }
}

//! `containarium backup restore <id>`: replays a dump into the backup's own
//! tenant (the database may be renamed; the tenant may not).

use std::process::ExitCode;

use super::db::DbArgs;
use super::progress::{Watch, with_progress};
use super::remote::Session;
use crate::proto;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The backup id.
    id: String,
    /// Restore into this database instead of the backup's own.
    #[arg(long)]
    database: Option<String>,
    /// Drop each object before recreating it.
    #[arg(long)]
    clean: bool,
    /// Parallel pg_restore jobs. Above 1 the restore is NOT atomic: a failure
    /// can leave the database partly restored.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=64))]
    jobs: i32,
    /// Do not reproduce object ownership (for targets missing the owner roles).
    #[arg(long)]
    no_owner: bool,
    /// First recreate the roles of the globals backup taken with this one
    /// (all-databases creates take one), so objects keep their owners. Roles
    /// that exist are left as they are; SUPERUSER, REPLICATION and BYPASSRLS
    /// are never given. A globals backup's own id restores only its roles.
    #[arg(long)]
    globals: bool,
    #[command(flatten)]
    db: DbArgs,
}

impl Args {
    pub async fn run(self, s: &Session) -> anyhow::Result<ExitCode> {
        let watch = Watch {
            kind: "restore",
            backup_id: Some(self.id.clone()),
            ..Watch::default()
        };
        let req = proto::RestoreBackupRequest {
            id: self.id,
            connection: Some(self.db.connection(self.database)?),
            clean: self.clean,
            jobs: self.jobs,
            no_owner: self.no_owner,
            globals: self.globals,
        };
        let resp =
            with_progress(s, "restoring", watch, s.api.restore_backup(&s.creds, req)).await?;
        s.print(&resp, || format!("{}\n", resp.message))?;
        Ok(ExitCode::SUCCESS)
    }
}

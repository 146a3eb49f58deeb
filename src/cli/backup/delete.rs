//! `containarium backup delete <id>`: removes the dump and its record.

use std::process::ExitCode;

use super::remote::Session;
use crate::proto;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The backup id.
    id: String,
}

impl Args {
    pub async fn run(self, s: &Session) -> anyhow::Result<ExitCode> {
        let resp = s
            .api
            .delete_backup(&s.creds, proto::DeleteBackupRequest { id: self.id })
            .await?;
        s.print(&resp, || format!("{}\n", resp.message))?;
        Ok(ExitCode::SUCCESS)
    }
}

//! `containarium backup get <id>`: every field of one record.

use std::process::ExitCode;

use super::format;
use super::remote::Session;
use crate::proto;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The backup id, e.g. alice-app-20260605T130405Z.
    id: String,
}

impl Args {
    pub async fn run(self, s: &Session) -> anyhow::Result<ExitCode> {
        let resp = s
            .api
            .get_backup(&s.creds, proto::GetBackupRequest { id: self.id })
            .await?;
        s.print(&resp, || {
            resp.record
                .as_ref()
                .map_or_else(|| "no record\n".into(), format::record_detail)
        })?;
        Ok(ExitCode::SUCCESS)
    }
}

//! `containarium backup list [tenant]`: the catalog as a table. Sidecars the
//! daemon could not read come back as warnings, printed on stderr.

use std::process::ExitCode;

use super::format;
use super::remote::Session;
use crate::proto;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this tenant's backups (admins; everyone else always sees their own).
    tenant: Option<String>,
}

impl Args {
    pub async fn run(self, s: &Session) -> anyhow::Result<ExitCode> {
        let req = proto::ListBackupsRequest {
            username: self.tenant.unwrap_or_default(),
        };
        let resp = s.api.list_backups(&s.creds, req).await?;
        for w in &resp.warnings {
            eprintln!("warning: {w}");
        }
        s.print(&resp, || format::records_table(&resp.records))?;
        Ok(ExitCode::SUCCESS)
    }
}

//! `containarium backup list [tenant] [--limit N]`: the catalog as a table,
//! fetched page by page (newest first) so no single answer grows with the
//! catalog. Sidecars the daemon could not read come back as warnings,
//! printed on stderr.

use std::process::ExitCode;

use super::format;
use super::remote::Session;
use crate::proto;

/// Records asked for per request while paging through.
const PAGE: i32 = 1000;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this tenant's backups (admins; everyone else always sees their own).
    tenant: Option<String>,
    /// At most this many backups, newest first (default: all of them).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    limit: Option<u32>,
}

impl Args {
    pub async fn run(self, s: &Session) -> anyhow::Result<ExitCode> {
        let limit = self.limit.map_or(usize::MAX, |n| n as usize);
        let mut all = proto::ListBackupsResponse::default();
        loop {
            let want = i32::try_from(limit - all.records.len()).map_or(PAGE, |n| n.min(PAGE));
            let req = proto::ListBackupsRequest {
                username: self.tenant.clone().unwrap_or_default(),
                page_size: want,
                page_token: std::mem::take(&mut all.next_page_token),
            };
            let page = s.api.list_backups(&s.creds, req).await?;
            all.records.extend(page.records);
            all.warnings.extend(page.warnings);
            all.next_page_token = page.next_page_token;
            if all.next_page_token.is_empty() || all.records.len() >= limit {
                break;
            }
        }
        for w in &all.warnings {
            eprintln!("warning: {w}");
        }
        s.print(&all, || format::records_table(&all.records))?;
        Ok(ExitCode::SUCCESS)
    }
}

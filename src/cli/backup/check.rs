//! `containarium backup check`: exits non-zero and names every tenant or
//! database whose newest backup (or passed verification) is too old — the
//! "alert on absence of success" of a cron job, for any monitor.

use std::process::ExitCode;

use super::format;
use super::remote::Session;
use crate::proto;

/// Durations as everywhere (`26h`, `100d`, `90min`): y years, m months
/// (restic's meaning), d days, h hours, min minutes, s seconds.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The newest backup of each database must be younger than this.
    #[arg(long)]
    max_age: String,
    /// Also require a PASSED verification younger than this.
    #[arg(long)]
    require_verified_within: Option<String>,
    /// Only this tenant (a non-admin: always their own).
    #[arg(long)]
    tenant: Option<String>,
}

impl Args {
    pub async fn run(self, s: &Session) -> anyhow::Result<ExitCode> {
        let req = proto::CheckBackupsRequest {
            username: self.tenant.unwrap_or_default(),
            max_age: self.max_age,
            require_verified_within: self.require_verified_within.unwrap_or_default(),
        };
        let resp = s.api.check_backups(&s.creds, req).await?;
        s.print(&resp, || human(&resp))?;
        for bad in resp.statuses.iter().filter(|st| !st.ok) {
            let what = if bad.database.is_empty() {
                bad.username.clone()
            } else {
                format!("{}/{}", bad.username, bad.database)
            };
            eprintln!("stale: {what}: {}", bad.problem);
        }
        Ok(if resp.ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

fn human(resp: &proto::CheckBackupsResponse) -> String {
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            s.to_string()
        }
    };
    let rows: Vec<Vec<String>> = resp
        .statuses
        .iter()
        .map(|st| {
            vec![
                st.username.clone(),
                dash(&st.database),
                dash(&st.last_backup_at),
                dash(&st.last_verified_at),
                if st.ok {
                    "ok".into()
                } else {
                    st.problem.clone()
                },
            ]
        })
        .collect();
    format::table(
        &[
            "TENANT",
            "DATABASE",
            "LAST BACKUP",
            "LAST VERIFIED",
            "STATUS",
        ],
        &rows,
    )
}

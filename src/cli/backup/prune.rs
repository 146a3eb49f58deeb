//! `containarium backup prune`: restic-style retention per (tenant,
//! database). Refuses to run without a keep rule; `--dry-run` shows what
//! would go and why each kept backup stays.

use std::process::ExitCode;

use super::format;
use super::remote::Session;
use crate::proto;

/// Durations use restic's units: `h` hours, `d` days, `m` months, `y` years
/// (`30d`, `6m`, `1y2m`), measured from each group's newest backup. The
/// newest backup of a group, and any backup a restore or verify is using, is
/// never removed.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Only this tenant's backups (a non-admin: always their own).
    #[arg(long)]
    tenant: Option<String>,
    /// Only this database's backups.
    #[arg(long)]
    database: Option<String>,
    /// Keep the N newest backups.
    #[arg(long, default_value_t = 0)]
    keep_last: i32,
    /// Keep the newest backup of each of the N newest hours.
    #[arg(long, default_value_t = 0)]
    keep_hourly: i32,
    /// Keep the newest backup of each of the N newest days.
    #[arg(long, default_value_t = 0)]
    keep_daily: i32,
    /// Keep the newest backup of each of the N newest ISO weeks.
    #[arg(long, default_value_t = 0)]
    keep_weekly: i32,
    /// Keep the newest backup of each of the N newest months.
    #[arg(long, default_value_t = 0)]
    keep_monthly: i32,
    /// Keep the newest backup of each of the N newest years.
    #[arg(long, default_value_t = 0)]
    keep_yearly: i32,
    /// Keep every backup younger than this (e.g. 30d; m = months, min = minutes).
    #[arg(long)]
    keep_within: Option<String>,
    /// Keep the newest backup of each hour within this duration.
    #[arg(long)]
    keep_within_hourly: Option<String>,
    /// Keep the newest backup of each day within this duration.
    #[arg(long)]
    keep_within_daily: Option<String>,
    /// Keep the newest backup of each week within this duration.
    #[arg(long)]
    keep_within_weekly: Option<String>,
    /// Keep the newest backup of each month within this duration.
    #[arg(long)]
    keep_within_monthly: Option<String>,
    /// Keep the newest backup of each year within this duration.
    #[arg(long)]
    keep_within_yearly: Option<String>,
    /// Print what would be kept (with reasons) and removed; delete nothing.
    #[arg(long)]
    dry_run: bool,
}

impl Args {
    pub async fn run(self, s: &Session) -> anyhow::Result<ExitCode> {
        let req = proto::PruneBackupsRequest {
            username: self.tenant.unwrap_or_default(),
            database: self.database.unwrap_or_default(),
            keep_last: self.keep_last,
            keep_hourly: self.keep_hourly,
            keep_daily: self.keep_daily,
            keep_weekly: self.keep_weekly,
            keep_monthly: self.keep_monthly,
            keep_yearly: self.keep_yearly,
            keep_within: self.keep_within.unwrap_or_default(),
            keep_within_hourly: self.keep_within_hourly.unwrap_or_default(),
            keep_within_daily: self.keep_within_daily.unwrap_or_default(),
            keep_within_weekly: self.keep_within_weekly.unwrap_or_default(),
            keep_within_monthly: self.keep_within_monthly.unwrap_or_default(),
            keep_within_yearly: self.keep_within_yearly.unwrap_or_default(),
            dry_run: self.dry_run,
        };
        let resp = s.api.prune_backups(&s.creds, req).await?;
        s.print(&resp, || human(&resp, self.dry_run))?;
        Ok(super::report_failures(&resp.failures))
    }
}

fn human(resp: &proto::PruneBackupsResponse, dry_run: bool) -> String {
    let id = |d: &proto::PruneDecision| d.record.as_ref().map(|r| r.id.clone()).unwrap_or_default();
    let mut rows: Vec<Vec<String>> = resp
        .kept
        .iter()
        .map(|d| vec!["keep".into(), id(d), d.reasons.join(", ")])
        .collect();
    let verb = if dry_run { "would remove" } else { "removed" };
    rows.extend(
        resp.removed
            .iter()
            .map(|d| vec![verb.into(), id(d), String::new()]),
    );
    format!(
        "{}\n{}",
        resp.message,
        format::table(&["ACTION", "ID", "REASONS"], &rows)
    )
}

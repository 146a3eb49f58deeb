//! `containarium backup create <tenant>`: dump one database (or all of them)
//! into the chosen store. Exits non-zero when any database failed.

use std::process::ExitCode;

use super::db::DbArgs;
use super::format;
use super::progress::{Watch, with_progress};
use super::remote::Session;
use crate::proto::{self, BackupDestination};

/// Where the dump goes (the wire enum, spelled for people).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Dest {
    Local,
    Gcs,
    S3,
}

impl From<Dest> for BackupDestination {
    fn from(d: Dest) -> Self {
        match d {
            Dest::Local => Self::Local,
            Dest::Gcs => Self::Gcs,
            Dest::S3 => Self::S3,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The tenant (container) whose database is backed up.
    #[arg(required_unless_present = "all_tenants")]
    tenant: Option<String>,
    /// The database; omitted = every non-template database.
    #[arg(long, conflicts_with = "all_tenants")]
    database: Option<String>,
    /// Every database of every tenant in the daemon's config (admin token);
    /// exits non-zero if any tenant or database failed. One cron line
    /// instead of a hand-kept tenant list.
    #[arg(long, conflicts_with = "tenant")]
    all_tenants: bool,
    /// Where the dump is stored.
    #[arg(long, value_enum, default_value_t = Dest::Local)]
    dest: Dest,
    /// The bucket for --dest gcs or s3: gs://bucket/prefix or
    /// s3://bucket/prefix (the object is <prefix>/<id>.dump). Omit it to use
    /// the daemon's default bucket; only allow-listed buckets are accepted.
    #[arg(long, visible_alias = "gcs-bucket")]
    bucket: Option<String>,
    #[command(flatten)]
    db: DbArgs,
}

impl Args {
    pub async fn run(self, s: &Session) -> anyhow::Result<ExitCode> {
        let watch = Watch {
            kind: "create",
            tenant: self.tenant.clone(),
            database: self.database.clone(),
            backup_id: None,
        };
        let req = proto::CreateBackupRequest {
            username: self.tenant.unwrap_or_default(),
            connection: Some(self.db.connection(self.database)?),
            destination: BackupDestination::from(self.dest).into(),
            gcs_bucket: self.bucket.unwrap_or_default(),
            all_tenants: self.all_tenants,
        };
        let resp =
            with_progress(s, "backing up", watch, s.api.create_backup(&s.creds, req)).await?;
        s.print(&resp, || human(&resp))?;
        Ok(super::report_failures(&resp.failures))
    }
}

/// The message, then a table of every committed record.
fn human(resp: &proto::CreateBackupResponse) -> String {
    // `records` always lists everything; `record` alone is accepted from an
    // older daemon that did not fill `records`.
    let records: Vec<_> = if resp.records.is_empty() {
        resp.record.iter().cloned().collect()
    } else {
        resp.records.clone()
    };
    let mut out = format!("{}\n", resp.message);
    if !records.is_empty() {
        out.push_str(&format::records_table(&records));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_output_is_the_message_then_the_records() {
        let r = proto::BackupRecord {
            id: "a-app-1".into(),
            ..Default::default()
        };
        let resp = proto::CreateBackupResponse {
            message: "backed up 1 database".into(),
            record: Some(r.clone()),
            records: vec![],
            failures: vec![],
        };
        let out = human(&resp);
        assert!(out.starts_with("backed up 1 database\nID "), "{out}");
        assert!(out.lines().nth(2).unwrap().starts_with("a-app-1 "), "{out}");
        let resp = proto::CreateBackupResponse {
            message: "nothing".into(),
            ..Default::default()
        };
        assert_eq!(human(&resp), "nothing\n");
    }
}

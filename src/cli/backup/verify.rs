//! `containarium backup verify <id> --target <tenant>`: restores the dump into
//! a scratch database in another tenant's container and checks it. Exits
//! non-zero unless the result is PASSED, so it can gate scripts.

use std::process::ExitCode;

use super::db::DbArgs;
use super::format;
use super::progress::{Watch, with_progress};
use super::remote::Session;
use crate::proto::{self, VerificationResult};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The backup id.
    id: String,
    /// The tenant whose Postgres hosts the scratch database. It receives a
    /// full copy of the source's data (until the scratch database is dropped):
    /// pick a tenant trusted with it.
    #[arg(long)]
    target: String,
    #[command(flatten)]
    db: DbArgs,
}

impl Args {
    pub async fn run(self, s: &Session) -> anyhow::Result<ExitCode> {
        let watch = Watch {
            kind: "verify",
            backup_id: Some(self.id.clone()),
            ..Watch::default()
        };
        let req = proto::VerifyBackupRequest {
            id: self.id,
            target_username: self.target,
            connection: Some(self.db.connection(None)?),
        };
        let resp = with_progress(s, "verifying", watch, s.api.verify_backup(&s.creds, req)).await?;
        s.print(&resp, || human(&resp))?;
        Ok(if passed(&resp) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

fn passed(resp: &proto::VerifyBackupResponse) -> bool {
    resp.verification
        .as_ref()
        .is_some_and(|v| v.result == i32::from(VerificationResult::Passed))
}

fn human(resp: &proto::VerifyBackupResponse) -> String {
    let mut out = format!("{}\n", resp.message);
    match &resp.verification {
        Some(v) => out.push_str(&format::verification_detail(v, "")),
        None => out.push_str("no verification result\n"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_passed_passes() {
        let with = |r: VerificationResult| proto::VerifyBackupResponse {
            verification: Some(proto::BackupVerification {
                result: r.into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(passed(&with(VerificationResult::Passed)));
        assert!(!passed(&with(VerificationResult::Failed)));
        assert!(!passed(&with(VerificationResult::Unspecified)));
        assert!(!passed(&proto::VerifyBackupResponse::default()));
        assert!(human(&with(VerificationResult::Failed)).contains("result:      FAIL\n"));
    }
}

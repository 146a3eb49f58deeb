//! `containarium audit verify [FILE]`: walks an audit log's hash chain on
//! this host (no daemon needed) and names the first line that was changed,
//! removed or inserted. Exit 0 = intact, 1 = broken, so cron can alert.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::audit::verify::{Report, verify_file};
use crate::cli::backup::remote::Output;
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    /// Check the audit log's hash chain; exit 0 if intact, 1 naming the
    /// first changed, removed or inserted line.
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    /// The audit file [default: the configured audit-log, else
    /// <backup-dir>/audit.jsonl].
    file: Option<PathBuf>,
    /// TOML config file (for the default FILE).
    #[arg(long, env = "CONTAINARIUM_CONFIG")]
    config: Option<PathBuf>,
    /// Backup directory (for the default FILE), as the daemon takes it.
    #[arg(long, env = "CONTAINARIUM_BACKUP_DIR")]
    backup_dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

impl VerifyArgs {
    /// FILE, or the audit log the daemon would write with this config.
    fn file(&self) -> anyhow::Result<PathBuf> {
        if let Some(f) = &self.file {
            return Ok(f.clone());
        }
        let mut c = match &self.config {
            Some(p) => Config::load(p)?,
            None => Config::default(),
        };
        if let Some(d) = &self.backup_dir {
            c.backup_dir.clone_from(d);
        }
        Ok(c.audit_log())
    }
}

impl Args {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let AuditCommand::Verify(v) = self.command;
        let file = v.file()?;
        let report = verify_file(&file)
            .map_err(|e| anyhow::anyhow!("reading the audit log {}: {e}", file.display()))?;
        match v.output {
            Output::Json => {
                let mut json = serde_json::to_value(&report)?;
                json["file"] = file.display().to_string().into();
                json["intact"] = report.intact().into();
                println!("{}", serde_json::to_string_pretty(&json)?);
            }
            Output::Table => print!("{}", render(&file.display().to_string(), &report)),
        }
        Ok(if report.intact() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

/// The verdict for people: one headline, then notes.
fn render(file: &str, r: &Report) -> String {
    let mut out = match &r.problem {
        None => format!(
            "{file}: intact ({} lines, {} daemon restarts)\n",
            r.lines, r.restarts
        ),
        Some(p) => format!(
            "{file}: BROKEN at line {} ({}): {}\n",
            p.line, p.kind, p.reason
        ),
    };
    for t in &r.torn {
        let _ = writeln!(
            out,
            "note: line {t} was torn by a crash and marked by the daemon"
        );
    }
    for n in &r.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

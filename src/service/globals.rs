//! Globals backups (the tenant's roles): restored into the tenant's own
//! server before a database that needs its owners (`restore --globals`),
//! and restore-tested in scratch before the databases taken with them. The
//! stored text is the tenant's SQL: it is parsed by `engine::globals`, and
//! only SQL generated from the parsed names ever runs.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use tokio::io::AsyncReadExt;

use super::BackupService;
use super::operations::Progress;
use super::verify::check;
use crate::catalog::{Check, Record};
use crate::engine::{self, Globals, PgConn, globals::MAX_GLOBALS_BYTES};
use crate::runtime::Target;
use crate::{Error, Result};

/// Attributes a role keeps in scratch: none that lets it log in or create.
const SCRATCH_FLAGS: &[&str] = &["INHERIT", "NOINHERIT"];

impl BackupService {
    /// Checks, decodes and parses a globals backup.
    ///
    /// # Errors
    /// FailedPrecondition (integrity, decoding), InvalidArgument (text that
    /// cannot be parsed).
    pub(super) async fn read_globals(
        &self,
        record: &Record,
        progress: &Progress,
    ) -> Result<Globals> {
        let spool = self.spool(record, progress).await?;
        let archive = self.decoded(record, &spool).await?;
        let mut text = Vec::new();
        let limit = u64::try_from(MAX_GLOBALS_BYTES).unwrap_or(u64::MAX) + 1;
        archive
            .take(limit)
            .read_to_end(&mut text)
            .await
            .map_err(|e| {
                Error::precondition(format!("reading the globals of {}: {e}", record.id))
            })?;
        engine::globals::parse(&text)
            .map_err(|e| e.context(format!("globals backup {}", record.id)))
    }

    /// Creates the roles of `record` that the tenant's server lacks; roles
    /// that exist are left as they are. Returns what was done, for the
    /// caller's message.
    ///
    /// # Errors
    /// As [`Self::read_globals`]; FailedPrecondition when psql refuses (the
    /// transaction then changed nothing).
    pub(super) async fn restore_globals(
        &self,
        record: &Record,
        target: &Target,
        conn: &PgConn,
        progress: &Progress,
    ) -> Result<String> {
        let globals = self.read_globals(record, progress).await?;
        progress.phase("restoring roles");
        let existing = engine::role_names(target, conn).await?;
        let sql = globals.sql(&existing, &str::to_string);
        let created = globals
            .roles
            .iter()
            .filter(|r| !existing.contains(&r.name))
            .count();
        if !sql.is_empty() {
            engine::apply(target, conn, "postgres", &sql)
                .await
                .map_err(|e| e.context(format!("recreating the roles of {}", record.id)))?;
        }
        let mut said = format!(
            "{created} of {} roles created from {} ({} existed)",
            globals.roles.len(),
            record.id,
            globals.roles.len() - created
        );
        if !globals.skipped.is_empty() {
            said.push_str("; not taken over: ");
            said.push_str(&globals.skipped.join("; "));
        }
        Ok(said)
    }

    /// The restore test of a globals backup: parsed, then every role
    /// created in `target` under a name of this verify (`<scratch>_g<n>`,
    /// unable to log in or create anything), counted, dropped, and
    /// confirmed gone.
    pub(super) async fn test_globals(
        &self,
        record: &Record,
        target: &Target,
        conn: &PgConn,
        scratch: &str,
        progress: &Progress,
        checks: &mut Vec<Check>,
    ) {
        let globals = match self.read_globals(record, progress).await {
            Ok(g) => g,
            Err(e) => return checks.push(check("globals", false, e.message)),
        };
        let confined = confined(&globals);
        let rename = |n: &str| format!("{scratch}_g{}", confined.index(n));
        let sql = confined.sql(&BTreeSet::new(), &rename);
        let names: Vec<String> = confined.roles.iter().map(|r| rename(&r.name)).collect();
        let created = match engine::apply(target, conn, "postgres", &sql).await {
            Ok(()) => count_roles(target, conn, &names).await,
            Err(e) => Err(e),
        };
        checks.push(match created {
            Ok(n) if n == names.len() => check(
                "globals",
                true,
                format!(
                    "{n} roles and {} memberships recreated in scratch{}",
                    confined.memberships.len(),
                    skipped_note(&globals)
                ),
            ),
            Ok(n) => check(
                "globals",
                false,
                format!("{n} of {} roles exist after recreating them", names.len()),
            ),
            Err(e) => check("globals", false, e.message),
        });
        let drop = names.iter().fold(String::new(), |mut sql, n| {
            let _ = writeln!(sql, "DROP ROLE IF EXISTS {};", engine::quote_ident(n));
            sql
        });
        let dropped = match engine::apply(target, conn, "postgres", &drop).await {
            Ok(()) => count_roles(target, conn, &names).await,
            Err(e) => Err(e),
        };
        checks.push(match dropped {
            Ok(0) => check(
                "globals_cleanup",
                true,
                "scratch roles dropped; confirmed gone",
            ),
            Ok(n) => check(
                "globals_cleanup",
                false,
                format!("{n} scratch roles remain"),
            ),
            Err(e) => check("globals_cleanup", false, e.message),
        });
    }
}

/// The roles as scratch may hold them: no login, no password, no CREATE
/// rights; names, memberships, limits and comments as declared.
fn confined(g: &Globals) -> Globals {
    let mut c = g.clone();
    for r in &mut c.roles {
        r.flags.retain(|f| SCRATCH_FLAGS.contains(f));
        r.flags.insert(0, "NOLOGIN");
        r.password = None;
    }
    c
}

fn skipped_note(g: &Globals) -> String {
    if g.skipped.is_empty() {
        String::new()
    } else {
        format!("; not taken over: {}", g.skipped.join("; "))
    }
}

/// How many of `names` exist as roles.
async fn count_roles(target: &Target, conn: &PgConn, names: &[String]) -> Result<usize> {
    let existing = engine::role_names(target, conn).await?;
    Ok(names.iter().filter(|n| existing.contains(*n)).count())
}

//! Restore: integrity check and decoding first, then pg_restore inside the tenant's
//! container, single-transaction by default so a failure changes nothing.
//! A database the restore had to create is dropped again if the restore fails
//! (and at start-up, if the daemon stopped meanwhile: see `made`).
//! Unlike verify, a restore runs as the caller's own database user with no
//! sandbox: the archive came from this tenant's server and goes back to it,
//! so it can do nothing there that the tenant could not already do.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::operations::Progress;
use super::{BackupService, Facts, RestoreRequest};
use crate::auth::{Credentials, Principal, Scope};
use crate::catalog::{Intent, Kind, Made, MarkerKind};
use crate::engine::{self, PgConn, RestoreOptions};
use crate::fault::Phase;
use crate::runtime::Target;
use crate::store::ObjectReader;
use crate::{Error, Result};

impl BackupService {
    /// # Errors
    /// NotFound, PermissionDenied, FailedPrecondition ("integrity check
    /// failed", or pg_restore's own stderr), Unavailable (also when a
    /// `--clean` restore's intent line cannot be audited: nothing is dropped).
    pub async fn restore(&self, creds: &Credentials, req: RestoreRequest) -> Result<String> {
        let svc = self.clone();
        let work = move |who, facts| async move { svc.restore_inner(&who, req, &facts).await };
        self.run_noted("restore", creds, work, super::note_message)
            .await
    }

    async fn restore_inner(
        &self,
        who: &Principal,
        req: RestoreRequest,
        facts: &Facts,
    ) -> Result<String> {
        who.require(Scope::Write)?;
        facts.id(&req.id);
        let record = self.visible(who, &req.id)?;
        facts.record(&record);
        super::require_postgres(&record)?;
        let database = req
            .connection
            .database()?
            .map_or_else(|| record.database.clone(), str::to_string);
        let conn = req.connection.pg()?;
        let target = self.reach(&record.username, &conn)?;

        let _slot = self.inner.limits.slot(&record.username).await?;
        let _lock = self.inner.locks.lock(&record.id).await;
        // It may have been deleted while we waited for the lock.
        let record = self.visible(who, &req.id)?;
        let intent = Intent {
            action: "restore".into(),
            subject: who.subject.clone(),
            tenant: record.username.clone(),
            database: database.clone(),
            op: facts.snapshot().op,
            ..Intent::default()
        };
        let busy = self
            .inner
            .catalog
            .begin(&record.id, MarkerKind::Busy, &intent)?;
        let progress = self.inner.operations.start(
            "restore",
            &record.username,
            &database,
            &record.id,
            record.size_bytes.unsigned_abs(),
        );
        if record.kind == Kind::Globals {
            // Roles only: a globals backup has no database to restore.
            return self
                .restore_globals(&record, &target, &conn, &progress)
                .await;
        }
        let roles = if req.globals {
            let gid = record.globals_id.as_deref().ok_or_else(|| {
                Error::precondition(format!(
                    "backup {} was taken without globals (only a create of all databases \
                     takes them): restore it without --globals, or with --no-owner",
                    record.id
                ))
            })?;
            let globals = self.visible(who, gid).map_err(|e| {
                e.context(format!("the globals backup {gid} taken with {}", record.id))
            })?;
            Some(
                self.restore_globals(&globals, &target, &conn, &progress)
                    .await?,
            )
        } else {
            None
        };
        let spool = self.spool(&record, &progress).await?;
        let archive = self.decoded(&record, &spool).await?;

        // --clean drops what is there: audited before anything is dropped.
        if req.options.clean {
            self.intent(facts)?;
        }
        let existed = engine::database_exists(&target, &conn, &database).await?;
        if !existed {
            // Noted in the marker: a crash from here on leaves no database
            // half-restored (start-up recovery drops it by its OID).
            let made = Made {
                tenant: record.username.clone(),
                user: conn.user.clone(),
                host: conn.host.clone(),
                port: conn.port,
                database: database.clone(),
                ..Made::default()
            };
            super::made::create_noted(&busy, &intent, made, &target, &conn).await?;
        }
        let restored = super::limits::within(
            self.inner.limits.deadlines.restore,
            format!("the restore of {}", record.id),
            pg_restore(
                &target,
                &conn,
                &database,
                req.options,
                archive,
                &progress,
                Phase::DuringRestore,
            ),
        )
        .await;
        let failure = match restored {
            Ok(Ok(())) => None,
            Ok(Err(stderr)) => Some(Error::precondition(format!(
                "pg_restore of {} into {}/{database} failed: {stderr}",
                record.id, record.username
            ))),
            // Could not run, or cut off at the deadline (pg_restore killed).
            Err(e) => Some(e),
        };
        if let Some(e) = failure {
            if !existed && let Err(e) = engine::drop_database(&target, &conn, &database).await {
                tracing::warn!(database, error = %e, "could not drop the database a failed restore created");
            }
            return Err(e);
        }
        tracing::info!(id = %record.id, database, "restore finished");
        let roles = roles.map(|r| format!("; {r}")).unwrap_or_default();
        Ok(format!(
            "backup {} restored into {}/{database} ({} bytes, SHA-256 verified){roles}",
            record.id, record.username, spool.digest.size
        ))
    }
}

/// Feeds the checked, decoded archive to pg_restore in `database`. The outer
/// error is ours (the child could not run); the inner one is pg_restore's own
/// stderr. `phase` is the fault point reached after the first chunk.
pub(super) async fn pg_restore(
    target: &Target,
    conn: &PgConn,
    database: &str,
    options: RestoreOptions,
    reader: ObjectReader,
    progress: &Progress,
    phase: Phase,
) -> Result<Result<(), String>> {
    progress.phase("restoring");
    let mut child = engine::restore(target, conn, database, options).await?;
    let mut stdin = child.stdin.take().expect("pg_restore reads stdin");
    // Large blocks: tokio's default 8 KiB copy costs two syscalls per 8 KiB.
    let mut reader =
        tokio::io::BufReader::with_capacity(crate::stream::CHUNK, progress.tap(reader));
    let fed = async {
        let mut first = (&mut reader).take(crate::stream::CHUNK as u64);
        tokio::io::copy_buf(&mut first, &mut stdin).await?;
        stdin.flush().await?;
        crate::fault::point(phase).await;
        tokio::io::copy_buf(&mut reader, &mut stdin).await
    }
    .await;
    let _ = stdin.shutdown().await;
    drop(stdin);
    let done = child.finish().await?;
    if !done.success() {
        return Ok(Err(done.explain()));
    }
    fed.map_err(|e| Error::internal(format!("feeding pg_restore: {e}")))?;
    Ok(Ok(()))
}

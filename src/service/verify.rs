//! Verify: a restore test an auditor can credit. The dump is spooled and
//! hashed, then restored into a scratch tenant (declared `scratch = true`)
//! inside a sandbox: a login role made for this verify alone (no superuser,
//! createdb, createrole, no membership) owning a fresh database, and the
//! restore and the comparison with the dump-time manifests run as that role,
//! because the archive is the tenant's SQL. Database and role are dropped and
//! confirmed gone. Every step is a named check; a dump that does not restore
//! is a FAILED result, not an error. Tenants see the result without the
//! scratch side's names ([`for_viewer`]).

use std::time::Instant;

use chrono::{DateTime, Utc};

use super::operations::Progress;
use super::restore::pg_restore;
use super::{BackupService, Connection, Facts};
use crate::auth::{Credentials, Principal, Scope};
use crate::catalog::{
    self, Check, Destination, Kind, Record, Verification, VerifyResult, validate_name,
};
use crate::engine::{self, PgConn, RestoreOptions, Sandbox};
use crate::notify::Event;
use crate::runtime::Target;
use crate::store::ObjectReader;
use crate::{Error, Result};

/// Restore-test `id` into `target_tenant`'s container.
#[derive(Debug, Clone, Default)]
pub struct VerifyRequest {
    pub id: String,
    pub target_tenant: String,
    /// How to reach the target's server (the database is ignored).
    pub connection: Connection,
}

impl BackupService {
    /// Returns the updated record and the verification, PASSED or FAILED.
    ///
    /// # Errors
    /// Refusals only: InvalidArgument (no target), FailedPrecondition (the
    /// target is the backup's own container), PermissionDenied, NotFound.
    pub async fn verify(
        &self,
        creds: &Credentials,
        req: VerifyRequest,
    ) -> Result<(Record, Verification)> {
        let svc = self.clone();
        self.run("verify", creds, move |who, facts| async move {
            svc.verify_inner(&who, req, &facts).await
        })
        .await
    }

    async fn verify_inner(
        &self,
        who: &Principal,
        req: VerifyRequest,
        facts: &Facts,
    ) -> Result<(Record, Verification)> {
        who.require(Scope::Write)?;
        facts.id(&req.id);
        let record = self.visible(who, &req.id)?;
        facts.record(&record);
        if req.target_tenant.is_empty() {
            return Err(Error::invalid(
                "verify needs a target tenant: a container other than the backup's own, which receives a copy of the data",
            ));
        }
        validate_name("target tenant", &req.target_tenant)?;
        if !who.may_act_on(&req.target_tenant) {
            return Err(Error::denied(format!(
                "{} may verify only into a tenant they own",
                who.subject
            )));
        }
        super::require_postgres(&record)?;
        // Before the target is resolved: an undeclared name is no scratch
        // tenant either, and the answer is about the target (the backup was
        // found), not a NotFound that reads as if the backup were missing.
        if !self.inner.tenants.is_scratch(&req.target_tenant) {
            return Err(Error::precondition(format!(
                "tenant {} is not declared `scratch = true`: a restore test copies another \
                 tenant's data into its target, so only a scratch tenant can be one",
                req.target_tenant
            )));
        }
        let conn = req.connection.pg()?;
        let source = self.inner.tenants.resolve(&record.username)?;
        let target = self.reach(&req.target_tenant, &conn)?;
        if source.describe() == target.describe() {
            return Err(Error::precondition(format!(
                "the target {} resolves to the backup's own container ({}); verify restores into a different one",
                req.target_tenant,
                target.describe()
            )));
        }

        let _slot = self.inner.limits.slot(&record.username).await?;
        let _lock = self.inner.locks.lock(&record.id).await;
        // Re-read under the lock: a delete that won the race stays deleted.
        let record = self.visible(who, &req.id)?;
        let scratch = scratch_name();
        // The scratch is named in the marker before it exists: a crash
        // mid-test leaves nothing in the scratch tenant after start-up.
        let _busy = self.inner.catalog.begin(
            &record.id,
            crate::catalog::MarkerKind::Busy,
            &crate::catalog::Intent {
                action: "verify".into(),
                subject: who.subject.clone(),
                tenant: record.username.clone(),
                database: record.database.clone(),
                op: facts.snapshot().op,
                made: Some(crate::catalog::Made {
                    tenant: req.target_tenant.clone(),
                    user: conn.user.clone(),
                    host: conn.host.clone(),
                    port: conn.port,
                    database: scratch.clone(),
                    oid: None,
                    sandbox: true,
                }),
                ..crate::catalog::Intent::default()
            },
        )?;
        let progress = self.inner.operations.start(
            "verify",
            &record.username,
            &record.database,
            &record.id,
            record.size_bytes.unsigned_abs(),
        );
        let started = Instant::now();
        let verified_at = Utc::now();
        let mut checks = Vec::new();
        self.restore_test(&record, &target, &conn, &scratch, &progress, &mut checks)
            .await;
        let failed = checks.iter().find(|c| !c.passed);
        let verification = Verification {
            verified_at,
            result: if failed.is_none() {
                VerifyResult::Passed
            } else {
                VerifyResult::Failed
            },
            error: failed
                .map(|c| format!("{}: {}", c.name, c.detail))
                .unwrap_or_default(),
            target_container: target.describe(),
            scratch_database: scratch,
            duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            verified_by: who.subject.clone(),
            checks,
        };
        let mut updated = record;
        updated.last_verification = Some(verification.clone());
        if updated.destination != Destination::Local {
            let evidence_until = self.put_evidence(&updated, &verification).await;
            updated.locked_until = updated.locked_until.max(evidence_until);
        }
        self.inner.catalog.put(&updated).await?;
        let (tenant, database) = (&updated.username, &updated.database);
        if verification.result == VerifyResult::Failed {
            facts.outcome("failed", &verification.error);
            self.failure(Event::VerifyFailed, tenant, database, &verification.error);
        } else {
            self.inner
                .notifier
                .ok(Event::VerifyFailed, tenant, database);
        }
        let shown = for_viewer(who, updated);
        let verification = shown.last_verification.clone().unwrap_or(verification);
        Ok((shown, verification))
    }

    /// Stores the verification as a new object beside the bucket dump, so a
    /// daemon that rebuilds its index from the bucket keeps the evidence. A
    /// bucket that cannot take it is logged; the local record still has it.
    /// Returns until when the bucket locks the evidence, if it does.
    async fn put_evidence(&self, record: &Record, v: &Verification) -> Option<DateTime<Utc>> {
        let key = catalog::verification_key(&record.id, v);
        let mut until = None;
        let stored = match (self.store_of(record), serde_json::to_vec_pretty(v)) {
            (Ok(store), Ok(json)) => {
                until = store.lock_period().map(crate::store::retain_until);
                store
                    .put_locked(&key, bytes::Bytes::from(json), until)
                    .await
            }
            (Err(e), _) => Err(e),
            (_, Err(e)) => Err(e.into()),
        };
        match stored {
            Ok(()) => until,
            Err(e) => {
                tracing::warn!(id = %record.id, key, error = %e, "verification evidence not stored in the bucket");
                None
            }
        }
    }

    /// Runs the checks in order, stopping at the first that makes the rest
    /// meaningless; the scratch database is always dropped if it was created.
    async fn restore_test(
        &self,
        record: &Record,
        target: &Target,
        conn: &PgConn,
        scratch: &str,
        progress: &Progress,
        checks: &mut Vec<Check>,
    ) {
        let spool = match self.spool(record, progress).await {
            Ok(s) => {
                let detail = format!(
                    "SHA-256 {} matches ({} bytes)",
                    s.digest.sha256, s.digest.size
                );
                checks.push(check("integrity", true, detail));
                s
            }
            Err(e) => return checks.push(check("integrity", false, e.message)),
        };
        // A dump this daemon cannot decode (wrong key, encrypt-only host)
        // is named as such, not as a failed restore.
        let archive = match self.decoded(record, &spool).await {
            Ok(r) => r,
            Err(e) => return checks.push(check("decode", false, e.message)),
        };
        if !record.encoding.stages.is_empty() {
            let stages = record.encoding.stages.join(" → ");
            checks.push(check("decode", true, format!("{stages} undone")));
        }
        if record.kind == Kind::Globals {
            drop(archive);
            return self
                .test_globals(record, target, conn, scratch, progress, checks)
                .await;
        }
        // The roles taken with this database are tested first, as a
        // restore would apply them first.
        if let Some(gid) = &record.globals_id {
            match self.inner.catalog.get(gid) {
                Ok(globals) => {
                    self.test_globals(&globals, target, conn, scratch, progress, checks)
                        .await;
                }
                Err(e) => checks.push(check(
                    "globals",
                    true,
                    format!(
                        "the globals backup {gid} taken with this one is not available ({}); \
                         the database is tested without it",
                        e.message
                    ),
                )),
            }
            if checks.iter().any(|c| !c.passed) {
                return;
            }
        }
        let sandbox = match Sandbox::new(conn, scratch) {
            Ok(s) => s,
            Err(e) => return checks.push(check("scratch_database", false, e.message)),
        };
        let created = sandbox.create(target, conn).await;
        if let Err(e) = created {
            checks.push(check("scratch_database", false, e.message));
        } else {
            checks.push(check(
                "scratch_database",
                true,
                format!(
                    "created {scratch} in {}, owned by a role of the same name made for this \
                     verify (no superuser, createdb, createrole or membership)",
                    target.describe()
                ),
            ));
            let deadline = self.inner.limits.deadlines.verify;
            let tested = super::limits::within(deadline, "the restore test", async {
                restore_as_sandbox(record, target, &sandbox, archive, progress, checks).await;
                Ok(())
            })
            .await;
            if let Err(e) = tested {
                checks.push(check("restore", false, e.message));
            }
        }

        // Always, also after a failed create: a half-made role must go too.
        checks.push(match sandbox.drop(target, conn).await {
            Ok(()) => check(
                "cleanup",
                true,
                format!("dropped database and role {scratch}; confirmed gone"),
            ),
            Err(e) => check(
                "cleanup",
                false,
                format!("{scratch} may remain: {}", e.message),
            ),
        });
    }
}

/// pg_restore and the manifest queries, connected as the sandbox role.
async fn restore_as_sandbox(
    record: &Record,
    target: &Target,
    sandbox: &Sandbox,
    archive: ObjectReader,
    progress: &Progress,
    checks: &mut Vec<Check>,
) {
    let options = RestoreOptions {
        no_owner: true,
        ..RestoreOptions::default()
    };
    let conn = &sandbox.conn;
    match pg_restore(
        target,
        conn,
        &sandbox.name,
        options,
        archive,
        progress,
        crate::fault::Phase::DuringVerify,
    )
    .await
    {
        Ok(Ok(())) => {
            checks.push(check(
                "restore",
                true,
                "pg_restore --no-owner --single-transaction as the verify role succeeded",
            ));
            compare_manifests(record, target, conn, &sandbox.name, checks).await;
        }
        Ok(Err(stderr)) => checks.push(check("restore", false, stderr)),
        Err(e) => checks.push(check("restore", false, e.message)),
    }
}

/// Relation count and per-table rows of the restored copy vs. the manifests.
async fn compare_manifests(
    record: &Record,
    target: &Target,
    conn: &PgConn,
    scratch: &str,
    checks: &mut Vec<Check>,
) {
    match (
        engine::relation_count(target, conn, scratch).await,
        record.relation_count,
    ) {
        (Ok(n), Some(m)) if n == m => checks.push(check(
            "relation_count",
            true,
            format!("{n} relations, as at dump time"),
        )),
        (Ok(n), Some(m)) => checks.push(check(
            "relation_count",
            false,
            format!("restored {n} relations; the manifest recorded {m}"),
        )),
        (Ok(n), None) => checks.push(check(
            "relation_count",
            true,
            format!("{n} relations restored (no manifest to compare)"),
        )),
        (Err(e), _) => checks.push(check("relation_count", false, e.message)),
    }
    let Some(manifest) = &record.row_counts else {
        return checks.push(check(
            "row_counts",
            true,
            "no row manifest in this record (an older backup, or an archive that could not be counted); not compared",
        ));
    };
    match engine::row_counts(target, conn, scratch).await {
        Ok(restored) if &restored == manifest => checks.push(check(
            "row_counts",
            true,
            format!(
                "{} tables, {} rows, as at dump time",
                restored.len(),
                restored.values().sum::<i64>()
            ),
        )),
        Ok(restored) => {
            let mut diffs = Vec::new();
            for name in manifest
                .keys()
                .chain(restored.keys().filter(|k| !manifest.contains_key(*k)))
            {
                let (want, got) = (manifest.get(name), restored.get(name));
                if want != got {
                    let show =
                        |v: Option<&i64>| v.map_or_else(|| "missing".to_string(), i64::to_string);
                    diffs.push(format!(
                        "{name}: manifest {} restored {}",
                        show(want),
                        show(got)
                    ));
                }
            }
            checks.push(check("row_counts", false, diffs.join("; ")));
        }
        Err(e) => checks.push(check("row_counts", false, e.message)),
    }
}

/// A record as `who` may see it: a tenant gets its restore-test result and
/// every check, but not the scratch side's container, database or role
/// names (they describe the operator's shared scratch, not the tenant's data).
pub(super) fn for_viewer(who: &Principal, mut record: Record) -> Record {
    if !who.admin
        && let Some(v) = record.last_verification.as_mut()
    {
        let hidden = [
            (
                std::mem::take(&mut v.target_container),
                "the scratch tenant",
            ),
            (
                std::mem::take(&mut v.scratch_database),
                "the scratch database",
            ),
        ];
        let scrub = |text: &mut String| {
            for (name, word) in &hidden {
                if !name.is_empty() {
                    *text = text.replace(name.as_str(), word);
                }
            }
        };
        scrub(&mut v.error);
        for c in &mut v.checks {
            scrub(&mut c.detail);
        }
    }
    record
}

pub(super) fn check(name: &str, passed: bool, detail: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        passed,
        detail: detail.into(),
    }
}

/// What every restore test's scratch database and roles are named with.
const SCRATCH_PREFIX: &str = "containarium_verify_";

/// `containarium_verify_<UTC yyyymmddhhmmss>_<8 hex>`: 43 bytes, unique per
/// run, so a leftover of a crashed run can never collide with a new one.
fn scratch_name() -> String {
    format!(
        "{SCRATCH_PREFIX}{}_{:08x}",
        Utc::now().format("%Y%m%d%H%M%S"),
        rand::random::<u32>()
    )
}

/// Whether `name` is one [`scratch_name`] makes: the only names start-up
/// recovery drops in a scratch tenant (a marker naming anything else is
/// refused, not obeyed).
pub(super) fn is_scratch_name(name: &str) -> bool {
    name.strip_prefix(SCRATCH_PREFIX).is_some_and(|rest| {
        let (stamp, tag) = rest.split_once('_').unwrap_or(("", ""));
        stamp.len() == 14
            && stamp.bytes().all(|b| b.is_ascii_digit())
            && tag.len() == 8
            && tag.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

#[cfg(test)]
mod tests {
    use crate::auth::Principal;
    use crate::catalog::{Check, Record, Verification, VerifyResult};

    #[test]
    fn tenants_see_results_without_scratch_side_names() {
        let v = Verification {
            verified_at: chrono::Utc::now(),
            result: VerifyResult::Failed,
            error: "restore: psql in netns:ns-scratch failed on containarium_verify_1".into(),
            target_container: "netns:ns-scratch".into(),
            scratch_database: "containarium_verify_1".into(),
            duration_ms: 1,
            verified_by: "root".into(),
            checks: vec![Check {
                name: "scratch_database".into(),
                passed: true,
                detail: "created containarium_verify_1 in netns:ns-scratch".into(),
            }],
        };
        let record: Record = serde_json::from_value(serde_json::json!({
            "id": "a-b-20260101T000000Z", "username": "a", "database": "b",
            "created_at": "2026-01-01T00:00:00Z", "size_bytes": 1, "sha256": "00",
            "destination": "local", "location": "/x", "engine": "postgres",
        }))
        .unwrap();
        let record = Record {
            last_verification: Some(v.clone()),
            ..record
        };
        let admin = super::for_viewer(&Principal::operator("root"), record.clone());
        assert_eq!(admin.last_verification.as_ref(), Some(&v));
        let tenant = Principal {
            admin: false,
            ..Principal::operator("a")
        };
        let shown = super::for_viewer(&tenant, record)
            .last_verification
            .unwrap();
        let text = serde_json::to_string(&shown).unwrap();
        assert!(
            !text.contains("ns-scratch") && !text.contains("containarium_verify_1"),
            "{text}"
        );
        assert_eq!(shown.result, VerifyResult::Failed);
        assert!(
            shown.checks[0].detail.contains("the scratch database"),
            "{text}"
        );
    }

    #[test]
    fn scratch_names_fit_postgres_identifiers_and_differ() {
        let (a, b) = (super::scratch_name(), super::scratch_name());
        assert!(
            a.len() <= 63 && a.starts_with("containarium_verify_"),
            "{a}"
        );
        assert_ne!(a, b);
        assert!(super::is_scratch_name(&a), "{a}");
        for not in [
            "app",
            "containarium_verify_",
            "containarium_verify_20260101000000_0000000g",
            "containarium_verify_20260101000000_00000000_g0",
            "xcontainarium_verify_20260101000000_00000000",
        ] {
            assert!(!super::is_scratch_name(not), "{not}");
        }
    }
}

//! proto ↔ service conversions. Range checks on wire integers live here;
//! everything else is validated by the service.

use crate::catalog::{Destination, Engine, Page, Record, Verification, VerifyResult, rfc3339};
use crate::engine::{Password, RestoreOptions};
use crate::proto;
use crate::retention::{CalendarDuration, Policy};
use crate::service::{
    CheckRequest, Connection, CreateOutcome, CreateRequest, Freshness, Operation, PruneOutcome,
    PruneRequest, RebuildOutcome, RecentFailure, RestoreRequest,
};
use crate::{Error, Result};

/// Highest `jobs` a restore may ask for.
/// The most parallel `pg_restore` jobs a restore may ask for.
pub const MAX_JOBS: i32 = 64;

pub fn destination_to_proto(d: Destination) -> proto::BackupDestination {
    match d {
        Destination::Local => proto::BackupDestination::Local,
        Destination::Gcs => proto::BackupDestination::Gcs,
        Destination::S3 => proto::BackupDestination::S3,
    }
}

/// # Errors
/// InvalidArgument for UNSPECIFIED or an unknown number.
pub fn destination_from_proto(v: i32) -> Result<Destination> {
    match proto::BackupDestination::try_from(v) {
        Ok(proto::BackupDestination::Local) => Ok(Destination::Local),
        Ok(proto::BackupDestination::Gcs) => Ok(Destination::Gcs),
        Ok(proto::BackupDestination::S3) => Ok(Destination::S3),
        Ok(proto::BackupDestination::Unspecified) => Err(Error::invalid(
            "destination is required: BACKUP_DESTINATION_LOCAL, _GCS or _S3",
        )),
        Err(_) => Err(Error::invalid(format!("unknown destination {v}"))),
    }
}

pub fn verification_to_proto(v: &Verification) -> proto::BackupVerification {
    proto::BackupVerification {
        verified_at: rfc3339(&v.verified_at),
        result: match v.result {
            VerifyResult::Passed => proto::VerificationResult::Passed,
            VerifyResult::Failed => proto::VerificationResult::Failed,
        }
        .into(),
        error: v.error.clone(),
        target_container: v.target_container.clone(),
        scratch_database: v.scratch_database.clone(),
        duration_ms: v.duration_ms,
        verified_by: v.verified_by.clone(),
        checks: v
            .checks
            .iter()
            .map(|c| proto::VerificationCheck {
                name: c.name.clone(),
                passed: c.passed,
                detail: c.detail.clone(),
            })
            .collect(),
    }
}

pub fn record_to_proto(r: &Record) -> proto::BackupRecord {
    proto::BackupRecord {
        id: r.id.clone(),
        username: r.username.clone(),
        database: r.database.clone(),
        created_at: rfc3339(&r.created_at),
        size_bytes: r.size_bytes,
        sha256: r.sha256.clone(),
        destination: destination_to_proto(r.destination).into(),
        location: r.location.clone(),
        engine: match r.engine {
            Some(Engine::Postgres) => proto::BackupEngine::Postgres,
            None => proto::BackupEngine::Unspecified,
        }
        .into(),
        last_verification: r.last_verification.as_ref().map(verification_to_proto),
        relation_count: r.relation_count,
        stages: r.encoding.stages.clone(),
        raw_size_bytes: r.encoding.raw_size_bytes,
        compression: r.encoding.compression.clone().unwrap_or_default(),
        encryption: r.encoding.encryption.clone().unwrap_or_default(),
        recipients: r.encoding.recipients.clone(),
        locked_until: r.locked_until.as_ref().map(rfc3339).unwrap_or_default(),
        kind: r.kind.name().into(),
        globals_id: r.globals_id.clone().unwrap_or_default(),
    }
}

/// # Errors
/// InvalidArgument for an out-of-range port or a password that cannot travel.
pub fn connection_from_proto(c: Option<proto::PgConnection>) -> Result<Connection> {
    let c = c.unwrap_or_default();
    let port = match c.port {
        0 => None,
        p => Some(
            u16::try_from(p)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| Error::invalid(format!("port {p} is out of range (1-65535)")))?,
        ),
    };
    let some = |s: String| (!s.is_empty()).then_some(s);
    Ok(Connection {
        database: some(c.database),
        user: some(c.user),
        password: Password::new(c.password)?,
        host: some(c.host),
        port,
    })
}

/// # Errors
/// As [`destination_from_proto`] and [`connection_from_proto`].
pub fn create_from_proto(r: proto::CreateBackupRequest) -> Result<CreateRequest> {
    Ok(CreateRequest {
        tenant: r.username,
        connection: connection_from_proto(r.connection)?,
        destination: Some(destination_from_proto(r.destination)?),
        bucket: (!r.gcs_bucket.is_empty()).then_some(r.gcs_bucket),
        all_tenants: r.all_tenants,
    })
}

pub fn create_to_proto(o: &CreateOutcome) -> proto::CreateBackupResponse {
    proto::CreateBackupResponse {
        message: o.message(),
        record: if o.single {
            o.records.first().map(record_to_proto)
        } else {
            None
        },
        records: o.records.iter().map(record_to_proto).collect(),
        failures: o.failures.clone(),
    }
}

pub fn list_to_proto(l: &Page) -> proto::ListBackupsResponse {
    proto::ListBackupsResponse {
        records: l.records.iter().map(record_to_proto).collect(),
        next_page_token: l.next_page_token.clone(),
        warnings: l
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.file.display(), p.error))
            .collect(),
    }
}

pub fn rebuild_to_proto(o: &RebuildOutcome) -> proto::RebuildIndexResponse {
    proto::RebuildIndexResponse {
        message: o.message(),
        added: o.added.iter().map(record_to_proto).collect(),
        unchanged: i64::try_from(o.unchanged).unwrap_or(i64::MAX),
        warnings: o.warnings.clone(),
    }
}

/// # Errors
/// InvalidArgument for a negative or excessive `jobs`.
pub fn restore_from_proto(r: proto::RestoreBackupRequest) -> Result<RestoreRequest> {
    if !(0..=MAX_JOBS).contains(&r.jobs) {
        return Err(Error::invalid(format!(
            "jobs must be between 1 and {MAX_JOBS}"
        )));
    }
    Ok(RestoreRequest {
        id: r.id,
        connection: connection_from_proto(r.connection)?,
        options: RestoreOptions {
            clean: r.clean,
            jobs: r.jobs.unsigned_abs(),
            no_owner: r.no_owner,
        },
        globals: r.globals,
    })
}

fn count(name: &str, v: i32) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::invalid(format!("{name} must not be negative")))
}

fn duration(name: &str, v: &str) -> Result<Option<CalendarDuration>> {
    if v.is_empty() {
        return Ok(None);
    }
    v.parse()
        .map(Some)
        .map_err(|e: String| Error::invalid(format!("{name}: {e}")))
}

/// # Errors
/// InvalidArgument for negative counts or malformed durations.
pub fn prune_from_proto(r: &proto::PruneBackupsRequest) -> Result<PruneRequest> {
    Ok(PruneRequest {
        tenant: (!r.username.is_empty()).then(|| r.username.clone()),
        database: (!r.database.is_empty()).then(|| r.database.clone()),
        policy: Policy {
            last: count("keep_last", r.keep_last)?,
            hourly: count("keep_hourly", r.keep_hourly)?,
            daily: count("keep_daily", r.keep_daily)?,
            weekly: count("keep_weekly", r.keep_weekly)?,
            monthly: count("keep_monthly", r.keep_monthly)?,
            yearly: count("keep_yearly", r.keep_yearly)?,
            within: duration("keep_within", &r.keep_within)?,
            within_hourly: duration("keep_within_hourly", &r.keep_within_hourly)?,
            within_daily: duration("keep_within_daily", &r.keep_within_daily)?,
            within_weekly: duration("keep_within_weekly", &r.keep_within_weekly)?,
            within_monthly: duration("keep_within_monthly", &r.keep_within_monthly)?,
            within_yearly: duration("keep_within_yearly", &r.keep_within_yearly)?,
        },
        dry_run: r.dry_run,
    })
}

pub fn prune_to_proto(o: &PruneOutcome) -> proto::PruneBackupsResponse {
    let decision = |r: &Record, reasons: &[String]| proto::PruneDecision {
        record: Some(record_to_proto(r)),
        reasons: reasons.to_vec(),
    };
    proto::PruneBackupsResponse {
        message: o.message(),
        kept: o.kept.iter().map(|(r, why)| decision(r, why)).collect(),
        removed: o.removed.iter().map(|r| decision(r, &[])).collect(),
        failures: o.failures.clone(),
    }
}

/// # Errors
/// InvalidArgument for a missing or malformed duration.
pub fn check_from_proto(r: &proto::CheckBackupsRequest) -> Result<CheckRequest> {
    Ok(CheckRequest {
        tenant: (!r.username.is_empty()).then(|| r.username.clone()),
        max_age: duration("max_age", &r.max_age)?
            .ok_or_else(|| Error::invalid("max_age is required (e.g. 26h)"))?,
        verified_within: duration("require_verified_within", &r.require_verified_within)?,
        now: chrono::Utc::now(),
    })
}

pub fn check_to_proto(statuses: &[Freshness]) -> proto::CheckBackupsResponse {
    let time =
        |t: &Option<chrono::DateTime<chrono::Utc>>| t.as_ref().map(rfc3339).unwrap_or_default();
    proto::CheckBackupsResponse {
        ok: statuses.iter().all(|s| s.problem.is_none()),
        statuses: statuses
            .iter()
            .map(|s| proto::FreshnessStatus {
                username: s.tenant.clone(),
                database: s.database.clone(),
                last_backup_at: time(&s.last_backup),
                last_verified_at: time(&s.last_verified),
                ok: s.problem.is_none(),
                problem: s.problem.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

pub fn operations_to_proto(
    ops: &[Operation],
    failures: &[RecentFailure],
) -> proto::ListOperationsResponse {
    let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    proto::ListOperationsResponse {
        operations: ops
            .iter()
            .map(|o| proto::Operation {
                id: o.id.to_string(),
                kind: o.kind.into(),
                username: o.tenant.clone(),
                database: o.database.clone(),
                backup_id: o.backup_id.clone(),
                phase: o.phase.into(),
                bytes_done: int(o.bytes_done),
                bytes_total: int(o.bytes_total),
                started_at: rfc3339(&o.started_at),
            })
            .collect(),
        failures: failures
            .iter()
            .map(|f| proto::RecentFailure {
                event: f.event.name().into(),
                username: f.tenant.clone(),
                database: f.database.clone(),
                message: f.message.clone(),
                at: rfc3339(&f.at),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_integers_are_range_checked() {
        let bad_port = proto::PgConnection {
            port: 70000,
            ..Default::default()
        };
        assert!(connection_from_proto(Some(bad_port)).is_err());
        assert!(destination_from_proto(0).is_err());
        assert!(destination_from_proto(9).is_err());
        assert_eq!(destination_from_proto(3).unwrap(), Destination::S3);
        let jobs = proto::RestoreBackupRequest {
            jobs: -1,
            ..Default::default()
        };
        assert!(restore_from_proto(jobs).is_err());
    }
}

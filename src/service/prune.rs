//! Prune: apply a retention policy per (tenant, database) group and delete
//! what no rule keeps. The newest backup of a group and any backup a
//! restore or verify is using are never removed; a dry run deletes nothing.

use super::{BackupService, Facts};
use crate::auth::{Credentials, Principal, Scope};
use crate::catalog::{self, Record, validate_name};
use crate::retention::{self, Policy};
use crate::{Error, Result};

#[derive(Debug, Clone, Default)]
pub struct PruneRequest {
    /// `None` = every tenant the caller may act on.
    pub tenant: Option<String>,
    pub database: Option<String>,
    pub policy: Policy,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Default)]
pub struct PruneOutcome {
    /// Kept backups with the reasons they are kept.
    pub kept: Vec<(Record, Vec<String>)>,
    /// Removed (or, in a dry run, to be removed) backups.
    pub removed: Vec<Record>,
    pub failures: Vec<String>,
    pub dry_run: bool,
}

impl PruneOutcome {
    pub fn message(&self) -> String {
        let verb = if self.dry_run {
            "would remove"
        } else {
            "removed"
        };
        let m = format!("kept {}, {verb} {}", self.kept.len(), self.removed.len());
        match self.failures.len() {
            0 => m,
            n => format!("{m}, {n} removals failed"),
        }
    }
}

impl BackupService {
    /// # Errors
    /// InvalidArgument for an empty policy; PermissionDenied.
    pub async fn prune(&self, creds: &Credentials, req: PruneRequest) -> Result<PruneOutcome> {
        let svc = self.clone();
        self.run("prune", creds, move |who, facts| async move {
            svc.prune_inner(&who, req, &facts).await
        })
        .await
    }

    async fn prune_inner(
        &self,
        who: &Principal,
        req: PruneRequest,
        facts: &Facts,
    ) -> Result<PruneOutcome> {
        who.require(Scope::Write)?;
        if req.policy.is_empty() {
            return Err(Error::invalid(
                "prune needs at least one keep rule (keep-last, keep-daily, keep-within, …); \
                 refusing to delete every backup",
            ));
        }
        let tenant = who.tenant_scope(req.tenant)?;
        if let Some(db) = &req.database {
            validate_name("database", db)?;
        }
        facts.target(
            "",
            tenant.as_deref().unwrap_or("*"),
            req.database.as_deref().unwrap_or("*"),
        );
        let listing = self.inner.catalog.list(tenant.as_deref())?;
        let mut out = PruneOutcome {
            dry_run: req.dry_run,
            ..PruneOutcome::default()
        };
        let mut records = listing.records;
        if let Some(db) = &req.database {
            records.retain(|r| &r.database == db);
        }
        for group in catalog::by_database(records).into_values() {
            let times: Vec<_> = group.iter().map(|r| r.created_at).collect();
            let verdicts = retention::apply(&req.policy, &times);
            for (i, (record, verdict)) in group.into_iter().zip(verdicts).enumerate() {
                let mut reasons = verdict.reasons;
                if i == 0 && reasons.is_empty() {
                    reasons.push("newest of its group".into());
                }
                if !reasons.is_empty() {
                    out.kept.push((record, reasons));
                    continue;
                }
                // The bucket would refuse: keep it, and a later run removes it.
                if let Some(until) = record.locked_at(chrono::Utc::now()) {
                    let note = format!(
                        "{}; a prune after that removes it",
                        super::manage::locked_note(until)
                    );
                    out.kept.push((record, vec![note]));
                    continue;
                }
                if req.dry_run {
                    out.removed.push(record);
                    continue;
                }
                let Some(_lock) = self.inner.locks.try_lock(&record.id) else {
                    out.kept
                        .push((record, vec!["in use by a running restore or verify".into()]));
                    continue;
                };
                match self
                    .remove(
                        &record,
                        "prune",
                        &who.subject,
                        crate::fault::Phase::DuringPrune,
                    )
                    .await
                {
                    Ok(_) => out.removed.push(record),
                    Err(e) => out.failures.push(format!("{}: {}", record.id, e.message)),
                }
            }
        }
        facts.id(&out
            .removed
            .iter()
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>()
            .join(","));
        facts.size(out.removed.iter().map(|r| r.size_bytes).sum());
        Ok(out)
    }
}

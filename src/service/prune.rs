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
    /// What the caller must know beyond the counts (an outcome the audit
    /// log could not record).
    pub warnings: Vec<String>,
}

impl PruneOutcome {
    pub fn message(&self) -> String {
        let verb = if self.dry_run {
            "would remove"
        } else {
            "removed"
        };
        let mut m = format!("kept {}, {verb} {}", self.kept.len(), self.removed.len());
        if !self.failures.is_empty() {
            m = format!("{m}, {} removals failed", self.failures.len());
        }
        for w in &self.warnings {
            m = format!("{m}; {w}");
        }
        m
    }

    /// Adds a warning (for `run_noted`).
    #[allow(clippy::needless_pass_by_value)] // the shape run_noted takes
    fn warn(&mut self, warning: String) -> bool {
        self.warnings.push(warning);
        true
    }
}

impl BackupService {
    /// # Errors
    /// InvalidArgument for an empty policy; PermissionDenied; Unavailable
    /// when the audit log cannot take the intent line (nothing is removed).
    pub async fn prune(&self, creds: &Credentials, req: PruneRequest) -> Result<PruneOutcome> {
        let svc = self.clone();
        let work = move |who, facts| async move { svc.prune_inner(&who, req, &facts).await };
        self.run_noted("prune", creds, work, PruneOutcome::warn)
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
        let mut doomed = Vec::new();
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
                doomed.push(record);
            }
        }
        if req.dry_run {
            out.removed = doomed;
        } else if !doomed.is_empty() {
            // The intent names every backup this run may remove.
            note_ids(facts, &doomed);
            self.intent(facts)?;
            for record in doomed {
                let Some(_lock) = self.inner.locks.try_lock(&record.id) else {
                    out.kept
                        .push((record, vec!["in use by a running restore or verify".into()]));
                    continue;
                };
                match self.remove(&record).await {
                    Ok(_) => out.removed.push(record),
                    Err(e) => out.failures.push(format!("{}: {}", record.id, e.message)),
                }
            }
        }
        note_ids(facts, &out.removed);
        Ok(out)
    }
}

/// Names `records` (ids and total size) on the audit line.
fn note_ids(facts: &Facts, records: &[Record]) {
    let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    facts.id(&ids.join(","));
    facts.size(records.iter().map(|r| r.size_bytes).sum());
}

//! Freshness: the "alert on absence of success" a monitor needs. Every
//! (tenant, database) with backups, and every configured tenant without any,
//! is judged against a maximum age and, optionally, a verification window.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::BackupService;
use crate::Result;
use crate::auth::{Credentials, Scope};
use crate::catalog::VerifyResult;
use crate::retention::CalendarDuration;

#[derive(Debug, Clone)]
pub struct CheckRequest {
    pub tenant: Option<String>,
    pub max_age: CalendarDuration,
    pub verified_within: Option<CalendarDuration>,
    /// The clock (a parameter so tests can fix it).
    pub now: DateTime<Utc>,
}

/// One (tenant, database)'s freshness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freshness {
    pub tenant: String,
    /// Empty for a tenant without any backup.
    pub database: String,
    pub last_backup: Option<DateTime<Utc>>,
    pub last_verified: Option<DateTime<Utc>>,
    /// `None` = fresh.
    pub problem: Option<String>,
}

impl BackupService {
    /// # Errors
    /// Unauthenticated, PermissionDenied.
    pub async fn check(&self, creds: &Credentials, req: CheckRequest) -> Result<Vec<Freshness>> {
        let svc = self.clone();
        self.run("check", creds, move |who, _| async move {
            who.require(Scope::Read)?;
            let tenant = who.tenant_scope(req.tenant.clone())?;
            svc.freshness(tenant.as_deref(), &req)
        })
        .await
    }

    /// Every (tenant, database) of `tenant` (or of all tenants) judged by
    /// `req`, with configured tenants that have no backup at all; no caller
    /// involved (the daemon's own check uses it too).
    pub(super) fn freshness(
        &self,
        tenant: Option<&str>,
        req: &CheckRequest,
    ) -> Result<Vec<Freshness>> {
        // Newest backup and newest passed verification per database, one
        // record at a time: the daemon's own periodic check runs this too.
        type Newest = (DateTime<Utc>, Option<DateTime<Utc>>);
        let mut newest: BTreeMap<(String, String), Newest> = BTreeMap::new();
        self.inner.catalog.scan(tenant, |r| {
            let passed = r
                .last_verification
                .as_ref()
                .filter(|v| v.result == VerifyResult::Passed)
                .map(|v| v.verified_at);
            let n = newest
                .entry((r.username, r.database))
                .or_insert((r.created_at, None));
            n.0 = n.0.max(r.created_at);
            n.1 = n.1.max(passed);
        })?;
        let mut out: Vec<Freshness> = newest
            .into_iter()
            .map(|((tenant, database), (last_backup, last_verified))| {
                judge(tenant, database, last_backup, last_verified, req)
            })
            .collect();
        let configured = self
            .inner
            .tenants
            .names()
            .filter(|t| tenant.is_none_or(|f| f == *t));
        for t in configured {
            if !out.iter().any(|f| f.tenant == t) {
                out.push(Freshness {
                    tenant: t.to_string(),
                    database: String::new(),
                    last_backup: None,
                    last_verified: None,
                    problem: Some("never backed up".into()),
                });
            }
        }
        out.sort_by(|a, b| (&a.tenant, &a.database).cmp(&(&b.tenant, &b.database)));
        Ok(out)
    }
}

fn judge(
    tenant: String,
    database: String,
    last_backup: DateTime<Utc>,
    last_verified: Option<DateTime<Utc>>,
    req: &CheckRequest,
) -> Freshness {
    let mut problems = Vec::new();
    if last_backup <= req.max_age.before(&req.now) {
        problems.push(format!(
            "stale: newest backup {} is older than {}",
            crate::catalog::rfc3339(&last_backup),
            req.max_age
        ));
    }
    if let Some(w) = &req.verified_within {
        match last_verified {
            None => problems.push("never verified".into()),
            Some(t) if t <= w.before(&req.now) => {
                problems.push(format!(
                    "last passed verification {} is older than {w}",
                    crate::catalog::rfc3339(&t)
                ));
            }
            Some(_) => {}
        }
    }
    Freshness {
        tenant,
        database,
        last_backup: Some(last_backup),
        last_verified,
        problem: (!problems.is_empty()).then(|| problems.join("; ")),
    }
}

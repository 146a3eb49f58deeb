//! List, get and delete: catalog operations, tenancy-filtered.

use super::BackupService;
use crate::auth::{Credentials, Principal, Scope};
use crate::catalog::{Destination, Intent, Listing, META, MarkerKind, Page, PageRequest};
use crate::fault::Phase;
use crate::{Code, Error, Result};

/// How a backup under a bucket lock is named to callers.
pub(super) fn locked_note(until: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "locked until {} (object lock / retention)",
        crate::catalog::rfc3339(&until)
    )
}

/// The listing one caller may see, read page by page
/// ([`BackupService::list_pages`]).
#[derive(Clone)]
pub struct Lister {
    catalog: crate::catalog::Catalog,
    /// Whose records: the caller's own unless they are an admin.
    filter: Option<String>,
    who: Principal,
}

impl Lister {
    /// The page `req` asks for, as the caller may see it.
    ///
    /// # Errors
    /// InvalidArgument for a page size out of range or a foreign token.
    pub fn page(&self, req: &PageRequest) -> Result<Page> {
        let mut page = self.catalog.page(self.filter.as_deref(), req)?;
        if !self.who.admin {
            page.problems.clear();
            page.records = std::mem::take(&mut page.records)
                .into_iter()
                .map(|r| super::verify::for_viewer(&self.who, r))
                .collect();
        }
        Ok(page)
    }
}

impl BackupService {
    /// Every record in the catalog's order (see [`BackupService::list_page`]).
    ///
    /// # Errors
    /// Unauthenticated, PermissionDenied.
    pub async fn list(&self, creds: &Credentials, tenant: Option<String>) -> Result<Listing> {
        let page = self
            .list_page(creds, tenant, PageRequest::default())
            .await?;
        Ok(Listing {
            records: page.records,
            problems: page.problems,
        })
    }

    /// One page of the catalog in its order: newest `created_at` first,
    /// then id descending. A non-admin always sees only their own backups,
    /// whatever `tenant` says, and a page token of any other listing is
    /// refused; unreadable sidecars are reported to admins. Answered from
    /// the index: only the listed tenant's records are touched.
    ///
    /// # Errors
    /// Unauthenticated, PermissionDenied; InvalidArgument for a username no
    /// tenant can have (from anyone), a page size out of range or a foreign
    /// page token.
    pub async fn list_page(
        &self,
        creds: &Credentials,
        tenant: Option<String>,
        page: PageRequest,
    ) -> Result<Page> {
        let svc = self.clone();
        self.run("list", creds, move |who, _| async move {
            svc.lister(who, tenant)?.page(&page)
        })
        .await
    }

    /// A listing authorized once and then read a page at a time, each page
    /// when the one before has been sent: how REST streams an unpaged list,
    /// so that its memory is one page whatever the catalog's size.
    ///
    /// # Errors
    /// As [`BackupService::list_page`], for the caller and the filter.
    pub async fn list_pages(&self, creds: &Credentials, tenant: Option<String>) -> Result<Lister> {
        let svc = self.clone();
        self.run("list", creds, move |who, _| async move {
            svc.lister(who, tenant)
        })
        .await
    }

    fn lister(&self, who: Principal, tenant: Option<String>) -> Result<Lister> {
        who.require(Scope::Read)?;
        let tenant = crate::auth::requested_tenant(tenant)?;
        let filter = if who.admin {
            tenant
        } else {
            Some(who.subject.clone())
        };
        Ok(Lister {
            catalog: self.inner.catalog.clone(),
            filter,
            who,
        })
    }

    /// # Errors
    /// NotFound (also for another tenant's id), InvalidArgument, PermissionDenied.
    pub async fn get(&self, creds: &Credentials, id: String) -> Result<crate::catalog::Record> {
        let svc = self.clone();
        self.run("get", creds, move |who, _| async move {
            who.require(Scope::Read)?;
            svc.visible(&who, &id)
                .map(|r| super::verify::for_viewer(&who, r))
        })
        .await
    }

    /// Removes the dump, then (for buckets) the sidecar beside it, then the
    /// record. A dump that is already gone (lifecycle rules, manual cleanup)
    /// still lets the record go.
    ///
    /// # Errors
    /// NotFound, InvalidArgument, PermissionDenied; Unavailable when the
    /// audit log cannot take the intent line (nothing is deleted).
    pub async fn delete(&self, creds: &Credentials, id: String) -> Result<String> {
        let svc = self.clone();
        let work = move |who: crate::auth::Principal, facts: super::Facts| async move {
            who.require(Scope::Write)?;
            facts.id(&id);
            let record = svc.visible(&who, &id)?;
            facts.record(&record);
            let _lock = svc.inner.locks.lock(&id).await;
            let record = svc.visible(&who, &id)?;
            svc.intent(&facts)?;
            svc.remove(&record, &facts.snapshot(), Phase::DuringDelete)
                .await
        };
        self.run_noted("delete", creds, work, super::note_message)
            .await
    }

    /// Removes a record's dump, then (for buckets) the sidecar and the
    /// verification objects beside it, then the record. A dump already gone (lifecycle rules, manual
    /// cleanup) still lets the record go. Call with the id locked. A crash
    /// part-way leaves a marker (naming `line`'s action, subject and
    /// operation) that start-up recovery finishes the removal from; `phase`
    /// names this point for the fault matrix.
    pub(super) async fn remove(
        &self,
        record: &crate::catalog::Record,
        line: &crate::audit::Event,
        phase: Phase,
    ) -> Result<String> {
        let id = &record.id;
        if let Some(until) = record.locked_at(chrono::Utc::now()) {
            return Err(Error::precondition(format!(
                "backup {id} is {}: its bucket refuses to delete it before then, so it and its \
                 record stay until that has passed",
                locked_note(until)
            )));
        }
        let store = self.store_of(record)?;
        let dump = format!("{id}.dump");
        let _removal = self.inner.catalog.begin(
            id,
            MarkerKind::Removal,
            &Intent {
                action: line.action.clone(),
                subject: line.subject.clone(),
                op: line.op.clone(),
                tenant: record.username.clone(),
                database: record.database.clone(),
                ..Intent::default()
            },
        )?;
        let note = match store.delete(&dump).await {
            Ok(()) => String::new(),
            Err(e) if e.code == Code::NotFound => {
                format!(" (its dump {} was already gone)", store.location(&dump))
            }
            Err(e) => return Err(e.context(format!("deleting the dump of {id}"))),
        };
        crate::fault::point(phase).await;
        if record.destination != Destination::Local {
            let mut beside = store.list(&crate::catalog::verification_prefix(id)).await?;
            beside.push(format!("{id}{META}"));
            for key in beside {
                match store.delete(&key).await {
                    Ok(()) => {}
                    Err(e) if e.code == Code::NotFound => {}
                    Err(e) => return Err(e.context(format!("deleting {}", store.location(&key)))),
                }
            }
        }
        self.inner.catalog.remove(id).await?;
        Ok(format!("backup {id} deleted{note}"))
    }
}

//! Running operations, as operators watch them: which tenant and database,
//! what kind, how many bytes so far, since when. Each create, restore and
//! verify registers itself for as long as it runs and hands its byte counter
//! (one `Arc<AtomicU64>`) to the byte path; the list is what
//! `ListOperations`, `GET /v1/operations`, the MCP tool and `/ui` show,
//! with the failed creates and restore tests of the last days beside it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use tokio::io::AsyncRead;
use tokio_util::io::InspectReader;

use super::BackupService;
use crate::Result;
use crate::auth::{Credentials, Scope};

/// One running operation as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Unique for the daemon's lifetime.
    pub id: u64,
    /// `create`, `restore` or `verify`.
    pub kind: &'static str,
    /// The tenant whose data this is (a verify's: the backup's owner).
    pub tenant: String,
    pub database: String,
    /// The backup read or written (empty while a create has no id yet).
    pub backup_id: String,
    /// What the bytes count now: `dumping`, `reading` (the stored dump into
    /// the verified spool) or `restoring` (the spool into pg_restore).
    pub phase: &'static str,
    pub bytes_done: u64,
    /// Bytes the phase will move when known (restore and verify: the
    /// record's size); 0 = unknown.
    pub bytes_total: u64,
    pub started_at: DateTime<Utc>,
}

/// A failed create or restore test, kept for [`KEEP_FAILURES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentFailure {
    pub event: crate::notify::Event,
    pub tenant: String,
    pub database: String,
    pub message: String,
    pub at: DateTime<Utc>,
}

/// How long failures stay listed, and how many at most.
const KEEP_FAILURES: chrono::TimeDelta = chrono::TimeDelta::days(7);
const MAX_FAILURES: usize = 200;

/// The registry of running operations and of recent failures.
#[derive(Default)]
pub(super) struct Operations {
    next: AtomicU64,
    running: Mutex<BTreeMap<u64, Arc<Entry>>>,
    failures: Mutex<VecDeque<RecentFailure>>,
}

struct Entry {
    kind: &'static str,
    tenant: String,
    database: String,
    backup_id: String,
    started_at: DateTime<Utc>,
    bytes_total: u64,
    phase: Mutex<&'static str>,
    bytes: Arc<AtomicU64>,
}

impl Operations {
    /// Registers an operation; it is listed until the returned handle drops.
    pub fn start(
        self: &Arc<Self>,
        kind: &'static str,
        tenant: &str,
        database: &str,
        backup_id: &str,
        bytes_total: u64,
    ) -> Progress {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let entry = Arc::new(Entry {
            kind,
            tenant: tenant.into(),
            database: database.into(),
            backup_id: backup_id.into(),
            started_at: Utc::now(),
            bytes_total,
            phase: Mutex::new(if kind == "create" {
                "dumping"
            } else {
                "reading"
            }),
            bytes: Arc::new(AtomicU64::new(0)),
        });
        self.lock().insert(id, entry.clone());
        Progress {
            id,
            entry,
            registry: self.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Entry>>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers a failure (the newest [`MAX_FAILURES`] of the last days).
    pub fn failed(&self, f: RecentFailure) {
        let mut list = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        list.push_back(f);
        while list.len() > MAX_FAILURES {
            list.pop_front();
        }
    }

    /// The failures of the last days, newest first.
    pub fn failures(&self) -> Vec<RecentFailure> {
        let since = Utc::now() - KEEP_FAILURES;
        let mut list = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        list.retain(|f| f.at > since);
        list.iter().rev().cloned().collect()
    }

    /// Every running operation, oldest first.
    pub fn snapshot(&self) -> Vec<Operation> {
        self.lock()
            .iter()
            .map(|(id, e)| Operation {
                id: *id,
                kind: e.kind,
                tenant: e.tenant.clone(),
                database: e.database.clone(),
                backup_id: e.backup_id.clone(),
                phase: *e.phase.lock().unwrap_or_else(PoisonError::into_inner),
                bytes_done: e.bytes.load(Ordering::Relaxed),
                bytes_total: e.bytes_total,
                started_at: e.started_at,
            })
            .collect()
    }
}

/// A running operation's handle: its byte counter for the byte path. The
/// operation leaves the list when this drops, whatever the outcome.
pub(super) struct Progress {
    id: u64,
    entry: Arc<Entry>,
    registry: Arc<Operations>,
}

impl Progress {
    /// The counter the byte path adds to ("bytes so far").
    pub fn counter(&self) -> Arc<AtomicU64> {
        self.entry.bytes.clone()
    }

    /// `reader`, counting every byte read through it into this operation.
    pub fn tap<R: AsyncRead>(&self, reader: R) -> InspectReader<R, impl FnMut(&[u8]) + use<R>> {
        let counter = self.counter();
        InspectReader::new(reader, move |b: &[u8]| {
            counter.fetch_add(b.len() as u64, Ordering::Relaxed);
        })
    }

    /// Starts the next phase; its bytes count from zero.
    pub fn phase(&self, phase: &'static str) {
        *self
            .entry
            .phase
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = phase;
        self.entry.bytes.store(0, Ordering::Relaxed);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

impl BackupService {
    /// The running operations `creds` may see: an admin every one, anyone
    /// else only their own tenant's. `tenant` narrows the list (for a
    /// non-admin to another tenant: refused, as for `check`).
    ///
    /// # Errors
    /// Unauthenticated, PermissionDenied.
    pub async fn operations(
        &self,
        creds: &Credentials,
        tenant: Option<String>,
    ) -> Result<(Vec<Operation>, Vec<RecentFailure>)> {
        let svc = self.clone();
        self.run("operations", creds, move |who, _| async move {
            who.require(Scope::Read)?;
            let tenant = who.tenant_scope(tenant)?;
            let shown = |t: &str| tenant.as_deref().is_none_or(|f| f == t) && who.may_act_on(t);
            let ops = &svc.inner.operations;
            Ok((
                ops.snapshot()
                    .into_iter()
                    .filter(|o| shown(&o.tenant))
                    .collect(),
                ops.failures()
                    .into_iter()
                    .filter(|f| shown(&f.tenant))
                    .collect(),
            ))
        })
        .await
    }

    /// A failed create or restore test: announced to the webhooks and
    /// listed with the operations.
    pub(super) fn failure(
        &self,
        event: crate::notify::Event,
        tenant: &str,
        database: &str,
        message: &str,
    ) {
        self.inner.notifier.failed(event, tenant, database, message);
        self.inner.operations.failed(RecentFailure {
            event,
            tenant: tenant.into(),
            database: database.into(),
            message: message.into(),
            at: Utc::now(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt as _;

    #[tokio::test]
    async fn an_operation_counts_its_bytes_and_leaves_the_list_when_done() {
        let ops = Arc::new(Operations::default());
        let p = ops.start("restore", "alice", "app", "alice-app-1", 10);
        let mut r = p.tap(&b"0123456789"[..]);
        let mut buf = Vec::new();
        r.read_to_end(&mut buf).await.unwrap();
        let listed = ops.snapshot();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].bytes_done, listed[0].phase, listed[0].kind),
            (10, "reading", "restore")
        );
        p.phase("restoring");
        let listed = ops.snapshot();
        assert_eq!((listed[0].bytes_done, listed[0].phase), (0, "restoring"));
        let q = ops.start("create", "bob", "db", "", 0);
        assert_eq!(ops.snapshot().len(), 2);
        assert_ne!(ops.snapshot()[0].id, ops.snapshot()[1].id);
        drop(p);
        let listed = ops.snapshot();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].tenant.as_str(), listed[0].phase),
            ("bob", "dumping")
        );
        drop(q);
        assert!(ops.snapshot().is_empty());
    }
}

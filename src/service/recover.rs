//! Start-up recovery: before the daemon serves, what a crash left half-done
//! is finished or undone, and every decision is logged. A create that never
//! recorded its backup loses its dump (the caller never heard of it), unless
//! the bucket sidecar beside it already completed it (adopted); when the
//! bucket cannot be asked, its marker waits for the next start. A removal
//! that began is finished; what an interrupted restore or verify made on a
//! tenant's server is dropped (`made`); a record whose local dump is gone is
//! shown as a problem, never as a backup; stale multipart uploads are aborted.

use std::time::Duration;

use super::BackupService;
use crate::audit::{Event, Pending};
use crate::catalog::{self, Destination, DumpPlace, Intent, META, MarkerKind, Record};
use crate::error::Context;
use crate::fault::Phase;
use crate::store::{STALE_UPLOAD, Store};
use crate::{Code, Error, Result};

/// How long one bucket call of the recovery may take before it is given up
/// (and logged): a bucket that is down must not keep the daemon from serving.
const BUCKET_DEADLINE: Duration = Duration::from_secs(30);

/// What recovery did.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Dumps without a record, removed: `(id, location)`.
    pub swept: Vec<(String, String)>,
    /// Bucket backups whose sidecar completed them, added to the index.
    pub adopted: Vec<String>,
    /// Removals finished.
    pub removed: Vec<String>,
    /// Records shown as problems because their dump is missing.
    pub missing: Vec<String>,
    /// What interrupted restores and verifies made on tenants' servers
    /// (a new database, a restore test's scratch), dropped: `tenant/name`.
    pub dropped: Vec<String>,
    /// Spool copies of interrupted restores, removed.
    pub spool: Vec<std::path::PathBuf>,
    /// Unfinished multipart uploads under the default bucket prefixes,
    /// older than [`STALE_UPLOAD`], aborted: their keys.
    pub aborted_uploads: Vec<String>,
    /// Creates whose bucket could not be reached to adopt or undo them:
    /// their markers are kept (and logged) for the next start.
    pub kept: Vec<String>,
    /// What could not be decided (a bucket down): logged, left as it is.
    pub unresolved: Vec<String>,
}

impl BackupService {
    /// Recovers from whatever a crashed daemon left (see the module docs).
    /// Call once at start-up, before serving and before
    /// [`crate::catalog::Catalog::sweep_leftovers`]; only this process may
    /// write the backup directory meanwhile.
    ///
    /// # Errors
    /// Internal when the backup directory cannot be read.
    pub async fn recover(&self) -> Result<Recovery> {
        let catalog = &self.inner.catalog;
        let mut out = Recovery::default();
        for leftover in catalog.interrupted()? {
            // Without an intent nothing was started (a create before it
            // chose its store): only the marker is left, and it is swept.
            if let Some(intent) = leftover.intent.clone()
                && !self
                    .resume(&leftover.id, leftover.kind, &intent, &mut out)
                    .await
            {
                out.kept.push(leftover.id.clone());
                continue;
            }
            catalog.settle(leftover);
        }
        for id in catalog.dumps_without_sidecar()? {
            let store = self.inner.stores.local();
            self.sweep(&id, store.as_ref(), &format!("{id}.dump"), &mut out)
                .await;
        }
        self.sweep_spool(&mut out)?;
        // Loading the index already showed records without their dump as
        // problems (and logged them).
        out.missing = catalog.dumps_missing();
        self.abort_stale_uploads(&mut out).await;
        Ok(out)
    }

    /// Aborts the multipart uploads a crashed or cut-off daemon left under
    /// each default bucket prefix once they are [`STALE_UPLOAD`] old. Best
    /// effort and bounded: a bucket that is down is logged, never waited on.
    async fn abort_stale_uploads(&self, out: &mut Recovery) {
        let stores = match self.inner.stores.defaults() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "recovery: the default buckets cannot be opened to look for stale uploads");
                return;
            }
        };
        for (_, store) in stores {
            match bounded(store.abort_uploads("", STALE_UPLOAD)).await {
                Ok(keys) => {
                    if !keys.is_empty() {
                        tracing::warn!(scope = %store.location(""), aborted = ?keys, "recovery: aborted stale multipart uploads");
                    }
                    out.aborted_uploads.extend(keys);
                }
                Err(e) => {
                    tracing::warn!(scope = %store.location(""), error = %e, "recovery: could not look for stale multipart uploads");
                    out.unresolved.push(format!(
                        "stale uploads under {}: {}",
                        store.location(""),
                        e.message
                    ));
                }
            }
        }
    }

    /// Finishes or undoes one interrupted operation and audits what became
    /// of it, in the name of whoever started it. `false` when a create's
    /// bucket could not be reached: nothing is decided or audited, and its
    /// marker must stay for the next start.
    async fn resume(
        &self,
        id: &str,
        kind: MarkerKind,
        intent: &Intent,
        out: &mut Recovery,
    ) -> bool {
        let catalog = &self.inner.catalog;
        let result: Result<String> = match kind {
            MarkerKind::Create if catalog.has_sidecar(id) => return true, // it finished
            MarkerKind::Create => match &intent.place {
                Some(place) => {
                    let before = out.unresolved.len();
                    let r = self.undo_create(id, place, out).await;
                    if out.unresolved.len() > before {
                        tracing::warn!(id, location = %place.location, unresolved = ?&out.unresolved[before..], "recovery: the bucket could not be reached to adopt or undo this interrupted create; its marker is kept for the next start");
                        return false;
                    }
                    r
                }
                None => return true,
            },
            // A delete cut off after its dump went leaves a record the
            // index shows as a problem; the sidecar still says what to finish.
            MarkerKind::Removal => match catalog.get(id).or_else(|e| match e.code {
                Code::FailedPrecondition => catalog.on_disk(id),
                _ => Err(e),
            }) {
                Ok(record) => self
                    .remove(&record, &line(intent, id), Phase::DuringDelete)
                    .await
                    .map(|m| format!("{m} (finished at start-up after an interruption)")),
                Err(e) if e.code == Code::NotFound => return true,
                Err(e) => Err(e),
            },
            MarkerKind::Busy => {
                let mut why = format!(
                    "the {} of {id} was interrupted: the daemon stopped before it finished",
                    intent.action
                );
                if let Some(made) = &intent.made {
                    why = format!("{why}; {}", self.undo_made(id, made, out).await);
                }
                Err(Error::unavailable(why))
            }
        };
        match &result {
            Ok(m) => {
                tracing::warn!(id, action = %intent.action, outcome = %m, "recovery");
                if kind == MarkerKind::Removal {
                    out.removed.push(id.to_string());
                }
            }
            Err(e) => {
                tracing::warn!(id, action = %intent.action, error = %e, "recovery");
                if kind != MarkerKind::Busy {
                    out.unresolved.push(format!("{id}: {}", e.message));
                }
            }
        }
        let mut pending = Pending::new(&intent.action, &intent.subject);
        pending.event = line(intent, id);
        let mut event = pending.finish(&result);
        if let Ok(m) = &result {
            // An ok line says how it ended; the error field is the only text.
            event.error.clone_from(m);
        }
        if let Err(e) = self.inner.audit.write(&event) {
            tracing::error!(id, error = %e, "recovery could not audit what it did");
        }
        true
    }

    /// A create that reserved `id` and noted `place` but left no record:
    /// its bucket sidecar completes it (adopted, `Ok`), or what it wrote is
    /// removed (the create failed, `Err`), its unfinished uploads too. A
    /// bucket that cannot be asked adds to `out.unresolved`.
    async fn undo_create(&self, id: &str, place: &DumpPlace, out: &mut Recovery) -> Result<String> {
        let probe = probe_record(id, place);
        let store = self.inner.stores.for_record(&probe)?;
        if place.destination != Destination::Local {
            let adopted = bounded(self.adopt(id, place, store.as_ref()))
                .await
                .inspect_err(|e| {
                    out.unresolved
                        .push(format!("{}: {}", place.location, e.message));
                })?;
            if adopted {
                out.adopted.push(id.to_string());
                return Ok(format!(
                    "backup {id} created (its sidecar was complete; adopted at start-up)"
                ));
            }
            // The sidecar beside it is not whole: it goes with its dump.
            let sidecar = format!("{id}{META}");
            self.sweep(id, store.as_ref(), &sidecar, out).await;
            // This create is known dead: its uploads go whatever their age.
            match bounded(store.abort_uploads(&format!("{id}."), Duration::ZERO)).await {
                Ok(keys) if !keys.is_empty() => {
                    tracing::warn!(id, aborted = ?keys, "recovery: aborted the unfinished uploads of an interrupted create");
                }
                Ok(_) => {}
                Err(e) => out
                    .unresolved
                    .push(format!("the uploads of {id}: {}", e.message)),
            }
        }
        let dump = format!("{id}.dump");
        let swept = self.sweep(id, store.as_ref(), &dump, out).await;
        Err(Error::unavailable(format!(
            "the create of {id} was interrupted: the daemon stopped before it finished; {}",
            if swept {
                format!("its dump {} was removed at start-up", store.location(&dump))
            } else {
                "nothing of it was kept".to_string()
            }
        )))
    }

    /// Indexes the bucket backup `id` when its dump and a sidecar that
    /// describes it are both there (the create got that far).
    async fn adopt(&self, id: &str, place: &DumpPlace, store: &dyn Store) -> Result<bool> {
        let keys = store.list(id).await?;
        let has = |k: &str| keys.iter().any(|x| x == k);
        if !has(&format!("{id}.dump")) || !has(&format!("{id}{META}")) {
            return Ok(false);
        }
        let bytes = store.get_small(&format!("{id}{META}"), 1024 * 1024).await?;
        let Ok(record) = catalog::decode(&bytes, id) else {
            return Ok(false);
        };
        if record.destination != place.destination || record.location != place.location {
            return Ok(false);
        }
        self.inner.catalog.put(&record).await?;
        tracing::info!(id, location = %place.location, "recovery: adopted a bucket backup whose create was interrupted after its sidecar");
        Ok(true)
    }

    /// Removes the private copies of bucket dumps that interrupted
    /// restores and verifies left in the spool.
    fn sweep_spool(&self, out: &mut Recovery) -> Result<()> {
        let dir = &self.inner.spool_dir;
        for entry in std::fs::read_dir(dir).ctx(format!("reading {}", dir.display()))? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(".restore-") {
                std::fs::remove_file(entry.path())
                    .ctx(format!("removing {}", entry.path().display()))?;
                tracing::info!(file = %entry.path().display(), "recovery: removed the spool copy of an interrupted restore");
                out.spool.push(entry.path());
            }
        }
        Ok(())
    }

    /// Removes `key` of `id`, logging it; whether it was there to remove
    /// (already gone is fine; a failure is logged and left).
    async fn sweep(&self, id: &str, store: &dyn Store, key: &str, out: &mut Recovery) -> bool {
        let location = store.location(key);
        match bounded(store.delete(key)).await {
            Ok(()) => {
                tracing::warn!(id, %location, "recovery: removed an object of a create that never recorded its backup");
                out.swept.push((id.to_string(), location));
                true
            }
            Err(e) if e.code == Code::NotFound => false,
            Err(e) => {
                tracing::warn!(id, %location, error = %e, "recovery: could not remove an object of an interrupted create");
                out.unresolved.push(format!("{location}: {}", e.message));
                false
            }
        }
    }
}

/// The audit line of the operation `intent` describes (its intent line's
/// `op`, so the outcome written now pairs with it).
fn line(intent: &Intent, id: &str) -> Event {
    let mut pending = Pending::new(&intent.action, &intent.subject);
    if !intent.op.is_empty() {
        pending.event.op.clone_from(&intent.op);
    }
    pending.event.id = id.to_string();
    pending.event.tenant.clone_from(&intent.tenant);
    pending.event.database.clone_from(&intent.database);
    if let Some(p) = &intent.place {
        pending.event.destination = p.destination.name().into();
    }
    pending.event
}

/// Runs a bucket call under [`BUCKET_DEADLINE`].
async fn bounded<T>(f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(BUCKET_DEADLINE, f)
        .await
        .map_err(|_| Error::unavailable("the bucket did not answer in time"))?
}

/// Just enough of a record to find the store its dump went to.
fn probe_record(id: &str, place: &DumpPlace) -> Record {
    Record {
        id: id.to_string(),
        username: String::new(),
        database: String::new(),
        created_at: chrono::DateTime::UNIX_EPOCH,
        size_bytes: 0,
        sha256: String::new(),
        destination: place.destination,
        location: place.location.clone(),
        engine: None,
        last_verification: None,
        relation_count: None,
        row_counts: None,
        encoding: catalog::Encoding::default(),
        locked_until: None,
        kind: catalog::Kind::Database,
        globals_id: None,
    }
}

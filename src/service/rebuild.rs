//! Index rebuild: after the daemon host is lost, a fresh daemon pointed at
//! the same buckets reads the sidecars written beside the dumps and indexes
//! them locally. Idempotent: a backup already indexed is left as it is (its
//! local record may carry a newer verification).

use std::collections::BTreeSet;

use super::BackupService;
use crate::auth::{Credentials, Scope};
use crate::catalog::{self, Destination, META, Record, Verification, validate_name};
use crate::store::Store;
use crate::{Code, Error, Result};

/// Sidecars larger than this are not sidecars.
const SIDECAR_LIMIT: u64 = 1024 * 1024;

/// What a rebuild found.
#[derive(Debug, Default)]
pub struct RebuildOutcome {
    /// Records that were missing from the local index and were added.
    pub added: Vec<Record>,
    /// Sidecars whose backup was already indexed.
    pub unchanged: usize,
    /// Sidecars skipped, each with the reason.
    pub warnings: Vec<String>,
    /// The bucket URIs scanned.
    pub scanned: Vec<String>,
}

impl RebuildOutcome {
    pub fn message(&self) -> String {
        format!(
            "scanned {}: {} backups added to the index, {} already indexed, {} skipped",
            self.scanned.join(", "),
            self.added.len(),
            self.unchanged,
            self.warnings.len()
        )
    }
}

impl BackupService {
    /// Rebuilds the local index from the sidecars in `bucket` (a bucket URI;
    /// `None` = every configured default bucket). Admins only.
    ///
    /// # Errors
    /// PermissionDenied for non-admins or a bucket outside the allow-list;
    /// FailedPrecondition when no bucket destination is configured;
    /// Unavailable when the bucket cannot be listed.
    pub async fn rebuild_index(
        &self,
        creds: &Credentials,
        bucket: Option<String>,
    ) -> Result<RebuildOutcome> {
        let svc = self.clone();
        self.run("index_rebuild", creds, move |who, facts| async move {
            who.require(Scope::Write)?;
            if !who.admin {
                return Err(Error::denied(format!(
                    "{} may not rebuild the index: it is an admin operation",
                    who.subject
                )));
            }
            let mut out = RebuildOutcome::default();
            for (destination, store) in svc.inner.stores.for_rebuild(bucket.as_deref())? {
                facts.destination(destination.name());
                out.scanned
                    .push(store.location("").trim_end_matches('/').to_string());
                svc.rebuild_from(destination, store.as_ref(), &mut out, false)
                    .await?;
            }
            facts.size(i64::try_from(out.added.len()).unwrap_or(i64::MAX));
            tracing::info!(message = %out.message(), "index rebuilt");
            Ok(out)
        })
        .await
    }

    /// `catalog-sync`: folds in what other daemons wrote to the default
    /// buckets and drops what they deleted. Failures are logged; reads then
    /// go on with the local index as it is.
    pub(super) async fn sync_from_buckets(&self) {
        let stores = match self.inner.stores.for_rebuild(None) {
            Ok(s) => s,
            Err(e) => return tracing::warn!(error = %e, "catalog sync: no bucket to read"),
        };
        let mut out = RebuildOutcome::default();
        for (destination, store) in stores {
            if let Err(e) = self
                .rebuild_from(destination, store.as_ref(), &mut out, true)
                .await
            {
                tracing::warn!(error = %e, "catalog sync failed; using the local index");
            }
        }
        for w in &out.warnings {
            tracing::warn!(warning = %w, "catalog sync skipped a sidecar");
        }
    }

    /// Indexes the sidecars of `store`; with `drop_vanished`, also removes
    /// local records of this bucket scope whose sidecar is gone (deleted by
    /// another daemon), unless an operation here holds them.
    ///
    /// A sync reads only the sidecars (and evidence) of backups with a key
    /// that was not in this bucket at the previous sync; a rebuild reads
    /// them all.
    async fn rebuild_from(
        &self,
        destination: Destination,
        store: &dyn Store,
        out: &mut RebuildOutcome,
        drop_vanished: bool,
    ) -> Result<()> {
        let keys = store.list("").await?;
        let present: BTreeSet<&str> = keys.iter().map(String::as_str).collect();
        let scope = store.location("");
        let seen = if drop_vanished {
            self.inner.bucket_seen.previous(&scope)
        } else {
            BTreeSet::new()
        };
        let mut retry = BTreeSet::new();
        for key in &keys {
            let Some(stem) = key.strip_suffix(META) else {
                continue;
            };
            if !changed_since(&seen, &present, stem) {
                continue;
            }
            let warnings = out.warnings.len();
            let id = stem.rsplit('/').next().unwrap_or(stem);
            let dump = format!("{stem}.dump");
            let found = store.location(key);
            let checked = async {
                if !present.contains(dump.as_str()) {
                    return Err(Error::not_found(format!(
                        "its dump {} is gone",
                        store.location(&dump)
                    )));
                }
                let record = catalog::decode(&store.get_small(key, SIDECAR_LIMIT).await?, id)?;
                validate_name("tenant", &record.username)?;
                validate_name("database", &record.database)?;
                if record.destination != destination || record.location != store.location(&dump) {
                    return Err(Error::invalid(format!(
                        "it names {} {:?}, not the dump beside it",
                        record.destination.name(),
                        record.location
                    )));
                }
                let mut record = record;
                record.last_verification = newest_evidence(store, &keys, stem).await;
                Ok(record)
            };
            let record = match checked.await {
                Ok(r) => r,
                Err(e) => {
                    out.warnings.push(format!("{found}: {}", e.message));
                    continue;
                }
            };
            if drop_vanished {
                crate::fault::point(crate::fault::Phase::DuringSync).await;
            }
            // Under the id's lock, as delete and verify change a record: a
            // sync neither brings back a record deleted since the listing
            // nor overwrites a verification that finished since.
            let _lock = if drop_vanished {
                let Some(lock) = self.inner.locks.try_lock(id) else {
                    retry.insert(stem.to_string());
                    continue;
                };
                lock
            } else {
                self.inner.locks.lock(id).await
            };
            match self.inner.catalog.get(id) {
                // Known: only newer evidence from the bucket changes it.
                Ok(mut known)
                    if newer(
                        record.last_verification.as_ref(),
                        known.last_verification.as_ref(),
                    ) =>
                {
                    known.last_verification = record.last_verification;
                    self.inner.catalog.put(&known).await?;
                    out.unchanged += 1;
                }
                Ok(_) => out.unchanged += 1,
                Err(e) if e.code == Code::NotFound => {
                    if store.list(key).await?.iter().all(|k| k != key) {
                        // Deleted since the listing: it stays deleted.
                        continue;
                    }
                    self.inner.catalog.put(&record).await?;
                    out.added.push(record);
                }
                Err(e) => out.warnings.push(format!("{found}: {}", e.message)),
            }
            if out.warnings.len() > warnings {
                retry.insert(stem.to_string());
            }
        }
        // Only when a sidecar vanished (or on the first sync) can a local
        // record have lost its bucket copy.
        let vanished = seen.is_empty()
            || seen
                .iter()
                .any(|k| k.ends_with(META) && !present.contains(k.as_str()));
        let mut deferred = false;
        if drop_vanished && vanished {
            for record in self.inner.catalog.list(None)?.records {
                let Some(dump) = record.location.strip_prefix(&scope) else {
                    continue;
                };
                let sidecar = format!("{}{META}", dump.trim_end_matches(".dump"));
                if record.destination != destination || present.contains(sidecar.as_str()) {
                    continue;
                }
                // A create here writes the bucket sidecar before the local
                // record, so asking again rules out one made after the listing.
                let Some(_lock) = self.inner.locks.try_lock(&record.id) else {
                    deferred = true;
                    continue;
                };
                if store.list(&sidecar).await?.iter().all(|k| *k != sidecar) {
                    tracing::info!(id = %record.id, "catalog sync: deleted by another daemon");
                    self.inner.catalog.remove(&record.id).await?;
                }
            }
        }
        if drop_vanished && !deferred {
            // Skipped sidecars are read again next time; a record in use
            // keeps the whole listing unremembered, so its drop is retried.
            let kept = keys
                .iter()
                .filter(|k| !retry.iter().any(|s| k.starts_with(s.as_str())))
                .cloned()
                .collect();
            self.inner.bucket_seen.remember(&scope, kept);
        }
        Ok(())
    }
}

/// Whether any key of the backup at `stem` (its sidecar, dump, evidence)
/// is new since the keys `seen` at the previous sync.
fn changed_since(seen: &BTreeSet<String>, present: &BTreeSet<&str>, stem: &str) -> bool {
    seen.is_empty()
        || present
            .range(stem..)
            .take_while(|k| k.starts_with(stem))
            .any(|k| !seen.contains(*k))
}

/// The keys each bucket scope held at its last sync.
#[derive(Debug, Default)]
pub(super) struct BucketSeen(std::sync::Mutex<std::collections::HashMap<String, BTreeSet<String>>>);

impl BucketSeen {
    fn previous(&self, scope: &str) -> BTreeSet<String> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(scope)
            .cloned()
            .unwrap_or_default()
    }

    fn remember(&self, scope: &str, keys: BTreeSet<String>) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(scope.to_string(), keys);
    }
}

/// The newest verification object beside `stem` (names sort by time); one
/// that cannot be read is skipped with a warning in the log.
async fn newest_evidence(store: &dyn Store, keys: &[String], stem: &str) -> Option<Verification> {
    let id = stem.rsplit('/').next().unwrap_or(stem);
    let prefix = format!(
        "{}{}",
        &stem[..stem.len() - id.len()],
        catalog::verification_prefix(id)
    );
    for key in keys
        .iter()
        .rev()
        .filter(|k| k.starts_with(&prefix) && k.ends_with(".json"))
    {
        let read = store.get_small(key, SIDECAR_LIMIT).await;
        match read.map(|b| serde_json::from_slice::<Verification>(&b)) {
            Ok(Ok(v)) => return Some(v),
            Ok(Err(e)) => tracing::warn!(key, error = %e, "unreadable verification object"),
            Err(e) => tracing::warn!(key, error = %e, "unreadable verification object"),
        }
    }
    None
}

fn newer(candidate: Option<&Verification>, known: Option<&Verification>) -> bool {
    match (candidate, known) {
        (Some(c), Some(k)) => c.verified_at > k.verified_at,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_reads_only_backups_with_a_key_new_since_the_last_one() {
        let before: BTreeSet<String> = [
            "p/a-1.dump",
            "p/a-1.meta.json",
            "p/b-1.dump",
            "p/b-1.meta.json",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        let now: BTreeSet<&str> = [
            "p/a-1.dump",
            "p/a-1.meta.json",
            "p/b-1.dump",
            "p/b-1.meta.json",
            "p/b-1.verify-20260101T000000Z-0a0b0c0d.json",
            "p/c-1.dump",
            "p/c-1.meta.json",
        ]
        .into_iter()
        .collect();
        assert!(
            !changed_since(&before, &now, "p/a-1"),
            "untouched: not read"
        );
        assert!(changed_since(&before, &now, "p/b-1"), "new evidence: read");
        assert!(changed_since(&before, &now, "p/c-1"), "new backup: read");
        assert!(
            changed_since(&BTreeSet::new(), &now, "p/a-1"),
            "first sync: all"
        );
    }
}

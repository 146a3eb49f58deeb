//! Intents a crash can interrupt, kept as small hidden markers beside the
//! sidecars, so start-up recovery (`BackupService::recover`) knows what was
//! half-done and can finish or undo it, and audit it: a create's reservation
//! notes where its dump goes, a removal marks a backup whose dump may already
//! be gone, and a restore or verify marks the backup it is reading.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Catalog, Destination, RESERVED, Reservation, validate_id};
use crate::Result;
use crate::error::Context;
use crate::store::local::{create_private, sync_dir};

const REMOVING: &str = ".removing";
const BUSY: &str = ".busy";

/// Where a reserved backup's dump is being written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpPlace {
    pub destination: Destination,
    /// As the record will name it (`Record::location`).
    pub location: String,
}

/// What an operation set out to do, as its audit line would name it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// The audited action (`create`, `delete`, `prune`, `restore`, `verify`).
    pub action: String,
    pub subject: String,
    /// The audit operation (`op`) of its intent line, when it wrote one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub op: String,
    pub tenant: String,
    pub database: String,
    /// A create's dump, once its store is chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<DumpPlace>,
    /// What a restore or verify makes on a tenant's server, noted before
    /// it is made: what recovery drops when the operation was interrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made: Option<Made>,
}

/// A database an operation creates on a tenant's server (a restore into a
/// new database, or a restore test's sandbox and its roles), and how the
/// operation reached that server, so start-up recovery can drop it again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Made {
    /// The tenant whose server it is on (a verify's scratch tenant).
    pub tenant: String,
    /// The database user, host and port the operation connected with. The
    /// password is never written down: a server that demands one keeps
    /// what recovery cannot drop, and recovery's audit line says so.
    pub user: String,
    pub host: String,
    pub port: u16,
    pub database: String,
    /// The database's OID in `pg_database` once a restore created it:
    /// recovery drops only a database that still has it, never one
    /// someone created later under the same name. `None` while the
    /// restore has not created it yet (this is noted first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oid: Option<u32>,
    /// A restore test's sandbox: the database, its role of the same name
    /// and the scratch copies of globals roles (`<database>_g<n>`), all
    /// named with the verify prefix and unique to that run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sandbox: bool,
}

/// What a marker stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerKind {
    /// A create that reserved its id.
    Create,
    /// A delete or prune removing the backup.
    Removal,
    /// A restore or verify reading the backup.
    Busy,
}

impl MarkerKind {
    fn suffix(self) -> &'static str {
        match self {
            Self::Create => RESERVED,
            Self::Removal => REMOVING,
            Self::Busy => BUSY,
        }
    }
}

/// An operation a crashed process left unfinished.
#[derive(Debug)]
pub struct Leftover {
    pub id: String,
    pub kind: MarkerKind,
    /// `None` when the marker holds none (a create stopped before it chose
    /// a store, or an unreadable marker).
    pub intent: Option<Intent>,
    path: PathBuf,
}

/// An operation in progress; its marker goes when this is dropped.
#[derive(Debug)]
pub struct Marker {
    path: PathBuf,
}

impl Marker {
    /// Replaces the marker's intent (what the operation made so far),
    /// durably, before the operation goes on.
    ///
    /// # Errors
    /// Internal on I/O failure (then the operation must not go on).
    pub fn note(&self, intent: &Intent) -> Result<()> {
        write_durably(&self.path, intent, false)
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes `intent` into `path` and makes it durable.
fn write_durably(path: &Path, intent: &Intent, create: bool) -> Result<()> {
    use std::io::Write;
    let json = serde_json::to_vec(intent)?;
    let mut f = if create {
        create_private(path)
    } else {
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)
    }
    .ctx(format!("opening {}", path.display()))?;
    f.write_all(&json)
        .and_then(|()| f.sync_all())
        .ctx(format!("writing {}", path.display()))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

impl Reservation {
    /// Notes what the create does and where its dump goes, durably, before a
    /// byte is written there: after a crash, recovery finds the dump by it.
    ///
    /// # Errors
    /// Internal on I/O failure.
    pub fn note(&self, intent: &Intent) -> Result<()> {
        write_durably(&self.marker, intent, false)
    }
}

impl Catalog {
    /// Marks `id` as in the hands of `intent` (a removal or a restore /
    /// verify), durably, before anything is changed.
    ///
    /// # Errors
    /// Internal on I/O failure (then the operation must not start).
    pub fn begin(&self, id: &str, kind: MarkerKind, intent: &Intent) -> Result<Marker> {
        validate_id(id)?;
        let path = self.dir().join(format!(".{id}{}", kind.suffix()));
        match write_durably(&path, intent, true) {
            Ok(()) => {}
            // Recovery finishing an earlier removal of the same id: the
            // marker it read is kept until this one ends.
            Err(_) if path.exists() => {}
            Err(e) => return Err(e),
        }
        Ok(Marker { path })
    }

    /// The creates, removals, restores and verifies a crashed process left
    /// unfinished. Call at start-up, before [`Catalog::sweep_leftovers`].
    ///
    /// # Errors
    /// Internal when the directory cannot be read.
    pub fn interrupted(&self) -> Result<Vec<Leftover>> {
        let dir = self.dir();
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).ctx(format!("reading {}", dir.display()))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(hidden) = name.strip_prefix('.') else {
                continue;
            };
            for kind in [MarkerKind::Create, MarkerKind::Removal, MarkerKind::Busy] {
                let Some(id) = hidden.strip_suffix(kind.suffix()) else {
                    continue;
                };
                if validate_id(id).is_err() {
                    continue;
                }
                let intent = std::fs::read(entry.path())
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok());
                out.push(Leftover {
                    id: id.to_string(),
                    kind,
                    intent,
                    path: entry.path(),
                });
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Removes the marker of an interrupted operation once recovery has
    /// dealt with it.
    pub fn settle(&self, leftover: Leftover) {
        drop(Marker {
            path: leftover.path,
        });
    }

    /// The ids of dump files in the directory that no sidecar stands for.
    ///
    /// # Errors
    /// Internal when the directory cannot be read.
    pub fn dumps_without_sidecar(&self) -> Result<Vec<String>> {
        let dir = self.dir();
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).ctx(format!("reading {}", dir.display()))? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            let Some(id) = name
                .strip_suffix(".dump")
                .filter(|_| !name.starts_with('.'))
            else {
                continue;
            };
            // Only names this daemon gives its dumps; anything else is not ours.
            // The index knows every sidecar read or written; the disk is
            // asked only about the rare dump it has no entry for.
            if validate_id(id).is_ok() && !self.knows(id) && !self.has_sidecar(id) {
                out.push(id.to_string());
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn markers_are_found_with_their_intent_until_settled() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(dir.path()).unwrap();
        let at = "2026-01-01T00:00:00Z".parse().unwrap();
        let r = c.reserve("alice", "app", &at).await.unwrap();
        let intent = Intent {
            action: "create".into(),
            subject: "alice".into(),
            tenant: "alice".into(),
            database: "app".into(),
            place: Some(DumpPlace {
                destination: Destination::Local,
                location: "/x/y.dump".into(),
            }),
            ..Intent::default()
        };
        r.note(&intent).unwrap();
        let busy = c.begin(&r.id, MarkerKind::Busy, &intent).unwrap();
        let restoring = Intent {
            made: Some(Made {
                tenant: "alice".into(),
                database: "app2".into(),
                oid: Some(16_390),
                ..Made::default()
            }),
            ..intent.clone()
        };
        busy.note(&restoring).unwrap();
        std::mem::forget(r); // a crash: the marker stays
        std::fs::write(dir.path().join(".not an id.busy"), b"{}").unwrap();
        let found = c.interrupted().unwrap();
        let kinds: Vec<_> = found.iter().map(|l| l.kind).collect();
        assert_eq!(kinds.len(), 2, "{found:?}");
        assert!(kinds.contains(&MarkerKind::Create) && kinds.contains(&MarkerKind::Busy));
        for l in &found {
            let want = if l.kind == MarkerKind::Busy {
                &restoring
            } else {
                &intent
            };
            assert_eq!(l.intent.as_ref(), Some(want), "{l:?}");
        }
        drop(busy);
        for l in c.interrupted().unwrap() {
            c.settle(l);
        }
        assert!(c.interrupted().unwrap().is_empty());
    }
}

//! Catalog: the JSON sidecar index, `<backup_dir>/<id>.meta.json` per backup.
//! It is what `list` reads, so listing works while every database is down.
//! Writes are atomic (temp + fsync + rename + directory fsync); a sidecar
//! that cannot be read is reported, never silently dropped.

mod id;
mod record;

pub use id::{make_id, validate_id, validate_name};
pub use record::{
    Check, Destination, Encoding, Engine, Record, Verification, VerifyResult, rfc3339,
};

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::error::Context;
use crate::store::local::{create_private, ensure_private_dir, sync_dir, temp_path};
use crate::{Error, Result};

/// The sidecar's suffix: `<id>.meta.json`, locally and beside bucket dumps.
pub const META: &str = ".meta.json";

/// Verification evidence beside a bucket dump: one new object per restore
/// test (`<id>.verify-<UTC yyyymmddThhmmssZ>-<hex>.json`), never an overwrite,
/// so retention-locked buckets keep working. Names sort by time.
pub fn verification_key(id: &str, v: &Verification) -> String {
    format!(
        "{id}{VERIFY_INFIX}{}-{:08x}.json",
        v.verified_at.format("%Y%m%dT%H%M%SZ"),
        rand::random::<u32>()
    )
}

/// What every verification object of `id` starts with.
pub fn verification_prefix(id: &str) -> String {
    format!("{id}{VERIFY_INFIX}")
}

const VERIFY_INFIX: &str = ".verify-";
const RESERVED: &str = ".reserved";

/// The sidecar directory.
#[derive(Debug, Clone)]
pub struct Catalog {
    dir: PathBuf,
}

/// A sidecar that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub file: PathBuf,
    pub error: String,
}

/// Everything `list` found.
#[derive(Debug, Default)]
pub struct Listing {
    /// Newest first.
    pub records: Vec<Record>,
    pub problems: Vec<Problem>,
}

/// An id held while its backup is being made; released on drop. Holding it
/// is what keeps two backups started in the same second apart.
#[derive(Debug)]
pub struct Reservation {
    pub id: String,
    marker: PathBuf,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.marker);
    }
}

impl Catalog {
    /// # Errors
    /// Internal when the directory cannot be created.
    pub fn open(dir: &Path) -> Result<Self> {
        ensure_private_dir(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn meta_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}{META}"))
    }

    /// Reserves a fresh id for a backup of `tenant`/`database` started `at`.
    /// The marker is created with O_EXCL, then the sidecar is checked, so a
    /// concurrent commit of the same id is always seen by one side.
    ///
    /// # Errors
    /// Internal on I/O failure.
    pub fn reserve(&self, tenant: &str, database: &str, at: &DateTime<Utc>) -> Result<Reservation> {
        for n in 1..10_000 {
            let id = make_id(tenant, database, at, n);
            let marker = self.dir.join(format!(".{id}{RESERVED}"));
            match create_private(&marker) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::from(e).context("reserving a backup id")),
            }
            let r = Reservation { id, marker };
            if self.meta_path(&r.id).exists() {
                continue; // dropping `r` releases the marker
            }
            return Ok(r);
        }
        Err(Error::unavailable(
            "too many backups of this database in one second",
        ))
    }

    /// Writes (or replaces) a record atomically.
    ///
    /// # Errors
    /// Internal on I/O failure; the previous sidecar, if any, is intact.
    pub fn put(&self, record: &Record) -> Result<()> {
        validate_id(&record.id)?;
        let path = self.meta_path(&record.id);
        let temp = temp_path(&path);
        let json = encode(record)?;
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = create_private(&temp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            std::fs::rename(&temp, &path)
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&temp);
            return Err(Error::from(e).context(format!("writing {}", path.display())));
        }
        sync_dir(&self.dir)
    }

    /// The record of `id`.
    ///
    /// # Errors
    /// InvalidArgument for a malformed id, NotFound when absent, Internal when
    /// the sidecar is unreadable (with the file named).
    pub fn get(&self, id: &str) -> Result<Record> {
        validate_id(id)?;
        let path = self.meta_path(id);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::not_found(format!("backup {id} not found")));
            }
            Err(e) => return Err(Error::from(e).context(format!("reading {}", path.display()))),
        };
        parse(&bytes, id).map_err(|e| e.context(format!("sidecar {}", path.display())))
    }

    /// Removes the sidecar of `id`.
    ///
    /// # Errors
    /// NotFound when absent.
    pub fn remove(&self, id: &str) -> Result<()> {
        validate_id(id)?;
        let path = self.meta_path(id);
        std::fs::remove_file(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::not_found(format!("backup {id} not found")),
            _ => Error::from(e).context(format!("removing {}", path.display())),
        })?;
        sync_dir(&self.dir)
    }

    /// Every record (optionally one tenant's), newest first, plus every
    /// sidecar that could not be read.
    ///
    /// # Errors
    /// Internal when the directory itself cannot be read.
    pub fn list(&self, tenant: Option<&str>) -> Result<Listing> {
        let mut out = Listing::default();
        let entries =
            std::fs::read_dir(&self.dir).ctx(format!("reading {}", self.dir.display()))?;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(META) else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let record = std::fs::read(&path)
                .map_err(Error::from)
                .and_then(|b| parse(&b, id));
            match record {
                Ok(r) if tenant.is_none_or(|t| r.username == t) => out.records.push(r),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "unreadable backup sidecar");
                    out.problems.push(Problem {
                        file: path,
                        error: e.message,
                    });
                }
            }
        }
        out.records.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        out.problems.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(out)
    }

    /// Removes temporary files and reservations a crashed process left
    /// behind. Call only when no other process writes this directory.
    ///
    /// # Errors
    /// Internal when the directory cannot be read.
    pub fn sweep_leftovers(&self) -> Result<Vec<PathBuf>> {
        let mut removed = Vec::new();
        for entry in std::fs::read_dir(&self.dir).ctx(format!("reading {}", self.dir.display()))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let leftover = name
                .strip_suffix(".tmp")
                .or_else(|| name.strip_suffix(RESERVED));
            if name.starts_with('.') && leftover.is_some() {
                std::fs::remove_file(entry.path())?;
                removed.push(entry.path());
            }
        }
        Ok(removed)
    }
}

/// A record as its sidecar file holds it (the bucket sidecars too).
///
/// # Errors
/// Internal when it cannot be serialized.
pub fn encode(record: &Record) -> Result<Vec<u8>> {
    let mut json = serde_json::to_vec_pretty(record)?;
    json.push(b'\n');
    Ok(json)
}

/// The record in sidecar `bytes`, which must name backup `id`.
///
/// # Errors
/// Internal for corrupt JSON, a record of another id, or an invalid id.
pub fn decode(bytes: &[u8], id: &str) -> Result<Record> {
    parse(bytes, id)
}

/// Records grouped by (tenant, database); each group keeps the order it was
/// given (a listing's: newest first).
pub fn by_database(
    records: Vec<Record>,
) -> std::collections::BTreeMap<(String, String), Vec<Record>> {
    let mut groups: std::collections::BTreeMap<(String, String), Vec<Record>> =
        std::collections::BTreeMap::new();
    for r in records {
        groups
            .entry((r.username.clone(), r.database.clone()))
            .or_default()
            .push(r);
    }
    groups
}

fn parse(bytes: &[u8], id: &str) -> Result<Record> {
    let r: Record = serde_json::from_slice(bytes)
        .map_err(|e| Error::internal(format!("corrupt backup sidecar: {e}")))?;
    if r.id != id {
        return Err(Error::internal(format!(
            "sidecar names backup {:?} but its file is {id}",
            r.id
        )));
    }
    validate_id(&r.id)?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, at: &str) -> Record {
        Record {
            id: id.into(),
            username: id.split('-').next().unwrap().into(),
            database: "app".into(),
            created_at: at.parse().unwrap(),
            size_bytes: 10,
            sha256: "ab".into(),
            destination: Destination::Local,
            location: format!("/x/{id}.dump"),
            engine: Some(Engine::Postgres),
            last_verification: None,
            relation_count: Some(3),
            row_counts: None,
            encoding: super::Encoding::default(),
        }
    }

    #[test]
    fn list_is_newest_first_filtered_and_reports_corrupt_files() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(dir.path()).unwrap();
        c.put(&record(
            "alice-app-20260101T000000Z",
            "2026-01-01T00:00:00Z",
        ))
        .unwrap();
        c.put(&record("bob-app-20260102T000000Z", "2026-01-02T00:00:00Z"))
            .unwrap();
        c.put(&record(
            "alice-app-20260103T000000Z",
            "2026-01-03T00:00:00Z",
        ))
        .unwrap();
        std::fs::write(dir.path().join("broken-x-1.meta.json"), b"{not json").unwrap();

        let all = c.list(None).unwrap();
        let ids: Vec<_> = all.records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "alice-app-20260103T000000Z",
                "bob-app-20260102T000000Z",
                "alice-app-20260101T000000Z"
            ]
        );
        assert_eq!(all.problems.len(), 1);
        assert!(all.problems[0].file.ends_with("broken-x-1.meta.json"));
        assert!(all.problems[0].error.contains("corrupt"));

        let alice = c.list(Some("alice")).unwrap();
        assert_eq!(alice.records.len(), 2);
        assert!(
            c.get("broken-x-1")
                .unwrap_err()
                .message
                .contains("broken-x-1.meta.json")
        );
    }

    #[test]
    fn reservations_never_hand_out_the_same_id() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(dir.path()).unwrap();
        let at = "2026-01-01T00:00:00Z".parse().unwrap();
        let a = c.reserve("alice", "app", &at).unwrap();
        let b = c.reserve("alice", "app", &at).unwrap();
        assert_ne!(a.id, b.id);
        c.put(&record(&a.id, "2026-01-01T00:00:00Z")).unwrap();
        drop(a);
        let d = c.reserve("alice", "app", &at).unwrap();
        assert_ne!(
            d.id, "alice-app-20260101T000000Z",
            "a committed id is never reused"
        );
        assert_ne!(d.id, b.id);
    }

    #[test]
    fn put_replaces_atomically_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(dir.path()).unwrap();
        let mut r = record("alice-app-20260101T000000Z", "2026-01-01T00:00:00Z");
        c.put(&r).unwrap();
        r.size_bytes = 99;
        c.put(&r).unwrap();
        assert_eq!(c.get(&r.id).unwrap().size_bytes, 99);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

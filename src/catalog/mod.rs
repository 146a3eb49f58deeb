//! Catalog: the JSON sidecar index, `<backup_dir>/<id>.meta.json` per backup.
//! It is what `list` reads, so listing works while every database is down.
//! The sidecars are the durable truth: writes are atomic (temp + fsync +
//! rename + directory fsync) and a sidecar that cannot be read is reported,
//! never silently dropped. Reads are answered from an in-memory [`index`]
//! loaded once at start, kept current by every write made here and, through
//! the kernel's queue of directory changes ([`watch`]), by sidecars another
//! process writes: [`Catalog::catch_up`] before a request reads them.

mod id;
mod index;
mod intent;
mod page;
mod record;
mod watch;

pub use id::{make_id, validate_id, validate_name};
pub use intent::{DumpPlace, Intent, Leftover, Made, Marker, MarkerKind};
pub use page::{MAX_PAGE_SIZE, PageRequest};
pub use record::{
    Check, Destination, Encoding, Engine, Kind, Record, Verification, VerifyResult, rfc3339,
};

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

use crate::error::Context;
use crate::store::local::{create_private, ensure_private_dir, sync_dir, sync_dir_at, temp_path};
use crate::{Error, Result};
use index::Index;

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

/// The sidecar directory and its index. Cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    shared: Arc<Shared>,
}

struct Shared {
    dir: PathBuf,
    index: RwLock<Index>,
    /// Changes made to the directory by anyone (this process included).
    watch: watch::Watch,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
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

/// One page of a listing.
#[derive(Debug, Default)]
pub struct Page {
    /// In the catalog's order: newest `created_at` first, then id descending.
    pub records: Vec<Arc<Record>>,
    /// Continues the listing; empty on its last page.
    pub next_page_token: String,
    /// Unreadable sidecars (on the first page only).
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

/// Runs blocking file I/O off the async runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("a catalog file operation failed: {e}")))?
}

impl Catalog {
    /// Opens the directory (creating it 0700), starts watching it, and loads
    /// every sidecar into the index. Blocking: call it before serving, or
    /// off the async runtime.
    ///
    /// # Errors
    /// Internal when the directory cannot be created, read or watched.
    pub fn open(dir: &Path) -> Result<Self> {
        ensure_private_dir(dir)?;
        // Watch first, so nothing written during the load is missed.
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            index: RwLock::new(Index::default()),
            watch: watch::Watch::start(dir)?,
        });
        shared.reload()?;
        Ok(Self { shared })
    }

    /// Brings the index in line with every change made to the directory
    /// before this call (by this process or another): re-reads the sidecars
    /// named in the kernel's queue, off the async runtime. Costs one
    /// non-blocking read when nothing changed.
    pub async fn catch_up(&self) {
        let changes = self.shared.watch.changes();
        if changes.is_empty() {
            return;
        }
        let shared = self.shared.clone();
        let applied = blocking(move || {
            if changes.lost {
                return shared.reload();
            }
            for name in &changes.names {
                shared.refresh(name);
            }
            Ok(())
        })
        .await;
        if let Err(e) = applied {
            tracing::warn!(error = %e, "the catalog could not catch up with its directory");
        }
    }

    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// How many readable records the index holds.
    pub fn len(&self) -> usize {
        self.shared.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reserves a fresh id for a backup of `tenant`/`database` started `at`.
    /// The marker is created with O_EXCL, then the sidecar is checked, so a
    /// concurrent commit of the same id is always seen by one side.
    ///
    /// # Errors
    /// Internal on I/O failure.
    pub async fn reserve(
        &self,
        tenant: &str,
        database: &str,
        at: &DateTime<Utc>,
    ) -> Result<Reservation> {
        let (shared, tenant, database, at) = (
            self.shared.clone(),
            tenant.to_string(),
            database.to_string(),
            *at,
        );
        blocking(move || shared.reserve(&tenant, &database, &at)).await
    }

    /// Writes (or replaces) a record atomically, then indexes it.
    ///
    /// # Errors
    /// Internal on I/O failure; the previous sidecar, if any, is intact.
    pub async fn put(&self, record: &Record) -> Result<()> {
        validate_id(&record.id)?;
        let (shared, record) = (self.shared.clone(), record.clone());
        blocking(move || shared.put(record)).await
    }

    /// Whether a sidecar of `id` is on disk (readable or not).
    pub fn has_sidecar(&self, id: &str) -> bool {
        validate_id(id).is_ok() && self.shared.meta_path(id).exists()
    }

    /// The record of `id`, from the index.
    ///
    /// # Errors
    /// InvalidArgument for a malformed id, NotFound when absent,
    /// FailedPrecondition when the backup is a problem (its sidecar is
    /// unreadable or its dump is missing), with the file named: the state of
    /// the backup, not a fault of the daemon, and the message says what to do.
    pub fn get(&self, id: &str) -> Result<Record> {
        validate_id(id)?;
        let ix = self.shared.read();
        if let Some(r) = ix.get(id) {
            return Ok(Record::clone(r));
        }
        match ix.problem(id) {
            Some(p) => Err(Error::precondition(format!(
                "backup {id} is not usable: {} (sidecar {})",
                p.error,
                p.file.display()
            ))),
            None => Err(Error::not_found(format!("backup {id} not found"))),
        }
    }

    /// Removes the sidecar of `id`, then its index entry.
    ///
    /// # Errors
    /// NotFound when absent.
    pub async fn remove(&self, id: &str) -> Result<()> {
        validate_id(id)?;
        let (shared, id) = (self.shared.clone(), id.to_string());
        blocking(move || shared.remove(&id)).await
    }

    /// Every record (optionally one tenant's), newest first, plus every
    /// sidecar that could not be read. From the index: no file is read.
    ///
    /// # Errors
    /// None today; kept for callers that treat the catalog as fallible.
    pub fn list(&self, tenant: Option<&str>) -> Result<Listing> {
        let ix = self.shared.read();
        let (records, _) = ix.page(tenant, None, usize::MAX);
        Ok(Listing {
            records: records.iter().map(|r| Record::clone(r)).collect(),
            problems: ix.problems(),
        })
    }

    /// One page of the records of `tenant` (or of all), in the catalog's
    /// order. Problems come with the first page.
    ///
    /// # Errors
    /// InvalidArgument for an out-of-range size or a token of another
    /// listing.
    pub fn page(&self, tenant: Option<&str>, req: &PageRequest) -> Result<Page> {
        let cursor = req.cursor(tenant)?;
        let ix = self.shared.read();
        let (records, last) = ix.page(tenant, cursor.after.as_ref(), cursor.limit);
        Ok(Page {
            records,
            next_page_token: last.map(|k| page::token(tenant, &k)).unwrap_or_default(),
            problems: if cursor.after.is_none() {
                ix.problems()
            } else {
                Vec::new()
            },
        })
    }

    /// Removes temporary files and reservations a crashed process left
    /// behind, except the reservations (create markers) of `keep`: creates
    /// start-up recovery could not resolve yet (a bucket down), kept for
    /// the next start. Call only when no other process writes this directory.
    ///
    /// # Errors
    /// Internal when the directory cannot be read.
    pub fn sweep_leftovers(&self, keep: &[String]) -> Result<Vec<PathBuf>> {
        let dir = &self.shared.dir;
        let mut removed = Vec::new();
        for entry in std::fs::read_dir(dir).ctx(format!("reading {}", dir.display()))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let leftover = name
                .strip_suffix(".tmp")
                .or_else(|| name.strip_suffix(RESERVED));
            let kept = name
                .strip_suffix(RESERVED)
                .and_then(|n| n.strip_prefix('.'))
                .is_some_and(|id| keep.iter().any(|k| k == id));
            if name.starts_with('.') && leftover.is_some() && !kept {
                std::fs::remove_file(entry.path())?;
                removed.push(entry.path());
            }
        }
        Ok(removed)
    }
}

/// The id a sidecar file name stands for (hidden temp files are none).
fn sidecar_id(name: &str) -> Option<&str> {
    name.strip_suffix(META).filter(|_| !name.starts_with('.'))
}

impl Shared {
    fn meta_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}{META}"))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn reserve(&self, tenant: &str, database: &str, at: &DateTime<Utc>) -> Result<Reservation> {
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

    fn put(&self, record: Record) -> Result<()> {
        let path = self.meta_path(&record.id);
        let temp = temp_path(&path);
        let json = encode(&record)?;
        let replacing = path.exists();
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
        if let Err(e) = sync_dir_at(&self.dir, crate::fault::Phase::RecordDirSync) {
            // The rename is visible but not provably durable. A new record
            // is taken back, so an error means no record (and its caller
            // removes the dump); a replaced one is a whole record either
            // way, and the index follows the disk.
            if replacing || std::fs::remove_file(&path).is_err() {
                self.write().upsert(record);
            } else {
                let _ = sync_dir(&self.dir);
            }
            return Err(e);
        }
        self.write().upsert(record);
        Ok(())
    }

    fn remove(&self, id: &str) -> Result<()> {
        let path = self.meta_path(id);
        let gone = std::fs::remove_file(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::not_found(format!("backup {id} not found")),
            _ => Error::from(e).context(format!("removing {}", path.display())),
        });
        if gone
            .as_ref()
            .is_err_and(|e| e.code != crate::Code::NotFound)
        {
            return gone;
        }
        // Gone from disk either way: the index follows the directory.
        self.write().remove(id);
        gone?;
        sync_dir(&self.dir)
    }

    /// Re-reads the sidecar file `name` (after a change seen by the watch)
    /// and brings its index entry in line with the disk; other names are
    /// ignored. The index is locked
    /// across the read, so a concurrent write here cannot be undone by an
    /// older reading.
    fn refresh(&self, name: &str) {
        let Some(id) = sidecar_id(name) else {
            return;
        };
        let path = self.dir.join(name);
        let mut ix = self.write();
        match read_sidecar(&path, id) {
            Ok(Some(r)) => ix.upsert(r),
            Ok(None) => {
                ix.remove(id);
            }
            Err(e) => ix.set_problem(id, path, e.message),
        }
    }

    /// Reads every sidecar again and replaces the index (at start, and when
    /// the watch lost events), on a few threads: start-up time is mostly
    /// this.
    fn reload(&self) -> Result<()> {
        let names: Vec<String> = std::fs::read_dir(&self.dir)
            .ctx(format!("reading {}", self.dir.display()))?
            .filter_map(std::result::Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| sidecar_id(n).is_some())
            .collect();
        let mut ix = self.write();
        let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let chunk = names.len().div_ceil(threads).max(1);
        let read: Vec<Vec<(String, Result<Option<Record>>)>> = std::thread::scope(|s| {
            let workers: Vec<_> = names
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|n| {
                                let id = sidecar_id(n).unwrap_or_default();
                                (n.clone(), read_sidecar(&self.dir.join(n), id))
                            })
                            .collect()
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_default())
                .collect()
        });
        *ix = Index::default();
        for (name, result) in read.into_iter().flatten() {
            let id = sidecar_id(&name).unwrap_or_default();
            match result {
                Ok(Some(r)) => ix.upsert(r),
                Ok(None) => {}
                Err(e) => {
                    let path = self.dir.join(&name);
                    tracing::warn!(file = %path.display(), error = %e, "unreadable backup sidecar");
                    ix.set_problem(id, path, e.message);
                }
            }
        }
        Ok(())
    }
}

/// The record in sidecar file `path`; `None` when the file is gone.
fn read_sidecar(path: &Path, id: &str) -> Result<Option<Record>> {
    match std::fs::read(path) {
        Ok(b) => parse(&b, id).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::from(e).context(format!("reading {}", path.display()))),
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
            locked_until: None,
            kind: super::Kind::Database,
            globals_id: None,
        }
    }

    #[tokio::test]
    async fn list_is_newest_first_filtered_and_reports_corrupt_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("broken-x-1.meta.json"), b"{not json").unwrap();
        let c = Catalog::open(dir.path()).unwrap();
        for (id, at) in [
            ("alice-app-20260101T000000Z", "2026-01-01T00:00:00Z"),
            ("bob-app-20260102T000000Z", "2026-01-02T00:00:00Z"),
            ("alice-app-20260103T000000Z", "2026-01-03T00:00:00Z"),
        ] {
            c.put(&record(id, at)).await.unwrap();
        }

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

    #[tokio::test]
    async fn sidecars_another_process_writes_renames_or_removes_reach_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(dir.path()).unwrap();
        let theirs = record("carol-app-20260101T000000Z", "2026-01-01T00:00:00Z");
        let staged = dir.path().join("staged.json");
        std::fs::write(&staged, encode(&theirs).unwrap()).unwrap();
        // Another process: `mv` into place, as an atomic writer does.
        let target = dir.path().join(format!("{}{META}", theirs.id));
        let mv = std::process::Command::new("mv")
            .arg(&staged)
            .arg(&target)
            .status()
            .unwrap();
        assert!(mv.success());
        c.catch_up().await;
        assert_eq!(c.get(&theirs.id).unwrap(), theirs, "the moved-in sidecar");
        // Rewritten in place (not atomically).
        let mut changed = theirs.clone();
        changed.size_bytes = 4242;
        std::fs::write(&target, encode(&changed).unwrap()).unwrap();
        c.catch_up().await;
        assert_eq!(c.get(&theirs.id).unwrap().size_bytes, 4242, "rewritten");
        let rm = std::process::Command::new("rm")
            .arg(&target)
            .status()
            .unwrap();
        assert!(rm.success());
        c.catch_up().await;
        assert!(c.is_empty(), "removed");
        assert_eq!(c.get(&theirs.id).unwrap_err().code, crate::Code::NotFound);
    }

    #[tokio::test]
    async fn reservations_never_hand_out_the_same_id() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(dir.path()).unwrap();
        let at = "2026-01-01T00:00:00Z".parse().unwrap();
        let a = c.reserve("alice", "app", &at).await.unwrap();
        let b = c.reserve("alice", "app", &at).await.unwrap();
        assert_ne!(a.id, b.id);
        c.put(&record(&a.id, "2026-01-01T00:00:00Z")).await.unwrap();
        drop(a);
        let d = c.reserve("alice", "app", &at).await.unwrap();
        assert_ne!(
            d.id, "alice-app-20260101T000000Z",
            "a committed id is never reused"
        );
        assert_ne!(d.id, b.id);
    }

    #[tokio::test]
    async fn put_replaces_atomically_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalog::open(dir.path()).unwrap();
        let mut r = record("alice-app-20260101T000000Z", "2026-01-01T00:00:00Z");
        c.put(&r).await.unwrap();
        r.size_bytes = 99;
        c.put(&r).await.unwrap();
        assert_eq!(c.get(&r.id).unwrap().size_bytes, 99);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        c.remove(&r.id).await.unwrap();
        assert_eq!(c.get(&r.id).unwrap_err().code, crate::Code::NotFound);
        assert_eq!(
            c.remove(&r.id).await.unwrap_err().code,
            crate::Code::NotFound
        );
    }
}

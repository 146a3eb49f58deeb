//! Catalog: the JSON sidecar index, `<backup_dir>/<id>.meta.json` per backup.
//! It is what `list` reads, so listing works while every database is down.
//! The sidecars are the durable truth: writes are atomic (temp + fsync +
//! rename + directory fsync) and a sidecar that cannot be read is reported,
//! never silently dropped. Reads are answered from an in-memory [`index`]
//! loaded once at start, kept current by every write made here and, through
//! the kernel's queue of directory changes ([`watch`]), by sidecars another
//! process writes: [`Catalog::catch_up`] before a request reads them.

mod compact;
mod id;
mod index;
mod intent;
mod page;
mod record;
mod snapshot;
mod watch;

pub use id::{make_id, validate_id, validate_name};
pub use intent::{DumpPlace, Intent, Leftover, Made, Marker, MarkerKind};
pub use page::{MAX_PAGE_SIZE, PageRequest};
pub use record::{
    Check, Destination, Encoding, Engine, Kind, Record, Verification, VerifyResult, rfc3339,
};

use std::collections::HashSet;
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
/// Records unpacked at a time by [`Catalog::scan`].
const SCAN_PAGE: usize = 500;
/// Threads reading sidecars when the index is loaded. Reading 100 000
/// small files from a cold page cache waits on the disk far more than it
/// computes, so more threads than cores shorten it (measured on a 2-core
/// VM: 7.3 s with 2 readers, 3.6 s with 32).
const LOAD_THREADS: usize = 16;
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
    /// The records the last load found without their dump.
    missing: std::sync::Mutex<Vec<String>>,
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
    pub records: Vec<Record>,
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
            missing: std::sync::Mutex::default(),
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
        blocking(move || shared.put(&record)).await
    }

    /// The records the index was loaded without because their local dump
    /// is missing (each a problem now), and that are still problems.
    pub fn dumps_missing(&self) -> Vec<String> {
        let ix = self.shared.read();
        let missing = self
            .shared
            .missing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        missing
            .iter()
            .filter(|id| ix.problem(id).is_some())
            .cloned()
            .collect()
    }

    /// Saves the index for the next start to take instead of reading every
    /// sidecar ([`snapshot`]); best effort, logged.
    pub async fn save_snapshot(&self) {
        let shared = self.shared.clone();
        let _ = blocking(move || {
            shared.save();
            Ok(())
        })
        .await;
    }

    /// Whether the index has a record or a problem for `id`.
    pub fn knows(&self, id: &str) -> bool {
        self.shared.read().knows(id)
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
            return r;
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

    /// The record in the sidecar of `id` as it is on disk, even when the
    /// index shows it as a problem (its dump is gone): what finishing an
    /// interrupted delete needs.
    ///
    /// # Errors
    /// NotFound when there is no sidecar; Internal when it cannot be read.
    pub fn on_disk(&self, id: &str) -> Result<Record> {
        validate_id(id)?;
        read_sidecar(&self.shared.meta_path(id), id)?
            .map(|(r, _)| r)
            .ok_or_else(|| Error::not_found(format!("backup {id} not found")))
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
    /// sidecar that could not be read. From the index: no file is read, but
    /// every record is unpacked at once: callers that can take the records
    /// one by one use [`Catalog::scan`].
    ///
    /// # Errors
    /// Internal when a record cannot be unpacked.
    pub fn list(&self, tenant: Option<&str>) -> Result<Listing> {
        let mut records = Vec::new();
        self.scan(tenant, |r| records.push(r))?;
        Ok(Listing {
            records,
            problems: self.shared.read().problems(),
        })
    }

    /// Hands every record (optionally one tenant's) to `each`, newest
    /// first, a page at a time: memory stays at one page whatever the
    /// catalog's size, and writers are held up for one page at most.
    /// Records written or removed meanwhile are seen or not, as between
    /// the pages of a listing.
    ///
    /// # Errors
    /// Internal when a record cannot be unpacked.
    pub fn scan(&self, tenant: Option<&str>, mut each: impl FnMut(Record)) -> Result<()> {
        let mut after = None;
        loop {
            let (records, next) = self.shared.read().page(tenant, after.as_ref(), SCAN_PAGE)?;
            records.into_iter().for_each(&mut each);
            match next {
                Some(k) => after = Some(k),
                None => return Ok(()),
            }
        }
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
        let (records, last) = ix.page(tenant, cursor.after.as_ref(), cursor.limit)?;
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

    fn put(&self, record: &Record) -> Result<()> {
        let path = self.meta_path(&record.id);
        let temp = temp_path(&path);
        let json = encode(record)?;
        let replacing = path.exists();
        let write = || -> std::io::Result<snapshot::Stamp> {
            use std::io::Write;
            let mut f = create_private(&temp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            let stamp = snapshot::Stamp::of(&f.metadata()?);
            std::fs::rename(&temp, &path)?;
            Ok(stamp)
        };
        let stamp = match write() {
            Ok(stamp) => Some(stamp),
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                return Err(Error::from(e).context(format!("writing {}", path.display())));
            }
        };
        if let Err(e) = sync_dir_at(&self.dir, crate::fault::Phase::RecordDirSync) {
            // The rename is visible but not provably durable. A new record
            // is taken back, so an error means no record (and its caller
            // removes the dump); a replaced one is a whole record either
            // way, and the index follows the disk.
            if replacing || std::fs::remove_file(&path).is_err() {
                self.write().index(record, path, stamp);
            } else {
                let _ = sync_dir(&self.dir);
            }
            return Err(e);
        }
        self.write().index(record, path, stamp);
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
            Ok(Some((r, stamp))) => ix.index(&r, path, Some(stamp)),
            Ok(None) => {
                ix.remove(id);
            }
            Err(e) => ix.set_problem(id, path, e.message),
        }
    }

    /// Loads the index again from the directory (at start, and when the
    /// watch lost events): start-up time is mostly this. Entries of the
    /// [`snapshot`] whose sidecar is unchanged are taken as they are; every
    /// other sidecar is read, checked and packed on [`LOAD_THREADS`]
    /// threads and handed over one by one, so only a few records are ever
    /// unpacked at once. Without a snapshot, the first
    /// [`compact::SAMPLES`] records train the new index's codec. A load
    /// that had to read sidecars saves a new snapshot.
    fn reload(&self) -> Result<()> {
        let started = std::time::Instant::now();
        let (mut names, mut dumps) = (Vec::new(), HashSet::new());
        for entry in std::fs::read_dir(&self.dir).ctx(format!("reading {}", self.dir.display()))? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if sidecar_id(&name).is_some() {
                names.push(name);
            } else if name.ends_with(".dump") {
                dumps.insert(name);
            }
        }
        let saved = snapshot::load(&self.dir.join(snapshot::FILE));
        let codec = Arc::new(match &saved {
            Some(s) => compact::Codec::with_dictionary(s.dictionary.clone()),
            None => compact::Codec::train(&self.samples(&names)),
        });
        let mut fresh = Index::with_codec(codec.clone());
        let mut missing = Vec::new();
        let mut place = |fresh: &mut Index, ready: index::Ready| {
            if let Some(why) = self.dump_missing(&ready.id, &ready.dump, &dumps) {
                tracing::error!(id = %ready.id, problem = %why, "recovery: a record without its dump");
                let file = self.meta_path(&ready.id);
                missing.push(ready.id.clone());
                fresh.set_problem(&ready.id, file, why);
            } else {
                fresh.insert(ready);
            }
        };
        let (mut reused, mut dropped, mut read_now) = (0, 0, 0);
        let unread = match saved {
            Some(s) => {
                let entries = s.entries.len();
                let (unread, taken) = self.take_unchanged(&names, s.entries);
                reused = taken.len();
                dropped = entries - reused;
                for r in taken {
                    place(&mut fresh, r);
                }
                unread
            }
            None => names,
        };
        let dir = &self.dir;
        each_file(
            &unread,
            || codec.packer(),
            |packer, name| {
                let id = sidecar_id(name).unwrap_or_default();
                let Some((r, stamp)) = read_sidecar(&dir.join(name), id)? else {
                    return Ok(None);
                };
                let dump = index::Dump::of(&r, dir);
                index::Ready::new(&r, packer, Some(stamp), dump).map(Some)
            },
            |name, read| match read {
                Ok(Some(ready)) => {
                    read_now += 1;
                    place(&mut fresh, ready);
                }
                Ok(None) => {}
                Err(e) => {
                    let path = dir.join(name);
                    tracing::warn!(file = %path.display(), error = %e, "unreadable backup sidecar");
                    fresh.set_problem(sidecar_id(name).unwrap_or_default(), path, e.message);
                }
            },
        );
        tracing::info!(
            records = fresh.len(),
            problems = fresh.problems().len(),
            from_snapshot = reused,
            read = read_now,
            ms = started.elapsed().as_millis(),
            "catalog index loaded"
        );
        // Problems are never saved (they are read again at every start),
        // so only records read or snapshot entries dropped make it stale.
        let stale = read_now > 0 || dropped > 0;
        *self.write() = fresh;
        *self
            .missing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = missing;
        if stale {
            self.save();
        }
        Ok(())
    }

    /// Records as compact JSON from the first [`compact::SAMPLES`]
    /// sidecars of `names`, to train a codec on (unreadable ones are left
    /// out: they are reported by the load itself).
    fn samples(&self, names: &[String]) -> Vec<Vec<u8>> {
        let sample = &names[..names.len().min(compact::SAMPLES)];
        let mut jsons = Vec::new();
        each_file(
            sample,
            || Ok(()),
            |(), name| {
                let id = sidecar_id(name).unwrap_or_default();
                read_sidecar(&self.dir.join(name), id)?
                    .map(|(r, _)| compact::json(&r))
                    .transpose()
            },
            |_, json| jsons.extend(json.ok().flatten()),
        );
        jsons
    }

    /// Splits the sidecars `names` into those to read and the snapshot's
    /// entries that stand for them unchanged (same inode, size and mtime,
    /// looked up on [`LOAD_THREADS`] threads).
    fn take_unchanged(
        &self,
        names: &[String],
        entries: Vec<snapshot::Saved>,
    ) -> (Vec<String>, Vec<index::Ready>) {
        let mut saved: std::collections::HashMap<String, snapshot::Saved> =
            entries.into_iter().map(|e| (e.id.clone(), e)).collect();
        let (mut unread, mut taken) = (Vec::new(), Vec::new());
        each_file(
            names,
            || Ok(()),
            |(), name| match std::fs::symlink_metadata(self.dir.join(name)) {
                Ok(m) => Ok(Some(snapshot::Stamp::of(&m))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            },
            |name, stamp| {
                let id = sidecar_id(name).unwrap_or_default();
                match (saved.remove(id), stamp) {
                    (Some(e), Ok(Some(now))) if e.stamp == now => taken.push(index::Ready {
                        id: e.id,
                        tenant: e.tenant,
                        created_at: e.created_at,
                        packed: e.packed,
                        stamp: Some(e.stamp),
                        dump: e.dump,
                    }),
                    (_, Ok(None)) => {}
                    _ => unread.push(name.to_string()),
                }
            },
        );
        (unread, taken)
    }

    /// Saves the index as the next start's [`snapshot`]. Best effort: a
    /// start without one reads every sidecar, which is only slower.
    fn save(&self) {
        let started = std::time::Instant::now();
        let ix = self.read();
        let path = self.dir.join(snapshot::FILE);
        match snapshot::save(&path, ix.codec().dictionary(), ix.saved()) {
            Ok(()) => tracing::info!(
                records = ix.len(),
                ms = started.elapsed().as_millis(),
                "catalog snapshot saved"
            ),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "the catalog snapshot could not be saved; the next start reads every sidecar");
            }
        }
    }

    /// Why the local dump of record `id` (at `dump`) is missing, if it
    /// is: a record without its dump is a problem, not a backup, to every
    /// reader. Dumps in this directory are looked up in `here` (its
    /// listing: 100 000 stats would dominate start-up), others on disk.
    fn dump_missing(&self, id: &str, dump: &index::Dump, here: &HashSet<String>) -> Option<String> {
        let (present, location) = match dump {
            index::Dump::Bucket => return None,
            index::Dump::Here => (
                here.contains(&format!("{id}.dump")),
                self.dir.join(format!("{id}.dump")).display().to_string(),
            ),
            index::Dump::Elsewhere(path) => (Path::new(&**path).exists(), path.to_string()),
        };
        (!present).then(|| {
            format!(
                "its dump {location} is missing: the backup cannot be restored (put the dump \
                 back, or remove this sidecar)"
            )
        })
    }
}

/// Puts each of the files `names` through `f` on [`LOAD_THREADS`] threads
/// (each with its own state from `init`), and hands each file's name and
/// outcome to `take` on the calling thread, in no particular order:
/// `None` for a file gone meanwhile. Outcomes travel in batches, so the
/// threads do not queue on one another for every file.
fn each_file<S, T: Send>(
    names: &[String],
    init: impl Fn() -> Result<S> + Sync,
    f: impl Fn(&mut S, &str) -> Result<Option<T>> + Sync,
    mut take: impl FnMut(&str, Result<Option<T>>),
) {
    const BATCH: usize = 256;
    let chunk = names.len().div_ceil(LOAD_THREADS).max(1);
    let (tx, rx) =
        std::sync::mpsc::sync_channel::<Vec<(&str, Result<Option<T>>)>>(4 * LOAD_THREADS);
    std::thread::scope(|s| {
        for part in names.chunks(chunk) {
            let (tx, init, f) = (tx.clone(), &init, &f);
            s.spawn(move || {
                let mut state = init();
                for batch in part.chunks(BATCH) {
                    let done = batch
                        .iter()
                        .map(|name| {
                            let outcome = match &mut state {
                                Ok(state) => f(state, name),
                                Err(e) => Err(Error::internal(e.message.clone())),
                            };
                            (name.as_str(), outcome)
                        })
                        .collect();
                    if tx.send(done).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        for (name, outcome) in rx.into_iter().flatten() {
            take(name, outcome);
        }
    });
}

/// The record in sidecar file `path`, and the file as it was before it
/// was read; `None` when the file is gone.
fn read_sidecar(path: &Path, id: &str) -> Result<Option<(Record, snapshot::Stamp)>> {
    let read = || -> std::io::Result<(Vec<u8>, snapshot::Stamp)> {
        use std::io::Read;
        let mut f = std::fs::File::open(path)?;
        let stamp = snapshot::Stamp::of(&f.metadata()?);
        let mut bytes = Vec::with_capacity(usize::try_from(stamp.size).unwrap_or(0) + 1);
        f.read_to_end(&mut bytes)?;
        Ok((bytes, stamp))
    };
    match read() {
        Ok((b, stamp)) => parse(&b, id).map(|r| Some((r, stamp))),
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

    #[tokio::test]
    async fn a_start_takes_unchanged_sidecars_from_the_snapshot_and_reads_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<String> = (0..300)
            .map(|i| format!("alice-app-2026010{}T00{i:04}Z", i % 3))
            .collect();
        {
            let c = Catalog::open(dir.path()).unwrap();
            for id in &ids {
                let mut r = record(id, "2026-01-01T00:00:00Z");
                r.destination = Destination::Gcs;
                c.put(&r).await.unwrap();
            }
            let mut local = record("bob-app-20260101T000000Z", "2026-01-02T00:00:00Z");
            local.location = dir
                .path()
                .join(format!("{}.dump", local.id))
                .display()
                .to_string();
            std::fs::write(&local.location, b"dump").unwrap();
            c.put(&local).await.unwrap();
            c.save_snapshot().await;
        }
        assert!(dir.path().join(snapshot::FILE).exists());
        // While the daemon is down: one sidecar rewritten in place, one
        // removed, one added, and the local dump lost.
        let mut changed = record(&ids[0], "2026-01-01T00:00:00Z");
        changed.destination = Destination::Gcs;
        changed.size_bytes = 77;
        std::fs::write(
            dir.path().join(format!("{}{META}", ids[0])),
            encode(&changed).unwrap(),
        )
        .unwrap();
        std::fs::remove_file(dir.path().join(format!("{}{META}", ids[1]))).unwrap();
        let mut added = record("carol-app-20260101T000000Z", "2026-01-03T00:00:00Z");
        added.destination = Destination::Gcs;
        std::fs::write(
            dir.path().join(format!("{}{META}", added.id)),
            encode(&added).unwrap(),
        )
        .unwrap();
        std::fs::remove_file(dir.path().join("bob-app-20260101T000000Z.dump")).unwrap();

        let c = Catalog::open(dir.path()).unwrap();
        assert_eq!(
            c.get(&ids[0]).unwrap().size_bytes,
            77,
            "the changed sidecar was read"
        );
        assert_eq!(c.get(&ids[1]).unwrap_err().code, crate::Code::NotFound);
        assert_eq!(c.get(&added.id).unwrap(), added);
        assert_eq!(
            c.get(&ids[2]).unwrap().id,
            ids[2],
            "unchanged, from the snapshot"
        );
        assert_eq!(c.len(), 300);
        let lost = c.get("bob-app-20260101T000000Z").unwrap_err();
        assert!(lost.message.contains("is missing"), "{}", lost.message);
        assert_eq!(c.dumps_missing(), ["bob-app-20260101T000000Z"]);
        // A snapshot that cannot be trusted is ignored: the same index.
        std::fs::write(dir.path().join(snapshot::FILE), b"garbage").unwrap();
        let again = Catalog::open(dir.path()).unwrap();
        assert_eq!(
            again.list(None).unwrap().records,
            c.list(None).unwrap().records
        );
    }
}

//! The index saved beside the sidecars (`.index` in the backup directory),
//! so that a start does not read 100 000 small files: on a cold page cache
//! that alone takes seconds, while one file and a listing take a fraction.
//!
//! It is a cache, never the truth. An entry is used only while its sidecar
//! has the inode, size and modification time the sidecar had when it was
//! read (taken from the open file before reading it, so a later change
//! always shows); every other sidecar is read as if there were no snapshot,
//! and entries whose sidecar is gone are dropped. A snapshot of another
//! version, cut short or changed (its SHA-256 trailer) is ignored whole.
//! It is written after a load that had to read sidecars and when the daemon
//! stops, to a temporary file renamed into place (swept at start like any
//! other leftover temporary file).
//!
//! Layout (integers little-endian): the magic line, the dictionary, the
//! entries, then the SHA-256 of everything before it.
//! An entry: id, tenant, `created_at` (seconds, nanoseconds), the stamp
//! (inode, size, mtime in ns), where the dump is (a byte: 0 a bucket,
//! 1 beside the sidecar, 2 elsewhere followed by its path) and the packed
//! record. Strings and byte runs are a u32 length
//! and the bytes.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::index::Dump;

/// The file's name in the backup directory (hidden: not a sidecar, never
/// listed).
pub(super) const FILE: &str = ".index";
const MAGIC: &[u8] = b"containarium catalog index 1\n";
/// Larger runs are refused as corrupt before anything is allocated.
const MAX_RUN: u32 = 64 << 20;

/// What a sidecar file was when it was read: the same inode, size and
/// mtime mean the same content (writers replace sidecars by rename, and an
/// in-place write changes the mtime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    ino: u64,
    pub size: u64,
    mtime_ns: i64,
}

impl Stamp {
    pub fn of(m: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            ino: m.ino(),
            size: m.size(),
            mtime_ns: m.mtime().saturating_mul(1_000_000_000) + m.mtime_nsec(),
        }
    }
}

/// One saved record.
#[derive(Debug)]
pub struct Saved {
    pub id: String,
    pub tenant: String,
    pub created_at: DateTime<Utc>,
    pub stamp: Stamp,
    pub dump: Dump,
    pub packed: Box<[u8]>,
}

/// A snapshot as read: the dictionary its records are packed with, and
/// the records.
#[derive(Debug)]
pub struct Snapshot {
    pub dictionary: Vec<u8>,
    pub entries: Vec<Saved>,
}

/// Writes a snapshot of `dictionary` and `entries` to `path` (by a
/// temporary file and a rename).
///
/// # Errors
/// The I/O error; nothing is left at `path` but the previous snapshot.
pub fn save<'a>(
    path: &Path,
    dictionary: &[u8],
    entries: impl Iterator<Item = SavedRef<'a>>,
) -> std::io::Result<()> {
    let temp = crate::store::local::temp_path(path);
    let write = || -> std::io::Result<()> {
        let file = crate::store::local::create_private(&temp)?;
        let mut w = Hashing(BufWriter::new(file), Sha256::new());
        w.write_all(MAGIC)?;
        run(&mut w, dictionary)?;
        for e in entries {
            run(&mut w, e.id.as_bytes())?;
            run(&mut w, e.tenant.as_bytes())?;
            w.write_all(&e.created_at.timestamp().to_le_bytes())?;
            w.write_all(&e.created_at.timestamp_subsec_nanos().to_le_bytes())?;
            w.write_all(&e.stamp.ino.to_le_bytes())?;
            w.write_all(&e.stamp.size.to_le_bytes())?;
            w.write_all(&e.stamp.mtime_ns.to_le_bytes())?;
            match e.dump {
                Dump::Bucket => w.write_all(&[0])?,
                Dump::Here => w.write_all(&[1])?,
                Dump::Elsewhere(path) => {
                    w.write_all(&[2])?;
                    run(&mut w, path.as_bytes())?;
                }
            }
            run(&mut w, e.packed)?;
        }
        // The end: an empty id, then the checksum of all before it.
        run(&mut w, b"")?;
        let Hashing(mut out, hash) = w;
        out.write_all(&hash.finalize())?;
        out.flush()?;
        std::fs::rename(&temp, path)
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

/// An entry to save, borrowed from the index.
pub struct SavedRef<'a> {
    pub id: &'a str,
    pub tenant: &'a str,
    pub created_at: DateTime<Utc>,
    pub stamp: Stamp,
    pub dump: &'a Dump,
    pub packed: &'a [u8],
}

/// The snapshot at `path`; `None` when there is none or it cannot be
/// trusted (logged: the load then reads every sidecar).
pub fn load(path: &Path) -> Option<Snapshot> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "the catalog snapshot cannot be read; reading every sidecar");
            return None;
        }
    };
    let mut r = Hashing(BufReader::new(file), Sha256::new());
    match read(&mut r) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "the catalog snapshot is not usable; reading every sidecar");
            None
        }
    }
}

fn read<R: Read>(r: &mut Hashing<R>) -> std::io::Result<Snapshot> {
    let mut magic = vec![0; MAGIC.len()];
    r.read_exact(&mut magic)?;
    if magic != MAGIC {
        return Err(corrupt("of another version"));
    }
    let dictionary = read_run(r)?;
    let mut entries = Vec::new();
    loop {
        let id = read_string(r)?;
        if id.is_empty() {
            break;
        }
        let tenant = read_string(r)?;
        let secs = i64::from_le_bytes(read_array(r)?);
        let nanos = u32::from_le_bytes(read_array(r)?);
        let created_at = DateTime::from_timestamp(secs, nanos).ok_or_else(|| corrupt("a time"))?;
        let stamp = Stamp {
            ino: u64::from_le_bytes(read_array(r)?),
            size: u64::from_le_bytes(read_array(r)?),
            mtime_ns: i64::from_le_bytes(read_array(r)?),
        };
        entries.push(Saved {
            id,
            tenant,
            created_at,
            stamp,
            dump: match read_array::<1>(r)? {
                [0] => Dump::Bucket,
                [1] => Dump::Here,
                [2] => Dump::Elsewhere(read_string(r)?.into()),
                _ => return Err(corrupt("has an unknown dump place")),
            },
            packed: read_run(r)?.into_boxed_slice(),
        });
    }
    let computed = r.1.clone().finalize();
    let mut stored = [0u8; 32];
    r.0.read_exact(&mut stored)?;
    if stored[..] != computed[..] {
        return Err(corrupt("changed (checksum)"));
    }
    if r.0.read(&mut [0u8; 1])? != 0 {
        return Err(corrupt("longer than written"));
    }
    Ok(Snapshot {
        dictionary,
        entries,
    })
}

fn corrupt(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("snapshot {what}"))
}

fn run(w: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(|_| corrupt("run too long"))?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(bytes)
}

fn read_array<const N: usize>(r: &mut impl Read) -> std::io::Result<[u8; N]> {
    let mut a = [0u8; N];
    r.read_exact(&mut a)?;
    Ok(a)
}

fn read_run(r: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let len = u32::from_le_bytes(read_array(r)?);
    if len > MAX_RUN {
        return Err(corrupt("has a run longer than any record"));
    }
    let mut v = vec![0; len as usize];
    r.read_exact(&mut v)?;
    Ok(v)
}

fn read_string(r: &mut impl Read) -> std::io::Result<String> {
    String::from_utf8(read_run(r)?).map_err(|_| corrupt("has a name that is not UTF-8"))
}

/// A reader or writer that hashes what passes through it.
struct Hashing<T>(T, Sha256);

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.0.write(buf)?;
        self.1.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        self.1.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u64) -> Saved {
        Saved {
            id: format!("t-app-{i}"),
            tenant: "t".into(),
            created_at: DateTime::from_timestamp(1_700_000_000 + i64::try_from(i).unwrap(), 5)
                .unwrap(),
            stamp: Stamp {
                ino: i,
                size: 100 + i,
                mtime_ns: 42,
            },
            dump: match i % 3 {
                0 => Dump::Bucket,
                1 => Dump::Here,
                _ => Dump::Elsewhere(format!("/b/t-app-{i}.dump").into()),
            },
            packed: vec![u8::try_from(i).unwrap(); 7].into_boxed_slice(),
        }
    }

    fn save_all(path: &Path, entries: &[Saved]) {
        let refs = entries.iter().map(|e| SavedRef {
            id: &e.id,
            tenant: &e.tenant,
            created_at: e.created_at,
            stamp: e.stamp,
            dump: &e.dump,
            packed: &e.packed,
        });
        save(path, b"dict", refs).unwrap();
    }

    #[test]
    fn a_snapshot_reads_back_and_any_change_to_it_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        assert!(load(&path).is_none(), "no snapshot");
        let entries: Vec<Saved> = (0..50).map(entry).collect();
        save_all(&path, &entries);
        let back = load(&path).unwrap();
        assert_eq!(back.dictionary, b"dict");
        assert_eq!(back.entries.len(), 50);
        for (a, b) in back.entries.iter().zip(&entries) {
            assert_eq!(
                (&a.id, &a.tenant, a.created_at, a.stamp, &a.dump, &a.packed),
                (&b.id, &b.tenant, b.created_at, b.stamp, &b.dump, &b.packed)
            );
        }
        let good = std::fs::read(&path).unwrap();
        let mut flipped = good.clone();
        flipped[good.len() / 2] ^= 1;
        let mut longer = good.clone();
        longer.push(0);
        let mut other = good.clone();
        other[MAGIC.len() - 2] = b'9';
        for bad in [flipped, good[..good.len() - 1].to_vec(), longer, other] {
            std::fs::write(&path, &bad).unwrap();
            assert!(load(&path).is_none(), "a changed snapshot is ignored");
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file is left"
        );
    }
}

//! The host backup directory: objects are files written under a hidden
//! temporary name, fsynced, and linked into place (never over an existing
//! file), then the directory is fsynced. Files 0600, directory 0700.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use super::{ObjectReader, ObjectWriter, Store};
use crate::error::Context;
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct LocalStore {
    dir: PathBuf,
}

impl LocalStore {
    /// A store over `dir`, created 0700 when missing.
    ///
    /// # Errors
    /// Internal when the directory cannot be created.
    pub fn open(dir: &Path) -> Result<Self> {
        ensure_private_dir(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    fn open_key(&self, key: &str) -> Result<std::fs::File> {
        let path = self.path(key);
        match std::fs::File::open(&path) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::not_found(format!(
                "the dump file {} is missing",
                path.display()
            ))),
            Err(e) => Err(Error::from(e).context(format!("opening {}", path.display()))),
        }
    }
}

/// Bytes available to unprivileged writers on the filesystem holding `dir`.
///
/// # Errors
/// Internal when the filesystem cannot be queried.
pub(crate) fn free_bytes(dir: &Path) -> Result<u64> {
    let st = rustix::fs::statvfs(dir)
        .map_err(|e| Error::internal(format!("statvfs {}: {e}", dir.display())))?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Creates `dir` (and parents) and makes it 0700.
pub(crate) fn ensure_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).ctx(format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .ctx(format!("setting the mode of {}", dir.display()))
}

/// fsyncs a directory so a rename or link inside it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx(format!("fsync of the directory {}", dir.display()))
}

/// [`sync_dir`] after a new entry was published in `dir`, where a failure
/// makes the caller take the entry back; `phase` is the test fault point
/// that can fail it (see [`crate::fault::io`]).
pub(crate) fn sync_dir_at(dir: &Path, phase: crate::fault::Phase) -> Result<()> {
    crate::fault::io(phase)
        .ctx(format!("fsync of the directory {}", dir.display()))
        .and_then(|()| sync_dir(dir))
}

/// A hidden, unique temporary name beside `final_path`.
pub(crate) fn temp_path(final_path: &Path) -> PathBuf {
    let name = final_path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let tag: u64 = rand::random();
    final_path.with_file_name(format!(".{name}.{tag:016x}.tmp"))
}

/// Opens a new 0600 file, failing if it exists.
pub(crate) fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[async_trait]
impl Store for LocalStore {
    fn location(&self, key: &str) -> String {
        self.path(key).display().to_string()
    }

    async fn writer(&self, key: &str) -> Result<Box<dyn ObjectWriter>> {
        let target = self.path(key);
        let temp = temp_path(&target);
        let file = create_private(&temp).ctx(format!("creating {}", temp.display()))?;
        Ok(Box::new(LocalWriter {
            file: Some(tokio::fs::File::from_std(file)),
            temp,
            target,
        }))
    }

    async fn reader(&self, key: &str) -> Result<ObjectReader> {
        let file = self.open_key(key)?;
        Ok(Box::new(tokio::fs::File::from_std(file)))
    }

    async fn open_file(&self, key: &str) -> Result<Option<std::fs::File>> {
        self.open_key(key).map(Some)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => sync_dir(&self.dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::not_found(format!(
                "{} was already gone",
                path.display()
            ))),
            Err(e) => Err(Error::from(e).context(format!("removing {}", path.display()))),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        for entry in std::fs::read_dir(&self.dir).ctx(format!("reading {}", self.dir.display()))? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.starts_with(prefix) && !name.starts_with('.') {
                keys.push(name);
            }
        }
        keys.sort();
        Ok(keys)
    }
}

struct LocalWriter {
    file: Option<tokio::fs::File>,
    temp: PathBuf,
    target: PathBuf,
}

#[async_trait]
impl ObjectWriter for LocalWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| Error::internal("write after close"))?;
        file.write_all(&chunk)
            .await
            .ctx(format!("writing {}", self.temp.display()))
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        let result = self.finish().await;
        if result.is_err() {
            let _ = std::fs::remove_file(&self.temp);
        }
        result
    }

    async fn abort(mut self: Box<Self>) {
        drop(self.file.take());
        let _ = std::fs::remove_file(&self.temp);
    }
}

impl LocalWriter {
    async fn finish(&mut self) -> Result<()> {
        let mut file = self
            .file
            .take()
            .ok_or_else(|| Error::internal("commit twice"))?;
        file.flush().await?;
        file.sync_all()
            .await
            .ctx(format!("fsync of {}", self.temp.display()))?;
        drop(file);
        // A hard link publishes the file atomically and refuses to replace one.
        match std::fs::hard_link(&self.temp, &self.target) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::precondition(format!(
                    "{} already exists; objects are written once and never replaced",
                    self.target.display()
                )));
            }
            Err(e) => {
                return Err(Error::from(e).context(format!("publishing {}", self.target.display())));
            }
        }
        // A temp name left behind is swept at start-up; the object is whole.
        let _ = std::fs::remove_file(&self.temp);
        let dir = self.target.parent().unwrap_or(Path::new("."));
        if let Err(e) = sync_dir_at(dir, crate::fault::Phase::DumpDirSync) {
            // Not provably durable: take it back, so an error always means
            // no object (the caller keeps no record of it either).
            let _ = std::fs::remove_file(&self.target);
            let _ = sync_dir(dir);
            return Err(e.context(format!("publishing {}", self.target.display())));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn staged_until_commit_and_gone_on_abort() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(&dir.path().join("b")).unwrap();
        let mut w = store.writer("x.dump").await.unwrap();
        w.write(Bytes::from_static(b"abc")).await.unwrap();
        assert!(
            store.list("").await.unwrap().is_empty(),
            "invisible before commit"
        );
        w.commit().await.unwrap();
        assert_eq!(store.list("").await.unwrap(), ["x.dump"]);
        let meta = std::fs::metadata(dir.path().join("b/x.dump")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let dmeta = std::fs::metadata(dir.path().join("b")).unwrap();
        assert_eq!(dmeta.permissions().mode() & 0o777, 0o700);

        let mut w = store.writer("y.dump").await.unwrap();
        w.write(Bytes::from_static(b"abc")).await.unwrap();
        w.abort().await;
        assert_eq!(std::fs::read_dir(dir.path().join("b")).unwrap().count(), 1);

        // Never replaces a committed object.
        let mut w = store.writer("x.dump").await.unwrap();
        w.write(Bytes::from_static(b"zzz")).await.unwrap();
        assert!(w.commit().await.is_err());
        assert_eq!(std::fs::read(dir.path().join("b/x.dump")).unwrap(), b"abc");
        assert_eq!(std::fs::read_dir(dir.path().join("b")).unwrap().count(), 1);

        store.delete("x.dump").await.unwrap();
        let again = store.delete("x.dump").await.unwrap_err();
        assert_eq!(again.code, crate::Code::NotFound);
    }
}

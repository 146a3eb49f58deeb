//! Which sidecars changed on disk since the index last looked: sidecars that
//! another process writes, renames or removes in the backup directory
//! (another daemon, an operator restoring the directory, a copy from a
//! bucket). The kernel queues each change as it happens (inotify); the
//! catalog drains the queue before answering a request, so a sidecar
//! written before a request started is always seen by it. Draining is one
//! non-blocking read; only the files named are read again. When the queue
//! overflowed, the whole directory is read again.

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::path::Path;
use std::sync::Mutex;

use inotify::{EventMask, Inotify, WatchMask};

use crate::{Error, Result};

/// The kernel's queue of changes to one directory.
pub(super) struct Watch {
    inotify: Mutex<Inotify>,
}

/// What changed since the last [`Watch::changes`].
#[derive(Debug, Default)]
pub(super) struct Changes {
    /// File names that were written, moved in or out, or removed.
    pub names: BTreeSet<String>,
    /// Events were lost: every file must be read again.
    pub lost: bool,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && !self.lost
    }
}

impl Watch {
    /// Starts queueing the changes to `dir`.
    ///
    /// # Errors
    /// Internal when the kernel refuses the watch (e.g. inotify limits).
    pub fn start(dir: &Path) -> Result<Self> {
        let what = |e: std::io::Error| {
            Error::internal(format!(
                "watching {} for sidecar changes: {e}",
                dir.display()
            ))
        };
        let inotify = Inotify::init().map_err(what)?;
        inotify
            .watches()
            .add(
                dir,
                WatchMask::CLOSE_WRITE
                    | WatchMask::MOVED_TO
                    | WatchMask::MOVED_FROM
                    | WatchMask::DELETE,
            )
            .map_err(what)?;
        Ok(Self {
            inotify: Mutex::new(inotify),
        })
    }

    /// Drains the queue without blocking.
    pub fn changes(&self) -> Changes {
        let mut out = Changes::default();
        let mut inotify = self
            .inotify
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut buffer = [0u8; 16 * 1024];
        loop {
            match inotify.read_events(&mut buffer) {
                Ok(events) => {
                    for e in events {
                        if e.mask.contains(EventMask::Q_OVERFLOW) {
                            out.lost = true;
                        }
                        if let Some(name) = e.name.and_then(|n| n.to_str()) {
                            out.names.insert(name.to_string());
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return out,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the catalog's change queue failed; reading the directory again");
                    out.lost = true;
                    return out;
                }
            }
        }
    }
}

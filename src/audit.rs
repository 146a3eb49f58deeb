//! The audit trail: one JSON line per create/restore/verify/delete/prune and
//! per denied request, appended and flushed before the response is sent, and
//! mirrored to the log. Built from typed fields only, so a password or token
//! has no way in.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use chrono::Utc;
use serde::Serialize;

use crate::error::Context;
use crate::{Error, Result};

/// One audited action's facts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Event {
    pub timestamp: String,
    pub action: String,
    pub id: String,
    pub tenant: String,
    pub database: String,
    pub size_bytes: i64,
    pub destination: String,
    /// Who asked (the token's subject).
    pub subject: String,
    /// `ok`, `failed` or `denied`.
    pub outcome: String,
    pub error: String,
    pub duration_ms: i64,
    /// The network peer of an unauthenticated request (one line per source
    /// per minute; the rest are only counted).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

/// Where audit lines go.
#[derive(Debug)]
pub struct Audit {
    path: Option<PathBuf>,
    file: Mutex<Option<std::fs::File>>,
}

impl Audit {
    /// Appends to `path` (created 0600), or only logs when `None`.
    ///
    /// # Errors
    /// Internal when the file cannot be opened.
    pub fn open(path: Option<&Path>) -> Result<Self> {
        let file = match path {
            Some(p) => {
                use std::os::unix::fs::OpenOptionsExt;
                Some(
                    std::fs::OpenOptions::new()
                        .append(true)
                        .create(true)
                        .mode(0o600)
                        .open(p)
                        .ctx(format!("opening the audit log {}", p.display()))?,
                )
            }
            None => None,
        };
        Ok(Self {
            path: path.map(Path::to_path_buf),
            file: Mutex::new(file),
        })
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Writes one line and flushes it.
    ///
    /// # Errors
    /// Internal when the line cannot be written: the caller fails the
    /// request rather than act unaudited.
    pub fn write(&self, event: &Event) -> Result<()> {
        let line = serde_json::to_string(event)?;
        tracing::info!(target: "containarium::audit", "{line}");
        let mut guard = self
            .file
            .lock()
            .map_err(|_| Error::internal("audit lock poisoned"))?;
        if let Some(f) = guard.as_mut() {
            f.write_all(line.as_bytes())
                .and_then(|()| f.write_all(b"\n"))
                .and_then(|()| f.flush())
                .ctx("writing the audit log")?;
        }
        Ok(())
    }
}

/// Collects an event's facts while an action runs.
pub struct Pending {
    pub event: Event,
    started: Instant,
}

impl Pending {
    pub fn new(action: &str, subject: &str) -> Self {
        Self {
            event: Event {
                action: action.into(),
                subject: subject.into(),
                ..Event::default()
            },
            started: Instant::now(),
        }
    }

    /// Fills outcome, error, timestamp and duration from `result`.
    pub fn finish<T>(mut self, result: &Result<T>) -> Event {
        self.event.timestamp = crate::catalog::rfc3339(&Utc::now());
        self.event.duration_ms =
            i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        match result {
            Ok(_) => self.event.outcome = "ok".into(),
            Err(e) => {
                self.event.outcome = match e.code {
                    crate::Code::PermissionDenied | crate::Code::Unauthenticated => "denied",
                    _ => "failed",
                }
                .into();
                self.event.error.clone_from(&e.message);
            }
        }
        self.event
    }
}

//! The audit trail: one JSON line per create/restore/verify/delete/prune and
//! per denied request, mirrored to the log. Destructive operations also write
//! an *intent* line before they change anything. Every line is fdatasynced
//! before the caller goes on and carries the SHA-256 of the line before it
//! ([`chain`]), so `containarium audit verify` ([`verify`]) names a line that
//! was changed, removed or inserted. Built from typed fields only, so a
//! password or token has no way in.

mod chain;
mod head;
pub mod verify;

pub use head::{AuditConfig, DayHead};

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One audited action's facts (or, with `marker` set, one line of the
/// chain's own bookkeeping).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
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
    /// `ok`, `failed` or `denied`; `pending` on an intent line.
    pub outcome: String,
    pub error: String,
    pub duration_ms: i64,
    /// The network peer of an unauthenticated request (one line per source
    /// per minute; the rest are only counted).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// The operation this line belongs to: an intent and its outcome share it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// `intent` (written before a destructive change) or `outcome`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub phase: String,
    /// The chain's own lines: `start` (the first line of a file), `resume`
    /// (a daemon started on an existing file), `torn` (the line before it
    /// was cut short by a crash).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub marker: String,
    /// What a marker line is about, for people.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// Length and SHA-256 of the torn line a `torn` marker accounts for.
    #[serde(skip_serializing_if = "is_zero")]
    pub torn_bytes: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub torn_sha256: String,
    /// This line's place in its file's chain (1 = the start marker): a gap
    /// shows removed lines.
    pub seq: u64,
    /// Hex SHA-256 of the previous line (empty on a file's start marker).
    pub prev: String,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if signature
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Event {
    /// Whether this is a line of the chain's bookkeeping, not an action.
    pub fn is_marker(&self) -> bool {
        !self.marker.is_empty()
    }
}

/// Where audit lines go.
#[derive(Debug)]
pub struct Audit {
    path: Option<PathBuf>,
    writer: Mutex<Option<chain::Writer>>,
}

impl Audit {
    /// Appends to `path` (created 0600), continuing its chain, or only logs
    /// when `None`. A file whose first line is no start marker (written
    /// before the chain existed) or whose last whole line is unreadable is
    /// kept beside it as `<path>.unchained-<time>` and a new file is started
    /// whose start marker names it.
    ///
    /// # Errors
    /// Unavailable when the file cannot be opened, read or written.
    pub fn open(path: Option<&Path>) -> Result<Self> {
        let writer = path.map(chain::Writer::open).transpose()?;
        Ok(Self {
            path: path.map(Path::to_path_buf),
            writer: Mutex::new(writer),
        })
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Writes one line and fdatasyncs it.
    ///
    /// # Errors
    /// Unavailable (naming the audit log) when the line cannot be written; a
    /// partly written line is cut off again, so the chain stays intact.
    pub fn write(&self, event: &Event) -> Result<()> {
        let mut guard = self
            .writer
            .lock()
            .map_err(|_| Error::internal("audit lock poisoned"))?;
        let written = match guard.as_mut() {
            Some(w) => w.append(event),
            None => serde_json::to_string(event).map_err(Error::from),
        };
        match written {
            Ok(line) => {
                tracing::info!(target: "containarium::audit", "{line}");
                Ok(())
            }
            Err(e) => {
                // The log keeps what the file could not.
                let line = serde_json::to_string(event).unwrap_or_default();
                tracing::error!(target: "containarium::audit", error = %e.message, "{line}");
                Err(e)
            }
        }
    }

    /// Writes the intent line of a destructive operation, before anything
    /// changes: `event` as known so far, with phase `intent`.
    ///
    /// # Errors
    /// Unavailable naming the audit log: the caller must not go on.
    pub fn intent(&self, event: &Event) -> Result<()> {
        let mut line = event.clone();
        line.timestamp = crate::catalog::rfc3339(&Utc::now());
        line.phase = "intent".into();
        line.outcome = "pending".into();
        self.write(&line).map_err(|e| {
            e.context(format!(
                "refusing to {} without an audit record of the attempt",
                event.action
            ))
        })
    }
}

impl Audit {
    /// Heads of the days that ended since the last call, for publishing.
    pub fn take_closed_days(&self) -> Vec<DayHead> {
        self.writer
            .lock()
            .ok()
            .and_then(|mut g| g.as_mut().map(|w| std::mem::take(&mut w.closed)))
            .unwrap_or_default()
    }

    /// Puts back heads that could not be published, to try again.
    pub fn requeue_days(&self, heads: Vec<DayHead>) {
        if let Ok(mut g) = self.writer.lock()
            && let Some(w) = g.as_mut()
        {
            let newer = std::mem::take(&mut w.closed);
            w.closed = heads;
            w.closed.extend(newer);
        }
    }
}

/// Every line of the audit log at `path` that parses, in order, markers
/// included (a torn or foreign line is skipped: [`verify`] judges those).
/// For tests and tools that check what was audited.
///
/// # Errors
/// NotFound, or Internal when the file cannot be read.
pub fn read_lines(path: &Path) -> Result<Vec<Event>> {
    let text = std::fs::read(path)?;
    Ok(text
        .split(|b| *b == b'\n')
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect())
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
                op: format!("{:016x}", rand::random::<u64>()),
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
        self.event.phase = "outcome".into();
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

#[cfg(test)]
mod tests;

//! Fault points for the crash-consistency matrix (`tests/faults`): with
//! `CONTAINARIUM_FAULT=<phase>[:abort|:pause|:error]` set when the daemon
//! starts, it aborts (as a SIGKILL would) or pauses at that named phase, or
//! (at a directory fsync) fails it with EIO, so a test can prove what a crash
//! or a failing disk there leaves behind. Unset, every point is a no-op.
//!
//! A pause creates `$CONTAINARIUM_FAULT_DIR/reached` and waits until
//! `$CONTAINARIUM_FAULT_DIR/release` exists (without the directory it waits
//! for ever), so the test can stop Postgres or kill the daemon meanwhile.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::store::ObjectWriter;
use crate::{Error, Result};

/// The environment variable naming the fault.
pub const ENV: &str = "CONTAINARIUM_FAULT";
/// Where a pause announces itself and waits for its release.
pub const DIR_ENV: &str = "CONTAINARIUM_FAULT_DIR";

/// Where a fault can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// pg_dump is streaming: the first chunk is in the staged object.
    DuringDump,
    /// The dump is committed under its key; no sidecar or record yet.
    AfterDumpCommitBeforeSidecar,
    /// Every byte of a bucket dump is sent; the upload is not completed.
    DuringBucketComplete,
    /// A bucket dump and its sidecar are written; the local record is not.
    AfterSidecarBeforeRecord,
    /// pg_restore has been fed its first chunk.
    DuringRestore,
    /// A restore test's pg_restore has been fed its first chunk.
    DuringVerify,
    /// Prune deleted a dump; its sidecar and record are still there.
    DuringPrune,
    /// Delete deleted the dump; its sidecar and record are still there.
    DuringDelete,
    /// `catalog-sync` read a bucket sidecar and has not indexed it yet.
    DuringSync,
    /// A new local dump is linked into place; the directory fsync that
    /// makes it durable (only `:error`).
    DumpDirSync,
    /// A new record is renamed into place; the directory fsync that makes
    /// it durable (only `:error`).
    RecordDirSync,
}

impl Phase {
    /// Every phase, in the order a backup lives through them.
    pub const ALL: [Self; 11] = [
        Self::DuringDump,
        Self::AfterDumpCommitBeforeSidecar,
        Self::DuringBucketComplete,
        Self::AfterSidecarBeforeRecord,
        Self::DuringRestore,
        Self::DuringVerify,
        Self::DuringPrune,
        Self::DuringDelete,
        Self::DuringSync,
        Self::DumpDirSync,
        Self::RecordDirSync,
    ];

    /// The name `CONTAINARIUM_FAULT` uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::DuringDump => "during-dump",
            Self::AfterDumpCommitBeforeSidecar => "after-dump-commit-before-sidecar",
            Self::DuringBucketComplete => "during-bucket-complete",
            Self::AfterSidecarBeforeRecord => "after-sidecar-before-record",
            Self::DuringRestore => "during-restore",
            Self::DuringVerify => "during-verify",
            Self::DuringPrune => "during-prune",
            Self::DuringDelete => "during-delete",
            Self::DuringSync => "during-sync",
            Self::DumpDirSync => "dump-dir-sync",
            Self::RecordDirSync => "record-dir-sync",
        }
    }

    /// Whether the phase is an I/O call that fails (`:error`) rather than
    /// a place to stop: aborting or pausing there would test nothing the
    /// neighbouring phases do not.
    fn is_io(self) -> bool {
        matches!(self, Self::DumpDirSync | Self::RecordDirSync)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Abort,
    Pause,
    /// The I/O call fails with EIO.
    Error,
}

#[derive(Debug)]
struct Fault {
    phase: Phase,
    action: Action,
    dir: Option<PathBuf>,
    /// A pause happens once; later passes go on.
    fired: AtomicBool,
}

static FAULT: OnceLock<Fault> = OnceLock::new();

/// Reads `CONTAINARIUM_FAULT` (and `CONTAINARIUM_FAULT_DIR`) once, at start-up.
///
/// # Errors
/// InvalidArgument for an unknown phase or action: a misspelt fault must not
/// silently test nothing.
pub fn init_from_env() -> Result<()> {
    let Ok(spec) = std::env::var(ENV) else {
        return Ok(());
    };
    let fault = parse(&spec)?;
    let fault = Fault {
        dir: std::env::var_os(DIR_ENV).map(PathBuf::from),
        ..fault
    };
    tracing::warn!(
        phase = fault.phase.name(),
        action = ?fault.action,
        "a test fault is armed"
    );
    let _ = FAULT.set(fault);
    Ok(())
}

fn parse(spec: &str) -> Result<Fault> {
    let (name, action) = match spec.split_once(':') {
        Some((name, action)) => (name, Some(action)),
        None => (spec, None),
    };
    let phase = Phase::ALL
        .into_iter()
        .find(|p| p.name() == name)
        .ok_or_else(|| {
            let known: Vec<_> = Phase::ALL.iter().map(|p| p.name()).collect();
            Error::invalid(format!(
                "{ENV}: unknown phase {name:?} (known: {})",
                known.join(", ")
            ))
        })?;
    let action = match (action, phase.is_io()) {
        (None | Some("abort"), false) => Action::Abort,
        (Some("pause"), false) => Action::Pause,
        (Some("error"), true) => Action::Error,
        (None | Some("abort" | "pause"), true) => {
            return Err(Error::invalid(format!(
                "{ENV}: {name} is an fsync that fails: write {name}:error"
            )));
        }
        (Some("error"), false) => {
            return Err(Error::invalid(format!(
                "{ENV}: {name} is a place to stop, not an I/O call: use abort or pause"
            )));
        }
        (Some(other), _) => {
            return Err(Error::invalid(format!(
                "{ENV}: unknown action {other:?} (abort, pause, or error at an fsync phase)"
            )));
        }
    };
    Ok(Fault {
        phase,
        action,
        dir: None,
        fired: AtomicBool::new(false),
    })
}

fn armed(phase: Phase) -> Option<&'static Fault> {
    FAULT.get().filter(|f| f.phase == phase)
}

/// The fault point `phase`: aborts or pauses there when it is the armed one.
pub async fn point(phase: Phase) {
    let Some(fault) = armed(phase) else {
        return;
    };
    if fault.fired.swap(true, Ordering::SeqCst) {
        return;
    }
    tracing::warn!(phase = phase.name(), action = ?fault.action, "fault point reached");
    match fault.action {
        Action::Abort => std::process::abort(),
        // Only I/O phases take `error`, and they are reached through `io`.
        Action::Error => {}
        Action::Pause => {
            let Some(dir) = &fault.dir else {
                return std::future::pending().await;
            };
            let _ = std::fs::write(dir.join("reached"), phase.name());
            while !dir.join("release").exists() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tracing::warn!(phase = phase.name(), "fault point released");
        }
    }
}

/// The I/O fault point `phase`: EIO when it is the armed one (once), so
/// the caller's real error path runs; `Ok` otherwise.
///
/// # Errors
/// The injected EIO.
pub fn io(phase: Phase) -> std::io::Result<()> {
    let Some(fault) = armed(phase).filter(|f| f.action == Action::Error) else {
        return Ok(());
    };
    if fault.fired.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    tracing::warn!(
        phase = phase.name(),
        "fault point reached: failing with EIO"
    );
    Err(rustix::io::Errno::IO.into())
}

/// `writer`, reaching `phase` after its first chunk is written; `writer`
/// itself when that phase is not armed.
pub fn after_first_write(phase: Phase, writer: Box<dyn ObjectWriter>) -> Box<dyn ObjectWriter> {
    if armed(phase).is_none() {
        return writer;
    }
    Box::new(Watched {
        inner: writer,
        phase,
    })
}

struct Watched {
    inner: Box<dyn ObjectWriter>,
    phase: Phase,
}

#[async_trait::async_trait]
impl ObjectWriter for Watched {
    async fn write(&mut self, chunk: bytes::Bytes) -> Result<()> {
        self.inner.write(chunk).await?;
        point(self.phase).await;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.inner.commit().await
    }

    async fn abort(self: Box<Self>) {
        self.inner.abort().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_mistakes_are_refused_by_name() {
        let f = parse("during-dump").unwrap();
        assert_eq!((f.phase, f.action), (Phase::DuringDump, Action::Abort));
        let f = parse("during-prune:pause").unwrap();
        assert_eq!((f.phase, f.action), (Phase::DuringPrune, Action::Pause));
        let e = parse("during-dumpp").unwrap_err();
        assert!(e.message.contains("unknown phase \"during-dumpp\""), "{e}");
        assert!(
            e.message.contains("after-dump-commit-before-sidecar"),
            "{e}"
        );
        let e = parse("during-dump:explode").unwrap_err();
        assert!(e.message.contains("unknown action \"explode\""), "{e}");
        let f = parse("record-dir-sync:error").unwrap();
        assert_eq!((f.phase, f.action), (Phase::RecordDirSync, Action::Error));
        let e = parse("dump-dir-sync").unwrap_err();
        assert!(e.message.contains("write dump-dir-sync:error"), "{e}");
        let e = parse("during-dump:error").unwrap_err();
        assert!(e.message.contains("not an I/O call"), "{e}");
        for p in Phase::ALL {
            let spec = if p.is_io() {
                format!("{}:error", p.name())
            } else {
                p.name().to_string()
            };
            assert_eq!(parse(&spec).unwrap().phase, p, "names round-trip");
        }
    }

    #[tokio::test]
    async fn unarmed_points_do_nothing() {
        // No test arms FAULT in this process: every point passes straight on.
        for p in Phase::ALL {
            point(p).await;
            io(p).unwrap();
        }
    }
}

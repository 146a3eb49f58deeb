//! A child process with piped stdio whose stderr is collected in the
//! background (bounded), so a failure can be explained with the tool's own
//! words and a chatty tool can never block on a full stderr pipe.

use std::process::{ExitStatus, Stdio};

use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;

use super::pace::Paced;

use crate::{Error, Result};

/// Keep at most this much of a child's stderr (the tail is what explains).
const STDERR_LIMIT: usize = 64 * 1024;

/// A started child. Take `stdin`/`stdout`, stream, then call [`Running::finish`].
pub struct Running {
    child: Child,
    pub stdin: Option<Paced<ChildStdin>>,
    pub stdout: Option<Paced<ChildStdout>>,
    stderr: JoinHandle<Vec<u8>>,
    /// Where it runs, for messages (e.g. `netns:alice`).
    pub place: String,
}

/// How a child ended.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    /// The (tail of the) child's stderr, lossily decoded and trimmed.
    pub stderr: String,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The child's own explanation, or its exit status when it said nothing.
    pub fn explain(&self) -> String {
        if self.stderr.is_empty() {
            format!("exited with {}", self.status)
        } else {
            self.stderr.clone()
        }
    }
}

impl Running {
    /// Starts `argv` with exactly `env` as its environment (nothing inherited).
    pub(super) fn spawn(argv: &[String], place: &str, env: &[(String, String)]) -> Result<Self> {
        let (program, rest) = argv
            .split_first()
            .ok_or_else(|| Error::internal("empty command"))?;
        let mut child = Command::new(program)
            .args(rest)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                Error::unavailable(format!("cannot start `{program}` to reach {place}: {e}"))
            })?;
        let mut err = child.stderr.take().expect("stderr is piped");
        let stderr = tokio::spawn(async move {
            let mut kept = Vec::new();
            let mut buf = [0u8; 8192];
            while let Ok(n) = err.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > STDERR_LIMIT {
                    kept.drain(..kept.len() - STDERR_LIMIT);
                }
            }
            kept
        });
        Ok(Self {
            stdin: child.stdin.take().map(Paced::new),
            stdout: child.stdout.take().map(Paced::new),
            child,
            stderr,
            place: place.to_string(),
        })
    }

    /// Closes stdin, waits for the exit and returns status and stderr.
    ///
    /// # Errors
    /// Internal when the child cannot be waited for.
    pub async fn finish(mut self) -> Result<Finished> {
        drop(self.stdin.take());
        drop(self.stdout.take());
        let status =
            self.child.wait().await.map_err(|e| {
                Error::internal(format!("waiting for a child in {}: {e}", self.place))
            })?;
        let bytes = (&mut self.stderr).await.unwrap_or_default();
        Ok(Finished {
            status,
            stderr: String::from_utf8_lossy(&bytes).trim().to_string(),
        })
    }

    /// Kills the child (used when the consumer of its output failed).
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
        self.stderr.abort();
    }
}

//! Passwords reach pg_dump/pg_restore/psql as `PGPASSWORD` inside the
//! container without touching any argv: the password is the first line on
//! the child's stdin, read by a tiny `sh` preamble that exports it and `exec`s
//! the tool (which then inherits the rest of stdin).

use std::fmt;

use tokio::io::AsyncWriteExt;

use crate::runtime::{Running, Target};
use crate::{Error, Result};

/// Reads the password line, exports it when non-empty, and runs the tool.
const PREAMBLE: &str = r#"IFS= read -r p || exit 97
if [ -n "$p" ]; then PGPASSWORD=$p; export PGPASSWORD; fi
unset p
exec "$@""#;

/// Like [`PREAMBLE`], but stages the rest of stdin in a temporary file first
/// and passes it as the last argument (for `pg_restore -j`, which cannot read
/// a pipe). The file is unlinked the moment it is opened, before a single
/// byte of the archive arrives: the archive lives only behind descriptor 3,
/// which the tool (and its forked workers) reopen as `/proc/self/fd/3`, so
/// nothing is left in the container however the exec ends, even by SIGKILL
/// (an EXIT trap would not run then).
const STAGED_PREAMBLE: &str = r#"IFS= read -r p || exit 97
if [ -n "$p" ]; then PGPASSWORD=$p; export PGPASSWORD; fi
unset p
t=$(mktemp) || exit 98
exec 3<>"$t" || exit 98
rm -f "$t" || exit 98
cat >&3 || exit 98
exec "$@" /proc/self/fd/3"#;

/// A database password: redacted in `Debug`, never formatted anywhere else.
#[derive(Clone, Default)]
pub struct Password(String);

impl Password {
    /// # Errors
    /// InvalidArgument for a password that cannot travel as one stdin line.
    pub fn new(p: impl Into<String>) -> Result<Self> {
        let p = p.into();
        if p.contains(['\n', '\r', '\0']) {
            return Err(Error::invalid(
                "the database password must not contain a newline or NUL character",
            ));
        }
        Ok(Self(p))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The secret itself: for the SQL that sets a generated role password
    /// (sent on stdin), and for tests that look for leaks.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"<redacted>\""
        })
    }
}

/// Spawns `tool_argv` in the target behind the preamble and delivers the
/// password line. For tools that read no input the stdin is closed.
pub(super) async fn spawn(
    target: &Target,
    password: &Password,
    tool_argv: &[String],
    staged: bool,
) -> Result<Running> {
    let script = if staged { STAGED_PREAMBLE } else { PREAMBLE };
    let mut argv = vec!["sh".to_string(), "-c".into(), script.into(), "sh".into()];
    argv.extend_from_slice(tool_argv);
    let mut child = target.spawn(&argv)?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let line = format!("{}\n", password.0);
    if let Err(e) = stdin.write_all(line.as_bytes()).await {
        // The child died before reading; its stderr says why.
        let done = child.finish().await?;
        return Err(Error::unavailable(format!(
            "{} in {} did not start ({e}): {}",
            tool_argv[0],
            target.describe(),
            done.explain()
        )));
    }
    // pg_restore reads the archive and psql its SQL from stdin (SQL never
    // rides on an argv, where a process listing would show it).
    let reads_stdin = matches!(tool_argv[0].as_str(), "pg_restore" | "psql");
    if reads_stdin {
        child.stdin = Some(stdin);
    }
    Ok(child)
}

//! Watches the host's `/proc` while a test runs: a secret must be on no
//! process's argv, and the tools under test must be seen running, or the scan
//! proved nothing. Processes in containers are host processes, so this also
//! covers what runs inside a tenant's container.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Scans every `/proc/*/cmdline` in a loop until [`ArgvWatcher::finish`].
pub struct ArgvWatcher {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<ArgvScan>,
}

/// What a watcher saw.
#[derive(Debug, Default)]
pub struct ArgvScan {
    /// Command lines (NULs shown as spaces) that contain the secret.
    pub leaks: Vec<String>,
    /// Distinct command lines that mention pg_dump or pg_restore: the tools
    /// themselves and whatever started them (`ip netns exec`, `lxc exec` …).
    pub seen: Vec<String>,
    /// The tools themselves (argv[0] is pg_dump or pg_restore), with where
    /// their stdin and stdout lead.
    pub tools: Vec<Tool>,
    /// Full passes over `/proc`.
    pub rounds: u64,
}

/// A running pg_dump or pg_restore as the host saw it.
#[derive(Debug, Clone)]
pub struct Tool {
    pub pid: u32,
    pub argv: String,
    /// `readlink /proc/PID/fd/0`, e.g. `pipe:[1234]`.
    pub stdin: String,
    /// `readlink /proc/PID/fd/1`.
    pub stdout: String,
    /// `readlink /proc/PID/ns/pid`: which container (if any) it ran in.
    pub pid_namespace: String,
    /// Every file path it had open on any pass (pipes and sockets are not
    /// paths).
    pub paths: BTreeSet<String>,
}

/// The program's base name: `pg_dump` for `/usr/lib/postgresql/15/bin/pg_dump
/// -Fc …` (Debian's wrapper execs the versioned binary by its full path).
fn program(argv: &str) -> &str {
    let first = argv.split(' ').next().unwrap_or("");
    first.rsplit('/').next().unwrap_or("")
}

/// Whether `argv` (words joined by spaces) is `tool` working on `database`.
pub fn runs_on(argv: &str, tool: &str, database: &str) -> bool {
    let words: Vec<&str> = argv.split_whitespace().collect();
    program(argv) == tool && words.windows(2).any(|w| w == ["-d", database])
}

/// Whether an fd link is a stream (pipe or socket) rather than a file.
pub fn is_stream(link: &str) -> bool {
    link.starts_with("pipe:") || link.starts_with("socket:")
}

fn is_tool(argv: &str) -> bool {
    matches!(program(argv), "pg_dump" | "pg_restore")
}

/// The file paths among a process's open descriptors.
fn open_paths(proc_dir: &Path) -> Vec<String> {
    let Ok(fds) = fs::read_dir(proc_dir.join("fd")) else {
        return Vec::new();
    };
    fds.flatten()
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .map(|l| l.to_string_lossy().into_owned())
        .filter(|l| l.starts_with('/'))
        .collect()
}

fn link(proc_dir: &Path, rel: &str) -> String {
    fs::read_link(proc_dir.join(rel))
        .map(|l| l.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl ArgvScan {
    /// Looks at one `/proc/PID` entry.
    fn observe(&mut self, secret: &str, proc_dir: &Path) {
        let Some(pid) = proc_dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u32>().ok())
        else {
            return;
        };
        let Ok(raw) = fs::read(proc_dir.join("cmdline")) else {
            return;
        };
        let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
        let cmd = cmd.trim_end();
        if cmd.contains(secret) {
            self.leaks.push(cmd.to_string());
        }
        if !(cmd.contains("pg_dump") || cmd.contains("pg_restore")) {
            return;
        }
        if !self.seen.iter().any(|s| s == cmd) {
            self.seen.push(cmd.to_string());
        }
        if !is_tool(cmd) {
            return;
        }
        let paths = open_paths(proc_dir);
        if let Some(t) = self
            .tools
            .iter_mut()
            .find(|t| t.pid == pid && t.argv == cmd)
        {
            t.paths.extend(paths);
        } else {
            self.tools.push(Tool {
                pid,
                argv: cmd.to_string(),
                stdin: link(proc_dir, "fd/0"),
                stdout: link(proc_dir, "fd/1"),
                pid_namespace: link(proc_dir, "ns/pid"),
                paths: paths.into_iter().collect(),
            });
        }
    }
}

impl ArgvWatcher {
    /// Starts scanning for `secret` (which must not be empty).
    pub fn start(secret: &str) -> Self {
        assert!(!secret.is_empty(), "an empty secret is found everywhere");
        let secret = secret.to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut scan = ArgvScan::default();
            while !flag.load(Ordering::Relaxed) {
                for entry in fs::read_dir("/proc").unwrap().flatten() {
                    scan.observe(&secret, &entry.path());
                }
                scan.rounds += 1;
            }
            scan
        });
        Self { stop, handle }
    }

    pub fn finish(self) -> ArgvScan {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}

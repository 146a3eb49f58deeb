//! The hash chain under the audit log. Each line records its sequence number
//! and the SHA-256 of the line before it; a file opens with a `start` marker,
//! a daemon start on an existing file adds a `resume` marker, and a last line
//! torn by a crash is accounted for by a `torn` marker instead of being
//! silently built upon. Every line is fdatasynced before the caller goes on;
//! a write that fails halfway is cut back off, so the chain never holds a
//! half line the daemon knows about.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, Utc};
use sha2::{Digest, Sha256};

use super::Event;
use super::head::DayHead;
use crate::{Error, Result};

/// Hex SHA-256 of one line's bytes (without its newline).
pub fn line_hash(line: &[u8]) -> String {
    hex::encode(Sha256::digest(line))
}

/// The open end of one audit file's chain.
#[derive(Debug)]
pub(super) struct Writer {
    path: PathBuf,
    file: File,
    /// Hex SHA-256 of the last whole line: the next line's `prev`.
    prev: String,
    /// The last whole line's sequence number.
    seq: u64,
    /// The file's length after the last whole line: a failed write is cut
    /// back to it.
    len: u64,
    /// A failed write could not be cut back: the tail is re-read (and its
    /// torn line marked) before the next line.
    broken: bool,
    /// The UTC day of the last whole line.
    day: Option<NaiveDate>,
    /// Heads of days that ended (a line of a later day was written), not
    /// yet taken for publishing.
    pub closed: Vec<DayHead>,
}

/// The UTC day of a line's RFC 3339 timestamp.
fn day_of(timestamp: &str) -> Option<NaiveDate> {
    chrono::DateTime::parse_from_rfc3339(timestamp)
        .ok()
        .map(|t| t.with_timezone(&Utc).date_naive())
}

fn unavailable(path: &Path, e: &std::io::Error) -> Error {
    Error::unavailable(format!(
        "the audit log {} cannot be written: {e}",
        path.display()
    ))
}

/// fsyncs the directory of `path`, so a new or renamed audit file survives
/// a crash.
fn sync_parent(path: &Path) -> Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => crate::store::local::sync_dir(dir).map_err(|e| {
            Error::unavailable(format!(
                "the audit log {} cannot be made durable: {}",
                path.display(),
                e.message
            ))
        }),
        None => Ok(()),
    }
}

fn marker(kind: &str, note: String) -> Event {
    Event {
        timestamp: crate::catalog::rfc3339(&Utc::now()),
        action: "audit".into(),
        outcome: "ok".into(),
        marker: kind.into(),
        note,
        ..Event::default()
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

impl Writer {
    /// Opens `path` and continues its chain (see [`super::Audit::open`]).
    pub fn open(path: &Path) -> Result<Self> {
        let file = open_append(path).map_err(|e| unavailable(path, &e))?;
        let len = file.metadata().map_err(|e| unavailable(path, &e))?.len();
        let mut w = Self {
            path: path.to_path_buf(),
            file,
            prev: String::new(),
            seq: 0,
            len,
            broken: false,
            day: None,
            closed: Vec::new(),
        };
        if len == 0 {
            w.append(&marker("start", "a new audit log".into()))?;
            sync_parent(path)?;
            return Ok(w);
        }
        let io = |e: std::io::Error| unavailable(path, &e);
        let first = first_line(&w.file).map_err(io)?;
        let chained = serde_json::from_slice::<Event>(&first)
            .is_ok_and(|e| e.marker == "start" && e.seq == 1 && e.prev.is_empty());
        if !chained {
            return Self::set_aside(
                path,
                "its first line is no start marker (written before the chain existed, or its beginning is gone)",
            );
        }
        match w.resume() {
            Ok(()) => {}
            Err(why) => return Self::set_aside(path, &why),
        }
        w.append(&marker(
            "resume",
            format!(
                "daemon started (containarium {}, pid {})",
                env!("CARGO_PKG_VERSION"),
                std::process::id()
            ),
        ))?;
        Ok(w)
    }

    /// Keeps a file the chain cannot continue beside it, untouched, and
    /// starts a new one whose start marker names it and says why.
    fn set_aside(path: &Path, why: &str) -> Result<Self> {
        let stamp = Utc::now().format("%Y%m%dT%H%M%S%.fZ");
        let mut aside = path.as_os_str().to_owned();
        aside.push(format!(".unchained-{stamp}"));
        let aside = PathBuf::from(aside);
        std::fs::rename(path, &aside).map_err(|e| unavailable(path, &e))?;
        sync_parent(path)?;
        tracing::warn!(audit_log = %path.display(), kept = %aside.display(), why, "the audit log's chain cannot be continued; starting a new file");
        let file = open_append(path).map_err(|e| unavailable(path, &e))?;
        let mut w = Self {
            path: path.to_path_buf(),
            file,
            prev: String::new(),
            seq: 0,
            len: 0,
            broken: false,
            day: None,
            closed: Vec::new(),
        };
        w.append(&marker(
            "start",
            format!(
                "a new audit log: the previous one is kept as {} because {why}",
                aside.display()
            ),
        ))?;
        sync_parent(path)?;
        Ok(w)
    }

    /// Takes up the chain from the file's last whole line; a torn line after
    /// it is closed with a newline and accounted for by a `torn` marker.
    /// The error says why the chain cannot be continued.
    fn resume(&mut self) -> std::result::Result<(), String> {
        let len = self.file.metadata().map_err(|e| e.to_string())?.len();
        let (last, torn) = tail(&self.file, len).map_err(|e| e.to_string())?;
        let event: Event = serde_json::from_slice(&last)
            .map_err(|e| format!("its last whole line is no audit line ({e})"))?;
        if event.seq == 0 {
            return Err("its last whole line has no sequence number".into());
        }
        self.prev = line_hash(&last);
        self.seq = event.seq;
        self.day = day_of(&event.timestamp);
        self.len = len;
        self.broken = false;
        if !torn.is_empty() {
            tracing::warn!(audit_log = %self.path.display(), bytes = torn.len(), "the audit log's last line was torn (a crash mid-write); marking it");
            let mut m = marker(
                "torn",
                format!(
                    "the line before this one was cut short ({} bytes, a crash mid-write); the chain \
                     continues from the line before it",
                    torn.len()
                ),
            );
            m.torn_bytes = torn.len() as u64;
            m.torn_sha256 = line_hash(&torn);
            self.write_line(&m, b"\n")
                .map_err(|e| format!("marking the torn line: {}", e.message))?;
        }
        Ok(())
    }

    /// Chains `event` on and writes it; returns the line as written.
    pub fn append(&mut self, event: &Event) -> Result<String> {
        if self.broken {
            self.resume().map_err(|why| {
                Error::unavailable(format!(
                    "the audit log {} cannot be continued after a failed write: {why}",
                    self.path.display()
                ))
            })?;
        }
        self.write_line(event, b"")
    }

    /// Writes `lead` (a newline closing a torn line, or nothing) and the
    /// chained line in one write, then fdatasyncs.
    fn write_line(&mut self, event: &Event, lead: &[u8]) -> Result<String> {
        let mut event = event.clone();
        event.seq = self.seq + 1;
        event.prev.clone_from(&self.prev);
        let line = serde_json::to_string(&event)?;
        let mut buf = Vec::with_capacity(lead.len() + line.len() + 1);
        buf.extend_from_slice(lead);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        let written = self
            .file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Nothing of a line the caller was told failed may stay.
            if self
                .file
                .set_len(self.len)
                .and_then(|()| self.file.sync_data())
                .is_err()
            {
                self.broken = true;
            }
            return Err(unavailable(&self.path, &e));
        }
        self.len += buf.len() as u64;
        let day = day_of(&event.timestamp);
        if let (Some(was), Some(now)) = (self.day, day)
            && now > was
        {
            self.closed.push(DayHead {
                day: was,
                seq: self.seq,
                sha256: self.prev.clone(),
                file: self
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            });
        }
        if day.is_some() {
            self.day = day;
        }
        self.prev = line_hash(line.as_bytes());
        self.seq = event.seq;
        Ok(line)
    }
}

/// The file's first line (at most 64 KiB of it: a start marker is short).
fn first_line(file: &File) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0; 64 * 1024];
    let n = file.read_at(&mut buf, 0)?;
    buf.truncate(n);
    if let Some(end) = buf.iter().position(|b| *b == b'\n') {
        buf.truncate(end);
    }
    Ok(buf)
}

/// The last whole line of a file of `len` bytes and what follows it (a torn
/// line without its newline, usually empty). Reads backwards from the end,
/// doubling the window until the line is in it.
fn tail(file: &File, len: u64) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut window: u64 = 64 * 1024;
    loop {
        let w = window.min(len);
        let whole = w == len;
        let mut buf = vec![0; usize::try_from(w).unwrap_or(usize::MAX)];
        file.read_exact_at(&mut buf, len - w)?;
        if let Some(end) = buf.iter().rposition(|b| *b == b'\n') {
            let torn = buf[end + 1..].to_vec();
            match buf[..end].iter().rposition(|b| *b == b'\n') {
                Some(start) => return Ok((buf[start + 1..end].to_vec(), torn)),
                None if whole => return Ok((buf[..end].to_vec(), torn)),
                None => {}
            }
        } else if whole {
            return Ok((Vec::new(), buf));
        }
        window *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(path: &Path) -> Vec<Event> {
        super::super::read_lines(path).unwrap()
    }

    #[test]
    fn a_new_file_starts_with_a_marker_and_lines_chain_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut w = Writer::open(&path).unwrap();
        w.append(&Event {
            action: "delete".into(),
            ..Event::default()
        })
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let raw: Vec<&str> = text.lines().collect();
        let got = lines(&path);
        assert_eq!(got[0].marker, "start");
        assert_eq!((got[0].seq, got[0].prev.as_str()), (1, ""));
        assert_eq!(got[1].seq, 2);
        assert_eq!(got[1].prev, line_hash(raw[0].as_bytes()));
    }

    #[test]
    fn a_torn_last_line_is_marked_not_built_upon() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        drop(Writer::open(&path).unwrap());
        let good = std::fs::read_to_string(&path).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"{\"timestamp\":\"2026").unwrap();
        drop(Writer::open(&path).unwrap());
        let got = lines(&path);
        let torn = got.iter().find(|e| e.marker == "torn").unwrap();
        assert_eq!(torn.torn_bytes, 18);
        assert_eq!(torn.torn_sha256, line_hash(b"{\"timestamp\":\"2026"));
        assert_eq!(torn.prev, line_hash(good.trim_end().as_bytes()));
        assert_eq!(got.last().unwrap().marker, "resume");
    }

    #[test]
    fn an_unchained_file_is_kept_aside_and_a_new_one_started() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, "{\"action\":\"create\"}\n").unwrap();
        drop(Writer::open(&path).unwrap());
        let got = lines(&path);
        assert_eq!(got.len(), 1);
        assert!(got[0].note.contains("unchained-"), "{}", got[0].note);
        let kept: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("audit.jsonl.unchained-"))
            .collect();
        assert_eq!(kept.len(), 1);
        let old = std::fs::read_to_string(dir.path().join(&kept[0])).unwrap();
        assert_eq!(old, "{\"action\":\"create\"}\n");
    }

    #[test]
    fn the_tail_is_found_past_the_first_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let long = "x".repeat(200 * 1024);
        std::fs::write(&path, format!("a\n{long}\nb")).unwrap();
        let f = File::open(&path).unwrap();
        let len = f.metadata().unwrap().len();
        let (last, torn) = tail(&f, len).unwrap();
        assert_eq!((last.len(), torn.as_slice()), (long.len(), &b"b"[..]));
    }
}

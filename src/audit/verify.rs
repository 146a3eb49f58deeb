//! Walks an audit file's hash chain and names the first line that breaks it:
//! changed (its hash no longer matches what the next line recorded),
//! removed (the sequence jumps), inserted (a later line chains past it), or
//! unreadable. A line torn by a crash and accounted for by the daemon's
//! `torn` marker is not a break. The newest line is only protected once a
//! later line (or the next daemon start's `resume` marker) chains onto it.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use super::Event;
use super::chain::line_hash;
use crate::Result;

/// What broke the chain, and where (1-based line numbers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub line: usize,
    /// `changed`, `removed`, `inserted`, `unreadable` or `no-start`.
    pub kind: &'static str,
    pub reason: String,
}

/// The verdict on one file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Lines in the file (a torn last line included).
    pub lines: usize,
    /// The first break; `None` = intact.
    pub problem: Option<Problem>,
    /// Lines cut short by a crash and marked as such by the daemon.
    pub torn: Vec<usize>,
    /// Daemon starts recorded (`resume` markers).
    pub restarts: usize,
    /// Notes that are not breaks (a torn last line not yet marked).
    pub notes: Vec<String>,
}

impl Report {
    pub fn intact(&self) -> bool {
        self.problem.is_none()
    }
}

/// Verifies the audit file at `path`.
///
/// # Errors
/// NotFound, or Internal when it cannot be read.
pub fn verify_file(path: &Path) -> Result<Report> {
    Ok(verify(&std::fs::read(path)?))
}

fn problem(line: usize, kind: &'static str, reason: String) -> Problem {
    Problem { line, kind, reason }
}

/// Verifies the bytes of one audit file.
pub fn verify(bytes: &[u8]) -> Report {
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    let mut report = Report::default();
    // After the last newline: empty, or a line a crash cut short.
    let trailing = lines.pop().unwrap_or_default();
    if !trailing.is_empty() {
        report.notes.push(format!(
            "the last line ({}) is torn, as a crash mid-write leaves it; the daemon marks it \
             when it next starts",
            lines.len() + 1
        ));
    }
    report.lines = lines.len() + usize::from(!trailing.is_empty());
    let parsed: Vec<Option<Event>> = lines
        .iter()
        .map(|l| serde_json::from_slice(l).ok())
        .collect();
    let hashes: Vec<String> = lines.iter().map(|l| line_hash(l)).collect();
    report.problem = walk(&parsed, &hashes, &mut report.torn);
    report.restarts = parsed
        .iter()
        .flatten()
        .filter(|e| e.marker == "resume")
        .count();
    report
}

/// The first break in the chain, if any; fills `torn` on the way.
fn walk(parsed: &[Option<Event>], hashes: &[String], torn: &mut Vec<usize>) -> Option<Problem> {
    match parsed.first() {
        None => {
            return Some(problem(
                1,
                "no-start",
                "the file is empty: no start marker".into(),
            ));
        }
        Some(Some(e)) if e.marker == "start" && e.seq == 1 && e.prev.is_empty() => {}
        Some(_) => {
            return Some(problem(
                1,
                "no-start",
                "line 1 is no start marker: the beginning of the file was removed or replaced"
                    .into(),
            ));
        }
    }
    // The last line that chained, as (index, seq); every chained line's hash.
    let mut good = (0, 1);
    let mut seen = HashMap::from([(hashes[0].as_str(), 0)]);
    let mut i = 1;
    while i < parsed.len() {
        let Some(e) = &parsed[i] else {
            // A crash cut this line short and the daemon marked it on restart.
            if matches!(parsed.get(i + 1), Some(Some(m)) if m.marker == "torn" && m.torn_sha256 == hashes[i])
            {
                torn.push(i + 1);
                i += 1;
                continue;
            }
            return Some(problem(
                i + 1,
                "unreadable",
                format!(
                    "line {} is no audit line (changed, or torn with no marker after it)",
                    i + 1
                ),
            ));
        };
        if e.prev == hashes[good.0] && e.seq == good.1 + 1 {
            good = (i, e.seq);
            seen.insert(hashes[i].as_str(), i);
            i += 1;
            continue;
        }
        return Some(diagnose(parsed, hashes, &seen, good, i));
    }
    None
}

/// Line `i` does not chain onto the last good line: which kind of edit
/// explains it.
fn diagnose(
    parsed: &[Option<Event>],
    hashes: &[String],
    seen: &HashMap<&str, usize>,
    good: (usize, u64),
    i: usize,
) -> Problem {
    let e = parsed[i].as_ref().expect("diagnosed lines parse");
    let n = i + 1;
    // A later line chains onto the last good one: the lines between were put in.
    if let Some(m) = (i + 1..parsed.len()).find(|&m| {
        parsed[m]
            .as_ref()
            .is_some_and(|l| l.prev == hashes[good.0] && l.seq == good.1 + 1)
    }) {
        return problem(
            n,
            "inserted",
            format!(
                "line {n} was inserted: line {} continues the chain from line {}",
                m + 1,
                good.0 + 1
            ),
        );
    }
    // This line chains onto an earlier one: the lines after that were put in.
    if let Some(&j) = seen.get(e.prev.as_str())
        && j < good.0
    {
        return problem(
            j + 2,
            "inserted",
            format!(
                "line {} was inserted: line {n} continues the chain from line {}",
                j + 2,
                j + 1
            ),
        );
    }
    if e.marker == "start" {
        return problem(
            n,
            "inserted",
            format!("line {n} starts another file's chain: lines were put in from elsewhere"),
        );
    }
    if e.prev == hashes[good.0] {
        return problem(
            n,
            "changed",
            format!(
                "line {n} was changed: its sequence number {} does not follow {}",
                e.seq, good.1
            ),
        );
    }
    if e.seq > good.1 + 1 {
        let gone = e.seq - good.1 - 1;
        return problem(
            n,
            "removed",
            format!(
                "{gone} line(s) removed before line {n}: the sequence jumps from {} to {}",
                good.1, e.seq
            ),
        );
    }
    problem(
        good.0 + 1,
        "changed",
        format!(
            "line {} was changed: its SHA-256 no longer matches what line {n} recorded",
            good.0 + 1
        ),
    )
}

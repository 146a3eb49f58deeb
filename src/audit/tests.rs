//! The chain as `audit verify` judges it: real files written by [`Audit`],
//! then edited the ways an intruder would.

use super::verify::{Report, verify, verify_file};
use super::{Audit, Event, read_lines};

fn event(action: &str, id: &str) -> Event {
    Event {
        action: action.into(),
        id: id.into(),
        outcome: "ok".into(),
        ..Event::default()
    }
}

/// A log of a start marker, five events, a restart and two more events.
fn written() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let a = Audit::open(Some(&path)).unwrap();
    for i in 0..5 {
        a.write(&event("delete", &format!("b{i}"))).unwrap();
    }
    drop(a);
    let a = Audit::open(Some(&path)).unwrap();
    a.intent(&event("prune", "b5")).unwrap();
    a.write(&event("prune", "b5")).unwrap();
    (dir, path)
}

fn edited(path: &std::path::Path, f: impl FnOnce(&mut Vec<String>)) -> Report {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    f(&mut lines);
    verify(format!("{}\n", lines.join("\n")).as_bytes())
}

fn broken_at(r: &Report) -> (usize, &'static str) {
    let p = r.problem.as_ref().expect("a break");
    (p.line, p.kind)
}

#[test]
fn an_untouched_log_verifies_across_restarts() {
    let (_d, path) = written();
    let r = verify_file(&path).unwrap();
    assert!(r.intact(), "{r:?}");
    assert_eq!((r.lines, r.restarts), (9, 1));
    let lines = read_lines(&path).unwrap();
    assert_eq!(lines[6].marker, "resume");
    assert_eq!(
        (lines[7].phase.as_str(), lines[7].outcome.as_str()),
        ("intent", "pending")
    );
}

#[test]
fn a_changed_line_is_named() {
    let (_d, path) = written();
    let r = edited(&path, |l| l[3] = l[3].replace("\"b2\"", "\"zz\""));
    assert_eq!(broken_at(&r), (4, "changed"), "{r:?}");
}

#[test]
fn a_removed_line_is_named() {
    let (_d, path) = written();
    let r = edited(&path, |l| {
        l.remove(3);
    });
    assert_eq!(broken_at(&r), (4, "removed"), "{r:?}");
    assert!(r.problem.unwrap().reason.contains("1 line(s) removed"));
}

#[test]
fn an_inserted_line_is_named_even_when_it_chains_on() {
    let (_d, path) = written();
    // A forged line that copies the chain fields of the line it displaces.
    let r = edited(&path, |l| {
        let forged = l[3].replace("\"b2\"", "\"forged\"");
        l.insert(3, forged);
    });
    assert_eq!(broken_at(&r), (4, "inserted"), "{r:?}");
    // A line with no chain fields at all.
    let r = edited(&path, |l| {
        l.insert(2, r#"{"action":"delete","id":"x"}"#.into());
    });
    assert_eq!(broken_at(&r), (3, "inserted"), "{r:?}");
}

#[test]
fn a_missing_beginning_and_garbage_are_named() {
    let (_d, path) = written();
    let r = edited(&path, |l| {
        l.remove(0);
    });
    assert_eq!(broken_at(&r), (1, "no-start"), "{r:?}");
    let r = edited(&path, |l| l[4] = "not json".into());
    assert_eq!(broken_at(&r), (5, "unreadable"), "{r:?}");
}

#[test]
fn a_torn_line_marked_on_restart_is_not_a_break() {
    let (_d, path) = written();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut f, b"{\"timestamp\":\"20").unwrap();
    let before = verify_file(&path).unwrap();
    assert!(before.intact() && before.notes.len() == 1, "{before:?}");
    let a = Audit::open(Some(&path)).unwrap();
    a.write(&event("delete", "b9")).unwrap();
    let r = verify_file(&path).unwrap();
    assert!(r.intact(), "{r:?}");
    assert_eq!(r.torn, vec![10]);
    assert_eq!(r.restarts, 2);
}

#[test]
fn without_a_file_lines_only_go_to_the_log_and_an_unopenable_file_is_named() {
    let a = Audit {
        path: None,
        writer: std::sync::Mutex::new(None),
    };
    assert!(a.write(&event("delete", "x")).is_ok(), "no file: log only");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    std::fs::create_dir(&path).unwrap();
    let e = Audit::open(Some(&path)).unwrap_err();
    assert_eq!(e.code, crate::Code::Unavailable);
    assert!(e.message.contains("audit.jsonl"), "{}", e.message);
}

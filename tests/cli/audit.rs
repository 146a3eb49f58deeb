//! The audit trail through the real binary against the real daemon: every
//! destructive operation writes an intent line before it changes anything
//! and an outcome line after; a full audit disk refuses a delete and leaves
//! the backup in place; `containarium audit verify` passes a log written
//! across daemon restarts and names a changed, removed or inserted line.

use std::path::Path;
use std::process::Command;

use assert_cmd::assert::OutputAssertExt as _;
use containarium::audit::{Event, read_lines};
use containarium::config::Config;

use crate::support::daemon::TestDaemon;
use crate::support::disk::SmallDisk;
use crate::support::{Tenant, config_for, fingerprint, seed};
use crate::{Cli, Transport, failed_with};

/// `containarium audit verify FILE [extra]`.
fn audit_verify(file: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_containarium"))
        .args(["audit", "verify"])
        .arg(file)
        .args(extra)
        .output()
        .unwrap()
}

/// The intent and the outcome line of the one `action` on `id`, in order,
/// sharing their operation id.
fn intent_then_outcome<'a>(lines: &'a [Event], action: &str, id: &str) -> (&'a Event, &'a Event) {
    let at = |phase: &str| {
        lines
            .iter()
            .position(|e| e.action == action && e.phase == phase && e.id.contains(id))
            .unwrap_or_else(|| panic!("no {phase} line of {action} {id} in {lines:#?}"))
    };
    let (i, o) = (at("intent"), at("outcome"));
    assert!(i < o, "{action}: the intent comes first");
    assert_eq!(lines[i].op, lines[o].op, "{action}: one operation id");
    assert_eq!(lines[i].outcome, "pending");
    assert_eq!(lines[o].outcome, "ok", "{:?}", lines[o]);
    (&lines[i], &lines[o])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn destructive_operations_are_audited_before_and_after_across_restarts() {
    let t = Tenant::start();
    t.create_db("app");
    seed(&t, "app", "alice");
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &[("alice", &t)]);
    let log = config.audit_log();
    let mut ids = Vec::new();
    let mut d = TestDaemon::start(&config).await;
    for _ in 0..3 {
        let cli = Cli::new(&d, Transport::Grpc, Some(d.admin()));
        let created = cli.json(&["create", "alice", "--database", "app"]).await;
        ids.push(created["record"]["id"].as_str().unwrap().to_string());
        // A restart after each create: the chain must carry on.
        d.stop().await;
        d = TestDaemon::start(&config).await;
    }
    let cli = Cli::new(&d, Transport::Rest, Some(d.admin()));
    let before = fingerprint(&t, "app");
    t.psql("app", "DELETE FROM people WHERE id > 250");
    cli.ok(&["restore", &ids[0], "--database", "app", "--clean"])
        .await;
    assert_eq!(fingerprint(&t, "app"), before, "--clean put every row back");
    cli.ok(&["delete", &ids[2]]).await;
    cli.ok(&["prune", "--keep-last", "1"]).await;
    // Prune kept the newest remaining (ids[1]) and removed ids[0].
    let left = cli.json(&["list"]).await;
    let left: Vec<&str> = left["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(left, [ids[1].as_str()]);
    d.stop().await;

    let lines = read_lines(&log).unwrap();
    let (intent, _) = intent_then_outcome(&lines, "restore", &ids[0]);
    assert_eq!(
        (intent.tenant.as_str(), intent.database.as_str()),
        ("alice", "app")
    );
    let (intent, outcome) = intent_then_outcome(&lines, "delete", &ids[2]);
    assert_eq!(intent.id, ids[2]);
    assert_eq!(outcome.id, ids[2]);
    let (intent, outcome) = intent_then_outcome(&lines, "prune", &ids[0]);
    assert_eq!(intent.id, ids[0], "the intent names what may go");
    assert_eq!(outcome.id, ids[0], "the outcome names what went");
    // Creates and the restore without --clean need no intent; their outcome is there.
    assert_eq!(
        lines
            .iter()
            .filter(|e| e.action == "create" && e.phase == "outcome")
            .count(),
        3
    );
    assert_eq!(lines.iter().filter(|e| e.phase == "intent").count(), 3);

    // Intact across four daemon starts.
    let ok = audit_verify(&log, &[]);
    let text = String::from_utf8_lossy(&ok.stdout).into_owned();
    ok.assert().success();
    assert!(
        text.contains("intact") && text.contains("3 daemon restarts"),
        "{text}"
    );
    // Without FILE: the log the daemon writes for this backup directory.
    let default = Command::new(env!("CARGO_BIN_EXE_containarium"))
        .args(["audit", "verify", "--backup-dir"])
        .arg(&config.backup_dir)
        .env_remove("CONTAINARIUM_CONFIG")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&default.stdout).into_owned();
    default.assert().success();
    assert!(
        said.starts_with(&format!("{}: intact", log.display())),
        "{said}"
    );
    let json = audit_verify(&log, &["--output", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        (v["intact"].as_bool(), v["restarts"].as_u64()),
        (Some(true), Some(3))
    );

    tampering_is_named(&log, &lines);
}

/// Edits copies of `log` the three ways and checks `audit verify` names each.
fn tampering_is_named(log: &Path, lines: &[Event]) {
    let text = std::fs::read_to_string(log).unwrap();
    let raw: Vec<&str> = text.lines().collect();
    // The delete's outcome line: the one someone would want to hide.
    let at = lines
        .iter()
        .position(|e| e.action == "delete" && e.phase == "outcome")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, Vec<String>, String); 3] = [
        (
            "changed",
            raw.iter()
                .enumerate()
                .map(|(i, l)| {
                    if i == at {
                        l.replace("\"outcome\":\"ok\"", "\"outcome\":\"failed\"")
                    } else {
                        (*l).to_string()
                    }
                })
                .collect(),
            format!("line {}", at + 1),
        ),
        (
            "removed",
            raw.iter()
                .enumerate()
                .filter(|(i, _)| *i != at)
                .map(|(_, l)| (*l).to_string())
                .collect(),
            format!("line {}", at + 1),
        ),
        (
            "inserted",
            raw.iter()
                .enumerate()
                .flat_map(|(i, l)| {
                    let mut v = vec![(*l).to_string()];
                    if i == at {
                        v.push(l.replace(&lines[at].id, "alice-app-20200101T000000Z"));
                    }
                    v
                })
                .collect(),
            format!("line {}", at + 2),
        ),
    ];
    for (kind, edited, line) in cases {
        let copy = dir.path().join(format!("{kind}.jsonl"));
        std::fs::write(&copy, format!("{}\n", edited.join("\n"))).unwrap();
        let out = audit_verify(&copy, &[]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(1), "{kind}: {stdout}");
        assert!(
            stdout.contains(&format!("BROKEN at {line} ({kind})")),
            "{kind}: want {line}: {stdout}"
        );
    }
}

/// Writes to `dir/filler` until the disk is full.
fn fill(dir: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(dir.join("filler")).unwrap();
    let chunk = vec![0x5a; 4096];
    loop {
        if let Err(e) = f.write_all(&chunk).and_then(|()| f.sync_all()) {
            assert_eq!(e.raw_os_error(), Some(28), "ENOSPC: {e}");
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_audit_disk_refuses_a_delete_and_the_backup_stays() {
    let t = Tenant::start();
    t.create_db("app");
    seed(&t, "app", "alice");
    let dir = tempfile::tempdir().unwrap();
    let disk = SmallDisk::mount("1m");
    let config = Config {
        audit_log: Some(disk.path().join("audit.jsonl")),
        ..config_for(dir.path(), &[("alice", &t)])
    };
    let log = config.audit_log();
    let d = TestDaemon::start(&config).await;
    let cli = Cli::new(&d, Transport::Grpc, Some(d.admin()));
    let mut ids = Vec::new();
    for _ in 0..2 {
        let created = cli.json(&["create", "alice", "--database", "app"]).await;
        ids.push(created["record"]["id"].as_str().unwrap().to_string());
    }
    let dump = |id: &str| config.backup_dir.join(format!("{id}.dump"));
    fill(&disk.path());
    // The log file's last page still has room: audited failures (deletes of
    // a backup that does not exist) use it up until a line no longer fits.
    let mut full = false;
    for _ in 0..64 {
        let out = cli.run(&["delete", "alice-app-20200101T000000Z"]).await;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(stderr.contains("not found"), "{stderr}");
        if stderr.contains("its outcome could not be written to the audit log") {
            full = true;
            break;
        }
    }
    assert!(full, "the audit disk never filled");

    // An intent line is a little shorter than those: one more may fit, and
    // then that delete's outcome cannot be written — it is answered as done,
    // with a warning. The next delete finds no room for its intent.
    let mut refused = None;
    for id in &ids {
        let out = cli.run(&["delete", id]).await;
        if out.status.success() {
            let said = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(said.contains(&format!("backup {id} deleted")), "{said}");
            assert!(
                said.contains("WARNING: done, but its outcome could not be written"),
                "{said}"
            );
            assert!(!dump(id).exists(), "done means done");
            eprintln!("{id}: its intent fitted, its outcome did not: answered as done");
            continue;
        }
        let line = failed_with(&out, "refusing to delete without an audit record");
        assert!(
            line.contains("audit.jsonl") && line.contains("No space left"),
            "{line}"
        );
        refused = Some(id.clone());
        break;
    }
    let id = refused.expect("a delete was refused for want of audit space");
    assert!(dump(&id).exists(), "the dump stays");
    assert!(
        cli.ok(&["get", &id]).await.contains(&id),
        "the record stays"
    );
    let lines = read_lines(&log).unwrap();
    assert!(
        !lines.iter().any(|e| e.action == "delete" && e.id == id),
        "nothing of the refused delete is in the log"
    );
    audit_verify(&log, &[]).assert().success();

    // Room again: the delete goes through, audited before and after.
    std::fs::remove_file(disk.path().join("filler")).unwrap();
    cli.ok(&["delete", &id]).await;
    assert!(!dump(&id).exists());
    d.stop().await;
    intent_then_outcome(&read_lines(&log).unwrap(), "delete", &id);
    audit_verify(&log, &[]).assert().success();
}

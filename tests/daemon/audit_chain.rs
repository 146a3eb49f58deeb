//! The audit chain through the daemon binary's own lifecycle: killed with
//! SIGKILL, its last line cut short as a crash mid-write leaves it, started
//! again — the chain carries on, the torn line is marked, and
//! `containarium audit verify` passes, naming the torn line.

use std::process::Command;

use serde_json::{Value, json};

use crate::binary::{BIN, Daemon, config_file, token};
use crate::support::Tenant;

#[test]
fn a_killed_daemon_with_a_torn_last_line_resumes_the_chain() {
    let t = Tenant::start();
    t.create_db("app");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), &t.netns, "");
    let log = dir.path().join("backups/audit.jsonl");
    let admin = token("root", &["admin"]);
    let http = reqwest::blocking::Client::new();

    let d = Daemon::start(&cfg);
    let r: Value = http
        .post(format!("http://{}/v1/backups", d.http))
        .bearer_auth(&admin)
        .body(
            json!({"username": "alice", "connection": {"database": "app"}, "destination": 1})
                .to_string(),
        )
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = r["record"]["id"].as_str().unwrap().to_string();
    d.signal("-KILL");
    let (status, _) = d.wait();
    assert!(!status.success());

    // What a crash in the middle of writing the create's line leaves.
    let len = std::fs::metadata(&log).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
    f.set_len(len - 40).unwrap();
    drop(f);
    let torn_line = std::fs::read_to_string(&log).unwrap().lines().count();

    let d = Daemon::start(&cfg);
    let del = http
        .delete(format!("http://{}/v1/backups/{id}", d.http))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(del.status(), 200);
    d.signal("-TERM");
    assert!(d.wait().0.success());

    let out = Command::new(BIN)
        .args(["audit", "verify", "--output", "json"])
        .arg(&log)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{v}");
    assert_eq!(v["intact"], true);
    assert_eq!(v["torn"], json!([torn_line]), "{v}");
    assert_eq!(v["restarts"], 1);
    // The torn marker, then the resume marker, then the delete's intent and outcome.
    let lines = containarium::audit::read_lines(&log).unwrap();
    let tail: Vec<(String, String)> = lines
        .iter()
        .rev()
        .take(4)
        .rev()
        .map(|e| (e.marker.clone(), e.phase.clone()))
        .collect();
    let want = [
        ("torn", ""),
        ("resume", ""),
        ("", "intent"),
        ("", "outcome"),
    ];
    assert_eq!(
        tail,
        want.map(|(m, p)| (m.to_string(), p.to_string())),
        "{lines:#?}"
    );
    assert_eq!(lines.last().unwrap().id, id);
}

//! Live progress: a restore held mid-way by a lock in the tenant's Postgres is
//! listed as a running operation (gRPC, REST, MCP), only to those who may see
//! its tenant, while the CLI running it prints JSON progress lines; once it
//! finishes it leaves the list.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use containarium::proto;
use serde_json::{Value, json};

use super::{Cli, Transport};
use crate::support::daemon::{TestDaemon, authed};
use crate::support::mcp_client::run_client;
use crate::support::{Tenant, config_for, seed};

/// A session in `database` holding an exclusive lock on `table` until dropped.
struct Lock {
    session: Child,
    /// Open for as long as the lock is held: closing it ends the session.
    _stdin: std::process::ChildStdin,
}

impl Lock {
    fn take(t: &Tenant, database: &str, table: &str) -> Self {
        let mut child = Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(t.sock())
            .args(["-p", "5432", "-U", "postgres", "-d", database])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(
            stdin,
            "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE; SELECT 'locked';"
        )
        .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked", "the lock session said {line:?}");
        Self {
            session: child,
            _stdin: stdin,
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.session.kill();
        let _ = self.session.wait();
    }
}

async fn operations(d: &TestDaemon, token: &str, query: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(d.url(&format!("/v1/operations{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// Polls (bounded) until `pred` holds for alice's listed operations.
async fn wait_for(d: &TestDaemon, token: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let (status, v) = operations(d, token, "").await;
        assert_eq!(status, 200, "{v}");
        if pred(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "never saw {what}: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_running_restore_is_listed_with_its_progress_to_its_tenant_only() {
    let (t, bob) = (Tenant::start(), Tenant::start());
    t.create_db("app");
    seed(&t, "app", "alice");
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(&config_for(dir.path(), &[("alice", &t), ("bob", &bob)])).await;
    let alice = d.token("alice", &[], None);
    let cli = Cli::new(&d, Transport::Rest, Some(alice.clone()));
    let created = cli.json(&["create", "alice", "--database", "app"]).await;
    let id = created["record"]["id"].as_str().unwrap().to_string();
    let size = created["record"]["sizeBytes"].as_str().unwrap().to_string();
    let (status, idle) = operations(&d, &alice, "").await;
    assert_eq!(
        (status, idle),
        (200, json!({"operations": [], "failures": []}))
    );

    // --clean drops `people` first, which waits for the lock.
    let lock = Lock::take(&t, "app", "people");
    let mut restore = cli.command(&["restore", &id, "--clean", "--output", "json"]);
    let mut child = restore
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });

    let listed = wait_for(&d, &alice, "the restore feeding pg_restore", |v| {
        v["operations"][0]["phase"] == "restoring" && v["operations"][0]["bytesDone"] != "0"
    })
    .await;
    let op = &listed["operations"][0];
    assert_eq!(
        listed["operations"].as_array().unwrap().len(),
        1,
        "{listed}"
    );
    assert_eq!(op["kind"], "restore");
    assert_eq!(op["username"], "alice");
    assert_eq!(op["database"], "app");
    assert_eq!(op["backupId"], id.as_str());
    assert_eq!(op["bytesTotal"], size.as_str());
    let done: u64 = op["bytesDone"].as_str().unwrap().parse().unwrap();
    assert!(done > 0 && done <= size.parse().unwrap(), "{op}");
    assert!(op["startedAt"].as_str().unwrap().ends_with('Z'), "{op}");

    // Another tenant sees nothing of it, and may not ask for alice's.
    let bob_token = d.token("bob", &[], None);
    assert_eq!(
        operations(&d, &bob_token, "").await,
        (200, json!({"operations": [], "failures": []}))
    );
    let (status, refused) = operations(&d, &bob_token, "?username=alice").await;
    assert_eq!(status, 403, "{refused}");
    // The admin sees it over gRPC, and over MCP.
    let mut c = d.grpc_client().await;
    let grpc = c
        .list_operations(authed(proto::ListOperationsRequest::default(), &d.admin()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(grpc.operations.len(), 1);
    assert_eq!(grpc.operations[0].backup_id, id);
    let job = json!({"token": d.admin(), "calls": [{"tool": "list_operations", "args": {}}]});
    let (mcp, _) = run_client(&[d.url("/mcp")], &job).await;
    let structured = &mcp["results"][0]["structuredContent"];
    assert_eq!(
        structured["operations"][0]["backupId"],
        id.as_str(),
        "{mcp}"
    );
    let job = json!({"token": bob_token, "calls": [{"tool": "list_operations", "args": {}}]});
    let (mcp, _) = run_client(&[d.url("/mcp")], &job).await;
    assert_eq!(
        mcp["results"][0]["structuredContent"],
        json!({"operations": [], "failures": []})
    );

    // The CLI, not on a terminal, with --output json: progress lines.
    let line = lines
        .recv_timeout(Duration::from_secs(30))
        .expect("a progress line on stderr");
    let p: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let p = &p["progress"];
    assert_eq!(p["kind"], "restore", "{line}");
    assert_eq!(p["phase"], "restoring", "{line}");
    assert_eq!(p["bytesTotal"].to_string(), size, "{line}");
    assert!(p["percent"].as_f64().unwrap() > 0.0, "{line}");
    assert!(
        p["bytesPerSec"].is_number() && p["elapsedSecs"].is_number(),
        "{line}"
    );

    drop(lock);
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let resp: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        resp["message"].as_str().unwrap().contains("restored"),
        "{resp}"
    );
    assert_eq!(t.psql("app", "SELECT count(*) FROM people"), "500");
    wait_for(&d, &alice, "the list empty again", |v| {
        v == &json!({"operations": [], "failures": []})
    })
    .await;
    d.stop().await;
}

//! `--jobs` stages the archive inside the container (pg_restore cannot run
//! parallel jobs from a pipe). The attack: the exec is killed while the
//! archive is being staged (the manager dies, an OOM kill, an operator's
//! `kill -9`) — no EXIT trap runs then. The staged archive must not be left
//! behind in the tenant's container: it must never have had a name.

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use containarium::proto;
use tonic::Code;

use crate::Bob;
use crate::fixture::Fixture;
use crate::support::daemon::authed;
use crate::support::{Psql, seed};

/// A process of the container, as the host sees it.
struct Proc {
    pid: String,
    parent: String,
    argv: Vec<String>,
}

/// Every live process in the PID namespace `namespace` (host `/proc`).
fn processes_in(namespace: &str) -> Vec<Proc> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let dir = entry.path();
        let same =
            fs::read_link(dir.join("ns/pid")).is_ok_and(|ns| ns.to_string_lossy() == namespace);
        let (Ok(cmdline), Ok(status)) = (
            fs::read(dir.join("cmdline")),
            fs::read_to_string(dir.join("status")),
        ) else {
            continue;
        };
        // (a zombie is gone: the fixture's PID 1 is `sleep`, which never
        // reaps the orphans it inherits)
        if !same || status.lines().any(|l| l.starts_with("State:\tZ")) {
            continue;
        }
        let parent = status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .unwrap_or("")
            .trim()
            .to_string();
        let argv = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        out.push(Proc { pid, parent, argv });
    }
    out
}

fn signal(sig: &str, pid: &str) {
    let status = Command::new("kill").args([sig, pid]).status().unwrap();
    assert!(status.success(), "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_parallel_restore_killed_while_staging_leaves_no_archive_in_the_container() {
    let fx = Fixture::from_env();
    let bob = &fx.scram;
    bob.fresh_db("stage_src");
    bob.drop_db("stage_kill");
    seed(bob, "stage_src", "bob");
    // Large enough that staging takes a while (tens of MB).
    bob.psql(
        "stage_src",
        "CREATE TABLE big AS SELECT g, md5(g::text) || md5((g + 1)::text) AS h \
         FROM generate_series(1, 1000000) g",
    );
    let namespace = bob.pid_namespace();
    let files = bob.files();

    let mut s = Bob::start(&fx).await;
    let rec = s.backup(&fx, "stage_src").await;
    let req = proto::RestoreBackupRequest {
        id: rec.id.clone(),
        connection: Some(fx.connection("stage_kill", Some(&fx.password))),
        jobs: 2,
        no_owner: true,
        ..Default::default()
    };
    let (mut client, token) = (s.client.clone(), s.token.clone());
    let restore = tokio::spawn(async move { client.restore_backup(authed(req, &token)).await });

    // The staging shell (`sh -c … pg_restore … -d stage_kill`) and its `cat`.
    let deadline = Instant::now() + Duration::from_mins(1);
    let found = loop {
        let procs = processes_in(&namespace);
        let shell = procs.iter().find(|p| {
            p.argv.first().is_some_and(|a| a == "sh") && p.argv.iter().any(|a| a == "stage_kill")
        });
        let cat = shell.and_then(|s| {
            procs
                .iter()
                .find(|p| p.parent == s.pid && p.argv.first().is_some_and(|a| a == "cat"))
        });
        if let (Some(s), Some(k)) = (shell, cat) {
            break Some((s.pid.clone(), k.pid.clone()));
        }
        if restore.is_finished() {
            break None;
        }
        assert!(Instant::now() < deadline, "no staging seen in {}", bob.name);
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let Some((shell, cat)) = found else {
        panic!(
            "the restore ended before its staging was seen: {:?}",
            restore.await
        );
    };
    // Frozen mid-copy: whatever the archive is being written to has no name.
    signal("-STOP", &cat);
    let target = fs::read_link(format!("/proc/{cat}/fd/1"))
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let staged = fs::metadata(format!("/proc/{cat}/fd/1")).unwrap().len();
    assert!(staged > 0, "nothing staged yet in {target}");
    // Then the exec dies the hard way: no trap, no cleanup in the shell.
    // (The shell may already have gone: some shells take the stopped `cat`
    // for a failed one and exit; the stopped `cat` itself cannot.)
    signal("-KILL", &cat);
    let _ = Command::new("kill").args(["-KILL", &shell]).status();
    assert!(
        target.ends_with(" (deleted)"),
        "the archive was staged in a named file: {target} ({staged} bytes)"
    );

    let e = restore.await.unwrap().unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());
    assert!(e.message().contains("pg_restore"), "{}", e.message());
    // The database the restore created is gone again, and no file stays.
    let deadline = Instant::now() + Duration::from_secs(30);
    while processes_in(&namespace)
        .iter()
        .any(|p| p.pid == cat || p.pid == shell)
    {
        assert!(
            Instant::now() < deadline,
            "the killed staging is still there"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!bob.databases().contains(&"stage_kill".to_string()));
    s.daemon.stop().await;
    bob.assert_no_dump_files(&files);
    bob.drop_db("stage_src");
}

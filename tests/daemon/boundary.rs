//! The tenant boundary, attacked from outside: a tenant whose pg_dump emits
//! a hostile archive, a verify aimed at a tenant that is not scratch, a
//! request naming another tenant's socket, and a tenant that holds a lock
//! forever while everyone is backed up. Each test starts the real adversary
//! against the real daemon and asserts the effect that must not happen.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use containarium::proto;
use tonic::Code;

use crate::support::daemon::{TestDaemon, authed};
use crate::support::{Tenant, config_for, with_scratch};

/// Roles and databases a verify made (and must have dropped) in `t`.
fn verify_leftovers(t: &Tenant) -> String {
    t.psql(
        "postgres",
        "SELECT string_agg(n, ',') FROM (SELECT datname AS n FROM pg_database \
         UNION ALL SELECT rolname FROM pg_roles) x WHERE n LIKE 'containarium_verify_%'",
    )
}

/// A directory the scratch server (user postgres) may create a file in.
fn marker_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    d
}

/// A real archive of `app` whose `COMMENT ON TABLE` entry is byte-patched,
/// at equal length, into `COPY … TO PROGRAM 'touch <marker>'`: pg_restore
/// executes TOC entries as they are, so this runs as whoever restores.
fn hostile_archive(t: &Tenant, marker: &Path) -> Vec<u8> {
    let pad = "A".repeat(200);
    t.psql(
        "app",
        &format!("CREATE TABLE t(i int); INSERT INTO t VALUES (1); COMMENT ON TABLE t IS '{pad}'"),
    );
    let out = Command::new("pg_dump")
        .args(["-Fc", "-h"])
        .arg(t.sock())
        .args(["-U", "postgres", "-d", "app"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut bytes = out.stdout;
    let comment = format!("COMMENT ON TABLE public.t IS '{pad}';");
    let evil = format!(
        "COPY (SELECT 1) TO PROGRAM 'touch {}'; --",
        marker.display()
    );
    let evil = format!("{evil}{}", "x".repeat(comment.len() - evil.len()));
    let at = bytes
        .windows(comment.len())
        .position(|w| w == comment.as_bytes())
        .expect("the comment is in the archive's table of contents");
    bytes[at..at + comment.len()].copy_from_slice(evil.as_bytes());
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_archive_cannot_run_programs_in_scratch() {
    let (alice, scratch) = (Tenant::start(), Tenant::start());
    alice.create_db("app");
    let markers = marker_dir();
    let marker = markers.path().join("scratch-was-owned");
    let archive = hostile_archive(&alice, &marker);

    // The archive is really hostile: restored as a superuser (what verify
    // did before the sandbox), it runs the program.
    let control = markers.path().join("superuser-ran-it1"); // same length
    let control_archive = hostile_archive_with_marker(&archive, &marker, &control);
    alice.create_db("control");
    let restored = Command::new("pg_restore")
        .arg("-h")
        .arg(alice.sock())
        .args(["-U", "postgres", "-d", "control", "--no-owner"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(&control_archive)?;
            c.wait()
        })
        .unwrap();
    assert!(restored.success());
    assert!(
        control.exists(),
        "as a superuser the archive runs its program"
    );

    let (tools, _) = crate::support::hostile_tool("pg_dump", &archive);
    let dir = tempfile::tempdir().unwrap();
    let mut config = with_scratch(
        config_for(dir.path(), &[("alice", &alice), ("scratch", &scratch)]),
        "scratch",
    );
    config.tenants.get_mut("alice").unwrap().tool_path = Some(tools.path().display().to_string());
    let d = TestDaemon::start(&config).await;
    let mut c = d.grpc_client().await;
    let admin = d.admin();
    let rec = crate::backup_one(&mut c, crate::local("alice", "app"), &admin).await;
    assert_eq!(rec.size_bytes, i64::try_from(archive.len()).unwrap());

    let v = crate::verify_into(&mut c, &rec.id, "scratch", &admin)
        .await
        .unwrap()
        .verification
        .unwrap();
    assert_eq!(v.result(), proto::VerificationResult::Failed, "{v:#?}");
    let restore = v.checks.iter().find(|c| c.name == "restore").unwrap();
    assert!(
        !restore.passed && restore.detail.contains("pg_execute_server_program"),
        "refused by the server, as the sandbox role: {}",
        restore.detail
    );
    assert!(
        !marker.exists(),
        "the program never ran in the scratch tenant"
    );
    let cleanup = v.checks.iter().find(|c| c.name == "cleanup").unwrap();
    assert!(cleanup.passed, "{}", cleanup.detail);
    assert_eq!(verify_leftovers(&scratch), "", "role and database dropped");

    // alice sees her failed result, but nothing of the scratch side.
    let seen = c
        .get_backup(authed(
            proto::GetBackupRequest { id: rec.id.clone() },
            &d.token("alice", &[], None),
        ))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap()
        .last_verification
        .unwrap();
    assert_eq!(seen.result(), proto::VerificationResult::Failed);
    let shown = format!("{seen:?}");
    assert!(
        !shown.contains(&scratch.netns) && !shown.contains(&v.scratch_database),
        "{shown}"
    );
    assert!(!marker.exists());
    d.stop().await;
}

/// The same archive with the marker path swapped (same length).
fn hostile_archive_with_marker(archive: &[u8], from: &Path, to: &Path) -> Vec<u8> {
    let (from, to) = (from.display().to_string(), to.display().to_string());
    let to = format!("{to}{}", "_".repeat(from.len() - to.len()));
    let at = archive
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .unwrap();
    let mut out = archive.to_vec();
    out[at..at + from.len()].copy_from_slice(to.as_bytes());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verify_into_a_tenant_not_declared_scratch_is_refused() {
    let (alice, bob) = (Tenant::start(), Tenant::start());
    alice.create_db("app");
    alice.psql(
        "app",
        "CREATE TABLE secret(x text); INSERT INTO secret VALUES ('alice')",
    );
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(&config_for(dir.path(), &[("alice", &alice), ("bob", &bob)])).await;
    let mut c = d.grpc_client().await;
    let admin = d.admin();
    let rec = crate::backup_one(&mut c, crate::local("alice", "app"), &admin).await;
    let state = |t: &Tenant| {
        t.psql(
            "postgres",
            "SELECT string_agg(n, ',' ORDER BY n) FROM (SELECT datname AS n FROM pg_database \
             UNION ALL SELECT rolname FROM pg_roles) x",
        )
    };
    let before = state(&bob);

    let e = crate::verify_into(&mut c, &rec.id, "bob", &admin)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("scratch = true"), "{}", e.message());
    assert_eq!(state(&bob), before, "nothing created in bob's server");
    let got = c
        .get_backup(authed(proto::GetBackupRequest { id: rec.id }, &admin))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert!(got.last_verification.is_none(), "no verification recorded");
    d.stop().await;
}

fn create_via(host: &Path, database: &str) -> proto::CreateBackupRequest {
    let mut req = crate::local("alice", database);
    req.connection.as_mut().unwrap().host = host.display().to_string();
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_tenants_socket_dir_is_refused_on_netns() {
    let (alice, bob) = (Tenant::start(), Tenant::start());
    bob.create_db("payroll");
    bob.psql(
        "payroll",
        "CREATE TABLE salaries(x int); INSERT INTO salaries VALUES (1)",
    );
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &[("alice", &alice), ("bob", &bob)]);
    let backups = config.backup_dir.clone();
    let d = TestDaemon::start(&config).await;
    let mut c = d.grpc_client().await;

    // alice (and even an admin acting for her) names bob's socket directory.
    for token in [d.token("alice", &[], None), d.admin()] {
        let e = c
            .create_backup(authed(create_via(&bob.sock(), "payroll"), &token))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
        assert!(
            e.message().contains("socket path") && e.message().contains("allowed-hosts"),
            "{}",
            e.message()
        );
    }
    let mut remote = crate::local("alice", "postgres");
    remote.connection.as_mut().unwrap().host = "10.255.0.1".into();
    let e = c
        .create_backup(authed(remote, &d.admin()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(
        e.message().contains("other than loopback"),
        "{}",
        e.message()
    );
    let listed = c
        .list_backups(authed(proto::ListBackupsRequest::default(), &d.admin()))
        .await
        .unwrap()
        .into_inner()
        .records;
    assert!(listed.is_empty(), "{listed:?}");
    assert!(!dumps_in(&backups).iter().any(|f| f.contains("payroll")));
    d.stop().await;

    // The path is a real way across: where the operator allows it, the
    // same request dumps bob's database from alice's namespace.
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(dir.path(), &[("alice", &alice), ("bob", &bob)]);
    config.tenants.get_mut("alice").unwrap().allowed_hosts = vec![bob.sock().display().to_string()];
    let d = TestDaemon::start(&config).await;
    let mut c = d.grpc_client().await;
    let rec = crate::backup_one(&mut c, create_via(&bob.sock(), "payroll"), &d.admin()).await;
    assert_eq!(
        rec.relation_count,
        Some(1),
        "bob's payroll, reached through the socket"
    );
    d.stop().await;
}

fn dumps_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n != "audit.jsonl" && n != ".spool" && n != ".index")
                .collect()
        })
        .unwrap_or_default()
}

/// A session that holds `LOCK t IN ACCESS EXCLUSIVE MODE` in an open
/// transaction until dropped.
struct LockHolder(std::process::Child);

impl LockHolder {
    fn hold(t: &Tenant, database: &str) -> Self {
        let mut child = Command::new("psql")
            .args(["-X", "-q", "-h"])
            .arg(t.sock())
            .args(["-U", "postgres", "-d", database])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(b"BEGIN;\nLOCK TABLE t IN ACCESS EXCLUSIVE MODE;\n")
            .unwrap();
        let held = "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                    WHERE c.relname = 't' AND l.mode = 'AccessExclusiveLock' AND l.granted";
        let deadline = Instant::now() + Duration::from_secs(30);
        while t.psql(database, held) != "1" {
            assert!(Instant::now() < deadline, "the lock was never taken");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self(child)
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn path_of(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("backups")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenant_holding_a_lock_delays_nobody() {
    const DEADLINE: u64 = 10;
    let tenants: Vec<Tenant> = (0..4).map(|_| Tenant::start()).collect();
    let names = ["a-stuck", "b", "c", "d"];
    for t in &tenants {
        t.create_db("app");
        t.psql(
            "app",
            "CREATE TABLE t AS SELECT generate_series(1, 1000) AS i",
        );
    }
    let _lock = LockHolder::hold(&tenants[0], "app");
    let dir = tempfile::tempdir().unwrap();
    let pairs: Vec<(&str, &Tenant)> = names.iter().copied().zip(&tenants).collect();
    let mut config = config_for(dir.path(), &pairs);
    config.create_timeout_secs = DEADLINE;
    config.max_concurrent = 4;
    let d = TestDaemon::start(&config).await;
    let mut c = d.grpc_client().await;

    let mut all = crate::local("", "");
    all.all_tenants = true;
    let started = Instant::now();
    let t0 = chrono::Utc::now();
    let out = c
        .create_backup(authed(all, &d.admin()))
        .await
        .unwrap()
        .into_inner();
    let took = started.elapsed();

    let backed_up: Vec<String> = out
        .records
        .iter()
        .map(|r| format!("{}/{}", r.username, r.database))
        .collect();
    for t in ["b", "c", "d"] {
        for db in ["app", "postgres"] {
            assert!(
                backed_up.contains(&format!("{t}/{db}")),
                "{t}/{db}: {backed_up:?}"
            );
        }
    }
    assert!(
        !backed_up.contains(&"a-stuck/app".to_string()),
        "{backed_up:?}"
    );
    assert!(
        out.failures
            .iter()
            .any(|f| f.starts_with("a-stuck/app:") && f.contains("deadline of 10s")),
        "{:?}",
        out.failures
    );
    // Nobody waited for the stuck tenant: every other tenant's dumps began
    // before its deadline ran out (one after another, they would start after).
    for r in out.records.iter().filter(|r| r.username != "a-stuck") {
        let at = chrono::DateTime::parse_from_rfc3339(&r.created_at).unwrap();
        assert!(
            at < t0 + chrono::Duration::seconds(i64::try_from(DEADLINE).unwrap()),
            "{} started at {at}, after the stuck tenant's deadline",
            r.id
        );
    }
    // The start times above are the proof; this bound only catches a run
    // that never ends (the stuck dump not cut off). Generous, because the
    // shared build machine can take minutes for the other dumps under load.
    assert!(
        took < Duration::from_secs(DEADLINE + 120),
        "the whole run took {took:?}"
    );
    // The killed dump left nothing; the failure is in the audit log.
    let files = dumps_in(&path_of(&dir));
    assert!(
        !files.iter().any(|f| f.starts_with("a-stuck-app")),
        "{files:?}"
    );
    assert_eq!(files.len(), 2 * out.records.len(), "{files:?}");
    let audit = std::fs::read_to_string(path_of(&dir).join("audit.jsonl")).unwrap();
    let line = audit
        .lines()
        .find(|l| l.contains("\"action\":\"create\""))
        .unwrap();
    assert!(
        line.contains("\"outcome\":\"failed\"")
            && line.contains("a-stuck/app")
            && line.contains("deadline"),
        "{line}"
    );
    d.stop().await;
}

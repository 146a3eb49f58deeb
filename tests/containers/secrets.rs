//! The scram tenant's password travels on stdin only: while the daemon backs
//! up and restores through the manager, it is on no argv in the host's
//! `/proc` (which holds the manager's client, its helpers and the container's
//! processes) nor in the container's own `/proc`. Both scans must have seen
//! pg_dump and pg_restore run inside the container, or they proved nothing.

use std::collections::BTreeSet;

use containarium::proto;
use tonic::Code;

use crate::create;
use crate::fixture::Fixture;
use crate::support::daemon::{TestDaemon, authed};
use crate::support::procs::{ArgvWatcher, Tool, is_stream, runs_on};
use crate::support::{Psql, fingerprint, seed};

/// Libraries and devices, nothing an archive could be staged in.
fn is_system_file(path: &str) -> bool {
    ["/usr/", "/lib", "/etc/", "/dev/"]
        .iter()
        .any(|d| path.starts_with(d))
}

fn only_system_files(paths: &BTreeSet<String>) -> bool {
    paths.iter().all(|p| is_system_file(p))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_password_is_on_no_argv_on_the_host_or_in_the_container() {
    let fx = Fixture::from_env();
    let bob = &fx.scram;
    let pw = Some(fx.password.as_str());
    bob.fresh_db("vault");
    bob.drop_db("vault_copy");
    bob.drop_db("vault_par");
    seed(bob, "vault", "bob");
    // Big enough that pg_dump and pg_restore run for a while under the scans.
    bob.psql(
        "vault",
        "CREATE TABLE big AS SELECT g, md5(g::text) AS h FROM generate_series(1, 500000) g",
    );
    let files = bob.files();
    let namespace = bob.pid_namespace();

    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(&fx.daemon_config(dir.path())).await;
    let mut c = d.grpc_client().await;
    let tok = d.token("bob", &[], None);

    // Without the password bob's server refuses: the password is needed.
    let e = c
        .create_backup(authed(create("bob", fx.connection("vault", None)), &tok))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());
    assert!(e.message().contains("password"), "{}", e.message());

    let host = ArgvWatcher::start(&fx.password);
    let inside = bob.watch_argv();
    let rec = c
        .create_backup(authed(create("bob", fx.connection("vault", pw)), &tok))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    let restore = proto::RestoreBackupRequest {
        id: rec.id.clone(),
        connection: Some(fx.connection("vault_copy", pw)),
        ..Default::default()
    };
    c.restore_backup(authed(restore, &tok)).await.unwrap();
    // And in parallel (`--jobs`): the archive is staged in the container.
    let parallel = proto::RestoreBackupRequest {
        id: rec.id.clone(),
        connection: Some(fx.connection("vault_par", pw)),
        jobs: 2,
        ..Default::default()
    };
    c.restore_backup(authed(parallel, &tok)).await.unwrap();
    let (inner, passes) = inside.finish();
    let scan = host.finish();

    // On no argv anywhere.
    assert!(
        scan.leaks.is_empty(),
        "password on a host argv: {:?}",
        scan.leaks
    );
    let leaks: Vec<&String> = inner.iter().filter(|l| l.contains(&fx.password)).collect();
    assert!(
        leaks.is_empty(),
        "password on an argv in {}: {leaks:?}",
        bob.name
    );

    // The host saw both tools run in bob's container, streaming: pg_dump
    // writes to a pipe, pg_restore reads from one, and neither (nor any
    // parallel worker) has a file open that an archive could be staged in.
    let ours = |tool: &str, db: &str| -> Vec<&Tool> {
        scan.tools
            .iter()
            .filter(|t| t.pid_namespace == namespace && runs_on(&t.argv, tool, db))
            .collect()
    };
    let (dumps, restores) = (ours("pg_dump", "vault"), ours("pg_restore", "vault_copy"));
    let parallel = ours("pg_restore", "vault_par");
    assert!(
        !dumps.is_empty() && !restores.is_empty() && !parallel.is_empty(),
        "the host ({} passes) saw pg_dump and pg_restore in {}: {:#?}",
        scan.rounds,
        bob.name,
        scan.tools
    );
    for t in &dumps {
        assert!(t.argv.contains(" -Fc "), "{}", t.argv);
        assert!(is_stream(&t.stdout), "pg_dump writes to {}", t.stdout);
    }
    for t in &restores {
        assert!(is_stream(&t.stdin), "pg_restore reads {}", t.stdin);
    }
    for t in dumps.iter().chain(&restores) {
        assert!(
            only_system_files(&t.paths),
            "{} had open {:?}",
            t.argv,
            t.paths
        );
    }

    // The parallel restore (and its workers) read the staged archive, which
    // was unlinked before it was written: open, but under no name.
    for t in &parallel {
        let staged: Vec<&String> = t.paths.iter().filter(|p| !is_system_file(p)).collect();
        assert!(
            !staged.is_empty() && staged.iter().all(|p| p.ends_with(" (deleted)")),
            "{} had open {:?}",
            t.argv,
            t.paths
        );
    }

    // And so did the scan from inside.
    let saw = |tool: &str, db: &str| inner.iter().any(|l| runs_on(l, tool, db));
    assert!(
        saw("pg_dump", "vault")
            && saw("pg_restore", "vault_copy")
            && saw("pg_restore", "vault_par"),
        "the scan in {} ({passes} passes) saw: {inner:#?}",
        bob.name
    );

    assert_eq!(fingerprint(bob, "vault_copy"), fingerprint(bob, "vault"));
    assert_eq!(fingerprint(bob, "vault_par"), fingerprint(bob, "vault"));

    // A wrong password fails without naming either password.
    let wrong = format!("{}-wrong", fx.password);
    let e = c
        .create_backup(authed(
            create("bob", fx.connection("vault", Some(&wrong))),
            &tok,
        ))
        .await
        .unwrap_err();
    assert!(!e.message().contains(&fx.password), "{}", e.message());
    d.stop().await;
    let audit = std::fs::read_to_string(dir.path().join("backups").join("audit.jsonl")).unwrap();
    assert!(audit.lines().count() >= 4, "{audit}");
    assert!(!audit.contains(&fx.password));

    bob.assert_no_dump_files(&files);
    bob.drop_db("vault");
    bob.drop_db("vault_copy");
    bob.drop_db("vault_par");
}

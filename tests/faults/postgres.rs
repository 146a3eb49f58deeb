//! The tenant's side fails mid-operation: Postgres stopped with
//! `-m immediate` during a dump and during a restore, and the tenant's
//! network namespace removed during a dump.

use std::process::Command;

use containarium::proto::BackupDestination;

use crate::invariants::{self, Expect, audit_len};
use crate::world::World;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_mid_dump() {
    let w = World::new();
    // Several tables of incompressible rows: pg_dump still needs the server
    // for the ones after the first when it is stopped.
    for t in ["bulk1", "bulk2", "bulk3"] {
        w.grow(t, 2);
    }
    let d = w.daemon(Some("during-dump:pause"));
    let call = d.create(BackupDestination::Local).await;
    d.reached().await;
    w.alice.stop();
    d.release();
    let e = call.await.unwrap().unwrap_err();
    assert!(
        e.message().contains("pg_dump of alice/app"),
        "pg_dump's failure is the reason: {}",
        e.message()
    );
    w.alice.pg_start();
    drop(d);

    let d = w.daemon(None);
    let listed = invariants::check(&w, &d, &Expect::new("create", 0)).await;
    assert!(listed.records.is_empty(), "{listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_mid_restore() {
    let w = World::new();
    w.grow("bulk", 4);
    let d = w.daemon(Some("during-restore:pause"));
    let r = d.backup(BackupDestination::Local).await;
    let backup = w.app_fingerprint();
    w.alice.psql("app", "DELETE FROM people WHERE id > 100");
    let before = w.app_fingerprint();
    let since = audit_len(&w);
    let call = d.restore(&r.id, "app", true).await;
    d.reached().await;
    w.alice.stop();
    d.release();
    let e = call.await.unwrap().unwrap_err();
    assert!(
        e.message().contains("pg_restore"),
        "pg_restore's failure is the reason: {}",
        e.message()
    );
    w.alice.pg_start();
    drop(d);

    let d = w.daemon(None);
    let mut e = Expect::new("restore", since);
    e.restore_target = Some(("app", Some(before.clone()), backup));
    invariants::check(&w, &d, &e).await;
    assert_eq!(w.app_fingerprint(), before, "the crash rolled it back");
}

/// The processes of a network namespace (to name it again afterwards).
fn netns_pids(netns: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "pids", netns])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_removed_mid_dump() {
    let w = World::new();
    w.grow("bulk", 2);
    let d = w.daemon(Some("during-dump:pause"));
    let call = d.create(BackupDestination::Local).await;
    d.reached().await;
    let netns = w.alice.netns.clone();
    let pids = netns_pids(&netns);
    assert!(!pids.is_empty(), "Postgres runs in {netns}");
    let del = Command::new("ip")
        .args(["netns", "del", &netns])
        .status()
        .unwrap();
    assert!(del.success());
    d.release();
    // Already inside, pg_dump may finish; what it leaves must hold either way.
    let created = call.await.unwrap();
    // Name the namespace again (through a process still in it), so the
    // restore tests below reach the tenant.
    let attached = pids.iter().any(|p| {
        Command::new("ip")
            .args(["netns", "attach", &netns, p])
            .status()
            .is_ok_and(|s| s.success())
    });
    assert!(attached, "Postgres is still in its namespace");
    drop(d);

    let d = w.daemon(None);
    let listed = invariants::check(&w, &d, &Expect::new("create", 0)).await;
    match created {
        Ok(out) => assert_eq!(listed.records.len(), out.records.len()),
        Err(e) => {
            assert!(listed.records.is_empty(), "{listed:?}");
            assert!(!e.message().is_empty());
        }
    }
}

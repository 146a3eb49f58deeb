//! A directory fsync that fails after a new dump or record was published:
//! the create takes it back and answers an error naming the fsync, so an
//! error always means "not written".

use containarium::proto::BackupDestination;

use crate::invariants::{self, Expect, audit, audit_len};
use crate::world::{World, files};

/// A create with `phase` failing (EIO): its error, what it left, and the
/// next create after it.
async fn create_with_failing_fsync(phase: &str) {
    let w = World::new();
    let d = w.daemon(Some(&format!("{phase}:error")));
    let since = audit_len(&w);
    let e = d
        .create(BackupDestination::Local)
        .await
        .await
        .unwrap()
        .expect_err("the create fails");
    let fsync = format!("fsync of the directory {}", w.backup_dir.display());
    assert!(
        e.message().contains(&fsync) && e.message().contains("Input/output error"),
        "the error names the fsync: {}",
        e.message()
    );
    assert!(
        d.log()
            .iter()
            .any(|l| l.contains("fault point reached") && l.contains(phase)),
        "the fault was what failed"
    );
    let kept: Vec<String> = files(&w.backup_dir)
        .into_iter()
        .filter(|f| f.ends_with(".dump") || f.ends_with(".meta.json"))
        .collect();
    assert!(kept.is_empty(), "no dump and no record remain: {kept:?}");
    let (records, problems) = d.list().await;
    assert!(
        records.is_empty() && problems.is_empty(),
        "{records:?} {problems:?}"
    );
    let failed: Vec<_> = audit(&w)[since..]
        .iter()
        .filter(|l| l["action"] == "create" && l["outcome"] == "failed")
        .cloned()
        .collect();
    assert!(
        failed[0]["error"].as_str().unwrap().contains(&fsync),
        "the audit says why: {failed:?}"
    );
    // The disk is fine again: the next backup works and survives a restart.
    let r = d.backup(BackupDestination::Local).await;
    drop(d);

    let d = w.daemon(None);
    let listed = invariants::check(&w, &d, &Expect::new("create", since)).await;
    let ids: Vec<&str> = listed.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [r.id.as_str()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_dir_fsync_fails() {
    create_with_failing_fsync("dump-dir-sync").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_dir_fsync_fails() {
    create_with_failing_fsync("record-dir-sync").await;
}

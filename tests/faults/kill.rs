//! The daemon killed at each named phase of a backup's life: during the
//! dump, between the dump's commit and its sidecar, during a restore, a
//! restore test, a prune and a delete.

use containarium::proto::{self, BackupDestination};

use crate::invariants::{self, Expect, audit, audit_len};
use crate::support::daemon::authed;
use crate::world::{World, assert_aborted_at};

/// The audit lines from `since` on that are `action` with `outcome`.
pub fn lines_of(w: &World, since: usize, action: &str, outcome: &str) -> Vec<serde_json::Value> {
    audit(w)[since..]
        .iter()
        .filter(|l| l["action"] == action && l["outcome"] == outcome)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_dump() {
    let w = World::new();
    let d = w.daemon(Some("during-dump:pause"));
    let call = d.create(BackupDestination::Local).await;
    d.reached().await;
    let staged: Vec<String> = crate::world::files(&w.backup_dir)
        .into_iter()
        .filter(|f| f.ends_with(".tmp"))
        .collect();
    assert_eq!(staged.len(), 1, "the dump is being staged: {staged:?}");
    d.kill9();
    assert!(
        call.await.unwrap().is_err(),
        "the caller hears of no backup"
    );

    let d = w.daemon(None);
    let listed = invariants::check(&w, &d, &Expect::new("create", 0)).await;
    assert!(listed.records.is_empty(), "{listed:?}");
    let failed = lines_of(&w, 0, "create", "failed");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("was interrupted"),
        "{failed:?}"
    );
    // The same backup works once the daemon is back.
    let r = d.backup(BackupDestination::Local).await;
    assert_eq!(d.verify(&r.id).await.unwrap().record.unwrap().id, r.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_dump_commit_before_sidecar() {
    let w = World::new();
    let d = w.daemon(Some("after-dump-commit-before-sidecar:abort"));
    let call = d.create(BackupDestination::Local).await;
    assert!(call.await.unwrap().is_err());
    let (status, log) = d.ended();
    assert_aborted_at(status, &log, "after-dump-commit-before-sidecar");
    let dumps: Vec<String> = crate::world::files(&w.backup_dir)
        .into_iter()
        .filter(|f| f.ends_with(".dump"))
        .collect();
    assert_eq!(dumps.len(), 1, "the dump was committed: {dumps:?}");

    let d = w.daemon(None);
    let log = d.log();
    assert!(
        log.iter()
            .any(|l| l.contains("removed an object of a create") && l.contains(&dumps[0])),
        "start-up says which dump it swept: {log:#?}"
    );
    let listed = invariants::check(&w, &d, &Expect::new("create", 0)).await;
    assert!(listed.records.is_empty(), "{listed:?}");
    let failed = lines_of(&w, 0, "create", "failed");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("was removed at start-up"),
        "{failed:?}"
    );
}

/// A backup of `app`, then `app` changed so "untouched" and "restored"
/// differ; the restore into `app` (with `--clean`) is interrupted by `fault`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_restore() {
    let w = World::new();
    w.grow("bulk", 2);
    let d = w.daemon(Some("during-restore:abort"));
    let r = d.backup(BackupDestination::Local).await;
    let backup = w.app_fingerprint();
    w.alice.psql("app", "DELETE FROM people WHERE id > 100");
    let before = w.app_fingerprint();
    let since = audit_len(&w);
    let call = d.restore(&r.id, "app", true).await;
    assert!(call.await.unwrap().is_err());
    let (status, log) = d.ended();
    assert_aborted_at(status, &log, "during-restore");

    let d = w.daemon(None);
    let mut e = Expect::new("restore", since);
    e.restore_target = Some(("app", Some(before.clone()), backup));
    let listed = invariants::check(&w, &d, &e).await;
    assert_eq!(listed.records.len(), 1);
    assert_eq!(
        w.app_fingerprint(),
        before,
        "one transaction: the interrupted restore changed nothing"
    );
    let failed = lines_of(&w, since, "restore", "failed");
    assert_eq!(failed[0]["id"], r.id.as_str(), "{failed:?}");
}

/// The restore or verify marker of `id` a crashed daemon left, parsed.
pub fn busy_marker(w: &World, id: &str) -> serde_json::Value {
    let path = w.backup_dir.join(format!(".{id}.busy"));
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_verify() {
    let w = World::new();
    w.grow("bulk", 2);
    let d = w.daemon(Some("during-verify:abort"));
    let r = d.backup(BackupDestination::Local).await;
    let since = audit_len(&w);
    assert!(d.verify(&r.id).await.is_err());
    let (status, log) = d.ended();
    assert_aborted_at(status, &log, "during-verify");
    let made = &busy_marker(&w, &r.id)["made"];
    let scratch = made["database"].as_str().unwrap().to_string();
    assert!(
        scratch.starts_with("containarium_verify_") && made["tenant"] == "scratch",
        "the marker names the scratch: {made}"
    );
    let left = w.scratch.psql(
        "postgres",
        &format!(
            "SELECT (SELECT count(*) FROM pg_database WHERE datname = '{scratch}') \
                  + (SELECT count(*) FROM pg_roles WHERE rolname = '{scratch}')"
        ),
    );
    assert_eq!(left, "2", "the crash left the scratch database and role");

    let d = w.daemon(None);
    let listed = invariants::check(&w, &d, &Expect::new("verify", since)).await;
    assert_eq!(listed.records.len(), 1);
    let failed = lines_of(&w, since, "verify", "failed");
    let why = failed[0]["error"].as_str().unwrap();
    assert!(
        why.contains("verify of")
            && why.contains(&format!(
                "its scratch database {scratch}, role {scratch} in tenant scratch dropped at \
                 start-up"
            )),
        "{failed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_prune() {
    let w = World::new();
    let d = w.daemon(Some("during-prune:abort"));
    let old = d.backup(BackupDestination::Local).await;
    let new = d.backup(BackupDestination::Local).await;
    let since = audit_len(&w);
    let req = proto::PruneBackupsRequest {
        username: "alice".into(),
        keep_last: 1,
        ..Default::default()
    };
    let pruned = d
        .client()
        .await
        .prune_backups(authed(req, &d.admin()))
        .await;
    assert!(pruned.is_err());
    let (status, log) = d.ended();
    assert_aborted_at(status, &log, "during-prune");
    let old_dump = w.backup_dir.join(format!("{}.dump", old.id));
    assert!(!old_dump.exists(), "the fault came after the dump went");

    let d = w.daemon(None);
    let listed = invariants::check(&w, &d, &Expect::new("prune", since)).await;
    let ids: Vec<&str> = listed.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [new.id.as_str()], "the prune was finished at start-up");
    assert!(listed.problems.is_empty(), "{listed:?}");
    let done = lines_of(&w, since, "prune", "ok");
    assert_eq!(done[0]["id"], old.id.as_str(), "{done:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_delete() {
    let w = World::new();
    let d = w.daemon(Some("during-delete:abort"));
    let r = d.backup(BackupDestination::Local).await;
    let since = audit_len(&w);
    assert!(d.delete(&r.id).await.is_err());
    let (status, log) = d.ended();
    assert_aborted_at(status, &log, "during-delete");
    assert!(
        w.backup_dir.join(format!("{}.meta.json", r.id)).exists(),
        "the record outlived its dump"
    );

    let d = w.daemon(None);
    let listed = invariants::check(&w, &d, &Expect::new("delete", since)).await;
    assert!(
        listed.records.is_empty() && listed.problems.is_empty(),
        "{listed:?}"
    );
    let done = lines_of(&w, since, "delete", "ok");
    assert!(
        done[0]["error"]
            .as_str()
            .unwrap()
            .contains("finished at start-up"),
        "{done:?}"
    );
}

/// A record whose dump vanished outside any operation (no marker says why)
/// is shown as a problem after start-up, never as a good backup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_lost_while_the_daemon_was_down() {
    let w = World::new();
    let d = w.daemon(None);
    let r = d.backup(BackupDestination::Local).await;
    d.kill9();
    std::fs::remove_file(&r.location).unwrap();

    let d = w.daemon(None);
    let since = audit_len(&w);
    let listed = invariants::check(&w, &d, &Expect::new("create", 0)).await;
    assert!(listed.records.is_empty(), "{listed:?}");
    assert_eq!(listed.problems.len(), 1, "{listed:?}");
    assert!(
        listed.problems[0].contains("is missing"),
        "{:?}",
        listed.problems
    );
    let e = d.verify(&r.id).await.unwrap_err();
    assert!(e.message().contains("is missing"), "{}", e.message());
    assert_eq!(audit_len(&w), since + 1, "the refused verify is audited");
    // Asked for by id, it is the backup's state that refuses, not a fault of
    // the daemon (FailedPrecondition, HTTP 400; never Internal/500).
    let e = d
        .client()
        .await
        .get_backup(authed(
            proto::GetBackupRequest { id: r.id.clone() },
            &d.admin(),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("is missing"), "{}", e.message());
}

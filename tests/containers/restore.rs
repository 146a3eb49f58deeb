//! The restore variants through the manager: in place with `--clean`,
//! parallel (`--jobs`, staged in the container), and the integrity refusal
//! that must leave the container untouched. All in the scram tenant (bob):
//! the round trip backs up every database of alice, so the tests running
//! beside it leave alice alone.

use containarium::proto;
use tonic::Code;

use crate::create;
use crate::fixture::Fixture;
use crate::support::daemon::{TestDaemon, authed};
use crate::support::{Psql, fingerprint, seed};

/// A restore of `id` into `database` (empty: the record's own).
fn restore(
    fx: &Fixture,
    id: &str,
    database: &str,
    pw: Option<&str>,
) -> proto::RestoreBackupRequest {
    proto::RestoreBackupRequest {
        id: id.into(),
        connection: Some(fx.connection(database, pw)),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restore_in_place_with_clean_puts_back_what_was_changed() {
    let fx = Fixture::from_env();
    let bob = &fx.scram;
    let pw = Some(fx.password.as_str());
    bob.fresh_db("inplace");
    seed(bob, "inplace", "bob");
    let original = fingerprint(bob, "inplace");
    let files = bob.files();

    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(&fx.daemon_config(dir.path())).await;
    let mut c = d.grpc_client().await;
    let tok = d.token("bob", &[], None);
    let rec = c
        .create_backup(authed(create("bob", fx.connection("inplace", pw)), &tok))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();

    // Damage after the backup: rows gone, rows changed.
    bob.psql(
        "inplace",
        "DELETE FROM events; UPDATE owner SET name = 'mallory'",
    );
    assert_ne!(fingerprint(bob, "inplace"), original);

    // Without --clean the objects exist: pg_restore fails, and in its single
    // transaction nothing changes.
    let e = c
        .restore_backup(authed(restore(&fx, &rec.id, "", pw), &tok))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());
    assert!(e.message().contains("already exists"), "{}", e.message());
    assert_eq!(bob.psql("inplace", "SELECT name FROM owner"), "mallory");

    let mut req = restore(&fx, &rec.id, "", pw);
    req.clean = true;
    let msg = c
        .restore_backup(authed(req, &tok))
        .await
        .unwrap()
        .into_inner()
        .message;
    assert!(msg.contains("restored into bob/inplace"), "{msg}");
    assert_eq!(fingerprint(bob, "inplace"), original);
    d.stop().await;

    bob.assert_no_dump_files(&files);
    bob.drop_db("inplace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_restore_with_jobs_stages_nothing_that_outlives_it() {
    let fx = Fixture::from_env();
    let bob = &fx.scram;
    let pw = Some(fx.password.as_str());
    bob.fresh_db("par_src");
    bob.drop_db("par_copy");
    seed(bob, "par_src", "bob");
    let files = bob.files();

    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(&fx.daemon_config(dir.path())).await;
    let mut c = d.grpc_client().await;
    let tok = d.token("bob", &[], None);
    let rec = c
        .create_backup(authed(create("bob", fx.connection("par_src", pw)), &tok))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    let mut req = restore(&fx, &rec.id, "par_copy", pw);
    req.jobs = 3;
    req.no_owner = true;
    let msg = c
        .restore_backup(authed(req, &tok))
        .await
        .unwrap()
        .into_inner()
        .message;
    assert!(msg.contains("restored into bob/par_copy"), "{msg}");
    assert_eq!(fingerprint(bob, "par_copy"), fingerprint(bob, "par_src"));
    d.stop().await;

    bob.assert_no_dump_files(&files);
    bob.drop_db("par_src");
    bob.drop_db("par_copy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tampered_dump_is_refused_before_the_container_is_touched() {
    let fx = Fixture::from_env();
    let bob = &fx.scram;
    let pw = Some(fx.password.as_str());
    bob.fresh_db("integ");
    bob.drop_db("integ_copy");
    seed(bob, "integ", "bob");

    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(&fx.daemon_config(dir.path())).await;
    let mut c = d.grpc_client().await;
    let tok = d.token("bob", &[], None);
    let rec = c
        .create_backup(authed(create("bob", fx.connection("integ", pw)), &tok))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    bob.psql("integ", "UPDATE owner SET name = 'after the backup'");
    let changed = fingerprint(bob, "integ");

    // One byte flipped in the stored archive (same size).
    let path = dir.path().join("backups").join(format!("{}.dump", rec.id));
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();

    for (database, clean) in [("integ_copy", false), ("", true)] {
        let mut req = restore(&fx, &rec.id, database, pw);
        req.clean = clean;
        let e = c.restore_backup(authed(req, &tok)).await.unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());
        assert!(
            e.message().contains("integrity check failed"),
            "{}",
            e.message()
        );
    }
    // Neither a new database nor a cleaned one.
    assert!(!bob.databases().contains(&"integ_copy".to_string()));
    assert_eq!(fingerprint(bob, "integ"), changed);
    d.stop().await;
    bob.drop_db("integ");
}

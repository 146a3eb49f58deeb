//! The restore variants through the manager: in place with `--clean`,
//! parallel (`--jobs`, staged in the container), and the integrity refusal
//! that must leave the container untouched. All in the scram tenant (bob):
//! the round trip backs up every database of alice, so the tests running
//! beside it leave alice alone.

use tonic::Code;

use crate::Bob;
use crate::fixture::Fixture;
use crate::support::{Psql, fingerprint, seed};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restore_in_place_with_clean_puts_back_what_was_changed() {
    let fx = Fixture::from_env();
    let bob = &fx.scram;
    bob.fresh_db("inplace");
    seed(bob, "inplace", "bob");
    let original = fingerprint(bob, "inplace");
    let files = bob.files();

    let mut s = Bob::start(&fx).await;
    let rec = s.backup(&fx, "inplace").await;

    // Damage after the backup: rows gone, rows changed.
    bob.psql(
        "inplace",
        "DELETE FROM events; UPDATE owner SET name = 'mallory'",
    );
    assert_ne!(fingerprint(bob, "inplace"), original);

    // Without --clean the objects exist: pg_restore fails, and in its single
    // transaction nothing changes.
    let e = s.restore(&fx, &rec.id, "", |_| {}).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());
    assert!(e.message().contains("already exists"), "{}", e.message());
    assert_eq!(bob.psql("inplace", "SELECT name FROM owner"), "mallory");

    let msg = s
        .restore(&fx, &rec.id, "", |r| r.clean = true)
        .await
        .unwrap();
    assert!(msg.contains("restored into bob/inplace"), "{msg}");
    assert_eq!(fingerprint(bob, "inplace"), original);
    s.daemon.stop().await;

    bob.assert_no_dump_files(&files);
    bob.drop_db("inplace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_restore_with_jobs_stages_nothing_that_outlives_it() {
    let fx = Fixture::from_env();
    let bob = &fx.scram;
    bob.fresh_db("par_src");
    bob.drop_db("par_copy");
    seed(bob, "par_src", "bob");
    let files = bob.files();

    let mut s = Bob::start(&fx).await;
    let rec = s.backup(&fx, "par_src").await;
    let msg = s
        .restore(&fx, &rec.id, "par_copy", |r| {
            r.jobs = 3;
            r.no_owner = true;
        })
        .await
        .unwrap();
    assert!(msg.contains("restored into bob/par_copy"), "{msg}");
    assert_eq!(fingerprint(bob, "par_copy"), fingerprint(bob, "par_src"));
    s.daemon.stop().await;

    bob.assert_no_dump_files(&files);
    bob.drop_db("par_src");
    bob.drop_db("par_copy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tampered_dump_is_refused_before_the_container_is_touched() {
    let fx = Fixture::from_env();
    let bob = &fx.scram;
    bob.fresh_db("integ");
    bob.drop_db("integ_copy");
    seed(bob, "integ", "bob");

    let mut s = Bob::start(&fx).await;
    let rec = s.backup(&fx, "integ").await;
    bob.psql("integ", "UPDATE owner SET name = 'after the backup'");
    let changed = fingerprint(bob, "integ");

    // One byte flipped in the stored archive (same size).
    let path = s
        .dir
        .path()
        .join("backups")
        .join(format!("{}.dump", rec.id));
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();

    for (database, clean) in [("integ_copy", false), ("", true)] {
        let e = s
            .restore(&fx, &rec.id, database, |r| r.clean = clean)
            .await
            .unwrap_err();
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
    s.daemon.stop().await;
    bob.drop_db("integ");
}

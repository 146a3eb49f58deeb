//! The daemon killed while a restore fills a database it created: start-up
//! drops that database by the OID its marker noted, leaves one created
//! later under the same name alone, and names what it could not drop.

use containarium::proto::{BackupDestination, BackupRecord};

use crate::invariants::{self, Expect, audit_len};
use crate::kill::{busy_marker, lines_of};
use crate::world::{World, assert_aborted_at};

/// A backup of alice's app, then its restore into the new database `fresh`
/// killed mid-stream; returns the backup and the audit length before the
/// restore began.
async fn killed_restoring_into_fresh(w: &World) -> (BackupRecord, usize) {
    w.grow("bulk", 2);
    let d = w.daemon(Some("during-restore:abort"));
    let r = d.backup(BackupDestination::Local).await;
    let since = audit_len(w);
    let call = d.restore(&r.id, "fresh", false).await;
    assert!(call.await.unwrap().is_err());
    let (status, log) = d.ended();
    assert_aborted_at(status, &log, "during-restore");
    (r, since)
}

/// The restore into a database that did not exist is killed mid-stream:
/// the database it created (and half filled) is dropped at start-up, by
/// the OID its marker noted, and the audit line names it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_restore_into_a_new_database() {
    let w = World::new();
    let (r, since) = killed_restoring_into_fresh(&w).await;
    let backup = w.app_fingerprint();
    let oid = w.alice.psql(
        "postgres",
        "SELECT oid FROM pg_database WHERE datname = 'fresh'",
    );
    assert!(!oid.is_empty(), "the restore had created fresh");
    let made = &busy_marker(&w, &r.id)["made"];
    assert_eq!(
        (made["tenant"].as_str(), made["database"].as_str()),
        (Some("alice"), Some("fresh")),
        "{made}"
    );
    assert_eq!(made["oid"].to_string(), oid, "the marker notes its OID");

    let d = w.daemon(None);
    let mut e = Expect::new("restore", since);
    e.restore_target = Some(("fresh", None, backup));
    invariants::check(&w, &d, &e).await;
    assert!(
        !w.alice.databases().iter().any(|d| d == "fresh"),
        "{:?}",
        w.alice.databases()
    );
    let failed = lines_of(&w, since, "restore", "failed");
    assert_eq!(failed[0]["id"], r.id.as_str(), "{failed:?}");
    let why = failed[0]["error"].as_str().unwrap();
    assert!(
        why.contains("was interrupted")
            && why.contains(&format!(
                "the database alice/fresh it had created (OID {oid}) was dropped at start-up"
            )),
        "{why}"
    );
}

/// After the crash someone drops the half-restored database and creates
/// their own under the same name: start-up leaves theirs alone (another
/// OID) and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_recreated_under_the_same_name_is_kept() {
    let w = World::new();
    let (r, since) = killed_restoring_into_fresh(&w).await;
    let made = busy_marker(&w, &r.id)["made"].clone();
    w.alice.psql("postgres", "DROP DATABASE fresh WITH (FORCE)");
    w.alice.create_db("fresh");
    w.alice.psql("fresh", "CREATE TABLE theirs(x int)");
    let oid = w.alice.psql(
        "postgres",
        "SELECT oid FROM pg_database WHERE datname = 'fresh'",
    );
    assert_ne!(made["oid"].to_string(), oid, "a new database, a new OID");

    let d = w.daemon(None);
    invariants::check(&w, &d, &Expect::new("restore", since)).await;
    assert_eq!(
        w.alice.psql(
            "fresh",
            "SELECT count(*) FROM pg_tables WHERE tablename = 'theirs'"
        ),
        "1",
        "their database is untouched"
    );
    let failed = lines_of(&w, since, "restore", "failed");
    let why = failed[0]["error"].as_str().unwrap();
    assert!(
        why.contains(&format!(
            "the database alice/fresh was left as it is: it is not the one the restore created \
             (OID {oid}, not {})",
            made["oid"]
        )),
        "{why}"
    );
}

/// The marker never holds the database password, so when alice's server
/// wants one, start-up cannot drop the database the restore created: it
/// is kept, and the audit line names it and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_needs_a_password_keeps_what_recovery_cannot_drop() {
    const PASSWORD: &str = "restore-pw-Q7x";
    let w = World::with_password(PASSWORD);
    let (r, since) = killed_restoring_into_fresh(&w).await;
    let marker = busy_marker(&w, &r.id);
    assert_eq!(marker["made"]["database"], "fresh", "{marker}");
    assert!(
        !marker.to_string().contains(PASSWORD),
        "the password is never written down: {marker}"
    );

    let d = w.daemon(None);
    let mut e = Expect::new("restore", since);
    e.kept = vec!["fresh"];
    invariants::check(&w, &d, &e).await;
    assert!(
        w.alice.databases().iter().any(|d| d == "fresh"),
        "start-up could not log in, so fresh is kept"
    );
    let failed = lines_of(&w, since, "restore", "failed");
    let why = failed[0]["error"].as_str().unwrap();
    assert!(
        why.contains("alice/fresh, which it made, may remain:")
            && why.contains("no password supplied")
            && why.contains("drop it by hand"),
        "{why}"
    );
}

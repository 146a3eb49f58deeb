//! Every operation of the daemon over gRPC against containers of one
//! manager: create (one database, then all), list, restore into a fresh
//! database, verify into the other tenant, delete. Nothing is staged inside
//! the containers.

use std::collections::BTreeSet;

use containarium::proto;
use tonic::Code;

use crate::create;
use crate::fixture::Fixture;
use crate::support::daemon::{TestDaemon, authed};
use crate::support::{fingerprint, seed};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_list_restore_verify_delete_through_the_manager() {
    let fx = Fixture::from_env();
    let (alice, bob) = (&fx.trust, &fx.scram);
    alice.fresh_db("app");
    alice.drop_db("copy");
    seed(alice, "app", "alice");
    let (alice_files, bob_files) = (alice.files(), bob.files());

    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(&fx.daemon_config(dir.path())).await;
    let mut c = d.grpc_client().await;
    let tok = d.token("alice", &[], None);

    // One database.
    let created = c
        .create_backup(authed(create("alice", fx.connection("app", None)), &tok))
        .await
        .unwrap()
        .into_inner();
    let rec = created.record.unwrap();
    assert_eq!(
        (rec.username.as_str(), rec.database.as_str()),
        ("alice", "app")
    );
    assert_eq!(
        rec.relation_count,
        Some(5),
        "people, events, 2 partitions, owner"
    );
    let archive =
        std::fs::read(dir.path().join("backups").join(format!("{}.dump", rec.id))).unwrap();
    assert!(
        archive.starts_with(b"PGDMP"),
        "a custom-format archive reached the host"
    );
    assert_eq!(u64::try_from(rec.size_bytes).unwrap(), archive.len() as u64);

    // Every database of the tenant.
    let all = c
        .create_backup(authed(create("alice", fx.connection("", None)), &tok))
        .await
        .unwrap()
        .into_inner();
    assert!(all.failures.is_empty(), "{:?}", all.failures);
    let dbs: BTreeSet<&str> = all.records.iter().map(|r| r.database.as_str()).collect();
    assert_eq!(
        dbs,
        BTreeSet::from(["", "app", "postgres"]),
        "the globals have no database"
    );
    // The roles came from pg_dumpall inside the container.
    let globals = all.records.iter().find(|r| r.kind == "globals").unwrap();
    let roles = std::fs::read_to_string(
        dir.path()
            .join("backups")
            .join(format!("{}.dump", globals.id)),
    )
    .unwrap();
    assert!(roles.contains("CREATE ROLE postgres;"), "{roles}");

    let listed = c
        .list_backups(authed(proto::ListBackupsRequest::default(), &tok))
        .await
        .unwrap()
        .into_inner()
        .records;
    assert_eq!(listed.len(), 4);
    assert!(listed.iter().any(|r| r.id == rec.id));

    // Restore into a database that does not exist yet.
    let restore = proto::RestoreBackupRequest {
        id: rec.id.clone(),
        connection: Some(fx.connection("copy", None)),
        ..Default::default()
    };
    let msg = c
        .restore_backup(authed(restore, &tok))
        .await
        .unwrap()
        .into_inner()
        .message;
    assert!(msg.contains("restored"), "{msg}");
    let original = fingerprint(alice, "app");
    assert!(
        original[0].contains("=1000:"),
        "events has rows: {original:?}"
    );
    assert_eq!(fingerprint(alice, "copy"), original);

    // Verify into bob's container: pg_restore there, with bob's password.
    let verify = proto::VerifyBackupRequest {
        id: rec.id.clone(),
        target_username: "bob".into(),
        connection: Some(fx.connection("", Some(&fx.password))),
    };
    let v = c
        .verify_backup(authed(verify, &d.admin()))
        .await
        .unwrap()
        .into_inner()
        .verification
        .unwrap();
    assert_eq!(v.result(), proto::VerificationResult::Passed, "{v:#?}");
    assert_eq!(v.checks.len(), 6, "{v:#?}");
    assert_eq!(
        v.target_container,
        format!("{}:{}", fx.manager.driver(), bob.name)
    );
    assert!(!bob.databases().contains(&v.scratch_database));

    // Delete them all.
    for r in &listed {
        let msg = c
            .delete_backup(authed(
                proto::DeleteBackupRequest { id: r.id.clone() },
                &tok,
            ))
            .await
            .unwrap()
            .into_inner()
            .message;
        assert!(msg.contains("deleted"), "{msg}");
    }
    let e = c
        .get_backup(authed(proto::GetBackupRequest { id: rec.id.clone() }, &tok))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let left = c
        .list_backups(authed(proto::ListBackupsRequest::default(), &tok))
        .await
        .unwrap()
        .into_inner()
        .records;
    assert!(left.is_empty(), "{left:?}");
    d.stop().await;

    // The archives streamed: nothing was staged in either container.
    alice.assert_no_dump_files(&alice_files);
    bob.assert_no_dump_files(&bob_files);
    alice.drop_db("app");
    alice.drop_db("copy");
}

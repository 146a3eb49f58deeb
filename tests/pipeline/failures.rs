//! Failures that must be loud and leave nothing behind.

use containarium::Code;

use crate::support::{Harness, Tenant, create_req, fingerprint, none, restore_req, seed};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flipped_byte_is_refused_before_the_database_is_touched() {
    let t = Tenant::start();
    t.create_db("app");
    seed(&t, "app", "alice");
    let h = Harness::new(&[("alice", &t)]);
    let r = h.backup("alice", "app").await;

    // The target: an existing database with different contents.
    t.create_db("target");
    t.psql(
        "target",
        "CREATE TABLE keep(x int); INSERT INTO keep VALUES (42)",
    );
    let before = fingerprint(&t, "target");

    let path = h.backup_dir().join(format!("{}.dump", r.id));
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();

    for db in ["target", "fresh"] {
        let mut req = restore_req(&r.id, db);
        req.options.clean = true;
        let e = h.service.restore(none(), req).await.unwrap_err();
        assert!(
            e.message.contains("integrity check failed"),
            "{}",
            e.message
        );
        assert_eq!(e.code, Code::FailedPrecondition);
    }
    assert_eq!(fingerprint(&t, "target"), before, "target untouched");
    assert!(
        !t.databases().contains(&"fresh".to_string()),
        "nothing created"
    );
    let spool: Vec<_> = std::fs::read_dir(h.backup_dir().join(".spool"))
        .unwrap()
        .collect();
    assert!(spool.is_empty(), "spool cleaned up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_truncated_dump_is_refused_too() {
    let t = Tenant::start();
    t.create_db("app");
    seed(&t, "app", "alice");
    let h = Harness::new(&[("alice", &t)]);
    let r = h.backup("alice", "app").await;
    let path = h.backup_dir().join(format!("{}.dump", r.id));
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    let e = h
        .service
        .restore(none(), restore_req(&r.id, "x"))
        .await
        .unwrap_err();
    assert!(
        e.message.contains("integrity check failed"),
        "{}",
        e.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_dump_failures_leave_no_record_and_no_file() {
    let t = Tenant::start_with_password("right-password-1");
    let h = Harness::new(&[("alice", &t)]);

    let right = containarium::engine::Password::new("right-password-1").unwrap();
    // Wrong database.
    let mut req = create_req("alice", "nosuchdb");
    req.connection.password = right.clone();
    let e = h.service.create(none(), req).await.unwrap_err();
    assert_eq!(e.code, Code::FailedPrecondition);
    assert!(
        e.message.contains("nosuchdb") && e.message.contains("does not exist"),
        "{}",
        e.message
    );

    // Wrong password (and none at all).
    let mut req = create_req("alice", "postgres");
    req.connection.password = containarium::engine::Password::new("wrong-password-2").unwrap();
    let e = h.service.create(none(), req).await.unwrap_err();
    assert!(
        e.message.contains("password authentication failed"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("wrong-password-2"));
    let e = h
        .service
        .create(none(), create_req("alice", "postgres"))
        .await
        .unwrap_err();
    assert!(e.message.contains("password"), "{}", e.message);

    // Server down.
    t.stop();
    let mut req = create_req("alice", "postgres");
    req.connection.password = right;
    let e = h.service.create(none(), req).await.unwrap_err();
    assert_eq!(e.code, Code::FailedPrecondition);
    assert!(e.message.contains("pg_dump"), "{}", e.message);
    assert!(
        e.message.contains("connection") || e.message.contains("connect"),
        "{}",
        e.message
    );

    assert!(
        h.backup_files().is_empty(),
        "left behind: {:?}",
        h.backup_files()
    );
    assert!(
        h.service
            .list(none(), None)
            .await
            .unwrap()
            .records
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_ids_are_rejected_before_any_file_is_touched() {
    let t = Tenant::start();
    let h = Harness::new(&[("alice", &t)]);
    // Bait outside the backup directory that a traversal would hit.
    let outside = h.dir.path().join("victim.meta.json");
    std::fs::write(&outside, b"{}").unwrap();
    let outside_dump = h.dir.path().join("victim.dump");
    std::fs::write(&outside_dump, b"x").unwrap();

    for id in [
        "../victim",
        "..",
        "a/b",
        "a\\b",
        "x\0y",
        ".hidden",
        "",
        "../../etc/passwd",
    ] {
        let e = h.service.delete(none(), id.to_string()).await.unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument, "{id:?}: {}", e.message);
        let e = h.service.get(none(), id.to_string()).await.unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument, "{id:?}");
        let e = h
            .service
            .restore(none(), restore_req(id, "x"))
            .await
            .unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument, "{id:?}");
    }
    assert!(outside.exists() && outside_dump.exists());
    assert!(h.backup_files().is_empty());
    assert_eq!(t.databases(), ["postgres"], "no database was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_restore_changes_nothing() {
    let t = Tenant::start();
    t.create_db("app");
    seed(&t, "app", "alice");
    let h = Harness::new(&[("alice", &t)]);
    let r = h.backup("alice", "app").await;
    // Restoring without --clean over a database that already has the
    // tables fails; single-transaction means nothing was half-applied.
    t.create_db("busy");
    t.psql(
        "busy",
        "CREATE TABLE owner(name text); INSERT INTO owner VALUES ('original')",
    );
    let before = fingerprint(&t, "busy");
    let e = h
        .service
        .restore(none(), restore_req(&r.id, "busy"))
        .await
        .unwrap_err();
    assert!(e.message.contains("pg_restore"), "{}", e.message);
    assert!(
        e.message.contains("already exists"),
        "pg_restore's own stderr: {}",
        e.message
    );
    assert_eq!(fingerprint(&t, "busy"), before);
}

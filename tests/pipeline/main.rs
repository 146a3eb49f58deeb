//! The backup pipeline against real tenant clusters (netns + Postgres 15):
//! round trips, isolation, failures that must leave nothing behind, integrity.

#![allow(clippy::many_single_char_names)] // short names for tenants, daemons, records

#[path = "../support/mod.rs"]
mod support;

mod concurrency;
mod disk;
mod failures;
mod layout;
mod manifests;
mod prune;
mod secrets;
mod stages;
mod verify;

use containarium::Code;
use support::{Harness, Tenant, create_req, fingerprint, none, restore_req, seed};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn round_trip_restores_every_row() {
    let t = Tenant::start();
    t.create_db("app");
    seed(&t, "app", "alice");
    let h = Harness::new(&[("alice", &t)]);

    let out = h
        .service
        .create(none(), create_req("alice", "app"))
        .await
        .unwrap();
    assert!(out.single && out.failures.is_empty());
    let r = &out.records[0];
    assert!(r.id.starts_with("alice-app-"), "{}", r.id);
    assert!(r.size_bytes > 0);
    assert_eq!(r.sha256.len(), 64);
    assert_eq!(
        r.relation_count,
        Some(5),
        "people, events, 2 partitions, owner"
    );
    let dump = h.backup_dir().join(format!("{}.dump", r.id));
    assert_eq!(
        std::fs::metadata(&dump).unwrap().len(),
        r.size_bytes.cast_unsigned()
    );
    assert_eq!(r.location, dump.display().to_string());

    let listed = h.service.list(none(), None).await.unwrap();
    assert_eq!(listed.records, out.records);
    assert_eq!(h.service.get(none(), r.id.clone()).await.unwrap(), *r);

    let msg = h
        .service
        .restore(none(), restore_req(&r.id, "copy"))
        .await
        .unwrap();
    assert!(msg.contains("restored"), "{msg}");
    assert_eq!(fingerprint(&t, "copy"), fingerprint(&t, "app"));
    assert!(
        fingerprint(&t, "copy")
            .iter()
            .any(|f| f.starts_with("public.people=500:"))
    );

    // Restoring over an existing database with clean replaces its contents.
    t.psql("copy", "DELETE FROM people WHERE id > 10");
    let mut req = restore_req(&r.id, "copy");
    req.options.clean = true;
    h.service.restore(none(), req).await.unwrap();
    assert_eq!(fingerprint(&t, "copy"), fingerprint(&t, "app"));

    let msg = h.service.delete(none(), r.id.clone()).await.unwrap();
    assert!(msg.contains("deleted"));
    assert!(h.backup_files().is_empty(), "{:?}", h.backup_files());
    let e = h.service.get(none(), r.id.clone()).await.unwrap_err();
    assert_eq!(e.code, Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_restore_with_jobs() {
    let t = Tenant::start();
    t.create_db("app");
    seed(&t, "app", "alice");
    let h = Harness::new(&[("alice", &t)]);
    let out = h
        .service
        .create(none(), create_req("alice", "app"))
        .await
        .unwrap();
    let mut req = restore_req(&out.records[0].id, "par");
    req.options.jobs = 3;
    req.options.no_owner = true;
    h.service.restore(none(), req).await.unwrap();
    assert_eq!(fingerprint(&t, "par"), fingerprint(&t, "app"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_tenants_each_backup_holds_only_its_own_data() {
    let alice = Tenant::start();
    let bob = Tenant::start();
    alice.create_db("app");
    bob.create_db("app");
    seed(&alice, "app", "alice");
    bob.psql("app", "CREATE TABLE owner(name text); INSERT INTO owner VALUES ('bob'); CREATE TABLE only_bob(x int)");
    let h = Harness::new(&[("alice", &alice), ("bob", &bob)]);

    let (a, b) = tokio::join!(
        h.service.create(none(), create_req("alice", "app")),
        h.service.create(none(), create_req("bob", "app"))
    );
    let (a, b) = (a.unwrap().records.remove(0), b.unwrap().records.remove(0));
    assert_ne!(a.sha256, b.sha256);
    assert_eq!(b.relation_count, Some(2));

    h.service
        .restore(none(), restore_req(&a.id, "restored"))
        .await
        .unwrap();
    h.service
        .restore(none(), restore_req(&b.id, "restored"))
        .await
        .unwrap();
    assert_eq!(alice.psql("restored", "SELECT name FROM owner"), "alice");
    assert_eq!(bob.psql("restored", "SELECT name FROM owner"), "bob");
    assert!(
        alice
            .try_psql("restored", "SELECT 1 FROM only_bob")
            .is_err()
    );
    assert!(bob.try_psql("restored", "SELECT 1 FROM people").is_err());
    // Restores go to the backup's own tenant: alice's container never got bob's.
    assert_eq!(fingerprint(&alice, "restored"), fingerprint(&alice, "app"));

    let only_bob = h.service.list(none(), Some("bob".into())).await.unwrap();
    assert_eq!(only_bob.records.len(), 1);
    assert_eq!(only_bob.records[0].username, "bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn all_databases_commits_the_good_and_reports_the_bad() {
    let t = Tenant::start();
    for db in ["app1", "app2", "secret"] {
        t.create_db(db);
    }
    t.psql("postgres", "CREATE ROLE backup LOGIN");
    t.psql(
        "app1",
        "CREATE TABLE a(x int); INSERT INTO a VALUES (1); GRANT SELECT ON a TO backup",
    );
    t.psql(
        "app2",
        "CREATE TABLE b(x int); INSERT INTO b VALUES (2); GRANT SELECT ON b TO backup",
    );
    t.psql("secret", "CREATE TABLE hidden(x int)"); // backup may not read it
    let h = Harness::new(&[("alice", &t)]);

    let mut req = create_req("alice", "");
    req.connection.user = Some("backup".into());
    let out = h.service.create(none(), req).await.unwrap();
    assert!(!out.single);
    let mut dbs: Vec<_> = out.records.iter().map(|r| r.database.as_str()).collect();
    dbs.sort_unstable();
    // The globals (roles) come first, with an empty database.
    assert_eq!(dbs, ["", "app1", "app2", "postgres"]);
    assert_eq!(out.records[0].kind, containarium::catalog::Kind::Globals);
    assert_eq!(out.failures.len(), 1, "{:?}", out.failures);
    assert!(
        out.failures[0].starts_with("secret: "),
        "{}",
        out.failures[0]
    );
    assert!(
        out.failures[0].contains("permission denied"),
        "pg_dump's own words: {}",
        out.failures[0]
    );
    assert!(out.message().contains("1 databases failed"));

    let listed = h.service.list(none(), None).await.unwrap();
    assert_eq!(listed.records.len(), 4);
    assert!(
        h.backup_files().iter().all(|f| !f.contains("secret")),
        "{:?}",
        h.backup_files()
    );
    for r in &out.records {
        h.service
            .restore(none(), restore_req(&r.id, &format!("{}_copy", r.database)))
            .await
            .unwrap();
    }
    assert_eq!(t.psql("app2_copy", "SELECT x FROM b"), "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn host_driver_runs_for_real() {
    use containarium::runtime::{Driver, TenantConfig};
    let t = Tenant::start();
    t.create_db("app");
    seed(&t, "app", "host");
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::config_for(dir.path(), &[]);
    config.tenants.insert(
        "staging".into(),
        TenantConfig {
            driver: Some(Driver::Host),
            // A socket path on the shared host must be allowed by name.
            allowed_hosts: vec![t.sock().display().to_string()],
            ..TenantConfig::default()
        },
    );
    let h = Harness::with_config(dir, config);
    // On the host the cluster is reachable through its Unix socket directory.
    let mut req = create_req("staging", "app");
    req.connection.host = Some(t.sock().display().to_string());
    let out = h.service.create(none(), req).await.unwrap();
    let mut restore = restore_req(&out.records[0].id, "copy");
    restore.connection.host = Some(t.sock().display().to_string());
    h.service.restore(none(), restore).await.unwrap();
    assert_eq!(fingerprint(&t, "copy"), fingerprint(&t, "app"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_tenant_and_unsafe_names_are_clear_errors() {
    let t = Tenant::start();
    let h = Harness::new(&[("alice", &t)]);
    let e = h
        .service
        .create(none(), create_req("carol", "app"))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::NotFound);
    assert!(e.message.contains("carol"), "{}", e.message);
    for db in ["a/b", "x=y", "..", "my db"] {
        let e = h
            .service
            .create(none(), create_req("alice", db))
            .await
            .unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument, "{db}");
        assert!(e.message.contains("safe backup id"), "{}", e.message);
    }
    let mut req = create_req("alice", "postgres");
    req.destination = None;
    assert_eq!(
        h.service.create(none(), req).await.unwrap_err().code,
        Code::InvalidArgument
    );
    assert!(h.backup_files().is_empty());
}

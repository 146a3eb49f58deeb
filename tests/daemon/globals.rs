//! Globals (roles) through the real daemon: taken with every all-databases
//! create, restored before a database so its objects keep their owners in a
//! fresh cluster, restore-tested in scratch and cleaned up there, and, being
//! the tenant's SQL, never executed as written.

use std::os::unix::fs::PermissionsExt;

use containarium::proto;
use tonic::Code;

use crate::support::daemon::{TestDaemon, authed};
use crate::support::{Tenant, config_for, fingerprint, with_scratch};
use crate::{local, verify_into};

/// What an all-databases create of `tenant` committed.
async fn back_up_all(d: &TestDaemon, tenant: &str) -> Vec<proto::BackupRecord> {
    let mut c = d.grpc_client().await;
    let out = c
        .create_backup(authed(local(tenant, ""), &d.admin()))
        .await
        .unwrap()
        .into_inner();
    assert!(out.failures.is_empty(), "{:?}", out.failures);
    out.records
}

fn restore(id: &str, database: &str, globals: bool) -> proto::RestoreBackupRequest {
    proto::RestoreBackupRequest {
        id: id.into(),
        connection: Some(proto::PgConnection {
            database: database.into(),
            ..Default::default()
        }),
        globals,
        ..Default::default()
    }
}

fn one<'a>(records: &'a [proto::BackupRecord], kind: &str, db: &str) -> &'a proto::BackupRecord {
    records
        .iter()
        .find(|r| r.kind == kind && r.database == db)
        .unwrap_or_else(|| panic!("no {kind} record of {db:?} in {records:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn objects_keep_their_owners_in_a_fresh_cluster() {
    let (alice, fresh, scratch) = (Tenant::start(), Tenant::start(), Tenant::start());
    alice.psql(
        "postgres",
        "CREATE ROLE app NOLOGIN; CREATE ROLE reader LOGIN; GRANT app TO reader; \
         COMMENT ON ROLE app IS 'owns the shop'",
    );
    alice.create_db("shop");
    alice.psql(
        "shop",
        "CREATE TABLE items (id int PRIMARY KEY, name text); \
         INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 250) g; \
         ALTER TABLE items OWNER TO app; \
         CREATE SCHEMA sales AUTHORIZATION app; \
         CREATE TABLE sales.orders (id int); ALTER TABLE sales.orders OWNER TO reader",
    );

    let dir = tempfile::tempdir().unwrap();
    let config = with_scratch(
        config_for(dir.path(), &[("alice", &alice), ("scratch", &scratch)]),
        "scratch",
    );
    let d = TestDaemon::start(&config).await;
    let records = back_up_all(&d, "alice").await;
    let globals = one(&records, "globals", "");
    let shop = one(&records, "database", "shop");
    assert!(globals.id.contains(".globals"), "{}", globals.id);
    assert!(
        records
            .iter()
            .filter(|r| r.kind == "database")
            .all(|r| r.globals_id == globals.id),
        "every database names the globals taken with it: {records:#?}"
    );

    // Verify tests the roles in scratch before the database, and leaves
    // no role behind.
    let mut c = d.grpc_client().await;
    let v = verify_into(&mut c, &shop.id, "scratch", &d.admin())
        .await
        .unwrap()
        .verification
        .unwrap();
    let names: Vec<_> = v.checks.iter().map(|c| c.name.as_str()).collect();
    assert!(v.result() == proto::VerificationResult::Passed, "{v:#?}");
    let at = |n: &str| {
        names
            .iter()
            .position(|x| *x == n)
            .unwrap_or_else(|| panic!("{n} in {names:?}"))
    };
    assert!(at("globals") < at("restore"), "{names:?}");
    let roles = v.checks.iter().find(|c| c.name == "globals").unwrap();
    assert!(
        roles.detail.contains("3 roles and 1 memberships"),
        "{}",
        roles.detail
    );
    assert_eq!(
        scratch.psql(
            "postgres",
            "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'containarium%'"
        ),
        "0"
    );
    let own = verify_into(&mut c, &globals.id, "scratch", &d.admin())
        .await
        .unwrap()
        .verification
        .unwrap();
    assert!(
        own.result() == proto::VerificationResult::Passed,
        "{own:#?}"
    );
    d.stop().await;

    // The same backups, read by a daemon whose alice is a fresh cluster.
    let moved = config_for(dir.path(), &[("alice", &fresh)]);
    let d = TestDaemon::start(&moved).await;
    let mut c = d.grpc_client().await;
    let without = c
        .restore_backup(authed(restore(&shop.id, "shop", false), &d.admin()))
        .await
        .unwrap_err();
    assert_eq!(without.code(), Code::FailedPrecondition);
    assert!(
        without.message().contains(r#"role "app" does not exist"#),
        "{}",
        without.message()
    );
    assert!(!fresh.databases().contains(&"shop".to_string()));

    let said = c
        .restore_backup(authed(restore(&shop.id, "shop", true), &d.admin()))
        .await
        .unwrap()
        .into_inner()
        .message;
    assert!(said.contains("2 of 3 roles created"), "{said}");
    assert!(
        said.contains("role postgres: SUPERUSER, REPLICATION, BYPASSRLS not restored"),
        "{said}"
    );
    assert_eq!(
        fresh.psql(
            "shop",
            "SELECT string_agg(schemaname || '.' || tablename || '=' || tableowner, ',' ORDER BY 1) \
             FROM pg_tables WHERE schemaname IN ('public', 'sales')"
        ),
        "public.items=app,sales.orders=reader"
    );
    assert_eq!(
        fresh.psql(
            "shop",
            "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'sales'"
        ),
        "app"
    );
    assert_eq!(
        fresh.psql(
            "postgres",
            "SELECT pg_has_role('reader', 'app', 'member'), shobj_description('app'::regrole, 'pg_authid'), \
             (SELECT rolcanlogin FROM pg_roles WHERE rolname = 'reader')"
        ),
        "t|owns the shop|t"
    );
    assert_eq!(fingerprint(&fresh, "shop"), fingerprint(&alice, "shop"));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_globals_create_no_superuser_and_run_nothing() {
    let (alice, scratch, control) = (Tenant::start(), Tenant::start(), Tenant::start());
    let markers = tempfile::tempdir().unwrap();
    std::fs::set_permissions(markers.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let marker = markers.path().join("program-ran");
    let hostile = format!(
        "CREATE ROLE evil;\n\
         ALTER ROLE evil WITH SUPERUSER LOGIN REPLICATION BYPASSRLS;\n\
         ALTER ROLE postgres WITH NOLOGIN;\n\
         COPY (SELECT 1) TO PROGRAM 'touch {}';\n\
         GRANT pg_execute_server_program TO evil;\n",
        marker.display()
    );
    // Really hostile: run as written by a superuser, it does all of it
    // (and locks the superuser out: hence the check in the same session).
    let ran = std::process::Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
        .arg(control.sock())
        .args(["-U", "postgres", "-d", "postgres", "-c"])
        .arg(format!(
            "{hostile}SELECT rolsuper FROM pg_roles WHERE rolname = 'evil'"
        ))
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ran.stdout).trim(), "t");
    assert!(marker.exists(), "as written, the globals run a program");
    std::fs::remove_file(&marker).unwrap();

    let (tools, file) = crate::support::hostile_tool("pg_dumpall", hostile.as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let mut config = with_scratch(
        config_for(dir.path(), &[("alice", &alice), ("scratch", &scratch)]),
        "scratch",
    );
    config.tenants.get_mut("alice").unwrap().tool_path = Some(tools.path().display().to_string());
    let d = TestDaemon::start(&config).await;
    let records = back_up_all(&d, "alice").await;
    let globals = one(&records, "globals", "");

    let mut c = d.grpc_client().await;
    let said = c
        .restore_backup(authed(restore(&globals.id, "", false), &d.admin()))
        .await
        .unwrap()
        .into_inner()
        .message;
    for why in [
        "1 of 1 roles created",
        "role evil: SUPERUSER, REPLICATION, BYPASSRLS not restored",
        "attributes of undeclared role \"postgres\"",
        "a statement not taken over: COPY",
        "memberships of roles the file does not declare",
    ] {
        assert!(said.contains(why), "{why} not in {said}");
    }
    assert_eq!(
        alice.psql(
            "postgres",
            "SELECT rolsuper, rolreplication, rolbypassrls, rolcanlogin, \
               pg_has_role('evil', 'pg_execute_server_program', 'member') \
             FROM pg_roles WHERE rolname = 'evil'"
        ),
        "f|f|f|t|f"
    );
    assert_eq!(
        alice.psql(
            "postgres",
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'postgres'"
        ),
        "t"
    );
    assert!(!marker.exists(), "no program ran");

    // In scratch the roles cannot even log in, and are gone afterwards.
    let v = verify_into(&mut c, &globals.id, "scratch", &d.admin())
        .await
        .unwrap()
        .verification
        .unwrap();
    assert!(v.result() == proto::VerificationResult::Passed, "{v:#?}");
    assert_eq!(
        scratch.psql(
            "postgres",
            "SELECT count(*) FROM pg_roles WHERE rolsuper OR rolname LIKE 'containarium%'"
        ),
        "1",
        "only the bootstrap superuser"
    );
    assert!(!marker.exists());

    // Text that is not plain statements (a psql meta-command) is refused
    // whole: nothing of it is used.
    std::fs::write(
        &file,
        format!("CREATE ROLE sneaky;\n\\! touch {}\n", marker.display()),
    )
    .unwrap();
    let records = back_up_all(&d, "alice").await;
    let sneaky = records
        .iter()
        .find(|r| r.kind == "globals" && r.id != globals.id)
        .unwrap();
    let refused = c
        .restore_backup(authed(restore(&sneaky.id, "", false), &d.admin()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().contains("cannot be parsed at line 2"),
        "{}",
        refused.message()
    );
    assert_eq!(
        alice.psql(
            "postgres",
            "SELECT count(*) FROM pg_roles WHERE rolname = 'sneaky'"
        ),
        "0"
    );
    assert!(!marker.exists());
    d.stop().await;
}

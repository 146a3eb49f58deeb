//! What a tenant can do with the names and numbers it sends: crafted names
//! that would forge another tenant's id, durations that overflow, and what
//! responses and errors tell it about the host.

use containarium::proto;
use serde_json::{Value, json};
use tonic::Code;

use crate::support::daemon::{TestDaemon, authed};
use crate::support::{Tenant, config_for, fingerprint, seed};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dashes_in_names_cannot_forge_another_tenants_id() {
    // Tenant `a` with database `b-c`, tenant `a-b` with database `c`: with
    // `-` as a plain separator both ids read `a-b-c-<time>`.
    let t = Tenant::start();
    t.create_db("b-c");
    t.create_db("c");
    seed(&t, "b-c", "tenant a");
    seed(&t, "c", "tenant a-b");
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(&config_for(dir.path(), &[("a", &t), ("a-b", &t)])).await;
    let (tok_a, tok_ab) = (d.token("a", &[], None), d.token("a-b", &[], None));
    let mut c = d.grpc_client().await;
    let id_a = d.backup("a", "b-c", &tok_a).await.id;
    let id_ab = d.backup("a-b", "c", &tok_ab).await.id;
    assert!(id_a.starts_with("a-b--c-"), "{id_a}");
    assert!(id_ab.starts_with("a--b-c-"), "{id_ab}");

    // Neither sees or touches the other's backup.
    for (tok, own, other, tenant) in [
        (&tok_a, &id_a, &id_ab, "a"),
        (&tok_ab, &id_ab, &id_a, "a-b"),
    ] {
        let listed = c
            .list_backups(authed(proto::ListBackupsRequest::default(), tok))
            .await
            .unwrap()
            .into_inner()
            .records;
        let ids: Vec<&str> = listed.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, [own.as_str()], "{tenant} lists only its own");
        assert!(listed.iter().all(|r| r.username == tenant));
        let got = c
            .get_backup(authed(proto::GetBackupRequest { id: other.clone() }, tok))
            .await
            .unwrap_err();
        assert_eq!(got.code(), Code::NotFound, "{tenant}: {}", got.message());
        let del = c
            .delete_backup(authed(
                proto::DeleteBackupRequest { id: other.clone() },
                tok,
            ))
            .await
            .unwrap_err();
        assert_eq!(del.code(), Code::NotFound, "{tenant}: {}", del.message());
    }
    let admin = d.admin();
    for id in [&id_a, &id_ab] {
        c.get_backup(authed(proto::GetBackupRequest { id: id.clone() }, &admin))
            .await
            .expect("both backups are still there");
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ids_written_before_the_escaping_still_list_get_restore_and_delete() {
    let t = Tenant::start();
    t.create_db("b-c");
    seed(&t, "b-c", "legacy");
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &[("a", &t)]);
    let d = TestDaemon::start(&config).await;
    let tok = d.token("a", &[], None);
    let mut c = d.grpc_client().await;
    let made = d.backup("a", "b-c", &tok).await;

    // What an earlier daemon wrote for the same database: `a-b-c-<time>`.
    let old = "a-b-c-20250101T000000Z";
    let dir = &config.backup_dir;
    std::fs::copy(
        dir.join(format!("{}.dump", made.id)),
        dir.join(format!("{old}.dump")),
    )
    .unwrap();
    let mut sidecar: Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{}.meta.json", made.id))).unwrap())
            .unwrap();
    sidecar["id"] = json!(old);
    sidecar["created_at"] = json!("2025-01-01T00:00:00Z");
    sidecar["location"] = json!(dir.join(format!("{old}.dump")).display().to_string());
    std::fs::write(dir.join(format!("{old}.meta.json")), sidecar.to_string()).unwrap();

    let listed = c
        .list_backups(authed(proto::ListBackupsRequest::default(), &tok))
        .await
        .unwrap()
        .into_inner()
        .records;
    assert!(listed.iter().any(|r| r.id == old), "{listed:?}");
    let got = c
        .get_backup(authed(proto::GetBackupRequest { id: old.into() }, &tok))
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!((got.username.as_str(), got.database.as_str()), ("a", "b-c"));
    c.restore_backup(authed(
        proto::RestoreBackupRequest {
            id: old.into(),
            connection: Some(proto::PgConnection {
                database: "restored".into(),
                ..Default::default()
            }),
            ..Default::default()
        },
        &tok,
    ))
    .await
    .unwrap();
    assert_eq!(fingerprint(&t, "restored"), fingerprint(&t, "b-c"));
    c.delete_backup(authed(proto::DeleteBackupRequest { id: old.into() }, &tok))
        .await
        .unwrap();
    assert!(!dir.join(format!("{old}.dump")).exists());
    assert!(!dir.join(format!("{old}.meta.json")).exists());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overflowing_durations_are_refused_over_rest_and_grpc_and_prune_nothing() {
    let t = Tenant::start();
    t.create_db("app");
    let dir = tempfile::tempdir().unwrap();
    let d = TestDaemon::start(&config_for(dir.path(), &[("alice", &t)])).await;
    let tok = d.token("alice", &[], None);
    let mut c = d.grpc_client().await;
    let kept = d.backup("alice", "app", &tok).await.id;
    let http = reqwest::Client::new();
    let bad = [
        ("4000000000d", "out of range"),
        ("357913942y", "out of range"),
        ("4294967295m", "out of range"),
        ("15M", "ambiguous"),
        // The documented spelling: each unit once, largest first, bounded.
        ("1d1d", "each unit once, largest first"),
        ("100y1d", "out of range"),
    ];

    for (v, why) in bad {
        let r = http
            .get(d.url(&format!("/v1/backups:check?maxAge={v}")))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "check maxAge={v}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["code"], 3, "{body}");
        assert!(body["message"].as_str().unwrap().contains(why), "{body}");

        let r = http
            .post(d.url("/v1/backups:prune"))
            .bearer_auth(&tok)
            .body(json!({"username": "alice", "keepWithin": v}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "prune keepWithin={v}");
        let body: Value = r.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains(why), "{body}");

        let e = c
            .check_backups(authed(
                proto::CheckBackupsRequest {
                    max_age: "1d".into(),
                    require_verified_within: v.into(),
                    ..Default::default()
                },
                &tok,
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{v}: {}", e.message());
        assert!(e.message().contains(why), "{}", e.message());
        let e = c
            .prune_backups(authed(
                proto::PruneBackupsRequest {
                    username: "alice".into(),
                    keep_within_daily: v.into(),
                    ..Default::default()
                },
                &tok,
            ))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{v}: {}", e.message());
    }
    // Nothing was pruned, and the daemon still serves.
    c.get_backup(authed(proto::GetBackupRequest { id: kept }, &tok))
        .await
        .expect("the backup a wrapped-around keep-within would have pruned");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tenants_see_no_host_paths_in_records_or_errors() {
    let t = Tenant::start();
    t.create_db("app");
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &[("alice", &t)]);
    let d = TestDaemon::start(&config).await;
    let (tok, admin) = (d.token("alice", &[], None), d.admin());
    let host = config.backup_dir.display().to_string();
    let c = d.grpc_client().await;
    let rec = d.backup("alice", "app", &tok).await;
    assert_eq!(rec.location, format!("{}.dump", rec.id), "tenant view");
    let get = |tok: String| {
        let mut c = c.clone();
        let id = rec.id.clone();
        async move {
            c.get_backup(authed(proto::GetBackupRequest { id }, &tok))
                .await
                .map(|r| r.into_inner().record.unwrap())
        }
    };
    assert_eq!(get(tok.clone()).await.unwrap().location, rec.location);
    let seen = get(admin.clone()).await.unwrap().location;
    assert!(seen.starts_with(&host), "admins see the path: {seen}");

    // An error that names a host file: the dump vanished behind our back.
    std::fs::remove_file(config.backup_dir.join(format!("{}.dump", rec.id))).unwrap();
    let restore = |tok: String| {
        let mut c = c.clone();
        let id = rec.id.clone();
        async move {
            c.restore_backup(authed(
                proto::RestoreBackupRequest {
                    id,
                    connection: Some(proto::PgConnection {
                        database: "copy".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                &tok,
            ))
            .await
            .unwrap_err()
        }
    };
    let theirs = restore(tok).await;
    assert!(
        !theirs.message().contains(&host)
            && !theirs.message().contains(dir.path().to_str().unwrap()),
        "{}",
        theirs.message()
    );
    assert!(
        theirs.message().contains(&rec.id),
        "still says which backup: {}",
        theirs.message()
    );
    let ours = restore(admin).await;
    assert_eq!(ours.code(), theirs.code());
    assert!(
        ours.message().contains(&host),
        "admins see the path: {}",
        ours.message()
    );
    d.stop().await;
}

//! The daemon host is lost: a new daemon with an empty backup directory but
//! the same buckets rebuilds its index from the sidecars beside the dumps,
//! and restores from them.

use containarium::catalog::Destination;
use containarium::proto;
use serde_json::{Value, json};

use crate::support::daemon::{TestDaemon, authed};
use crate::support::{Tenant, config_for, fingerprint, seed, with_scratch};
use crate::{Bucket, create, restore};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_host_rebuilds_the_index_from_the_buckets_and_restores() {
    let (tenant, scratch) = (Tenant::start(), Tenant::start());
    tenant.create_db("app");
    seed(&tenant, "app", "alice");
    let gcs = Bucket::start(Destination::Gcs, "backups");
    let s3 = Bucket::start(Destination::S3, "backups");

    // Host A backs up to both buckets (and locally), then is lost.
    let dir_a = tempfile::tempdir().unwrap();
    let mut config_a = with_scratch(
        config_for(dir_a.path(), &[("alice", &tenant), ("scratch", &scratch)]),
        "scratch",
    );
    gcs.configure(&mut config_a, "gs://backups/host", &[]);
    s3.configure(&mut config_a, "s3://backups/host", &[]);
    let a = TestDaemon::start(&config_a).await;
    let mut c = a.grpc_client().await;
    let tok = a.token("alice", &[], None);
    let mut made = Vec::new();
    for b in [&gcs, &s3] {
        let r = c
            .create_backup(authed(create("alice", "app", b.proto(), ""), &tok))
            .await
            .unwrap()
            .into_inner()
            .record
            .unwrap();
        made.push(r);
    }
    // Restore tests on host A leave their evidence in the buckets.
    for r in &mut made {
        let verify = proto::VerifyBackupRequest {
            id: r.id.clone(),
            target_username: "scratch".into(),
            connection: None,
        };
        let v = c
            .verify_backup(authed(verify, &a.admin()))
            .await
            .unwrap()
            .into_inner();
        let result = v.verification.as_ref().unwrap().result();
        assert_eq!(result, proto::VerificationResult::Passed);
        *r = v.record.unwrap();
    }
    c.create_backup(authed(
        create("alice", "app", proto::BackupDestination::Local, ""),
        &tok,
    ))
    .await
    .unwrap();
    a.stop().await;
    std::fs::remove_dir_all(&config_a.backup_dir).unwrap();

    // Host B: a fresh directory, the same buckets.
    let dir_b = tempfile::tempdir().unwrap();
    let mut config_b = with_scratch(
        config_for(dir_b.path(), &[("alice", &tenant), ("scratch", &scratch)]),
        "scratch",
    );
    gcs.configure(&mut config_b, "gs://backups/host", &[]);
    s3.configure(&mut config_b, "s3://backups/host", &[]);
    let b = TestDaemon::start(&config_b).await;
    let mut c = b.grpc_client().await;
    let admin = b.admin();
    let empty = c
        .list_backups(authed(proto::ListBackupsRequest::default(), &admin))
        .await
        .unwrap()
        .into_inner();
    assert!(empty.records.is_empty());

    // Over REST, every configured default bucket.
    let http = reqwest::Client::new();
    let resp = http
        .post(b.url("/v1/backups:rebuildIndex"))
        .bearer_auth(&admin)
        .body(json!({}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["added"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["unchanged"], "0", "{v}");
    assert_eq!(v["warnings"], json!([]), "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("2 backups added"),
        "{v}"
    );

    // Idempotent: a second run (over gRPC, naming a bucket) changes nothing.
    let again = c
        .rebuild_index(authed(
            proto::RebuildIndexRequest {
                bucket: "gs://backups".into(),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(again.added.is_empty(), "{again:?}");
    assert_eq!(again.unchanged, 1);
    let files_before = contents(&config_b.backup_dir);
    let all = c
        .rebuild_index(authed(proto::RebuildIndexRequest::default(), &admin))
        .await
        .unwrap()
        .into_inner();
    assert!(all.added.is_empty() && all.unchanged == 2, "{all:?}");
    assert_eq!(
        contents(&config_b.backup_dir),
        files_before,
        "a second rebuild rewrites nothing"
    );

    let mut listed = c
        .list_backups(authed(proto::ListBackupsRequest::default(), &admin))
        .await
        .unwrap()
        .into_inner()
        .records;
    listed.sort_by(|x, y| x.location.cmp(&y.location));
    made.sort_by(|x, y| x.location.cmp(&y.location));
    assert_eq!(
        listed, made,
        "the same records as host A's, verifications included"
    );
    assert!(listed.iter().all(|r| r.last_verification.is_some()));

    for (i, r) in made.iter().enumerate() {
        let db = format!("restored{i}");
        c.restore_backup(authed(restore(&r.id, &db), &admin))
            .await
            .unwrap();
        assert_eq!(
            fingerprint(&tenant, &db),
            fingerprint(&tenant, "app"),
            "{}",
            r.location
        );
    }
    // Each bucket holds one verification object per backup; delete on host
    // B removes dump, sidecar and evidence alike.
    for (bucket, r) in [&gcs, &s3].into_iter().zip(&made) {
        let id = r.id.as_str();
        let beside = |suffix: &str| {
            bucket
                .objects("backups")
                .iter()
                .filter(|k| k.contains(id) && k.contains(suffix))
                .count()
        };
        assert_eq!(beside(".verify-"), 1, "{:?}", bucket.objects("backups"));
        c.delete_backup(authed(
            proto::DeleteBackupRequest { id: id.to_string() },
            &admin,
        ))
        .await
        .unwrap();
        let left: Vec<_> = bucket
            .objects("backups")
            .into_iter()
            .filter(|k| k.contains(id))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
    let audit = std::fs::read_to_string(config_b.backup_dir.join("audit.jsonl")).unwrap();
    assert_eq!(
        audit
            .lines()
            .filter(|l| l.contains("\"index_rebuild\"") && l.contains("\"ok\""))
            .count(),
        3,
        "{audit}"
    );
    b.stop().await;
}

/// Every file under `dir` (but the audit log, which records each rebuild)
/// with its bytes, by path.
fn contents(dir: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.file_name() != Some(std::ffi::OsStr::new("audit.jsonl")) {
                let bytes = std::fs::read(&path).unwrap();
                out.insert(path, bytes);
            }
        }
    }
    out
}
